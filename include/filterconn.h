/*
 * filterconn.h - the sockets to the filters smtpd consults (policy
 * servers, milters): "unix:PATH" or "inet:HOST:PORT" ("inet:[V6]:PORT"),
 * parsed once at load, connected and spoken to with a deadline.
 * Owns: the address syntax, connecting, and reads and writes that never
 * wait past a deadline. Not here: what is said (policy.c, milter.c).
 * Threads: every function is reentrant; a connection belongs to one
 * thread at a time.
 */
#ifndef FILTERCONN_H
#define FILTERCONN_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#define FILTERCONN_SPEC_MAX	200

struct filter_addr {
	char			 spec[FILTERCONN_SPEC_MAX + 1];	/* as written */
	struct sockaddr_storage	 ss;
	socklen_t		 len;
};

/*
 * filter_addr_parse - "unix:/path" (absolute), "inet:127.0.0.1:10023",
 * "inet:[::1]:10023" or "inet:localhost:10023" (the name is resolved
 * now, from the hosts file or DNS). 0, or -1 with a message for the
 * config error in err.
 */
int	filter_addr_parse(const char *spec, struct filter_addr *fa,
	    char *err, size_t errsize);

/* filter_deadline - now + secs, in monotonic milliseconds. */
long long filter_deadline(int secs);

/*
 * filter_connect - a connected, non-blocking socket, or -1 (errno set;
 * ETIMEDOUT past the deadline).
 */
int	filter_connect(const struct filter_addr *fa, long long deadline);
/* filter_write - all of buf, or -1 (errno; ETIMEDOUT, EPIPE, ...). */
int	filter_write(int fd, const void *buf, size_t len, long long deadline);
/*
 * filter_read - at least 1 and at most len bytes; 0 at end of file; -1
 * (errno; ETIMEDOUT past the deadline).
 */
ssize_t	filter_read(int fd, void *buf, size_t len, long long deadline);
/*
 * filter_read_full - exactly len bytes, or -1 (a close counts as EPIPE).
 * stop: a session's stop word (linebuf.h), or NULL; once it is
 * LB_STOPPED the wait ends within half a second (ECANCELED).
 */
int	filter_read_full(int fd, void *buf, size_t len, long long deadline,
	    atomic_int *stop);
/* filter_alive - 1 if an idle connection is still open with nothing
 * unread (a server may close it while it waits in a pool). */
int	filter_alive(int fd);

#endif
