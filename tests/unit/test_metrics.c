/*
 * test_metrics.c - the metrics endpoint's pure parts (src/metrics.c):
 * the HTTP request head, the histogram, the exposition's format, and
 * the refusal counts of reply.c.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics.h"
#include "reply.h"
#include "session.h"
#include "unit.h"

/* req - metrics_parse_request on a heap copy of exactly the string. */
static int
req(const char *s, int *head_only)
{
	size_t	 len = strlen(s);
	char	*copy = malloc(len ? len : 1);
	int	 rc;

	if (copy == NULL)
		abort();
	memcpy(copy, s, len);
	rc = metrics_parse_request(copy, len, head_only);
	free(copy);
	return rc;
}

static void
test_get_metrics(void)
{
	int	h = -1;

	CHECK_EQ_INT(req("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &h), 200);
	CHECK_EQ_INT(h, 0);
	CHECK_EQ_INT(req("GET /metrics HTTP/1.0\r\n\r\n", &h), 200);
	CHECK_EQ_INT(req("GET /metrics HTTP/1.0\n\n", &h), 200);
	CHECK_EQ_INT(req("GET /metrics?x=1&y HTTP/1.1\r\nHost: a:9\r\n"
	    "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\n"
	    "User-Agent: Prometheus/2.42.0\r\n\r\n", &h), 200);
	CHECK_EQ_INT(req("GET http://127.0.0.1:9125/metrics HTTP/1.1\r\nHost: x\r\n\r\n",
	    &h), 200);
	CHECK_EQ_INT(req("HEAD /metrics HTTP/1.1\r\nhOsT:x\r\n\r\n", &h), 200);
	CHECK_EQ_INT(h, 1);
	CHECK_EQ_INT(req("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Empty:\r\n\r\n", &h), 200);
}

static void
test_not_found(void)
{
	int	h;

	CHECK_EQ_INT(req("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &h), 404);
	CHECK_EQ_INT(req("GET /other HTTP/1.1\r\nHost: x\r\n\r\n", &h), 404);
	CHECK_EQ_INT(req("GET /metrics/ HTTP/1.1\r\nHost: x\r\n\r\n", &h), 404);
	CHECK_EQ_INT(req("GET /METRICS HTTP/1.1\r\nHost: x\r\n\r\n", &h), 404);
	CHECK_EQ_INT(req("GET /metricsx HTTP/1.1\r\nHost: x\r\n\r\n", &h), 404);
	CHECK_EQ_INT(req("GET http://x HTTP/1.1\r\nHost: x\r\n\r\n", &h), 404);
	CHECK_EQ_INT(req("HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n", &h), 404);
	CHECK_EQ_INT(h, 1);	/* a HEAD answer has no body, whatever it is */
}

static void
test_method(void)
{
	int	h;

	CHECK_EQ_INT(req("POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &h), 405);
	CHECK_EQ_INT(req("get /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &h), 405);
	CHECK_EQ_INT(req("DELETE /other HTTP/1.1\r\nHost: x\r\n\r\n", &h), 405);
	CHECK_EQ_INT(req("GETS /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &h), 405);
}

static void
test_garbage(void)
{
	static const char *const bad[] = {
		"", "\r\n\r\n", "garbage\r\n\r\n", "GET\r\n\r\n", "GET /metrics\r\n\r\n",
		"GET  /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /metrics  HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /metrics HTTP/1.1 \r\nHost: x\r\n\r\n",
		"GET /metrics http/1.1\r\nHost: x\r\n\r\n",
		"GET /metrics HTTP/1.11\r\nHost: x\r\n\r\n",
		"GET /metrics HTTP/1.x\r\nHost: x\r\n\r\n",
		"GET metrics HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /metrics#frag HTTP/1.1\r\nHost: x\r\n\r\n",
		"G(T /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /metrics HTTP/1.1\r\n\r\n",		/* no Host */
		"GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET /metrics HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n",	/* space before colon */
		"GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: x\rY: z\r\n\r\n",	/* bare CR */
		"GET /metrics HTTP/1.1\r\nHost: x\x01\r\n\r\n",
		"GET /met\x7frics HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: x\r\n",	/* no blank line */
	};
	int	h;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		h = -1;
		if (req(bad[i], &h) != 400)
			printf("#   not refused: case %zu\n", i);
		CHECK_EQ_INT(req(bad[i], &h), 400);
	}
	/* A NUL inside. */
	{
		char	buf[] = "GET /metrics HTTP/1.1\r\nHost: x\0y\r\n\r\n";
		CHECK_EQ_INT(metrics_parse_request(buf, sizeof buf - 1, &h), 400);
	}
	CHECK_EQ_INT(req("GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", &h), 505);
	CHECK_EQ_INT(req("GET /metrics HTTP/0.9\r\n\r\n", &h), 505);
}

static void
test_head_end(void)
{
	const char *a = "GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY";
	const char *b = "GET / HTTP/1.0\n\nBODY";

	CHECK_EQ_INT((int)metrics_head_end(a, strlen(a)), (int)strlen(a) - 4);
	CHECK_EQ_INT((int)metrics_head_end(b, strlen(b)), (int)strlen(b) - 4);
	CHECK_EQ_INT((int)metrics_head_end(a, strlen(a) - 6), 0);
	CHECK_EQ_INT((int)metrics_head_end("GET / HTTP/1.1\r\n\r", 17), 0);
	CHECK_EQ_INT((int)metrics_head_end("\r\n", 2), 2);
	CHECK_EQ_INT((int)metrics_head_end("", 0), 0);
	/* "\r\r\n" is not an empty line. */
	CHECK_EQ_INT((int)metrics_head_end("A\r\n\r\r\n", 6), 0);
}

static void
test_histogram(void)
{
	static struct metrics_histogram h;

	metrics_observe_us(&h, 0);
	metrics_observe_us(&h, 1000);		/* le 0.001: inclusive */
	metrics_observe_us(&h, 1001);
	metrics_observe_us(&h, 10000000);	/* le 10 */
	metrics_observe_us(&h, 10000001);	/* +Inf only */
	CHECK_EQ_INT((int)atomic_load(&h.bucket[0]), 2);
	CHECK_EQ_INT((int)atomic_load(&h.bucket[1]), 1);
	CHECK_EQ_INT((int)atomic_load(&h.bucket[METRICS_NBOUNDS - 1]), 1);
	CHECK_EQ_INT((int)atomic_load(&h.bucket[METRICS_NBOUNDS]), 1);
	CHECK(atomic_load(&h.sum_us) == 20002002UL);
}

static void
test_refusal_reasons(void)
{
	unsigned long	before[REPLY_REASON_COUNT][2];

	for (int r = 0; r < REPLY_REASON_COUNT; r++)
		for (int k = 0; k < 2; k++)
			before[r][k] = atomic_load(&reply_stats.refused[r][k]);
	reply_count(250, "2.0.0", REPLY_REASON_NONE);	/* not a refusal */
	reply_count(354, NULL, REPLY_REASON_DNSBL);
	reply_count(550, "5.1.1", REPLY_REASON_NONE);
	reply_count(452, "4.3.1", REPLY_REASON_NONE);
	reply_count(554, "5.7.1", REPLY_REASON_DNSBL);
	reply_count(421, "4.7.0", REPLY_REASON_CONNECTION_RATE);
	reply_count(500, NULL, REPLY_REASON_NONE);
	reply_count(501, "5.9.9", REPLY_REASON_NONE);
	reply_count(503, "5.5.1", REPLY_REASON_NONE);
	reply_count(554, "5.7.1", REPLY_REASON_NONE);
#define DELTA(r, k)	(atomic_load(&reply_stats.refused[r][k]) - before[r][k])
	CHECK(DELTA(REPLY_REASON_ADDRESSING, 1) == 1);
	CHECK(DELTA(REPLY_REASON_MAIL_SYSTEM, 0) == 1);
	CHECK(DELTA(REPLY_REASON_DNSBL, 1) == 1);
	CHECK(DELTA(REPLY_REASON_DNSBL, 0) == 0);
	CHECK(DELTA(REPLY_REASON_CONNECTION_RATE, 0) == 1);
	CHECK(DELTA(REPLY_REASON_OTHER, 1) == 2);
	CHECK(DELTA(REPLY_REASON_PROTOCOL, 1) == 1);
	CHECK(DELTA(REPLY_REASON_SECURITY_POLICY, 1) == 1);
	CHECK(DELTA(REPLY_REASON_NONE, 0) == 0 && DELTA(REPLY_REASON_NONE, 1) == 0);
#undef DELTA
	for (int r = 1; r < REPLY_REASON_COUNT; r++)
		CHECK(reply_reason_names[r] != NULL && reply_reason_names[r][0] != '\0');
}

/* line_ok - one exposition line: a comment of HELP or TYPE, or
 * "name[{labels}] value" with a metric name that starts with smtpd_. */
static int
line_ok(const char *l, size_t n)
{
	const char *sp;

	if (n == 0)
		return 0;
	if (l[0] == '#')
		return (n > 7 && memcmp(l, "# HELP smtpd_", 13) == 0) ||
		    (n > 7 && memcmp(l, "# TYPE smtpd_", 13) == 0);
	if (n < 8 || memcmp(l, "smtpd_", 6) != 0)
		return 0;
	if ((sp = memchr(l, ' ', n)) == NULL || sp + 1 >= l + n)
		return 0;
	for (const char *p = sp + 1; p < l + n; p++)
		if (!((*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
			return 0;
	return 1;
}

static void
test_exposition(void)
{
	struct metrics_out o;
	const char	*p, *nl;
	int		 bad = 0, lines = 0;

	memset(&o, 0, sizeof o);
	atomic_fetch_add(&session_stats.recipients, 3);
	metrics_observe_us(&session_stats.commit_time, 3000);
	metrics_reloaded(0);
	metrics_write(&o);
	REQUIRE(!o.failed && o.len > 0 && o.buf[o.len - 1] == '\n');
	CHECK(strlen(o.buf) == o.len);
	for (p = o.buf; p < o.buf + o.len; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(o.buf + o.len - p));
		REQUIRE(nl != NULL);
		lines++;
		if (!line_ok(p, (size_t)(nl - p))) {
			if (bad++ == 0)
				printf("#   bad line: %.*s\n", (int)(nl - p), p);
		}
	}
	CHECK_EQ_INT(bad, 0);
	CHECK(lines > 50);
	CHECK(strstr(o.buf, "\nsmtpd_recipients_accepted_total 3\n") != NULL);
	CHECK(strstr(o.buf, "# TYPE smtpd_refusals_total counter\n") != NULL);
	CHECK(strstr(o.buf, "smtpd_refusals_total{reason=\"dnsbl\",class=\"5xx\"} ") != NULL);
	CHECK(strstr(o.buf, "# TYPE smtpd_delivery_duration_seconds histogram\n") != NULL);
	CHECK(strstr(o.buf, "smtpd_delivery_duration_seconds_bucket{le=\"0.0025\"} 0\n") != NULL);
	CHECK(strstr(o.buf, "smtpd_delivery_duration_seconds_bucket{le=\"0.005\"} 1\n") != NULL);
	CHECK(strstr(o.buf, "smtpd_delivery_duration_seconds_bucket{le=\"+Inf\"} 1\n") != NULL);
	CHECK(strstr(o.buf, "smtpd_delivery_duration_seconds_count 1\n") != NULL);
	CHECK(strstr(o.buf, "smtpd_delivery_duration_seconds_sum 0.003000\n") != NULL);
	CHECK(strstr(o.buf, "smtpd_config_reloads_total{result=\"failure\"} 1\n") != NULL);
	CHECK(strstr(o.buf, "smtpd_config_last_reload_successful 0\n") != NULL);
	CHECK(strstr(o.buf, "smtpd_build_info{version=\"" SMTPD_VERSION "\"} 1\n") != NULL);
	/* Each family's HELP and TYPE once. */
	{
		const char *first = strstr(o.buf, "# HELP smtpd_dnsbl_lookups_total");
		REQUIRE(first != NULL);
		CHECK(strstr(first + 1, "# HELP smtpd_dnsbl_lookups_total") == NULL);
	}
	/* Written again into the same buffer: the same length or more. */
	metrics_reloaded(1);
	metrics_write(&o);
	CHECK(!o.failed);
	CHECK(strstr(o.buf, "smtpd_config_last_reload_successful 1\n") != NULL);
	metrics_out_free(&o);
}

static void
test_config(void)
{
	struct config	 cf;
	FILE		*fp, *err;
	char		 buf[2048];
	char		*ebuf = NULL;
	size_t		 elen = 0;
	static const char base[] = "listen 127.0.0.1:25\ndomain example.org\n"
	    "maildir /tmp/x/%d/%u\n";

	snprintf(buf, sizeof buf, "%smetrics [::1]:9125\n", base);
	REQUIRE((fp = fmemopen(buf, strlen(buf), "r")) != NULL);
	CHECK_EQ_INT(config_parse(fp, "t", &cf, NULL), 0);
	fclose(fp);
	CHECK_STR(cf.metrics.host, "::1");
	CHECK_EQ_INT(cf.metrics.port, 9125);
	config_empty(&cf);

	snprintf(buf, sizeof buf, "%smetrics *:9125\n", base);
	REQUIRE((fp = fmemopen(buf, strlen(buf), "r")) != NULL);
	CHECK_EQ_INT(config_parse(fp, "t", &cf, NULL), 0);
	fclose(fp);
	CHECK_STR(cf.metrics.host, "*");
	config_empty(&cf);

	snprintf(buf, sizeof buf, "%s", base);
	REQUIRE((fp = fmemopen(buf, strlen(buf), "r")) != NULL);
	CHECK_EQ_INT(config_parse(fp, "t", &cf, NULL), 0);
	fclose(fp);
	CHECK_EQ_INT(cf.metrics.port, 0);	/* off unless configured */
	config_empty(&cf);

	snprintf(buf, sizeof buf, "%smetrics 127.0.0.1:9125\nmetrics 127.0.0.1:9126\n"
	    "metrics localhost:9125\nmetrics 127.0.0.1\nmetrics 127.0.0.1:0\n"
	    "metrics [::1:9125\nmetrics 127.0.0.1:9125 proxy\n", base);
	REQUIRE((fp = fmemopen(buf, strlen(buf), "r")) != NULL);
	REQUIRE((err = open_memstream(&ebuf, &elen)) != NULL);
	CHECK_EQ_INT(config_parse(fp, "t", &cf, err), -1);
	fclose(fp);
	fclose(err);
	CHECK(strstr(ebuf, "t:5: metrics: given twice") != NULL);
	CHECK(strstr(ebuf, "t:6: ") != NULL);
	CHECK(strstr(ebuf, "t:7: ") != NULL);
	CHECK(strstr(ebuf, "t:8: ") != NULL);
	CHECK(strstr(ebuf, "t:9: ") != NULL);
	CHECK(strstr(ebuf, "t:10: ") != NULL);
	free(ebuf);
	config_empty(&cf);
}

int
main(void)
{
	RUN(test_get_metrics);
	RUN(test_not_found);
	RUN(test_method);
	RUN(test_garbage);
	RUN(test_head_end);
	RUN(test_histogram);
	RUN(test_refusal_reasons);
	RUN(test_exposition);
	RUN(test_config);
	return unit_done();
}
