/*
 * buf.h - bounded string helpers (glibc before 2.38 lacks strlcpy), and
 * the two things every string table and text check needs: a case-blind
 * hash and the length of a UTF-8 character.
 */
#ifndef BUF_H
#define BUF_H

#include <stddef.h>

/* buf_copy - copy src into dst[size]; 0, or -1 if it did not fit. */
int	buf_copy(char *dst, size_t size, const char *src);
/* buf_appendf - append fmt to dst at *len, bounded by size; 0 or -1. */
int	buf_appendf(char *dst, size_t size, size_t *len, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
/* buf_lower - lower-case ASCII letters in place. */
void	buf_lower(char *s);
/* buf_hash_nocase - FNV-1a of s with ASCII letters folded: equal under
 * strcasecmp, equal hash. */
unsigned buf_hash_nocase(const char *s);
/* buf_utf8_len - the length of the well-formed UTF-8 character at
 * s[0..n), n > 0 (no overlong form, no surrogate, nothing past
 * U+10FFFF), or 0. */
size_t	buf_utf8_len(const unsigned char *s, size_t n);

#endif
