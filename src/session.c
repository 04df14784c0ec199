/*
 * session.c - one SMTP conversation, from greeting to QUIT.
 * Owns: struct session and struct txn, the command table and with it all
 * command sequencing (RFC 5321 4.1.4, RFC 3030), the session's own copy
 * of each command line, reading DATA and BDAT bodies, counting errors
 * and junk commands, and the per-connection and per-message log lines.
 * Not here: sockets and threads (listener.c), the reply format and
 * flushing (reply.c), ESMTP parameters (esmtp.c), recipient policy
 * (recipient.c), path syntax (smtpaddr.c), body decoding (data.c), the
 * copies and their trace headers (delivery.c), files (maildir.c), DNS
 * look-ups (dnsquery.c) and rate counting (ratelimit.c): the screening
 * replies (421/450/554) are decided here from what those return; the
 * policy servers' verdicts (policy.c), replied here.
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
#include "smtpaddr.h"
#include "sockaddr.h"
#include "strindex.h"
#include "xclient.h"

/* Session states; the command table says what each command gets in each. */
enum sess_state {
	ST_CONNECTED,	/* greeted, no HELO/EHLO yet */
	ST_HELO,	/* HELO/EHLO done, no transaction */
	ST_MAIL,	/* MAIL accepted */
	ST_RCPT,	/* at least one RCPT accepted */
	ST_BDAT,	/* BDAT chunks arriving, LAST not yet */
	ST_COUNT
};

/* An accepted RCPT, as the client wrote it. */
struct rcpt {
	char		 addr[SMTP_PATH_MAX + 1];
	char		*notify;			/* DSN NOTIFY=, recorded */
	char		*orcpt;				/* DSN ORCPT=, recorded */
};

/* A copy to store: one per mailbox (and folder) reached, however many
 * recipients reach it. */
struct copy {
#define MAILBOX_MAX	(SMTP_LOCALPART_MAX + 1 + SMTP_DOMAIN_MAX)
	char		 key[MAILBOX_MAX + 1 + FOLDER_MAX + 1];	/* mailbox/folder */
	char		 mailbox[MAILBOX_MAX + 1];		/* box@domain */
	struct recipient to;
	int		 rcpt;		/* the first RCPT that reached it */
};

struct txn {
	char		 from[SMTP_PATH_MAX + 1];	/* "" for <> */
	/* MAIL's parameters (esmtp.c) */
	enum esmtp_body	 body;
	int		 smtputf8;
	char		 ret[5];			/* DSN RET=, "" = none */
	char		*envid;				/* DSN ENVID=, or NULL */
	struct rcpt	**rcpts;
	int		 nrcpt, caprcpt;
	struct strindex	 rcptset;			/* by address, any case */
	struct copy	**copies;
	int		 ncopy, capcopy;
	struct strindex	 copyset;			/* by key */
	/* while the body arrives */
	struct delivery	 dlv;
	struct data_decoder dec;
	int		 started;		/* delivery_start() done */
	int		 too_big;
	char		 id[20];
	struct timespec	 t0;
	time_t		 deadline;		/* end of the DATA/BDAT phase */
	/* policy servers (policy.c) */
	struct policy_txn policy;
	unsigned long long mail_size;		/* MAIL SIZE=, 0 = none */
};

struct session {
	const struct config	*cf;
	char			 addr[INET6_ADDRSTRLEN];	/* "192.0.2.1" */
	char			 literal[INET6_ADDRSTRLEN + 8];	/* "[IPv6:::1]" */
	int			 port;
	unsigned long		 id;
	enum sess_state		 state;
	int			 esmtp;
	char			 helo[SMTP_DOMAIN_MAX + 1];
	int			 errors;	/* 4xx/5xx since the last message */
	int			 junk;		/* junk commands, likewise */
	int			 refusals;	/* 4xx/5xx in the whole session
						 * (error_delay) */
	int			 allowed;	/* in an allow line: no screening */
	unsigned char		 key[16];	/* the peer's address bytes */
	int			 family;	/* AF_INET, AF_INET6, AF_UNSPEC */
	struct dnsq		*dnsbl;		/* look-ups started at connect */
	struct rdns		*rdns;		/* reverse_dns, started at connect */
	char			*rclient;	/* "name [addr]" with reverse_dns */
						/* "name [addr]" for Received: */
	int			 blocked;	/* a RCPT got the dnsbl 554 */
	const char		*end_reason;
	unsigned		 messages;
	const char		*refusal;	/* 503 text for a chunk read first */
	struct txn		 tx;
	struct milter_session	*milter;	/* NULL without milter lines */
	struct reply_out	 out;
	struct linebuf		 lb;
	char			 cmd[SMTP_PARAMLINE_MAX + 1];	/* this command */
	/* XCLIENT: the client as set_peer last set it, and what the proxy
	 * named besides (cmd_xclient). */
	const struct session_conn *conn;
	struct sockaddr_storage	 peer;
	int			 xclient_ok;	/* in xclient_from: may send it */
	char			 destaddr[INET6_ADDRSTRLEN];	/* DESTADDR, or "" */
	int			 destport;	/* DESTPORT, or -1 */
};

struct session_stats session_stats;
static atomic_ulong session_counter;
static atomic_uint msgid_counter;

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
static int	cmd_xclient(struct session *, char *);

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

/* The quoted forms of client text in one log line (log_quote). */
/* A command: any plain one whole (up to SMTP_PARAMLINE_MAX). */
#define QUOTED_CMD	(SMTP_PARAMLINE_MAX + 100)
#define QUOTED_TEXT	LOG_QUOTE_SIZE(SMTP_REPLY_MAX)
#define QUOTED_HELO	LOG_QUOTE_SIZE(SMTP_DOMAIN_MAX)
#define QUOTED_PATH	LOG_QUOTE_SIZE(SMTP_PATH_MAX + 2)

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

/* sleep_seconds - whole seconds, through signals. */
static void
sleep_seconds(int secs)
{
	struct timespec	ts = { .tv_sec = secs, .tv_nsec = 0 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
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
		sleep_seconds(s->cf->error_delay);
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
static void
reply(struct session *s, int code, const char *esc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void
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
static void
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
static void
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

/*
 * The milter hooks (milter.c decides, these answer). Each returns 1 when
 * a filter refused and the command got its reply, 0 to go on. Without
 * milter lines s->milter is NULL and each returns 0 at once.
 */
static void	log_message(struct session *, int, const char *);
static void	new_msgid(char *, size_t);

/* milter_reply - a filter's refusal as the command's reply. */
static void
milter_reply(struct session *s, const struct milter_refusal *r)
{
	s->out.reason = REPLY_REASON_MILTER;
	reply(s, r->code, r->esc[0] ? r->esc : NULL, "%s", r->text);
}

/*
 * milter_open - the session's milters (milter.c) for the client
 * set_peer set, at connect and again after XCLIENT; each is connected
 * at the first HELO/EHLO. 0, or -1 when memory is short.
 */
static int
milter_open(struct session *s)
{
	struct milter_client mc = { .addr = s->addr, .family = s->family,
	    .port = s->port, .name = NULL, .fd = s->lb.fd, .sid = s->id,
	    .stop = s->conn->stop };

	milter_session_free(s->milter);
	s->milter = NULL;
	if (s->cf->nmilters == 0)
		return 0;
	return (s->milter = milter_session_new(s->cf, &mc)) == NULL ? -1 : 0;
}

/*
 * client_name - the client's name: XCLIENT's NAME, or the one reverse_dns
 * confirmed (waited for here), into buf; NULL when there is none.
 */
static const char *
client_name(struct session *s, char *buf, size_t size)
{
	const char	*sp;
	size_t		 n;

	if (s->rclient == NULL && s->rdns != NULL)
		return rdns_collect(s->rdns, s->id, s->literal);
	if (s->rclient == NULL || (sp = strrchr(s->rclient, ' ')) == NULL)
		return NULL;
	/* "name [addr]" */
	if ((n = (size_t)(sp - s->rclient)) == 0 || n >= size)
		return NULL;
	memcpy(buf, s->rclient, n);
	buf[n] = '\0';
	return buf;
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
	milter_reply(s, r);
	return 1;
}

static int
milter_refuses_helo(struct session *s)
{
	struct milter_refusal r;
	char	buf[DNS_NAME_MAX + 1];
	const char *name;

	if (s->milter == NULL)
		return 0;
	name = client_name(s, buf, sizeof buf);
	if (milter_helo(s->milter, s->helo, name, &r) == MILTER_GO)
		return 0;
	milter_reply(s, &r);
	s->state = ST_CONNECTED;	/* no HELO */
	return 1;
}

static int
milter_refuses_mail(struct session *s, const struct esmtp_mail *m)
{
	struct milter_refusal r;
	char	args[DSN_VALUE_MAX + 100];
	size_t	len = 0;

	if (s->milter == NULL)
		return 0;
	/* The parameters as accepted (esmtp.c parsed them in place). */
	args[0] = '\0';
	if (m->size > 0)
		buf_appendf(args, sizeof args, &len, " SIZE=%llu",
		    (unsigned long long)m->size);
	if (m->body != BODY_7BIT)
		buf_appendf(args, sizeof args, &len, " BODY=%s",
		    m->body == BODY_8BITMIME ? "8BITMIME" : "BINARYMIME");
	if (m->smtputf8)
		buf_appendf(args, sizeof args, &len, " SMTPUTF8");
	if (m->ret[0])
		buf_appendf(args, sizeof args, &len, " RET=%s", m->ret);
	if (m->envid[0])
		buf_appendf(args, sizeof args, &len, " ENVID=%s", m->envid);
	new_msgid(s->tx.id, sizeof s->tx.id);
	if (milter_mail(s->milter, s->tx.id, s->tx.from, args, &r) == MILTER_GO)
		return 0;
	milter_reply(s, &r);
	txn_reset(s);
	return 1;
}

static int
milter_refuses_rcpt(struct session *s, const char *addr, const struct esmtp_rcpt *prm)
{
	struct milter_refusal r;
	char	args[DSN_VALUE_MAX + DSN_NOTIFY_MAX + 20];
	size_t	len = 0;

	if (s->milter == NULL)
		return 0;
	args[0] = '\0';
	if (prm->notify[0])
		buf_appendf(args, sizeof args, &len, " NOTIFY=%s", prm->notify);
	if (prm->orcpt[0])
		buf_appendf(args, sizeof args, &len, " ORCPT=%s", prm->orcpt);
	if (milter_rcpt(s->milter, addr, args, &r) == MILTER_GO)
		return 0;
	milter_reply(s, &r);
	return 1;
}

/* milter_refuses_data - DATA: refused before the 354, the transaction
 * ends. */
static int
milter_refuses_data(struct session *s)
{
	struct milter_refusal r;

	if (s->milter == NULL || milter_data(s->milter, &r) == MILTER_GO)
		return 0;
	milter_reply(s, &r);
	txn_reset(s);
	return 1;
}

/* milter_bdat_start - the first BDAT chunk: a refusal is the answer
 * to BDAT LAST (milter.c keeps it); the chunks are read meanwhile. */
static void
milter_bdat_start(struct session *s)
{
	struct milter_refusal r;

	if (s->milter != NULL)
		(void)milter_data(s->milter, &r);
}

/* What a filter made of a message at its end (milter, policy server). */
enum { FILTER_PASSED, FILTER_REFUSED, FILTER_DISCARDED };

/* discarded - accept a message a filter asked to drop: 250, logged,
 * nothing stored; FILTER_DISCARDED. */
static int
discarded(struct session *s)
{
	reply(s, 250, "2.0.0", "Ok: queued as %s", s->tx.id);
	log_message(s, 250, "discarded");
	s->messages++;
	s->errors = 0;
	s->junk = 0;
	return FILTER_DISCARDED;
}

/*
 * milter_finish - end of message: FILTER_REFUSED or FILTER_DISCARDED
 * when a filter said so (answered and logged here; nothing is
 * committed), or FILTER_PASSED with every filter's header edits applied
 * to the copies.
 */
static int
milter_finish(struct session *s)
{
	struct txn	*tx = &s->tx;
	struct milter_refusal r;
	struct hdr_edit	*edits;

	if (s->milter == NULL)
		return 0;
	switch (milter_eom(s->milter, &edits, &r)) {
	case MILTER_REFUSE:
		milter_reply(s, &r);
		log_message(s, r.code, r.code >= 500 ? "rejected" : "deferred");
		return FILTER_REFUSED;
	case MILTER_DISCARD:
		return discarded(s);
	default:
		break;
	}
	if (edits != NULL)
		(void)delivery_edit(&tx->dlv, edits);	/* a failure: d->err */
	milter_edits_free(edits);
	return FILTER_PASSED;
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
	if (helo_common(s, args, 0, "HELO") && !milter_refuses_helo(s))
		reply(s, 250, NULL, "%s", s->cf->hostname);
	return 0;
}

static int
cmd_ehlo(struct session *s, char *args)
{
	if (!helo_common(s, args, 1, "EHLO") || milter_refuses_helo(s))
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

/* over_rate - 1 if this event takes the client over limit per minute
 * (0 = no limit; allowed clients and XCLIENT proxies are not counted). */
static int
over_rate(const struct session *s, enum ratelimit_kind kind, int limit)
{
	struct timespec	now;

	if (limit <= 0 || s->allowed || s->xclient_ok || s->family == AF_UNSPEC)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return ratelimit_hit(kind, s->family, s->key, now.tv_sec) > (unsigned)limit;
}

/*
 * dnsbl_blocked - 1 (answered 554) if the DNS lists refuse the client:
 * at the first RCPT once the score reaches dnsbl_threshold, then at
 * every MAIL and RCPT. The answers are awaited here, not before the
 * greeting. is_rcpt: a RCPT (the first refusal comes only there).
 */
static int
dnsbl_blocked(struct session *s, int is_rcpt)
{
	const char	*zone;

	if (s->dnsbl == NULL)
		return 0;
	if (dnsq_collect(s->dnsbl, s->literal, &zone) < s->cf->dnsbl_threshold ||
	    zone[0] == '\0' || (!is_rcpt && !s->blocked))
		return 0;
	if (!s->blocked)
		atomic_fetch_add(&session_stats.refused_dnsbl, 1);
	s->blocked = 1;
	s->out.reason = REPLY_REASON_DNSBL;
	reply(s, 554, "5.7.1", "Service unavailable; client [%s] blocked using %s",
	    s->addr, zone);
	return 1;
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
	if (dnsbl_blocked(s, 0))
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
	if (over_rate(s, RATELIMIT_MAIL, s->cf->max_message_rate)) {
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
	if (milter_refuses_mail(s, &m))
		return 0;
	s->state = ST_MAIL;
	reply(s, 250, "2.1.0", "Ok");
	return 0;
}

/*
 * mailbox_unusable - 1 (with a 451 in *r, and a log line naming the
 * recipient, the maildir and the reason) if copy cp's maildir cannot be
 * used as it is: that recipient is deferred, the others go on. Nothing
 * is created here.
 */
static int
mailbox_unusable(const struct session *s, const struct copy *cp,
    const char *rcpt_addr, struct smtp_reply *r)
{
	char	*b, *q;
	const char *why;
	size_t	 size = 1024;

	/* On the heap: a thread's stack pages stay with it while it idles. */
	if ((b = malloc(size + 2 * QUOTED_PATH + LOG_QUOTE_SIZE(1024))) == NULL)
		return 0;	/* the delivery will say */
	q = b + size;
	if (maildir_expand(s->cf->maildir, cp->to.box, cp->to.domain, b, size,
	    &why) == 0 && maildir_usable(s->cf->spool_root, b, cp->to.folder,
	    &why) == 0) {
		free(b);
		return 0;
	}
	log_warn("session=%lu client=%s rcpt=%s mailbox=%s path=%s unusable: %s",
	    s->id, s->literal, log_quote(q, QUOTED_PATH, rcpt_addr),
	    log_quote(q + QUOTED_PATH, QUOTED_PATH, cp->mailbox),
	    log_quote(q + 2 * QUOTED_PATH, LOG_QUOTE_SIZE(1024), b), why);
	free(b);
	reply_set(r, 451, "4.3.0", "Mailbox unavailable, try again later");
	return 1;
}

/* add_copies - the mailboxes of route rt for RCPT number ircpt, each
 * once per transaction; 0, or -1 with the refusal in *r. */
static int
add_copies(struct session *s, const struct route *rt, int ircpt,
    const char *rcpt_addr, struct smtp_reply *r)
{
	struct txn	*tx = &s->tx;
	struct recipient to;
	struct copy	*cp;
	void		*p;
	int		 i;

	for (i = 0; recipient_target(rt, i, &to) == 0; i++) {
		if ((cp = calloc(1, sizeof *cp)) == NULL)
			goto nomem;
		cp->to = to;
		cp->rcpt = ircpt;
		snprintf(cp->mailbox, sizeof cp->mailbox, "%s@%s", to.box, to.domain);
		snprintf(cp->key, sizeof cp->key, "%s/%s", cp->mailbox, to.folder);
		if (strindex_get(&tx->copyset, cp->key) >= 0) {
			free(cp);	/* reached already: one copy */
			continue;
		}
		if (mailbox_unusable(s, cp, rcpt_addr, r)) {
			free(cp);
			return -1;
		}
		/* Each copy holds a file open while the body arrives. */
		if (tx->ncopy >= s->cf->max_recipients) {
			free(cp);
			reply_set(r, 452, "4.5.3", "Too many recipients");
			return -1;
		}
		if (tx->ncopy == tx->capcopy) {
			int cap = tx->capcopy ? tx->capcopy * 2 : 4;
			if (cap > s->cf->max_recipients)
				cap = s->cf->max_recipients;
			if ((p = realloc(tx->copies, (size_t)cap * sizeof *tx->copies)) == NULL) {
				free(cp);
				goto nomem;
			}
			tx->copies = p;
			tx->capcopy = cap;
		}
		if (strindex_reserve(&tx->copyset, (unsigned)tx->ncopy + 1) == -1) {
			free(cp);
			goto nomem;
		}
		tx->copies[tx->ncopy] = cp;
		(void)strindex_put(&tx->copyset, cp->key, tx->ncopy++);
	}
	return 0;
nomem:
	reply_set(r, 452, "4.3.1", "Insufficient system storage");
	return -1;
}

/* drop_copies - forget the copies from number n on (a RCPT refused
 * after some of its mailboxes were added). */
static void
drop_copies(struct txn *tx, int n)
{
	while (tx->ncopy > n)
		free(tx->copies[--tx->ncopy]);
	/* The room is there: putting the rest back cannot fail. */
	strindex_clear(&tx->copyset);
	for (int k = 0; k < tx->ncopy; k++)
		(void)strindex_put(&tx->copyset, tx->copies[k]->key, k);
}

static int	policy_refused(struct session *, const char *, const char *);

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

	if (dnsbl_blocked(s, 1))
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
	if (add_copies(s, &rt, tx->nrcpt, addr, &r) == -1) {
		drop_copies(tx, ncopy0);
		reply_decided(s, &r);
		return 0;
	}
	/* Policy servers, once everything here said yes; not for a
	 * client in an allow line (a backup MX would fail SPF). */
	if (cf->npolicy > 0 && !s->allowed && policy_refused(s, "RCPT", addr)) {
		drop_copies(tx, ncopy0);
		return 0;
	}
	if ((rc = calloc(1, sizeof *rc)) == NULL ||
	    (prm.notify[0] && (rc->notify = strdup(prm.notify)) == NULL) ||
	    (prm.orcpt[0] && (rc->orcpt = strdup(prm.orcpt)) == NULL)) {
		if (rc != NULL)
			free(rc->notify);
		free(rc);
		drop_copies(tx, ncopy0);
		goto nomem;
	}
	buf_copy(rc->addr, sizeof rc->addr, addr);
	if (milter_refuses_rcpt(s, addr, &prm)) {
		free(rc->notify);
		free(rc->orcpt);
		free(rc);
		drop_copies(tx, ncopy0);
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
static time_t
deadline_in(int secs)
{
	return linebuf_now() + secs + 1;
}

/* new_msgid - 16 hex digits: seconds, then a randomly seeded counter. */
static void
new_msgid(char *buf, size_t size)
{
	snprintf(buf, size, "%08llX%08X", (unsigned long long)time(NULL) & 0xffffffffULL,
	    atomic_fetch_add(&msgid_counter, 1));
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
	atomic_store(&msgid_counter, r);
	if (getrandom(&sid, sizeof sid, GRND_NONBLOCK) != (ssize_t)sizeof sid)
		sid = ((unsigned long long)time(NULL) << 20 ^
		    (unsigned long long)getpid()) * 0x9e3779b97f4a7c15ULL;
	/* session_init adds one: ids run from 1 up, never 0. */
	atomic_store(&session_counter, (unsigned long)(sid % SESSION_ID_SPAN));
}

/*
 * delivery_start - open one copy per recipient, with its trace headers.
 * A failure is kept in tx->dlv.err, the body is read all the same, and
 * the failure is answered after it.
 */
static void
delivery_start(struct session *s)
{
	const struct config *cf = s->cf;
	struct txn	*tx = &s->tx;
	struct delivery_trace t;
	int		 i;

	clock_gettime(CLOCK_MONOTONIC, &tx->t0);
	tx->deadline = deadline_in(cf->transaction_timeout);
	if (tx->id[0] == '\0')		/* milters have it from MAIL on */
		new_msgid(tx->id, sizeof tx->id);
	data_init(&tx->dec);
	tx->started = 1;
	tx->too_big = 0;
	if (delivery_begin(&tx->dlv, tx->ncopy, cf->fsync) == -1)
		return;
	t.from = tx->from;
	t.helo = s->helo;
	t.client = s->rclient != NULL ? s->rclient : s->literal;
	t.host = cf->hostname;
	t.proto = tx->smtputf8 ? "UTF8SMTP" : s->esmtp ? "ESMTP" : "SMTP";
	t.id = tx->id;
	t.prepend = tx->policy.prepend;
	for (i = 0; i < tx->ncopy; i++) {
		const struct copy *cp = tx->copies[i];
		struct delivery_copy c = {
			.rcpt = tx->rcpts[cp->rcpt]->addr, .mailbox = cp->mailbox,
			.box = cp->to.box, .domain = cp->to.domain,
			.folder = cp->to.folder[0] ? cp->to.folder : NULL,
		};
		delivery_add(&tx->dlv, cf->spool_root, cf->maildir, &c, &t);
	}
}

/*
 * log_copies - one line per copy of the message (a mailbox, or a folder
 * of one, however many RCPTs reached it): to= the mailbox, orig_to= the
 * first RCPT that reached it as the client wrote it (with that RCPT's
 * DSN parameters), status= "stored" with file= its name below the
 * maildir once delivered, else the message's result.
 */
static void
log_copies(const struct session *s, const char *result)
{
	const struct txn *tx = &s->tx;
	struct {
		char	to[MAILBOX_MAX + 3], orig[SMTP_PATH_MAX + 3];
		char	file[FOLDER_MAX + NAME_MAX + 8];
		char	qto[LOG_QUOTE_SIZE(MAILBOX_MAX + 2)], qorig[QUOTED_PATH];
		char	qfolder[LOG_QUOTE_SIZE(FOLDER_MAX)];
		char	qfile[LOG_QUOTE_SIZE(FOLDER_MAX + NAME_MAX + 8)];
		/* cut (ending in ...") so that the line stays whole */
		char	qorcpt[600];
	}		*b;
	int		 stored = strcmp(result, "delivered") == 0;
	const char	*status = stored ? "stored" : result, *name;
	int		 i;

	if ((b = malloc(sizeof *b)) == NULL)
		return;
	for (i = 0; i < tx->ncopy; i++) {
		const struct copy *cp = tx->copies[i];
		const struct rcpt *rc = tx->rcpts[cp->rcpt];
		const char *folder = cp->to.folder;

		name = stored ? delivery_file_name(&tx->dlv, i) : NULL;
		snprintf(b->to, sizeof b->to, "<%s>", cp->mailbox);
		snprintf(b->orig, sizeof b->orig, "<%s>", rc->addr);
		if (name != NULL)
			snprintf(b->file, sizeof b->file, "%s%s%snew/%s",
			    folder[0] ? "." : "", folder, folder[0] ? "/" : "", name);
		log_info("id=%s session=%lu to=%s orig_to=%s%s%s status=%s%s%s%s%s%s%s",
		    tx->id, s->id, log_quote(b->qto, sizeof b->qto, b->to),
		    log_quote(b->qorig, sizeof b->qorig, b->orig),
		    folder[0] ? " folder=" : "",
		    folder[0] ? log_quote(b->qfolder, sizeof b->qfolder, folder) : "",
		    status, name != NULL ? " file=" : "",
		    name != NULL ? log_quote(b->qfile, sizeof b->qfile, b->file) : "",
		    rc->notify ? " notify=" : "", rc->notify ? rc->notify : "",
		    rc->orcpt ? " orcpt=" : "",
		    rc->orcpt ? log_quote(b->qorcpt, sizeof b->qorcpt, rc->orcpt) : "");
	}
	free(b);
}

/*
 * policy_refused - ask the policy servers (policy.c) about this RCPT or
 * the message at its end (state "RCPT", "END-OF-MESSAGE"); the code
 * of their refusal (answered here), or 0.
 */
static int
policy_refused(struct session *s, const char *state, const char *rcpt)
{
	const struct txn *tx = &s->tx;
	struct policy_verdict *v;
	struct policy_req rq;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char	 saddr[INET6_ADDRSTRLEN], slit[INET6_ADDRSTRLEN + 8];
	char	 cname[DNS_NAME_MAX + 1];
	const char *name = "unknown";
	int	 eom = strcmp(state, "RCPT") != 0, refused;

	memset(&rq, 0, sizeof rq);
	saddr[0] = '\0';
	if (getsockname(s->lb.fd, (struct sockaddr *)&ss, &sl) == 0) {
		sockaddr_text(&ss, saddr, sizeof saddr, slit, sizeof slit);
		rq.server_port = sockaddr_port(&ss);
	}
	if (s->destaddr[0] != '\0') {
		/* Where the client connected, as the proxy's XCLIENT said. */
		buf_copy(saddr, sizeof saddr, s->destaddr);
		rq.server_port = s->destport >= 0 ? s->destport : 0;
	}
	if ((name = client_name(s, cname, sizeof cname)) == NULL)
		name = "unknown";
	rq.state = state;
	rq.protocol = s->esmtp ? "ESMTP" : "SMTP";
	rq.helo = s->helo;
	rq.queue_id = eom ? tx->id : "";
	rq.sender = tx->from;
	/* SMTPD_POLICY_README: at end of data only with one recipient. */
	rq.recipient = !eom ? rcpt : tx->nrcpt == 1 ? tx->rcpts[0]->addr : "";
	rq.recipient_count = eom ? tx->nrcpt : 0;
	rq.client_address = s->addr;
	rq.client_port = s->port;
	rq.client_name = name;
	rq.reverse_client_name = name;
	rq.server_address = saddr;
	rq.size = eom ? tx->dec.size : tx->mail_size;
	rq.session = s->id;
	rq.client = s->literal;
	if ((v = malloc(sizeof *v)) == NULL) {
		reply(s, 451, "4.3.0", "Local error in processing, try again later");
		return 451;
	}
	refused = 0;
	if (policy_check(s->cf, &s->tx.policy, &rq, v) != 0) {
		s->out.reason = REPLY_REASON_POLICY_SERVICE;
		reply(s, v->code, v->esc, "%s", v->text);
		refused = v->code;
	}
	free(v);
	return refused;
}

/*
 * policy_end_of_message - with policy_end_of_data, ask the policy
 * servers about the whole message before it is committed: what they
 * made of it (FILTER_*), their PREPENDs edited in when it passed.
 */
static int
policy_end_of_message(struct session *s)
{
	struct txn *tx = &s->tx;
	int	code;

	if (s->cf->npolicy == 0 || !s->cf->policy_end_of_data || s->allowed)
		return FILTER_PASSED;
	if ((code = policy_refused(s, "END-OF-MESSAGE", NULL)) != 0) {
		log_message(s, code, code >= 500 ? "rejected" : "deferred");
		return FILTER_REFUSED;
	}
	if (tx->policy.discard)
		return discarded(s);
	if (tx->policy.edits != NULL)
		(void)delivery_edit(&tx->dlv, tx->policy.edits);	/* a failure: d->err */
	return FILTER_PASSED;
}

/*
 * filters_end_of_message - the milters, then the policy servers, at the
 * end of a message (a DISCARD a policy server gave at RCPT ends it
 * first); FILTER_* as the first that did not pass.
 */
static int
filters_end_of_message(struct session *s)
{
	int	r;

	if (s->tx.policy.discard)
		return discarded(s);
	if ((r = milter_finish(s)) == FILTER_PASSED)
		r = policy_end_of_message(s);
	return r;
}

/* log_message - the summary line of a message, then a line for each of
 * its copies (log_copies); every field of client text quoted. */
static void
log_message(struct session *s, int code, const char *result)
{
	struct txn	*tx = &s->tx;
	struct timespec	 t1;
	struct {
		char	from[SMTP_PATH_MAX + 3];
		char	qfrom[QUOTED_PATH], qhelo[QUOTED_HELO];
		char	qenvid[LOG_QUOTE_SIZE(DSN_VALUE_MAX)];
		char	qmilter[LOG_QUOTE_SIZE(1024)];
	}		*b;
	long		 ms;

	if ((b = malloc(sizeof *b)) == NULL)
		return;
	snprintf(b->from, sizeof b->from, "<%s>", tx->from);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - tx->t0.tv_sec) * 1000 + (t1.tv_nsec - tx->t0.tv_nsec) / 1000000;
	log_info("id=%s session=%lu client=%s helo=%s from=%s nrcpt=%d ncopy=%d "
	    "size=%llu result=%s code=%d delay=%ldms%s%s%s%s%s%s",
	    tx->id, s->id, s->literal, log_quote(b->qhelo, sizeof b->qhelo, s->helo),
	    log_quote(b->qfrom, sizeof b->qfrom, b->from), tx->nrcpt, tx->ncopy,
	    (unsigned long long)tx->dec.size, result, code, ms,
	    tx->envid != NULL ? " envid=" : "",
	    tx->envid != NULL ? log_quote(b->qenvid, sizeof b->qenvid, tx->envid) : "",
	    tx->ret[0] ? " ret=" : "", tx->ret,
	    milter_log(s->milter)[0] ? " milter=" : "",
	    milter_log(s->milter)[0] ? log_quote(b->qmilter, sizeof b->qmilter,
	    milter_log(s->milter)) : "");
	free(b);
	log_copies(s, result);
}

/* log_delivery_failure - which copy failed, where and why. */
static void
log_delivery_failure(const struct session *s)
{
	const struct txn *tx = &s->tx;
	const struct copy *cp;
	char	path[1024], *q;
	const char *why;
	int	i = tx->dlv.err_copy;

	errno = tx->dlv.err;
	if (i < 0 || i >= tx->ncopy) {
		log_warn("id=%s delivery failed", tx->id);
		return;
	}
	cp = tx->copies[i];
	if (maildir_expand(s->cf->maildir, cp->to.box, cp->to.domain, path,
	    sizeof path, &why) == -1)
		buf_copy(path, sizeof path, "?");
	if (cp->to.folder[0]) {
		size_t len = strlen(path);
		buf_appendf(path, sizeof path, &len, "/.%s", cp->to.folder);
	}
	/* Both carry a local part the client chose. */
	if ((q = malloc(QUOTED_PATH + LOG_QUOTE_SIZE(sizeof path))) == NULL)
		return;
	errno = tx->dlv.err;
	log_warn("id=%s delivery failed mailbox=%s path=%s", tx->id,
	    log_quote(q, QUOTED_PATH, cp->mailbox),
	    log_quote(q + QUOTED_PATH, LOG_QUOTE_SIZE(sizeof path), path));
	free(q);
}

/* finish_message - commit or refuse after the last byte; one reply. */
static void
finish_message(struct session *s)
{
	struct txn *tx = &s->tx;
	int	bare = tx->dec.bare_lf || tx->dec.bare_cr, answered;
	struct timespec data_end;	/* for session_stats.commit_time */

	clock_gettime(CLOCK_MONOTONIC, &data_end);
	if (tx->too_big) {
		reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
		log_message(s, 552, "rejected");
	} else if (tx->dlv.loop) {
		/* A Delivered-To: naming a mailbox of ours: it came back. */
		reply(s, 554, "5.4.6", "Mail loop: already delivered to a recipient here");
		log_message(s, 554, "rejected");
	} else if (bare && s->cf->bare_newline == BARE_NEWLINE_REJECT) {
		/* Set by DATA only: RFC 5321 2.3.8, lines end in CRLF. */
		reply(s, 550, "5.5.2", "Message contains bare CR or LF (see RFC 5321 2.3.8)");
		log_message(s, 550, "rejected");
	} else if (!tx->dlv.err && (answered = filters_end_of_message(s)) != 0) {
		/* A milter or a policy server answered: nothing is stored. */
		if (answered == FILTER_DISCARDED) {
			txn_reset(s);	/* a 250, not a refusal */
			return;
		}
	} else if (tx->dlv.err || delivery_commit(&tx->dlv) == -1) {
		int e = tx->dlv.err;
		log_delivery_failure(s);
		if (e == ENOSPC || e == EDQUOT) {
			reply(s, 452, "4.3.1", "Insufficient system storage");
			log_message(s, 452, "deferred");
		} else {
			reply(s, 451, "4.3.0", "Local error in processing, try again later");
			log_message(s, 451, "deferred");
		}
	} else {
		metrics_observe_since(&session_stats.commit_time, &data_end);
		reply(s, 250, "2.0.0", "Ok: queued as %s", tx->id);
		log_message(s, 250, "delivered");
		atomic_fetch_add(&session_stats.accepted, 1);
		atomic_fetch_add(&session_stats.bytes, tx->dec.size);
		s->messages++;
		/* max_errors and max_junk_commands count since a delivery. */
		s->errors = 0;
		s->junk = 0;
		txn_reset(s);
		return;
	}
	atomic_fetch_add(&session_stats.rejected, 1);
	txn_reset(s);
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
	if (milter_refuses_data(s))
		return 0;
	delivery_start(s);
	reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	flush(s);
	if (s->out.dead)
		return -1;
	if ((r = body_read(s, 0, 0)) != LB_OK) {
		log_message(s, 0, r == LB_TIMEOUT ? "timeout" : "disconnected");
		txn_reset(s);
		return lb_failed(s, r);
	}
	finish_message(s);
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
		delivery_start(s);
		s->state = ST_BDAT;
		milter_bdat_start(s);
	}
	/* All chunks of one message share one deadline. */
	if ((r = body_read(s, 1, n)) != LB_OK) {
		log_message(s, 0, r == LB_TIMEOUT ? "timeout" : "disconnected");
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
	finish_message(s);
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

/* set_peer - the client's address as text and as an address literal. */
static void
set_peer(struct session *s, const struct sockaddr_storage *ss)
{
	sockaddr_text(ss, s->addr, sizeof s->addr, s->literal, sizeof s->literal);
	s->port = sockaddr_port(ss);
	s->family = sockaddr_key(ss, s->key);
	s->allowed = config_allowed(s->cf, s->family, s->key);
	s->peer = *ss;
}

/*
 * screen_client - the connection-level screening of the client set_peer
 * set: its connection rate (421 and -1 when over), then the DNS list
 * and reverse DNS look-ups. At connect, and again for the client an
 * XCLIENT names. A proxy allowed to send XCLIENT is not screened: the
 * clients it names are (Postfix exempts its XCLIENT hosts likewise).
 */
static int
screen_client(struct session *s)
{
	const struct config *cf = s->cf;

	if (s->xclient_ok)
		return 0;
	if (over_rate(s, RATELIMIT_CONNECT, cf->max_connection_rate)) {
		/* Before the greeting: RFC 5321 3.1 lets a server open with 421. */
		atomic_fetch_add(&session_stats.refused_connection_rate, 1);
		s->out.reason = REPLY_REASON_CONNECTION_RATE;
		log_info("session=%lu client=%s refused connection: "
		    "max_connection_rate %d reached", s->id, s->literal,
		    cf->max_connection_rate);
		reply(s, 421, "4.7.0", "%s Too many connections from your address, "
		    "try again later", cf->hostname);
		s->end_reason = "max_connection_rate";
		return -1;
	}
	/* Asked now, awaited at the first MAIL or RCPT: never before the
	 * greeting. No dnsbl line, no query. A name the proxy gave
	 * (rclient) is not looked up again. */
	if (cf->ndnsbl > 0 && !s->allowed && s->family != AF_UNSPEC)
		s->dnsbl = dnsq_start(cf, s->family, s->key, s->id);
	if (cf->reverse_dns && s->family != AF_UNSPEC && s->rclient == NULL)
		s->rdns = rdns_start(cf, s->family, s->key);
	return 0;
}

/*
 * cmd_xclient - a proxy in xclient_from names the client it serves
 * (Postfix's XCLIENT_README; parsing in xclient.c). The session starts
 * over for that client as at connect: set_peer, max_clients_per_ip
 * (the admit hook, counting it instead of the proxy), the screening,
 * the greeting. What the command did not give is forgotten, but for
 * the address (ADDR without PORT: port 0); a HELO= name stands for the
 * client's HELO, so MAIL may follow without one.
 */
static int
cmd_xclient(struct session *s, char *args)
{
	const struct config *cf = s->cf;
	struct sockaddr_storage ss;
	struct {
		struct xclient x;
		char	was[sizeof s->literal];
		char	qname[LOG_QUOTE_SIZE(XCLIENT_VALUE_MAX)];
		char	qhelo[LOG_QUOTE_SIZE(XCLIENT_VALUE_MAX)];
		char	qlogin[LOG_QUOTE_SIZE(XCLIENT_VALUE_MAX)];
	}		*b;
	const char	*why;
	size_t		 size;

	if (!s->xclient_ok) {
		reply(s, 550, "5.7.0", "Error: insufficient authorization");
		return 0;
	}
	/* On the heap: a thread's stack pages stay with it while it idles. */
	if ((b = malloc(sizeof *b)) == NULL) {
		reply(s, 451, "4.3.0", "Local error in processing, try again later");
		return 0;
	}
	if (xclient_parse(args, &b->x, &why) == -1) {
		reply(s, 501, "5.5.4", "%s", why);
		free(b);
		return 0;
	}
	buf_copy(b->was, sizeof b->was, s->literal);
	xclient_client(&b->x, &s->peer, &ss);
	txn_reset(s);
	set_peer(s, &ss);
	if (s->family == AF_UNSPEC) {
		/* ADDR=[UNAVAILABLE] */
		buf_copy(s->addr, sizeof s->addr, "unknown");
		buf_copy(s->literal, sizeof s->literal, "[unknown]");
	}
	/* Postfix asks again: the client named is rarely a proxy too. */
	s->xclient_ok = xclient_trusted(cf, s->family, s->key);
	s->destaddr[0] = '\0';
	if (b->x.destaddr.ss_family != AF_UNSPEC)
		sockaddr_text(&b->x.destaddr, s->destaddr, sizeof s->destaddr, NULL, 0);
	s->destport = b->x.destport;
	buf_copy(s->helo, sizeof s->helo, b->x.helo);
	s->esmtp = b->x.esmtp;
	s->state = s->helo[0] ? ST_HELO : ST_CONNECTED;
	s->errors = s->junk = s->refusals = 0;
	s->blocked = 0;
	dnsq_free(s->dnsbl);
	rdns_free(s->rdns);
	free(s->rclient);
	s->dnsbl = NULL;
	s->rdns = NULL;
	s->rclient = NULL;
	if (b->x.name[0] != '\0') {
		/* The proxy's name of the client, as reverse_dns would give it. */
		size = strlen(b->x.name) + sizeof s->literal + 2;
		if ((s->rclient = malloc(size)) != NULL)
			snprintf(s->rclient, size, "%s %s", b->x.name, s->literal);
	}
	log_info("session=%lu xclient client=%s port=%d name=%s helo=%s proto=%s "
	    "login=%s destaddr=%s destport=%d proxy=%s%s", s->id, s->literal, s->port,
	    b->x.name[0] ? log_quote(b->qname, sizeof b->qname, b->x.name) :
	    b->x.name_temp ? "[TEMPUNAVAIL]" : "-",
	    s->helo[0] ? log_quote(b->qhelo, sizeof b->qhelo, s->helo) : "-",
	    !(b->x.given & XCLIENT_PROTO) ? "-" : s->esmtp ? "ESMTP" : "SMTP",
	    b->x.login[0] ? log_quote(b->qlogin, sizeof b->qlogin, b->x.login) : "-",
	    s->destaddr[0] ? s->destaddr : "-", s->destport, b->was,
	    s->allowed ? " allowed=yes" : "");
	free(b);
	if (s->conn->admit != NULL && s->conn->admit(s->conn->admit_arg, &ss) == -1) {
		log_info("session=%lu client=%s refused connection: "
		    "max_clients_per_ip %d reached", s->id, s->literal,
		    cf->max_clients_per_ip);
		reply(s, 421, "4.7.0", "%s Too many connections from your address, "
		    "try again later", cf->hostname);
		s->end_reason = "max_clients_per_ip";
		return -1;
	}
	if (screen_client(s) == -1)
		return -1;
	if (milter_open(s) == -1) {
		reply(s, 421, "4.3.2", "%s Service not available, try again later",
		    cf->hostname);
		s->end_reason = "out of memory";
		return -1;
	}
	reply(s, 220, NULL, "%s ESMTP smtpd", cf->hostname);
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
	set_peer(s, &conn->peer);
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
		set_peer(s, &real);
		if (conn->admit != NULL && conn->admit(conn->admit_arg, &real) == -1) {
			log_info("session=%lu client=%s refused connection: "
			    "max_clients_per_ip %d reached", s->id, s->literal,
			    cf->max_clients_per_ip);
			s->out.reason = REPLY_REASON_MAX_CLIENTS_PER_IP;
			reply(s, 421, "4.7.0", "%s Too many connections from your address, "
			    "try again later", cf->hostname);
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
	if (screen_client(s) == -1) {
		flush(s);
		goto out;
	}
	if (milter_open(s) == -1) {
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
	linebuf_free(&s->lb);
	free(s);
}
