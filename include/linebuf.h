/*
 * linebuf.h - bounded reads from a client socket with timeouts.
 */
#ifndef LINEBUF_H
#define LINEBUF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "smtpd.h"

enum linebuf_result {
	LB_OK,		/* a line (or bytes) are ready */
	LB_TOOLONG,	/* a line over the limit was read and thrown away */
	LB_EOF,		/* the client closed */
	LB_TIMEOUT,	/* no byte within the timeout, or the deadline passed */
	LB_ERROR,	/* read error (errno set) */
	LB_WAKE		/* told to stop (linebuf_stop): we are stopping */
};

/*
 * A session waiting for its next command sleeps in read() with no other
 * descriptor to watch, so stopping it takes two steps: its stop word
 * goes to LB_STOPPED, and if it was LB_WAITING (in or about to enter
 * read()) the stopping thread shuts the socket's reading side, which
 * ends the read. A session busy elsewhere (in DATA, say) finds the word
 * set when it next waits for a command. The word starts at LB_BUSY (0).
 */
enum { LB_BUSY, LB_WAITING, LB_STOPPED };

/*
 * An idle session holds only the small buffer, which is enough for a
 * command line and a pipelined batch; a message body is read through a
 * big buffer that exists only while DATA/BDAT runs (linebuf_bulk).
 */
#define LINEBUF_SMALL	1536
#define LINEBUF_BULK	(64 * 1024)

struct linebuf {
	int	 fd;
	atomic_int *stop;	/* the stop word; NULL = never stopped */
	int	 rcvtimeo_ms;	/* the socket's SO_RCVTIMEO, -1 = none */
	size_t	 off, len;	/* unread bytes are buf[off..len) */
	size_t	 cap;
	char	*buf;		/* small, or the bulk buffer */
	char	 toolong_head[8];	/* the start of the last line over
					 * the limit, NUL-terminated */
	char	 small[LINEBUF_SMALL];
};

void	linebuf_init(struct linebuf *lb, int fd, atomic_int *stop);
/*
 * linebuf_set_timeout - set the socket's receive timeout to ms: a wait
 * of exactly that length is then a plain blocking read(), without a
 * poll() first (if the socket refuses, every wait polls).
 */
void	linebuf_set_timeout(struct linebuf *lb, int ms);
/*
 * linebuf_stop - mark a stop word LB_STOPPED (from another thread).
 * Returns 1 if its session was waiting for a command: the caller then
 * shuts the socket's reading side (shutdown(fd, SHUT_RD)) to wake it,
 * and must know that the session cannot close its socket meanwhile.
 */
int	linebuf_stop(atomic_int *stop);
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
 * watch_wake: a wait for a command; return LB_WAKE if the stop word
 * is or becomes set (whatever was read meanwhile is left unconsumed).
 */
enum linebuf_result linebuf_fill(struct linebuf *lb, int timeout_ms,
	    time_t deadline, int watch_wake);
/*
 * linebuf_getline - the next line, CR LF (or LF) removed and NUL
 * terminated; a line of more than maxlen octets (with its CRLF) is read
 * to its end, dropped, and reported as LB_TOOLONG (its first bytes are
 * kept in toolong_head). *bare_lf is set
 * when the line ended in LF without CR. Waits through linebuf_fill.
 */
enum linebuf_result linebuf_getline(struct linebuf *lb, size_t maxlen,
	    int timeout_ms, time_t deadline, int watch_wake, char **line,
	    size_t *len);
/* linebuf_peek - the unread bytes (*n of them), valid until the next
 * call that reads, consumes or resizes. */
const char *linebuf_peek(const struct linebuf *lb, size_t *n);
/*
 * linebuf_skip - read and drop n bytes (a refused BDAT chunk), waiting
 * as linebuf_fill says for each read. LB_OK once all n are gone.
 */
enum linebuf_result linebuf_skip(struct linebuf *lb, uint64_t n,
	    int timeout_ms, time_t deadline);
/* linebuf_consume - drop n bytes from the front of the unread data. */
void	linebuf_consume(struct linebuf *lb, size_t n);
/* linebuf_discard - drop every buffered byte (RFC 2920/3207 switches). */
void	linebuf_discard(struct linebuf *lb);
/* linebuf_now - CLOCK_MONOTONIC seconds. */
time_t	linebuf_now(void);

#endif
