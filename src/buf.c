/*
 * buf.c - bounded string helpers.
 * Owns: every copy into a fixed buffer; no sprintf/strcpy/strcat anywhere.
 * Not here: escaping text for a log line (log.c, log_quote).
 * Threads: no state; any thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"

int
buf_copy(char *dst, size_t size, const char *src)
{
	size_t	n = strlen(src);

	if (size == 0)
		return -1;
	if (n >= size) {
		dst[0] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int
buf_appendf(char *dst, size_t size, size_t *len, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	if (*len >= size)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(dst + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *len) {
		dst[*len] = '\0';
		return -1;
	}
	*len += (size_t)n;
	return 0;
}

void
buf_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}
