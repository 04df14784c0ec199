/*
 * test_dns.c - DNS answer parsing and RFC 5782 names (src/dns.c).
 */
#include <arpa/nameser.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns.h"
#include "unit.h"

/* The question of "2.0.0.127.bl.test" A, after a 12-byte header. */
static const unsigned char question[] = {
	1, '2', 1, '0', 1, '0', 3, '1', '2', '7', 2, 'b', 'l', 4, 't', 'e', 's', 't', 0,
	0, 1, 0, 1
};

/* packet - a response: header (id 0x1234, flags), the question, then
 * ancount A records 127.0.0.(2+i) with ttl, pointing at the question. */
static size_t
packet(unsigned char *p, unsigned flags, int ancount, unsigned ttl)
{
	size_t	n = 0;

	p[n++] = 0x12; p[n++] = 0x34;
	p[n++] = (unsigned char)(flags >> 8); p[n++] = (unsigned char)flags;
	p[n++] = 0; p[n++] = 1;
	p[n++] = 0; p[n++] = (unsigned char)ancount;
	p[n++] = 0; p[n++] = 0; p[n++] = 0; p[n++] = 0;
	memcpy(p + n, question, sizeof question);
	n += sizeof question;
	for (int i = 0; i < ancount; i++) {
		unsigned char rr[] = { 0xc0, 12, 0, 1, 0, 1,
		    (unsigned char)(ttl >> 24), (unsigned char)(ttl >> 16),
		    (unsigned char)(ttl >> 8), (unsigned char)ttl, 0, 4,
		    127, 0, 0, (unsigned char)(2 + i) };
		memcpy(p + n, rr, sizeof rr);
		n += sizeof rr;
	}
	return n;
}

/* parse - dns_parse_answer on an exact heap copy (for ASan). */
static int
parse(const unsigned char *p, size_t n, int qtype, struct dns_answer *a)
{
	unsigned char *copy = malloc(n ? n : 1);
	const char *why;
	int	 rc;

	if (copy == NULL)
		abort();
	memcpy(copy, p, n);
	rc = dns_parse_answer(copy, n, qtype, a, &why);
	free(copy);
	return rc;
}

static void
test_answers(void)
{
	unsigned char	 p[512];
	struct dns_answer a;
	size_t		 n = packet(p, 0x8180, 2, 300);

	REQUIRE(parse(p, n, ns_t_a, &a) == 0);
	CHECK_EQ_INT(a.id, 0x1234);
	CHECK_EQ_INT(a.rcode, 0);
	CHECK_STR(a.qname, "2.0.0.127.bl.test");
	CHECK_EQ_INT(a.naddr, 2);
	CHECK(memcmp(a.addr[0], "\x7f\0\0\x02", 4) == 0);
	CHECK(memcmp(a.addr[1], "\x7f\0\0\x03", 4) == 0);
	CHECK_EQ_INT(a.ttl, 300);
	/* Asked for AAAA, the A records do not count. */
	REQUIRE(parse(p, n, ns_t_aaaa, &a) == 0);
	CHECK_EQ_INT(a.naddr, 0);
	/* NXDOMAIN, SERVFAIL. */
	n = packet(p, 0x8183, 0, 0);
	REQUIRE(parse(p, n, ns_t_a, &a) == 0);
	CHECK_EQ_INT(a.rcode, ns_r_nxdomain);
	n = packet(p, 0x8182, 0, 0);
	REQUIRE(parse(p, n, ns_t_a, &a) == 0);
	CHECK_EQ_INT(a.rcode, ns_r_servfail);
}

static void
test_bad_packets(void)
{
	unsigned char	 p[512];
	struct dns_answer a;
	size_t		 n = packet(p, 0x8180, 1, 60);

	/* Every truncation is refused or parsed, never read past. */
	for (size_t i = 0; i < n; i++)
		CHECK(parse(p, i, ns_t_a, &a) == -1);
	CHECK(parse(p, n, ns_t_a, &a) == 0);
	n = packet(p, 0x0100, 1, 60);		/* a query, not a response */
	CHECK(parse(p, n, ns_t_a, &a) == -1);
	n = packet(p, 0x8380, 1, 60);		/* TC set */
	CHECK(parse(p, n, ns_t_a, &a) == -1);
	n = packet(p, 0x8180, 1, 60);
	p[n - 5] = 5;				/* rdlength 5 for an A */
	CHECK(parse(p, n, ns_t_a, &a) == -1);
	n = packet(p, 0x8180, 1, 60);
	p[7] = 9;				/* more answers than there are */
	CHECK(parse(p, n, ns_t_a, &a) == -1);
	n = packet(p, 0x8180, 1, 60);
	p[n - 16] = 0xc0; p[n - 15] = 200;	/* a pointer past the end */
	{
		int rc = parse(p, n, ns_t_a, &a);
		CHECK(rc == -1 || rc == 0);
	}
}

static void
test_reverse_names(void)
{
	unsigned char	 a[16] = { 192, 0, 2, 99 };
	unsigned char	 b[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x1 };
	char		 buf[DNS_NAME_MAX];

	REQUIRE(dns_reverse_name(AF_INET, a, "zen.spamhaus.org", buf, sizeof buf) == 0);
	CHECK_STR(buf, "99.2.0.192.zen.spamhaus.org");
	/* RFC 5782 2.4: 2001:db8::1 as 32 nibbles, the last first. */
	REQUIRE(dns_reverse_name(AF_INET6, b, "bl.test", buf, sizeof buf) == 0);
	CHECK_STR(buf, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test");
	CHECK(dns_reverse_name(AF_INET, a, "x.test", buf, 10) == -1);
	CHECK(dns_reverse_name(AF_UNSPEC, a, "x.test", buf, sizeof buf) == -1);
}

int
main(void)
{
	RUN(test_answers);
	RUN(test_bad_packets);
	RUN(test_reverse_names);
	return unit_done();
}
