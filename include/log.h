/*
 * log.h - thread-safe logging to stderr (-d) or syslog (facility mail).
 * Every line is escaped (log.c): nothing logged can be a terminal
 * control sequence or start a new line.
 */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

void	log_init(int to_stderr, int verbose);
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * log_quote - src as one log field value, for key=%s: in double quotes,
 * '"' and '\' written as \" and \\; each byte of a C0 control, DEL, a
 * C1 control (U+0080..U+009F) or of anything that is not well-formed
 * UTF-8 written as \xHH; other UTF-8 unchanged. If that does not fit in
 * dst[size], it is cut between characters (never inside one or inside
 * an escape) and ends in ..." instead. Always NUL-terminated (size > 0);
 * "" (empty, no quotes) only if size is below 6 and src does not fit.
 * A NULL src is written as "". Returns dst.
 */
const char *log_quote(char *dst, size_t size, const char *src);
/* LOG_QUOTE_SIZE - the size of a dst that holds any n-byte src whole. */
#define LOG_QUOTE_SIZE(n)	(4 * (size_t)(n) + 3)

#endif
