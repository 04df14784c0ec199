/*
 * smtpload.c - SMTP load generator for the smtpd benchmarks (libc + pthreads).
 *
 * Three modes; each prints one machine-readable line of key=value pairs on
 * stdout (diagnostics go to stderr):
 *
 *   load  (default) THREADS threads send MESSAGES messages of SIZE bytes,
 *         PER_CONN messages per connection, optionally pipelined (RFC 2920).
 *         Every reply code is checked.
 *           msgs=N ok=N fail=N secs=S rate=R MBps=M p50_ms=A p99_ms=B
 *           max_ms=C conns=N errs=E [srv_cpu=S cpu_per_10k=S]
 *         A message is ok once the 250 after its final dot arrived; a
 *         message is failed when any reply of its transaction is wrong or
 *         the connection broke. errs counts every unexpected reply or I/O
 *         failure, including greeting, EHLO and QUIT. rate = ok/secs,
 *         MBps = ok*SIZE/secs/1e6.
 *         Latency: with 1 message per connection, from connect() to the
 *         QUIT reply; with more, the time from the end of the previous
 *         transaction on that connection (or the EHLO reply) to the 250
 *         after the final dot. Only ok messages have a latency.
 *         --server-pid PID reads the server's utime+stime from
 *         /proc/PID/stat before and after the run.
 *
 *   idle  open CONNS connections, read the greeting, send EHLO, read the
 *         reply on each, print "idle_held=N failed=F secs=S" once all are
 *         established, then hold them for HOLD seconds (0 = forever), until
 *         SIGINT/SIGTERM, or, when stdin is a pipe or socket, until stdin
 *         closes. Then prints "idle_done held=N dropped=D" (dropped = closed
 *         by the server meanwhile). RLIMIT_NOFILE is raised to the hard
 *         limit.
 *
 *   burst open CONNS connections at once (every connect() issued back to
 *         back) and time until every greeting arrived:
 *           burst=N greeted=G failed=F secs=S max_ms=M
 *
 * Exit status: 0 when everything succeeded, 1 on any failure, 2 on usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum mode { MODE_LOAD, MODE_IDLE, MODE_BURST };

static struct {
	const char	*host;
	const char	*port;
	int		 threads;
	long		 messages;
	size_t		 size;
	long		 per_conn;
	int		 pipelining;
	const char	*rcpt;
	const char	*from;
	const char	*helo;
	double		 max_secs;	/* load: stop claiming after this; 0 = no limit */
	int		 timeout;	/* seconds, each network wait */
	enum mode	 mode;
	long		 conns;
	double		 hold;
	long		 window;	/* idle: connection attempts in flight */
	long		 server_pid;
	int		 max_errors_shown;
} o = {
	.host = "127.0.0.1",
	.port = "2525",
	.threads = 1,
	.messages = 1000,
	.size = 4096,
	.per_conn = 1,
	.rcpt = "bench@example.org",
	.from = "load@bench.test",
	.helo = "smtpload.bench.test",
	.timeout = 30,
	.mode = MODE_LOAD,
	.conns = 100,
	.hold = 0,
	.window = 256,
	.server_pid = 0,
	.max_errors_shown = 5,
};

static struct sockaddr_storage	srv_addr;
static socklen_t		srv_addrlen;

/* ------------------------------------------------------------------ */

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static atomic_int errors_shown;

static void
report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* report - a diagnostic on stderr; only the first few are shown. */
static void
report(const char *fmt, ...)
{
	va_list	ap;
	char	line[600];

	if (atomic_fetch_add(&errors_shown, 1) >= o.max_errors_shown)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "smtpload: %s\n", line);
}

/* printable - the reply text without CR LF, for diagnostics. */
static const char *
printable(const char *s, char *out, size_t outsz)
{
	size_t	i;

	for (i = 0; i + 1 < outsz && s[i] != '\0' && s[i] != '\r' && s[i] != '\n'; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	out[i] = '\0';
	return out;
}

static void
resolve(void)
{
	struct addrinfo	hints, *res;
	int		err;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((err = getaddrinfo(o.host, o.port, &hints, &res)) != 0) {
		fprintf(stderr, "smtpload: %s:%s: %s\n", o.host, o.port, gai_strerror(err));
		exit(2);
	}
	memcpy(&srv_addr, res->ai_addr, res->ai_addrlen);
	srv_addrlen = res->ai_addrlen;
	freeaddrinfo(res);
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			perror("smtpload: setrlimit");
	}
}

/* read_server_cpu - utime+stime of a process in seconds; -1 if unknown. */
static double
read_server_cpu(long pid)
{
	char		 path[64], buf[2048], *p;
	FILE		*fp;
	size_t		 n;
	unsigned long	 ut = 0, st = 0;
	int		 field;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip to the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	p++;
	/* Fields after ')' start at field 3 (state); utime is 14, stime 15. */
	for (field = 3; field < 14; field++) {
		p += strspn(p, " ");
		p += strcspn(p, " ");
	}
	if (sscanf(p, " %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ------------------------------------------------------------------ */
/* load mode                                                          */

struct conn {
	int	 fd;
	size_t	 off, len;
	char	 buf[8192];
	char	 last[256];	/* the last reply line, for diagnostics */
};

static atomic_long	remaining;	/* messages not yet claimed */
static atomic_long	n_ok, n_fail, n_errs, n_conns, n_lat;
static double		t_start, t_deadline;
static double		*latencies;	/* seconds, one per ok message */
static char		*body;		/* the message, ending in CR LF */
static size_t		 bodylen;
static char		 envelope[1200];	/* MAIL, RCPT, DATA */
static size_t		 envlen;

/* claim - take one message to send; 0 when none are left (or out of time). */
static int
claim(void)
{
	long cur;

	if (t_deadline > 0 && now() >= t_deadline)
		return 0;
	cur = atomic_load(&remaining);
	while (cur > 0)
		if (atomic_compare_exchange_weak(&remaining, &cur, cur - 1))
			return 1;
	return 0;
}

static void
record_latency(double secs)
{
	long i = atomic_fetch_add(&n_lat, 1);

	if (i < o.messages)
		latencies[i] = secs;
}

static int
tcp_connect(void)
{
	struct timeval	tv = { .tv_sec = o.timeout, .tv_usec = 0 };
	int		fd, on = 1;

	if ((fd = socket(srv_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&srv_addr, srv_addrlen) == -1) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* send_iov - write every byte of iov[0..n) (the array is modified). */
static int
send_iov(int fd, struct iovec *iov, int n)
{
	struct msghdr	msg;
	ssize_t		w;

	while (n > 0) {
		memset(&msg, 0, sizeof msg);
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)n;
		w = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int
send_str(int fd, const char *s, size_t len)
{
	struct iovec iov = { .iov_base = (void *)(uintptr_t)s, .iov_len = len };

	return send_iov(fd, &iov, 1);
}

/*
 * read_reply - the code of the next (possibly multi-line) reply; -1 on
 * EOF, timeout or error, -2 on a malformed line.
 */
static int
read_reply(struct conn *c)
{
	for (;;) {
		char	*nl = memchr(c->buf + c->off, '\n', c->len - c->off);

		if (nl != NULL) {
			char	*line = c->buf + c->off;
			size_t	 ll = (size_t)(nl - line) + 1;
			int	 code, final;

			memcpy(c->last, line, ll < sizeof c->last - 1 ? ll : sizeof c->last - 1);
			c->last[ll < sizeof c->last - 1 ? ll : sizeof c->last - 1] = '\0';
			c->off += ll;
			if (ll < 5 || line[0] < '0' || line[0] > '9' ||
			    line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9')
				return -2;
			code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
			final = line[3] == ' ' || line[3] == '\r' || line[3] == '\n';
			if (!final && line[3] != '-')
				return -2;
			if (final)
				return code;
			continue;
		}
		if (c->off > 0) {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		if (c->len == sizeof c->buf)
			return -2;	/* a line longer than the buffer */
		ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
		if (r > 0) {
			c->len += (size_t)r;
			continue;
		}
		if (r == -1 && errno == EINTR)
			continue;
		snprintf(c->last, sizeof c->last, "%s", r == 0 ? "connection closed by server" :
		    (errno == EAGAIN || errno == EWOULDBLOCK) ? "timed out waiting for a reply" :
		    strerror(errno));
		return -1;
	}
}

/* expect - read a reply and check its code; on mismatch count an error. */
static int
expect(struct conn *c, int want, const char *after)
{
	char	pbuf[200];
	int	code = read_reply(c);

	if (code == want)
		return 0;
	atomic_fetch_add(&n_errs, 1);
	report("expected %d after %s, got %s: %s", want, after,
	    code == -1 ? "no reply" : code == -2 ? "a malformed reply" : "another code",
	    printable(c->last, pbuf, sizeof pbuf));
	return -1;
}

/* send_failed - count and show a failed write. */
static void
send_failed(const char *what)
{
	atomic_fetch_add(&n_errs, 1);
	report("send %s: %s", what, strerror(errno));
}

/*
 * run_conn - one connection; the first message is already claimed.
 * Sends up to per_conn messages, claiming each further one just before
 * it is needed. On any error the connection is dropped and the message
 * in progress (and one already claimed after it) counts as failed.
 */
static void
run_conn(void)
{
	struct conn	*c;
	struct iovec	 iov[3];
	double		 t0 = now(), tmsg;
	long		 i;
	int		 cur = 1, extra = 0, next, quit_sent = 0;
	static const char dot[] = ".\r\n", quit[] = "QUIT\r\n";
	char		 ehlo[300];

	if ((c = calloc(1, sizeof *c)) == NULL) {
		atomic_fetch_add(&n_fail, 1);
		atomic_fetch_add(&n_errs, 1);
		return;
	}
	atomic_fetch_add(&n_conns, 1);
	if ((c->fd = tcp_connect()) == -1) {
		atomic_fetch_add(&n_errs, 1);
		report("connect %s:%s: %s", o.host, o.port, strerror(errno));
		goto fail;
	}
	if (expect(c, 220, "connect") == -1)
		goto fail;
	snprintf(ehlo, sizeof ehlo, "EHLO %s\r\n", o.helo);
	if (send_str(c->fd, ehlo, strlen(ehlo)) == -1) {
		send_failed("EHLO");
		goto fail;
	}
	if (expect(c, 250, "EHLO") == -1)
		goto fail;
	tmsg = now();
	if (o.pipelining && send_str(c->fd, envelope, envlen) == -1) {
		send_failed("MAIL/RCPT/DATA");
		goto fail;
	}
	for (i = 0; cur; i++) {
		if (o.pipelining) {
			/* MAIL, RCPT and DATA were sent in one write. */
			if (expect(c, 250, "MAIL") == -1 || expect(c, 250, "RCPT") == -1 ||
			    expect(c, 354, "DATA") == -1)
				goto fail;
			next = i + 1 < o.per_conn ? claim() : 0;
			iov[0].iov_base = body;
			iov[0].iov_len = bodylen;
			iov[1].iov_base = (void *)(uintptr_t)dot;
			iov[1].iov_len = sizeof dot - 1;
			if (next) {
				iov[2].iov_base = envelope;
				iov[2].iov_len = envlen;
				extra = 1;
			} else {
				iov[2].iov_base = (void *)(uintptr_t)quit;
				iov[2].iov_len = sizeof quit - 1;
				quit_sent = 1;
			}
			if (send_iov(c->fd, iov, 3) == -1) {
				send_failed("body");
				goto fail;
			}
			if (expect(c, 250, "the final dot") == -1)
				goto fail;
		} else {
			const char *mail = envelope, *rcpt = strchr(envelope, '\n') + 1;
			const char *data = strchr(rcpt, '\n') + 1;

			if (send_str(c->fd, mail, (size_t)(rcpt - mail)) == -1) {
				send_failed("MAIL");
				goto fail;
			}
			if (expect(c, 250, "MAIL") == -1)
				goto fail;
			if (send_str(c->fd, rcpt, (size_t)(data - rcpt)) == -1) {
				send_failed("RCPT");
				goto fail;
			}
			if (expect(c, 250, "RCPT") == -1)
				goto fail;
			if (send_str(c->fd, data, strlen(data)) == -1) {
				send_failed("DATA");
				goto fail;
			}
			if (expect(c, 354, "DATA") == -1)
				goto fail;
			iov[0].iov_base = body;
			iov[0].iov_len = bodylen;
			iov[1].iov_base = (void *)(uintptr_t)dot;
			iov[1].iov_len = sizeof dot - 1;
			if (send_iov(c->fd, iov, 2) == -1) {
				send_failed("body");
				goto fail;
			}
			if (expect(c, 250, "the final dot") == -1)
				goto fail;
			next = i + 1 < o.per_conn ? claim() : 0;
		}
		atomic_fetch_add(&n_ok, 1);
		if (o.per_conn > 1) {
			double t = now();
			record_latency(t - tmsg);
			tmsg = t;
		}
		cur = next;
		extra = 0;
	}
	if (!quit_sent && send_str(c->fd, quit, sizeof quit - 1) == -1)
		send_failed("QUIT");
	else if (expect(c, 221, "QUIT") == 0) {
		if (o.per_conn == 1)
			record_latency(now() - t0);
		/* Wait for the server to close first: TIME_WAIT stays on its side. */
		while (recv(c->fd, c->buf, sizeof c->buf, 0) > 0)
			;
	}
	close(c->fd);
	free(c);
	return;
fail:
	atomic_fetch_add(&n_fail, cur + extra);
	if (c->fd != -1)
		close(c->fd);
	free(c);
}

static void *
load_thread(void *arg)
{
	(void)arg;
	while (claim())
		run_conn();
	return NULL;
}

/* build_message - headers and filler lines, exactly o.size bytes if it fits. */
static void
build_message(void)
{
	char	hdr[1024];
	size_t	hl, o2, linelen = 78;	/* 76 characters and CR LF */
	unsigned n = 0;

	hl = (size_t)snprintf(hdr, sizeof hdr,
	    "From: <%s>\r\nTo: <%s>\r\nSubject: smtpload test message\r\n"
	    "Message-ID: <smtpload.%ld@bench.test>\r\n\r\n", o.from, o.rcpt, (long)getpid());
	bodylen = o.size > hl + 2 ? o.size : hl + 2;
	if ((body = malloc(bodylen)) == NULL) {
		perror("smtpload: malloc");
		exit(1);
	}
	memcpy(body, hdr, hl);
	for (o2 = hl; o2 < bodylen; ) {
		size_t left = bodylen - o2, len = left < linelen ? left : linelen;
		size_t k;

		if (left - len == 1)	/* never leave a lone byte for a last line */
			len--;
		for (k = 0; k + 2 < len; k++)
			body[o2 + k] = (char)('A' + (n + k) % 26);
		body[o2 + len - 2] = '\r';
		body[o2 + len - 1] = '\n';
		/* A 1-byte line would be CR only: fold it into CR LF above. */
		o2 += len;
		n++;
	}
	envlen = (size_t)snprintf(envelope, sizeof envelope,
	    "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", o.from, o.rcpt);
}

static double
percentile(const double *v, long n, double p)
{
	long i;

	if (n <= 0)
		return 0;
	i = (long)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
mode_load(void)
{
	pthread_t	*th;
	double		 secs, cpu0 = -1, cpu1 = -1;
	long		 ok, fail, nl;
	int		 i;

	build_message();
	if ((latencies = calloc((size_t)o.messages + 1, sizeof *latencies)) == NULL ||
	    (th = calloc((size_t)o.threads, sizeof *th)) == NULL) {
		perror("smtpload: calloc");
		return 1;
	}
	atomic_store(&remaining, o.messages);
	if (o.server_pid > 0)
		cpu0 = read_server_cpu(o.server_pid);
	t_start = now();
	if (o.max_secs > 0)
		t_deadline = t_start + o.max_secs;
	for (i = 0; i < o.threads; i++) {
		pthread_attr_t a;
		int err;

		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 256 * 1024);
		if ((err = pthread_create(&th[i], &a, load_thread, NULL)) != 0) {
			fprintf(stderr, "smtpload: pthread_create: %s\n", strerror(err));
			exit(1);
		}
		pthread_attr_destroy(&a);
	}
	for (i = 0; i < o.threads; i++)
		pthread_join(th[i], NULL);
	secs = now() - t_start;
	if (o.server_pid > 0)
		cpu1 = read_server_cpu(o.server_pid);

	ok = atomic_load(&n_ok);
	fail = atomic_load(&n_fail);
	nl = atomic_load(&n_lat);
	if (nl > o.messages)
		nl = o.messages;
	qsort(latencies, (size_t)nl, sizeof *latencies, cmp_double);
	printf("msgs=%ld ok=%ld fail=%ld secs=%.2f rate=%.1f MBps=%.2f "
	    "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f conns=%ld errs=%ld",
	    ok + fail, ok, fail, secs, secs > 0 ? (double)ok / secs : 0,
	    secs > 0 ? (double)ok * (double)bodylen / secs / 1e6 : 0,
	    percentile(latencies, nl, 0.50) * 1e3, percentile(latencies, nl, 0.99) * 1e3,
	    nl > 0 ? latencies[nl - 1] * 1e3 : 0, atomic_load(&n_conns),
	    atomic_load(&n_errs));
	if (o.server_pid > 0) {
		if (cpu0 >= 0 && cpu1 >= 0)
			printf(" srv_cpu=%.2f cpu_per_10k=%.2f", cpu1 - cpu0,
			    ok > 0 ? (cpu1 - cpu0) * 10000.0 / (double)ok : 0);
		else
			printf(" srv_cpu=? cpu_per_10k=?");
	}
	printf("\n");
	fflush(stdout);
	free(th);
	return (fail > 0 || atomic_load(&n_errs) > 0) ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* idle and burst: one thread, non-blocking sockets, epoll            */

enum ic_state { IC_FREE, IC_CONNECTING, IC_GREETING, IC_EHLO, IC_HELD, IC_DONE };

struct iconn {
	int		 fd;
	enum ic_state	 state;
	double		 t0;
	size_t		 len;
	char		 buf[1024];
};

static struct iconn	*ics;
static int		 ep = -1;
static volatile sig_atomic_t stop_signal;

static void
on_signal(int sig)
{
	stop_signal = sig;
}

static void
ic_close(struct iconn *c, enum ic_state st)
{
	if (c->fd != -1) {
		close(c->fd);	/* also leaves the epoll set */
		c->fd = -1;
	}
	c->state = st;
}

/* ic_start - a non-blocking connect; 0 or -1 (counted by the caller). */
static int
ic_start(struct iconn *c, long idx)
{
	struct epoll_event ev;

	c->len = 0;
	c->t0 = now();
	c->fd = socket(srv_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		report("socket: %s", strerror(errno));
		c->state = IC_DONE;
		return -1;
	}
	if (connect(c->fd, (struct sockaddr *)&srv_addr, srv_addrlen) == -1 &&
	    errno != EINPROGRESS) {
		report("connect: %s", strerror(errno));
		ic_close(c, IC_DONE);
		return -1;
	}
	c->state = IC_CONNECTING;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
	ev.data.u64 = (uint64_t)idx;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) == -1) {
		report("epoll_ctl: %s", strerror(errno));
		ic_close(c, IC_DONE);
		return -1;
	}
	return 0;
}

/* ic_reply - a complete final reply line in c->buf: its code; 0 = not yet; -1 bad. */
static int
ic_reply(struct iconn *c)
{
	char	*p = c->buf, *end = c->buf + c->len, *nl;

	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (nl - p < 4 || p[0] < '0' || p[0] > '9')
			return -1;
		if (p[3] == ' ' || p[3] == '\r')
			return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		p = nl + 1;
	}
	if (p == c->buf && c->len == sizeof c->buf - 1)
		return -1;
	/* Keep only the unfinished line. */
	if (p != c->buf) {
		memmove(c->buf, p, (size_t)(end - p));
		c->len = (size_t)(end - p);
	}
	return 0;
}

/*
 * ic_event - advance one connection. want_ehlo: send EHLO after the
 * greeting (idle) or stop there (burst). Returns the new state.
 */
static enum ic_state
ic_event(struct iconn *c, uint32_t events, int want_ehlo)
{
	char	pbuf[200];
	int	code;

	if (c->state == IC_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof err;

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) == -1)
			err = errno;
		if (err != 0) {
			report("connect: %s", strerror(err));
			ic_close(c, IC_DONE);
			return IC_DONE;
		}
		if (!(events & (EPOLLOUT | EPOLLIN)))
			return c->state;
		struct epoll_event ev;
		memset(&ev, 0, sizeof ev);
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.u64 = (uint64_t)(c - ics);
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->state = IC_GREETING;
	}
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return c->state;
	for (;;) {
		ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0);
		if (r > 0) {
			c->len += (size_t)r;
			c->buf[c->len] = '\0';
			if ((code = ic_reply(c)) == 0)
				continue;
			break;
		}
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return c->state;
		report("%s: %s", c->state == IC_HELD ? "held connection" : "handshake",
		    r == 0 ? "closed by server" : strerror(errno));
		ic_close(c, IC_DONE);
		return IC_DONE;
	}
	if (c->state == IC_HELD) {
		report("held connection: server sent %s", printable(c->buf, pbuf, sizeof pbuf));
		ic_close(c, IC_DONE);
		return IC_DONE;
	}
	if (c->state == IC_GREETING && code == 220) {
		char ehlo[300];
		int n = snprintf(ehlo, sizeof ehlo, "EHLO %s\r\n", o.helo);

		c->len = 0;
		if (!want_ehlo) {
			c->state = IC_HELD;
			return IC_HELD;
		}
		if (send(c->fd, ehlo, (size_t)n, MSG_NOSIGNAL) != n) {
			report("send EHLO: %s", strerror(errno));
			ic_close(c, IC_DONE);
			return IC_DONE;
		}
		c->state = IC_EHLO;
		return IC_EHLO;
	}
	if (c->state == IC_EHLO && code == 250) {
		c->len = 0;
		c->state = IC_HELD;
		return IC_HELD;
	}
	report("%s: got %s", c->state == IC_GREETING ? "greeting" : "EHLO reply",
	    printable(c->buf, pbuf, sizeof pbuf));
	ic_close(c, IC_DONE);
	return IC_DONE;
}

/*
 * establish - bring o.conns connections to IC_HELD, at most window
 * attempts in flight (0 = all at once). Returns the number held; *maxt is
 * the slowest connect-to-ready time.
 */
static long
establish(long window, int want_ehlo, double *maxt, double *secs)
{
	struct epoll_event	 evs[512];
	long			 started = 0, held = 0, done = 0, inflight = 0, i;
	double			 t0 = now(), deadline;
	sigset_t		 empty;

	sigemptyset(&empty);
	*maxt = 0;
	deadline = t0 + o.timeout;
	while (held + done < o.conns) {
		while (started < o.conns && (window <= 0 || inflight < window)) {
			if (ic_start(&ics[started], started) == -1)
				done++;
			else
				inflight++;
			started++;
		}
		if (stop_signal)
			break;
		int ms = (int)((deadline - now()) * 1000);
		if (ms <= 0) {
			report("%ld connections not ready after %d s", o.conns - held - done,
			    o.timeout);
			break;
		}
		int n = epoll_pwait(ep, evs, 512, ms, &empty);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			perror("smtpload: epoll_wait");
			break;
		}
		for (int k = 0; k < n; k++) {
			struct iconn *c = &ics[evs[k].data.u64];
			enum ic_state before = c->state, after;

			if (before == IC_HELD || before == IC_DONE)
				continue;
			after = ic_event(c, evs[k].events, want_ehlo);
			if (after == IC_HELD) {
				double t = now() - c->t0;
				if (t > *maxt)
					*maxt = t;
				held++;
				inflight--;
			} else if (after == IC_DONE) {
				done++;
				inflight--;
			}
		}
	}
	*secs = now() - t0;
	for (i = 0; i < o.conns; i++)
		if (ics[i].state != IC_HELD && ics[i].state != IC_DONE)
			ic_close(&ics[i], IC_DONE);
	return held;
}

static void
setup_events(void)
{
	struct sigaction sa;
	sigset_t	 block;
	long		 i;

	raise_nofile();
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* Blocked except inside epoll_pwait: no lost wake-up. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		perror("smtpload: epoll_create1");
		exit(1);
	}
	if ((ics = calloc((size_t)o.conns, sizeof *ics)) == NULL) {
		perror("smtpload: calloc");
		exit(1);
	}
	for (i = 0; i < o.conns; i++)
		ics[i].fd = -1;
}

static int
mode_idle(void)
{
	struct epoll_event	 evs[256];
	struct stat		 st;
	double			 maxt, secs, end;
	long			 held, dropped = 0;
	int			 watch_stdin = 0;
	sigset_t		 empty;

	setup_events();
	held = establish(o.window, 1, &maxt, &secs);
	printf("idle_held=%ld failed=%ld secs=%.2f max_ms=%.1f\n", held, o.conns - held,
	    secs, maxt * 1e3);
	fflush(stdout);

	/* Hold: watch stdin if it is a pipe or socket, and the held sockets. */
	if (fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
		struct epoll_event ev;
		memset(&ev, 0, sizeof ev);
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.u64 = UINT64_MAX;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) == 0)
			watch_stdin = 1;
	}
	sigemptyset(&empty);
	end = o.hold > 0 ? now() + o.hold : 0;
	while (!stop_signal) {
		int ms = -1, n;

		if (end > 0) {
			ms = (int)((end - now()) * 1000);
			if (ms <= 0)
				break;
		}
		n = epoll_pwait(ep, evs, 256, ms, &empty);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			perror("smtpload: epoll_wait");
			break;
		}
		for (int k = 0; k < n; k++) {
			if (evs[k].data.u64 == UINT64_MAX) {
				char b[512];
				ssize_t r = read(0, b, sizeof b);
				if (r <= 0) {
					watch_stdin = 0;
					stop_signal = -1;
				}
				continue;
			}
			struct iconn *c = &ics[evs[k].data.u64];
			if (c->state == IC_HELD && ic_event(c, evs[k].events, 1) == IC_DONE)
				dropped++;
		}
	}
	(void)watch_stdin;
	printf("idle_done held=%ld dropped=%ld\n", held - dropped, dropped);
	fflush(stdout);
	return held == o.conns && dropped == 0 ? 0 : 1;
}

static int
mode_burst(void)
{
	double	maxt, secs;
	long	held, i;

	setup_events();
	held = establish(0, 0, &maxt, &secs);
	printf("burst=%ld greeted=%ld failed=%ld secs=%.3f max_ms=%.1f\n", o.conns, held,
	    o.conns - held, secs, maxt * 1e3);
	fflush(stdout);
	for (i = 0; i < o.conns; i++)
		if (ics[i].fd != -1) {
			(void)!send(ics[i].fd, "QUIT\r\n", 6, MSG_NOSIGNAL);
			close(ics[i].fd);
		}
	return held == o.conns ? 0 : 1;
}

/* ------------------------------------------------------------------ */

static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: smtpload [options]\n"
	    "  -H, --host ADDR         server address (127.0.0.1)\n"
	    "  -p, --port PORT         server port (2525)\n"
	    "  -M, --mode MODE         load (default), idle or burst\n"
	    " load mode:\n"
	    "  -c, --threads N         concurrent connections/threads (1)\n"
	    "  -n, --messages N        total messages (1000)\n"
	    "  -s, --size BYTES        message size incl. headers (4096)\n"
	    "  -m, --per-conn N        messages per connection (1)\n"
	    "  -P, --pipelining        MAIL+RCPT+DATA in one write; body, dot and next\n"
	    "                          MAIL/RCPT/DATA (or QUIT) in one write\n"
	    "  -r, --rcpt ADDR         recipient (bench@example.org)\n"
	    "  -f, --from ADDR         sender (load@bench.test)\n"
	    "  -d, --max-secs S        stop starting messages after S seconds (no limit)\n"
	    "  -C, --server-pid PID    report the server's CPU time for the run\n"
	    " idle and burst modes:\n"
	    "  -N, --conns N           connections (100)\n"
	    "  -S, --hold S            idle: hold for S seconds (0 = until signal/stdin EOF)\n"
	    "  -w, --window N          idle: connection attempts in flight (256; 0 = all)\n"
	    " common:\n"
	    "  -t, --timeout S         each network wait (30)\n"
	    "  -e, --show-errors N     print the first N errors (5)\n");
	exit(status);
}

static long
num(const char *s, const char *what, long min)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < min) {
		fprintf(stderr, "smtpload: %s: bad number \"%s\"\n", what, s);
		exit(2);
	}
	return v;
}

static double
fnum(const char *s, const char *what)
{
	char	*end;
	double	 v = strtod(s, &end);

	if (*end != '\0' || end == s || v < 0) {
		fprintf(stderr, "smtpload: %s: bad number \"%s\"\n", what, s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "mode", required_argument, NULL, 'M' },
		{ "threads", required_argument, NULL, 'c' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "messages", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "per-conn", required_argument, NULL, 'm' },
		{ "pipelining", no_argument, NULL, 'P' },
		{ "rcpt", required_argument, NULL, 'r' },
		{ "from", required_argument, NULL, 'f' },
		{ "max-secs", required_argument, NULL, 'd' },
		{ "server-pid", required_argument, NULL, 'C' },
		{ "conns", required_argument, NULL, 'N' },
		{ "hold", required_argument, NULL, 'S' },
		{ "window", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "show-errors", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch;

	while ((ch = getopt_long(argc, argv, "H:p:M:c:n:s:m:Pr:f:d:C:N:S:w:t:e:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'H': o.host = optarg; break;
		case 'p': o.port = optarg; break;
		case 'M':
			if (strcmp(optarg, "load") == 0)
				o.mode = MODE_LOAD;
			else if (strcmp(optarg, "idle") == 0)
				o.mode = MODE_IDLE;
			else if (strcmp(optarg, "burst") == 0)
				o.mode = MODE_BURST;
			else
				usage(2);
			break;
		case 'c': o.threads = (int)num(optarg, "threads", 1); break;
		case 'n': o.messages = num(optarg, "messages", 1); break;
		case 's': o.size = (size_t)num(optarg, "size", 1); break;
		case 'm': o.per_conn = num(optarg, "per-conn", 1); break;
		case 'P': o.pipelining = 1; break;
		case 'r': o.rcpt = optarg; break;
		case 'f': o.from = optarg; break;
		case 'd': o.max_secs = fnum(optarg, "max-secs"); break;
		case 'C': o.server_pid = num(optarg, "server-pid", 1); break;
		case 'N': o.conns = num(optarg, "conns", 1); break;
		case 'S': o.hold = fnum(optarg, "hold"); break;
		case 'w': o.window = num(optarg, "window", 0); break;
		case 't': o.timeout = (int)num(optarg, "timeout", 1); break;
		case 'e': o.max_errors_shown = (int)num(optarg, "show-errors", 0); break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (optind != argc)
		usage(2);
	if (strlen(o.rcpt) > 500 || strlen(o.from) > 500 || strlen(o.helo) > 250) {
		fprintf(stderr, "smtpload: address too long\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	resolve();
	switch (o.mode) {
	case MODE_IDLE:
		return mode_idle();
	case MODE_BURST:
		return mode_burst();
	default:
		if ((long)o.threads > o.messages)
			o.threads = (int)o.messages;
		raise_nofile();
		return mode_load();
	}
}
