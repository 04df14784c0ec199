/*
 * test_filterconn.c - filter addresses and deadline-bounded I/O
 * (src/filterconn.c).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "filterconn.h"
#include "linebuf.h"
#include "unit.h"

static int
parse(const char *spec, struct filter_addr *fa)
{
	char err[300];

	err[0] = '\0';
	return filter_addr_parse(spec, fa, err, sizeof err);
}

static void
test_addresses(void)
{
	struct filter_addr	 fa;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&fa.ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&fa.ss;

	CHECK_EQ_INT(parse("unix:/run/postgrey.sock", &fa), 0);
	CHECK_EQ_INT(fa.ss.ss_family, AF_UNIX);
	CHECK_STR(((struct sockaddr_un *)&fa.ss)->sun_path, "/run/postgrey.sock");
	CHECK_EQ_INT(parse("inet:127.0.0.1:10023", &fa), 0);
	CHECK_EQ_INT(fa.ss.ss_family, AF_INET);
	CHECK_EQ_INT(ntohs(sin->sin_port), 10023);
	CHECK_EQ_INT(parse("inet:[::1]:8891", &fa), 0);
	CHECK_EQ_INT(fa.ss.ss_family, AF_INET6);
	CHECK_EQ_INT(ntohs(sin6->sin6_port), 8891);
	CHECK_STR(fa.spec, "inet:[::1]:8891");
}

static void
test_bad_addresses(void)
{
	static const char *bad[] = {
		"", "unix:", "unix:relative/path", "tcp:1.2.3.4:5",
		"inet:127.0.0.1", "inet::25", "inet:127.0.0.1:", "inet:127.0.0.1:0",
		"inet:127.0.0.1:65536", "inet:127.0.0.1:12x", "inet:[::1:25",
		"inet:[::1]25", "inet:127.0.0.1:-1", "inet:127.0.0.1:0000099999",
	};
	struct filter_addr	fa;
	char			long_path[200], err[300];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		CHECK_EQ_INT(filter_addr_parse(bad[i], &fa, err, sizeof err), -1);
		CHECK(err[0] != '\0');
	}
	memset(long_path, 'a', sizeof long_path);
	memcpy(long_path, "unix:/", 6);
	long_path[sizeof long_path - 1] = '\0';
	CHECK_EQ_INT(parse(long_path, &fa), -1);
}

static void
test_deadlines(void)
{
	int		sv[2];
	char		buf[8];
	long long	t0;

	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	/* Nothing to read: the deadline ends the wait. */
	t0 = filter_deadline(0);
	errno = 0;
	CHECK_EQ_INT((int)filter_read(sv[0], buf, sizeof buf, t0 + 50), -1);
	CHECK_EQ_INT(errno, ETIMEDOUT);
	CHECK(filter_deadline(0) - t0 >= 50);
	CHECK_EQ_INT(filter_alive(sv[0]), 1);
	/* Data, then a short read that the peer's close ends. */
	CHECK_EQ_INT(filter_write(sv[1], "abc", 3, filter_deadline(1)), 0);
	CHECK_EQ_INT(filter_alive(sv[0]), 0);	/* unread bytes */
	CHECK_EQ_INT(filter_read_full(sv[0], buf, 3, filter_deadline(1), NULL), 0);
	CHECK(memcmp(buf, "abc", 3) == 0);
	CHECK_EQ_INT(filter_write(sv[1], "de", 2, filter_deadline(1)), 0);
	close(sv[1]);
	errno = 0;
	CHECK_EQ_INT(filter_read_full(sv[0], buf, 3, filter_deadline(1), NULL), -1);
	CHECK_EQ_INT(errno, EPIPE);
	CHECK_EQ_INT(filter_alive(sv[0]), 0);	/* closed */
	/* Writing to a closed peer is an error, not a SIGPIPE. */
	CHECK_EQ_INT(filter_write(sv[0], "x", 1, filter_deadline(1)), -1);
	close(sv[0]);
}

/* A stop word ends a wait long before its deadline. */
static void
test_stop_word(void)
{
	atomic_int	stop = LB_WAITING;
	int		sv[2];
	char		buf[4];
	long long	t0;

	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	atomic_store(&stop, LB_STOPPED);
	t0 = filter_deadline(0);
	errno = 0;
	CHECK_EQ_INT(filter_read_full(sv[0], buf, sizeof buf, filter_deadline(30), &stop), -1);
	CHECK_EQ_INT(errno, ECANCELED);
	CHECK(filter_deadline(0) - t0 < 5000);
	/* Not stopped: the bytes are read. */
	atomic_store(&stop, LB_WAITING);
	CHECK_EQ_INT(filter_write(sv[1], "abcd", 4, filter_deadline(1)), 0);
	CHECK_EQ_INT(filter_read_full(sv[0], buf, sizeof buf, filter_deadline(1), &stop), 0);
	close(sv[0]);
	close(sv[1]);
}

static void
test_connect_refused(void)
{
	struct filter_addr	fa;
	char			path[] = "/tmp/filterconn-test-XXXXXX";
	int			fd;

	REQUIRE(mkdtemp(path) != NULL);
	{
		char spec[128];

		snprintf(spec, sizeof spec, "unix:%s/none.sock", path);
		REQUIRE(parse(spec, &fa) == 0);
	}
	fd = filter_connect(&fa, filter_deadline(1));
	CHECK_EQ_INT(fd, -1);
	CHECK(errno == ENOENT || errno == ECONNREFUSED);
	rmdir(path);
}

int
main(void)
{
	RUN(test_addresses);
	RUN(test_bad_addresses);
	RUN(test_deadlines);
	RUN(test_stop_word);
	RUN(test_connect_refused);
	return unit_done();
}
