/*
 * test_smtpaddr.c - RFC 5321 paths and ESMTP parameters (src/smtpaddr.c).
 */
#include <string.h>

#include "smtpaddr.h"
#include "unit.h"

/* rep - a string of n copies of c (n < 1024). */
static const char *
rep(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

/* domain_of - a valid domain of exactly n octets (n >= 1). */
static const char *
domain_of(char *buf, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		buf[i] = (i % 64 == 63) ? '.' : 'a';
	if (buf[n - 1] == '.')
		buf[n - 1] = 'b';
	buf[n] = '\0';
	return buf;
}

/* ok - parse must succeed and consume the whole string. */
static int
ok(const char *s, int flags, struct smtpaddr *a)
{
	const char *end = NULL, *why = NULL;

	if (smtpaddr_parse(s, flags, a, &end, &why) != 0)
		return 0;
	return end == s + strlen(s);
}

static int
bad(const char *s, int flags)
{
	struct smtpaddr a;
	const char *end = NULL, *why = NULL;

	if (smtpaddr_parse(s, flags, &a, &end, &why) != -1)
		return 0;
	return why != NULL && why[0] != '\0';
}

static const char *
why_of(const char *s, int flags)
{
	struct smtpaddr a;
	const char *end = NULL, *why = NULL;

	if (smtpaddr_parse(s, flags, &a, &end, &why) != -1)
		return "(accepted)";
	return why;
}

static void
test_simple_path(void)
{
	struct smtpaddr a;

	REQUIRE(ok("<user@example.org>", 0, &a));
	CHECK_STR(a.local, "user");
	CHECK_STR(a.local_plain, "user");
	CHECK_STR(a.domain, "example.org");
	CHECK_EQ_INT(a.is_null, 0);
	CHECK_EQ_INT(a.is_literal, 0);
	CHECK_EQ_INT(a.has_utf8, 0);
	REQUIRE(ok("<First.Last+tag@Sub.Example.ORG>", 0, &a));
	CHECK_STR(a.local_plain, "First.Last+tag");
	CHECK_STR(a.domain, "Sub.Example.ORG");	/* case kept */
	CHECK(ok("<!#$%&'*+-/=?^_`{|}~@x.example>", 0, &a));
	CHECK_STR(a.local_plain, "!#$%&'*+-/=?^_`{|}~");
	CHECK(ok("<a@b>", 0, &a));
	CHECK(ok("<a@a-b.c-d.example>", 0, &a));
	CHECK(ok("<a@123.example>", 0, &a));
}

static void
test_end_position(void)
{
	struct smtpaddr a;
	const char *s = "<user@example.org> SIZE=100 BODY=8BITMIME";
	const char *end = NULL, *why = NULL;

	REQUIRE(smtpaddr_parse(s, 0, &a, &end, &why) == 0);
	CHECK(end == s + 18);
	CHECK_STR(end, " SIZE=100 BODY=8BITMIME");
	s = "<>x";
	REQUIRE(smtpaddr_parse(s, SMTPADDR_NULL_OK, &a, &end, &why) == 0);
	CHECK(end == s + 2);
	s = "<postmaster> NOTIFY=NEVER";
	REQUIRE(smtpaddr_parse(s, SMTPADDR_POSTMASTER_OK, &a, &end, &why) == 0);
	CHECK(end == s + 12);
	s = "<@a.example:u@b.example>rest";
	REQUIRE(smtpaddr_parse(s, 0, &a, &end, &why) == 0);
	CHECK_STR(end, "rest");
}

static void
test_null_path(void)
{
	struct smtpaddr a;

	REQUIRE(ok("<>", SMTPADDR_NULL_OK, &a));
	CHECK_EQ_INT(a.is_null, 1);
	CHECK_STR(a.local, "");
	CHECK_STR(a.domain, "");
	CHECK(ok("<>", SMTPADDR_NULL_OK | SMTPADDR_UTF8, &a));
	CHECK(bad("<>", 0));
	CHECK_STR(why_of("<>", 0), "Null address not allowed here");
	CHECK(bad("<>", SMTPADDR_POSTMASTER_OK | SMTPADDR_UTF8));
	CHECK(bad("< >", SMTPADDR_NULL_OK));
	CHECK(bad("<", SMTPADDR_NULL_OK));
	CHECK(bad("", SMTPADDR_NULL_OK));
}

static void
test_missing_brackets(void)
{
	CHECK(bad("user@example.org", 0));
	CHECK_STR(why_of("user@example.org", 0),
	    "Address must be in angle brackets <>");
	CHECK(bad(" <user@example.org>", 0));
	CHECK(bad("<user@example.org", 0));
	CHECK_STR(why_of("<user@example.org", 0), "Missing closing >");
	CHECK(bad("user@example.org>", 0));
	CHECK(bad("<user@example.org >", 0));
	CHECK(bad("< user@example.org>", 0));
	CHECK(bad("<user>", 0));
	CHECK_STR(why_of("<user>", 0), "Address needs a domain");
	CHECK(bad("<user@>", 0));
	CHECK(bad("<@example.org>", 0));
	CHECK(bad("<user example.org>", 0));
}

static void
test_source_route(void)
{
	struct smtpaddr a;

	REQUIRE(ok("<@a.example,@b.example:u@example.org>", 0, &a));
	CHECK_STR(a.local, "u");
	CHECK_STR(a.local_plain, "u");
	CHECK_STR(a.domain, "example.org");
	CHECK(ok("<@a.example:u@example.org>", 0, &a));
	CHECK_STR(a.domain, "example.org");
	CHECK(ok("<@[192.0.2.1]:u@example.org>", 0, &a));
	CHECK(bad("<@a.example,b.example:u@example.org>", 0));	/* no '@' */
	CHECK(bad("<@:u@example.org>", 0));
	CHECK(bad("<@a..example:u@example.org>", 0));
	CHECK(bad("<@a.example u@example.org>", 0));		/* no ':' */
	CHECK(bad("<@a.example>", 0));
	CHECK(bad("<@a.example,@:u@example.org>", 0));
	CHECK(bad("<@a_b.example:u@example.org>", 0));
	CHECK(bad("<@a.example>:u@example.org", 0));	/* ':' after '>' */
	CHECK(bad("<@a.example:>", 0));
	CHECK(bad("<@a.example:@example.org>", 0));
}

/* RFC 5321 A-d-l = At-domain *( "," At-domain ): no empty entries. */
static void
test_source_route_trailing_comma(void)
{
	CHECK(bad("<@a.example,:u@example.org>", 0));
	CHECK(bad("<@a.example,,@b.example:u@example.org>", 0));
}

/* An IPv6 address literal holds ':' too; the route ends at the ':'
 * after it. */
static void
test_source_route_ipv6_literal(void)
{
	struct smtpaddr a;

	CHECK(ok("<@[IPv6:2001:db8::1]:u@example.org>", 0, &a));
	CHECK_STR(a.domain, "example.org");
	CHECK(ok("<@a.example,@[IPv6:::1]:u@example.org>", 0, &a));
}

/* RFC 5321 4.1.3: Standardized-tag = Ldh-str (letters, digits, '-'). */
static void
test_literal_tag_ldh(void)
{
	CHECK(bad("<u@[a!b:x]>", 0));
	CHECK(bad("<u@[a_b:x]>", 0));
	CHECK(bad("<u@[-ab:x]>", 0));
	CHECK(bad("<u@[ab-:x]>", 0));
}

/* RFC 5321 4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static void
test_next_param_keyword_start(void)
{
	char	buf[32], *p = buf, *k, *v;

	strcpy(buf, "-SIZE=1");
	CHECK_EQ_INT(smtpaddr_next_param(&p, &k, &v), -1);
}

static void
test_quoted_local(void)
{
	struct smtpaddr a;

	REQUIRE(ok("<\"john doe\"@example.org>", 0, &a));
	CHECK_STR(a.local, "\"john doe\"");
	CHECK_STR(a.local_plain, "john doe");
	CHECK_STR(a.domain, "example.org");
	REQUIRE(ok("<\"a\\\"b\\\\c\"@example.org>", 0, &a));
	CHECK_STR(a.local, "\"a\\\"b\\\\c\"");
	CHECK_STR(a.local_plain, "a\"b\\c");
	REQUIRE(ok("<\"\\a\\b\"@example.org>", 0, &a));	/* any quoted-pair */
	CHECK_STR(a.local_plain, "ab");
	REQUIRE(ok("<\"a@b\"@example.org>", 0, &a));
	CHECK_STR(a.local_plain, "a@b");
	CHECK_STR(a.domain, "example.org");
	REQUIRE(ok("<\"a>b\"@example.org>", 0, &a));
	CHECK_STR(a.local_plain, "a>b");
	REQUIRE(ok("<\"..\"@example.org>", 0, &a));
	CHECK_STR(a.local_plain, "..");
	CHECK(bad("<\"john doe@example.org>", 0));	/* unterminated */
	CHECK(bad("<\"john\x01\"@example.org>", 0));	/* control byte */
	CHECK(bad("<\"john\\\x01\"@example.org>", 0));	/* escaped control */
	CHECK(bad("<\"john\t\"@example.org>", 0));
	CHECK(bad("<\"john\x7f\"@example.org>", 0));
	CHECK(bad("<\"john\\", 0));
	CHECK(bad("<\"john\"x@example.org>", 0));	/* junk after quote */
	CHECK(bad("<j\"ohn\"@example.org>", 0));
	CHECK(bad("<\"postmaster\">", SMTPADDR_POSTMASTER_OK));
	/* 8-bit in quotes only with SMTPUTF8, and only valid UTF-8. */
	CHECK(bad("<\"j\xc3\xb6rg\"@example.org>", 0));
	REQUIRE(ok("<\"j\xc3\xb6rg\"@example.org>", SMTPADDR_UTF8, &a));
	CHECK_STR(a.local_plain, "j\xc3\xb6rg");
	CHECK_EQ_INT(a.has_utf8, 1);
	CHECK(bad("<\"j\xc3rg\"@example.org>", SMTPADDR_UTF8));
}

static void
test_bad_local(void)
{
	CHECK(bad("<a@b@c>", 0));
	CHECK(bad("<a@b@c.example>", 0));
	CHECK(bad("<.user@example.org>", 0));
	CHECK(bad("<user.@example.org>", 0));
	CHECK(bad("<us..er@example.org>", 0));
	CHECK(bad("<.@example.org>", 0));
	CHECK(bad("<us er@example.org>", 0));
	CHECK(bad("<us(er@example.org>", 0));
	CHECK(bad("<us,er@example.org>", 0));
	CHECK(bad("<us;er@example.org>", 0));
	CHECK(bad("<us\\er@example.org>", 0));
	CHECK(bad("<us\x01r@example.org>", 0));
	CHECK_STR(why_of("<j\xc3\xb6rg@example.org>", 0),
	    "Bad local part (8-bit needs SMTPUTF8)");
	CHECK_STR(why_of("<.x@example.org>", SMTPADDR_UTF8), "Bad local part");
}

static void
test_bad_domain(void)
{
	CHECK(bad("<user@example.org.>", 0));	/* trailing dot */
	CHECK(bad("<user@.example.org>", 0));
	CHECK(bad("<user@example..org>", 0));
	CHECK(bad("<user@-example.org>", 0));
	CHECK(bad("<user@example-.org>", 0));
	CHECK(bad("<user@exa_mple.org>", 0));
	CHECK(bad("<user@exa mple.org>", 0));
	CHECK(bad("<user@example.org-", 0));
	CHECK_STR(why_of("<user@example..org>", 0), "Bad domain");
}

static void
test_address_literals(void)
{
	struct smtpaddr a;

	REQUIRE(ok("<u@[192.0.2.1]>", 0, &a));
	CHECK_STR(a.domain, "[192.0.2.1]");
	CHECK_EQ_INT(a.is_literal, 1);
	REQUIRE(ok("<u@[IPv6:::1]>", 0, &a));
	CHECK_STR(a.domain, "[IPv6:::1]");
	CHECK_EQ_INT(a.is_literal, 1);
	CHECK(ok("<u@[IPv6:2001:db8::1]>", 0, &a));
	CHECK(ok("<u@[ipv6:2001:DB8:0:0:0:0:0:1]>", 0, &a));
	CHECK(ok("<u@[IPv6:::ffff:192.0.2.1]>", 0, &a));
	CHECK(ok("<u@[x-tag:some-text]>", 0, &a));	/* general literal */
	CHECK_EQ_INT(a.is_literal, 1);
	CHECK(bad("<u@[192.0.2.256]>", 0));
	CHECK(bad("<u@[192.0.2]>", 0));
	CHECK(bad("<u@[192.0.2.1.5]>", 0));
	CHECK(bad("<u@[ 192.0.2.1]>", 0));
	CHECK(bad("<u@[]>", 0));
	CHECK(bad("<u@[IPv6:]>", 0));
	CHECK(bad("<u@[IPv6:zz::1]>", 0));
	CHECK(bad("<u@[IPv6:192.0.2.1]>", 0));
	CHECK(bad("<u@[IPv6:1:2:3:4:5:6:7:8:9]>", 0));
	CHECK(bad("<u@[::1]>", 0));		/* IPv6 needs its tag */
	CHECK(bad("<u@[192.0.2.1>", 0));
	CHECK(bad("<u@192.0.2.1]>", 0));
	CHECK(bad("<u@[tag:]>", 0));
	CHECK(bad("<u@[:text]>", 0));
	CHECK(bad("<u@[tag:a b]>", 0));
	CHECK(bad("<u@[tag:a\\b]>", 0));
	CHECK(bad("<u@[tag:a[b]>", 0));
	CHECK(bad("<u@[x.y:text]>", 0));
	CHECK(bad("<u@[192.0.2.1].example>", 0));
}

static void
test_local_length(void)
{
	struct smtpaddr a;
	char	l[80], s[200];

	snprintf(s, sizeof s, "<%s@example.org>", rep(l, 'a', 64));
	REQUIRE(ok(s, 0, &a));
	CHECK_EQ_INT(strlen(a.local_plain), 64);
	snprintf(s, sizeof s, "<%s@example.org>", rep(l, 'a', 65));
	CHECK(bad(s, 0));
	/* Quoted: the limit is on the content. */
	snprintf(s, sizeof s, "<\"%s\"@example.org>", rep(l, 'b', 64));
	REQUIRE(ok(s, 0, &a));
	CHECK_EQ_INT(strlen(a.local_plain), 64);
	snprintf(s, sizeof s, "<\"%s\"@example.org>", rep(l, 'b', 65));
	CHECK(bad(s, 0));
	/* 64 escaped characters: 130 bytes as written. */
	{
		char q[200];
		size_t o = 0;
		q[o++] = '<';
		q[o++] = '"';
		for (int i = 0; i < 64; i++) {
			q[o++] = '\\';
			q[o++] = '"';
		}
		memcpy(q + o, "\"@x.example>", 13);
		REQUIRE(ok(q, 0, &a));
		CHECK_EQ_INT(strlen(a.local), 130);
		CHECK_EQ_INT(strlen(a.local_plain), 64);
		q[3 + 2 * 63] = 'x';	/* still 64 */
	}
	/* 64 octets of UTF-8 (32 two-byte characters) fit, 66 do not. */
	{
		char u[200];
		size_t o = 0;
		u[o++] = '<';
		for (int i = 0; i < 32; i++) {
			u[o++] = '\xc3';
			u[o++] = '\xa9';
		}
		memcpy(u + o, "@x.example>", 12);
		CHECK(ok(u, SMTPADDR_UTF8, &a));
		memmove(u + 3, u + 1, strlen(u + 1) + 1);
		u[1] = '\xc3';
		u[2] = '\xa9';
		CHECK(bad(u, SMTPADDR_UTF8));
	}
}

static void
test_domain_length(void)
{
	struct smtpaddr a;
	char	d[300], l[80], s[400];

	CHECK_EQ_INT(smtpaddr_valid_domain(domain_of(d, 255), 255, 0), 1);
	CHECK_EQ_INT(smtpaddr_valid_domain(domain_of(d, 256), 256, 0), 0);
	CHECK_EQ_INT(smtpaddr_valid_domain(domain_of(d, 1), 1, 0), 1);
	/* In a path the 256-octet path limit bites first: <u@D> with D of
	 * 252 octets is exactly 256. */
	snprintf(s, sizeof s, "<u@%s>", domain_of(d, 252));
	REQUIRE(ok(s, 0, &a));
	CHECK_EQ_INT(strlen(s), 256);
	CHECK_STR(a.domain, d);
	snprintf(s, sizeof s, "<u@%s>", domain_of(d, 253));
	CHECK(bad(s, 0));
	CHECK_STR(why_of(s, 0), "Path too long");
	snprintf(s, sizeof s, "<u@%s>", domain_of(d, 255));
	CHECK_STR(why_of(s, 0), "Path too long");
	snprintf(s, sizeof s, "<u@%s>", domain_of(d, 256));
	CHECK_STR(why_of(s, 0), "Bad domain");
	/* 64-octet local part + 190-octet domain = 257 with brackets. */
	snprintf(s, sizeof s, "<%s@%s>", rep(l, 'x', 64), domain_of(d, 190));
	CHECK_EQ_INT(strlen(s), 257);
	CHECK_STR(why_of(s, 0), "Path too long");
	snprintf(s, sizeof s, "<%s@%s>", rep(l, 'x', 64), domain_of(d, 189));
	CHECK(ok(s, 0, &a));
	/* A source route counts towards the path. */
	snprintf(s, sizeof s, "<@%s:u@%s>", domain_of(d, 200), "example.org");
	CHECK_EQ_INT(strlen(s), 217);
	CHECK(ok(s, 0, &a));
	{
		char dd[300], s2[700];
		domain_of(dd, 200);
		snprintf(s2, sizeof s2, "<@%s,@%s:u@example.org>", dd, dd);
		CHECK_STR(why_of(s2, 0), "Path too long");
	}
	/* Labels: 63 octets fine, 64 not. */
	snprintf(s, sizeof s, "<u@%s.example>", rep(l, 'a', 63));
	CHECK(ok(s, 0, &a));
	snprintf(s, sizeof s, "<u@%s.example>", rep(l, 'a', 64));
	CHECK(bad(s, 0));
}

static void
test_utf8(void)
{
	struct smtpaddr a;

	CHECK(bad("<j\xc3\xb6rg@example.org>", 0));
	REQUIRE(ok("<j\xc3\xb6rg@example.org>", SMTPADDR_UTF8, &a));
	CHECK_STR(a.local_plain, "j\xc3\xb6rg");
	CHECK_EQ_INT(a.has_utf8, 1);
	CHECK(bad("<user@b\xc3\xbc" "cher.example>", 0));
	REQUIRE(ok("<user@b\xc3\xbc" "cher.example>", SMTPADDR_UTF8, &a));
	CHECK_STR(a.domain, "b\xc3\xbc" "cher.example");
	CHECK_EQ_INT(a.has_utf8, 1);
	CHECK(ok("<\xe2\x82\xac@example.org>", SMTPADDR_UTF8, &a));	/* U+20AC */
	CHECK(ok("<\xf0\x9f\x98\x80@example.org>", SMTPADDR_UTF8, &a));	/* U+1F600 */
	CHECK(ok("<\xf4\x8f\xbf\xbf@example.org>", SMTPADDR_UTF8, &a));	/* U+10FFFF */
	CHECK(ok("<\xed\x9f\xbf@example.org>", SMTPADDR_UTF8, &a));	/* U+D7FF */
	CHECK(ok("<\xee\x80\x80@example.org>", SMTPADDR_UTF8, &a));	/* U+E000 */
	/* Invalid UTF-8 is refused even with SMTPUTF8. */
	static const char *const invalid[] = {
		"<\xc0\xaf@example.org>",		/* overlong '/' */
		"<\xc1\xbf@example.org>",		/* overlong */
		"<\xe0\x80\xaf@example.org>",		/* overlong 3 */
		"<\xe0\x9f\xbf@example.org>",		/* overlong 3 */
		"<\xf0\x80\x80\xaf@example.org>",	/* overlong 4 */
		"<\xf0\x8f\xbf\xbf@example.org>",	/* overlong 4 */
		"<\xed\xa0\x80@example.org>",		/* U+D800 surrogate */
		"<\xed\xbf\xbf@example.org>",		/* U+DFFF surrogate */
		"<\xf4\x90\x80\x80@example.org>",	/* > U+10FFFF */
		"<\xf5\x80\x80\x80@example.org>",
		"<\xff@example.org>",
		"<\xfe@example.org>",
		"<\x80@example.org>",			/* lone continuation */
		"<a\xbf" "b@example.org>",
		"<\xc3@example.org>",			/* truncated 2 */
		"<\xe2\x82@example.org>",		/* truncated 3 */
		"<\xf0\x9f\x98@example.org>",		/* truncated 4 */
		"<\xc3\xc3\xb6@example.org>",
		"<user@\xc3.example>",
		"<user@\xed\xa0\x80.example>",
		"<user@\xc0\xae.example>",
		"<user@b\xc3\xbc\x80.example>",
		"<user@example.\xc3>",
	};
	for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
		if (!CHECK(bad(invalid[i], SMTPADDR_UTF8)))
			printf("#   input %zu\n", i);

	CHECK_EQ_INT(smtpaddr_valid_utf8("", 0), 1);
	CHECK_EQ_INT(smtpaddr_valid_utf8("abc", 3), 1);
	CHECK_EQ_INT(smtpaddr_valid_utf8("\xc3\xb6", 2), 1);
	CHECK_EQ_INT(smtpaddr_valid_utf8("\xc3\xb6", 1), 0);	/* cut short */
	CHECK_EQ_INT(smtpaddr_valid_utf8("\xe2\x82\xac", 3), 1);
	CHECK_EQ_INT(smtpaddr_valid_utf8("\xe2\x82\xac", 2), 0);
	CHECK_EQ_INT(smtpaddr_valid_utf8("\xed\xa0\x80", 3), 0);
	CHECK_EQ_INT(smtpaddr_valid_utf8("\xc0\x80", 2), 0);	/* overlong NUL */
	CHECK_EQ_INT(smtpaddr_valid_utf8("\xf4\x90\x80\x80", 4), 0);
}

static void
test_postmaster(void)
{
	struct smtpaddr a;

	REQUIRE(ok("<postmaster>", SMTPADDR_POSTMASTER_OK, &a));
	CHECK_STR(a.local, "postmaster");
	CHECK_STR(a.local_plain, "postmaster");
	CHECK_STR(a.domain, "");
	CHECK_EQ_INT(a.is_null, 0);
	CHECK(ok("<PostMaster>", SMTPADDR_POSTMASTER_OK, &a));
	CHECK(ok("<POSTMASTER>", SMTPADDR_POSTMASTER_OK | SMTPADDR_UTF8, &a));
	CHECK(bad("<postmaster>", 0));
	CHECK(bad("<postmaster>", SMTPADDR_NULL_OK | SMTPADDR_UTF8));
	CHECK_STR(why_of("<postmaster>", 0), "Address needs a domain");
	CHECK(bad("<postmaste>", SMTPADDR_POSTMASTER_OK));
	CHECK(bad("<postmasters>", SMTPADDR_POSTMASTER_OK));
	CHECK(bad("<\"postmaster\">", SMTPADDR_POSTMASTER_OK));
	CHECK(bad("<post.master>", SMTPADDR_POSTMASTER_OK));
	CHECK(ok("<postmaster@example.org>", 0, &a));
	CHECK_STR(a.domain, "example.org");
}

static void
test_valid_domain(void)
{
	CHECK_EQ_INT(smtpaddr_valid_domain("example.org", 11, 0), 1);
	CHECK_EQ_INT(smtpaddr_valid_domain("a", 1, 0), 1);
	CHECK_EQ_INT(smtpaddr_valid_domain("xn--bcher-kva.example", 21, 0), 1);
	CHECK_EQ_INT(smtpaddr_valid_domain("1.2.3.4", 7, 0), 1);
	CHECK_EQ_INT(smtpaddr_valid_domain("[192.0.2.1]", 11, 0), 1);
	CHECK_EQ_INT(smtpaddr_valid_domain("[IPv6:::1]", 10, 0), 1);
	CHECK_EQ_INT(smtpaddr_valid_domain("", 0, 0), 0);
	CHECK_EQ_INT(smtpaddr_valid_domain(".", 1, 0), 0);
	CHECK_EQ_INT(smtpaddr_valid_domain("a.", 2, 0), 0);
	CHECK_EQ_INT(smtpaddr_valid_domain(".a", 2, 0), 0);
	CHECK_EQ_INT(smtpaddr_valid_domain("a..b", 4, 0), 0);
	CHECK_EQ_INT(smtpaddr_valid_domain("-a", 2, 0), 0);
	CHECK_EQ_INT(smtpaddr_valid_domain("a-", 2, 0), 0);
	CHECK_EQ_INT(smtpaddr_valid_domain("a-.b", 4, 0), 0);
	CHECK_EQ_INT(smtpaddr_valid_domain("a.-b", 4, 0), 0);
	CHECK_EQ_INT(smtpaddr_valid_domain("a_b", 3, 0), 0);
	CHECK_EQ_INT(smtpaddr_valid_domain("a b", 3, 0), 0);
	CHECK_EQ_INT(smtpaddr_valid_domain("a@b", 3, 0), 0);
	CHECK_EQ_INT(smtpaddr_valid_domain("[1.2.3.4", 8, 0), 0);
	/* len is honoured: bytes past it are not looked at. */
	CHECK_EQ_INT(smtpaddr_valid_domain("example.org>junk", 11, 0), 1);
	CHECK_EQ_INT(smtpaddr_valid_domain("example.", 7, 0), 1);
	CHECK_EQ_INT(smtpaddr_valid_domain("[192.0.2.1]x", 11, 0), 1);
	/* UTF-8 only with the flag, and only valid UTF-8. */
	CHECK_EQ_INT(smtpaddr_valid_domain("b\xc3\xbc" "cher.example", 13, 0), 0);
	CHECK_EQ_INT(smtpaddr_valid_domain("b\xc3\xbc" "cher.example", 13, 1), 1);
	CHECK_EQ_INT(smtpaddr_valid_domain("b\xc3" "cher.example", 12, 1), 0);
	CHECK_EQ_INT(smtpaddr_valid_domain("\xed\xa0\x80", 3, 1), 0);
	/* Labels of 63 octets (not 64); UTF-8 counts octets. */
	{
		char d[200];
		memset(d, 'a', 63);
		memcpy(d + 63, ".org", 5);
		CHECK_EQ_INT(smtpaddr_valid_domain(d, 67, 0), 1);
		memset(d, 'a', 64);
		memcpy(d + 64, ".org", 5);
		CHECK_EQ_INT(smtpaddr_valid_domain(d, 68, 0), 0);
		for (int i = 0; i < 32; i++) {
			d[2 * i] = '\xc3';
			d[2 * i + 1] = '\xa9';
		}
		memcpy(d + 64, ".org", 5);
		CHECK_EQ_INT(smtpaddr_valid_domain(d, 68, 1), 0);
		CHECK_EQ_INT(smtpaddr_valid_domain(d + 2, 66, 1), 1);
	}
}

static void
test_format(void)
{
	struct smtpaddr a;
	char	buf[300];

	REQUIRE(ok("<user@example.org>", 0, &a));
	CHECK_EQ_INT(smtpaddr_format(&a, buf, sizeof buf), 0);
	CHECK_STR(buf, "user@example.org");
	/* exactly enough room: 16 characters and the NUL */
	CHECK_EQ_INT(smtpaddr_format(&a, buf, 17), 0);
	CHECK_STR(buf, "user@example.org");
	CHECK_EQ_INT(smtpaddr_format(&a, buf, 16), -1);
	CHECK_EQ_INT(smtpaddr_format(&a, buf, 0), -1);
	REQUIRE(ok("<\"john doe\"@example.org>", 0, &a));
	CHECK_EQ_INT(smtpaddr_format(&a, buf, sizeof buf), 0);
	CHECK_STR(buf, "\"john doe\"@example.org");
	REQUIRE(ok("<@a.example:u@[192.0.2.1]>", 0, &a));
	CHECK_EQ_INT(smtpaddr_format(&a, buf, sizeof buf), 0);
	CHECK_STR(buf, "u@[192.0.2.1]");	/* the route is dropped */
	REQUIRE(ok("<>", SMTPADDR_NULL_OK, &a));
	strcpy(buf, "junk");
	CHECK_EQ_INT(smtpaddr_format(&a, buf, sizeof buf), 0);
	CHECK_STR(buf, "");
	CHECK_EQ_INT(smtpaddr_format(&a, buf, 1), 0);
	CHECK_EQ_INT(smtpaddr_format(&a, buf, 0), -1);
	REQUIRE(ok("<Postmaster>", SMTPADDR_POSTMASTER_OK, &a));
	CHECK_EQ_INT(smtpaddr_format(&a, buf, sizeof buf), 0);
	CHECK_STR(buf, "Postmaster");
}

/* next - one smtpaddr_next_param step on *p, describing the result. */
static int
next(char **p, const char **k, const char **v)
{
	char	*key = NULL, *value = NULL;
	int	 rc = smtpaddr_next_param(p, &key, &value);

	*k = key;
	*v = value;
	return rc;
}

static void
test_next_param(void)
{
	char	buf[200], *p;
	const char *k, *v;

	strcpy(buf, "SIZE=1000 BODY=8BITMIME SMTPUTF8");
	p = buf;
	REQUIRE(next(&p, &k, &v) == 1);
	CHECK_STR(k, "SIZE");
	CHECK_STR(v, "1000");
	REQUIRE(next(&p, &k, &v) == 1);
	CHECK_STR(k, "BODY");
	CHECK_STR(v, "8BITMIME");
	REQUIRE(next(&p, &k, &v) == 1);
	CHECK_STR(k, "SMTPUTF8");
	CHECK(v == NULL);
	CHECK_EQ_INT(next(&p, &k, &v), 0);
	CHECK_EQ_INT(next(&p, &k, &v), 0);	/* stays at the end */

	/* Spaces: leading, repeated, trailing. */
	strcpy(buf, "   A=1    B-2   ");
	p = buf;
	REQUIRE(next(&p, &k, &v) == 1);
	CHECK_STR(k, "A");
	CHECK_STR(v, "1");
	REQUIRE(next(&p, &k, &v) == 1);
	CHECK_STR(k, "B-2");
	CHECK(v == NULL);
	CHECK_EQ_INT(next(&p, &k, &v), 0);

	strcpy(buf, "");
	p = buf;
	CHECK_EQ_INT(next(&p, &k, &v), 0);
	strcpy(buf, "    ");
	p = buf;
	CHECK_EQ_INT(next(&p, &k, &v), 0);

	/* Values: printable, UTF-8 allowed, no '=', no controls. */
	strcpy(buf, "ORCPT=rfc822;a+2Bb@example.org ENVID=x\xc3\xa9y");
	p = buf;
	REQUIRE(next(&p, &k, &v) == 1);
	CHECK_STR(v, "rfc822;a+2Bb@example.org");
	REQUIRE(next(&p, &k, &v) == 1);
	CHECK_STR(v, "x\xc3\xa9y");

	static const char *const bad_params[] = {
		"=1", "A=", "A==1", "A=b=c", "A_B=1", "A.B", "A+B", "A;B=1",
		"A=\x01", "A=\x7f", "A=b\tc", "\xc3\xa9=1", "A\x01",
	};
	for (size_t i = 0; i < sizeof bad_params / sizeof bad_params[0]; i++) {
		snprintf(buf, sizeof buf, "%s", bad_params[i]);
		p = buf;
		if (!CHECK_EQ_INT(next(&p, &k, &v), -1))
			printf("#   input \"%s\"\n", bad_params[i]);
	}
	/* An error in the second parameter; the first is fine. */
	strcpy(buf, "SIZE=10 BAD=");
	p = buf;
	CHECK_EQ_INT(next(&p, &k, &v), 1);
	CHECK_EQ_INT(next(&p, &k, &v), -1);
}

int
main(void)
{
	RUN(test_simple_path);
	RUN(test_end_position);
	RUN(test_null_path);
	RUN(test_missing_brackets);
	RUN(test_source_route);
	RUN(test_source_route_trailing_comma);
	RUN(test_source_route_ipv6_literal);
	RUN(test_literal_tag_ldh);
	RUN(test_quoted_local);
	RUN(test_bad_local);
	RUN(test_bad_domain);
	RUN(test_address_literals);
	RUN(test_local_length);
	RUN(test_domain_length);
	RUN(test_utf8);
	RUN(test_postmaster);
	RUN(test_valid_domain);
	RUN(test_format);
	RUN(test_next_param);
	RUN(test_next_param_keyword_start);
	return unit_done();
}
