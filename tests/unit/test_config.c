/*
 * test_config.c - smtpd.conf parsing (src/config.c).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

#define BASE	"listen 127.0.0.1:2525\n" \
		"domain example.org\n" \
		"maildir /var/spool/smtpd/%d/%u\n"

/* The parse of one text: result, config and everything written to err. */
struct parsed {
	int		rc;
	struct config	cf;
	char		err[8192];
	int		nerr;		/* lines in err */
};


/* parse_len - config_parse of text[0..len) named "t.conf". */
static struct parsed *
parse_len(const char *text, size_t len)
{
	struct parsed *p = calloc(1, sizeof *p);
	char	*ebuf = NULL, *tbuf = malloc(len + 1);
	size_t	 elen = 0;
	FILE	*in, *err;

	if (p == NULL || tbuf == NULL)
		abort();
	memcpy(tbuf, text, len);
	in = len ? fmemopen(tbuf, len, "r") : fopen("/dev/null", "r");
	err = open_memstream(&ebuf, &elen);
	if (in == NULL || err == NULL)
		abort();
	p->rc = config_parse(in, "t.conf", &p->cf, err);
	fclose(in);
	fclose(err);
	snprintf(p->err, sizeof p->err, "%s", ebuf ? ebuf : "");
	for (const char *c = p->err; *c; c++)
		if (*c == '\n')
			p->nerr++;
	free(ebuf);
	free(tbuf);
	return p;
}

static struct parsed *
parse(const char *text)
{
	return parse_len(text, strlen(text));
}

static void
done(struct parsed *p)
{
	config_empty(&p->cf);
	free(p);
}

/* has - 1 if the error text contains s. */
static int
has(const struct parsed *p, const char *s)
{
	return strstr(p->err, s) != NULL;
}

/*
 * bad_line - BASE plus line must be refused with exactly one error,
 * reported at line 4 and containing msg.
 */
static int
bad_line(const char *line, const char *msg)
{
	char	 text[4096];
	struct parsed *p;
	int	 good;

	snprintf(text, sizeof text, "%s%s\n", BASE, line);
	p = parse(text);
	good = p->rc == -1 && p->nerr == 1 && has(p, "t.conf:4: ") &&
	    has(p, msg);
	if (!good)
		printf("#   line \"%s\": rc %d, errors:\n%s", line, p->rc, p->err);
	done(p);
	return good;
}

/* good_line - BASE plus line is accepted without a word on err. */
static int
good_line(const char *line)
{
	char	 text[4096];
	struct parsed *p;
	int	 good;

	snprintf(text, sizeof text, "%s%s\n", BASE, line);
	p = parse(text);
	good = p->rc == 0 && p->err[0] == '\0';
	if (!good)
		printf("#   line \"%s\": rc %d, errors:\n%s", line, p->rc, p->err);
	done(p);
	return good;
}

static void
test_defaults(void)
{
	struct parsed *p = parse(BASE);
	struct config *cf = &p->cf;

	CHECK_EQ_INT(p->rc, 0);
	CHECK_STR(p->err, "");
	CHECK_STR(cf->file, "t.conf");
	CHECK_EQ_INT(cf->nlisten, 1);
	CHECK_STR(cf->listen[0].host, "127.0.0.1");
	CHECK_EQ_INT(cf->listen[0].port, 2525);
	CHECK_EQ_INT(cf->listen[0].proxy, 0);
	CHECK_STR(cf->hostname, "");
	CHECK_EQ_INT(cf->ndomains, 1);
	CHECK_STR(cf->domains[0], "example.org");
	CHECK_EQ_INT(cf->nmailboxes, 0);
	CHECK_STR(cf->maildir, "/var/spool/smtpd/%d/%u");
	CHECK_EQ_INT(cf->max_message_size, DEF_MAX_MESSAGE_SIZE);
	CHECK_EQ_INT(cf->max_message_size, 10 * 1024 * 1024);
	CHECK_EQ_INT(cf->max_recipients, 100);
	CHECK_EQ_INT(cf->max_clients, 1000);
	CHECK_EQ_INT(cf->max_clients_per_ip, 50);
	CHECK_EQ_INT(cf->max_errors, 20);
	CHECK_EQ_INT(cf->timeout, 300);
	CHECK_EQ_INT(cf->data_timeout, 300);	/* follows timeout */
	CHECK_EQ_INT(cf->transaction_timeout, 3600);
	CHECK_EQ_INT(cf->greeting_delay, 0);
	CHECK_STR(cf->user, "");
	CHECK_EQ_INT(cf->bare_newline, BARE_NEWLINE_REJECT);
	CHECK_EQ_INT(cf->recipient_delimiter, 0);
	CHECK_EQ_INT(cf->fsync, 1);
	CHECK_EQ_INT(cf->nproxy_from, 0);
	CHECK_EQ_INT(cf->max_junk_commands, 100);

	/* config_clear sets the same defaults as a parse of BASE. */
	{
		struct config	*c = malloc(sizeof *c);

		REQUIRE(c != NULL);
		memset(c, 0xa5, sizeof *c);
		config_clear(c);
		CHECK_EQ_INT(c->max_message_size, cf->max_message_size);
		CHECK_EQ_INT(c->max_recipients, cf->max_recipients);
		CHECK_EQ_INT(c->max_clients, cf->max_clients);
		CHECK_EQ_INT(c->max_clients_per_ip, cf->max_clients_per_ip);
		CHECK_EQ_INT(c->max_errors, cf->max_errors);
		CHECK_EQ_INT(c->max_junk_commands, cf->max_junk_commands);
		CHECK_EQ_INT(c->timeout, cf->timeout);
		CHECK_EQ_INT(c->data_timeout, cf->data_timeout);
		CHECK_EQ_INT(c->transaction_timeout, cf->transaction_timeout);
		CHECK_EQ_INT(c->greeting_delay, 0);
		CHECK_EQ_INT(c->bare_newline, cf->bare_newline);
		CHECK_EQ_INT(c->fsync, 1);
		CHECK_EQ_INT(c->nlisten + c->ndomains + c->nmailboxes + c->nproxy_from, 0);
		CHECK(c->domains == NULL && c->mailboxes == NULL);
		CHECK_STR(c->maildir, "");
		CHECK_STR(c->spool_root, "");
		config_free(c);
	}
	done(p);

	/* data_timeout follows a given timeout, unless given itself. */
	p = parse(BASE "timeout 60\n");
	CHECK_EQ_INT(p->rc, 0);
	CHECK_EQ_INT(p->cf.timeout, 60);
	CHECK_EQ_INT(p->cf.data_timeout, 60);
	done(p);
	p = parse(BASE "data_timeout 30\ntimeout 60\n");
	CHECK_EQ_INT(p->rc, 0);
	CHECK_EQ_INT(p->cf.data_timeout, 30);
	done(p);
}

static void
test_every_directive(void)
{
	struct parsed *p = parse(
	    "listen 127.0.0.1:2525\n"
	    "listen [::1]:2525\n"
	    "listen *:25\n"
	    "listen 127.0.0.1:2526 proxy\n"
	    "hostname mx.example.org\n"
	    "domain Example.ORG\n"
	    "domain example.org\n"	/* the same once lower-cased */
	    "domain b\xc3\xbc" "cher.example\n"
	    "domain [192.0.2.1]\n"
	    "mailbox Alice@Example.org\n"
	    "mailbox bob@example.org\n"
	    "maildir /srv/mail/%d/%u/Maildir\n"
	    "max_message_size 1048576\n"
	    "max_recipients 50\n"
	    "max_clients 10\n"
	    "max_clients_per_ip 3\n"
	    "max_errors 5\n"
	    "max_junk_commands 7\n"
	    "timeout 120\n"
	    "data_timeout 600\n"
	    "transaction_timeout 7200\n"
	    "greeting_delay 2\n"
	    "user smtpd\n"
	    "bare_newline keep\n"
	    "recipient_delimiter +\n"
	    "fsync no\n"
	    "proxy_from 192.0.2.0/24\n"
	    "proxy_from 2001:db8::/32\n");
	struct config *cf = &p->cf;

	CHECK_EQ_INT(p->rc, 0);
	CHECK_STR(p->err, "");
	REQUIRE(cf->nlisten == 4);
	CHECK_STR(cf->listen[0].host, "127.0.0.1");
	CHECK_EQ_INT(cf->listen[0].port, 2525);
	CHECK_STR(cf->listen[1].host, "::1");
	CHECK_EQ_INT(cf->listen[1].port, 2525);
	CHECK_EQ_INT(cf->listen[1].proxy, 0);
	CHECK_STR(cf->listen[2].host, "*");
	CHECK_EQ_INT(cf->listen[2].port, 25);
	CHECK_STR(cf->listen[3].host, "127.0.0.1");
	CHECK_EQ_INT(cf->listen[3].port, 2526);
	CHECK_EQ_INT(cf->listen[3].proxy, 1);
	CHECK_STR(cf->hostname, "mx.example.org");
	REQUIRE(cf->ndomains == 3);
	CHECK_STR(cf->domains[0], "example.org");
	CHECK_STR(cf->domains[1], "b\xc3\xbc" "cher.example");
	CHECK_STR(cf->domains[2], "[192.0.2.1]");
	REQUIRE(cf->nmailboxes == 2);
	CHECK_STR(cf->mailboxes[0], "alice@example.org");
	CHECK_STR(cf->mailboxes[1], "bob@example.org");
	CHECK_STR(cf->maildir, "/srv/mail/%d/%u/Maildir");
	CHECK_EQ_INT(cf->max_message_size, 1048576);
	CHECK_EQ_INT(cf->max_recipients, 50);
	CHECK_EQ_INT(cf->max_clients, 10);
	CHECK_EQ_INT(cf->max_clients_per_ip, 3);
	CHECK_EQ_INT(cf->max_errors, 5);
	CHECK_EQ_INT(cf->max_junk_commands, 7);
	CHECK_EQ_INT(cf->timeout, 120);
	CHECK_EQ_INT(cf->data_timeout, 600);
	CHECK_EQ_INT(cf->transaction_timeout, 7200);
	CHECK_EQ_INT(cf->greeting_delay, 2);
	CHECK_STR(cf->user, "smtpd");
	CHECK_EQ_INT(cf->bare_newline, BARE_NEWLINE_KEEP);
	CHECK_EQ_INT(cf->recipient_delimiter, '+');
	CHECK_EQ_INT(cf->fsync, 0);
	REQUIRE(cf->nproxy_from == 2);
	CHECK_EQ_INT(cf->proxy_from[0].family, AF_INET);
	CHECK_EQ_INT(cf->proxy_from[0].prefix, 24);
	CHECK_EQ_INT(cf->proxy_from[1].family, AF_INET6);
	CHECK_EQ_INT(cf->proxy_from[1].prefix, 32);
	done(p);

	/* Bounds that are allowed. */
	CHECK(good_line("max_clients_per_ip 0"));
	CHECK(good_line("max_junk_commands 0"));
	CHECK(good_line("max_junk_commands 1000000"));
	CHECK(good_line("greeting_delay 0"));
	CHECK(good_line("greeting_delay 300"));
	CHECK(good_line("timeout 86400"));
	CHECK(good_line("transaction_timeout 864000"));
	CHECK(good_line("max_recipients 1000"));
	CHECK(good_line("max_message_size 1099511627776"));
	CHECK(good_line("max_message_size 1"));
	CHECK(good_line("fsync yes"));
	CHECK(good_line("bare_newline reject"));
	CHECK(good_line("recipient_delimiter -"));
	CHECK(good_line("recipient_delimiter ."));
	CHECK(good_line("listen 0.0.0.0:65535"));
	CHECK(good_line("listen [::]:1"));
	CHECK(good_line("listen [2001:db8::1]:25 proxy\nproxy_from 2001:db8::/32"));
	CHECK(good_line("extension_folders yes"));
	CHECK(good_line("alias a@example.org b@example.org, c@example.org"));
	CHECK(good_line("alias @example.org catchall@example.org"));
	CHECK(good_line("timeout 007"));
}

static void
test_proxy_without_proxy_from_warns(void)
{
	char	 text[4096];
	struct parsed *p;

	snprintf(text, sizeof text, "%slisten 127.0.0.1:26 proxy\n", BASE);
	p = parse(text);
	CHECK_EQ_INT(p->rc, 0);
	CHECK(strstr(p->err, "t.conf: warning: listen 127.0.0.1:26 proxy: no proxy_from") != NULL);
	done(p);
}

static void
test_aliases(void)
{
	static const struct { const char *lines, *want; } bad[] = {
		{ "mailbox aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.org",
		  "local part longer than 64 octets" },
		{ "alias a@example.org", "alias a@example.org: no target" },
		{ "alias a@other.test b@example.org", "a@other.test: other.test is not one of our domains" },
		{ "alias a@example.org b@other.test", "target b@other.test: other.test is not one of our domains (smtpd never relays)" },
		{ "alias a@example.org b@example.org\nalias b@example.org a@example.org",
		  "alias loop: a@example.org -> b@example.org -> a@example.org" },
		{ "alias a@example.org a@example.org", "alias loop: a@example.org -> a@example.org" },
		{ "alias a@example.org x", "target \"x\": expected LOCAL@DOMAIN" },
		{ "alias nodomain b@example.org", "expected LOCAL@DOMAIN or @DOMAIN" },
		{ "mailbox m@example.org\nalias a@example.org z@example.org",
		  "target z@example.org: neither a mailbox line nor an alias" },
		{ "alias a@example.org @example.org", "expected LOCAL@DOMAIN" },
		{ "alias a@example.org .x@example.org", "cannot name a mailbox" },
	};
	char	 text[4096];
	struct parsed *p;
	const struct config_alias *al;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "%s%s\n", BASE, bad[i].lines);
		p = parse(text);
		CHECK_EQ_INT(p->rc, -1);
		if (strstr(p->err, bad[i].want) == NULL || strstr(p->err, "t.conf:") == NULL)
			printf("#   %s: got %s", bad[i].lines, p->err);
		CHECK(strstr(p->err, bad[i].want) != NULL);
		done(p);
	}
	/* Through aliases, each mailbox once; a second line adds targets. */
	snprintf(text, sizeof text, "%s%s", BASE,
	    "recipient_delimiter +\n"
	    "alias postmaster@example.org Root@Example.org, abuse@example.org\n"
	    "alias abuse@example.org root@example.org bob+x@example.org\n"
	    "alias abuse@example.org carol@example.org\n"
	    "alias @example.org root@example.org\n");
	p = parse(text);
	CHECK_EQ_INT(p->rc, 0);
	CHECK_STR(p->err, "");
	al = config_alias(&p->cf, "postmaster", "example.org");
	REQUIRE(al != NULL);
	CHECK_EQ_INT(al->ntargets, 3);
	CHECK_STR(al->targets[0], "root@example.org");
	CHECK_STR(al->targets[1], "bob@example.org");
	CHECK_STR(al->targets[2], "carol@example.org");
	al = config_alias(&p->cf, "", "example.org");
	REQUIRE(al != NULL);
	CHECK_EQ_INT(al->ntargets, 1);
	CHECK(config_alias(&p->cf, "nobody", "example.org") == NULL);
	done(p);
}

static void
test_comments_and_blanks(void)
{
	struct parsed *p = parse(
	    "# smtpd.conf\n"
	    "\n"
	    "   \n"
	    "\t\n"
	    "  listen   127.0.0.1:2525   # trailing comment\n"
	    "\tdomain\texample.org\t\n"
	    "#domain commented.example\n"
	    "maildir /m/%d/%u\r\n"		/* CRLF line end */
	    "timeout 60");			/* no final newline */

	CHECK_EQ_INT(p->rc, 0);
	CHECK_STR(p->err, "");
	CHECK_EQ_INT(p->cf.nlisten, 1);
	CHECK_EQ_INT(p->cf.ndomains, 1);
	CHECK_STR(p->cf.domains[0], "example.org");
	CHECK_STR(p->cf.maildir, "/m/%d/%u");
	CHECK_EQ_INT(p->cf.timeout, 60);
	done(p);
	/* Tabs inside a value are spaces: "listen ADDR<TAB>proxy". */
	p = parse(BASE "listen\t127.0.0.1:2526\tproxy\n");
	CHECK_EQ_INT(p->rc, 0);
	REQUIRE(p->cf.nlisten == 2);
	CHECK_EQ_INT(p->cf.listen[1].proxy, 1);
	done(p);
}

static void
test_unknown_keyword(void)
{
	struct parsed *p = parse(BASE "bogus 1\n");

	CHECK_EQ_INT(p->rc, -1);
	CHECK_STR(p->err, "t.conf:4: unknown keyword \"bogus\"\n");
	done(p);
	CHECK(bad_line("Listen 127.0.0.1:25", "unknown keyword"));	/* case */
	CHECK(bad_line("max_recipients=5 x", "unknown keyword"));
}

/* An unknown keyword is unknown whether or not a value follows. */
static void
test_unknown_keyword_alone(void)
{
	CHECK(bad_line("bogus", "unknown keyword \"bogus\""));
	CHECK(bad_line("listne", "unknown keyword"));
}

static void
test_missing_value(void)
{
	CHECK(bad_line("timeout", "timeout: missing value"));
	CHECK(bad_line("timeout   ", "timeout: missing value"));
	CHECK(bad_line("hostname # none", "hostname: missing value"));
	CHECK(bad_line("listen", "missing value"));
	CHECK(bad_line("domain", "missing value"));
	CHECK(bad_line("proxy_from", "missing value"));
	CHECK(bad_line("user", "missing value"));
}

static void
test_bad_numbers(void)
{
	CHECK(bad_line("timeout abc", "expected a number"));
	CHECK(bad_line("timeout 10s", "expected a number"));
	CHECK(bad_line("timeout -1", "expected a number"));
	CHECK(bad_line("timeout +1", "expected a number"));
	CHECK(bad_line("timeout 1 2", "expected a number"));
	CHECK(bad_line("timeout 0x10", "expected a number"));
	CHECK(bad_line("max_message_size 10M", "expected a number"));
	CHECK(bad_line("greeting_delay 1.5", "expected a number"));
}

static void
test_out_of_range(void)
{
	CHECK(bad_line("timeout 0", "out of range"));
	CHECK(bad_line("timeout 86401", "out of range"));
	CHECK(bad_line("timeout 99999999999999999999999", "out of range"));
	CHECK(bad_line("data_timeout 0", "out of range"));
	CHECK(bad_line("transaction_timeout 864001", "out of range"));
	CHECK(bad_line("max_recipients 0", "out of range"));
	CHECK(bad_line("max_recipients 1001", "out of range 1..1000"));
	CHECK(bad_line("max_clients 0", "out of range"));
	CHECK(bad_line("max_clients 1000001", "out of range"));
	CHECK(bad_line("max_clients_per_ip 1000001", "out of range"));
	CHECK(bad_line("max_errors 0", "out of range"));
	CHECK(bad_line("max_junk_commands 1000001", "out of range 0..1000000"));
	CHECK(bad_line("max_junk_commands -1", "expected a number"));
	CHECK(bad_line("greeting_delay 301", "out of range"));
	CHECK(bad_line("max_message_size 0", "out of range"));
	CHECK(bad_line("max_message_size 1099511627777", "out of range"));
	CHECK(bad_line("listen 127.0.0.1:0", "out of range"));
	CHECK(bad_line("listen 127.0.0.1:65536", "out of range"));
	CHECK(bad_line("listen [::1]:70000", "out of range"));
	/* A refused value leaves the default. */
	{
		struct parsed *p = parse(BASE "timeout 0\n");
		CHECK_EQ_INT(p->cf.timeout, 300);
		done(p);
	}
}

static void
test_duplicates(void)
{
	static const char *const single[][2] = {
		{ "hostname", "mx.example.org" },
		{ "maildir", "/x/%u" },
		{ "max_message_size", "1000" },
		{ "max_recipients", "10" },
		{ "max_clients", "10" },
		{ "max_clients_per_ip", "1" },
		{ "max_errors", "3" },
		{ "max_junk_commands", "3" },
		{ "timeout", "10" },
		{ "data_timeout", "10" },
		{ "transaction_timeout", "10" },
		{ "greeting_delay", "1" },
		{ "user", "nobody" },
		{ "bare_newline", "keep" },
		{ "recipient_delimiter", "+" },
		{ "fsync", "no" },
	};
	char	 text[512], msg[64];

	for (size_t i = 0; i < sizeof single / sizeof single[0]; i++) {
		struct parsed *p;
		snprintf(text, sizeof text,
		    "listen 127.0.0.1:25\ndomain example.org\n%s%s %s\n%s %s\n",
		    strcmp(single[i][0], "maildir") ? "maildir /m/%u\n" : "",
		    single[i][0], single[i][1], single[i][0], single[i][1]);
		p = parse(text);
		snprintf(msg, sizeof msg, "%s: given twice", single[i][0]);
		if (!CHECK(p->rc == -1 && p->nerr == 1 && has(p, msg)))
			printf("#   %s: %s", single[i][0], p->err);
		/* reported on the second occurrence */
		if (!CHECK(has(p, strcmp(single[i][0], "maildir") ?
		    "t.conf:5:" : "t.conf:4:")))
			printf("#   %s: %s", single[i][0], p->err);
		done(p);
	}
	/* Lists may repeat. */
	{
		struct parsed *p = parse(BASE "domain b.example\nlisten 127.0.0.1:2526\n"
		    "proxy_from 10.0.0.1\nproxy_from 10.0.0.2\n"
		    "mailbox a@b.example\nmailbox c@b.example\nmailbox a@b.example\n");
		CHECK_EQ_INT(p->rc, 0);
		CHECK_EQ_INT(p->cf.ndomains, 2);
		CHECK_EQ_INT(p->cf.nlisten, 2);
		CHECK_EQ_INT(p->cf.nproxy_from, 2);
		CHECK_EQ_INT(p->cf.nmailboxes, 2);	/* deduplicated */
		done(p);
	}
}

static void
test_bad_listen(void)
{
	static const char *const bad[] = {
		"listen 127.0.0.1",
		"listen 127.0.0.1:",
		"listen :25",
		"listen ::1:25",
		"listen [::1]25",
		"listen [::1:25",
		"listen [::1]",
		"listen [::1]:",
		"listen [127.0.0.1]:25",
		"listen [*]:25",
		"listen localhost:25",
		"listen 127.0.0.256:25",
		"listen *:x",
		"listen *:25x",
		"listen 127.0.0.1:25 proxyx",
		"listen 127.0.0.1:25 proxy extra",
		"listen 127.0.0.1:25 PROXY",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(bad_line(bad[i], ""));
	CHECK(bad_line("listen 127.0.0.1", "expected ADDRESS:PORT"));
	CHECK(bad_line("listen [::1]25", "expected [ADDRESS]:PORT"));
	CHECK(bad_line("listen [zz]:25", "not an IPv6 address"));
	CHECK(bad_line("listen localhost:25", "not an IPv4 address"));
	CHECK(bad_line("listen 127.0.0.1:25 tls", "unknown listen option"));
	/* at most CONFIG_LISTEN_MAX */
	{
		char	text[2048];
		size_t	len = 0;
		struct parsed *p;

		len += (size_t)snprintf(text + len, sizeof text - len,
		    "domain example.org\nmaildir /m/%%u\n");
		for (int i = 0; i < CONFIG_LISTEN_MAX + 1; i++)
			len += (size_t)snprintf(text + len, sizeof text - len,
			    "listen 127.0.0.1:%d\n", 2000 + i);
		p = parse(text);
		CHECK_EQ_INT(p->rc, -1);
		CHECK_EQ_INT(p->nerr, 1);
		CHECK(has(p, "t.conf:19: too many listen lines"));
		CHECK_EQ_INT(p->cf.nlisten, CONFIG_LISTEN_MAX);
		done(p);
	}
}

static void
test_other_bad_values(void)
{
	CHECK(bad_line("hostname bad_host", "not a valid host name"));
	CHECK(bad_line("hostname a..b", "not a valid host name"));
	CHECK(bad_line("hostname b\xc3\xbc" "cher.example", "not a valid host name"));
	CHECK(bad_line("domain bad..example", "not a valid domain"));
	CHECK(bad_line("domain a b", "not a valid domain"));
	CHECK(bad_line("domain example.org.", "not a valid domain"));
	CHECK(bad_line("domain \xc3.example", "not a valid domain"));
	CHECK(bad_line("mailbox alice", "expected LOCAL@DOMAIN"));
	CHECK(bad_line("mailbox @example.org", "expected LOCAL@DOMAIN"));
	CHECK(bad_line("mailbox alice@", "expected LOCAL@DOMAIN"));
	CHECK(bad_line("mailbox alice@bad..example", "expected LOCAL@DOMAIN"));
	CHECK(bad_line("bare_newline strip", "expected reject or keep"));
	CHECK(bad_line("recipient_delimiter ++", "expected one of"));
	CHECK(bad_line("recipient_delimiter a", "expected one of"));
	CHECK(bad_line("recipient_delimiter /", "expected one of"));
	CHECK(bad_line("fsync maybe", "expected yes or no"));
	CHECK(bad_line("fsync YES", "expected yes or no"));
	CHECK(bad_line("user two words", "not a user name"));
	{
		char	line[200];
		memset(line, 'u', sizeof line);
		memcpy(line, "user ", 5);
		line[5 + 64] = '\0';	/* 64 characters: no room for the NUL */
		CHECK(bad_line(line, "not a user name"));
		line[5 + 63] = '\0';
		CHECK(good_line(line));
	}
}

static void
test_maildir_template(void)
{
	struct parsed *p;

	p = parse("listen 127.0.0.1:25\ndomain example.org\nmaildir /m/%x\n");
	CHECK_EQ_INT(p->rc, -1);
	CHECK(has(p, "t.conf:3: maildir: unknown escape %x"));
	done(p);
	p = parse("listen 127.0.0.1:25\ndomain example.org\nmaildir /m/%\n");
	CHECK_EQ_INT(p->rc, -1);
	CHECK(has(p, "t.conf:3: maildir: unknown escape"));
	done(p);
	p = parse("listen 127.0.0.1:25\ndomain example.org\nmaildir /m/100%%/%d/%u\n");
	CHECK_EQ_INT(p->rc, 0);
	CHECK_STR(p->cf.maildir, "/m/100%%/%d/%u");
	done(p);
	p = parse("listen 127.0.0.1:25\ndomain example.org\nmaildir /m/%%%u\n");
	CHECK_EQ_INT(p->rc, 0);
	done(p);
	p = parse("listen 127.0.0.1:25\ndomain example.org\nmaildir /m/%%%\n");
	CHECK_EQ_INT(p->rc, -1);
	done(p);
}

static void
test_whole_file_checks(void)
{
	struct parsed *p = parse("");

	CHECK_EQ_INT(p->rc, -1);
	CHECK_EQ_INT(p->nerr, 3);
	CHECK(has(p, "no listen line"));
	CHECK(has(p, "no domain line"));
	CHECK(has(p, "no maildir line"));
	done(p);
	p = parse("# only a comment\n\n");
	CHECK_EQ_INT(p->rc, -1);
	CHECK(has(p, "t.conf:2: no listen line"));
	done(p);
	/* A mailbox whose domain has no domain line. */
	p = parse(BASE "mailbox alice@other.example\n");
	CHECK_EQ_INT(p->rc, -1);
	CHECK_EQ_INT(p->nerr, 1);
	CHECK(has(p, "mailbox alice@other.example: domain other.example has no domain line"));
	done(p);
	/* ... but the order of the lines does not matter, nor case. */
	p = parse("mailbox alice@EXAMPLE.net\n" BASE "domain example.NET\n");
	CHECK_EQ_INT(p->rc, 0);
	CHECK_STR(p->err, "");
	done(p);
}

static void
test_all_errors_reported(void)
{
	struct parsed *p = parse(
	    "listen 127.0.0.1:25\n"		/* 1 */
	    "bogus 1\n"				/* 2 */
	    "domain example.org\n"		/* 3 */
	    "timeout x\n"			/* 4 */
	    "maildir /m/%u\n"			/* 5 */
	    "max_recipients 0\n"		/* 6 */
	    "listen nowhere\n"			/* 7 */
	    "timeout 5\n"			/* 8: the bad one counted */
	    "fsync sometimes\n");		/* 9 */

	CHECK_EQ_INT(p->rc, -1);
	CHECK_EQ_INT(p->nerr, 6);
	CHECK(has(p, "t.conf:2: unknown keyword \"bogus\""));
	CHECK(has(p, "t.conf:4: \"x\": expected a number"));
	CHECK(has(p, "t.conf:6: 0: out of range 1..1000"));
	CHECK(has(p, "t.conf:7: "));
	CHECK(has(p, "t.conf:8: timeout: given twice"));
	CHECK(has(p, "t.conf:9: "));
	done(p);
	/* No err stream: still counted, nothing written. */
	{
		FILE *in = fmemopen((void *)(uintptr_t)"bogus 1\n", 8, "r");
		struct config cf;
		REQUIRE(in != NULL);
		CHECK_EQ_INT(config_parse(in, "x", &cf, NULL), -1);
		fclose(in);
		config_empty(&cf);
	}
}

static void
test_long_line(void)
{
	char	 text[4096];
	size_t	 len;
	struct parsed *p;

	/* 1024 characters and the newline: fine. */
	len = (size_t)snprintf(text, sizeof text, "%shostname ", BASE);
	memset(text + len, 'a', 1024 - 9);
	len += 1024 - 9;
	memcpy(text + len, "\n", 2);
	p = parse(text);
	CHECK(has(p, "t.conf:4: \"aaaa"));	/* a bad host name, not too long */
	CHECK(!has(p, "too long"));
	done(p);
	/* 1100 characters: refused, and the next line is still read. */
	len = (size_t)snprintf(text, sizeof text, "%s# ", BASE);
	memset(text + len, 'a', 1100);
	len += 1100;
	snprintf(text + len, sizeof text - len, "\nbogus 1\n");
	p = parse(text);
	CHECK_EQ_INT(p->rc, -1);
	CHECK_EQ_INT(p->nerr, 2);
	CHECK(has(p, "t.conf:4: line too long"));
	CHECK(has(p, "t.conf:5: unknown keyword \"bogus\""));
	done(p);
}

/*
 * A NUL byte in a line is meant to be refused ("NUL byte in line") and
 * the next line read as usual.
 */
static void
test_nul_byte(void)
{
	static const char t1[] = BASE "domain a.example\0junk\ntimeout 60\n";
	static const char t2[] = BASE "\0bogus line\n";
	static const char t3[] = BASE "domain a.example\0junk";
	struct parsed *p;

	p = parse_len(t1, sizeof t1 - 1);
	CHECK_EQ_INT(p->rc, -1);
	CHECK(has(p, "t.conf:4: NUL byte in line"));
	CHECK_EQ_INT(p->cf.timeout, 60);		/* line 5 read */
	done(p);
	p = parse_len(t2, sizeof t2 - 1);
	CHECK_EQ_INT(p->rc, -1);
	CHECK(has(p, "NUL byte in line"));
	done(p);
	p = parse_len(t3, sizeof t3 - 1);
	CHECK_EQ_INT(p->rc, -1);
	CHECK(has(p, "NUL byte in line"));
	done(p);
}

static void
test_proxy_from_and_cidr(void)
{
	struct config_cidr c;
	unsigned char a4[4], a6[16];

	REQUIRE(config_parse_cidr("192.0.2.0/24", &c) == 0);
	CHECK_EQ_INT(c.family, AF_INET);
	CHECK_EQ_INT(c.prefix, 24);
	inet_pton(AF_INET, "192.0.2.77", a4);
	CHECK_EQ_INT(config_cidr_match(&c, AF_INET, a4), 1);
	inet_pton(AF_INET, "192.0.3.1", a4);
	CHECK_EQ_INT(config_cidr_match(&c, AF_INET, a4), 0);
	inet_pton(AF_INET6, "::ffff:192.0.2.77", a6);
	CHECK_EQ_INT(config_cidr_match(&c, AF_INET6, a6), 0);	/* family */

	REQUIRE(config_parse_cidr("192.0.2.0/25", &c) == 0);
	inet_pton(AF_INET, "192.0.2.127", a4);
	CHECK_EQ_INT(config_cidr_match(&c, AF_INET, a4), 1);
	inet_pton(AF_INET, "192.0.2.128", a4);
	CHECK_EQ_INT(config_cidr_match(&c, AF_INET, a4), 0);

	REQUIRE(config_parse_cidr("10.1.2.3", &c) == 0);
	CHECK_EQ_INT(c.prefix, 32);
	inet_pton(AF_INET, "10.1.2.3", a4);
	CHECK_EQ_INT(config_cidr_match(&c, AF_INET, a4), 1);
	inet_pton(AF_INET, "10.1.2.4", a4);
	CHECK_EQ_INT(config_cidr_match(&c, AF_INET, a4), 0);

	REQUIRE(config_parse_cidr("0.0.0.0/0", &c) == 0);
	inet_pton(AF_INET, "203.0.113.9", a4);
	CHECK_EQ_INT(config_cidr_match(&c, AF_INET, a4), 1);

	REQUIRE(config_parse_cidr("2001:db8::/32", &c) == 0);
	CHECK_EQ_INT(c.family, AF_INET6);
	CHECK_EQ_INT(c.prefix, 32);
	inet_pton(AF_INET6, "2001:db8:ffff::1", a6);
	CHECK_EQ_INT(config_cidr_match(&c, AF_INET6, a6), 1);
	inet_pton(AF_INET6, "2001:db9::1", a6);
	CHECK_EQ_INT(config_cidr_match(&c, AF_INET6, a6), 0);
	CHECK_EQ_INT(config_cidr_match(&c, AF_INET, a6), 0);

	REQUIRE(config_parse_cidr("::1", &c) == 0);
	CHECK_EQ_INT(c.prefix, 128);
	inet_pton(AF_INET6, "::1", a6);
	CHECK_EQ_INT(config_cidr_match(&c, AF_INET6, a6), 1);
	inet_pton(AF_INET6, "::2", a6);
	CHECK_EQ_INT(config_cidr_match(&c, AF_INET6, a6), 0);

	REQUIRE(config_parse_cidr("2001:db8::/61", &c) == 0);
	inet_pton(AF_INET6, "2001:db8:0:7::1", a6);
	CHECK_EQ_INT(config_cidr_match(&c, AF_INET6, a6), 1);
	inet_pton(AF_INET6, "2001:db8:0:8::1", a6);
	CHECK_EQ_INT(config_cidr_match(&c, AF_INET6, a6), 0);
	CHECK(config_parse_cidr("::/0", &c) == 0);
	CHECK(config_parse_cidr("::1/128", &c) == 0);

	static const char *const bad[] = {
		"", "/24", "foo", "192.0.2.0/", "192.0.2.0/33", "192.0.2.0/-1",
		"192.0.2.0/+1", "192.0.2.0/x", "192.0.2.0/24x", "192.0.2.0/24/1",
		"192.0.2/24", "::1/129", "192.0.2.0 /24", "192.0.2.0/ 24",
		"192.0.2.0/99999999999999999999",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (!CHECK_EQ_INT(config_parse_cidr(bad[i], &c), -1))
			printf("#   \"%s\"\n", bad[i]);

	CHECK(bad_line("proxy_from 192.0.2.0/33", "expected ADDRESS or ADDRESS/BITS"));
	CHECK(bad_line("proxy_from example.org", "expected ADDRESS or ADDRESS/BITS"));
	{
		char	text[4096];
		size_t	len = (size_t)snprintf(text, sizeof text, "%s", BASE);
		struct parsed *p;

		for (int i = 0; i < CONFIG_PROXY_FROM_MAX + 1; i++)
			len += (size_t)snprintf(text + len, sizeof text - len,
			    "proxy_from 10.0.0.%d\n", i);
		p = parse(text);
		CHECK_EQ_INT(p->rc, -1);
		CHECK_EQ_INT(p->nerr, 1);
		CHECK(has(p, "too many proxy_from lines"));
		CHECK_EQ_INT(p->cf.nproxy_from, CONFIG_PROXY_FROM_MAX);
		done(p);
	}
}

static void
test_lookups(void)
{
	struct parsed *p = parse(BASE
	    "domain Other.Example\n"
	    "domain open.example\n"
	    "mailbox Alice@example.org\n"
	    "mailbox bob+x@Other.example\n");
	struct config *cf = &p->cf;

	REQUIRE(p->rc == 0);
	CHECK_EQ_INT(config_has_domain(cf, "example.org"), 1);
	CHECK_EQ_INT(config_has_domain(cf, "EXAMPLE.ORG"), 1);
	CHECK_EQ_INT(config_has_domain(cf, "other.example"), 1);
	CHECK_EQ_INT(config_has_domain(cf, "OTHER.example"), 1);
	CHECK_EQ_INT(config_has_domain(cf, "example.com"), 0);
	CHECK_EQ_INT(config_has_domain(cf, "sub.example.org"), 0);
	CHECK_EQ_INT(config_has_domain(cf, "example"), 0);
	CHECK_EQ_INT(config_has_domain(cf, ""), 0);

	CHECK_EQ_INT(config_domain_restricted(cf, "example.org"), 1);
	CHECK_EQ_INT(config_domain_restricted(cf, "Example.Org"), 1);
	CHECK_EQ_INT(config_domain_restricted(cf, "other.example"), 1);
	CHECK_EQ_INT(config_domain_restricted(cf, "open.example"), 0);
	CHECK_EQ_INT(config_domain_restricted(cf, "nowhere.example"), 0);

	CHECK_EQ_INT(config_has_mailbox(cf, "alice", "example.org"), 1);
	CHECK_EQ_INT(config_has_mailbox(cf, "alice", "EXAMPLE.org"), 1);
	CHECK_EQ_INT(config_has_mailbox(cf, "bob+x", "other.example"), 1);
	CHECK_EQ_INT(config_has_mailbox(cf, "bob", "other.example"), 0);
	CHECK_EQ_INT(config_has_mailbox(cf, "alic", "example.org"), 0);
	CHECK_EQ_INT(config_has_mailbox(cf, "alicex", "example.org"), 0);
	CHECK_EQ_INT(config_has_mailbox(cf, "alice", "other.example"), 0);
	CHECK_EQ_INT(config_has_mailbox(cf, "alice", "example.org.x"), 0);
	CHECK_EQ_INT(config_has_mailbox(cf, "", "example.org"), 0);
	CHECK_EQ_INT(config_has_mailbox(cf, "alice", "open.example"), 0);
	done(p);
}

static void
test_config_load(void)
{
	char	 path[] = "/tmp/test_config.XXXXXX";
	int	 fd = mkstemp(path);
	FILE	*fp, *err;
	char	*ebuf = NULL;
	size_t	 elen = 0;
	struct config *cf;

	REQUIRE(fd != -1);
	fp = fdopen(fd, "w");
	REQUIRE(fp != NULL);
	fputs(BASE "domain b.example\n", fp);
	fclose(fp);
	err = open_memstream(&ebuf, &elen);
	REQUIRE(err != NULL);
	cf = config_load(path, NULL, err);
	CHECK(cf != NULL);
	if (cf != NULL) {
		CHECK_STR(cf->file, path);
		CHECK_EQ_INT(cf->ndomains, 2);
	}
	config_free(cf);
	config_free(NULL);
	/* A bad file: NULL and its errors. */
	fp = fopen(path, "w");
	REQUIRE(fp != NULL);
	fputs("bogus 1\n", fp);
	fclose(fp);
	CHECK(config_load(path, NULL, err) == NULL);
	unlink(path);
	CHECK(config_load(path, NULL, err) == NULL);	/* missing */
	fclose(err);
	CHECK(ebuf != NULL && strstr(ebuf, ":1: unknown keyword") != NULL);
	CHECK(ebuf != NULL && strstr(ebuf, "No such file") != NULL);
	free(ebuf);
}

/* load_text - config_load of text (written to a temporary file) with
 * opts; the config or NULL, and the errors in ebuf. */
static struct config *
load_text(const char *text, const struct config_opts *opts, char *ebuf,
    size_t esize, char *path, size_t psize)
{
	char	 tmpl[] = "/tmp/test_config.XXXXXX";
	int	 fd = mkstemp(tmpl);
	FILE	*fp, *err;
	struct config *cf;

	if (fd == -1 || (fp = fdopen(fd, "w")) == NULL)
		abort();
	fputs(text, fp);
	fclose(fp);
	if ((err = fmemopen(ebuf, esize, "w")) == NULL)
		abort();
	setvbuf(err, NULL, _IONBF, 0);
	cf = config_load(tmpl, opts, err);
	fclose(err);
	unlink(tmpl);
	snprintf(path, psize, "%s", tmpl);
	return cf;
}

/* A relative maildir template is made absolute while loading: one that
 * no longer fits is refused there, naming its line. */
static void
test_relative_maildir(void)
{
	struct config_opts opts = { .basedir = "/srv/smtpd" };
	struct config	*cf;
	char		 text[2048], ebuf[2048], path[64], want[256];
	size_t		 len;

	cf = load_text("listen 127.0.0.1:25\ndomain example.org\nmaildir spool/%d/%u\n",
	    &opts, ebuf, sizeof ebuf, path, sizeof path);
	REQUIRE(cf != NULL);
	CHECK_STR(cf->maildir, "/srv/smtpd/spool/%d/%u");
	CHECK_STR(cf->spool_root, "");		/* main.c fills it */
	config_free(cf);
	/* Absolute ones are kept; without a basedir nothing changes. */
	cf = load_text("listen 127.0.0.1:25\ndomain example.org\nmaildir /m/%u\n",
	    &opts, ebuf, sizeof ebuf, path, sizeof path);
	REQUIRE(cf != NULL);
	CHECK_STR(cf->maildir, "/m/%u");
	config_free(cf);
	cf = load_text("listen 127.0.0.1:25\ndomain example.org\nmaildir m/%u\n",
	    NULL, ebuf, sizeof ebuf, path, sizeof path);
	REQUIRE(cf != NULL);
	CHECK_STR(cf->maildir, "m/%u");
	config_free(cf);
	opts.basedir = "/";
	cf = load_text("listen 127.0.0.1:25\ndomain example.org\nmaildir m/%u\n",
	    &opts, ebuf, sizeof ebuf, path, sizeof path);
	REQUIRE(cf != NULL);
	CHECK_STR(cf->maildir, "/m/%u");
	config_free(cf);

	/* 1016 characters: the longest a line holds, too long once made
	 * absolute; reported once, at its line. */
	opts.basedir = "/srv/smtpd";
	len = (size_t)snprintf(text, sizeof text,
	    "listen 127.0.0.1:25\ndomain example.org\nmaildir ");
	memset(text + len, 'a', 1016 - 6);
	len += 1016 - 6;
	snprintf(text + len, sizeof text - len, "/%%d/%%u\ntimeout 10\n");
	memset(ebuf, 0, sizeof ebuf);
	cf = load_text(text, &opts, ebuf, sizeof ebuf, path, sizeof path);
	CHECK(cf == NULL);
	config_free(cf);
	snprintf(want, sizeof want, "%s:3: maildir: relative template too long "
	    "once taken from /srv/smtpd", path);
	if (!CHECK(strstr(ebuf, want) != NULL))
		printf("#   %s\n", ebuf);
	CHECK(strstr(ebuf, "no maildir line") == NULL);
	CHECK(strchr(ebuf, '\n') == strrchr(ebuf, '\n'));	/* one error */
	/* The same template fits without the prefix. */
	cf = load_text(text, NULL, ebuf, sizeof ebuf, path, sizeof path);
	CHECK(cf != NULL);
	config_free(cf);
}

/* Sockets passed by the service manager make listen lines optional. */
static void
test_inherited_sockets(void)
{
	struct config_opts opts = { .inherited = 1 };
	struct config	*cf;
	char		 ebuf[1024], path[64];
	const char	*text = "domain example.org\nmaildir /m/%u\n";

	cf = load_text(text, &opts, ebuf, sizeof ebuf, path, sizeof path);
	REQUIRE(cf != NULL);
	CHECK_EQ_INT(cf->nlisten, 0);
	config_free(cf);
	opts.inherited = 0;
	memset(ebuf, 0, sizeof ebuf);
	cf = load_text(text, &opts, ebuf, sizeof ebuf, path, sizeof path);
	CHECK(cf == NULL);
	config_free(cf);
	CHECK(strstr(ebuf, ":2: no listen line") != NULL);
	CHECK(strstr(ebuf, path) == ebuf);
}

/* The screening directives of issue 18. */
static void
test_screening(void)
{
	struct parsed *p = parse(BASE);
	struct config *cf;

	CHECK_EQ_INT(p->cf.ndnsbl, 0);
	CHECK_EQ_INT(p->cf.dnsbl_threshold, 1);
	CHECK_EQ_INT(p->cf.dns_timeout, 5);
	CHECK_EQ_INT(p->cf.error_delay, 0);
	CHECK_EQ_INT(p->cf.max_connection_rate, 0);
	CHECK_EQ_INT(p->cf.max_message_rate, 0);
	CHECK_EQ_INT(p->cf.reverse_dns, 0);
	CHECK_EQ_INT(p->cf.resolver.family, 0);
	CHECK_EQ_INT(p->cf.nallow, 0);
	done(p);

	p = parse(BASE "dnsbl zen.spamhaus.org=127.0.0.[2..11]*3\n"
	    "dnsbl list.dnswl.org=127.0.[0..255].[1..3]*-2\n"
	    "dnsbl_threshold 2\nresolver [::1]:5353\ndns_timeout 2\n"
	    "allow 192.0.2.0/24\nallow 2001:db8::/32\nerror_delay 3\n"
	    "max_connection_rate 30\nmax_message_rate 10\nreverse_dns yes\n");
	cf = &p->cf;
	CHECK_EQ_INT(p->rc, 0);
	CHECK_STR(p->err, "");
	CHECK_EQ_INT(cf->ndnsbl, 2);
	CHECK_STR(cf->dnsbl[0].zone, "zen.spamhaus.org");
	CHECK_EQ_INT(cf->dnsbl[0].weight, 3);
	CHECK_EQ_INT(cf->dnsbl[1].weight, -2);
	CHECK_EQ_INT(cf->dnsbl_threshold, 2);
	CHECK_EQ_INT(cf->resolver.family, AF_INET6);
	CHECK_EQ_INT(cf->resolver.port, 5353);
	CHECK_EQ_INT(cf->dns_timeout, 2);
	CHECK_EQ_INT(cf->nallow, 2);
	CHECK_EQ_INT(cf->error_delay, 3);
	CHECK_EQ_INT(cf->max_connection_rate, 30);
	CHECK_EQ_INT(cf->max_message_rate, 10);
	CHECK_EQ_INT(cf->reverse_dns, 1);
	{
		unsigned char a[16] = { 192, 0, 2, 77 };
		CHECK(config_allowed(cf, AF_INET, a));
		a[2] = 3;
		CHECK(!config_allowed(cf, AF_INET, a));
	}
	done(p);

	p = parse(BASE "resolver 127.0.0.1\n");
	CHECK_EQ_INT(p->rc, 0);
	CHECK_EQ_INT(p->cf.resolver.family, AF_INET);
	CHECK_EQ_INT(p->cf.resolver.port, 53);
	done(p);

	CHECK(good_line("resolver [::1]"));
	CHECK(good_line("resolver 127.0.0.1:53"));
	CHECK(good_line("dnsbl x.test*-1000"));
	CHECK(bad_line("dnsbl x.test*", "dnsbl \"x.test*\": expected a weight"));
	CHECK(bad_line("dnsbl x.test=127.0.0.[9..2]", "dnsbl"));
	CHECK(bad_line("dnsbl_threshold 0", "out of range"));
	CHECK(bad_line("dns_timeout 0", "out of range"));
	CHECK(bad_line("dns_timeout 61", "out of range"));
	CHECK(bad_line("error_delay -1", "expected a number"));
	CHECK(bad_line("max_connection_rate x", "expected a number"));
	CHECK(bad_line("max_message_rate 1000001", "out of range"));
	CHECK(bad_line("reverse_dns maybe", "expected yes or no"));
	CHECK(bad_line("resolver ::1", "not an IPv4 address"));
	CHECK(bad_line("resolver [::1", "expected ADDRESS[:PORT]"));
	CHECK(bad_line("resolver [::1]x", "expected ADDRESS[:PORT]"));
	CHECK(bad_line("resolver 127.0.0.1:0", "out of range"));
	CHECK(bad_line("resolver 127.0.0.1:x", "expected a number"));
	CHECK(bad_line("resolver example.org", "not an IPv4 address"));
	CHECK(bad_line("allow 10.0.0.0/33", "expected ADDRESS"));
	CHECK(bad_line("allow nowhere", "expected ADDRESS"));
	p = parse(BASE "resolver 127.0.0.1\nresolver 127.0.0.2\n");
	CHECK(p->rc == -1 && has(p, "t.conf:5: resolver: given twice"));
	done(p);
	p = parse(BASE "dnsbl a.test\ndnsbl a.test\ndnsbl a.test\ndnsbl a.test\n"
	    "dnsbl a.test\ndnsbl a.test\ndnsbl a.test\ndnsbl a.test\n"
	    "dnsbl a.test\ndnsbl a.test\ndnsbl a.test\ndnsbl a.test\n"
	    "dnsbl a.test\ndnsbl a.test\ndnsbl a.test\ndnsbl a.test\n"
	    "dnsbl a.test\ndnsbl a.test\ndnsbl a.test\ndnsbl a.test\n"
	    "dnsbl a.test\ndnsbl a.test\ndnsbl a.test\ndnsbl a.test\n"
	    "dnsbl a.test\ndnsbl a.test\ndnsbl a.test\ndnsbl a.test\n"
	    "dnsbl a.test\ndnsbl a.test\ndnsbl a.test\ndnsbl a.test\n"
	    "dnsbl a.test\n");
	CHECK(p->rc == -1 && has(p, "t.conf:36: too many dnsbl lines"));
	done(p);
}

int
main(void)
{
	RUN(test_screening);
	RUN(test_defaults);
	RUN(test_every_directive);
	RUN(test_comments_and_blanks);
	RUN(test_proxy_without_proxy_from_warns);
	RUN(test_aliases);
	RUN(test_unknown_keyword);
	RUN(test_unknown_keyword_alone);
	RUN(test_missing_value);
	RUN(test_bad_numbers);
	RUN(test_out_of_range);
	RUN(test_duplicates);
	RUN(test_bad_listen);
	RUN(test_other_bad_values);
	RUN(test_maildir_template);
	RUN(test_whole_file_checks);
	RUN(test_all_errors_reported);
	RUN(test_long_line);
	RUN(test_nul_byte);
	RUN(test_proxy_from_and_cidr);
	RUN(test_lookups);
	RUN(test_config_load);
	RUN(test_relative_maildir);
	RUN(test_inherited_sockets);
	return unit_done();
}
