/*
 * dnsquery.h - the DNS list look-ups of one session, and the TTL cache
 * all sessions share.
 */
#ifndef DNSQUERY_H
#define DNSQUERY_H

#include <stdatomic.h>
#include "config.h"

struct dnsq;	/* one session's look-ups in flight */

/*
 * dnsq_start - ask every dnsbl list of cf about the client (family and
 * address bytes of sockaddr_key) at once: one UDP query per list not
 * already cached, all on one socket, sent now. Never waits. NULL when
 * out of memory (the client is then not screened; logged). stop: the
 * session's stop word (linebuf.h) or NULL; once set, no wait goes on
 * (here and in rdns_*), and what has not come counts as no answer.
 */
struct dnsq *dnsq_start(const struct config *cf, int family,
	    const unsigned char addr[16], unsigned long sid, atomic_int *stop);
/*
 * dnsq_collect - wait (at most what is left of dns_timeout since
 * dnsq_start) for the answers, score them and log the decision once.
 * Returns the summed weight; *zone is the listing zone of the greatest
 * weight ("" if none). Later calls return the same at once.
 */
int	dnsq_collect(struct dnsq *q, const char *client, const char **zone);
void	dnsq_free(struct dnsq *q);
/* dnsq_cache_lookups - cache hits and misses since start (tests, status). */
void	dnsq_cache_counts(unsigned long *hits, unsigned long *misses);

/* The outcome of each list's look-up since start (metrics.c); lists
 * sharing one query count once each, but a failed shared query once. */
struct dnsq_stats {
	atomic_ulong	listed;		/* an answer the list counts */
	atomic_ulong	not_listed;	/* NXDOMAIN, or no answer that counts */
	atomic_ulong	refused;	/* 127.255.255.x: the list refused us */
	atomic_ulong	error;		/* SERVFAIL or another error answer */
	atomic_ulong	timeout;	/* no answer within dns_timeout */
};
extern struct dnsq_stats dnsq_stats;

/*
 * reverse_dns: rdns_start sends the PTR question at connect (never
 * waits); rdns_collect waits for it (dns_timeout), asks the name's A or
 * AAAA (dns_timeout again) and returns the name if it leads back to the
 * address, else "unknown"; it logs the result once.
 */
struct rdns;
struct rdns *rdns_start(const struct config *cf, int family,
	    const unsigned char addr[16], atomic_int *stop);
const char *rdns_collect(struct rdns *r, unsigned long sid, const char *client);
void	rdns_free(struct rdns *r);

#endif
