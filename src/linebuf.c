/*
 * linebuf.c - bounded line reader over a client socket.
 * Owns: the session's input buffer, read timeouts and deadlines, the
 * stop word of a session waiting for a command, line splitting at LF,
 * the line length limit.
 * Not here: what lines mean (session.c), DATA decoding (data.c).
 *
 * The buffer has a fixed size: a client that never sends LF fills it,
 * and the over-long line is then read and thrown away up to its LF, so
 * memory stays flat whatever arrives. Bytes after a line stay buffered
 * for the next call (RFC 2920 pipelining).
 *
 * Most waits are as long as the session's timeout: the socket carries
 * that as SO_RCVTIMEO, and such a wait is one blocking read(). A shorter
 * one (the rest of a deadline) polls first. poll(), not select(): fds
 * of a threaded server pass FD_SETSIZE.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "linebuf.h"

void
linebuf_init(struct linebuf *lb, int fd, atomic_int *stop)
{
	lb->fd = fd;
	lb->stop = stop;
	lb->rcvtimeo_ms = -1;
	lb->off = lb->len = 0;
	lb->buf = lb->small;
	lb->cap = sizeof lb->small;
}

void
linebuf_set_timeout(struct linebuf *lb, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	lb->rcvtimeo_ms = ms > 0 &&
	    setsockopt(lb->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 ? ms : -1;
}

int
linebuf_stop(atomic_int *stop)
{
	int	was = atomic_load(stop);

	while (was != LB_STOPPED)
		if (atomic_compare_exchange_weak(stop, &was, LB_STOPPED))
			return was == LB_WAITING;
	return 0;
}

void
linebuf_bulk(struct linebuf *lb, int on)
{
	size_t	n = lb->len - lb->off;
	char	*big;

	if (on && lb->buf == lb->small) {
		if ((big = malloc(LINEBUF_BULK)) == NULL)
			return;		/* slower, not wrong */
		memcpy(big, lb->buf + lb->off, n);
		lb->buf = big;
		lb->cap = LINEBUF_BULK;
	} else if (!on && lb->buf != lb->small && n <= sizeof lb->small) {
		memcpy(lb->small, lb->buf + lb->off, n);
		free(lb->buf);
		lb->buf = lb->small;
		lb->cap = sizeof lb->small;
	} else
		return;
	lb->off = 0;
	lb->len = n;
}

void
linebuf_free(struct linebuf *lb)
{
	if (lb->buf != lb->small)
		free(lb->buf);
	lb->buf = lb->small;
	lb->cap = sizeof lb->small;
	lb->off = lb->len = 0;
}

size_t
linebuf_pending(const struct linebuf *lb)
{
	return lb->len - lb->off;
}

int
linebuf_has_line(const struct linebuf *lb)
{
	return memchr(lb->buf + lb->off, '\n', lb->len - lb->off) != NULL;
}

time_t
linebuf_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

const char *
linebuf_peek(const struct linebuf *lb, size_t *n)
{
	*n = lb->len - lb->off;
	return lb->buf + lb->off;
}

enum linebuf_result
linebuf_skip(struct linebuf *lb, uint64_t n, int timeout_ms, time_t deadline)
{
	enum linebuf_result r;
	size_t	take;

	while (n > 0) {
		if (lb->len == lb->off &&
		    (r = linebuf_fill(lb, timeout_ms, deadline, 0)) != LB_OK)
			return r;
		take = lb->len - lb->off;
		if (take > n)
			take = (size_t)n;
		linebuf_consume(lb, take);
		n -= take;
	}
	return LB_OK;
}

void
linebuf_consume(struct linebuf *lb, size_t n)
{
	lb->off += n;
	if (lb->off >= lb->len)
		lb->off = lb->len = 0;
}

void
linebuf_discard(struct linebuf *lb)
{
	lb->off = lb->len = 0;
}

/* wait_read - wait (as linebuf_fill says) and read once. */
static enum linebuf_result
wait_read(struct linebuf *lb, int timeout_ms, time_t deadline)
{
	struct pollfd	pfd = { .fd = lb->fd, .events = POLLIN };
	ssize_t		n;
	int		rc;

	for (;;) {
		int wait = timeout_ms;
		if (deadline) {
			time_t left = deadline - linebuf_now();
			if (left <= 0)
				return LB_TIMEOUT;
			if (left < (time_t)timeout_ms / 1000)
				wait = (int)left * 1000;
		}
		if (wait != lb->rcvtimeo_ms) {
			rc = poll(&pfd, 1, wait);
			if (rc == -1) {
				if (errno == EINTR)
					continue;
				return LB_ERROR;
			}
			if (rc == 0)
				return LB_TIMEOUT;
		}
		n = read(lb->fd, lb->buf + lb->len, lb->cap - lb->len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (wait == lb->rcvtimeo_ms)
					return LB_TIMEOUT;	/* SO_RCVTIMEO ran out */
				continue;
			}
			return LB_ERROR;
		}
		if (n == 0)
			return LB_EOF;
		lb->len += (size_t)n;
		return LB_OK;
	}
}

enum linebuf_result
linebuf_fill(struct linebuf *lb, int timeout_ms, time_t deadline, int watch_wake)
{
	enum linebuf_result r;
	int	busy = LB_BUSY, waiting = LB_WAITING;

	if (lb->off > 0) {	/* compact */
		memmove(lb->buf, lb->buf + lb->off, lb->len - lb->off);
		lb->len -= lb->off;
		lb->off = 0;
	}
	if (lb->len == lb->cap)
		return LB_OK;	/* full: the caller must consume first */
	if (!watch_wake || lb->stop == NULL)
		return wait_read(lb, timeout_ms, deadline);
	if (!atomic_compare_exchange_strong(lb->stop, &busy, LB_WAITING))
		return LB_WAKE;
	r = wait_read(lb, timeout_ms, deadline);
	if (!atomic_compare_exchange_strong(lb->stop, &waiting, LB_BUSY))
		return LB_WAKE;	/* stopped meanwhile: the read side is shut */
	return r;
}

/* keep_head - note the start of a line about to be dropped. */
static void
keep_head(struct linebuf *lb)
{
	size_t	n = lb->len - lb->off;

	if (n > sizeof lb->toolong_head - 1)
		n = sizeof lb->toolong_head - 1;
	memcpy(lb->toolong_head, lb->buf + lb->off, n);
	lb->toolong_head[n] = '\0';
}

enum linebuf_result
linebuf_getline(struct linebuf *lb, size_t maxlen, int timeout_ms,
    time_t deadline, int watch_wake, char **line, size_t *len)
{
	enum linebuf_result r;
	int		 skipping = 0;
	char		*lf;
	size_t		 n;

	for (;;) {
		lf = memchr(lb->buf + lb->off, '\n', lb->len - lb->off);
		if (lf != NULL) {
			n = (size_t)(lf - (lb->buf + lb->off)) + 1;
			if (skipping || n > maxlen) {
				if (!skipping)
					keep_head(lb);
				linebuf_consume(lb, n);
				return LB_TOOLONG;
			}
			*line = lb->buf + lb->off;
			*len = n - 1;
			if (*len > 0 && (*line)[*len - 1] == '\r')
				(*len)--;
			(*line)[*len] = '\0';
			linebuf_consume(lb, n);
			return LB_OK;
		}
		if (lb->len - lb->off > maxlen) {
			/* No LF within the limit: throw the bytes away. */
			if (!skipping)
				keep_head(lb);
			skipping = 1;
			lb->off = lb->len = 0;
		}
		r = linebuf_fill(lb, timeout_ms, deadline, watch_wake && !skipping);
		if (r != LB_OK)
			return r;
	}
}
