/*
 * test_policy.c - policy server replies and requests (src/policy.c).
 */
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "unit.h"

/* parse - policy_parse_reply on a heap copy of exactly strlen(s) bytes. */
static int
parse(const char *s, struct policy_result *r, const char **why)
{
	size_t	 len = strlen(s);
	char	*copy = malloc(len ? len : 1);
	int	 rc;

	if (copy == NULL)
		abort();
	memcpy(copy, s, len);
	rc = policy_parse_reply(copy, len, r, why);
	free(copy);
	return rc;
}

static void
test_actions(void)
{
	struct policy_result r;
	const char *why;

	CHECK_EQ_INT(parse("action=OK\n\n", &r, &why), 0);
	CHECK_EQ_INT(r.action, POLICY_OK);
	CHECK_EQ_INT(parse("action=dunno\n\n", &r, &why), 0);
	CHECK_EQ_INT(r.action, POLICY_DUNNO);
	CHECK_EQ_INT(parse("action=Reject\n\n", &r, &why), 0);
	CHECK_EQ_INT(r.action, POLICY_REJECT);
	CHECK_EQ_INT(r.code, 550);
	CHECK_STR(r.esc, "5.7.1");
	CHECK_STR(r.text, "Access denied");
	CHECK_EQ_INT(parse("action=DEFER\n\n", &r, &why), 0);
	CHECK_EQ_INT(r.action, POLICY_DEFER);
	CHECK_EQ_INT(r.code, 450);
	CHECK_STR(r.esc, "4.7.1");
	CHECK_EQ_INT(parse("action=defer_if_permit Greylisted, see x\n\n", &r, &why), 0);
	CHECK_EQ_INT(r.action, POLICY_DEFER_IF_PERMIT);
	CHECK_EQ_INT(r.code, 450);
	CHECK_STR(r.text, "Greylisted, see x");
	CHECK_EQ_INT(parse("action=DEFER_IF_REJECT\n\n", &r, &why), 0);
	CHECK_EQ_INT(r.action, POLICY_DEFER_IF_REJECT);
	CHECK_EQ_INT(parse("action=WARN look\n\n", &r, &why), 0);
	CHECK_EQ_INT(r.action, POLICY_WARN);
	CHECK_STR(r.text, "look");
	CHECK_EQ_INT(parse("action=INFO\n\n", &r, &why), 0);
	CHECK_EQ_INT(r.action, POLICY_INFO);
	CHECK_EQ_INT(parse("action=DISCARD gone\n\n", &r, &why), 0);
	CHECK_EQ_INT(r.action, POLICY_DISCARD);
	CHECK_EQ_INT(parse("action=HOLD\n\n", &r, &why), 0);
	CHECK_EQ_INT(r.action, POLICY_UNSUPPORTED);
	CHECK_STR(r.word, "HOLD");
	CHECK_EQ_INT(parse("action=redirect a@b\n\n", &r, &why), 0);
	CHECK_EQ_INT(r.action, POLICY_UNSUPPORTED);
	CHECK_STR(r.word, "redirect");
}

static void
test_codes(void)
{
	struct policy_result r;
	const char *why;

	CHECK_EQ_INT(parse("action=554 5.7.23 SPF fail\n\n", &r, &why), 0);
	CHECK_EQ_INT(r.action, POLICY_REJECT);
	CHECK_EQ_INT(r.code, 554);
	CHECK_STR(r.esc, "5.7.23");
	CHECK_STR(r.text, "SPF fail");
	CHECK_EQ_INT(parse("action=421 later\n\n", &r, &why), 0);
	CHECK_EQ_INT(r.action, POLICY_DEFER);
	CHECK_EQ_INT(r.code, 421);
	CHECK_STR(r.esc, "4.7.1");
	CHECK_STR(r.text, "later");
	CHECK_EQ_INT(parse("action=550\n\n", &r, &why), 0);
	CHECK_STR(r.text, "Access denied");
	/* The enhanced code takes the reply's class. */
	CHECK_EQ_INT(parse("action=451 5.1.1 odd\n\n", &r, &why), 0);
	CHECK_STR(r.esc, "4.1.1");
	CHECK_EQ_INT(parse("action=REJECT 4.7.0 x\n\n", &r, &why), 0);
	CHECK_STR(r.esc, "5.7.0");
	/* Not an enhanced code: part of the text. */
	CHECK_EQ_INT(parse("action=REJECT 5.7.1234 x\n\n", &r, &why), 0);
	CHECK_STR(r.esc, "5.7.1");
	CHECK_STR(r.text, "5.7.1234 x");
	CHECK_EQ_INT(parse("action=REJECT 5.7.1x\n\n", &r, &why), 0);
	CHECK_STR(r.text, "5.7.1x");
	/* Codes that are no refusal. */
	CHECK_EQ_INT(parse("action=250 fine\n\n", &r, &why), -1);
	CHECK_EQ_INT(parse("action=5555 x\n\n", &r, &why), -1);
	CHECK_EQ_INT(parse("action=45 x\n\n", &r, &why), -1);
}

static void
test_prepend(void)
{
	struct policy_result r;
	const char *why;

	CHECK_EQ_INT(parse("action=PREPEND X-Greylist: delayed 5 s\n\n", &r, &why), 0);
	CHECK_EQ_INT(r.action, POLICY_PREPEND);
	CHECK_STR(r.text, "X-Greylist: delayed 5 s");
	CHECK_EQ_INT(parse("action=PREPEND X-Empty:\n\n", &r, &why), 0);
	CHECK_EQ_INT(parse("action=PREPEND Received-SPF: Pass\t(tab)\n\n", &r, &why), 0);
	CHECK_EQ_INT(parse("action=PREPEND no header\n\n", &r, &why), -1);
	CHECK_EQ_INT(parse("action=PREPEND : novalue\n\n", &r, &why), -1);
	CHECK_EQ_INT(parse("action=PREPEND\n\n", &r, &why), -1);
	{
		char	buf[POLICY_HEADER_MAX + 64];
		size_t	n;

		n = (size_t)snprintf(buf, sizeof buf, "action=PREPEND X-Long: ");
		memset(buf + n, 'a', POLICY_HEADER_MAX);
		memcpy(buf + n + POLICY_HEADER_MAX, "\n\n", 3);
		CHECK_EQ_INT(parse(buf, &r, &why), -1);
	}
}

static void
test_framing(void)
{
	struct policy_result r;
	const char *why;

	CHECK_EQ_INT(policy_reply_end("action=OK\n", 10), 0);
	CHECK_EQ_INT(policy_reply_end("action=OK\n\n", 11), 11);
	CHECK_EQ_INT(policy_reply_end("action=OK\r\n\r\n", 13), 13);
	CHECK_EQ_INT(policy_reply_end("action=OK\n\nmore", 15), 11);
	CHECK_EQ_INT(policy_reply_end("\n", 1), 1);
	CHECK_EQ_INT(policy_reply_end("", 0), 0);
	/* Other attributes are ignored; one action is required. */
	CHECK_EQ_INT(parse("foo=bar\naction=OK\nbaz=\n\n", &r, &why), 0);
	CHECK_EQ_INT(r.action, POLICY_OK);
	CHECK_EQ_INT(parse("foo=bar\n\n", &r, &why), -1);
	CHECK_STR(why, "no action");
	CHECK_EQ_INT(parse("action=OK\naction=OK\n\n", &r, &why), -1);
	CHECK_EQ_INT(parse("action=\n\n", &r, &why), -1);
	CHECK_EQ_INT(parse("action= OK\n\n", &r, &why), -1);
	CHECK_EQ_INT(parse("garbage\n\n", &r, &why), -1);
	CHECK_EQ_INT(parse("=x\naction=OK\n\n", &r, &why), -1);
	CHECK_EQ_INT(parse("action=OK\n", &r, &why), -1);
	CHECK_EQ_INT(parse("\n", &r, &why), -1);
	CHECK_EQ_INT(parse("action=REJECT a\x01z\n\n", &r, &why), -1);
	CHECK_EQ_INT(parse("action=OK\r\n\r\n", &r, &why), 0);
	/* Bytes after the empty line are not looked at. */
	CHECK_EQ_INT(parse("action=OK\n\naction=REJECT\n\n", &r, &why), 0);
	CHECK_EQ_INT(r.action, POLICY_OK);
	CHECK_EQ_INT(policy_parse_reply("action=OK\0\n\n", 12, &r, &why), -1);
}

static void
test_text_sanitized(void)
{
	struct policy_result r;
	const char *why;
	char	 buf[2000];
	size_t	 n;

	CHECK_EQ_INT(parse("action=REJECT caf\xc3\xa9\tx\n\n", &r, &why), 0);
	CHECK_STR(r.text, "caf???x");
	n = (size_t)snprintf(buf, sizeof buf, "action=REJECT ");
	memset(buf + n, 'b', 1500);
	memcpy(buf + n + 1500, "\n\n", 3);
	CHECK_EQ_INT(parse(buf, &r, &why), 0);
	CHECK_EQ_INT(strlen(r.text), POLICY_TEXT_MAX);
}

static void
test_request(void)
{
	struct policy_req rq;
	char	 buf[8192], big[3000];
	size_t	 n;

	memset(&rq, 0, sizeof rq);
	rq.state = "RCPT";
	rq.protocol = "ESMTP";
	rq.helo = "evil\r\nrecipient=x@y";
	rq.sender = "a@b";
	rq.recipient = "c@d";
	rq.client_address = "192.0.2.1";
	rq.client_port = 4321;
	rq.client_name = "unknown";
	rq.server_address = "192.0.2.2";
	rq.server_port = 25;
	rq.size = 1234;
	n = policy_format_request(&rq, "1.2", buf, sizeof buf);
	REQUIRE(n > 0);
	CHECK_EQ_INT(strlen(buf), n);
	CHECK(strncmp(buf, "request=smtpd_access_policy\n", 28) == 0);
	CHECK(strstr(buf, "\nhelo_name=evil??recipient=x@y\n") != NULL);
	CHECK(strstr(buf, "\nrecipient=c@d\n") != NULL);
	CHECK(strstr(buf, "\nqueue_id=\n") != NULL);
	CHECK(strstr(buf, "\nreverse_client_name=\n") != NULL);
	CHECK(strstr(buf, "\nclient_port=4321\n") != NULL);
	CHECK(strstr(buf, "\nsize=1234\n") != NULL);
	CHECK(strstr(buf, "\ninstance=1.2\n") != NULL);
	CHECK(strstr(buf, "\nencryption_keysize=0\n") != NULL);
	CHECK(strstr(buf, "\nserver_port=25\n\n") != NULL);
	/* One empty line, at the end only. */
	CHECK(strstr(buf, "\n\n") == buf + n - 2);
	/* Long values are cut. */
	memset(big, 'h', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	rq.helo = big;
	n = policy_format_request(&rq, "1.2", buf, sizeof buf);
	REQUIRE(n > 0);
	CHECK(strstr(buf, "helo_name=") != NULL);
	CHECK_EQ_INT(strcspn(strstr(buf, "helo_name=") + 10, "\n"), POLICY_VALUE_MAX);
	/* No room: 0. */
	CHECK_EQ_INT(policy_format_request(&rq, "1.2", buf, 100), 0);
}

int
main(void)
{
	RUN(test_actions);
	RUN(test_codes);
	RUN(test_prepend);
	RUN(test_framing);
	RUN(test_text_sanitized);
	RUN(test_request);
	return unit_done();
}
