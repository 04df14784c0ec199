/*
 * smtpsink.c - a store-nothing SMTP server for the smtpd benchmarks
 * (libc + pthreads): the transport floor.
 *
 *   smtpsink -p PORT [-t THREADS]
 *
 * Listens on 127.0.0.1:PORT and answers every SMTP dialogue the load
 * generator speaks (greeting, EHLO, MAIL, RCPT, DATA, the body up to its
 * final dot, RSET, NOOP, QUIT) with a success reply, pipelined commands
 * included, and throws the mail away. It parses nothing it does not need
 * and has no limits, logging or timeouts: it is what the dialogue and
 * the loopback TCP underneath cost on this machine, so that `make bench`
 * can tell the time smtpd spends of its own from the time any SMTP
 * server would spend. Runs until killed.
 *
 * THREADS (default 256) threads each block in accept() and serve one
 * connection at a time, so there is no hand-over between threads; a
 * connection waits in the backlog while every thread is busy.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSZ		(64 * 1024)
#define STACKSZ		(256 * 1024)

static int lfd;

static const char greeting[] = "220 sink.test ESMTP smtpsink\r\n";
static const char ehlo_reply[] =
    "250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 0\r\n";
static const char ok[] = "250 Ok\r\n";
static const char go_ahead[] = "354 Go ahead\r\n";
static const char bye[] = "221 Bye\r\n";

struct out {
	char	buf[4096];
	size_t	len;
	int	fd;
};

static int
flush_out(struct out *o)
{
	size_t off = 0;

	while (off < o->len) {
		ssize_t n = send(o->fd, o->buf + off, o->len - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	o->len = 0;
	return 0;
}

static int
reply(struct out *o, const char *s, size_t len)
{
	if (o->len + len > sizeof o->buf && flush_out(o) == -1)
		return -1;
	memcpy(o->buf + o->len, s, len);
	o->len += len;
	return 0;
}

/* verb - the line's first four letters, upper-cased, as one int. */
static unsigned
verb(const char *p, size_t len)
{
	unsigned v = 0;

	for (size_t i = 0; i < 4; i++)
		v = v << 8 | (unsigned char)(i < len && p[i] >= 'a' && p[i] <= 'z' ?
		    p[i] - 32 : i < len ? p[i] : 0);
	return v;
}

#define VERB(a, b, c, d) ((unsigned)(a) << 24 | (unsigned)(b) << 16 | \
			  (unsigned)(c) << 8 | (unsigned)(d))

/* serve - one connection; returns when the client quits or goes. */
static void
serve(int fd, char *in)
{
	struct out	 o = { .len = 0, .fd = fd };
	size_t		 have = 0, pos;
	int		 data = 0, midline = 0, quit = 0;

	if (reply(&o, greeting, sizeof greeting - 1) == -1 || flush_out(&o) == -1)
		return;
	while (!quit) {
		ssize_t n = read(fd, in + have, BUFSZ - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		have += (size_t)n;
		pos = 0;
		for (;;) {
			char *line = in + pos, *nl = memchr(line, '\n', have - pos);
			size_t len;

			if (nl == NULL)
				break;
			len = (size_t)(nl - line) + 1;
			pos += len;
			if (data) {
				/* The final dot: "." alone at the start of a line. */
				if (!midline && len >= 2 && line[0] == '.' &&
				    (line[1] == '\n' || (line[1] == '\r' && len == 3))) {
					data = 0;
					if (reply(&o, ok, sizeof ok - 1) == -1)
						return;
				}
				midline = 0;
				continue;
			}
			switch (verb(line, len)) {
			case VERB('E', 'H', 'L', 'O'):
			case VERB('H', 'E', 'L', 'O'):
				if (reply(&o, ehlo_reply, sizeof ehlo_reply - 1) == -1)
					return;
				break;
			case VERB('D', 'A', 'T', 'A'):
				data = 1;
				if (reply(&o, go_ahead, sizeof go_ahead - 1) == -1)
					return;
				break;
			case VERB('Q', 'U', 'I', 'T'):
				(void)reply(&o, bye, sizeof bye - 1);
				quit = 1;
				break;
			default:	/* MAIL, RCPT, RSET, NOOP, anything */
				if (reply(&o, ok, sizeof ok - 1) == -1)
					return;
			}
			if (quit)
				break;
		}
		/* Keep an unfinished line; a body line longer than the buffer
		 * is dropped, remembering that its end is not a line start. */
		if (pos < have)
			memmove(in, in + pos, have - pos);
		have -= pos;
		if (have == BUFSZ) {
			if (!data)
				return;
			have = 0;
			midline = 1;
		}
		/* Replies go out once everything the client sent is answered. */
		if (flush_out(&o) == -1)
			return;
	}
}

static void *
worker(void *arg)
{
	char *in = malloc(BUFSZ);

	(void)arg;
	if (in == NULL)
		return NULL;
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("smtpsink: accept");
			sleep(1);
			continue;
		}
		serve(fd, in);
		close(fd);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	pthread_attr_t	 attr;
	const char	*port = NULL;
	int		 ch, threads = 256, on = 1;

	while ((ch = getopt(argc, argv, "p:t:")) != -1) {
		switch (ch) {
		case 'p': port = optarg; break;
		case 't': threads = atoi(optarg); break;
		default: port = NULL; optind = argc; break;
		}
	}
	if (port == NULL || atoi(port) <= 0 || atoi(port) > 65535 || threads < 1) {
		fprintf(stderr, "usage: smtpsink -p PORT [-t THREADS]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(port));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(lfd, 4096) == -1) {
		fprintf(stderr, "smtpsink: cannot listen on 127.0.0.1:%s: %s\n",
		    port, strerror(errno));
		return 1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, STACKSZ);
	for (int i = 0; i < threads; i++) {
		pthread_t t;
		if (pthread_create(&t, &attr, worker, NULL) != 0) {
			fprintf(stderr, "smtpsink: cannot start thread %d\n", i);
			return 1;
		}
	}
	pause();
	return 0;
}
