/*
 * buf.c - bounded string helpers.
 * Owns: every copy into a fixed buffer (no sprintf/strcpy/strcat
 * anywhere), the case-blind string hash of every table, and the one
 * UTF-8 decoder (smtpaddr.c checks addresses with it, log.c escapes).
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

unsigned
buf_hash_nocase(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		h = (h ^ c) * 16777619u;
	}
	return h;
}

size_t
buf_utf8_len(const unsigned char *s, size_t n)
{
	size_t	len, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* No overlong forms, no surrogates, nothing past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}
