/*
 * test_xclient.c - the XCLIENT command's arguments (src/xclient.c):
 * attribute=xtext pairs, [UNAVAILABLE]/[TEMPUNAVAIL], IPV6:, bounds.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "unit.h"
#include "xclient.h"

/* parse - xclient_parse on a heap copy (for ASan); 0 or -1. */
static int
parse(const char *args, struct xclient *x, const char **why)
{
	char	*copy = strdup(args);
	int	 rc;

	if (copy == NULL)
		abort();
	*why = NULL;
	rc = xclient_parse(copy, x, why);
	free(copy);
	return rc;
}

/* is4 / is6 - the address and port in ss. */
static int
is4(const struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)ss;
	struct in_addr a;

	inet_pton(AF_INET, addr, &a);
	return ss->ss_family == AF_INET && sin->sin_addr.s_addr == a.s_addr &&
	    ntohs(sin->sin_port) == port;
}

static int
is6(const struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)ss;
	struct in6_addr a;

	inet_pton(AF_INET6, addr, &a);
	return ss->ss_family == AF_INET6 &&
	    memcmp(&sin6->sin6_addr, &a, sizeof a) == 0 &&
	    ntohs(sin6->sin6_port) == port;
}

/* What nginx 1.22 sends (captured): ADDR and NAME in one command. */
static void
test_nginx_command(void)
{
	struct xclient x;
	const char *why;

	REQUIRE(parse("ADDR=127.0.0.2 NAME=[UNAVAILABLE]", &x, &why) == 0);
	CHECK_EQ_INT(x.given, XCLIENT_ADDR | XCLIENT_NAME);
	CHECK(is4(&x.addr, "127.0.0.2", 0));
	CHECK_STR(x.name, "");
	CHECK_EQ_INT(x.name_temp, 0);
	CHECK_EQ_INT(x.port, -1);
}

static void
test_every_attribute(void)
{
	struct xclient x;
	const char *why;

	REQUIRE(parse("NAME=mail.example.net ADDR=192.0.2.1 PORT=40001 "
	    "HELO=mail.example.net PROTO=ESMTP LOGIN=alice DESTADDR=198.51.100.2 "
	    "DESTPORT=25", &x, &why) == 0);
	CHECK_EQ_INT(x.given, 0xff);
	CHECK_STR(x.name, "mail.example.net");
	CHECK(is4(&x.addr, "192.0.2.1", 0));
	CHECK_EQ_INT(x.port, 40001);
	CHECK_STR(x.helo, "mail.example.net");
	CHECK_EQ_INT(x.esmtp, 1);
	CHECK_STR(x.login, "alice");
	CHECK(is4(&x.destaddr, "198.51.100.2", 0));
	CHECK_EQ_INT(x.destport, 25);
}

/* Names of attributes, [UNAVAILABLE], IPV6: and PROTO in any case. */
static void
test_case_and_spaces(void)
{
	struct xclient x;
	const char *why;

	REQUIRE(parse("  addr=IPv6:2001:db8::7   Proto=smtp name=[unavailable] "
	    "helo=[Unavailable] port=[UNAVAILABLE] ", &x, &why) == 0);
	CHECK(is6(&x.addr, "2001:db8::7", 0));
	CHECK_EQ_INT(x.esmtp, 0);
	CHECK_STR(x.name, "");
	CHECK_STR(x.helo, "");
	CHECK_EQ_INT(x.port, -1);
	REQUIRE(parse("ADDR=ipv6:::1 NAME=[TEMPUNAVAIL]", &x, &why) == 0);
	CHECK(is6(&x.addr, "::1", 0));
	CHECK_EQ_INT(x.name_temp, 1);
	REQUIRE(parse("ADDR=[UNAVAILABLE] DESTADDR=[unavailable]", &x, &why) == 0);
	CHECK_EQ_INT(x.addr.ss_family, AF_UNSPEC);
	CHECK_EQ_INT(x.destaddr.ss_family, AF_UNSPEC);
	CHECK_EQ_INT(x.given, XCLIENT_ADDR | XCLIENT_DESTADDR);
}

/* RFC 3461 4: xtext. */
static void
test_xtext(void)
{
	struct xclient x;
	const char *why;
	char	out[16];

	REQUIRE(parse("LOGIN=john+20doe+2Bx+3D HELO=a+2Eb", &x, &why) == 0);
	CHECK_STR(x.login, "john doe+x=");
	CHECK_STR(x.helo, "a.b");
	CHECK_EQ_INT(xclient_xtext("a+41+62", 7, out, sizeof out), 3);
	CHECK_STR(out, "aAb");
	CHECK_EQ_INT(xclient_xtext("", 0, out, sizeof out), 0);
	CHECK_STR(out, "");
	/* Not xtext: a bare '+', short or bad hex, '=', a NUL. */
	CHECK_EQ_INT(xclient_xtext("a+", 2, out, sizeof out), -1);
	CHECK_EQ_INT(xclient_xtext("a+4", 3, out, sizeof out), -1);
	CHECK_EQ_INT(xclient_xtext("+G1", 3, out, sizeof out), -1);
	CHECK_EQ_INT(xclient_xtext("a=b", 3, out, sizeof out), -1);
	CHECK_EQ_INT(xclient_xtext("+00", 3, out, sizeof out), -1);
	CHECK_EQ_INT(xclient_xtext("a\tb", 3, out, sizeof out), -1);
	CHECK_EQ_INT(xclient_xtext("\xc3\xa9", 2, out, sizeof out), -1);
	/* Bounded by the output. */
	CHECK_EQ_INT(xclient_xtext("abcd", 4, out, 4), -1);
	CHECK_EQ_INT(xclient_xtext("abc", 3, out, 4), 3);
	CHECK_EQ_INT(parse("HELO=a+", &x, &why), -1);
	CHECK_STR(why, "Error: attribute value is not xtext");
	CHECK_EQ_INT(parse("LOGIN=a+00b", &x, &why), -1);
}

/* Decoded values are checked for what they are. */
static void
test_bad_values(void)
{
	static const char *const bad[] = {
		"NAME=[192.0.2.1]", "NAME=-bad.example", "NAME=a..b", "NAME=a_b.example",
		"ADDR=192.0.2", "ADDR=2001:db8::1", "ADDR=IPV6:192.0.2.1",
		"ADDR=[192.0.2.1]", "ADDR=192.0.2.1:25", "PORT=65536", "PORT=-1",
		"PORT=123456", "PORT=0x19", "PROTO=LMTP", "PROTO=ESMTPS",
		"HELO=a+20b", "HELO=a+0D+0Abcc", "HELO=+C3+28", "LOGIN=a+0Ab",
		"LOGIN=+7F", "DESTADDR=localhost", "DESTPORT=99999",
	};
	struct xclient x;
	const char *why;
	size_t	 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK_EQ_INT(parse(bad[i], &x, &why), -1);
		CHECK(why != NULL && strncmp(why, "Bad ", 4) == 0);
	}
	CHECK_EQ_INT(parse("ADDR=1.2.3.4 PORT=x", &x, &why), -1);
	CHECK_STR(why, "Bad PORT syntax");
}

static void
test_syntax_errors(void)
{
	struct xclient x;
	const char *why;
	char	 big[600];

	CHECK_EQ_INT(parse("", &x, &why), -1);
	CHECK_STR(why, "Syntax: XCLIENT attribute=value...");
	CHECK_EQ_INT(parse("   ", &x, &why), -1);
	CHECK_EQ_INT(parse("ADDR", &x, &why), -1);
	CHECK_STR(why, "Error: attribute=value expected");
	CHECK_EQ_INT(parse("ADDR=", &x, &why), -1);
	CHECK_EQ_INT(parse("=1.2.3.4", &x, &why), -1);
	CHECK_EQ_INT(parse("ADDR=1.2.3.4 junk", &x, &why), -1);
	CHECK_EQ_INT(parse("FOO=bar", &x, &why), -1);
	CHECK_STR(why, "Bad XCLIENT attribute name");
	CHECK_EQ_INT(parse("ADDRESS=1.2.3.4", &x, &why), -1);
	CHECK_EQ_INT(parse("ADD=1.2.3.4", &x, &why), -1);
	CHECK_EQ_INT(parse("\tADDR=1.2.3.4", &x, &why), -1);
	/* A value of 255 octets is the most. */
	memset(big, 'a', sizeof big);
	memcpy(big, "LOGIN=", 6);
	big[6 + 255] = '\0';
	CHECK_EQ_INT(parse(big, &x, &why), 0);
	CHECK_EQ_INT((int)strlen(x.login), 255);
	big[6 + 255] = 'a';
	big[6 + 256] = '\0';
	CHECK_EQ_INT(parse(big, &x, &why), -1);
	CHECK_STR(why, "Error: attribute value too long");
}

/* The last of an attribute given twice counts. */
static void
test_repeated(void)
{
	struct xclient x;
	const char *why;

	REQUIRE(parse("ADDR=192.0.2.1 ADDR=192.0.2.2 NAME=a.example NAME=[UNAVAILABLE]",
	    &x, &why) == 0);
	CHECK(is4(&x.addr, "192.0.2.2", 0));
	CHECK_STR(x.name, "");
}

static void
test_client(void)
{
	struct sockaddr_storage cur, out;
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&cur;
	struct xclient x;
	const char *why;

	memset(&cur, 0, sizeof cur);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(50000);
	inet_pton(AF_INET, "127.0.0.1", &sin->sin_addr);
	/* ADDR without PORT: port 0, not the proxy's. */
	REQUIRE(parse("ADDR=192.0.2.9", &x, &why) == 0);
	xclient_client(&x, &cur, &out);
	CHECK(is4(&out, "192.0.2.9", 0));
	REQUIRE(parse("ADDR=IPV6:2001:db8::9 PORT=4444", &x, &why) == 0);
	xclient_client(&x, &cur, &out);
	CHECK(is6(&out, "2001:db8::9", 4444));
	/* PORT alone: the address stays. */
	REQUIRE(parse("PORT=25", &x, &why) == 0);
	xclient_client(&x, &cur, &out);
	CHECK(is4(&out, "127.0.0.1", 25));
	REQUIRE(parse("HELO=x.example", &x, &why) == 0);
	xclient_client(&x, &cur, &out);
	CHECK(memcmp(&out, &cur, sizeof out) == 0);
	REQUIRE(parse("ADDR=[UNAVAILABLE] PORT=25", &x, &why) == 0);
	xclient_client(&x, &cur, &out);
	CHECK_EQ_INT(out.ss_family, AF_UNSPEC);
}

static void
test_trusted(void)
{
	struct config	cf;
	unsigned char	a[16] = { 0 };

	config_clear(&cf);
	a[0] = 127;
	a[3] = 1;
	CHECK_EQ_INT(xclient_trusted(&cf, AF_INET, a), 0);
	REQUIRE(config_parse_cidr("127.0.0.1/32", &cf.xclient_from[0]) == 0);
	REQUIRE(config_parse_cidr("2001:db8::/32", &cf.xclient_from[1]) == 0);
	cf.nxclient_from = 2;
	CHECK_EQ_INT(xclient_trusted(&cf, AF_INET, a), 1);
	a[3] = 2;
	CHECK_EQ_INT(xclient_trusted(&cf, AF_INET, a), 0);
	memset(a, 0, sizeof a);
	a[0] = 0x20;
	a[1] = 0x01;
	a[2] = 0x0d;
	a[3] = 0xb8;
	a[15] = 5;
	CHECK_EQ_INT(xclient_trusted(&cf, AF_INET6, a), 1);
	CHECK_EQ_INT(xclient_trusted(&cf, AF_UNSPEC, a), 0);
}

int
main(void)
{
	RUN(test_nginx_command);
	RUN(test_every_attribute);
	RUN(test_case_and_spaces);
	RUN(test_xtext);
	RUN(test_bad_values);
	RUN(test_syntax_errors);
	RUN(test_repeated);
	RUN(test_client);
	RUN(test_trusted);
	return unit_done();
}
