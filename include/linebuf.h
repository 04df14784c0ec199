/*
 * linebuf.h - bounded reads from a client socket with timeouts.
 */
#ifndef LINEBUF_H
#define LINEBUF_H

#include <stddef.h>
#include <time.h>
#include "smtpd.h"

enum linebuf_result {
	LB_OK,		/* a line (or bytes) are ready */
	LB_TOOLONG,	/* a line over the limit was read and thrown away */
	LB_EOF,		/* the client closed */
	LB_TIMEOUT,	/* no byte within the timeout, or the deadline passed */
	LB_ERROR,	/* read error (errno set) */
	LB_WAKE		/* the wake fd became readable: we are stopping */
};

/*
 * An idle session holds only the small buffer, which is enough for a
 * command line and a pipelined batch; a message body is read through a
 * big buffer that exists only while DATA/BDAT runs (linebuf_bulk).
 */
#define LINEBUF_SMALL	1536
#define LINEBUF_BULK	(64 * 1024)

struct linebuf {
	int	 fd;
	int	 wakefd;	/* -1 = none */
	size_t	 off, len;	/* unread bytes are buf[off..len) */
	size_t	 cap;
	char	*buf;		/* small, or the bulk buffer */
	char	 small[LINEBUF_SMALL];
};

void	linebuf_init(struct linebuf *lb, int fd, int wakefd);
/* linebuf_bulk - on: read through a big buffer (message bodies); off:
 * back to the small one once the unread bytes fit. */
void	linebuf_bulk(struct linebuf *lb, int on);
/* linebuf_free - release the big buffer, if any. */
void	linebuf_free(struct linebuf *lb);
/* linebuf_pending - bytes read but not yet consumed. */
size_t	linebuf_pending(const struct linebuf *lb);
/* linebuf_has_line - 1 if a whole line is already buffered. */
int	linebuf_has_line(const struct linebuf *lb);
/*
 * linebuf_fill - wait up to timeout_ms (and not past deadline, a
 * CLOCK_MONOTONIC second; 0 = none) for more bytes and read them.
 * watch_wake: return LB_WAKE if the wake fd fires first.
 */
enum linebuf_result linebuf_fill(struct linebuf *lb, int timeout_ms,
	    time_t deadline, int watch_wake);
/*
 * linebuf_getline - the next line, CR LF (or LF) removed and NUL
 * terminated; a line of more than maxlen octets (with its CRLF) is read
 * to its end, dropped, and reported as LB_TOOLONG. *bare_lf is set
 * when the line ended in LF without CR. Waits through linebuf_fill.
 */
enum linebuf_result linebuf_getline(struct linebuf *lb, size_t maxlen,
	    int timeout_ms, time_t deadline, int watch_wake, char **line,
	    size_t *len);
/* linebuf_consume - drop n bytes from the front of the unread data. */
void	linebuf_consume(struct linebuf *lb, size_t n);
/* linebuf_discard - drop every buffered byte (RFC 2920/3207 switches). */
void	linebuf_discard(struct linebuf *lb);
/* linebuf_now - CLOCK_MONOTONIC seconds. */
time_t	linebuf_now(void);

#endif
