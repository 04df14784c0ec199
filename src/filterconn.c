/*
 * filterconn.c - sockets to policy servers and milters, with deadlines.
 * Owns: "unix:PATH" / "inet:HOST:PORT" parsing, connect, and reads and
 * writes bounded by a monotonic deadline.
 * Not here: either protocol (policy.c, milter.c).
 * Threads: reentrant; no shared state.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "filterconn.h"
#include "linebuf.h"

int
filter_addr_parse(const char *spec, struct filter_addr *fa, char *err,
    size_t errsize)
{
	struct addrinfo	 hints, *res;
	char		 host[256];
	const char	*h, *port, *end;
	size_t		 hl;
	int		 rc;

	memset(fa, 0, sizeof *fa);
	if (buf_copy(fa->spec, sizeof fa->spec, spec) == -1) {
		snprintf(err, errsize, "\"%.40s...\": too long", spec);
		return -1;
	}
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&fa->ss;

		if (spec[5] != '/') {
			snprintf(err, errsize, "\"%s\": the socket path must be absolute", spec);
			return -1;
		}
		if (buf_copy(sun->sun_path, sizeof sun->sun_path, spec + 5) == -1) {
			snprintf(err, errsize, "\"%s\": socket path too long (at most %zu)",
			    spec, sizeof sun->sun_path - 1);
			return -1;
		}
		sun->sun_family = AF_UNIX;
		fa->len = sizeof *sun;
		return 0;
	}
	if (strncmp(spec, "inet:", 5) != 0) {
		snprintf(err, errsize, "\"%s\": expected unix:PATH or inet:HOST:PORT", spec);
		return -1;
	}
	h = spec + 5;
	if (*h == '[') {
		h++;
		if ((end = strchr(h, ']')) == NULL || end[1] != ':') {
			snprintf(err, errsize, "\"%s\": expected inet:[IPV6]:PORT", spec);
			return -1;
		}
		port = end + 2;
	} else {
		if ((end = strrchr(h, ':')) == NULL) {
			snprintf(err, errsize, "\"%s\": expected inet:HOST:PORT", spec);
			return -1;
		}
		port = end + 1;
	}
	hl = (size_t)(end - h);
	if (hl == 0 || hl >= sizeof host || *port == '\0' ||
	    strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
	    atoi(port) < 1 || atoi(port) > 65535) {
		snprintf(err, errsize, "\"%s\": expected inet:HOST:PORT with a port 1-65535", spec);
		return -1;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	/* A fuzzed config names random hosts: none is looked up. */
	hints.ai_flags |= AI_NUMERICHOST;
#endif
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errsize, "\"%s\": %s", spec, gai_strerror(rc));
		return -1;
	}
	memcpy(&fa->ss, res->ai_addr, res->ai_addrlen);
	fa->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

long long
filter_deadline(int secs)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + secs * 1000LL;
}

/* wait_for - poll fd for events until the deadline: 0, or -1 (errno). */
static int
wait_for(int fd, short events, long long deadline)
{
	struct pollfd	pfd = { .fd = fd, .events = events };
	long long	left;
	int		n;

	for (;;) {
		left = deadline - filter_deadline(0);
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return -1;
	}
}

int
filter_connect(const struct filter_addr *fa, long long deadline)
{
	struct timespec	pause = { .tv_sec = 0, .tv_nsec = 20 * 1000000 };
	int		fd, soerr = 0;
	socklen_t	sl = sizeof soerr;

again:
	fd = socket(fa->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (const struct sockaddr *)&fa->ss, fa->len) == 0)
		return fd;
	if (errno == EAGAIN && fa->ss.ss_family == AF_UNIX) {
		/* The server's listen queue is full: on a unix socket
		 * nothing is in progress (the socket stays unconnected), so
		 * try again a little later, until the deadline. */
		close(fd);
		if (filter_deadline(0) + 20 >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		nanosleep(&pause, NULL);
		goto again;
	}
	if (errno != EINPROGRESS && errno != EAGAIN)
		goto fail;
	if (wait_for(fd, POLLOUT, deadline) == -1)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
		goto fail;
	if (soerr != 0) {
		errno = soerr;
		goto fail;
	}
	return fd;
fail:
	soerr = errno;
	close(fd);
	errno = soerr;
	return -1;
}

int
filter_write(int fd, const void *buf, size_t len, long long deadline)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_for(fd, POLLOUT, deadline) == -1)
				return -1;
			continue;
		}
		return -1;
	}
	return 0;
}

ssize_t
filter_read(int fd, void *buf, size_t len, long long deadline)
{
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, len, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (wait_for(fd, POLLIN, deadline) == -1)
			return -1;
	}
}

int
filter_read_full(int fd, void *buf, size_t len, long long deadline,
    atomic_int *stop)
{
	char		*p = buf;
	long long	 slice;
	ssize_t		 n;

	while (len > 0) {
		if (stop != NULL && atomic_load(stop) == LB_STOPPED) {
			errno = ECANCELED;
			return -1;
		}
		/* Half-second slices: a stop is seen that soon. */
		slice = stop != NULL ? filter_deadline(0) + 500 : deadline;
		n = filter_read(fd, p, len, slice < deadline ? slice : deadline);
		if (n == -1 && errno == ETIMEDOUT && slice < deadline)
			continue;
		if (n == 0)
			errno = EPIPE;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
filter_alive(int fd)
{
	char	c;
	ssize_t	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	return n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK);
}
