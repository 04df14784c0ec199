/*
 * buf.c - bounded string helpers.
 * Owns: every copy into a fixed buffer; no sprintf/strcpy/strcat anywhere.
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

char *
buf_printable(char *dst, size_t size, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t	o = 0, i;

	if (size == 0)
		return dst;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= size)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 4 >= size)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return dst;
}
