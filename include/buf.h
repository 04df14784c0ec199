/*
 * buf.h - bounded string helpers (glibc before 2.38 lacks strlcpy).
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

#endif
