/*
 * metrics.h - the Prometheus metrics endpoint ("metrics ADDR:PORT"):
 * its listener and thread, the HTTP request parser, the exposition
 * writer, and the latency histogram type the counters use.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

struct config;

/* Limits of one scrape (the request head; the whole exchange). */
#define METRICS_HEAD_MAX	4096	/* octets of request line and headers */
#define METRICS_TIMEOUT_MS	5000	/* to read the request, and again to
					 * send the answer */
#define METRICS_BODY_MAX	(1024 * 1024)	/* octets of exposition */

/*
 * A histogram of durations in seconds, with METRICS_NBOUNDS upper
 * bounds from 0.001 to 10 s (metrics.c): bucket[i] counts observations
 * in (bound[i-1], bound[i]], bucket[METRICS_NBOUNDS] those above the
 * last; the exposition sums them into Prometheus' cumulative buckets.
 * Zeroed (static storage) is empty.
 */
#define METRICS_NBOUNDS		13
struct metrics_histogram {
	atomic_ulong	bucket[METRICS_NBOUNDS + 1];
	atomic_ulong	sum_us;		/* microseconds observed */
};

/* metrics_observe_since - add the time from t0 (CLOCK_MONOTONIC) to now. */
void	metrics_observe_since(struct metrics_histogram *h, const struct timespec *t0);
/* metrics_observe_us - add one duration of us microseconds. */
void	metrics_observe_us(struct metrics_histogram *h, unsigned long us);

/*
 * What metrics_parse_request() makes of a request head. Its return
 * value is the HTTP status to answer: 200 (serve the metrics; *head_only
 * for HEAD), 400 (not HTTP/1.x syntax, a missing or repeated Host in
 * HTTP/1.1), 404 (a path other than /metrics; a query is ignored), 405
 * (a method other than GET and HEAD) or 505 (an HTTP version not 1.x).
 */
int	metrics_parse_request(const char *head, size_t len, int *head_only);
/*
 * metrics_head_end - the length of the request head in buf (through the
 * blank line that ends it, CRLF or bare LF), or 0 when it has not ended
 * within len octets.
 */
size_t	metrics_head_end(const char *buf, size_t len);

/*
 * The exposition (Prometheus text format 0.0.4), written into a buffer
 * of at most METRICS_BODY_MAX octets; failed once it would not fit or
 * memory ran out.
 */
struct metrics_out {
	char	*buf;
	size_t	 len, cap;
	int	 failed;
};
/* metrics_write - every metric into o (o zeroed first, or reused with
 * len set to 0). */
void	metrics_write(struct metrics_out *o);
void	metrics_out_free(struct metrics_out *o);

/* metrics_reloaded - count a SIGHUP reload (ok: the new config in force). */
void	metrics_reloaded(int ok);

/*
 * metrics_bind - open the listener of cf->metrics (nothing when it is
 * not set), while still privileged; 0, or -1 with a message in err.
 * metrics_start - serve it on a thread of its own (signals blocked
 * already). metrics_stop - close it and join the thread. Both do
 * nothing without a listener.
 */
int	metrics_bind(const struct config *cf, char *err, size_t errsz);
void	metrics_start(void);
void	metrics_stop(void);
/* metrics_describe - "127.0.0.1:9125" into buf, or "" without one. */
void	metrics_describe(char *buf, size_t size);

#endif
