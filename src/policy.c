/*
 * policy.c - the client side of Postfix's policy delegation protocol.
 * Owns: the request's attributes (SMTPD_POLICY_README), parsing a reply
 * (pure), combining the answers of several servers into one verdict,
 * the pool of idle connections per server, the log line of every answer
 * and the outcome counters (policy_stats).
 * Not here: sockets and deadlines (filterconn.c), the directives
 * (config.c), when to ask and what to reply (session.c), writing the
 * PREPENDed fields (delivery.c).
 * Threads: any session thread; the pools are shared, each behind its own
 * mutex, the registry of pools behind another; the counters are atomic.
 *
 * How the answers combine, as Postfix's smtpd_*_restrictions do when
 * several check_policy_service lines follow each other:
 *   DUNNO, WARN, INFO, PREPEND	ask the next server
 *   OK, DISCARD		accept; ask no further server
 *   REJECT, 5NN		refuse (a pending DEFER_IF_REJECT turns it
 *				into that 450)
 *   DEFER, 4NN		defer
 *   DEFER_IF_PERMIT		ask on; if the end is an accept (OK, DISCARD,
 *				or no opinion) it becomes this 450
 *   DEFER_IF_REJECT		ask on; remembered for a later reject
 *   no answer, nonsense,	policy_failure: defer ends the asking with
 *   HOLD/FILTER/REDIRECT/...	451 4.3.5, dunno goes on to the next server
 * The PREPENDs of a request are kept only when the verdict accepts.
 *
 * XXX the pools live as long as the process: a server removed from the
 * config by a reload keeps its idle connections (at most
 * POLICY_POOL_IDLE) until the server closes them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "filterconn.h"
#include "linebuf.h"
#include "log.h"
#include "policy.h"

struct policy_stats policy_stats;
static atomic_ulong instance_counter;

/* ---- the reply: pure ------------------------------------------------ */

size_t
policy_reply_end(const char *buf, size_t len)
{
	size_t	i;

	/* An empty line: at the start, or a LF after a LF (a CR between
	 * them tolerated). */
	for (i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i == 0 || buf[i - 1] == '\n' ||
		    (i == 1 && buf[0] == '\r') ||
		    (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n'))
			return i + 1;
	}
	return 0;
}

/* printable - p[0..n) into dst[size] (cut), each byte that is no
 * printable ASCII replaced by '?'. */
static void
printable(char *dst, size_t size, const char *p, size_t n)
{
	size_t	i;

	if (n > size - 1)
		n = size - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[n] = '\0';
}

/* is_esc - the length of an enhanced status code "C.S.D" (RFC 3463: 
 * class 2, 4 or 5, subject and detail 1-3 digits) at p, followed by a
 * space or the end, or 0. */
static size_t
is_esc(const char *p)
{
	size_t	i = 2, n;

	if ((p[0] != '2' && p[0] != '4' && p[0] != '5') || p[1] != '.')
		return 0;
	for (n = 0; p[i] >= '0' && p[i] <= '9'; i++)
		n++;
	if (n < 1 || n > 3 || p[i++] != '.')
		return 0;
	for (n = 0; p[i] >= '0' && p[i] <= '9'; i++)
		n++;
	if (n < 1 || n > 3 || (p[i] != '\0' && p[i] != ' ' && p[i] != '\t'))
		return 0;
	return i;
}

/* set_refusal - code, the enhanced code that text may start with (its
 * class made the code's, as Postfix does) or deflt, and the rest as
 * text (or dtext). */
static void
set_refusal(struct policy_result *r, int code, const char *deflt,
    const char *text, const char *dtext)
{
	size_t	n;

	r->code = code;
	if ((n = is_esc(text)) > 0 && n < sizeof r->esc) {
		memcpy(r->esc, text, n);
		r->esc[n] = '\0';
		r->esc[0] = (char)('0' + code / 100);
		text += n;
		text += strspn(text, " \t");
	} else
		buf_copy(r->esc, sizeof r->esc, deflt);
	if (*text == '\0')
		text = dtext;
	printable(r->text, POLICY_TEXT_MAX + 1, text, strlen(text));
}

/* valid_header - "Name: value": a field name of printable ASCII but ':'
 * (RFC 5322 3.6.8), then the value without control bytes but tab. */
static int
valid_header(const char *h)
{
	const char *p;

	for (p = h; *p > 0x20 && *p < 0x7f && *p != ':'; p++)
		;
	if (p == h || *p != ':')
		return 0;
	for (; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return 0;
	return strlen(h) <= POLICY_HEADER_MAX;
}

static const struct {
	const char		*word;
	enum policy_action	 action;
} words[] = {
	{ "OK", POLICY_OK },
	{ "DUNNO", POLICY_DUNNO },
	{ "REJECT", POLICY_REJECT },
	{ "DEFER", POLICY_DEFER },
	{ "DEFER_IF_PERMIT", POLICY_DEFER_IF_PERMIT },
	{ "DEFER_IF_REJECT", POLICY_DEFER_IF_REJECT },
	{ "PREPEND", POLICY_PREPEND },
	{ "WARN", POLICY_WARN },
	{ "INFO", POLICY_INFO },
	{ "DISCARD", POLICY_DISCARD },
	/* access(5) actions smtpd cannot carry out */
	{ "HOLD", POLICY_UNSUPPORTED },
	{ "FILTER", POLICY_UNSUPPORTED },
	{ "REDIRECT", POLICY_UNSUPPORTED },
	{ "BCC", POLICY_UNSUPPORTED },
	{ "PERMIT", POLICY_UNSUPPORTED },
	{ "REJECT_UNVERIFIED_SENDER", POLICY_UNSUPPORTED },
};

/* parse_action - the value of "action=" (NUL-terminated, no control
 * bytes but tab); 0, or -1 with *why. */
static int
parse_action(char *v, struct policy_result *r, const char **why)
{
	char	*text;
	size_t	 wl, i;

	wl = strcspn(v, " \t");
	text = v + wl + strspn(v + wl, " \t");
	printable(r->word, sizeof r->word, v, wl);
	if (wl == 3 && (v[0] == '4' || v[0] == '5') &&
	    v[1] >= '0' && v[1] <= '9' && v[2] >= '0' && v[2] <= '9') {
		int code = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
		r->action = v[0] == '5' ? POLICY_REJECT : POLICY_DEFER;
		set_refusal(r, code, v[0] == '5' ? "5.7.1" : "4.7.1", text,
		    v[0] == '5' ? "Access denied" : "Try again later");
		return 0;
	}
	for (i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strlen(words[i].word) == wl && strncasecmp(v, words[i].word, wl) == 0)
			break;
	if (i == sizeof words / sizeof words[0]) {
		*why = "unknown action";
		return -1;
	}
	r->action = words[i].action;
	switch (r->action) {
	case POLICY_REJECT:
		set_refusal(r, 550, "5.7.1", text, "Access denied");
		break;
	case POLICY_DEFER:
	case POLICY_DEFER_IF_PERMIT:
	case POLICY_DEFER_IF_REJECT:
		set_refusal(r, 450, "4.7.1", text, "Service temporarily unavailable");
		break;
	case POLICY_PREPEND:
		if (!valid_header(text)) {
			*why = "PREPEND without a valid header field";
			return -1;
		}
		buf_copy(r->text, sizeof r->text, text);
		break;
	default:
		printable(r->text, POLICY_TEXT_MAX + 1, text, strlen(text));
		break;
	}
	return 0;
}

int
policy_parse_reply(const char *buf, size_t len, struct policy_result *r,
    const char **why)
{
	const char *p = buf, *end, *lf;
	char	*line = NULL;		/* the action line, NUL-terminated */
	size_t	 n, i;
	int	 rc = -1;

	memset(r, 0, sizeof *r);
	*why = NULL;
	if ((n = policy_reply_end(buf, len)) == 0) {
		*why = "no end of reply";
		return -1;
	}
	end = buf + n;
	while ((lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n = (size_t)(lf - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		for (i = 0; i < n; i++)
			if (((unsigned char)p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f) {
				*why = "control byte in reply";
				goto out;
			}
		if (p[0] == '=' || memchr(p, '=', n) == NULL) {
			*why = "not name=value";
			goto out;
		}
		if (n >= 7 && memcmp(p, "action=", 7) == 0) {
			if (line != NULL) {
				*why = "more than one action";
				goto out;
			}
			if ((line = strndup(p, n)) == NULL) {
				*why = "out of memory";
				goto out;
			}
		}
		/* Other attributes do not matter. */
		p = lf + 1;
	}
	if (line == NULL) {
		*why = "no action";
		goto out;
	}
	if (line[7] == '\0' || line[7] == ' ' || line[7] == '\t') {
		*why = "empty action";
		goto out;
	}
	rc = parse_action(line + 7, r, why);
out:
	free(line);
	return rc;
}

/* ---- the request: pure ---------------------------------------------- */

/* put_attr - "name=value\n", the value's control bytes replaced by '?'
 * and cut to POLICY_VALUE_MAX; 0 or -1 (no room). */
static int
put_attr(char *buf, size_t size, size_t *len, const char *name, const char *value)
{
	size_t	n, vl, i;

	if (value == NULL)
		value = "";
	vl = strlen(value);
	if (vl > POLICY_VALUE_MAX)
		vl = POLICY_VALUE_MAX;
	n = strlen(name);
	if (*len + n + 1 + vl + 1 >= size)
		return -1;
	memcpy(buf + *len, name, n);
	*len += n;
	buf[(*len)++] = '=';
	for (i = 0; i < vl; i++) {
		unsigned char c = (unsigned char)value[i];
		buf[(*len)++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	buf[(*len)++] = '\n';
	buf[*len] = '\0';
	return 0;
}

size_t
policy_format_request(const struct policy_req *rq, const char *instance,
    char *buf, size_t size)
{
	char	num[3][24];
	size_t	len = 0;
	int	bad = 0;

	snprintf(num[0], sizeof num[0], "%d", rq->recipient_count);
	snprintf(num[1], sizeof num[1], "%d", rq->client_port);
	snprintf(num[2], sizeof num[2], "%d", rq->server_port);
#define PUT(n, v)	bad |= put_attr(buf, size, &len, (n), (v))
	PUT("request", "smtpd_access_policy");
	PUT("protocol_state", rq->state);
	PUT("protocol_name", rq->protocol);
	PUT("helo_name", rq->helo);
	PUT("queue_id", rq->queue_id);
	PUT("sender", rq->sender);
	PUT("recipient", rq->recipient);
	PUT("recipient_count", num[0]);
	PUT("client_address", rq->client_address);
	PUT("client_name", rq->client_name);
	PUT("reverse_client_name", rq->reverse_client_name);
	PUT("instance", instance);
	/* Postfix 2.2 and later: no SASL, no TLS client certificate here. */
	PUT("sasl_method", "");
	PUT("sasl_username", rq->sasl_username != NULL ? rq->sasl_username : "");
	PUT("sasl_sender", "");
	{
		char size_s[24];
		snprintf(size_s, sizeof size_s, "%llu", rq->size);
		PUT("size", size_s);
	}
	PUT("ccert_subject", "");
	PUT("ccert_issuer", "");
	PUT("ccert_fingerprint", "");
	/* 2.3: a plaintext connection. */
	PUT("encryption_protocol", "");
	PUT("encryption_cipher", "");
	PUT("encryption_keysize", "0");
	PUT("etrn_domain", "");
	/* 2.5, 2.9, 3.0, 3.1, 3.2 */
	PUT("stress", "");
	PUT("ccert_pubkey_fingerprint", "");
	PUT("client_port", num[1]);
	PUT("policy_context", "");
	PUT("server_address", rq->server_address);
	PUT("server_port", num[2]);
#undef PUT
	if (bad || len + 2 > size)
		return 0;
	buf[len++] = '\n';
	buf[len] = '\0';
	return len;
}

/* ---- connections ---------------------------------------------------- */

#define POLICY_POOLS_MAX	64	/* distinct servers over all reloads */

struct pool {
	struct filter_addr	 fa;		/* spec and address: the key */
	pthread_mutex_t		 mu;
	int			 idle[POLICY_POOL_IDLE];
	int			 nidle;
};

static struct pool	pools[POLICY_POOLS_MAX];
static int		npools;
static pthread_mutex_t	pools_mu = PTHREAD_MUTEX_INITIALIZER;

/* pool_of - the pool of server fa, made on first use; NULL when the
 * registry is full (connections are then not kept). */
static struct pool *
pool_of(const struct filter_addr *fa)
{
	struct pool *p = NULL;
	int	i;

	pthread_mutex_lock(&pools_mu);
	for (i = 0; i < npools; i++)
		if (pools[i].fa.len == fa->len && strcmp(pools[i].fa.spec, fa->spec) == 0 &&
		    memcmp(&pools[i].fa.ss, &fa->ss, fa->len) == 0) {
			p = &pools[i];
			break;
		}
	if (p == NULL && npools < POLICY_POOLS_MAX &&
	    pthread_mutex_init(&pools[npools].mu, NULL) == 0) {
		p = &pools[npools++];
		p->fa = *fa;
		p->nidle = 0;
	}
	pthread_mutex_unlock(&pools_mu);
	return p;
}

/* pool_take - an idle connection the server has not closed, or -1. */
static int
pool_take(struct pool *p)
{
	int	fd;

	for (;;) {
		if (p == NULL)
			return -1;
		pthread_mutex_lock(&p->mu);
		fd = p->nidle > 0 ? p->idle[--p->nidle] : -1;
		pthread_mutex_unlock(&p->mu);
		if (fd == -1 || filter_alive(fd))
			return fd;
		close(fd);	/* closed by the server while it waited */
	}
}

/* pool_give - keep fd for the next request, or close it when full. */
static void
pool_give(struct pool *p, int fd)
{
	if (p != NULL) {
		pthread_mutex_lock(&p->mu);
		if (p->nidle < POLICY_POOL_IDLE) {
			p->idle[p->nidle++] = fd;
			fd = -1;
		}
		pthread_mutex_unlock(&p->mu);
	}
	if (fd != -1)
		close(fd);
}

/*
 * exchange - send req on fd and read the reply into buf (at most
 * POLICY_REPLY_MAX); its length, or -1 with *why. *got: reply bytes
 * were read (a pooled connection that fails before is retried).
 * *extra: bytes came after the reply (the connection is not reused).
 */
static ssize_t
exchange(int fd, const char *req, size_t rlen, char *buf, long long deadline,
    atomic_int *stop, int *got, int *extra, const char **why)
{
	size_t		len = 0, end;
	ssize_t		n;
	long long	slice;

	*got = *extra = 0;
	if (filter_write(fd, req, rlen, deadline) == -1) {
		*why = errno == ETIMEDOUT ? "timeout sending the request" : "cannot send";
		return -1;
	}
	for (;;) {
		/* Half-second slices with a stop word: a shutdown does not
		 * wait out policy_timeout. */
		slice = deadline;
		if (stop != NULL) {
			if (atomic_load(stop) == LB_STOPPED) {
				*why = "stopping";
				return -1;
			}
			if ((slice = filter_deadline(0) + 500) > deadline)
				slice = deadline;
		}
		n = filter_read(fd, buf + len, POLICY_REPLY_MAX - len, slice);
		if (n == -1 && errno == ETIMEDOUT && slice < deadline)
			continue;
		if (n == -1) {
			*why = errno == ETIMEDOUT ? "timeout waiting for the reply" :
			    "read error";
			return -1;
		}
		if (n == 0) {
			*why = "connection closed by the server";
			return -1;
		}
		*got = 1;
		len += (size_t)n;
		if ((end = policy_reply_end(buf, len)) > 0) {
			*extra = end < len;
			return (ssize_t)end;
		}
		if (len >= POLICY_REPLY_MAX) {
			*why = "reply longer than 4096 bytes";
			return -1;
		}
	}
}

/*
 * ask - one request to server fa, on a pooled connection if there is
 * one (once more on a new one if that fails before any reply byte: the
 * server may have closed it just then). The reply's length in buf, or
 * -1 with *why.
 */
static ssize_t
ask(const struct config *cf, const struct filter_addr *fa, const char *req,
    size_t rlen, char *buf, atomic_int *stop, const char **why)
{
	struct pool *p = pool_of(fa);
	long long deadline = filter_deadline(cf->policy_timeout);
	ssize_t	n;
	int	fd, pooled, got, extra;

	atomic_fetch_add(&policy_stats.requests, 1);
	fd = pool_take(p);
	pooled = fd != -1;
	for (;;) {
		if (fd == -1) {
			if ((fd = filter_connect(fa, deadline)) == -1) {
				*why = errno == ETIMEDOUT ? "timeout connecting" :
				    "cannot connect";
				return -1;
			}
			atomic_fetch_add(&policy_stats.connects, 1);
		} else
			atomic_fetch_add(&policy_stats.reused, 1);
		n = exchange(fd, req, rlen, buf, deadline, stop, &got, &extra, why);
		if (n >= 0) {
			if (extra)
				close(fd);
			else
				pool_give(p, fd);
			return n;
		}
		close(fd);
		fd = -1;
		if (!pooled || got || filter_deadline(0) >= deadline)
			return -1;
		pooled = 0;
	}
}

/* ---- the verdict ---------------------------------------------------- */

void
policy_txn_reset(struct policy_txn *pt)
{
	struct hdr_edit *e, *next;

	for (e = pt->edits; e != NULL; e = next) {
		next = e->next;
		free(e->name);
		free(e->value);
		free(e);
	}
	free(pt->prepend);
	free(pt->answers);
	memset(pt, 0, sizeof *pt);
}

const char *
policy_answers(const struct policy_txn *pt)
{
	return pt->answers != NULL ? pt->answers : "";
}

/* note_answer - what=ACTION (or "failed") of server fa about state, for
 * the message's log line; once full, the rest is "...". */
static void
note_answer(struct policy_txn *pt, const struct filter_addr *fa,
    const char *state, const char *what)
{
	size_t	len;

	if (pt->answers == NULL && (pt->answers = calloc(1, POLICY_ANSWERS_MAX)) == NULL)
		return;
	len = strlen(pt->answers);
	if (buf_appendf(pt->answers, POLICY_ANSWERS_MAX, &len, "%s%s %s %s",
	    len > 0 ? "; " : "", fa->spec, state, what) == -1) {
		/* Cut: keep what fitted, ending in "...". */
		len = strnlen(pt->answers, POLICY_ANSWERS_MAX - 4);
		if (len < 3 || strcmp(pt->answers + len - 3, "...") != 0)
			memcpy(pt->answers + len, "...", 4);
	}
}

static const char *const action_names[] = {
	[POLICY_DUNNO] = "DUNNO", [POLICY_OK] = "OK", [POLICY_REJECT] = "REJECT",
	[POLICY_DEFER] = "DEFER", [POLICY_DEFER_IF_PERMIT] = "DEFER_IF_PERMIT",
	[POLICY_DEFER_IF_REJECT] = "DEFER_IF_REJECT", [POLICY_PREPEND] = "PREPEND",
	[POLICY_WARN] = "WARN", [POLICY_INFO] = "INFO", [POLICY_DISCARD] = "DISCARD",
	[POLICY_UNSUPPORTED] = "UNSUPPORTED",
};

/* log_answer - one server's answer (or failure) about rq. */
static void
log_answer(const struct policy_req *rq, const struct filter_addr *fa,
    const struct policy_result *r, const char *failed, const char *then)
{
	enum { Q = LOG_QUOTE_SIZE(POLICY_HEADER_MAX) };
	const char *qid = rq->queue_id != NULL ? rq->queue_id : "";
	char	*q = malloc(3 * Q);

	if (q == NULL)
		return;
	if (failed != NULL)
		log_warnx("session=%lu client=%s policy=%s state=%s%s%s rcpt=%s "
		    "failed: %s; %s", rq->session, rq->client,
		    log_quote(q, Q, fa->spec), rq->state,
		    qid[0] ? " id=" : "", qid,
		    log_quote(q + Q, Q, rq->recipient), failed, then);
	else
		log_info("session=%lu client=%s policy=%s state=%s%s%s rcpt=%s "
		    "action=%s%s%s%s%s text=%s%s%s", rq->session, rq->client,
		    log_quote(q, Q, fa->spec), rq->state,
		    qid[0] ? " id=" : "", qid,
		    log_quote(q + Q, Q, rq->recipient), action_names[r->action],
		    r->code ? " code=" : "", r->code ? (r->code / 100 == 5 ? "5xx" : "4xx") : "",
		    r->esc[0] ? " esc=" : "", r->esc,
		    log_quote(q + 2 * Q, Q, r->text),
		    then[0] ? "; " : "", then);
	free(q);
}

/* keep_prepend - header h for the RCPT copies (pt->prepend) or as an
 * END-OF-MESSAGE edit; 0 or -1 (out of room: logged, dropped). */
static int
keep_prepend(struct policy_txn *pt, const char *state, const char *h)
{
	size_t	 n = strlen(h);
	char	*p;

	if (strcmp(state, "RCPT") == 0) {
		if (pt->prepend_len + n + 1 > POLICY_PREPEND_MAX)
			return -1;
		if ((p = realloc(pt->prepend, pt->prepend_len + n + 2)) == NULL)
			return -1;
		memcpy(p + pt->prepend_len, h, n);
		p[pt->prepend_len + n] = '\n';
		p[pt->prepend_len + n + 1] = '\0';
		pt->prepend = p;
		pt->prepend_len += n + 1;
		return 0;
	} else {
		struct hdr_edit *e, **tail;
		const char *colon = strchr(h, ':'), *v;
		size_t	 used = 0;

		for (tail = &pt->edits; *tail != NULL; tail = &(*tail)->next)
			used += strlen((*tail)->name) + strlen((*tail)->value) + 2;
		if (used + n + 1 > POLICY_PREPEND_MAX)
			return -1;
		if ((e = calloc(1, sizeof *e)) == NULL)
			return -1;
		v = colon + 1;
		v += strspn(v, " \t");
		e->op = HDR_INSERT;
		/* Each before the client's first field, in the order sent:
		 * the n-th goes to index n-1. */
		e->index = 0;
		for (struct hdr_edit *x = pt->edits; x != NULL; x = x->next)
			e->index++;
		e->name = strndup(h, (size_t)(colon - h));
		e->value = strdup(v);
		if (e->name == NULL || e->value == NULL) {
			free(e->name);
			free(e->value);
			free(e);
			return -1;
		}
		*tail = e;
		return 0;
	}
}

/* set_verdict - v from a refusal answer r (code, esc, text). */
static void
set_verdict(struct policy_verdict *v, const struct policy_result *r)
{
	v->code = r->code;
	buf_copy(v->esc, sizeof v->esc, r->esc);
	buf_copy(v->text, sizeof v->text, r->text);
}

int
policy_check(const struct config *cf, struct policy_txn *pt,
    const struct policy_req *rq, struct policy_verdict *v)
{
	/* On the heap: a thread's stack pages stay with it while it idles. */
	struct {
		char	req[8192];
		char	reply[POLICY_REPLY_MAX + 1];
		char	pre[POLICY_PREPEND_MAX];	/* this request's
							 * PREPENDs, each
							 * NUL-terminated */
		struct policy_result r, dip, dir;	/* the answer; the
							 * DEFER_IF_PERMIT and
							 * DEFER_IF_REJECT
							 * pending */
	}		*b;
	struct policy_result *r;
	const char *why;
	size_t	 rlen, prelen = 0, off;
	ssize_t	 n;
	int	 i, has_dip = 0, has_dir = 0, final = 0, discard = 0;

	memset(v, 0, sizeof *v);
	if (cf->npolicy == 0)
		return 0;
	if ((b = malloc(sizeof *b)) == NULL) {
		v->code = 451;
		buf_copy(v->esc, sizeof v->esc, "4.3.0");
		buf_copy(v->text, sizeof v->text, "Local error in processing, try again later");
		return 1;
	}
	r = &b->r;
	if (pt->instance[0] == '\0')
		snprintf(pt->instance, sizeof pt->instance, "%lx.%lx", rq->session,
		    (unsigned long)atomic_fetch_add(&instance_counter, 1) + 1);
	rlen = policy_format_request(rq, pt->instance, b->req, sizeof b->req);
	for (i = 0; i < cf->npolicy && !final; i++) {
		const struct filter_addr *fa = &cf->policy[i];
		const char *fail = NULL;
		char	 msg[80];

		memset(r, 0, sizeof *r);
		if (rlen == 0)
			fail = "request too long";
		else if ((n = ask(cf, fa, b->req, rlen, b->reply, rq->stop, &why)) == -1)
			fail = why;
		else if (policy_parse_reply(b->reply, (size_t)n, r, &why) == -1)
			fail = why;
		else if (r->action == POLICY_UNSUPPORTED) {
			snprintf(msg, sizeof msg, "unsupported action %s", r->word);
			fail = msg;
		}
		if (fail != NULL) {
			atomic_fetch_add(&policy_stats.failure, 1);
			note_answer(pt, fa, rq->state, "failed");
			if (cf->policy_failure == POLICY_FAILURE_DUNNO) {
				log_answer(rq, fa, NULL, fail, "policy_failure dunno");
				continue;
			}
			log_answer(rq, fa, NULL, fail, "policy_failure defer");
			v->code = 451;
			buf_copy(v->esc, sizeof v->esc, "4.3.5");
			buf_copy(v->text, sizeof v->text, "Server configuration problem");
			final = 1;
			break;
		}
		switch (r->action) {
		case POLICY_OK:
			atomic_fetch_add(&policy_stats.ok, 1);
			final = 1;
			break;
		case POLICY_DISCARD:
			atomic_fetch_add(&policy_stats.discard, 1);
			discard = final = 1;
			break;
		case POLICY_REJECT:
			atomic_fetch_add(&policy_stats.reject, 1);
			set_verdict(v, has_dir ? &b->dir : r);
			final = 1;
			break;
		case POLICY_DEFER:
			atomic_fetch_add(&policy_stats.defer, 1);
			set_verdict(v, r);
			final = 1;
			break;
		case POLICY_DEFER_IF_PERMIT:
			atomic_fetch_add(&policy_stats.defer, 1);
			if (!has_dip)
				b->dip = *r;
			has_dip = 1;
			break;
		case POLICY_DEFER_IF_REJECT:
			atomic_fetch_add(&policy_stats.defer, 1);
			if (!has_dir)
				b->dir = *r;
			has_dir = 1;
			break;
		case POLICY_PREPEND: {
			size_t hl = strlen(r->text);
			atomic_fetch_add(&policy_stats.prepend, 1);
			if (prelen + hl + 1 <= sizeof b->pre) {
				memcpy(b->pre + prelen, r->text, hl + 1);
				prelen += hl + 1;
			} else
				log_warnx("session=%lu PREPEND dropped: more than %d bytes "
				    "of fields", rq->session, POLICY_PREPEND_MAX);
			break;
		}
		default:	/* DUNNO, WARN, INFO */
			atomic_fetch_add(&policy_stats.dunno, 1);
			break;
		}
		log_answer(rq, fa, r, NULL, "");
		note_answer(pt, fa, rq->state, action_names[r->action]);
	}
	/* Accepting (OK, DISCARD, or no opinion) with a DEFER_IF_PERMIT
	 * pending: that 450. */
	if (v->code == 0 && has_dip)
		set_verdict(v, &b->dip);
	if (v->code == 0) {
		for (off = 0; off < prelen; off += strlen(b->pre + off) + 1)
			if (keep_prepend(pt, rq->state, b->pre + off) == -1)
				log_warnx("session=%lu PREPEND dropped: no room", rq->session);
		if (discard)
			pt->discard = 1;
	}
	free(b);
	return v->code != 0;
}
