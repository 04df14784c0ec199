/*
 * log.h - thread-safe logging to stderr (-d) or syslog (facility mail).
 * Every line is escaped (log.c): nothing logged can be a terminal
 * control sequence or start a new line.
 */
#ifndef LOG_H
#define LOG_H

void	log_init(int to_stderr, int verbose);
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
