/*
 * dnsquery.c - DNS list look-ups for a session, over UDP.
 * Owns: the session's query socket (one, connected to the resolver),
 * building queries with res_nmkquery, matching answers by ID and
 * question, the weighted score, the dnsbl log line, and the answer
 * cache shared by all sessions (fixed size, entries live for their TTL).
 * Not here: the spec syntax and the answer filter (dnsbl.c), parsing a
 * packet (dns.c), the 554 reply (session.c).
 * Threads: a struct dnsq belongs to its session's thread; the cache is
 * guarded by one mutex.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <resolv.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dns.h"
#include "dnsbl.h"
#include "dnsquery.h"
#include "linebuf.h"
#include "log.h"
#include "smtpaddr.h"

#define CACHE_SLOTS	1024	/* direct-mapped by name */
#define CACHE_TTL_MAX	3600	/* seconds, whatever the answer says */

enum qstate { Q_PENDING, Q_DONE, Q_FAILED };

struct query {
	char		 name[DNS_NAME_MAX];	/* 2.0.0.127.zen.spamhaus.org */
	uint16_t	 id;
	int		 same_as;	/* index of the query it shares, or -1 */
	enum qstate	 state;
	const char	*failure;	/* Q_FAILED: why */
	int		 naddr;
	unsigned char	 addr[DNS_ADDRS_MAX][4];
};

struct dnsq {
	const struct config *cf;
	atomic_int	*stop;		/* the session's stop word, or NULL */
	unsigned long	 sid;
	int		 fd;		/* -1: nothing in flight */
	struct timespec	 deadline;
	struct query	 q[CONFIG_DNSBL_MAX];
	int		 nq;
	int		 collected;
	int		 score;
	const char	*zone;
};

struct cache_entry {
	char		 name[DNS_NAME_MAX];
	time_t		 expires;	/* monotonic seconds; 0 = free */
	int		 naddr;
	unsigned char	 addr[DNS_ADDRS_MAX][4];
};

static struct cache_entry cache[CACHE_SLOTS];
static pthread_mutex_t	cache_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_ulong	cache_hits, cache_misses;
struct dnsq_stats	dnsq_stats;

static time_t	now_sec(void);
static unsigned	cache_slot(const char *);
static int	cache_get(struct query *);
static void	cache_put(const struct query *, uint32_t);
static int	resolver_addr(const struct config *, res_state, struct sockaddr_storage *,
		    socklen_t *);
static int	resolver_socket(const struct config *, res_state);
static void	receive(struct dnsq *);

static time_t
now_sec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static unsigned
cache_slot(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name; name++) {
		h ^= (unsigned char)(*name | 0x20);
		h *= 16777619u;
	}
	return h % CACHE_SLOTS;
}

/* cache_get - fill q from the cache; 1 if it was there. */
static int
cache_get(struct query *q)
{
	struct cache_entry *e = &cache[cache_slot(q->name)];
	int	 hit = 0;

	pthread_mutex_lock(&cache_mu);
	if (e->expires > now_sec() && strcasecmp(e->name, q->name) == 0) {
		q->naddr = e->naddr;
		memcpy(q->addr, e->addr, sizeof q->addr);
		q->state = Q_DONE;
		hit = 1;
	}
	pthread_mutex_unlock(&cache_mu);
	atomic_fetch_add(hit ? &cache_hits : &cache_misses, 1);
	return hit;
}

static void
cache_put(const struct query *q, uint32_t ttl)
{
	struct cache_entry *e = &cache[cache_slot(q->name)];

	if (ttl == 0)
		return;
	if (ttl > CACHE_TTL_MAX)
		ttl = CACHE_TTL_MAX;
	pthread_mutex_lock(&cache_mu);
	buf_copy(e->name, sizeof e->name, q->name);
	e->naddr = q->naddr;
	memcpy(e->addr, q->addr, sizeof e->addr);
	e->expires = now_sec() + (time_t)ttl;
	pthread_mutex_unlock(&cache_mu);
}

void
dnsq_cache_counts(unsigned long *hits, unsigned long *misses)
{
	*hits = atomic_load(&cache_hits);
	*misses = atomic_load(&cache_misses);
}

/* resolver_addr - the configured name server, else resolv.conf's first. */
static int
resolver_addr(const struct config *cf, res_state rs, struct sockaddr_storage *ss,
    socklen_t *len)
{
	memset(ss, 0, sizeof *ss);
	if (cf->resolver.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(cf->resolver.port);
		memcpy(&sin->sin_addr, cf->resolver.addr, 4);
		*len = sizeof *sin;
	} else if (cf->resolver.family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(cf->resolver.port);
		memcpy(&sin6->sin6_addr, cf->resolver.addr, 16);
		*len = sizeof *sin6;
	} else if (rs->nscount > 0 && rs->nsaddr_list[0].sin_family == AF_INET) {
		memcpy(ss, &rs->nsaddr_list[0], sizeof rs->nsaddr_list[0]);
		*len = sizeof rs->nsaddr_list[0];
	} else if (rs->nscount > 0 && rs->_u._ext.nsaddrs[0] != NULL) {
		memcpy(ss, rs->_u._ext.nsaddrs[0], sizeof *rs->_u._ext.nsaddrs[0]);
		*len = sizeof *rs->_u._ext.nsaddrs[0];
	} else {
		/* resolv(5): no nameserver line means the local one. */
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(53);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof *sin;
	}
	return 0;
}

/* resolver_socket - a non-blocking UDP socket connected to the name
 * server; -1 on failure (logged by the caller). */
static int
resolver_socket(const struct config *cf, res_state rs)
{
	struct sockaddr_storage ss;
	socklen_t	 sslen;
	int		 fd;

	resolver_addr(cf, rs, &ss, &sslen);
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd != -1 && connect(fd, (struct sockaddr *)&ss, sslen) == -1) {
		close(fd);
		fd = -1;
	}
	return fd;
}

struct dnsq *
dnsq_start(const struct config *cf, int family, const unsigned char addr[16],
    unsigned long sid, atomic_int *stop)
{
	struct dnsq	*d;
	struct __res_state *rs;
	unsigned char	 pkt[DNS_PACKET_MAX];
	int		 i, k, n, sent = 0;

	if ((d = calloc(1, sizeof *d)) == NULL) {
		log_warnx("session=%lu dnsbl: out of memory, not screened", sid);
		return NULL;
	}
	d->cf = cf;
	d->stop = stop;
	d->sid = sid;
	d->fd = -1;
	d->zone = "";
	clock_gettime(CLOCK_MONOTONIC, &d->deadline);
	d->deadline.tv_sec += cf->dns_timeout;
	for (i = 0; i < cf->ndnsbl; i++) {
		struct query *q = &d->q[i];
		q->same_as = -1;
		if (dns_reverse_name(family, addr, cf->dnsbl[i].zone, q->name,
		    sizeof q->name) == -1) {
			q->state = Q_FAILED;
			q->failure = "no query name for this address";
			continue;
		}
		for (k = 0; k < i; k++)
			if (strcmp(d->q[k].name, q->name) == 0)
				q->same_as = k;
		if (q->same_as == -1)
			cache_get(q);
	}
	d->nq = cf->ndnsbl;
	if ((rs = calloc(1, sizeof *rs)) == NULL || res_ninit(rs) == -1) {
		free(rs);
		for (i = 0; i < d->nq; i++)
			if (d->q[i].state == Q_PENDING) {
				d->q[i].state = Q_FAILED;
				d->q[i].failure = "resolver initialisation failed";
			}
		return d;
	}
	if ((d->fd = resolver_socket(cf, rs)) == -1)
		log_warn("session=%lu dnsbl: resolver socket", sid);
	for (i = 0; i < d->nq; i++) {
		struct query *q = &d->q[i];
		if (q->state != Q_PENDING || q->same_as != -1)
			continue;
		n = res_nmkquery(rs, ns_o_query, q->name, ns_c_in, ns_t_a, NULL, 0,
		    NULL, pkt, sizeof pkt);
		if (n < NS_HFIXEDSZ || d->fd == -1) {
			q->state = Q_FAILED;
			q->failure = d->fd == -1 ? "no resolver socket" : "query too long";
			continue;
		}
		/* IDs unique within the session: answers are matched by them. */
		q->id = (uint16_t)(pkt[0] << 8 | pkt[1]);
		for (k = 0; k < i; k++)
			if (d->q[k].id == q->id && d->q[k].same_as == -1 && k != i) {
				q->id = (uint16_t)(q->id + 1 + i);
				k = -1;
			}
		pkt[0] = (unsigned char)(q->id >> 8);
		pkt[1] = (unsigned char)q->id;
		if (send(d->fd, pkt, (size_t)n, 0) != n) {
			q->state = Q_FAILED;
			q->failure = "send failed";
			continue;
		}
		sent++;
	}
	res_nclose(rs);
	free(rs);
	if (sent == 0 && d->fd != -1) {
		close(d->fd);
		d->fd = -1;
	}
	return d;
}

/* receive - read and match every answer waiting on the socket. */
static void
receive(struct dnsq *d)
{
	unsigned char	 pkt[DNS_PACKET_MAX];
	struct dns_answer *a;
	const char	*why;
	ssize_t		 n;
	int		 i;

	if ((a = malloc(sizeof *a)) == NULL)
		return;
	while ((n = recv(d->fd, pkt, sizeof pkt, 0)) > 0 || (n == -1 && errno == EINTR)) {
		if (n <= 0)
			continue;
		if (dns_parse_answer(pkt, (size_t)n, ns_t_a, a, &why) == -1)
			continue;	/* not ours, or broken: wait for more */
		for (i = 0; i < d->nq; i++) {
			struct query *q = &d->q[i];
			if (q->state != Q_PENDING || q->same_as != -1 || q->id != a->id ||
			    strcasecmp(q->name, a->qname) != 0)
				continue;
			if (a->rcode == ns_r_noerror || a->rcode == ns_r_nxdomain) {
				q->state = Q_DONE;
				q->naddr = a->naddr;
				for (int k = 0; k < a->naddr; k++)
					memcpy(q->addr[k], a->addr[k], 4);
				cache_put(q, a->has_ttl ? a->ttl : 0);
			} else {
				q->state = Q_FAILED;
				q->failure = a->rcode == ns_r_servfail ? "SERVFAIL" :
				    "error answer";
			}
			break;
		}
	}
	free(a);
}

/* pending - queries still waiting for an answer. */
static int
pending(const struct dnsq *d)
{
	int	n = 0;

	for (int i = 0; i < d->nq; i++)
		if (d->q[i].state == Q_PENDING && d->q[i].same_as == -1)
			n++;
	return n;
}

/*
 * wait_readable - poll fd until it is readable (0) or the deadline
 * passes, poll fails or the stop word is set (-1). The wait is cut in
 * quarter seconds that each look at the stop word: a shutdown does not
 * wait out dns_timeout.
 */
static int
wait_readable(int fd, const struct timespec *deadline, atomic_int *stop)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };
	struct timespec	now;
	long		ms;
	int		n;

	for (;;) {
		if (stop != NULL && atomic_load(stop) == LB_STOPPED)
			return -1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (deadline->tv_sec - now.tv_sec) * 1000 +
		    (deadline->tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0)
			return -1;
		if ((n = poll(&pfd, 1, ms > 250 ? 250 : (int)ms)) > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return -1;
	}
}

int
dnsq_collect(struct dnsq *d, const char *client, const char **zone)
{
	const struct config *cf = d->cf;
	char	 ans[INET_ADDRSTRLEN] = "", txt[INET_ADDRSTRLEN];
	int	 i, best = -1;

	if (d->collected) {
		*zone = d->zone;
		return d->score;
	}
	while (d->fd != -1 && pending(d) > 0 &&
	    wait_readable(d->fd, &d->deadline, d->stop) == 0)
		receive(d);
	if (d->fd != -1)
		close(d->fd);
	d->fd = -1;
	for (i = 0; i < d->nq; i++) {
		struct query *q = &d->q[i];
		const struct query *r = q->same_as >= 0 ? &d->q[q->same_as] : q;
		const struct dnsbl_list *l = &cf->dnsbl[i];
		if (r->state != Q_DONE && q->same_as >= 0)
			continue;	/* logged with the query it shares */
		if (r->state == Q_PENDING) {
			atomic_fetch_add(&dnsq_stats.timeout, 1);
			log_info("session=%lu client=%s dnsbl %s: no answer within %ds, "
			    "not listed", d->sid, client, l->zone, cf->dns_timeout);
			continue;
		}
		if (r->state == Q_FAILED) {
			atomic_fetch_add(&dnsq_stats.error, 1);
			log_info("session=%lu client=%s dnsbl %s: %s, not listed",
			    d->sid, client, l->zone, r->failure);
			continue;
		}
		atomic_ulong *outcome = &dnsq_stats.not_listed;
		for (int k = 0; k < r->naddr; k++) {
			inet_ntop(AF_INET, r->addr[k], txt, sizeof txt);
			if (dnsbl_refusal(r->addr[k])) {
				outcome = &dnsq_stats.refused;
				log_warnx("session=%lu client=%s dnsbl %s refused the query "
				    "(answer %s): the resolver is not allowed to ask it; "
				    "not counted", d->sid, client, l->zone, txt);
				break;
			}
			if (dnsbl_match(l, r->addr[k])) {
				outcome = &dnsq_stats.listed;
				d->score += l->weight;
				if (l->weight > 0 && (best == -1 || l->weight > cf->dnsbl[best].weight)) {
					best = i;
					buf_copy(ans, sizeof ans, txt);
				}
				break;
			}
		}
		atomic_fetch_add(outcome, 1);
	}
	if (best >= 0) {
		d->zone = cf->dnsbl[best].zone;
		log_info("session=%lu client=%s dnsbl=%s:%s score=%d%s", d->sid, client,
		    d->zone, ans, d->score, d->score >= cf->dnsbl_threshold ?
		    " action=reject" : "");
	} else
		log_info("session=%lu client=%s dnsbl=none score=%d", d->sid, client,
		    d->score);
	if (d->score < cf->dnsbl_threshold)
		d->zone = "";
	d->collected = 1;
	*zone = d->zone;
	return d->score;
}

void
dnsq_free(struct dnsq *d)
{
	if (d == NULL)
		return;
	if (d->fd != -1)
		close(d->fd);
	free(d);
}

/* ---- reverse_dns: PTR, then the name's A/AAAA must give the address back */

struct rdns {
	const struct config *cf;
	atomic_int	*stop;		/* the session's stop word, or NULL */
	int		 fd;
	int		 family;
	unsigned char	 addr[16];
	uint16_t	 id;
	char		 qname[DNS_NAME_MAX];
	struct timespec	 deadline;
	int		 done;
	int		 logged;
	char		 name[DNS_NAME_MAX];	/* "unknown" until confirmed */
	const char	*why;
};

/* rdns_ask - send a question of qtype for name on r->fd; 0 or -1. */
static int
rdns_ask(struct rdns *r, const char *name, int qtype)
{
	struct __res_state *rs;
	unsigned char	 pkt[DNS_PACKET_MAX];
	int		 n = -1;

	if ((rs = calloc(1, sizeof *rs)) == NULL)
		return -1;
	if (res_ninit(rs) == 0) {
		if (r->fd == -1)
			r->fd = resolver_socket(r->cf, rs);
		if (r->fd != -1)
			n = res_nmkquery(rs, ns_o_query, name, ns_c_in, qtype, NULL, 0,
			    NULL, pkt, sizeof pkt);
		res_nclose(rs);
	}
	free(rs);
	if (n < NS_HFIXEDSZ || buf_copy(r->qname, sizeof r->qname, name) == -1)
		return -1;
	r->id = (uint16_t)(pkt[0] << 8 | pkt[1]);
	clock_gettime(CLOCK_MONOTONIC, &r->deadline);
	r->deadline.tv_sec += r->cf->dns_timeout;
	return send(r->fd, pkt, (size_t)n, 0) == n ? 0 : -1;
}

/* rdns_wait - the answer to the last question, by r->deadline; 0 or -1. */
static int
rdns_wait(struct rdns *r, int qtype, struct dns_answer *a)
{
	unsigned char	 pkt[DNS_PACKET_MAX];
	const char	*why;
	ssize_t		 n;

	for (;;) {
		while ((n = recv(r->fd, pkt, sizeof pkt, 0)) > 0) {
			if (dns_parse_answer(pkt, (size_t)n, qtype, a, &why) == 0 &&
			    a->id == r->id && strcasecmp(a->qname, r->qname) == 0) {
				if (a->rcode != ns_r_noerror) {
					r->why = a->rcode == ns_r_nxdomain ? "no such name" :
					    "error answer";
					return -1;
				}
				return 0;
			}
		}
		if (wait_readable(r->fd, &r->deadline, r->stop) == -1) {
			r->why = "no answer in time";
			return -1;
		}
	}
}

struct rdns *
rdns_start(const struct config *cf, int family, const unsigned char addr[16],
    atomic_int *stop)
{
	struct rdns	*r;
	char		 name[DNS_NAME_MAX];

	if ((r = calloc(1, sizeof *r)) == NULL)
		return NULL;
	r->cf = cf;
	r->stop = stop;
	r->fd = -1;
	r->family = family;
	memcpy(r->addr, addr, 16);
	buf_copy(r->name, sizeof r->name, "unknown");
	if (dns_reverse_name(family, addr, family == AF_INET ? "in-addr.arpa" :
	    "ip6.arpa", name, sizeof name) == -1 || rdns_ask(r, name, ns_t_ptr) == -1) {
		r->why = "could not ask";
		r->done = 1;
	}
	return r;
}

const char *
rdns_collect(struct rdns *r, unsigned long sid, const char *client)
{
	struct dns_answer *a;
	char		 ptr[DNS_NAME_MAX];
	int		 qtype = r->family == AF_INET ? ns_t_a : ns_t_aaaa;
	size_t		 alen = r->family == AF_INET ? 4 : 16;

	if (r->done)
		goto out;
	r->done = 1;
	if ((a = malloc(sizeof *a)) == NULL) {
		r->why = "out of memory";
		goto out;
	}
	if (rdns_wait(r, ns_t_ptr, a) == -1)
		goto fail;
	if (a->ptr[0] == '\0') {
		r->why = "no PTR record";
		goto fail;
	}
	/* Untrusted text bound for a header: a host name or nothing. */
	buf_lower(a->ptr);
	if (!smtpaddr_valid_domain(a->ptr, strlen(a->ptr), 0) || a->ptr[0] == '[') {
		r->why = "PTR is not a host name";
		goto fail;
	}
	buf_copy(ptr, sizeof ptr, a->ptr);
	if (rdns_ask(r, ptr, qtype) == -1 || rdns_wait(r, qtype, a) == -1)
		goto fail;
	for (int i = 0; i < a->naddr; i++)
		if (memcmp(a->addr[i], r->addr, alen) == 0) {
			buf_copy(r->name, sizeof r->name, ptr);
			free(a);
			goto out;
		}
	r->why = "name does not lead back to the address";
fail:
	free(a);
out:
	if (r->fd != -1)
		close(r->fd);
	r->fd = -1;
	if (!r->logged) {
		r->logged = 1;
		log_info("session=%lu client=%s name=%s%s%s", sid, client, r->name,
		    r->why ? " reason=" : "", r->why ? r->why : "");
	}
	return r->name;
}

void
rdns_free(struct rdns *r)
{
	if (r == NULL)
		return;
	if (r->fd != -1)
		close(r->fd);
	free(r);
}
