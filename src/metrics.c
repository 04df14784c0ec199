/*
 * metrics.c - the Prometheus metrics endpoint: "metrics ADDR:PORT".
 * Owns: the metrics listener and its thread, the HTTP/1.x request
 * parser (RFC 9112; pure: metrics_parse_request, metrics_head_end), the
 * exposition writer (Prometheus text format 0.0.4) with the table of
 * every metric, the latency histogram type, and the reload counters.
 * Not here: the counters themselves, which their modules own and write
 * (session_stats in session.c, reply_stats in reply.c, dnsq_stats in
 * dnsquery.c, listener_counts() in listener.c); this file only reads.
 *
 * One thread answers one scrape at a time: it reads a request head of
 * at most METRICS_HEAD_MAX octets within METRICS_TIMEOUT_MS, answers
 * with "Connection: close" within as long again, and closes. A client
 * that sends nothing, too much or too slowly is dropped then; nothing
 * it does reaches the SMTP listener or a session. The address is bound
 * once at start (as root, like the SMTP sockets): a reload that changes
 * it is logged as taking effect at restart (main.c).
 *
 * For the tests: SMTPD_METRICS_TIMEOUT_MS in the environment (50..60000) replaces
 * METRICS_TIMEOUT_MS: the tests' way to see a silent client dropped
 * without waiting 5 seconds. Not documented for administrators.
 *
 * Adding a counter: one line in rows[] below, naming an atomic_ulong
 * its module exports (a family's rows stay together, one per label set).
 * Threads: the metrics thread reads the atomics (relaxed) while session
 * threads write them; the main thread binds, starts and stops it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dnsquery.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "milter.h"
#include "policy.h"
#include "reply.h"
#include "session.h"
#include "smtpd.h"

#define METRICS_LINGER_MS	1000	/* reading what follows an answer */
#define METRICS_DISCARD_MAX	(64 * 1024)	/* octets read then, at most */
#define CONTENT_TYPE_METRICS	"text/plain; version=0.0.4; charset=utf-8"

/* The histogram's upper bounds: microseconds, and as the le label. */
static const struct {
	unsigned long	 us;
	const char	*le;
} bounds[METRICS_NBOUNDS] = {
	{ 1000, "0.001" }, { 2500, "0.0025" }, { 5000, "0.005" },
	{ 10000, "0.01" }, { 25000, "0.025" }, { 50000, "0.05" },
	{ 100000, "0.1" }, { 250000, "0.25" }, { 500000, "0.5" },
	{ 1000000, "1" }, { 2500000, "2.5" }, { 5000000, "5" },
	{ 10000000, "10" },
};

enum metric_type { M_COUNTER, M_GAUGE };

/*
 * One sample of the exposition read from a counter its module exports.
 * Rows of one family (same name) are adjacent; the first gives HELP
 * and TYPE. labels: 'name="value",...' or NULL.
 */
struct metric_row {
	const char		*name;
	const char		*help;
	enum metric_type	 type;
	const char		*labels;
	const atomic_ulong	*value;
};

static const struct metric_row rows[] = {
	{ "smtpd_sessions_total", "SMTP connections that got a session.",
	    M_COUNTER, NULL, &session_stats.sessions },
	{ "smtpd_messages_accepted_total",
	    "Messages accepted (250 after their data), stored durably.",
	    M_COUNTER, NULL, &session_stats.accepted },
	{ "smtpd_messages_rejected_total",
	    "Messages refused or deferred after their data.",
	    M_COUNTER, NULL, &session_stats.rejected },
	{ "smtpd_recipients_accepted_total",
	    "Recipients accepted into a transaction (RCPT answered 250).",
	    M_COUNTER, NULL, &session_stats.recipients },
	{ "smtpd_accepted_bytes_total",
	    "Octets of accepted messages as received, each message counted once.",
	    M_COUNTER, NULL, &session_stats.bytes },
	{ "smtpd_dnsbl_blocked_clients_total",
	    "Clients refused for their DNS list score (once per session).",
	    M_COUNTER, NULL, &session_stats.refused_dnsbl },
	{ "smtpd_dnsbl_lookups_total", "DNS list look-ups by outcome.",
	    M_COUNTER, "result=\"listed\"", &dnsq_stats.listed },
	{ "smtpd_dnsbl_lookups_total", NULL,
	    M_COUNTER, "result=\"not_listed\"", &dnsq_stats.not_listed },
	{ "smtpd_dnsbl_lookups_total", NULL,
	    M_COUNTER, "result=\"refused\"", &dnsq_stats.refused },
	{ "smtpd_dnsbl_lookups_total", NULL,
	    M_COUNTER, "result=\"error\"", &dnsq_stats.error },
	{ "smtpd_dnsbl_lookups_total", NULL,
	    M_COUNTER, "result=\"timeout\"", &dnsq_stats.timeout },
	/* Milters (milter.c): each filter's decision. */
	{ "smtpd_milter_decisions_total", "Milter decisions (a replycode counts as reject or tempfail too).",
	    M_COUNTER, "decision=\"accept\"", &milter_stats.accept },
	{ "smtpd_milter_decisions_total", NULL,
	    M_COUNTER, "decision=\"continue\"", &milter_stats.cont },
	{ "smtpd_milter_decisions_total", NULL,
	    M_COUNTER, "decision=\"reject\"", &milter_stats.reject },
	{ "smtpd_milter_decisions_total", NULL,
	    M_COUNTER, "decision=\"tempfail\"", &milter_stats.tempfail },
	{ "smtpd_milter_decisions_total", NULL,
	    M_COUNTER, "decision=\"discard\"", &milter_stats.discard },
	{ "smtpd_milter_decisions_total", NULL,
	    M_COUNTER, "decision=\"replycode\"", &milter_stats.replycode },
	{ "smtpd_milter_decisions_total", NULL,
	    M_COUNTER, "decision=\"quarantine\"", &milter_stats.quarantine },
	{ "smtpd_milter_decisions_total", NULL,
	    M_COUNTER, "decision=\"failure\"", &milter_stats.failure },
	/* Policy servers (policy.c): each server's answer, by action. */
	{ "smtpd_policy_answers_total", "Policy server answers by action (failure: none, or nonsense).",
	    M_COUNTER, "action=\"ok\"", &policy_stats.ok },
	{ "smtpd_policy_answers_total", NULL,
	    M_COUNTER, "action=\"dunno\"", &policy_stats.dunno },
	{ "smtpd_policy_answers_total", NULL,
	    M_COUNTER, "action=\"reject\"", &policy_stats.reject },
	{ "smtpd_policy_answers_total", NULL,
	    M_COUNTER, "action=\"defer\"", &policy_stats.defer },
	{ "smtpd_policy_answers_total", NULL,
	    M_COUNTER, "action=\"prepend\"", &policy_stats.prepend },
	{ "smtpd_policy_answers_total", NULL,
	    M_COUNTER, "action=\"discard\"", &policy_stats.discard },
	{ "smtpd_policy_answers_total", NULL,
	    M_COUNTER, "action=\"failure\"", &policy_stats.failure },
	{ "smtpd_policy_requests_total", "Requests sent to policy servers.",
	    M_COUNTER, NULL, &policy_stats.requests },
	{ "smtpd_policy_connects_total",
	    "Connections opened to policy servers (the others are reused).",
	    M_COUNTER, NULL, &policy_stats.connects },
};

/* The server: set by the main thread before the thread starts. */
static struct {
	int		 fd;		/* listening socket, -1: none */
	int		 wake[2];	/* readable once stopping */
	int		 timeout_ms;
	char		 name[80];
	pthread_t	 thread;
	int		 running;
} ms = { .fd = -1, .wake = { -1, -1 }, .timeout_ms = METRICS_TIMEOUT_MS };

/* Start time, and the reloads (written by the main thread). */
static time_t		started_wall;
static struct timespec	started_mono;
static atomic_ulong	reloads_ok, reloads_failed;
static atomic_int	last_reload_failed;
static atomic_llong	last_reload_ok_time;

static long long	now_ms(void);
static int		is_tchar(unsigned char);
static int		http_line(const char *, size_t, size_t *, const char **,
			    size_t *);
static int		target_path(const char *, size_t, const char **, size_t *);
static void		out_printf(struct metrics_out *, const char *, ...)
			    __attribute__((format(printf, 2, 3)));
static void		family(struct metrics_out *, const char *, const char *,
			    const char *);
static void		write_rows(struct metrics_out *);
static void		write_process(struct metrics_out *);
static void		write_listener(struct metrics_out *);
static void		write_refusals(struct metrics_out *);
static void		write_histogram(struct metrics_out *, const char *,
			    const char *, const struct metrics_histogram *);
static void		write_dnsbl_cache(struct metrics_out *);
static void		write_reloads(struct metrics_out *);
static int		wait_fd(int, short, long long);
static int		send_all(int, const char *, size_t, long long);
static const char	*status_text(int);
static void		respond(int, int, int, struct metrics_out *, long long);
static void		serve(int, struct metrics_out *);
static void		*metrics_loop(void *);

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the histogram ---------------------------------------------------- */

void
metrics_observe_us(struct metrics_histogram *h, unsigned long us)
{
	int	i;

	for (i = 0; i < METRICS_NBOUNDS && us > bounds[i].us; i++)
		;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

void
metrics_observe_since(struct metrics_histogram *h, const struct timespec *t0)
{
	struct timespec	t1;
	long long	us;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = (long long)(t1.tv_sec - t0->tv_sec) * 1000000 +
	    (t1.tv_nsec - t0->tv_nsec) / 1000;
	metrics_observe_us(h, us > 0 ? (unsigned long)us : 0);
}

/* ---- the request (RFC 9112) -------------------------------------------- */

/* is_tchar - a character of a token (RFC 9110 5.6.2). */
static int
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

size_t
metrics_head_end(const char *buf, size_t len)
{
	size_t	i, start = 0;

	for (i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		/* An empty line, CRLF or bare LF (RFC 9112 2.2). */
		if (i == start || (i == start + 1 && buf[start] == '\r'))
			return i + 1;
		start = i + 1;
	}
	return 0;
}

/*
 * http_line - the line at *pos of head[0..len), without its LF and a
 * CR before it: 1 and *pos past it; 0 when no LF is left; -1 for a
 * control character in it (a CR anywhere else, NUL, DEL; HT is fine).
 */
static int
http_line(const char *head, size_t len, size_t *pos, const char **line,
    size_t *llen)
{
	const char	*p = head + *pos, *lf;
	size_t		 n, i;

	if (*pos >= len || (lf = memchr(p, '\n', len - *pos)) == NULL)
		return 0;
	n = (size_t)(lf - p);
	*pos += n + 1;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return -1;
	}
	*line = p;
	*llen = n;
	return 1;
}

/*
 * target_path - the path of a request target (RFC 9112 3.2): origin
 * form "/path?query", or absolute form "http://host/path?query"; the
 * query is dropped. 0, or -1 for any other form or a fragment.
 */
static int
target_path(const char *t, size_t len, const char **path, size_t *plen)
{
	const char	*slash, *q;

	if (memchr(t, '#', len) != NULL)
		return -1;
	if (len >= 7 && (strncasecmp(t, "http://", 7) == 0 ||
	    (len >= 8 && strncasecmp(t, "https://", 8) == 0))) {
		size_t skip = t[4] == ':' ? 7 : 8;
		if ((slash = memchr(t + skip, '/', len - skip)) == NULL) {
			*path = "/";	/* "http://host" asks for "/" */
			*plen = 1;
			return 0;
		}
		len -= (size_t)(slash - t);
		t = slash;
	}
	if (len == 0 || t[0] != '/')
		return -1;
	if ((q = memchr(t, '?', len)) != NULL)
		len = (size_t)(q - t);
	*path = t;
	*plen = len;
	return 0;
}

int
metrics_parse_request(const char *head, size_t len, int *head_only)
{
	const char	*line, *method, *target, *ver, *path;
	size_t		 llen, pos = 0, mlen, tlen, plen, i;
	int		 rc, minor, hosts = 0;

	*head_only = 0;
	/* request-line = method SP request-target SP HTTP-version */
	if (http_line(head, len, &pos, &line, &llen) != 1)
		return 400;
	method = line;
	for (mlen = 0; mlen < llen && is_tchar((unsigned char)line[mlen]); mlen++)
		;
	if (mlen == 0 || mlen >= llen || line[mlen] != ' ')
		return 400;
	target = line + mlen + 1;
	for (tlen = 0; mlen + 1 + tlen < llen &&
	    (unsigned char)target[tlen] > 0x20 && (unsigned char)target[tlen] < 0x7f; tlen++)
		;
	if (tlen == 0 || mlen + 1 + tlen >= llen || target[tlen] != ' ')
		return 400;
	ver = target + tlen + 1;
	if ((size_t)(line + llen - ver) != 8 || memcmp(ver, "HTTP/", 5) != 0 ||
	    ver[5] < '0' || ver[5] > '9' || ver[6] != '.' || ver[7] < '0' || ver[7] > '9')
		return 400;
	if (ver[5] != '1')
		return 505;
	minor = ver[7] - '0';
	/* field-line = field-name ":" OWS field-value OWS; no obs-fold. */
	for (;;) {
		if ((rc = http_line(head, len, &pos, &line, &llen)) != 1)
			return 400;	/* a control character, or no end */
		if (llen == 0)
			break;
		for (i = 0; i < llen && is_tchar((unsigned char)line[i]); i++)
			;
		if (i == 0 || i >= llen || line[i] != ':')
			return 400;	/* also a space before the colon */
		if (i == 4 && strncasecmp(line, "host", 4) == 0)
			hosts++;
	}
	/* RFC 9112 3.2: HTTP/1.1 needs exactly one Host, 1.0 at most one. */
	if (hosts > 1 || (minor >= 1 && hosts == 0))
		return 400;
	if (mlen == 4 && memcmp(method, "HEAD", 4) == 0)
		*head_only = 1;
	else if (mlen != 3 || memcmp(method, "GET", 3) != 0)
		return 405;
	if (target_path(target, tlen, &path, &plen) == -1)
		return 400;
	if (plen != 8 || memcmp(path, "/metrics", 8) != 0)
		return 404;
	return 200;
}

/* ---- the exposition ---------------------------------------------------- */

static void
out_printf(struct metrics_out *o, const char *fmt, ...)
{
	va_list	 ap;
	char	*nb;
	size_t	 ncap;
	int	 n;

	if (o->failed)
		return;
	for (;;) {
		if (o->cap > o->len) {
			va_start(ap, fmt);
			n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
			va_end(ap);
			if (n < 0) {
				o->failed = 1;
				return;
			}
			if ((size_t)n < o->cap - o->len) {
				o->len += (size_t)n;
				return;
			}
		}
		ncap = o->cap ? o->cap * 2 : 16384;
		if (ncap > METRICS_BODY_MAX)
			ncap = METRICS_BODY_MAX;
		if (ncap <= o->cap || (nb = realloc(o->buf, ncap)) == NULL) {
			o->failed = 1;
			if (o->cap > o->len)
				o->buf[o->len] = '\0';
			return;
		}
		o->buf = nb;
		o->cap = ncap;
	}
}

/* family - the HELP and TYPE lines of one metric family. */
static void
family(struct metrics_out *o, const char *name, const char *help,
    const char *type)
{
	out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
write_rows(struct metrics_out *o)
{
	const struct metric_row *r, *first = NULL;
	size_t	i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		r = &rows[i];
		if (first == NULL || strcmp(first->name, r->name) != 0) {
			first = r;
			family(o, r->name, r->help,
			    r->type == M_COUNTER ? "counter" : "gauge");
		}
		out_printf(o, "%s%s%s%s %lu\n", r->name, r->labels ? "{" : "",
		    r->labels ? r->labels : "", r->labels ? "}" : "",
		    atomic_load_explicit(r->value, memory_order_relaxed));
	}
}

/* write_process - build, start time, uptime. */
static void
write_process(struct metrics_out *o)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	family(o, "smtpd_build_info", "The smtpd version; always 1.", "gauge");
	out_printf(o, "smtpd_build_info{version=\"%s\"} 1\n", SMTPD_VERSION);
	family(o, "smtpd_start_time_seconds",
	    "When smtpd started, in seconds since the Unix epoch.", "gauge");
	out_printf(o, "smtpd_start_time_seconds %lld\n", (long long)started_wall);
	family(o, "smtpd_uptime_seconds", "Seconds since smtpd started.", "gauge");
	out_printf(o, "smtpd_uptime_seconds %.3f\n",
	    (double)(now.tv_sec - started_mono.tv_sec) +
	    (double)(now.tv_nsec - started_mono.tv_nsec) / 1e9);
}

/* write_listener - sessions and client threads (listener.c). */
static void
write_listener(struct metrics_out *o)
{
	struct listener_counts c;

	listener_counts(&c);
	family(o, "smtpd_sessions_active", "SMTP sessions running now.", "gauge");
	out_printf(o, "smtpd_sessions_active %d\n", c.active);
	family(o, "smtpd_client_threads",
	    "Client threads alive now: running a session, or idle waiting for one.",
	    "gauge");
	out_printf(o, "smtpd_client_threads{state=\"session\"} %d\n", c.active);
	out_printf(o, "smtpd_client_threads{state=\"idle\"} %d\n", c.parked);
	family(o, "smtpd_client_threads_peak",
	    "The most client threads alive at once since start.", "gauge");
	out_printf(o, "smtpd_client_threads_peak %d\n", c.peak_threads);
}

/* write_refusals - every 4xx and 5xx reply by reason and class. */
static void
write_refusals(struct metrics_out *o)
{
	int	r, k;

	family(o, "smtpd_refusals_total", "4xx and 5xx replies sent, by reason "
	    "(screening, filter, or the subject of the enhanced status code) "
	    "and class.", "counter");
	for (r = REPLY_REASON_NONE + 1; r < REPLY_REASON_COUNT; r++)
		for (k = 0; k < 2; k++)
			out_printf(o, "smtpd_refusals_total{reason=\"%s\",class=\"%s\"} %lu\n",
			    reply_reason_names[r], k ? "5xx" : "4xx",
			    atomic_load_explicit(&reply_stats.refused[r][k],
			    memory_order_relaxed));
}

/* write_histogram - cumulative buckets; the count is their sum, so a
 * scrape is consistent with itself. */
static void
write_histogram(struct metrics_out *o, const char *name, const char *help,
    const struct metrics_histogram *h)
{
	unsigned long	cum = 0;
	int		i;

	family(o, name, help, "histogram");
	for (i = 0; i < METRICS_NBOUNDS; i++) {
		cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		out_printf(o, "%s_bucket{le=\"%s\"} %lu\n", name, bounds[i].le, cum);
	}
	cum += atomic_load_explicit(&h->bucket[METRICS_NBOUNDS], memory_order_relaxed);
	out_printf(o, "%s_bucket{le=\"+Inf\"} %lu\n", name, cum);
	out_printf(o, "%s_sum %.6f\n", name,
	    (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6);
	out_printf(o, "%s_count %lu\n", name, cum);
}

/* write_dnsbl_cache - dnsquery.c's answer cache. */
static void
write_dnsbl_cache(struct metrics_out *o)
{
	unsigned long	hits, misses;

	dnsq_cache_counts(&hits, &misses);
	family(o, "smtpd_dnsbl_cache_lookups_total",
	    "DNS list answers looked up in the shared cache, by result.", "counter");
	out_printf(o, "smtpd_dnsbl_cache_lookups_total{result=\"hit\"} %lu\n", hits);
	out_printf(o, "smtpd_dnsbl_cache_lookups_total{result=\"miss\"} %lu\n", misses);
}

/* write_reloads - SIGHUP reloads (metrics_reloaded). */
static void
write_reloads(struct metrics_out *o)
{
	family(o, "smtpd_config_reloads_total",
	    "Configuration reloads (SIGHUP), by result.", "counter");
	out_printf(o, "smtpd_config_reloads_total{result=\"success\"} %lu\n",
	    atomic_load_explicit(&reloads_ok, memory_order_relaxed));
	out_printf(o, "smtpd_config_reloads_total{result=\"failure\"} %lu\n",
	    atomic_load_explicit(&reloads_failed, memory_order_relaxed));
	family(o, "smtpd_config_last_reload_successful",
	    "1 if the last reload put its configuration in force (or none was "
	    "tried), else 0.", "gauge");
	out_printf(o, "smtpd_config_last_reload_successful %d\n",
	    !atomic_load_explicit(&last_reload_failed, memory_order_relaxed));
	family(o, "smtpd_config_last_reload_success_timestamp_seconds",
	    "When the configuration in force was loaded, in seconds since the "
	    "Unix epoch.", "gauge");
	out_printf(o, "smtpd_config_last_reload_success_timestamp_seconds %lld\n",
	    atomic_load_explicit(&last_reload_ok_time, memory_order_relaxed));
}

void
metrics_write(struct metrics_out *o)
{
	o->len = 0;
	o->failed = 0;
	if (started_wall == 0) {	/* not started by metrics_bind: tests */
		started_wall = time(NULL);
		clock_gettime(CLOCK_MONOTONIC, &started_mono);
		atomic_store(&last_reload_ok_time, (long long)started_wall);
	}
	write_process(o);
	write_listener(o);
	write_rows(o);
	write_refusals(o);
	write_histogram(o, "smtpd_delivery_duration_seconds",
	    "Time from the end of an accepted message's data to its 250 reply: "
	    "the checks at end of data and the durable commit.",
	    &session_stats.commit_time);
	write_dnsbl_cache(o);
	write_reloads(o);
}

void
metrics_out_free(struct metrics_out *o)
{
	free(o->buf);
	o->buf = NULL;
	o->len = o->cap = 0;
}

void
metrics_reloaded(int ok)
{
	if (ok) {
		atomic_fetch_add(&reloads_ok, 1);
		atomic_store(&last_reload_ok_time, (long long)time(NULL));
	} else
		atomic_fetch_add(&reloads_failed, 1);
	atomic_store(&last_reload_failed, !ok);
}

/* ---- the server -------------------------------------------------------- */

/*
 * wait_fd - wait until fd is ready for events, or the deadline
 * (now_ms) passes, or we are stopping: 1 ready, 0 time is up or
 * stopping, -1 error.
 */
static int
wait_fd(int fd, short events, long long deadline)
{
	struct pollfd	pfd[2] = {
		{ .fd = fd, .events = events },
		{ .fd = ms.wake[0], .events = POLLIN },
	};
	long long	left;
	int		n;

	for (;;) {
		if ((left = deadline - now_ms()) <= 0)
			return 0;
		n = poll(pfd, pfd[1].fd == -1 ? 1 : 2, (int)left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n > 0 && pfd[1].fd != -1 && pfd[1].revents != 0)
			return 0;
		if (n > 0)
			return 1;
	}
}

/* send_all - all of buf by the deadline; 0 or -1. */
static int
send_all(int fd, const char *buf, size_t len, long long deadline)
{
	ssize_t	n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    wait_fd(fd, POLLOUT, deadline) == 1)
			continue;
		return -1;
	}
	return 0;
}

static const char *
status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 505: return "HTTP Version Not Supported";
	default: return "Internal Server Error";
	}
}

/* respond - the answer to status (the metrics for 200), then close
 * our side and read what the client still sends for a while, so that
 * closing does not reset the connection under the answer. */
static void
respond(int fd, int status, int head_only, struct metrics_out *o,
    long long deadline)
{
	char		 hdr[512], sink[4096];
	const char	*body, *type = CONTENT_TYPE_METRICS;
	size_t		 blen, got = 0;
	long long	 linger;
	ssize_t		 n;
	int		 hlen;

	if (status == 200) {
		metrics_write(o);
		if (o->failed) {
			log_warnx("metrics: the exposition does not fit in %d octets",
			    METRICS_BODY_MAX);
			status = 500;
		}
	}
	if (status == 200) {
		body = o->buf;
		blen = o->len;
	} else {
		body = status_text(status);
		blen = strlen(body);
		type = "text/plain; charset=utf-8";
	}
	hlen = snprintf(hdr, sizeof hdr, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n", status,
	    status_text(status), type, blen + (status != 200),
	    status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (hlen < 0 || (size_t)hlen >= sizeof hdr)
		return;
	if (send_all(fd, hdr, (size_t)hlen, deadline) == -1)
		return;
	if (!head_only) {
		if (send_all(fd, body, blen, deadline) == -1)
			return;
		if (status != 200 && send_all(fd, "\n", 1, deadline) == -1)
			return;
	}
	shutdown(fd, SHUT_WR);
	linger = now_ms() + METRICS_LINGER_MS;
	if (linger > deadline)
		linger = deadline;
	while (got < METRICS_DISCARD_MAX && wait_fd(fd, POLLIN, linger) == 1) {
		if ((n = recv(fd, sink, sizeof sink, 0)) <= 0 &&
		    !(n == -1 && errno == EINTR))
			break;
		if (n > 0)
			got += (size_t)n;
	}
}

/* serve - one scrape on fd (non-blocking), each phase bounded. */
static void
serve(int fd, struct metrics_out *o)
{
	char		 head[METRICS_HEAD_MAX];
	size_t		 len = 0, end;
	long long	 deadline = now_ms() + ms.timeout_ms;
	ssize_t		 n;
	int		 status, head_only = 0;

	for (;;) {
		if (wait_fd(fd, POLLIN, deadline) != 1)
			return;		/* silent or slow: dropped */
		n = recv(fd, head + len, sizeof head - len, 0);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return;		/* gone before a whole request */
		len += (size_t)n;
		if ((end = metrics_head_end(head, len)) > 0) {
			status = metrics_parse_request(head, end, &head_only);
			break;
		}
		if (len == sizeof head) {
			status = 431;
			break;
		}
	}
	respond(fd, status, head_only, o, now_ms() + ms.timeout_ms);
}

static void *
metrics_loop(void *arg)
{
	struct pollfd		pfd[2];
	struct metrics_out	o = { NULL, 0, 0, 0 };
	int			fd;

	(void)arg;
	pfd[0].fd = ms.fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = ms.wake[0];
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("metrics: poll");
			break;
		}
		if (pfd[1].revents != 0)
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		fd = accept4(ms.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				struct timespec ts = { 0, 100 * 1000 * 1000 };
				log_warn("metrics: accept");
				nanosleep(&ts, NULL);
			}
			continue;
		}
		serve(fd, &o);
		close(fd);
		/* Keep a typical exposition's buffer; give back a big one. */
		if (o.cap > 256 * 1024)
			metrics_out_free(&o);
	}
	metrics_out_free(&o);
	return NULL;
}

int
metrics_bind(const struct config *cf, char *err, size_t errsz)
{
	const struct config_listen *m = &cf->metrics;
	const char	*env;
	char		 why[256];
	int		 v6;

	started_wall = time(NULL);
	clock_gettime(CLOCK_MONOTONIC, &started_mono);
	atomic_store(&last_reload_ok_time, (long long)started_wall);
	if (m->port == 0)
		return 0;
	if ((env = getenv("SMTPD_METRICS_TIMEOUT_MS")) != NULL) {
		long v = strtol(env, NULL, 10);
		if (v >= 50 && v <= 60000)
			ms.timeout_ms = (int)v;
	}
	v6 = strchr(m->host, ':') != NULL;
	if ((ms.fd = listener_open(m, why, sizeof why)) == -1) {
		snprintf(err, errsz, "metrics: %s", why);
		return -1;
	}
	snprintf(ms.name, sizeof ms.name, "%s%s%s:%u", v6 ? "[" : "", m->host,
	    v6 ? "]" : "", m->port);
	return 0;
}

void
metrics_describe(char *buf, size_t size)
{
	snprintf(buf, size, "%s", ms.fd == -1 ? "" : ms.name);
}

void
metrics_start(void)
{
	int	err;

	if (ms.fd == -1)
		return;
	if (pipe2(ms.wake, O_CLOEXEC) == -1)
		fatal("metrics: pipe");
	if ((err = pthread_create(&ms.thread, NULL, metrics_loop, NULL)) != 0) {
		errno = err;
		fatal("metrics: pthread_create");
	}
	ms.running = 1;
}

void
metrics_stop(void)
{
	if (!ms.running)
		return;
	(void)!write(ms.wake[1], "x", 1);
	pthread_join(ms.thread, NULL);
	ms.running = 0;
	close(ms.fd);
	close(ms.wake[0]);
	close(ms.wake[1]);
	ms.fd = ms.wake[0] = ms.wake[1] = -1;
}
