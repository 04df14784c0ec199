/*
 * test_proxy.c - PROXY protocol v1/v2 header parsing (src/proxy.c).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy.h"
#include "unit.h"

static const unsigned char sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* pp - proxy_parse on a heap copy of exactly len bytes (for ASan). */
static int
pp(const void *buf, size_t len, struct sockaddr_storage *ss, const char **why)
{
	char	*copy = malloc(len ? len : 1);
	int	 rc;

	if (copy == NULL)
		abort();
	memcpy(copy, buf, len);
	memset(ss, 0xa5, sizeof *ss);
	*why = NULL;
	rc = proxy_parse(copy, len, ss, why);
	free(copy);
	return rc;
}

static int
pps(const char *s, struct sockaddr_storage *ss, const char **why)
{
	return pp(s, strlen(s), ss, why);
}

/* is4 / is6 - the address and port in ss. */
static int
is4(const struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	struct in_addr a;

	inet_pton(AF_INET, addr, &a);
	return ss->ss_family == AF_INET && sin->sin_addr.s_addr == a.s_addr &&
	    ntohs(sin->sin_port) == port;
}

static int
is6(const struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	struct in6_addr a;

	inet_pton(AF_INET6, addr, &a);
	return ss->ss_family == AF_INET6 &&
	    memcmp(&sin6->sin6_addr, &a, sizeof a) == 0 &&
	    ntohs(sin6->sin6_port) == port;
}

/* prefixes_need_more - every proper prefix of buf asks for more bytes. */
static int
prefixes_need_more(const void *buf, size_t len)
{
	struct sockaddr_storage ss;
	const char *why;

	for (size_t i = 0; i < len; i++)
		if (pp(buf, i, &ss, &why) != 0) {
			printf("#   prefix of %zu bytes\n", i);
			return 0;
		}
	return 1;
}

/* ---- version 1 ---- */

static void
test_v1_tcp4(void)
{
	const char *h = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n";
	struct sockaddr_storage ss;
	const char *why;
	char	buf[200];

	CHECK_EQ_INT(pps(h, &ss, &why), (int)strlen(h));
	CHECK(is4(&ss, "192.0.2.1", 56324));
	/* Bytes after the header are not part of it. */
	snprintf(buf, sizeof buf, "%sEHLO client.example\r\n", h);
	CHECK_EQ_INT(pps(buf, &ss, &why), (int)strlen(h));
	CHECK(is4(&ss, "192.0.2.1", 56324));
	CHECK_EQ_INT(pps("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", &ss, &why), 44);
	CHECK(is4(&ss, "0.0.0.0", 0));
	CHECK(prefixes_need_more(h, strlen(h)));
}

static void
test_v1_tcp6(void)
{
	const char *h = "PROXY TCP6 2001:db8::1 2001:db8::2 4000 25\r\n";
	struct sockaddr_storage ss;
	const char *why;

	CHECK_EQ_INT(pps(h, &ss, &why), (int)strlen(h));
	CHECK(is6(&ss, "2001:db8::1", 4000));
	CHECK(pps("PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n", &ss, &why) > 0);
	CHECK(is6(&ss, "::ffff:192.0.2.1", 1));
	CHECK(prefixes_need_more(h, strlen(h)));
	/* The longest line the specification allows: 107 bytes. */
	{
		const char *l = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
		CHECK_EQ_INT(strlen(l), 104);
		CHECK_EQ_INT(pps(l, &ss, &why), 104);
		CHECK(is6(&ss, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535));
	}
}

static void
test_v1_unknown(void)
{
	struct sockaddr_storage ss;
	const char *why;

	CHECK_EQ_INT(pps("PROXY UNKNOWN\r\n", &ss, &why), 15);
	CHECK_EQ_INT(ss.ss_family, AF_UNSPEC);
	CHECK_EQ_INT(pps("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nQUIT\r\n", &ss, &why), 35);
	CHECK_EQ_INT(ss.ss_family, AF_UNSPEC);
	CHECK_EQ_INT(pps("PROXY UNKNOWN whatever\r\n", &ss, &why), 24);
}

static void
test_v1_partial(void)
{
	struct sockaddr_storage ss;
	const char *why;

	CHECK_EQ_INT(pp("", 0, &ss, &why), 0);
	CHECK_EQ_INT(pps("P", &ss, &why), 0);
	CHECK_EQ_INT(pps("PROXY", &ss, &why), 0);
	CHECK_EQ_INT(pps("PROXY ", &ss, &why), 0);
	CHECK_EQ_INT(pps("PROXY TCP4 192.0.2.1", &ss, &why), 0);
	CHECK_EQ_INT(pps("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r", &ss, &why), 0);
	/* 106 bytes without LF: could still become a line. */
	{
		char	b[200];
		memset(b, 'x', sizeof b);
		memcpy(b, "PROXY ", 6);
		CHECK_EQ_INT(pp(b, PROXY_V1_MAX - 1, &ss, &why), 0);
	}
}

static void
test_v1_bad(void)
{
	static const char *const bad[] = {
		"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",	/* 5 fields */
		"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25 x\r\n",
		"PROXY TCP5 192.0.2.1 198.51.100.2 56324 25\r\n",
		"PROXY tcp4 192.0.2.1 198.51.100.2 56324 25\r\n",
		"PROXY TCP4 2001:db8::1 198.51.100.2 56324 25\r\n",
		"PROXY TCP4 192.0.2.1 2001:db8::2 56324 25\r\n",
		"PROXY TCP6 192.0.2.1 2001:db8::2 56324 25\r\n",
		"PROXY TCP6 2001:db8::1 192.0.2.1 56324 25\r\n",
		"PROXY TCP4 192.0.2 198.51.100.2 56324 25\r\n",
		"PROXY TCP4 192.0.2.256 198.51.100.2 56324 25\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 65536 25\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 56324 65536\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 -1 25\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 +1 25\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 1x 25\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 123456 25\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2  25\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\n",	/* LF only */
		"PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\r\n",
		"PROXY \r\n",
		"PROXY\r\n",
		"PROXY TCP4\r\n",
		"PROXYTCP4 192.0.2.1 198.51.100.2 56324 25\r\n",
		"proxy TCP4 192.0.2.1 198.51.100.2 56324 25\r\n",
		" PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n",
		"EHLO client.example\r\n",
		"GET / HTTP/1.0\r\n",
		"\r\nX",			/* not the v2 signature */
		"\n",
		"X",
	};
	struct sockaddr_storage ss;
	const char *why;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (!CHECK_EQ_INT(pps(bad[i], &ss, &why), -1))
			printf("#   input %zu\n", i);
		else
			CHECK(why != NULL && why[0] != '\0');
	}
}

/* The specification: fields separated by exactly one space, and the
 * line ends right after the last port. */
static void
test_v1_single_spaces(void)
{
	struct sockaddr_storage ss;
	const char *why;

	CHECK_EQ_INT(pps("PROXY  TCP4 192.0.2.1 198.51.100.2 56324 25\r\n", &ss, &why), -1);
	CHECK_EQ_INT(pps("PROXY TCP4 192.0.2.1  198.51.100.2 56324 25\r\n", &ss, &why), -1);
	CHECK_EQ_INT(pps("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25 \r\n", &ss, &why), -1);
}

static void
test_v1_too_long(void)
{
	struct sockaddr_storage ss;
	const char *why;
	char	b[300];

	memset(b, 'x', sizeof b);
	memcpy(b, "PROXY ", 6);
	CHECK_EQ_INT(pp(b, PROXY_V1_MAX, &ss, &why), -1);
	CHECK_STR(why, "PROXY v1 line too long");
	CHECK_EQ_INT(pp(b, sizeof b, &ss, &why), -1);
	/* A line whose LF is byte 108 is too long too. */
	memcpy(b + PROXY_V1_MAX, "\r\n", 2);
	CHECK_EQ_INT(pp(b, PROXY_V1_MAX + 2, &ss, &why), -1);
	CHECK_STR(why, "PROXY v1 line too long");
	/* Long UNKNOWN line: 107 bytes fine, 108 not. */
	memset(b, 'x', sizeof b);
	memcpy(b, "PROXY UNKNOWN ", 14);
	memcpy(b + PROXY_V1_MAX - 2, "\r\n", 2);
	CHECK_EQ_INT(pp(b, PROXY_V1_MAX, &ss, &why), PROXY_V1_MAX);
	memset(b, 'x', sizeof b);
	memcpy(b, "PROXY UNKNOWN ", 14);
	memcpy(b + PROXY_V1_MAX - 1, "\r\n", 2);
	CHECK_EQ_INT(pp(b, PROXY_V1_MAX + 1, &ss, &why), -1);
}

/* ---- version 2 ---- */

/* v2 - build a header: ver_cmd, fam, then the address block. */
static size_t
v2(unsigned char *b, unsigned ver_cmd, unsigned fam, const void *addr,
    size_t alen)
{
	memcpy(b, sig, 12);
	b[12] = (unsigned char)ver_cmd;
	b[13] = (unsigned char)fam;
	b[14] = (unsigned char)(alen >> 8);
	b[15] = (unsigned char)(alen & 0xff);
	if (alen)
		memcpy(b + 16, addr, alen);
	return 16 + alen;
}

static void
test_v2_ipv4(void)
{
	unsigned char b[600], a[40];
	struct sockaddr_storage ss;
	const char *why;
	size_t	n;

	inet_pton(AF_INET, "192.0.2.1", a);
	inet_pton(AF_INET, "198.51.100.2", a + 4);
	a[8] = 56324 >> 8;
	a[9] = 56324 & 0xff;
	a[10] = 0;
	a[11] = 25;
	n = v2(b, 0x21, 0x11, a, 12);
	CHECK_EQ_INT(n, 28);
	CHECK_EQ_INT(pp(b, n, &ss, &why), 28);
	CHECK(is4(&ss, "192.0.2.1", 56324));
	CHECK(prefixes_need_more(b, n));
	/* With the SMTP bytes that follow. */
	memcpy(b + n, "EHLO x\r\n", 8);
	CHECK_EQ_INT(pp(b, n + 8, &ss, &why), 28);
	/* TLVs after the addresses are skipped. */
	memset(a + 12, 0x04, 8);	/* PP2_TYPE_NOOP, length 0x0404: as bytes only */
	n = v2(b, 0x21, 0x11, a, 20);
	CHECK_EQ_INT(pp(b, n, &ss, &why), 36);
	CHECK(is4(&ss, "192.0.2.1", 56324));
}

static void
test_v2_ipv6(void)
{
	unsigned char b[600], a[40];
	struct sockaddr_storage ss;
	const char *why;
	size_t	n;

	inet_pton(AF_INET6, "2001:db8::1", a);
	inet_pton(AF_INET6, "2001:db8::2", a + 16);
	a[32] = 4000 >> 8;
	a[33] = 4000 & 0xff;
	a[34] = 0;
	a[35] = 25;
	n = v2(b, 0x21, 0x21, a, 36);
	CHECK_EQ_INT(n, 52);
	CHECK_EQ_INT(pp(b, n, &ss, &why), 52);
	CHECK(is6(&ss, "2001:db8::1", 4000));
	CHECK(prefixes_need_more(b, n));
}

static void
test_v2_local(void)
{
	unsigned char b[600], a[40];
	struct sockaddr_storage ss;
	const char *why;
	size_t	n;

	n = v2(b, 0x20, 0x00, NULL, 0);
	CHECK_EQ_INT(pp(b, n, &ss, &why), 16);
	CHECK_EQ_INT(ss.ss_family, AF_UNSPEC);
	CHECK(prefixes_need_more(b, n));
	/* LOCAL ignores the family and any address block. */
	memset(a, 0, sizeof a);
	n = v2(b, 0x20, 0x11, a, 12);
	CHECK_EQ_INT(pp(b, n, &ss, &why), 28);
	CHECK_EQ_INT(ss.ss_family, AF_UNSPEC);
	n = v2(b, 0x20, 0x31, a, 5);
	CHECK_EQ_INT(pp(b, n, &ss, &why), 21);
	CHECK_EQ_INT(ss.ss_family, AF_UNSPEC);
	/* PROXY with AF_UNSPEC: keep the socket's address. */
	n = v2(b, 0x21, 0x00, NULL, 0);
	CHECK_EQ_INT(pp(b, n, &ss, &why), 16);
	CHECK_EQ_INT(ss.ss_family, AF_UNSPEC);
}

static void
test_v2_truncated(void)
{
	unsigned char b[600], a[40] = { 0 };
	struct sockaddr_storage ss;
	const char *why;
	size_t	n = v2(b, 0x21, 0x21, a, 36);

	for (size_t i = 0; i < n; i++)
		if (!CHECK_EQ_INT(pp(b, i, &ss, &why), 0))
			printf("#   %zu bytes\n", i);
	/* Up to 536 bytes of address block are waited for. */
	n = v2(b, 0x21, 0x11, a, 0);
	b[14] = 536 >> 8;
	b[15] = 536 & 0xff;
	CHECK_EQ_INT(pp(b, 16, &ss, &why), 0);
	CHECK_EQ_INT(pp(b, 16 + 535, &ss, &why), 0);
	/* ... more is refused at once. */
	b[14] = 537 >> 8;
	b[15] = 537 & 0xff;
	CHECK_EQ_INT(pp(b, 16, &ss, &why), -1);
	CHECK_STR(why, "PROXY v2: header too long");
	b[14] = 0xff;
	b[15] = 0xff;
	CHECK_EQ_INT(pp(b, 16, &ss, &why), -1);
}

static void
test_v2_bad(void)
{
	unsigned char b[600], a[40] = { 0 };
	struct sockaddr_storage ss;
	const char *why;
	size_t	n;

	n = v2(b, 0x11, 0x11, a, 12);		/* version 1 */
	CHECK_EQ_INT(pp(b, n, &ss, &why), -1);
	CHECK_STR(why, "PROXY v2: bad version");
	n = v2(b, 0x31, 0x11, a, 12);		/* version 3 */
	CHECK_EQ_INT(pp(b, n, &ss, &why), -1);
	CHECK_STR(why, "PROXY v2: bad version");
	n = v2(b, 0x01, 0x11, a, 12);
	CHECK_EQ_INT(pp(b, n, &ss, &why), -1);
	CHECK_EQ_INT(pp(b, 16, &ss, &why), -1);	/* known at 16 bytes */
	n = v2(b, 0x22, 0x11, a, 12);		/* command 2 */
	CHECK_EQ_INT(pp(b, n, &ss, &why), -1);
	CHECK_STR(why, "PROXY v2: bad command");
	n = v2(b, 0x2f, 0x11, a, 12);
	CHECK_EQ_INT(pp(b, n, &ss, &why), -1);
	n = v2(b, 0x21, 0x12, a, 12);		/* UDP over IPv4 */
	CHECK_EQ_INT(pp(b, n, &ss, &why), -1);
	CHECK_STR(why, "PROXY v2: unsupported address family");
	n = v2(b, 0x21, 0x22, a, 36);		/* UDP over IPv6 */
	CHECK_EQ_INT(pp(b, n, &ss, &why), -1);
	n = v2(b, 0x21, 0x31, a, 40);		/* AF_UNIX stream (216 wanted) */
	CHECK_EQ_INT(pp(b, n, &ss, &why), -1);
	n = v2(b, 0x21, 0x41, a, 12);
	CHECK_EQ_INT(pp(b, n, &ss, &why), -1);
	n = v2(b, 0x21, 0x11, a, 11);		/* short IPv4 block */
	CHECK_EQ_INT(pp(b, n, &ss, &why), -1);
	CHECK_STR(why, "PROXY v2: address block too short");
	n = v2(b, 0x21, 0x11, a, 0);
	CHECK_EQ_INT(pp(b, n, &ss, &why), -1);
	n = v2(b, 0x21, 0x21, a, 35);		/* short IPv6 block */
	CHECK_EQ_INT(pp(b, n, &ss, &why), -1);
	CHECK_EQ_INT(pp(b, n + 1, &ss, &why), -1);	/* a byte after: still short */
	n = v2(b, 0x21, 0x21, a, 12);
	CHECK_EQ_INT(pp(b, n, &ss, &why), -1);
	/* A damaged signature is not v2, nor v1. */
	n = v2(b, 0x21, 0x11, a, 12);
	b[11] = 0x0b;
	CHECK_EQ_INT(pp(b, n, &ss, &why), -1);
	CHECK_STR(why, "not a PROXY header");
	n = v2(b, 0x21, 0x11, a, 12);
	b[0] = 0x0a;
	CHECK_EQ_INT(pp(b, n, &ss, &why), -1);
	b[0] = 0x0d;
	b[4] = 0x01;
	CHECK_EQ_INT(pp(b, 5, &ss, &why), -1);	/* wrong already at 5 bytes */
}

/*
 * The size limit on the address block must not depend on how the
 * header arrived: refused when it is incomplete (see test_v2_truncated),
 * so refused when it came in one piece too.
 */
static void
test_v2_too_long_complete(void)
{
	unsigned char *b = calloc(1, 16 + 600);
	struct sockaddr_storage ss;
	const char *why;
	size_t	n;

	REQUIRE(b != NULL);
	n = v2(b, 0x21, 0x11, b + 16, 600);
	CHECK_EQ_INT(pp(b, 16, &ss, &why), -1);
	CHECK_EQ_INT(pp(b, n, &ss, &why), -1);
	free(b);
}

int
main(void)
{
	RUN(test_v1_tcp4);
	RUN(test_v1_tcp6);
	RUN(test_v1_unknown);
	RUN(test_v1_partial);
	RUN(test_v1_bad);
	RUN(test_v1_single_spaces);
	RUN(test_v1_too_long);
	RUN(test_v2_ipv4);
	RUN(test_v2_ipv6);
	RUN(test_v2_local);
	RUN(test_v2_truncated);
	RUN(test_v2_bad);
	RUN(test_v2_too_long_complete);
	return unit_done();
}
