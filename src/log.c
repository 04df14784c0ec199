/*
 * log.c - log_info/log_warn/log_warnx/fatal/fatalx.
 * Owns: where log lines go. Each line is formatted into a local buffer,
 * control bytes escaped, and written with one write(2) or syslog(3) call,
 * so lines from different threads never interleave or forge each other.
 * log_warn/fatal append strerror(errno), as err(3) does.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX	2048
/* Lines are built on the heap: a client thread's stack stays small. */
#define LOG_FALLBACK	256

static int	log_stderr = 1;
static int	log_verbose;

void
log_init(int to_stderr, int verbose)
{
	log_stderr = to_stderr;
	log_verbose = verbose;
	if (!to_stderr)
		openlog("smtpd", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* log_emit - format, escape, then write one whole line. */
static void
log_emit(int pri, const char *fmt, va_list ap, int with_errno, int saved)
{
	static const char hex[] = "0123456789abcdef";
	char	 fallback[2 * LOG_FALLBACK], *raw, *line;
	char	*mem = malloc(2 * LOG_LINE_MAX + 64);
	size_t	 i, o = 0, rawsz, linesz;

	if (mem != NULL) {
		raw = mem;
		rawsz = LOG_LINE_MAX;
		line = mem + rawsz;
		linesz = LOG_LINE_MAX + 64;
	} else {
		raw = fallback;
		rawsz = LOG_FALLBACK;
		line = fallback + rawsz;
		linesz = LOG_FALLBACK;
	}
	if (vsnprintf(raw, rawsz, fmt, ap) < 0) {
		free(mem);
		return;
	}
	if (with_errno) {
		char	ebuf[128];
		size_t	len = strlen(raw);
		/* GNU strerror_r may return a static string instead. */
		const char *e = strerror_r(saved, ebuf, sizeof ebuf);
		snprintf(raw + len, rawsz - len, ": %s", e);
	}
	if (log_stderr) {
		struct timespec ts;
		struct tm tm;
		int	n;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		o = strftime(line, linesz, "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(line + o, linesz - o, ".%03ldZ smtpd: ",
		    ts.tv_nsec / 1000000);
		if (n > 0)
			o += (size_t)n;
	}
	/* Client text may reach a log line: never let it add a line. */
	for (i = 0; raw[i] != '\0' && o + 6 < linesz; i++) {
		unsigned char c = (unsigned char)raw[i];
		if (c < 0x20 || c == 0x7f) {
			line[o++] = '\\';
			line[o++] = 'x';
			line[o++] = hex[c >> 4];
			line[o++] = hex[c & 15];
		} else
			line[o++] = (char)c;
	}
	if (log_stderr) {
		line[o++] = '\n';
		(void)!write(STDERR_FILENO, line, o);
	} else {
		line[o] = '\0';
		syslog(pri, "%s", line);
	}
	free(mem);
}

#define LOG_BODY(pri, with_errno)		\
	va_list	ap;				\
	int	saved = errno;			\
	va_start(ap, fmt);			\
	log_emit(pri, fmt, ap, with_errno, saved); \
	va_end(ap);				\
	errno = saved

void log_info(const char *fmt, ...) { LOG_BODY(LOG_INFO, 0); }
void log_warn(const char *fmt, ...) { LOG_BODY(LOG_WARNING, 1); }
void log_warnx(const char *fmt, ...) { LOG_BODY(LOG_WARNING, 0); }

void
log_debug(const char *fmt, ...)
{
	if (!log_verbose)
		return;
	LOG_BODY(LOG_DEBUG, 0);
}

void
fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 1);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 0);
	exit(1);
}
