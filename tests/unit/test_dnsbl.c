/*
 * test_dnsbl.c - the dnsbl directive's spec and the answer filter
 * (src/dnsbl.c).
 */
#include <string.h>

#include "dnsbl.h"
#include "unit.h"

static const unsigned char *
ip(unsigned a, unsigned b, unsigned c, unsigned d)
{
	static unsigned char x[4];

	x[0] = (unsigned char)a; x[1] = (unsigned char)b;
	x[2] = (unsigned char)c; x[3] = (unsigned char)d;
	return x;
}

/* roundtrip - s parses, formats as want, and that parses the same. */
static int
roundtrip(const char *s, const char *want)
{
	struct dnsbl_list l, l2;
	const char *why = NULL;
	char	 buf[DNSBL_SPEC_MAX];

	if (dnsbl_parse_spec(s, &l, &why) == -1) {
		printf("#   %s: %s\n", s, why);
		return 0;
	}
	if (dnsbl_format_spec(&l, buf, sizeof buf) == -1 || strcmp(buf, want) != 0) {
		printf("#   %s printed as %s\n", s, buf);
		return 0;
	}
	if (dnsbl_parse_spec(buf, &l2, &why) == -1 || memcmp(&l, &l2, sizeof l) != 0) {
		printf("#   %s does not parse back the same\n", buf);
		return 0;
	}
	return 1;
}

static int
bad(const char *s)
{
	struct dnsbl_list l;
	const char *why = NULL;

	if (dnsbl_parse_spec(s, &l, &why) != -1) {
		printf("#   \"%s\" accepted\n", s);
		return 0;
	}
	return why != NULL && why[0] != '\0';
}

static void
test_plain(void)
{
	struct dnsbl_list l;
	const char *why;

	REQUIRE(dnsbl_parse_spec("Zen.Spamhaus.org", &l, &why) == 0);
	CHECK_STR(l.zone, "zen.spamhaus.org");
	CHECK_EQ_INT(l.weight, 1);
	CHECK_EQ_INT(l.nanswers, 0);
	REQUIRE(dnsbl_parse_spec("zen.spamhaus.org.*3", &l, &why) == 0);
	CHECK_STR(l.zone, "zen.spamhaus.org");
	CHECK_EQ_INT(l.weight, 3);
}

static void
test_answers_and_weights(void)
{
	struct dnsbl_list l;
	const char *why;

	REQUIRE(dnsbl_parse_spec("b.barracudacentral.org=127.0.0.2*2", &l, &why) == 0);
	CHECK_EQ_INT(l.nanswers, 1);
	CHECK_EQ_INT(l.weight, 2);
	CHECK(dnsbl_match(&l, ip(127, 0, 0, 2)));
	CHECK(!dnsbl_match(&l, ip(127, 0, 0, 3)));
	REQUIRE(dnsbl_parse_spec("list.dnswl.org=127.0.[0..255].[1..3]*-2", &l, &why) == 0);
	CHECK_EQ_INT(l.weight, -2);
	CHECK(dnsbl_match(&l, ip(127, 0, 9, 1)));
	CHECK(dnsbl_match(&l, ip(127, 0, 255, 3)));
	CHECK(!dnsbl_match(&l, ip(127, 0, 9, 0)));
	CHECK(!dnsbl_match(&l, ip(127, 0, 9, 4)));
	REQUIRE(dnsbl_parse_spec("x.test=127.0.0.[2..11],127.0.1.20", &l, &why) == 0);
	CHECK_EQ_INT(l.nanswers, 2);
	CHECK(dnsbl_match(&l, ip(127, 0, 0, 11)));
	CHECK(dnsbl_match(&l, ip(127, 0, 1, 20)));
	CHECK(!dnsbl_match(&l, ip(127, 0, 0, 12)));
	CHECK(!dnsbl_match(&l, ip(127, 0, 1, 21)));
}

static void
test_default_filter(void)
{
	struct dnsbl_list l;
	const char *why;

	REQUIRE(dnsbl_parse_spec("x.test", &l, &why) == 0);
	CHECK(dnsbl_match(&l, ip(127, 0, 0, 2)));
	CHECK(dnsbl_match(&l, ip(127, 1, 2, 3)));
	CHECK(!dnsbl_match(&l, ip(128, 0, 0, 2)));
	CHECK(!dnsbl_match(&l, ip(10, 0, 0, 2)));
	/* 127.255.255.0/24 is a refusal, never a listing, even if asked. */
	CHECK(!dnsbl_match(&l, ip(127, 255, 255, 254)));
	CHECK(dnsbl_refusal(ip(127, 255, 255, 254)));
	CHECK(dnsbl_refusal(ip(127, 255, 255, 0)));
	CHECK(!dnsbl_refusal(ip(127, 255, 254, 1)));
	REQUIRE(dnsbl_parse_spec("x.test=127.[0..255].[0..255].[0..255]", &l, &why) == 0);
	CHECK(!dnsbl_match(&l, ip(127, 255, 255, 252)));
}

static void
test_roundtrip(void)
{
	CHECK(roundtrip("zen.spamhaus.org", "zen.spamhaus.org"));
	CHECK(roundtrip("zen.spamhaus.org*1", "zen.spamhaus.org"));
	CHECK(roundtrip("zen.spamhaus.org*-7", "zen.spamhaus.org*-7"));
	CHECK(roundtrip("a.test=127.0.0.[2..11],127.0.0.20*3",
	    "a.test=127.0.0.[2..11],127.0.0.20*3"));
	CHECK(roundtrip("a.test=127.0.0.[4..4]", "a.test=127.0.0.4"));
}

static void
test_bad(void)
{
	CHECK(bad(""));
	CHECK(bad("*3"));
	CHECK(bad("=127.0.0.2"));
	CHECK(bad("zen..org"));
	CHECK(bad("zen.org*"));
	CHECK(bad("zen.org*x"));
	CHECK(bad("zen.org*3x"));
	CHECK(bad("zen.org*-"));
	CHECK(bad("zen.org*1001"));
	CHECK(bad("zen.org*-1001"));
	CHECK(bad("zen.org*99999999999999999999"));
	CHECK(bad("zen.org="));
	CHECK(bad("zen.org=127.0.0"));
	CHECK(bad("zen.org=127.0.0.256"));
	CHECK(bad("zen.org=127.0.0.2,"));
	CHECK(bad("zen.org=127.0.0.2,,127.0.0.3"));
	CHECK(bad("zen.org=127.0.0.[3..2]"));
	CHECK(bad("zen.org=127.0.0.[3..]"));
	CHECK(bad("zen.org=127.0.0.[3.4]"));
	CHECK(bad("zen.org=127.0.0.[3..4"));
	CHECK(bad("zen.org=127.0.0.2.5"));
	CHECK(bad("zen.org=0127.0.0.2"));
	CHECK(bad("[127.0.0.1]"));
	CHECK(bad("zen org"));
	CHECK(bad("zen.org=1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5,6.6.6.6,"
	    "7.7.7.7,8.8.8.8,9.9.9.9,10.10.10.10,11.11.11.11,12.12.12.12,"
	    "13.13.13.13,14.14.14.14,15.15.15.15,16.16.16.16,17.17.17.17"));
}

int
main(void)
{
	RUN(test_plain);
	RUN(test_answers_and_weights);
	RUN(test_default_filter);
	RUN(test_roundtrip);
	RUN(test_bad);
	return unit_done();
}
