/*
 * test_esmtp.c - ESMTP parameters and the BDAT argument (src/esmtp.c),
 * recipient policy (src/recipient.c) and address text (src/sockaddr.c).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "esmtp.h"
#include "recipient.h"
#include "sockaddr.h"
#include "unit.h"

/* mail - esmtp_mail_params on a copy of s. */
static int
mail(const char *s, struct esmtp_mail *m, struct smtp_reply *r)
{
	char	buf[1200];

	snprintf(buf, sizeof buf, "%s", s);
	memset(r, 0, sizeof *r);
	return esmtp_mail_params(buf, m, r);
}

static int
rcpt(const char *s, struct esmtp_rcpt *p, struct smtp_reply *r)
{
	char	buf[1200];

	snprintf(buf, sizeof buf, "%s", s);
	memset(r, 0, sizeof *r);
	return esmtp_rcpt_params(buf, p, r);
}

/* The line a refused command is logged from stays as the client sent it. */
static void
test_params_left_whole(void)
{
	const char *line = " ORCPT=rfc822;x@y.test NOTIFY=NEVER X=1";
	char	buf[64];
	struct esmtp_rcpt p;
	struct esmtp_mail m;
	struct smtp_reply r;

	snprintf(buf, sizeof buf, "%s", line);
	CHECK_EQ_INT(esmtp_rcpt_params(buf, &p, &r), -1);
	CHECK_EQ_INT(r.code, 555);
	CHECK_STR(buf, line);
	snprintf(buf, sizeof buf, "%s", " SIZE=10 BODY=8BITMIME RET=HDRS");
	CHECK_EQ_INT(esmtp_mail_params(buf, &m, &r), 0);
	CHECK_STR(buf, " SIZE=10 BODY=8BITMIME RET=HDRS");
	CHECK(m.size == 10 && m.body == BODY_8BITMIME);
	CHECK_STR(m.ret, "HDRS");
}

static void
test_bdat_argument(void)
{
	uint64_t n;
	int	 last;
	static const char *bad[] = {
		"", " 5", "5 ", "5  LAST", "\t5", "5\tLAST", "+5", "-5", "0x10",
		"5 LAST x", "5 LASTX", "5 LAS", "5 last LAST", "5,", "LAST",
		"99999999999999999999", "111111111111111111111",
		"000000000000000000000005", "5 LAST\r",
	};

	CHECK(esmtp_bdat("5", &n, &last) == 0 && n == 5 && last == 0);
	CHECK(esmtp_bdat("0 LAST", &n, &last) == 0 && n == 0 && last == 1);
	CHECK(esmtp_bdat("17 last", &n, &last) == 0 && n == 17 && last == 1);
	CHECK(esmtp_bdat("0003 LaSt", &n, &last) == 0 && n == 3 && last == 1);
	CHECK(esmtp_bdat("18446744073709551615", &n, &last) == 0 &&
	    n == UINT64_MAX);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(esmtp_bdat(bad[i], &n, &last) == -1);
}

static void
test_mail_params(void)
{
	struct esmtp_mail m;
	struct smtp_reply r;

	CHECK(mail("", &m, &r) == 0 && m.size == 0 && m.body == BODY_7BIT);
	CHECK(mail(" SIZE=1000 BODY=8BITMIME SMTPUTF8", &m, &r) == 0);
	CHECK(m.size == 1000 && m.body == BODY_8BITMIME && m.smtputf8 == 1);
	CHECK(mail(" body=binarymime ret=hdrs envid=QQ+2B1", &m, &r) == 0);
	CHECK(m.body == BODY_BINARYMIME);
	CHECK_STR(m.ret, "hdrs");
	CHECK_STR(m.envid, "QQ+2B1");
	CHECK(mail(" SIZE=x", &m, &r) == -1 && r.code == 501);
	CHECK(mail(" SIZE=184467440737095516160", &m, &r) == -1 && r.code == 501);
	CHECK(mail(" BODY=9BIT", &m, &r) == -1 && r.code == 501);
	CHECK(mail(" ENVID=a+2", &m, &r) == -1 && r.code == 501);
	CHECK(mail(" ENVID=a+zz", &m, &r) == -1 && r.code == 501);
	CHECK(mail(" RET=ALL", &m, &r) == -1 && r.code == 555);
	CHECK(mail(" SMTPUTF8=yes", &m, &r) == -1 && r.code == 555);
	CHECK(mail(" AUTH=<>", &m, &r) == -1 && r.code == 555);
	CHECK(strstr(r.text, "AUTH") != NULL);
	CHECK(mail(" =x", &m, &r) == -1 && r.code == 501);
	CHECK(mail(" SIZE=", &m, &r) == -1 && r.code == 501);
}

static void
test_rcpt_params(void)
{
	struct esmtp_rcpt p;
	struct smtp_reply r;

	CHECK(rcpt("", &p, &r) == 0 && p.notify[0] == '\0' && p.orcpt[0] == '\0');
	CHECK(rcpt(" NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;a@b", &p, &r) == 0);
	CHECK_STR(p.notify, "SUCCESS,FAILURE,DELAY");
	CHECK_STR(p.orcpt, "rfc822;a@b");
	CHECK(rcpt(" NOTIFY=never", &p, &r) == 0);
	CHECK(rcpt(" NOTIFY=NEVER,SUCCESS", &p, &r) == -1 && r.code == 555);
	CHECK(rcpt(" NOTIFY=SUCCESS,,DELAY", &p, &r) == -1);
	CHECK(rcpt(" NOTIFY=,SUCCESS", &p, &r) == -1);
	CHECK(rcpt(" NOTIFY=SUCCESS,", &p, &r) == -1);
	CHECK(rcpt(" NOTIFY=SOMETIMES", &p, &r) == -1);
	CHECK(rcpt(" ORCPT=nosemicolon", &p, &r) == -1);
	CHECK(rcpt(" FOO", &p, &r) == -1 && r.code == 555);
}

static void
test_recipient_policy(void)
{
	static const char text[] =
	    "listen 127.0.0.1:25\n"
	    "domain example.org\n"
	    "domain open.test\n"
	    "mailbox alice@example.org\n"
	    "maildir /tmp/x/%d/%u\n"
	    "recipient_delimiter +\n";
	struct config	 cf;
	struct smtpaddr	 a;
	struct recipient to;
	struct route	 rt;
	struct smtp_reply r;
	const char	*end, *why;
	FILE		*fp = fmemopen((void *)(uintptr_t)text, sizeof text - 1, "r");

	REQUIRE(fp != NULL);
	REQUIRE(config_parse(fp, "t.conf", &cf, stderr) == 0);
	fclose(fp);
#define RESOLVE(s) (smtpaddr_parse(s, SMTPADDR_POSTMASTER_OK, &a, &end, &why) != 0 ? -2 : \
	recipient_route(&cf, &a, &rt, &r) == -1 ? -1 : recipient_target(&rt, 0, &to) == 0 && \
	recipient_target(&rt, 1, &to) == -1 && recipient_target(&rt, 0, &to) == 0 ? 0 : -3)
	CHECK(RESOLVE("<Alice+Tag@Example.ORG>") == 0);
	CHECK_STR(to.box, "alice");
	CHECK_STR(to.domain, "example.org");
	CHECK(RESOLVE("<bob@example.org>") == -1 && r.code == 550);
	CHECK_STR(r.esc, "5.1.1");
	CHECK(RESOLVE("<postmaster@example.org>") == 0);
	CHECK(RESOLVE("<postmaster>") == 0);
	CHECK_STR(to.domain, "example.org");
	CHECK(RESOLVE("<anyone@open.test>") == 0);
	CHECK(RESOLVE("<x@elsewhere.test>") == -1 && r.code == 550);
	CHECK_STR(r.esc, "5.7.1");
	CHECK(RESOLVE("<\".hidden\"@open.test>") == -1 && r.code == 550);
	CHECK_STR(r.esc, "5.1.3");
	CHECK(RESOLVE("<\"a/b\"@open.test>") == -1);
	CHECK(RESOLVE("<+only@open.test>") == 0);
	CHECK_STR(to.box, "+only");
#undef RESOLVE
	config_empty(&cf);
}

/* route - recipient_route of s under cf: "refused CODE ESC" or the
 * targets "box@domain[/folder] ..." (+ " via SOURCE") into out. */
static const char *
route(const struct config *cf, const char *s, char *out, size_t size)
{
	struct smtpaddr	 a;
	struct route	 rt;
	struct recipient to;
	struct smtp_reply r;
	const char	*end, *why;
	size_t		 len = 0;

	out[0] = '\0';
	if (smtpaddr_parse(s, SMTPADDR_POSTMASTER_OK, &a, &end, &why) != 0)
		return "bad";
	if (recipient_route(cf, &a, &rt, &r) == -1) {
		snprintf(out, size, "refused %d %s", r.code, r.esc);
		return out;
	}
	for (int i = 0; recipient_target(&rt, i, &to) == 0; i++) {
		int n = snprintf(out + len, size - len, "%s%s@%s%s%s", i ? " " : "",
		    to.box, to.domain, to.folder[0] ? "/" : "", to.folder);
		if (n < 0 || (size_t)n >= size - len)
			return "too long";
		len += (size_t)n;
	}
	if (rt.alias != NULL)
		snprintf(out + len, size - len, " via %s", rt.alias->source);
	return out;
}

static void
test_routing_with_aliases(void)
{
	static const char text[] =
	    "listen 127.0.0.1:25\n"
	    "domain example.org\n"
	    "domain example.net\n"
	    "domain open.test\n"
	    "mailbox alice@example.org\n"
	    "mailbox bob@example.org\n"
	    "recipient_delimiter +\n"
	    "extension_folders yes\n"
	    "maildir /tmp/x/%d/%u\n"
	    "alias team@example.org alice@example.org bob@example.org\n"
	    "alias team+ops@example.org bob@example.org\n"
	    "alias sales@example.org team@example.org, x@open.test\n"
	    "alias @example.net alice@example.org\n"
	    "alias postmaster@example.net bob@example.org\n";
	struct config	 cf;
	char		 buf[512];
	FILE		*fp = fmemopen((void *)(uintptr_t)text, sizeof text - 1, "r");

	REQUIRE(fp != NULL);
	REQUIRE(config_parse(fp, "t.conf", &cf, stderr) == 0);
	fclose(fp);
	/* The whole address's alias, then without the extension. */
	CHECK_STR(route(&cf, "<team+ops@example.org>", buf, sizeof buf),
	    "bob@example.org via team+ops@example.org");
	CHECK_STR(route(&cf, "<Team+X@Example.org>", buf, sizeof buf),
	    "alice@example.org bob@example.org via team@example.org");
	/* Through an alias to an alias, each mailbox once. */
	CHECK_STR(route(&cf, "<sales@example.org>", buf, sizeof buf),
	    "alice@example.org bob@example.org x@open.test via sales@example.org");
	/* A mailbox; its extension names a folder; an odd one does not. */
	CHECK_STR(route(&cf, "<alice+Lists@example.org>", buf, sizeof buf),
	    "alice@example.org/lists");
	CHECK_STR(route(&cf, "<alice+a.b@example.org>", buf, sizeof buf),
	    "alice@example.org");
	CHECK_STR(route(&cf, "<carol@example.org>", buf, sizeof buf), "refused 550 5.1.1");
	/* The catch-all takes every other local part of its domain;
	 * postmaster's alias comes first. */
	CHECK_STR(route(&cf, "<anyone@example.net>", buf, sizeof buf),
	    "alice@example.org via @example.net");
	CHECK_STR(route(&cf, "<\".odd\"@example.net>", buf, sizeof buf),
	    "alice@example.org via @example.net");
	CHECK_STR(route(&cf, "<postmaster@example.net>", buf, sizeof buf),
	    "bob@example.org via postmaster@example.net");
	/* A domain with neither list nor catch-all; postmaster; relaying. */
	CHECK_STR(route(&cf, "<new+f@open.test>", buf, sizeof buf), "new@open.test/f");
	CHECK_STR(route(&cf, "<postmaster>", buf, sizeof buf), "postmaster@example.org");
	CHECK_STR(route(&cf, "<x@elsewhere.test>", buf, sizeof buf), "refused 550 5.7.1");
	CHECK_STR(route(&cf, "<\".odd\"@open.test>", buf, sizeof buf), "refused 550 5.1.3");
	config_empty(&cf);
}

static void
test_sockaddr_text(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	unsigned char key[16];
	char	 text[64], lit[72];

	memset(&ss, 0, sizeof ss);
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(2525);
	inet_pton(AF_INET6, "::ffff:192.0.2.9", &s6->sin6_addr);
	sockaddr_text(&ss, text, sizeof text, lit, sizeof lit);
	CHECK_STR(text, "192.0.2.9");
	CHECK_STR(lit, "[192.0.2.9]");
	CHECK(sockaddr_key(&ss, key) == AF_INET && key[0] == 192 && key[3] == 9 &&
	    key[4] == 0);
	CHECK(sockaddr_port(&ss) == 2525);
	inet_pton(AF_INET6, "2001:db8::1", &s6->sin6_addr);
	sockaddr_text(&ss, text, sizeof text, lit, sizeof lit);
	CHECK_STR(lit, "[IPv6:2001:db8::1]");
	CHECK(sockaddr_key(&ss, key) == AF_INET6);
	memset(&ss, 0, sizeof ss);
	s4->sin_family = AF_INET;
	inet_pton(AF_INET, "198.51.100.7", &s4->sin_addr);
	sockaddr_text(&ss, text, sizeof text, NULL, 0);
	CHECK_STR(text, "198.51.100.7");
	ss.ss_family = AF_UNIX;
	sockaddr_text(&ss, text, sizeof text, lit, sizeof lit);
	CHECK_STR(lit, "[local]");
	CHECK(sockaddr_key(&ss, key) == AF_UNSPEC);
}

int
main(void)
{
	RUN(test_bdat_argument);
	RUN(test_params_left_whole);
	RUN(test_mail_params);
	RUN(test_rcpt_params);
	RUN(test_recipient_policy);
	RUN(test_routing_with_aliases);
	RUN(test_sockaddr_text);
	return unit_done();
}
