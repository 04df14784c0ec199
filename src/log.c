/*
 * log.c - log_info/log_warn/log_warnx/fatal/fatalx.
 * Owns: where log lines go. Each line is formatted into a local buffer,
 * escaped, and written with one write(2) or syslog(3) call, so lines
 * from different threads never interleave or forge each other.
 * log_warn/fatal append strerror(errno), as err(3) does.
 * Not here: which fields a line has (the callers).
 * Threads: any thread may log; no shared state after log_init().
 *
 * Escaping: a line reaches a terminal or a log file as valid UTF-8
 * without a control character. Every C0 byte, DEL, each byte of a C1
 * control (U+0080..U+009F: 0x9b alone is a CSI to an 8-bit terminal,
 * and so is C2 9B to a UTF-8 one) and every byte that is not part of a
 * well-formed UTF-8 character (overlong forms, surrogates, past
 * U+10FFFF, truncated, stray continuation bytes, C0 C1 F5..FF) is
 * written as \xHH; other UTF-8 passes through. A line too long is cut
 * between characters, never inside one or inside an escape.
 * log_quote() does the same for one field value, in double quotes with
 * '"' and '\' backslash-escaped, so client text cannot end its field
 * and forge the next: callers quote every field that carries client text.
 *
 * Under systemd, stderr is a stream to the journal, which stamps every
 * line with the time and the unit's program itself: when JOURNAL_STREAM
 * names the device and inode of our stderr (systemd.exec(5)), a line is
 * written without its own time stamp and "smtpd: ", and starts with the
 * journal's <N> priority prefix instead (sd-daemon(3)).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

#define LOG_LINE_MAX	2048
/* Lines are built on the heap: a client thread's stack stays small. */
#define LOG_FALLBACK	256
#define LOG_UNIT_MAX	8	/* a C1 control: two \xHH */

static int	log_stderr = 1;
static int	log_journal;	/* stderr is the journal's stream */
static int	log_verbose;

/* stderr_is_journal - 1 if JOURNAL_STREAM ("device:inode") names the
 * file open on stderr. */
static int
stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char	*end;

	if (v == NULL || *v < '0' || *v > '9')
		return 0;
	errno = 0;
	dev = strtoull(v, &end, 10);
	if (errno != 0 || *end != ':' || end[1] < '0' || end[1] > '9')
		return 0;
	ino = strtoull(end + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(int to_stderr, int verbose)
{
	int	saved = errno;

	log_stderr = to_stderr;
	log_journal = to_stderr && stderr_is_journal();
	errno = saved;
	log_verbose = verbose;
	if (!to_stderr)
		openlog("smtpd", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* utf8_trim - len, less a UTF-8 character cut short at the end of
 * s[0..len) (vsnprintf truncates by bytes). */
static size_t
utf8_trim(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t	i = len, want;

	while (i > 0 && len - i < 3 && (u[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0 || u[i - 1] < 0xc2 || u[i - 1] > 0xf4)
		return len;
	want = u[i - 1] < 0xe0 ? 2 : u[i - 1] < 0xf0 ? 3 : 4;
	return len - (i - 1) < want ? i - 1 : len;
}

/* put_hex - \xHH for each of s[0..n) into out; the bytes written. */
static size_t
put_hex(char *out, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t	i, o = 0;

	for (i = 0; i < n; i++) {
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[s[i] >> 4];
		out[o++] = hex[s[i] & 15];
	}
	return o;
}

/*
 * log_unit - how the next character of s[0..n) (n > 0) is written to a
 * log line: into out (LOG_UNIT_MAX bytes); returns the bytes written,
 * *used the input bytes taken. A unit is never split when a line is cut.
 * quoted: inside log_quote's double quotes, '"' and '\' are escaped too.
 */
static size_t
log_unit(const unsigned char *s, size_t n, int quoted, char *out, size_t *used)
{
	size_t	len;

	*used = 1;
	if (s[0] < 0x20 || s[0] == 0x7f)
		return put_hex(out, s, 1);
	if (s[0] < 0x80) {
		if (quoted && (s[0] == '"' || s[0] == '\\')) {
			out[0] = '\\';
			out[1] = (char)s[0];
			return 2;
		}
		out[0] = (char)s[0];
		return 1;
	}
	if ((len = buf_utf8_len(s, n)) == 0)
		return put_hex(out, s, 1);	/* one byte; resync after it */
	*used = len;
	if (s[0] == 0xc2 && s[1] < 0xa0)
		return put_hex(out, s, len);	/* C1 control */
	memcpy(out, s, len);
	return len;
}

/* log_quote - src as one field value, quoted and escaped (log.h). */
const char *
log_quote(char *dst, size_t size, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	char	 unit[LOG_UNIT_MAX];
	size_t	 n = src != NULL ? strlen(src) : 0, i, o = 1, used, k, cut = 0;

	if (size < 3) {
		if (size > 0)
			dst[0] = '\0';
		return dst;
	}
	dst[0] = '"';
	if (o + 5 <= size)
		cut = o;	/* where `..."` and the NUL still fit */
	for (i = 0; i < n; i += used) {
		k = log_unit(s + i, n - i, 1, unit, &used);
		if (o + k + 2 > size) {
			/* Does not fit: the longest whole prefix, then `..."`. */
			if (cut == 0)
				dst[0] = '\0';
			else
				memcpy(dst + cut, "...\"", 5);
			return dst;
		}
		memcpy(dst + o, unit, k);
		o += k;
		if (o + 5 <= size)
			cut = o;
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}

/* log_emit - format, escape, then write one whole line. */
static void	log_emit(int, const char *, va_list, int, int)
	    __attribute__((format(printf, 2, 0)));
static void
log_emit(int pri, const char *fmt, va_list ap, int with_errno, int saved)
{
	char	 fallback[2 * LOG_FALLBACK], *raw, *line, unit[LOG_UNIT_MAX];
	char	*mem = malloc(2 * LOG_LINE_MAX + 64);
	size_t	 i, o = 0, rawsz, linesz, rawlen, used, k;
	int	 n;

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
	if ((n = vsnprintf(raw, rawsz, fmt, ap)) < 0) {
		free(mem);
		return;
	}
	if ((size_t)n >= rawsz)
		raw[utf8_trim(raw, rawsz - 1)] = '\0';
	if (with_errno) {
		char	ebuf[128];
		size_t	len = strlen(raw);
		/* GNU strerror_r may return a static string instead. */
		const char *e = strerror_r(saved, ebuf, sizeof ebuf);
		snprintf(raw + len, rawsz - len, ": %s", e);
	}
	if (log_journal) {
		/* The journal adds the time and the program name. */
		n = snprintf(line, linesz, "<%d>", pri);
		if (n > 0)
			o = (size_t)n;
	} else if (log_stderr) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		o = strftime(line, linesz, "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(line + o, linesz - o, ".%03ldZ smtpd: ",
		    ts.tv_nsec / 1000000);
		if (n > 0)
			o += (size_t)n;
	}
	/* Client text may reach a log line: never let it add a line or
	 * talk to a terminal, even unquoted. Room is kept for the '\n'. */
	rawlen = strlen(raw);
	for (i = 0; i < rawlen; i += used) {
		k = log_unit((const unsigned char *)raw + i, rawlen - i, 0, unit,
		    &used);
		if (o + k + 1 > linesz)
			break;
		memcpy(line + o, unit, k);
		o += k;
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
