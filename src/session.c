/*
 * session.c - one SMTP conversation, from greeting to QUIT.
 * Owns: the command table and with it all command sequencing (RFC 5321
 * 4.1.4, RFC 3030), the session's own copy of each command line, the
 * HELO/EHLO/MAIL/RCPT/DATA/BDAT handlers, reading DATA and BDAT bodies,
 * the session's replies (error_delay, the reject log line), counting
 * errors and junk commands, and the connect/disconnect log lines.
 * Not here (struct session is in sessionint.h, shared with these): who
 * the client is and its screening (client.c), the milters' and policy
 * servers' hooks (filters.c), a message's copies, final reply and log
 * lines (message.c); sockets and threads (listener.c), the reply format
 * (reply.c), ESMTP parameters (esmtp.c), recipient policy (recipient.c),
 * path syntax (smtpaddr.c), body decoding (data.c).
 * Threads: one session per thread; the config is read-only; the only
 * shared writes are the atomic counters in session_stats.
 *
 * A command handler works on s->cmd, a copy of its line that the
 * session owns: the socket buffer under it may be resized (between
 * commands, in session_loop, and nowhere else) without a handler ever
 * holding a pointer into it.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "data.h"
#include "delivery.h"
#include "dns.h"
#include "dnsquery.h"
#include "esmtp.h"
#include "linebuf.h"
#include "log.h"
#include "maildir.h"
#include "milter.h"
#include "policy.h"
#include "proxy.h"
#include "ratelimit.h"
#include "recipient.h"
#include "reply.h"
#include "session.h"
#include "sessionint.h"
#include "smtpaddr.h"
#include "sockaddr.h"
#include "strindex.h"
#include "xclient.h"

struct session_stats session_stats;
static atomic_ulong session_counter;

static int	cmd_helo(struct session *, char *);
static int	cmd_ehlo(struct session *, char *);
static int	cmd_mail(struct session *, char *);
static int	cmd_rcpt(struct session *, char *);
static int	cmd_data(struct session *, char *);
static int	cmd_bdat(struct session *, char *);
static int	cmd_rset(struct session *, char *);
static int	cmd_noop(struct session *, char *);
static int	cmd_quit(struct session *, char *);
static int	cmd_vrfy(struct session *, char *);
static int	cmd_help(struct session *, char *);
static int	cmd_notimpl(struct session *, char *);
static int	cmd_forbidden(struct session *, char *);
static int	cmd_unknown(struct session *, char *);

#define CMD_JUNK	0x01	/* counts towards max_junk_commands */
#define CMD_BODY	0x02	/* a body follows: read through the big buffer */
#define CMD_CHUNK	0x04	/* BDAT: its chunk is read even when refused */

#define NEED_HELO	"Send HELO/EHLO first"
#define NESTED_MAIL	"Nested MAIL command"
#define NEED_MAIL	"Need MAIL command"
#define IN_MAIL		"MAIL transaction in progress"

/*
 * The command table: one entry per verb, the last catching every other
 * one. refuse[state] is the 503 text the verb gets in that state; NULL
 * means it is allowed there. maxline bounds the line with its CRLF
 * (RFC 5321 4.5.3.1.4; MAIL and RCPT may carry parameters).
 *
 * While a BDAT transaction is open (ST_BDAT), RFC 3030 2 lets only
 * further BDAT chunks complete it, and says DATA may not be mixed with
 * BDAT (3): MAIL, RCPT and DATA get 503 and the transaction stays. RSET
 * ends it (RFC 3030 2), and so do HELO and EHLO, which RFC 5321 4.1.4
 * makes equivalent to RSET. NOOP, HELP and QUIT may come at any time
 * (RFC 5321 4.1.4); VRFY and EXPN are refused there as Postfix does.
 * BDAT itself is always read to the end of its chunk, allowed or not
 * (CMD_CHUNK): its bytes must never be taken for commands.
 */
static const struct command {
	const char	*verb;
	int		(*fn)(struct session *, char *);
	size_t		 maxline;
	unsigned	 flags;
	const char	*refuse[ST_COUNT];
} commands[] = {
	{ "HELO", cmd_helo, SMTP_CMDLINE_MAX, 0, { NULL } },
	{ "EHLO", cmd_ehlo, SMTP_CMDLINE_MAX, 0, { NULL } },
	{ "MAIL", cmd_mail, SMTP_PARAMLINE_MAX, 0, {
		[ST_CONNECTED] = NEED_HELO, [ST_MAIL] = NESTED_MAIL,
		[ST_RCPT] = NESTED_MAIL, [ST_BDAT] = "MAIL not allowed during BDAT" } },
	{ "RCPT", cmd_rcpt, SMTP_PARAMLINE_MAX, 0, {
		[ST_CONNECTED] = NEED_HELO, [ST_HELO] = NEED_MAIL,
		[ST_BDAT] = "RCPT not allowed during BDAT" } },
	{ "DATA", cmd_data, SMTP_CMDLINE_MAX, CMD_BODY, {
		[ST_CONNECTED] = NEED_HELO, [ST_HELO] = NEED_MAIL,
		[ST_MAIL] = "No valid recipients",
		[ST_BDAT] = "DATA not allowed during BDAT" } },
	{ "BDAT", cmd_bdat, SMTP_CMDLINE_MAX, CMD_BODY | CMD_CHUNK, {
		[ST_CONNECTED] = NEED_HELO, [ST_HELO] = NEED_MAIL,
		[ST_MAIL] = "No valid recipients" } },
	{ "RSET", cmd_rset, SMTP_CMDLINE_MAX, CMD_JUNK, { NULL } },
	{ "NOOP", cmd_noop, SMTP_CMDLINE_MAX, CMD_JUNK, { NULL } },
	{ "QUIT", cmd_quit, SMTP_CMDLINE_MAX, 0, { NULL } },
	{ "VRFY", cmd_vrfy, SMTP_CMDLINE_MAX, CMD_JUNK, {
		[ST_BDAT] = "VRFY not allowed during BDAT" } },
	{ "EXPN", cmd_notimpl, SMTP_CMDLINE_MAX, CMD_JUNK, {
		[ST_BDAT] = "EXPN not allowed during BDAT" } },
	{ "HELP", cmd_help, SMTP_CMDLINE_MAX, CMD_JUNK, { NULL } },
	/* XCLIENT_README: not inside a transaction (8 values of up to 255). */
	{ "XCLIENT", cmd_xclient, SMTP_PARAMLINE_MAX, 0, {
		[ST_MAIL] = IN_MAIL, [ST_RCPT] = IN_MAIL, [ST_BDAT] = IN_MAIL } },
	{ "STARTTLS", cmd_notimpl, SMTP_CMDLINE_MAX, 0, { NULL } },
	{ "AUTH", cmd_notimpl, SMTP_CMDLINE_MAX, 0, { NULL } },
	{ "TURN", cmd_notimpl, SMTP_CMDLINE_MAX, 0, { NULL } },
	{ "ETRN", cmd_notimpl, SMTP_CMDLINE_MAX, CMD_JUNK, { NULL } },
	/* A web browser or proxy client talking to port 25. */
	{ "GET", cmd_forbidden, SMTP_PARAMLINE_MAX, 0, { NULL } },
	{ "POST", cmd_forbidden, SMTP_PARAMLINE_MAX, 0, { NULL } },
	{ "HEAD", cmd_forbidden, SMTP_PARAMLINE_MAX, 0, { NULL } },
	{ "CONNECT", cmd_forbidden, SMTP_PARAMLINE_MAX, 0, { NULL } },
	{ NULL, cmd_unknown, SMTP_CMDLINE_MAX, CMD_JUNK, { NULL } },
};


/* log_reject - the log line of a refusal; the reply and the command
 * that got it carry client text, so both are quoted. The command is the
 * whole line as the client sent it (the parsers split copies of it);
 * one of escapes long past any real command is cut, ending in ...". */
static void
log_reject(const struct session *s, int code, const char *esc, const char *text,
    size_t tlen)
{
	/* On the heap: a thread's stack pages stay with it while it idles. */
	char	*q = malloc(QUOTED_CMD + QUOTED_TEXT + SMTP_REPLY_MAX + 1);
	char	*t;

	if (q == NULL)
		return;
	t = q + QUOTED_CMD + QUOTED_TEXT;
	memcpy(t, text, tlen);
	t[tlen] = '\0';
	log_info("session=%lu client=%s reject code=%d %s text=%s command=%s",
	    s->id, s->literal, code, esc ? esc : "", log_quote(q, QUOTED_TEXT, t),
	    log_quote(q + QUOTED_TEXT, QUOTED_CMD, s->cmd));
	free(q);
}

/* sleep_unless_stopped - whole seconds, through signals, in quarter
 * seconds that each look at the stop word: a shutdown ends the sleep. */
static void
sleep_unless_stopped(atomic_int *stop, int secs)
{
	struct timespec	ts;

	for (int quarter = 0; quarter < secs * 4; quarter++) {
		if (stop != NULL && atomic_load(stop) == LB_STOPPED)
			return;
		ts.tv_sec = 0;
		ts.tv_nsec = 250 * 1000000L;
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}
}

static void	flush(struct session *);

static void
reply_common(struct session *s, int code, int more, const char *esc,
    const char *fmt, va_list ap)
{
	const char *text;
	size_t	 tlen;

	if (code >= 400 && code != 421 && !more && s->refusals++ > 0 &&
	    s->cf->error_delay > 0 && !s->allowed) {
		/* A tarpit (Postfix's smtpd_error_sleep_time): what is
		 * queued goes first, so the client sees the wait here. */
		flush(s);
		sleep_unless_stopped(s->lb.stop, s->cf->error_delay);
	}
	text = reply_vadd(&s->out, code, more, esc, &tlen, fmt, ap);
	log_debug("session=%lu >>> %d%c%s%s%.*s", s->id, code, more ? '-' : ' ',
	    esc ? esc : "", esc ? " " : "", (int)tlen, text);
	if (code >= 400 && code != 421 && !more) {
		/* Every refusal counts towards max_errors and is logged. */
		s->errors++;
		log_reject(s, code, esc, text, tlen);
	}
}

/* reply - queue the one reply a command gets. */
void
reply(struct session *s, int code, const char *esc, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	reply_common(s, code, 0, esc, fmt, ap);
	va_end(ap);
}

/* reply_more - a "250-" line of a multi-line reply. */
static void
reply_more(struct session *s, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void
reply_more(struct session *s, int code, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	reply_common(s, code, 1, NULL, fmt, ap);
	va_end(ap);
}

/* reply_decided - a reply decided elsewhere (esmtp.c, recipient.c). */
void
reply_decided(struct session *s, const struct smtp_reply *r)
{
	reply(s, r->code, r->esc, "%s", r->text);
}

/* flush - send what is queued; note a client that went. */
static void
flush(struct session *s)
{
	if (reply_flush(&s->out) == -1 && s->end_reason != NULL &&
	    strcmp(s->end_reason, "closed") == 0)
		s->end_reason = "write error";
}

/* txn_reset - forget the transaction: RSET, HELO/EHLO, MAIL, end of data. */
void
txn_reset(struct session *s)
{
	struct txn *tx = &s->tx;
	int	i;

	for (i = 0; i < tx->nrcpt; i++) {
		free(tx->rcpts[i]->notify);
		free(tx->rcpts[i]->orcpt);
		free(tx->rcpts[i]);
	}
	for (i = 0; i < tx->ncopy; i++)
		free(tx->copies[i]);
	free(tx->rcpts);
	free(tx->copies);
	strindex_free(&tx->rcptset);
	strindex_free(&tx->copyset);
	if (tx->started)
		delivery_end(&tx->dlv);
	milter_abort(s->milter);
	tx->rcpts = NULL;
	tx->copies = NULL;
	tx->nrcpt = tx->caprcpt = tx->ncopy = tx->capcopy = 0;
	tx->started = tx->too_big = 0;
	tx->from[0] = '\0';
	tx->id[0] = '\0';
	free(tx->envid);
	tx->envid = NULL;
	tx->body = BODY_7BIT;
	tx->smtputf8 = 0;
	tx->ret[0] = '\0';
	policy_txn_reset(&tx->policy);
	tx->mail_size = 0;
	if (s->state > ST_HELO)
		s->state = ST_HELO;
}

/* is_verb - case-insensitive "VERB" ending the line or followed by a
 * space (args after it) or a tab (args from it: a syntax error). */
static int
is_verb(char *line, const char *verb, char **args)
{
	size_t	n = strlen(verb);

	if (strncasecmp(line, verb, n) != 0 ||
	    (line[n] != '\0' && line[n] != ' ' && line[n] != '\t'))
		return 0;
	*args = line + n + (line[n] == ' ');
	return 1;
}

/* lookup - the table entry for the command in s->cmd, and its args. */
static const struct command *
lookup(struct session *s, char **args)
{
	const struct command *c;

	for (c = commands; c->verb != NULL; c++)
		if (is_verb(s->cmd, c->verb, args))
			return c;
	*args = s->cmd;
	return c;
}

/* bdat_unreadable - a BDAT whose size cannot be read: the chunk's
 * bytes would be taken for commands, so the session ends here. */
static int
bdat_unreadable(struct session *s)
{
	reply(s, 501, "5.5.4", "Syntax: BDAT size [LAST]; closing");
	s->end_reason = "BDAT size unreadable";
	return -1;
}

/* milter_denies - after a connect or HELO refusal (or a failed filter
 * under milter_failure tempfail), every command but QUIT, NOOP, RSET
 * (and BDAT, whose chunk is read and refused as out of sequence). */
static int
milter_denies(struct session *s, const struct command *c)
{
	const struct milter_refusal *r = milter_denied(s->milter);

	if (r == NULL || c->fn == cmd_quit || c->fn == cmd_noop ||
	    c->fn == cmd_rset || (c->flags & CMD_CHUNK))
		return 0;
	filters_milter_reply(s, r);
	return 1;
}

/* session_command - one command line in s->cmd (len octets); -1 to close. */
static int
session_command(struct session *s, const struct command *c, char *args, size_t len)
{
	const char *why = c->refuse[s->state];

	log_debug("session=%lu <<< %s", s->id, s->cmd);
	if (len + 2 > c->maxline) {
		if (c->flags & CMD_CHUNK)
			return bdat_unreadable(s);
		reply(s, 500, "5.5.2", "Line too long");
		return 0;
	}
	if ((c->flags & CMD_JUNK) && s->cf->max_junk_commands > 0 &&
	    ++s->junk > s->cf->max_junk_commands) {
		reply(s, 421, "4.7.0", "%s Too many junk commands, closing", s->cf->hostname);
		s->end_reason = "too many junk commands";
		return -1;
	}
	if (milter_denies(s, c))
		return 0;
	if (why != NULL && !(c->flags & CMD_CHUNK)) {
		reply(s, 503, "5.5.1", "Bad sequence of commands: %s", why);
		return 0;
	}
	s->refusal = why;
	return c->fn(s, args);
}

/* valid_helo - the EHLO/HELO argument: printable, one word, bounded. */
static int
valid_helo(const char *a)
{
	size_t	n = strlen(a);

	if (n == 0 || n > SMTP_DOMAIN_MAX)
		return 0;
	for (; *a; a++) {
		unsigned char c = (unsigned char)*a;
		if (c <= 0x20 || c == 0x7f)
			return 0;
	}
	/* UTF-8 host names (RFC 6531) are allowed, if well formed. */
	return 1;
}

static int
helo_common(struct session *s, char *args, int esmtp, const char *verb)
{
	if (*args == '\0') {
		reply(s, 501, "5.5.4", "Syntax: %s hostname", verb);
		return 0;
	}
	if (!valid_helo(args) || !smtpaddr_valid_utf8(args, strlen(args))) {
		reply(s, 501, "5.5.2", "Invalid %s host name", verb);
		return 0;
	}
	/* RFC 5321 4.1.4: a HELO/EHLO ends any transaction, as RSET does. */
	txn_reset(s);
	buf_copy(s->helo, sizeof s->helo, args);
	s->esmtp = esmtp;
	s->state = ST_HELO;
	return 1;
}

static int
cmd_helo(struct session *s, char *args)
{
	if (helo_common(s, args, 0, "HELO") && !filters_helo(s))
		reply(s, 250, NULL, "%s", s->cf->hostname);
	return 0;
}

static int
cmd_ehlo(struct session *s, char *args)
{
	if (!helo_common(s, args, 1, "EHLO") || filters_helo(s))
		return 0;
	reply_more(s, 250, "%s Hello %s %s", s->cf->hostname, s->helo, s->literal);
	reply_more(s, 250, "PIPELINING");
	reply_more(s, 250, "SIZE %llu", (unsigned long long)s->cf->max_message_size);
	reply_more(s, 250, "8BITMIME");
	reply_more(s, 250, "BINARYMIME");
	reply_more(s, 250, "CHUNKING");
	reply_more(s, 250, "SMTPUTF8");
	reply_more(s, 250, "DSN");
	if (s->xclient_ok)
		reply_more(s, 250, "%s", XCLIENT_EHLO);
	reply(s, 250, NULL, "ENHANCEDSTATUSCODES");
	return 0;
}

/* path_arg - "FROM:" / "TO:" then the path (spaces after ':' tolerated). */
static char *
path_arg(char *args, const char *kw)
{
	size_t	n = strlen(kw);

	if (strncasecmp(args, kw, n) != 0)
		return NULL;
	args += n;
	while (*args == ' ')
		args++;
	return args;
}

/* path_end - the parameters after a parsed path, or NULL if the path
 * is followed by anything but a space or the end. */
static char *
path_end(char *args, const char *end)
{
	char	*p = args + (end - args);

	return *p == '\0' || *p == ' ' ? p : NULL;
}

static int
cmd_mail(struct session *s, char *args)
{
	struct esmtp_mail m;
	struct smtp_reply r;
	struct smtpaddr	 a;
	const char	*why, *end;
	char		*p;

	if (s->rdns != NULL && s->rclient == NULL) {
		/* On the heap, and only with reverse_dns: an idle session
		 * stays small. */
		size_t size = DNS_NAME_MAX + INET6_ADDRSTRLEN + 16;
		const char *name = rdns_collect(s->rdns, s->id, s->literal);
		if ((s->rclient = malloc(size)) != NULL)
			snprintf(s->rclient, size, "%s %s", name, s->literal);
	}
	if (client_dnsbl_blocked(s, 0))
		return 0;

	if ((p = path_arg(args, "FROM:")) == NULL) {
		reply(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return 0;
	}
	if (smtpaddr_parse(p, SMTPADDR_UTF8 | SMTPADDR_NULL_OK, &a, &end, &why) == -1) {
		reply(s, 501, "5.1.7", "Bad sender address syntax: %s", why);
		return 0;
	}
	if ((p = path_end(p, end)) == NULL) {
		reply(s, 501, "5.1.7", "Bad sender address syntax");
		return 0;
	}
	if (esmtp_mail_params(p, &m, &r) == -1) {
		reply_decided(s, &r);
		return 0;
	}
	if (a.has_utf8 && !m.smtputf8) {
		/* RFC 6531 3.5 */
		reply(s, 553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
		return 0;
	}
	if (m.size > s->cf->max_message_size) {
		reply(s, 552, "5.3.4", "Message size exceeds fixed limit of %llu octets",
		    (unsigned long long)s->cf->max_message_size);
		return 0;
	}
	if (client_over_rate(s, RATELIMIT_MAIL, s->cf->max_message_rate)) {
		atomic_fetch_add(&session_stats.refused_message_rate, 1);
		s->out.reason = REPLY_REASON_MESSAGE_RATE;
		log_info("session=%lu client=%s refused: max_message_rate %d reached",
		    s->id, s->literal, s->cf->max_message_rate);
		reply(s, 450, "4.7.1", "Too many messages from your address, try again later");
		return 0;
	}
	txn_reset(s);
	if (smtpaddr_format(&a, s->tx.from, sizeof s->tx.from) == -1) {
		reply(s, 501, "5.1.7", "Sender address too long");
		return 0;
	}
	if (m.envid[0] != '\0' && (s->tx.envid = strdup(m.envid)) == NULL) {
		reply(s, 452, "4.3.1", "Insufficient system storage");
		return 0;
	}
	s->tx.body = m.body;
	s->tx.smtputf8 = m.smtputf8;
	s->tx.mail_size = m.size;
	buf_copy(s->tx.ret, sizeof s->tx.ret, m.ret);
	if (filters_mail(s, &m))
		return 0;
	s->state = ST_MAIL;
	reply(s, 250, "2.1.0", "Ok");
	return 0;
}


static int
cmd_rcpt(struct session *s, char *args)
{
	const struct config *cf = s->cf;
	struct txn	*tx = &s->tx;
	struct esmtp_rcpt prm;
	struct route	 rt;
	struct smtp_reply r;
	struct smtpaddr	 a;
	struct rcpt	*rc;
	const char	*why, *end;
	char		*p, addr[SMTP_PATH_MAX + 1];
	void		*mem;
	int		 ncopy0 = tx->ncopy;

	if (client_dnsbl_blocked(s, 1))
		return 0;
	if ((p = path_arg(args, "TO:")) == NULL) {
		reply(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return 0;
	}
	if (smtpaddr_parse(p, SMTPADDR_UTF8 | SMTPADDR_POSTMASTER_OK, &a, &end, &why) == -1 ||
	    (p = path_end(p, end)) == NULL) {
		reply(s, 501, "5.1.3", "Bad recipient address syntax");
		return 0;
	}
	if (esmtp_rcpt_params(p, &prm, &r) == -1) {
		reply_decided(s, &r);
		return 0;
	}
	if (a.has_utf8 && !tx->smtputf8) {
		reply(s, 553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
		return 0;
	}
	if (recipient_route(cf, &a, &rt, &r) == -1) {
		reply_decided(s, &r);
		return 0;
	}
	/* RFC 5321 4.1.1.3: <postmaster> alone means our first domain. */
	if (a.domain[0] == '\0')
		buf_copy(a.domain, sizeof a.domain, cf->domains[0]);
	if (smtpaddr_format(&a, addr, sizeof addr) == -1) {
		reply(s, 501, "5.1.3", "Recipient address too long");
		return 0;
	}
	if (strindex_get(&tx->rcptset, addr) >= 0) {
		/* The same recipient twice: one copy. */
		reply(s, 250, "2.1.5", "Ok");
		return 0;
	}
	if (tx->nrcpt >= cf->max_recipients) {
		reply(s, 452, "4.5.3", "Too many recipients");
		return 0;
	}
	if (tx->nrcpt == tx->caprcpt) {
		int cap = tx->caprcpt ? tx->caprcpt * 2 : 4;
		if (cap > cf->max_recipients)
			cap = cf->max_recipients;
		if ((mem = realloc(tx->rcpts, (size_t)cap * sizeof *tx->rcpts)) == NULL)
			goto nomem;
		tx->rcpts = mem;
		tx->caprcpt = cap;
	}
	if (strindex_reserve(&tx->rcptset, (unsigned)tx->nrcpt + 1) == -1)
		goto nomem;
	if (message_add_copies(s, &rt, tx->nrcpt, addr, &r) == -1) {
		message_drop_copies(tx, ncopy0);
		reply_decided(s, &r);
		return 0;
	}
	/* Policy servers, once everything here said yes; not for a
	 * client in an allow line (a backup MX would fail SPF). */
	if (cf->npolicy > 0 && !s->allowed && filters_policy(s, "RCPT", addr)) {
		message_drop_copies(tx, ncopy0);
		return 0;
	}
	if ((rc = calloc(1, sizeof *rc)) == NULL ||
	    (prm.notify[0] && (rc->notify = strdup(prm.notify)) == NULL) ||
	    (prm.orcpt[0] && (rc->orcpt = strdup(prm.orcpt)) == NULL)) {
		if (rc != NULL)
			free(rc->notify);
		free(rc);
		message_drop_copies(tx, ncopy0);
		goto nomem;
	}
	buf_copy(rc->addr, sizeof rc->addr, addr);
	if (filters_rcpt(s, addr, &prm)) {
		free(rc->notify);
		free(rc->orcpt);
		free(rc);
		message_drop_copies(tx, ncopy0);
		return 0;
	}
	tx->rcpts[tx->nrcpt] = rc;
	(void)strindex_put(&tx->rcptset, rc->addr, tx->nrcpt++);
	s->state = ST_RCPT;
	atomic_fetch_add(&session_stats.recipients, 1);
	reply(s, 250, "2.1.5", "Ok");
	return 0;
nomem:
	reply(s, 452, "4.3.1", "Insufficient system storage");
	return 0;
}

/* deadline_in - a deadline secs from now in the whole seconds linebuf
 * counts: one more, so that it never comes before secs have passed. */
time_t
deadline_in(int secs)
{
	return linebuf_now() + secs + 1;
}

/*
 * Session ids count up from a random start below 2^48 (at most 15
 * decimal digits), drawn again at each start: ids do not start over
 * when the daemon restarts, and two instances sharing a spool (behind
 * one balancer) count in ranges that meet with a chance of about
 * sessions / 2^47. Without getrandom, the time and pid choose it.
 */
#define SESSION_ID_SPAN	((1ULL << 48) - (1ULL << 32))

void
session_id_init(void)
{
	unsigned long long sid = 0;
	unsigned r = 0;

	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
		r = (unsigned)getpid() * 2654435761u;
	atomic_store(&message_counter, r);
	if (getrandom(&sid, sizeof sid, GRND_NONBLOCK) != (ssize_t)sizeof sid)
		sid = ((unsigned long long)time(NULL) << 20 ^
		    (unsigned long long)getpid()) * 0x9e3779b97f4a7c15ULL;
	/* session_init adds one: ids run from 1 up, never 0. */
	atomic_store(&session_counter, (unsigned long)(sid % SESSION_ID_SPAN));
}

/* lb_failed - note why reading stopped; always returns -1. */
static int
lb_failed(struct session *s, enum linebuf_result r)
{
	if (r == LB_TIMEOUT) {
		reply(s, 421, "4.4.2", "%s Error: timeout exceeded", s->cf->hostname);
		s->end_reason = "timeout";
	} else if (r == LB_EOF)
		s->end_reason = "client closed";
	else
		s->end_reason = "read error";
	return -1;
}

/*
 * body_read - a message body from the client into the delivery: a DATA
 * body up to its end marker (raw 0), or the n octets of a BDAT chunk
 * (raw 1). One rule for the size limit: once the decoded size passes
 * max_message_size, the delivery stops and the rest is only read.
 * Returns LB_OK at the end, or why reading stopped.
 */
static enum linebuf_result
body_read(struct session *s, int raw, uint64_t n)
{
	struct txn	*tx = &s->tx;
	enum data_result dr = DATA_MORE;
	enum linebuf_result r;
	const char	*in;
	char		*out;
	size_t		 avail, room, olen, used;

	while (raw ? n > 0 : dr == DATA_MORE) {
		if (linebuf_pending(&s->lb) == 0) {
			r = linebuf_fill(&s->lb, s->cf->data_timeout * 1000, tx->deadline, 0);
			if (r != LB_OK)
				return r;
			continue;
		}
		in = linebuf_peek(&s->lb, &avail);
		out = delivery_space(&tx->dlv, &room);
		if (raw) {
			/* data_feed_raw writes at most one byte more. */
			used = avail < n ? avail : (size_t)n;
			if (used > room - 1)
				used = room - 1;
			olen = data_feed_raw(&tx->dec, in, used, out);
			n -= used;
		} else {
			/* data_feed writes at most two bytes more. */
			if (avail > room - 2)
				avail = room - 2;
			dr = data_feed(&tx->dec, in, avail, out, &olen, &used);
		}
		linebuf_consume(&s->lb, used);
		if (s->milter != NULL && !tx->too_big)
			milter_body(s->milter, out, olen);
		delivery_wrote(&tx->dlv, olen);
		if (tx->dec.size > s->cf->max_message_size && !tx->too_big) {
			tx->too_big = 1;
			delivery_fail(&tx->dlv, EFBIG);
		}
	}
	return LB_OK;
}

static int
cmd_data(struct session *s, char *args)
{
	struct txn	*tx = &s->tx;
	enum linebuf_result r;

	if (*args != '\0') {
		reply(s, 501, "5.5.4", "Syntax: DATA");
		return 0;
	}
	if (tx->body == BODY_BINARYMIME) {
		/* RFC 3030 3: BINARYMIME bodies travel by BDAT only. */
		reply(s, 503, "5.5.1", "Bad sequence of commands: use BDAT with BODY=BINARYMIME");
		return 0;
	}
	if (filters_data(s))
		return 0;
	message_start(s);
	reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	flush(s);
	if (s->out.dead)
		return -1;
	if ((r = body_read(s, 0, 0)) != LB_OK) {
		message_log(s, 0, r == LB_TIMEOUT ? "timeout" : "disconnected");
		txn_reset(s);
		return lb_failed(s, r);
	}
	message_finish(s);
	return 0;
}

/*
 * cmd_bdat - RFC 3030 chunk: exactly n octets follow the command line.
 * The chunk is always read, even when the command is refused, so that
 * its bytes are never taken for commands; a BDAT whose size cannot be
 * read closes the session.
 */
static int
cmd_bdat(struct session *s, char *args)
{
	struct txn	*tx = &s->tx;
	uint64_t	 n;
	int		 last;
	enum linebuf_result r;
	size_t		 room;
	char		*out;

	if (esmtp_bdat(args, &n, &last) == -1)
		return bdat_unreadable(s);
	if (s->refusal != NULL) {
		/* It belongs to no transaction: its own deadline. */
		r = linebuf_skip(&s->lb, n, s->cf->data_timeout * 1000,
		    deadline_in(s->cf->transaction_timeout));
		if (r != LB_OK)
			return lb_failed(s, r);
		reply(s, 503, "5.5.1", "Bad sequence of commands: %s", s->refusal);
		return 0;
	}
	if (s->state == ST_RCPT) {
		message_start(s);
		s->state = ST_BDAT;
		filters_bdat_start(s);
	}
	/* All chunks of one message share one deadline. */
	if ((r = body_read(s, 1, n)) != LB_OK) {
		message_log(s, 0, r == LB_TIMEOUT ? "timeout" : "disconnected");
		txn_reset(s);
		return lb_failed(s, r);
	}
	if (!last) {
		if (tx->too_big)
			reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
		else
			reply(s, 250, "2.0.0", "%llu octets received",
			    (unsigned long long)tx->dec.size);
		return 0;
	}
	out = delivery_space(&tx->dlv, &room);
	room = data_finish_raw(&tx->dec, out);
	if (s->milter != NULL && !tx->too_big)
		milter_body(s->milter, out, room);
	delivery_wrote(&tx->dlv, room);
	message_finish(s);
	return 0;
}

static int
cmd_rset(struct session *s, char *args)
{
	(void)args;
	txn_reset(s);
	reply(s, 250, "2.0.0", "Ok");
	return 0;
}

static int
cmd_noop(struct session *s, char *args)
{
	(void)args;
	reply(s, 250, "2.0.0", "Ok");
	return 0;
}

static int
cmd_quit(struct session *s, char *args)
{
	(void)args;
	reply(s, 221, "2.0.0", "Bye");
	s->end_reason = "quit";
	return -1;
}

static int
cmd_vrfy(struct session *s, char *args)
{
	if (*args == '\0') {
		reply(s, 501, "5.5.4", "Syntax: VRFY address");
		return 0;
	}
	/* RFC 5321 3.5.3: neither confirm nor deny. */
	reply(s, 252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery");
	return 0;
}

static int
cmd_help(struct session *s, char *args)
{
	(void)args;
	reply(s, 214, "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP");
	return 0;
}

static int
cmd_notimpl(struct session *s, char *args)
{
	(void)args;
	reply(s, 502, "5.5.1", "Command not implemented");
	return 0;
}

static int
cmd_forbidden(struct session *s, char *args)
{
	(void)args;
	reply(s, 421, "4.7.0", "%s This is an SMTP server, closing", s->cf->hostname);
	s->end_reason = "non-SMTP client";
	return -1;
}

static int
cmd_unknown(struct session *s, char *args)
{
	(void)args;
	reply(s, 500, "5.5.2", "Command unrecognized");
	return 0;
}

/*
 * greet - RFC 5321 4.3.1: the client waits for the greeting. A client
 * that talks first (bytes already read, e.g. behind a PROXY header, or
 * arriving within greeting_delay) gets 554; one that closes without a
 * word is only a lost connection. With greeting_delay 0 this is one
 * non-blocking poll. Returns 0 to go on.
 */
static int
greet(struct session *s)
{
	struct pollfd pfd = { .fd = s->lb.fd, .events = POLLIN };
	char	c;
	ssize_t	n;

	if (linebuf_pending(&s->lb) == 0) {
		if (poll(&pfd, 1, s->cf->greeting_delay * 1000) != 1 ||
		    !(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			goto greet;
		while ((n = recv(s->lb.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT)) == -1 &&
		    errno == EINTR)
			;
		if (n == 0 || (n == -1 && errno != EAGAIN)) {
			s->end_reason = "closed before the greeting";
			return -1;
		}
		if (n == -1)
			goto greet;
	}
	reply(s, 554, "5.5.0", "SMTP protocol synchronization error (talked before the greeting)");
	s->end_reason = "early talker";
	return -1;
greet:
	reply(s, 220, NULL, "%s ESMTP smtpd", s->cf->hostname);
	return 0;
}

/* read_command - the next command line into s->cmd; LB_OK with *len,
 * LB_TOOLONG (answered here), or why reading stopped. */
static enum linebuf_result
read_command(struct session *s, size_t *len)
{
	enum linebuf_result r;
	char	*line;

	/* The whole line within the timeout: no byte-a-minute drip. */
	r = linebuf_getline(&s->lb, SMTP_PARAMLINE_MAX, s->cf->timeout * 1000,
	    deadline_in(s->cf->timeout), 1, &line, len);
	if (r == LB_TOOLONG) {
		buf_copy(s->cmd, sizeof s->cmd, s->lb.toolong_head);
		return r;
	}
	if (r == LB_OK) {
		memcpy(s->cmd, line, *len);
		s->cmd[*len] = '\0';
	}
	return r;
}

/* session_loop - greeting, then commands until QUIT, error or timeout. */
static void
session_loop(struct session *s)
{
	const struct command *c;
	enum linebuf_result r;
	char	*args;
	size_t	 len;

	if (greet(s) == -1)
		return;
	while (!s->out.dead) {
		/* RFC 2920: flush only when no further command is waiting. */
		if (!linebuf_has_line(&s->lb))
			flush(s);
		/* The buffer is resized here, between commands, only: a big
		 * one while a body may arrive, the small one otherwise. */
		linebuf_bulk(&s->lb, s->state == ST_BDAT);
		r = read_command(s, &len);
		if (r == LB_WAKE) {
			reply(s, 421, "4.3.2", "%s Service shutting down", s->cf->hostname);
			s->end_reason = "shutdown";
			break;
		}
		if (r == LB_TOOLONG) {
			/* Over every limit; a BDAT's chunk size is lost with it. */
			c = lookup(s, &args);
			if (c->flags & CMD_CHUNK) {
				bdat_unreadable(s);
				break;
			}
			reply(s, 500, "5.5.2", "Line too long");
		} else if (r != LB_OK) {
			lb_failed(s, r);
			break;
		} else if (memchr(s->cmd, '\0', len) != NULL || memchr(s->cmd, '\r', len) != NULL) {
			/* RFC 5321 2.3.8: CR only as part of the line's CRLF. */
			s->cmd[strcspn(s->cmd, "\r")] = '\0';
			c = lookup(s, &args);
			if (c->flags & CMD_CHUNK) {
				bdat_unreadable(s);
				break;
			}
			reply(s, 500, "5.5.2", "NUL or bare CR in command");
		} else {
			c = lookup(s, &args);
			if (c->flags & CMD_BODY)
				linebuf_bulk(&s->lb, 1);
			if (session_command(s, c, args, len) == -1)
				break;
		}
		if (s->errors >= s->cf->max_errors) {
			reply(s, 421, "4.7.0", "%s Too many errors, closing", s->cf->hostname);
			s->end_reason = "too many errors";
			break;
		}
	}
}

void
session_run(const struct session_conn *conn)
{
	const struct config *cf = conn->cf;
	struct session	*s;
	struct timeval	 tv;
	struct timespec	 t0, t1;
	int		 fd = conn->fd;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	s->cf = cf;
	s->state = ST_CONNECTED;
	s->end_reason = "closed";
	s->id = atomic_fetch_add(&session_counter, 1) + 1;
	atomic_fetch_add(&session_stats.sessions, 1);
	client_set_peer(s, &conn->peer);
	reply_init(&s->out, fd);
	linebuf_init(&s->lb, fd, conn->stop);
	/* A client that stops reading must not hold a reply forever. */
	tv.tv_sec = cf->timeout;
	tv.tv_usec = 0;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	linebuf_set_timeout(&s->lb, cf->timeout * 1000);

	if (conn->proxy) {
		const char *why;
		struct sockaddr_storage real = conn->peer;
		if (proxy_read(&s->lb, cf, &real, cf->timeout * 1000, &why) == -1) {
			log_info("session=%lu client=%s proxy header refused: %s",
			    s->id, s->literal, why);
			goto out;
		}
		client_set_peer(s, &real);
		if (client_admit(s, conn, &real) == -1) {
			flush(s);
			goto out;
		}
	}
	log_info("session=%lu connect client=%s port=%d%s", s->id, s->literal, s->port,
	    s->allowed ? " allowed=yes" : "");
	/* A proxy that may name its clients (XCLIENT). */
	s->conn = conn;
	s->destport = -1;
	s->xclient_ok = xclient_trusted(cf, s->family, s->key);
	if (client_screen(s) == -1) {
		flush(s);
		goto out;
	}
	if (filters_open(s) == -1) {
		/* Unfiltered is not an option: come back later. */
		reply(s, 421, "4.3.2", "%s Service not available, try again later",
		    cf->hostname);
		flush(s);
		goto out;
	}
	session_loop(s);
	flush(s);
	txn_reset(s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	{
		char *q = malloc(QUOTED_HELO);
		log_info("session=%lu disconnect client=%s helo=%s messages=%u errors=%d "
		    "reason=\"%s\" duration=%ldms", s->id, s->literal,
		    s->helo[0] && q != NULL ? log_quote(q, QUOTED_HELO, s->helo) : "-",
		    s->messages, s->errors, s->end_reason,
		    (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
		free(q);
	}
out:
	milter_session_free(s->milter);
	dnsq_free(s->dnsbl);
	rdns_free(s->rdns);
	free(s->rclient);
	free(s->login);
	linebuf_free(&s->lb);
	free(s);
}
