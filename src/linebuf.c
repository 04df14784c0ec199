/*
 * linebuf.c - bounded line reader over a client socket.
 * Owns: the session's input buffer, poll() timeouts and deadlines,
 * line splitting at LF, the line length limit.
 * Not here: what lines mean (session.c), DATA decoding (data.c).
 *
 * The buffer has a fixed size: a client that never sends LF fills it,
 * and the over-long line is then read and thrown away up to its LF, so
 * memory stays flat whatever arrives. Bytes after a line stay buffered
 * for the next call (RFC 2920 pipelining). poll(), not select(): fds
 * of a threaded server pass FD_SETSIZE.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linebuf.h"

void
linebuf_init(struct linebuf *lb, int fd, int wakefd)
{
	lb->fd = fd;
	lb->wakefd = wakefd;
	lb->off = lb->len = 0;
	lb->buf = lb->small;
	lb->cap = sizeof lb->small;
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

enum linebuf_result
linebuf_fill(struct linebuf *lb, int timeout_ms, time_t deadline, int watch_wake)
{
	struct pollfd	pfd[2];
	ssize_t		n;
	int		nfds = 1, rc;

	if (lb->off > 0) {	/* compact */
		memmove(lb->buf, lb->buf + lb->off, lb->len - lb->off);
		lb->len -= lb->off;
		lb->off = 0;
	}
	if (lb->len == lb->cap)
		return LB_OK;	/* full: the caller must consume first */
	pfd[0].fd = lb->fd;
	pfd[0].events = POLLIN;
	if (watch_wake && lb->wakefd != -1) {
		pfd[1].fd = lb->wakefd;
		pfd[1].events = POLLIN;
		nfds = 2;
	}
	for (;;) {
		int wait = timeout_ms;
		if (deadline) {
			time_t left = deadline - linebuf_now();
			if (left <= 0)
				return LB_TIMEOUT;
			if (left < (time_t)timeout_ms / 1000)
				wait = (int)left * 1000;
		}
		rc = poll(pfd, (nfds_t)nfds, wait);
		if (rc == -1) {
			if (errno == EINTR)
				continue;
			return LB_ERROR;
		}
		if (rc == 0)
			return LB_TIMEOUT;
		if (nfds == 2 && (pfd[1].revents & POLLIN) && !(pfd[0].revents & POLLIN))
			return LB_WAKE;
		n = read(lb->fd, lb->buf + lb->len, lb->cap - lb->len);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return LB_ERROR;
		}
		if (n == 0)
			return LB_EOF;
		lb->len += (size_t)n;
		return LB_OK;
	}
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
			skipping = 1;
			lb->off = lb->len = 0;
		}
		r = linebuf_fill(lb, timeout_ms, deadline, watch_wake && !skipping);
		if (r != LB_OK)
			return r;
	}
}
