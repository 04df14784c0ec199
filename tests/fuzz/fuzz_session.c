/*
 * fuzz_session.c - the whole SMTP conversation: the real session_run()
 * on its own thread, over a socketpair, delivering into a scratch spool.
 *
 * Input: byte 0 = flags:
 *   bits 0-2  k, the number of chunk-size bytes that follow
 *   bit 3     a proxy listener: the client starts with a PROXY header
 *   bit 4     with bit 3: the admit hook refuses the real client;
 *             without: the first write comes before the session starts
 *             (an early talker)
 *   bit 5     the end is a listener stop (the stop word, then SHUT_RD,
 *             as listener.c does at shutdown) before the client's EOF
 *   bit 6     the second config (see config_text[1])
 *   bit 7     a file stands where example.org's mailboxes would go, so
 *             every copy for example.org fails (451, and none stored)
 * then k chunk sizes, used in turn: n > 0 is a write of n bytes, 0 a
 * write up to and including the next LF; no sizes (k = 0) is one write,
 * and after WRITES_MAX writes the rest goes in one. The rest of the
 * input is what the client sends; after it the client shuts its
 * writing side (EOF). Seeds: tests/fuzz/corpus/session/.
 *
 * Before each write the client waits (bounded) until the session is
 * asleep with every byte written so far read (FIONREAD 0 on its end and
 * its thread in state S in /proc), so that the same input cuts the
 * conversation the same way each time; it drains the replies meanwhile,
 * so the session never waits to send. Without /proc it waits for
 * FIONREAD alone.
 *
 * Checks: every reply line is well formed (three digits 2xx-5xx, ' ' or
 * '-', CRLF, at most 512 octets, no control bytes, a multi-line reply
 * keeps its code, an enhanced status code has the reply's class), the
 * greeting comes first, nothing follows a 221 or 421, there are no more
 * replies than lines sent (besides the greeting and a closing 421), and
 * the session ends soon after the client's EOF. The spool: every file
 * is in a new/
 * (none left in tmp/, none elsewhere), carries in its Received: line
 * the id of a "250 ... queued as ID" reply, at most max_recipients
 * files per id, one per recipient, none bigger than max_message_size
 * plus our header; every "queued as" id has a file. So a message
 * refused, timed out or cut off stores nothing, and one accepted is
 * stored.
 *
 * The spool is a mkdtemp() directory in /dev/shm (else $TMPDIR or
 * /tmp), emptied after each input and removed at exit; a crash leaves
 * it, and the next run removes spools of processes that are gone.
 * FUZZ_SESSION_TRACE=1 prints each conversation's replies and what the
 * spool held.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "config.h"
#define FUZZ_REPORT	report
#include "fuzz.h"
#include "linebuf.h"
#include "maildir.h"
#include "session.h"
#include "smtpd.h"

int	LLVMFuzzerInitialize(int *argc, char ***argv);

#define F_SIZES		0x07
#define F_PROXY		0x08
#define F_REFUSE	0x10
#define F_STOP		0x20
#define F_CONFIG2	0x40
#define F_BLOCK		0x80

#define STACK_SIZE	(256 * 1024)	/* listener.c's CLIENT_STACK_SIZE */
#define SETTLE_MS	2000		/* most one wait for the session takes */
#define RUN_BUDGET_MS	4000		/* all waits of one input together */
#define WRITES_MAX	128		/* then the rest goes in one write */
#define END_MS		5000		/* from the client's EOF to the end */
#define REPLIES_MAX	(1024 * 1024)	/* 256 reply octets per input octet */
#define HDR_MAX		2048		/* session.c's trace header buffer */
#define SPOOL_PREFIX	"fuzz_session."

/*
 * The configs. The parser wants a listen line; main.c would then fill
 * in what the parser leaves (an absolute template, the spool root).
 * "@SPOOL@" is the scratch directory. Timeouts are short in case a wait
 * is not cut short by the client's EOF; max_message_size is small so
 * that the size limits are reached within -max_len.
 */
static const char *const config_text[2] = {
	"listen 127.0.0.1:2525\n"
	"hostname mx.test\n"
	"domain example.org\n"
	"domain example.net\n"
	"mailbox alice@example.net\n"
	"mailbox bob@example.net\n"
	"maildir @SPOOL@/%d/%u\n"
	"max_message_size 4096\n"
	"max_recipients 5\n"
	"max_errors 10\n"
	"timeout 1\n"
	"data_timeout 1\n"
	"transaction_timeout 2\n"
	"fsync no\n"
	"proxy_from 127.0.0.0/8\n"
	"xclient_from 127.0.0.1\n",

	"listen 127.0.0.1:2525\n"
	"hostname mx.test\n"
	"domain example.org\n"
	"domain example.net\n"
	"mailbox alice@example.net\n"
	"maildir @SPOOL@/two/%d/%%%u\n"
	"max_message_size 1000\n"
	"max_recipients 2\n"
	"max_errors 3\n"
	"timeout 1\n"
	"data_timeout 1\n"
	"transaction_timeout 2\n"
	"bare_newline keep\n"
	"recipient_delimiter +\n"
	"fsync no\n"
	"proxy_from 127.0.0.1\n",
};

static struct config	cfs[2];
static char		spool[256];
static FILE		*report;	/* stderr, kept if fd 2 is closed */
static char		*replies;	/* REPLIES_MAX octets */
static int		 trace;		/* FUZZ_SESSION_TRACE=1: print replies */

/* One conversation. */
struct run {
	int		 cfd, sfd;	/* client end, session end */
	const struct config *cf;
	atomic_int	 stop;
	atomic_int	 done;		/* session_run returned */
	atomic_int	 tid;		/* the session thread, 0 until known */
	int		 proxy;		/* conn.proxy */
	int		 refuse;	/* the admit hook says no */
	int		 early;		/* the client talks first */
	int		 started;	/* the session thread exists */
	pthread_t	 th;
	int		 statfd;	/* its /proc stat, -1 if none */
	struct timespec	 t0;
	char		*rep;		/* the replies */
	size_t		 replen;
	int		 eof;		/* the session's end closed */
};

/* One file found in the spool. */
struct found {
	char	id[32];		/* from its Received: line, "" if none */
	char	rcpt[SMTP_PATH_MAX + 8];	/* its "for <...>"; or path */
	int	in_new;		/* a regular file in a new/ */
	off_t	size;
};

static struct found	*found;
static int		 nfound, capfound;

/* fail - an invariant with a message of its own. */
static void
fail(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fprintf(report, "fuzz_session: invariant failed: ");
	vfprintf(report, fmt, ap);
	fprintf(report, "\n");
	va_end(ap);
	fflush(report);
	abort();
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* rm_entry - nftw callback: remove everything below the spool. */
static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	if (ftw->level == 0)
		return 0;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* rm_tree - remove dir and everything below it. */
static void
rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_PHYS | FTW_DEPTH);
	rmdir(dir);
}

static void
remove_spool(void)
{
	maildir_forget();
	if (spool[0] != '\0')
		rm_tree(spool);
}

/* clean_stale - remove the spools of earlier runs whose process is gone
 * (a crash leaves its spool behind). */
static void
clean_stale(const char *parent)
{
	DIR		*d;
	struct dirent	*e;
	char		 path[512];

	if ((d = opendir(parent)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		long	pid;
		char	*end;

		if (strncmp(e->d_name, SPOOL_PREFIX, strlen(SPOOL_PREFIX)) != 0)
			continue;
		pid = strtol(e->d_name + strlen(SPOOL_PREFIX), &end, 10);
		if (*end != '.' || pid <= 0 || pid == (long)getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
		rm_tree(path);
	}
	closedir(d);
}

/* load_config - parse config_text[i] with the spool filled in. */
static void
load_config(int i)
{
	char	text[2048], *at;
	const char *src = config_text[i];
	FILE	*fp;
	size_t	n;

	at = strstr(src, "@SPOOL@");
	n = (size_t)snprintf(text, sizeof text, "%.*s%s%s", (int)(at - src), src,
	    spool, at + 7);
	if (n >= sizeof text)
		fail("config text too long");
	if ((fp = fmemopen(text, n, "r")) == NULL)
		fail("fmemopen: %s", strerror(errno));
	if (config_parse(fp, "fuzz_session.conf", &cfs[i], report) == -1)
		fail("config %d does not parse (see above)", i);
	fclose(fp);
	/* What main.c's finish_config() and start-up add. */
	if (maildir_root(cfs[i].maildir, cfs[i].spool_root,
	    sizeof cfs[i].spool_root) == -1)
		fail("spool root too long");
	if (mkdir(cfs[i].spool_root, 0700) == -1 && errno != EEXIST)
		fail("mkdir %s: %s", cfs[i].spool_root, strerror(errno));
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *parent = "/dev/shm";
	int	 fd;

	(void)argc;
	(void)argv;
	/* Our own stderr: libFuzzer's -close_fd_mask=2 (which run.sh uses
	 * to silence the session's log lines) closes fd 2 after this. */
	if ((fd = dup(STDERR_FILENO)) == -1 || (report = fdopen(fd, "w")) == NULL)
		report = stderr;
	if (access(parent, W_OK) != 0 && (parent = getenv("TMPDIR")) == NULL)
		parent = "/tmp";
	clean_stale(parent);
	snprintf(spool, sizeof spool, "%s/" SPOOL_PREFIX "%ld.XXXXXX", parent,
	    (long)getpid());
	if (mkdtemp(spool) == NULL)
		fail("mkdtemp %s: %s", spool, strerror(errno));
	atexit(remove_spool);
	if ((replies = malloc(REPLIES_MAX)) == NULL)
		fail("out of memory");
	trace = getenv("FUZZ_SESSION_TRACE") != NULL;
	load_config(0);
	load_config(1);
	maildir_set_host("mx.test");
	session_id_init();
	signal(SIGPIPE, SIG_IGN);
	/* The waits in settle() are short: sleep no longer than asked. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	return 0;
}

/* admit - the listener's per-client limit, decided by the input. */
static int
admit(void *arg, const struct sockaddr_storage *real)
{
	const struct run *r = arg;

	(void)real;
	return r->refuse ? -1 : 0;
}

/* session_thread - what listener.c's client_thread does for one client. */
static void *
session_thread(void *arg)
{
	struct run *r = arg;
	struct session_conn conn;
	struct sockaddr_in *sin = (struct sockaddr_in *)&conn.peer;

	memset(&conn, 0, sizeof conn);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(40025);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	conn.fd = r->sfd;
	conn.cf = r->cf;
	conn.stop = &r->stop;
	conn.proxy = r->proxy;
	conn.admit = admit;
	conn.admit_arg = r;
	atomic_store(&r->tid, (int)syscall(SYS_gettid));
	session_run(&conn);
	atomic_store(&r->done, 1);
	/* The client sees EOF; the descriptor stays until the join. */
	shutdown(r->sfd, SHUT_RDWR);
	return NULL;
}

/* start - run the session on its own thread, with the stack size the
 * listener gives it, and find the thread's state in /proc. */
static void
start(struct run *r)
{
	pthread_attr_t	attr;
	char		path[64];

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	if (pthread_create(&r->th, &attr, session_thread, r) != 0)
		fail("pthread_create failed");
	pthread_attr_destroy(&attr);
	r->started = 1;
	while (atomic_load(&r->tid) == 0 && !atomic_load(&r->done))
		sched_yield();
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", atomic_load(&r->tid));
	r->statfd = open(path, O_RDONLY | O_CLOEXEC);
}

/* drain - read the replies there are (waiting up to ms for some). */
static void
drain(struct run *r, int ms)
{
	struct pollfd pfd = { .fd = r->cfd, .events = POLLIN };
	char	buf[8192];
	ssize_t	n;

	while (!r->eof) {
		if (poll(&pfd, 1, ms) <= 0)
			return;
		n = recv(r->cfd, buf, sizeof buf, MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			r->eof = 1;
			return;
		}
		if (n == 0) {
			r->eof = 1;
			return;
		}
		if (r->replen + (size_t)n > REPLIES_MAX)
			fail("more than %d octets of replies", REPLIES_MAX);
		memcpy(r->rep + r->replen, buf, (size_t)n);
		r->replen += (size_t)n;
		ms = 0;
	}
}

/* asleep - the session thread sleeps (in read, we assume); 1 also when
 * /proc cannot tell. */
static int
asleep(struct run *r)
{
	char	buf[512], *p;
	ssize_t	n;

	if (r->statfd == -1)
		return 1;
	n = pread(r->statfd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return 1;
	return p[2] == 'S';
}

/* unread - octets written to the session and not yet read by it. */
static int
unread(const struct run *r)
{
	int	n = 0;

	if (ioctl(r->sfd, FIONREAD, &n) == -1)
		return 0;
	return n;
}

/*
 * settle - drain replies until the session has read everything and
 * sleeps (waiting for more), or has ended; bounded by SETTLE_MS and by
 * the input's budget. need_reply: also wait for its first reply (the
 * greeting must come before the client talks).
 */
static void
settle(struct run *r, int need_reply)
{
	struct timespec t0, nap = { 0, 20000 };
	int	i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; ; i++) {
		drain(r, 0);
		if (atomic_load(&r->done))
			return;
		if ((!need_reply || r->replen > 0) && unread(r) == 0 && asleep(r) &&
		    unread(r) == 0)
			return;
		if (ms_since(&t0) > SETTLE_MS || ms_since(&r->t0) > RUN_BUDGET_MS)
			return;
		if (i < 20)
			sched_yield();
		else
			nanosleep(&nap, NULL);
	}
}

/* put - write len octets to the session (it may have gone). */
static void
put(struct run *r, const uint8_t *p, size_t len)
{
	ssize_t	n;

	while (len > 0 && !atomic_load(&r->done)) {
		n = send(r->cfd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && r->started) {
				drain(r, 1);
				continue;
			}
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

/* reply_code - the code of the reply line at p, or -1. */
static int
reply_code(const char *p)
{
	if (p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '5' ||
	    p[2] < '0' || p[2] > '9')
		return -1;
	return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

/* enhanced - if text starts with an enhanced status code and a space,
 * its class digit; else 0. */
static int
enhanced(const char *t, size_t len)
{
	size_t	i = 2, d;

	if (len < 6 || t[0] < '2' || t[0] > '5' || t[1] != '.')
		return 0;
	for (d = 0; i < len && t[i] >= '0' && t[i] <= '9'; i++, d++)
		;
	if (d == 0 || d > 3 || i >= len || t[i++] != '.')
		return 0;
	for (d = 0; i < len && t[i] >= '0' && t[i] <= '9'; i++, d++)
		;
	if (d == 0 || d > 3 || i >= len || t[i] != ' ')
		return 0;
	return t[0];
}

/*
 * check_replies - the reply stream, line by line; collects the ids of
 * "queued as" replies into ids[*nids]. maxreplies: the most there can
 * be (one per line the client sent, the greeting, a 421 that closes).
 */
static void
check_replies(const struct run *r, int maxreplies, char (*ids)[32], int *nids,
    int maxids)
{
	const char *p = r->rep, *end = r->rep + r->replen;
	int	 cont = -1, first = 1, closed = 0, finals = 0;

	*nids = 0;
	if (r->replen == 0) {
		/* Only a refused PROXY header gets no greeting. */
		if (!r->proxy)
			fail("no greeting");
		return;
	}
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		const char *text;
		size_t	 n, tlen, i;
		int	 code, cls;

		if (lf == NULL)
			fail("reply without CRLF at the end: \"%.*s\"",
			    (int)(end - p > 80 ? 80 : end - p), p);
		n = (size_t)(lf - p) + 1;
		if (n > SMTP_REPLY_MAX)
			fail("reply line of %zu octets: \"%.80s\"", n, p);
		if (n < 6 || p[n - 2] != '\r')
			fail("malformed reply line \"%.*s\"", (int)n, p);
		if ((code = reply_code(p)) == -1 || (p[3] != ' ' && p[3] != '-'))
			fail("malformed reply line \"%.*s\"", (int)n, p);
		if (closed)
			fail("a reply after the 221/421 that closes: \"%.*s\"",
			    (int)n - 2, p);
		text = p + 4;
		tlen = n - 6;
		for (i = 0; i < tlen; i++) {
			unsigned char c = (unsigned char)text[i];
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				fail("control octet 0x%02x in reply \"%.*s\"", c,
				    (int)n - 2, p);
		}
		if (cont != -1 && code != cont)
			fail("multi-line reply changes its code: %d then \"%.*s\"",
			    cont, (int)n - 2, p);
		/* Behind a PROXY header the write that ends the header may
		 * carry the client's first bytes: an early talker too. */
		if (first && code != 220 && !(r->proxy && code == 421) &&
		    !((r->early || r->proxy) && code == 554))
			fail("first reply is not the greeting: \"%.*s\"",
			    (int)n - 2, p);
		first = 0;
		if ((cls = enhanced(text, tlen)) != 0 && cls != p[0])
			fail("enhanced status class differs from the code: \"%.*s\"",
			    (int)n - 2, p);
		if (p[3] == '-')
			cont = code;
		else {
			const char *q;

			/* One reply per line the client sent, besides the
			 * greeting and a 421 that closes. */
			if (++finals > maxreplies)
				fail("reply %d to %d lines: \"%.*s\"", finals,
				    maxreplies - 2, (int)n - 2, p);
			cont = -1;
			closed = code == 221 || code == 421;
			q = memmem(text, tlen, "queued as ", 10);
			if (q != NULL) {
				size_t	idlen = tlen - (size_t)(q + 10 - text);

				if (code != 250)
					fail("\"queued as\" in a %d reply", code);
				if (idlen == 0 || idlen >= sizeof ids[0])
					fail("bad queue id in \"%.*s\"", (int)n - 2, p);
				if (*nids >= maxids)
					fail("more than %d messages queued", maxids);
				memcpy(ids[*nids], q + 10, idlen);
				ids[*nids][idlen] = '\0';
				for (int k = 0; k < *nids; k++)
					if (strcmp(ids[k], ids[*nids]) == 0)
						fail("queue id %s given twice", ids[k]);
				(*nids)++;
			}
		}
		p += n;
	}
	if (cont != -1)
		fail("multi-line reply %d without its last line", cont);
}

/*
 * header_field - from the first header line that starts with line, what
 * follows key up to the last stop on that line (a space if stop is
 * NULL), into out; "" if there is none.
 */
static void
header_field(const char *hdr, const char *line, const char *key,
    const char *stop, char *out, size_t outsz)
{
	const char *l = strstr(hdr, line), *k, *e, *p, *end = NULL;
	size_t	n;

	out[0] = '\0';
	if (l == NULL || (e = strchr(l + 1, '\n')) == NULL)
		return;
	if ((k = strstr(l + 1, key)) == NULL || k > e)
		return;
	k += strlen(key);
	if (stop == NULL)
		end = k + strcspn(k, " \n");
	else
		for (p = k; (p = strstr(p, stop)) != NULL && p < e; p++)
			end = p;
	if (end == NULL || end > e)
		return;
	n = (size_t)(end - k);
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, k, n);
	out[n] = '\0';
}

/* scan_entry - nftw callback: note each file, then remove it and the
 * directories. */
static int
scan_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct found *f;

	if (ftw->level == 0)
		return 0;
	if (type == FTW_DP) {
		rmdir(path);
		return 0;
	}
	if (nfound == capfound) {
		int	 cap = capfound ? 2 * capfound : 64;
		struct found *n = realloc(found, (size_t)cap * sizeof *n);

		if (n == NULL)
			abort();
		found = n;
		capfound = cap;
	}
	f = &found[nfound++];
	memset(f, 0, sizeof *f);
	f->size = st->st_size;
	/* path is .../new/NAME for a delivered copy */
	f->in_new = type == FTW_F && ftw->base >= 5 &&
	    memcmp(path + ftw->base - 5, "/new/", 5) == 0;
	if (f->in_new) {
		char	 hdr[HDR_MAX + 1];
		ssize_t	 n = -1;
		int	 fd;

		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
			n = read(fd, hdr, HDR_MAX);
			close(fd);
		}
		hdr[n > 0 ? n : 0] = '\0';
		/* session.c's trace header: "Received: from ...\n\tby HOST
		 * (smtpd) with PROTO id ID\n\tfor <RCPT>; DATE\n" (RCPT
		 * may hold spaces, '<' and '>' in quotes) */
		header_field(hdr, "\n\tby ", " id ", NULL, f->id, sizeof f->id);
		header_field(hdr, "\n\tfor <", "<", ">; ", f->rcpt, sizeof f->rcpt);
	} else
		snprintf(f->rcpt, sizeof f->rcpt, "%s", path + strlen(spool));
	unlink(path);
	return 0;
}

/*
 * check_spool - the files the conversation left, against its "queued
 * as" replies; empties the spool (its roots stay).
 */
static void
check_spool(const struct config *cf, char (*ids)[32], int nids)
{
	int	i, j, k, copies, with_id = 0;

	nfound = 0;
	nftw(spool, scan_entry, 16, FTW_PHYS | FTW_DEPTH);
	/* The mailbox directories went too: drop their cached descriptors;
	 * the roots are made again, as main.c makes them at start. */
	maildir_forget();
	for (i = 0; i < 2; i++)
		mkdir(cfs[i].spool_root, 0700);

	if (trace) {
		fprintf(report, "--- %d message(s) queued, %d file(s) in the spool\n",
		    nids, nfound);
		for (i = 0; i < nfound; i++)
			fprintf(report, "    %s id %s for <%s>, %lld octets\n",
			    found[i].in_new ? "new/" : "elsewhere", found[i].id,
			    found[i].rcpt, (long long)found[i].size);
		fflush(report);
	}
	if (nids == 0 && nfound > 0)
		fail("%d file(s) stored without a \"queued as\" reply, e.g. %s",
		    nfound, found[0].in_new ? "in new/" : found[0].rcpt);
	for (i = 0; i < nfound; i++) {
		const struct found *f = &found[i];

		if (!f->in_new)
			fail("a file outside new/ after the session: %s", f->rcpt);
		if ((uint64_t)f->size > cf->max_message_size + HDR_MAX)
			fail("a stored copy of %lld octets (max_message_size %llu)",
			    (long long)f->size, (unsigned long long)cf->max_message_size);
		if (f->id[0] == '\0')
			continue;
		with_id++;
		for (k = 0; k < nids; k++)
			if (strcmp(ids[k], f->id) == 0)
				break;
		if (k == nids)
			fail("a copy of message %s, which got no \"queued as\"", f->id);
	}
	if (with_id < nfound) {
		/* Copies without an id we can read (has the header changed?):
		 * only count them. */
		FUZZ_ASSERT(with_id == 0);
		FUZZ_ASSERT(nfound >= nids);
		FUZZ_ASSERT(nfound <= nids * cf->max_recipients);
		return;
	}
	for (k = 0; k < nids; k++) {
		copies = 0;
		for (i = 0; i < nfound; i++) {
			if (strcmp(found[i].id, ids[k]) != 0)
				continue;
			copies++;
			for (j = 0; j < i; j++)
				if (strcmp(found[j].id, ids[k]) == 0 &&
				    strcasecmp(found[j].rcpt, found[i].rcpt) == 0)
					fail("message %s stored twice for <%s>", ids[k],
					    found[i].rcpt);
		}
		if (copies == 0)
			fail("message %s queued, but no copy stored", ids[k]);
		if (copies > cf->max_recipients)
			fail("message %s: %d copies, max_recipients %d", ids[k],
			    copies, cf->max_recipients);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		(*ids)[32];
	struct run	 r;
	const uint8_t	*sizes, *in;
	size_t		 nsizes, len, pos, k;
	int		 sv[2], nids, flags, lines;
	char		 block[sizeof r.cf->spool_root + 16];

	if (size < 1)
		return 0;
	flags = data[0];
	nsizes = (size_t)(flags & F_SIZES);
	if (size < 1 + nsizes)
		return 0;
	sizes = data + 1;
	in = data + 1 + nsizes;
	len = size - 1 - nsizes;

	memset(&r, 0, sizeof r);
	r.rep = replies;
	r.cf = &cfs[(flags & F_CONFIG2) ? 1 : 0];
	r.proxy = (flags & F_PROXY) != 0;
	r.refuse = r.proxy && (flags & F_REFUSE);
	r.early = !r.proxy && (flags & F_REFUSE);
	atomic_init(&r.stop, LB_BUSY);
	atomic_init(&r.done, 0);
	atomic_init(&r.tid, 0);
	r.statfd = -1;
	clock_gettime(CLOCK_MONOTONIC, &r.t0);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		fail("socketpair: %s", strerror(errno));
	r.cfd = sv[0];
	r.sfd = sv[1];

	block[0] = '\0';
	if (flags & F_BLOCK) {
		int fd;

		snprintf(block, sizeof block, "%s/example.org", r.cf->spool_root);
		if ((fd = open(block, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == -1)
			fail("%s: %s", block, strerror(errno));
		close(fd);
	}
	if (!r.early)
		start(&r);

	/* The conversation, in the input's writes. */
	for (pos = 0, k = 0; pos < len && !atomic_load(&r.done); ) {
		size_t	n = nsizes ? sizes[k++ % nsizes] : len - pos;

		if (n == 0) {
			const uint8_t *lf = memchr(in + pos, '\n', len - pos);
			n = lf ? (size_t)(lf - (in + pos)) + 1 : len - pos;
		}
		if (n > len - pos || k > WRITES_MAX)
			n = len - pos;
		if (!r.started) {
			/* an early talker: before the session, so before
			 * its greeting */
			put(&r, in + pos, n);
			pos += n;
			start(&r);
			continue;
		}
		settle(&r, pos == 0 && !r.proxy);
		put(&r, in + pos, n);
		pos += n;
	}
	if (!r.started)
		start(&r);
	settle(&r, len == 0 && !r.proxy);
	if (flags & F_STOP) {
		/* listener_stop(): the stop word, and a session waiting for
		 * a command is woken by shutting its socket's reading side. */
		if (linebuf_stop(&r.stop))
			shutdown(r.sfd, SHUT_RD);
	}
	shutdown(r.cfd, SHUT_WR);
	{
		struct timespec t0;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (!r.eof && ms_since(&t0) < END_MS)
			drain(&r, 100);
		if (!r.eof)
			fail("the session did not end within %d ms of the client's EOF",
			    END_MS);
	}
	pthread_join(r.th, NULL);
	if (r.statfd != -1)
		close(r.statfd);
	close(r.cfd);
	close(r.sfd);
	if (block[0] != '\0')
		unlink(block);

	if (trace) {
		fprintf(report, "--- replies (%zu octets), %zu octets sent\n%.*s---\n",
		    r.replen, len, (int)r.replen, r.rep);
		fflush(report);
	}
	/* A message takes more than 8 octets (MAIL, RCPT, DATA or BDAT). */
	if ((ids = calloc(len / 8 + 1, sizeof *ids)) == NULL)
		abort();
	for (pos = 0, lines = 0; pos < len; pos++)
		lines += in[pos] == '\n';
	check_replies(&r, lines + 2, ids, &nids, (int)(len / 8 + 1));
	check_spool(r.cf, ids, nids);
	free(ids);
	return 0;
}
