/*
 * session.c - one SMTP conversation, from greeting to QUIT.
 * Owns: struct session and struct txn, the command table, command
 * sequencing (RFC 5321 4.1.4), every reply to the client, DATA and BDAT
 * reading, and the per-connection and per-message log lines.
 * Not here: sockets and threads (listener.c), path syntax (smtpaddr.c),
 * body decoding (data.c), files (delivery.c, maildir.c).
 * Threads: one session per thread; the config is read-only; the only
 * shared writes are the atomic counters in session_stats.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "data.h"
#include "delivery.h"
#include "linebuf.h"
#include "log.h"
#include "maildir.h"
#include "proxy.h"
#include "session.h"
#include "smtpaddr.h"
#include "sockaddr.h"

/* Session states; commands name the states they are allowed in. */
enum sess_state {
	S_CONNECTED = 0x01,	/* greeted, no HELO/EHLO yet */
	S_HELO = 0x02,		/* HELO/EHLO done, no transaction */
	S_MAIL = 0x04,		/* MAIL accepted */
	S_RCPT = 0x08,		/* at least one RCPT accepted */
	S_BDAT = 0x10,		/* BDAT chunks arriving, LAST not yet */
};
#define S_ANY	(S_CONNECTED | S_HELO | S_MAIL | S_RCPT | S_BDAT)

enum body_type { BODY_7BIT, BODY_8BITMIME, BODY_BINARYMIME };

#define DSN_VALUE_MAX	500	/* RFC 3461: ORCPT and ENVID are bounded */
#define FALLBACK_SIZE	512	/* decoded bytes of a failed delivery */

struct rcpt {
	char	 addr[SMTP_PATH_MAX + 1];	/* as the client wrote it */
	char	 box[SMTP_LOCALPART_MAX + 1];	/* lower-cased, no extension */
	char	 domain[SMTP_DOMAIN_MAX + 1];	/* lower-cased */
	char	*notify;			/* DSN NOTIFY=, recorded */
	char	*orcpt;				/* DSN ORCPT=, recorded */
};

struct txn {
	char		 from[SMTP_PATH_MAX + 1];	/* "" for <> */
	enum body_type	 body;
	int		 smtputf8;
	char		 ret[8];			/* DSN RET= */
	char		 envid[DSN_VALUE_MAX + 1];	/* DSN ENVID= */
	struct rcpt	**rcpts;
	int		 nrcpt, caprcpt;
	/* while the body arrives */
	struct delivery	 dlv;
	struct data_decoder dec;
	int		 started;		/* delivery_begin() done */
	int		 too_big;
	char		 id[20];
	struct timespec	 t0;
	time_t		 deadline;		/* end of the DATA/BDAT phase */
};

struct session {
	int			 fd;
	const struct config	*cf;
	char			 addr[INET6_ADDRSTRLEN];	/* "192.0.2.1" */
	char			 literal[INET6_ADDRSTRLEN + 8];	/* "[IPv6:::1]" */
	int			 port;
	unsigned long		 id;
	enum sess_state		 state;
	int			 esmtp;
	char			 helo[SMTP_DOMAIN_MAX + 1];
	int			 errors;
	int			 closing;	/* reply sent, then close */
	int			 dead;		/* the socket failed */
	const char		*end_reason;
	unsigned		 messages;
	const char		*cmdline;	/* for rejection log lines */
	struct txn		 tx;
	size_t			 outlen;
	char			 out[SESSION_OUTBUF_SIZE];
	struct linebuf		 lb;
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

/*
 * The command table. A verb used outside its states gets the 503 text
 * beside it; the last entry catches every other verb.
 */
static const struct command {
	const char	*verb;
	unsigned	 states;
	const char	*seq_error;
	int		(*fn)(struct session *, char *);
} commands[] = {
	{ "HELO", S_ANY, NULL, cmd_helo },
	{ "EHLO", S_ANY, NULL, cmd_ehlo },
	{ "MAIL", S_HELO, NULL, cmd_mail },
	{ "RCPT", S_MAIL | S_RCPT, "Need MAIL command", cmd_rcpt },
	{ "DATA", S_RCPT, NULL, cmd_data },
	{ "BDAT", S_ANY, NULL, cmd_bdat },	/* must always eat its chunk */
	{ "RSET", S_ANY, NULL, cmd_rset },
	{ "NOOP", S_ANY, NULL, cmd_noop },
	{ "QUIT", S_ANY, NULL, cmd_quit },
	{ "VRFY", S_ANY & ~S_BDAT, "VRFY not allowed during BDAT", cmd_vrfy },
	{ "EXPN", S_ANY & ~S_BDAT, "EXPN not allowed during BDAT", cmd_notimpl },
	{ "HELP", S_ANY, NULL, cmd_help },
	{ "STARTTLS", S_ANY, NULL, cmd_notimpl },
	{ "AUTH", S_ANY, NULL, cmd_notimpl },
	{ "TURN", S_ANY, NULL, cmd_notimpl },
	{ "ETRN", S_ANY, NULL, cmd_notimpl },
	/* A web browser or proxy client talking to port 25. */
	{ "GET", S_ANY, NULL, cmd_forbidden },
	{ "POST", S_ANY, NULL, cmd_forbidden },
	{ "HEAD", S_ANY, NULL, cmd_forbidden },
	{ "CONNECT", S_ANY, NULL, cmd_forbidden },
	{ NULL, S_ANY, NULL, cmd_unknown },
};

/* flush - send the queued replies (RFC 2920: once per batch). */
static void
flush(struct session *s)
{
	size_t	off = 0;
	ssize_t	n;

	while (off < s->outlen && !s->dead) {
		n = send(s->fd, s->out + off, s->outlen - off, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			s->dead = 1;	/* also SO_SNDTIMEO: a client not reading */
			s->end_reason = "write error";
			break;
		}
		off += (size_t)n;
	}
	s->outlen = 0;
}

/* reply_line - queue one reply line; more = 1 for "250-" lines. */
static void
reply_line(struct session *s, int code, int more, const char *esc,
    const char *fmt, va_list ap)
{
	char	line[SMTP_REPLY_MAX];
	int	n, m;

	n = snprintf(line, sizeof line, "%d%c", code, more ? '-' : ' ');
	if (esc != NULL)
		n += snprintf(line + n, sizeof line - (size_t)n, "%s ", esc);
	m = vsnprintf(line + n, sizeof line - (size_t)n - 2, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof line - 3)
		n = (int)sizeof line - 3;
	log_debug("session=%lu >>> %.*s", s->id, n, line);
	line[n++] = '\r';
	line[n++] = '\n';
	if (s->outlen + (size_t)n > sizeof s->out)
		flush(s);
	memcpy(s->out + s->outlen, line, (size_t)n);
	s->outlen += (size_t)n;
}

/*
 * reply - queue the one reply a command gets. Every 4xx/5xx counts
 * towards max_errors and gets a log line.
 */
static void
reply(struct session *s, int code, const char *esc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void
reply(struct session *s, int code, const char *esc, const char *fmt, ...)
{
	va_list	ap;
	char	text[SMTP_REPLY_MAX];

	va_start(ap, fmt);
	reply_line(s, code, 0, esc, fmt, ap);
	va_end(ap);
	if (code >= 400 && code != 421) {
		s->errors++;
		va_start(ap, fmt);
		vsnprintf(text, sizeof text, fmt, ap);
		va_end(ap);
		log_info("session=%lu client=%s reject code=%d %s text=\"%s\" command=\"%.100s\"",
		    s->id, s->literal, code, esc ? esc : "", text,
		    s->cmdline ? s->cmdline : "");
	}
}

static void
reply_more(struct session *s, int code, const char *esc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void
reply_more(struct session *s, int code, const char *esc, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	reply_line(s, code, 1, esc, fmt, ap);
	va_end(ap);
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
	free(tx->rcpts);
	if (tx->started)
		delivery_end(&tx->dlv);
	memset(tx, 0, sizeof *tx);
	linebuf_bulk(&s->lb, 0);
	if (s->state & (S_MAIL | S_RCPT | S_BDAT))
		s->state = S_HELO;
}

/* is_verb - case-insensitive "VERB" followed by end or space. */
static int
is_verb(const char *line, const char *verb, char **args)
{
	size_t	n = strlen(verb);

	if (strncasecmp(line, verb, n) != 0 || (line[n] != '\0' && line[n] != ' '))
		return 0;
	*args = (char *)(uintptr_t)(line + n + (line[n] == ' '));
	return 1;
}

/* session_command - dispatch one command line; -1 to close. */
static int
session_command(struct session *s, char *line)
{
	const struct command *c;
	char	*args = NULL;

	s->cmdline = line;
	log_debug("session=%lu <<< %s", s->id, line);
	for (c = commands; c->verb != NULL; c++)
		if (is_verb(line, c->verb, &args))
			break;
	if (c->verb == NULL)
		args = line;
	if (!(c->states & s->state)) {
		const char *why = c->seq_error;
		if (why == NULL) {
			if (s->state == S_CONNECTED)
				why = "Send HELO/EHLO first";
			else if (s->state == S_BDAT)
				why = "Only BDAT, RSET, NOOP or QUIT during BDAT";
			else if (c->fn == cmd_mail)
				why = "Nested MAIL command";
			else if (c->fn == cmd_data && s->state == S_MAIL)
				why = "No valid recipients";
			else
				why = "Need RCPT command";
		}
		reply(s, 503, "5.5.1", "Bad sequence of commands: %s", why);
		return 0;
	}
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
		/* UTF-8 host names (RFC 6531) are allowed; checked below. */
	}
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
	s->state = S_HELO;
	return 1;
}

static int
cmd_helo(struct session *s, char *args)
{
	if (helo_common(s, args, 0, "HELO"))
		reply(s, 250, NULL, "%s", s->cf->hostname);
	return 0;
}

static int
cmd_ehlo(struct session *s, char *args)
{
	if (!helo_common(s, args, 1, "EHLO"))
		return 0;
	reply_more(s, 250, NULL, "%s Hello %s %s", s->cf->hostname, s->helo, s->literal);
	reply_more(s, 250, NULL, "PIPELINING");
	reply_more(s, 250, NULL, "SIZE %llu", (unsigned long long)s->cf->max_message_size);
	reply_more(s, 250, NULL, "8BITMIME");
	reply_more(s, 250, NULL, "BINARYMIME");
	reply_more(s, 250, NULL, "CHUNKING");
	reply_more(s, 250, NULL, "SMTPUTF8");
	reply_more(s, 250, NULL, "DSN");
	reply(s, 250, NULL, "ENHANCEDSTATUSCODES");
	return 0;
}

/* parse_size - RFC 1870 size-value, overflow-checked; 0 or -1. */
static int
parse_size(const char *v, unsigned long long *out)
{
	unsigned long long n = 0;

	if (*v == '\0' || strlen(v) > 20)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		if (__builtin_mul_overflow(n, 10, &n) ||
		    __builtin_add_overflow(n, (unsigned)(*v - '0'), &n))
			return -1;
	}
	*out = n;
	return 0;
}

/* valid_xtext - RFC 3461 4: xtext, bounded. */
static int
valid_xtext(const char *v)
{
	size_t	n = strlen(v);

	if (n == 0 || n > DSN_VALUE_MAX)
		return 0;
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == '+') {
			if (!strchr("0123456789ABCDEF", v[1]) || !v[1] ||
			    !strchr("0123456789ABCDEF", v[2]) || !v[2])
				return 0;
			v += 2;
		} else if (c < 33 || c > 126 || c == '=')
			return 0;
	}
	return 1;
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

static int
cmd_mail(struct session *s, char *args)
{
	struct smtpaddr	 a;
	const char	*why, *end;
	char		*p, *key, *val;
	unsigned long long size = 0;
	int		 r, utf8 = 0, body = BODY_7BIT;
	char		 ret[8] = "", envid[DSN_VALUE_MAX + 1] = "";

	if ((p = path_arg(args, "FROM:")) == NULL) {
		reply(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return 0;
	}
	if (smtpaddr_parse(p, SMTPADDR_UTF8 | SMTPADDR_NULL_OK, &a, &end, &why) == -1) {
		reply(s, 501, "5.1.7", "Bad sender address syntax: %s", why);
		return 0;
	}
	if (*end != '\0' && *end != ' ') {
		reply(s, 501, "5.1.7", "Bad sender address syntax");
		return 0;
	}
	p = (char *)(uintptr_t)end;
	while ((r = smtpaddr_next_param(&p, &key, &val)) == 1) {
		if (strcasecmp(key, "SIZE") == 0 && val != NULL) {
			if (parse_size(val, &size) == -1) {
				reply(s, 501, "5.5.4", "Bad SIZE parameter");
				return 0;
			}
		} else if (strcasecmp(key, "BODY") == 0 && val != NULL) {
			if (strcasecmp(val, "7BIT") == 0)
				body = BODY_7BIT;
			else if (strcasecmp(val, "8BITMIME") == 0)
				body = BODY_8BITMIME;
			else if (strcasecmp(val, "BINARYMIME") == 0)
				body = BODY_BINARYMIME;
			else {
				reply(s, 501, "5.5.4", "Bad BODY parameter");
				return 0;
			}
		} else if (strcasecmp(key, "SMTPUTF8") == 0 && val == NULL) {
			utf8 = 1;
		} else if (strcasecmp(key, "RET") == 0 && val != NULL &&
		    (strcasecmp(val, "FULL") == 0 || strcasecmp(val, "HDRS") == 0)) {
			buf_copy(ret, sizeof ret, val);
		} else if (strcasecmp(key, "ENVID") == 0 && val != NULL) {
			if (!valid_xtext(val)) {
				reply(s, 501, "5.5.4", "Bad ENVID parameter");
				return 0;
			}
			buf_copy(envid, sizeof envid, val);
		} else {
			reply(s, 555, "5.5.4", "Unsupported MAIL parameter %.40s", key);
			return 0;
		}
	}
	if (r == -1) {
		reply(s, 501, "5.5.4", "Bad MAIL parameter syntax");
		return 0;
	}
	if (a.has_utf8 && !utf8) {
		/* RFC 6531 3.5 */
		reply(s, 553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
		return 0;
	}
	if (size > s->cf->max_message_size) {
		reply(s, 552, "5.3.4", "Message size exceeds fixed limit of %llu octets",
		    (unsigned long long)s->cf->max_message_size);
		return 0;
	}
	txn_reset(s);
	if (smtpaddr_format(&a, s->tx.from, sizeof s->tx.from) == -1) {
		reply(s, 501, "5.1.7", "Sender address too long");
		return 0;
	}
	s->tx.body = body;
	s->tx.smtputf8 = utf8;
	buf_copy(s->tx.ret, sizeof s->tx.ret, ret);
	buf_copy(s->tx.envid, sizeof s->tx.envid, envid);
	s->state = S_MAIL;
	reply(s, 250, "2.1.0", "Ok");
	return 0;
}

/* valid_notify - RFC 3461 4.1: NEVER, or a list of SUCCESS/FAILURE/DELAY. */
static int
valid_notify(const char *v)
{
	char	copy[64], *tok, *save = NULL;

	if (strcasecmp(v, "NEVER") == 0)
		return 1;
	if (buf_copy(copy, sizeof copy, v) == -1)
		return 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (strcasecmp(tok, "SUCCESS") && strcasecmp(tok, "FAILURE") &&
		    strcasecmp(tok, "DELAY"))
			return 0;
	return v[0] != ',' && v[strlen(v) - 1] != ',';
}

static int
cmd_rcpt(struct session *s, char *args)
{
	struct smtpaddr	 a;
	struct rcpt	*rc;
	const struct config *cf = s->cf;
	const char	*why, *end, *domain;
	char		*p, *key, *val, *notify = NULL, *orcpt = NULL;
	char		 box[SMTP_LOCALPART_MAX + 1], addr[SMTP_PATH_MAX + 1];
	char		 dom[SMTP_DOMAIN_MAX + 1];
	int		 r, i;

	if ((p = path_arg(args, "TO:")) == NULL) {
		reply(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return 0;
	}
	if (smtpaddr_parse(p, SMTPADDR_UTF8 | SMTPADDR_POSTMASTER_OK, &a, &end, &why) == -1 ||
	    (*end != '\0' && *end != ' ')) {
		reply(s, 501, "5.1.3", "Bad recipient address syntax");
		return 0;
	}
	p = (char *)(uintptr_t)end;
	while ((r = smtpaddr_next_param(&p, &key, &val)) == 1) {
		if (strcasecmp(key, "NOTIFY") == 0 && val != NULL && valid_notify(val))
			notify = val;
		else if (strcasecmp(key, "ORCPT") == 0 && val != NULL &&
		    strchr(val, ';') != NULL && valid_xtext(val))
			orcpt = val;
		else {
			reply(s, 555, "5.5.4", "Unsupported RCPT parameter %.40s", key);
			return 0;
		}
	}
	if (r == -1) {
		reply(s, 501, "5.5.4", "Bad RCPT parameter syntax");
		return 0;
	}
	if (a.has_utf8 && !s->tx.smtputf8) {
		reply(s, 553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
		return 0;
	}
	/* RFC 5321 4.1.1.3: <postmaster> alone means our first domain. */
	domain = a.domain[0] ? a.domain : cf->domains[0];
	if (!config_has_domain(cf, domain)) {
		reply(s, 550, "5.7.1", "Relay access denied");
		return 0;
	}
	buf_copy(dom, sizeof dom, domain);
	buf_lower(dom);
	buf_copy(box, sizeof box, a.local_plain);
	buf_lower(box);
	if (cf->recipient_delimiter && box[0] != cf->recipient_delimiter) {
		char *d = strchr(box, cf->recipient_delimiter);
		if (d != NULL)
			*d = '\0';
	}
	if (!maildir_local_ok(box)) {
		reply(s, 550, "5.1.3", "Recipient local part cannot name a mailbox");
		return 0;
	}
	if (strcmp(box, "postmaster") != 0 && config_domain_restricted(cf, dom) &&
	    !config_has_mailbox(cf, box, dom)) {
		reply(s, 550, "5.1.1", "Recipient address rejected: User unknown");
		return 0;
	}
	if (a.domain[0] == '\0')
		buf_copy(a.domain, sizeof a.domain, dom);
	if (smtpaddr_format(&a, addr, sizeof addr) == -1) {
		reply(s, 501, "5.1.3", "Recipient address too long");
		return 0;
	}
	for (i = 0; i < s->tx.nrcpt; i++)
		if (strcasecmp(s->tx.rcpts[i]->addr, addr) == 0) {
			/* The same recipient twice: one copy. */
			reply(s, 250, "2.1.5", "Ok");
			return 0;
		}
	if (s->tx.nrcpt >= cf->max_recipients) {
		reply(s, 452, "4.5.3", "Too many recipients");
		return 0;
	}
	if (s->tx.nrcpt == s->tx.caprcpt) {
		int cap = s->tx.caprcpt ? s->tx.caprcpt * 2 : 4;
		struct rcpt **n;
		if (cap > cf->max_recipients)
			cap = cf->max_recipients;
		if ((n = realloc(s->tx.rcpts, (size_t)cap * sizeof *n)) == NULL) {
			reply(s, 452, "4.3.1", "Insufficient system storage");
			return 0;
		}
		s->tx.rcpts = n;
		s->tx.caprcpt = cap;
	}
	if ((rc = calloc(1, sizeof *rc)) == NULL ||
	    (notify && (rc->notify = strdup(notify)) == NULL) ||
	    (orcpt && (rc->orcpt = strdup(orcpt)) == NULL)) {
		if (rc) {
			free(rc->notify);
			free(rc);
		}
		reply(s, 452, "4.3.1", "Insufficient system storage");
		return 0;
	}
	buf_copy(rc->addr, sizeof rc->addr, addr);
	buf_copy(rc->box, sizeof rc->box, box);
	buf_copy(rc->domain, sizeof rc->domain, dom);
	s->tx.rcpts[s->tx.nrcpt++] = rc;
	s->state = S_RCPT;
	reply(s, 250, "2.1.5", "Ok");
	return 0;
}

/* new_msgid - 16 hex digits: seconds, then a randomly seeded counter. */
static void
new_msgid(char *buf, size_t size)
{
	snprintf(buf, size, "%08llX%08X", (unsigned long long)time(NULL) & 0xffffffffULL,
	    atomic_fetch_add(&msgid_counter, 1));
}

void
session_id_init(void)
{
	unsigned r = 0;

	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
		r = (unsigned)getpid() * 2654435761u;
	atomic_store(&msgid_counter, r);
}

/* rfc5322_date - "Thu, 26 Nov 2026 17:36:08 +0000" */
static void
rfc5322_date(char *buf, size_t size)
{
	time_t	now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	if (strftime(buf, size, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		buf[0] = '\0';
}

/*
 * delivery_start - open one copy per recipient and write its trace
 * headers. Failures are kept in tx->dlv.err and answered after the body.
 */
static void
delivery_start(struct session *s)
{
	struct txn	*tx = &s->tx;
	/* On the heap: a thread's stack pages stay with it while it idles. */
	struct {
		char	root[1024], path[2048], hdr[2048], date[64];
	}		*b;
	const char	*why, *proto;
	int		 i, n;

	clock_gettime(CLOCK_MONOTONIC, &tx->t0);
	tx->deadline = linebuf_now() + s->cf->transaction_timeout;
	new_msgid(tx->id, sizeof tx->id);
	data_init(&tx->dec, s->cf->bare_newline == BARE_NEWLINE_KEEP);
	tx->started = 1;
	linebuf_bulk(&s->lb, 1);
	if (delivery_begin(&tx->dlv, tx->nrcpt, s->cf->fsync) == -1)
		return;
	if ((b = malloc(sizeof *b)) == NULL) {
		tx->dlv.err = ENOMEM;
		return;
	}
	rfc5322_date(b->date, sizeof b->date);
	proto = tx->smtputf8 ? "UTF8SMTP" : s->esmtp ? "ESMTP" : "SMTP";
	maildir_root(s->cf->maildir, b->root, sizeof b->root);
	for (i = 0; i < tx->nrcpt && !tx->dlv.err; i++) {
		struct rcpt *rc = tx->rcpts[i];

		if (maildir_expand(s->cf->maildir, rc->box, rc->domain, b->path,
		    sizeof b->path, &why) == -1) {
			tx->dlv.err = ENAMETOOLONG;
			break;
		}
		/* RFC 5321 4.4: Return-Path, then our Received: line. */
		n = snprintf(b->hdr, sizeof b->hdr,
		    "Return-Path: <%s>\n"
		    "Received: from %s (%s)\n"
		    "\tby %s (smtpd) with %s id %s\n"
		    "\tfor <%s>; %s\n",
		    tx->from, s->helo, s->literal, s->cf->hostname, proto,
		    tx->id, rc->addr, b->date);
		if (n < 0 || (size_t)n >= sizeof b->hdr) {
			tx->dlv.err = ENAMETOOLONG;
			break;
		}
		delivery_add(&tx->dlv, b->root, b->path, b->hdr, (size_t)n);
	}
	free(b);
}

/* log_message - the one log line per message. */
static void
log_message(struct session *s, int code, const char *result)
{
	struct txn	*tx = &s->tx;
	struct timespec	 t1;
	char		 to[1024];
	size_t		 len = 0;
	long		 ms;
	int		 i;

	to[0] = '\0';
	for (i = 0; i < tx->nrcpt; i++) {
		const struct rcpt *rc = tx->rcpts[i];
		if (buf_appendf(to, sizeof to, &len, "%s<%s>%s%s%s%s", i ? "," : "",
		    rc->addr, rc->notify ? " notify=" : "", rc->notify ? rc->notify : "",
		    rc->orcpt ? " orcpt=" : "", rc->orcpt ? rc->orcpt : "") == -1) {
			len = strlen(to);
			buf_appendf(to, sizeof to, &len, "...");
			break;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - tx->t0.tv_sec) * 1000 + (t1.tv_nsec - tx->t0.tv_nsec) / 1000000;
	log_info("id=%s session=%lu client=%s helo=%s from=<%s> to=%s size=%llu "
	    "result=%s code=%d delay=%ldms%s%s%s%s",
	    tx->id, s->id, s->literal, s->helo, tx->from, to,
	    (unsigned long long)tx->dec.size, result, code, ms,
	    tx->envid[0] ? " envid=" : "", tx->envid,
	    tx->ret[0] ? " ret=" : "", tx->ret);
}

/* body_space - where the next decoded body bytes go: in place, in the
 * delivery's own buffer, or in fallback (FALLBACK_SIZE bytes) once the
 * delivery has failed and the body is only read to its end. */
static char *
body_space(struct txn *tx, char *fallback, size_t *cap)
{
	char	*out;

	if ((out = delivery_space(&tx->dlv, cap)) != NULL)
		return out;
	*cap = FALLBACK_SIZE;
	return fallback;
}

/* finish_message - commit or refuse after the last byte; one reply. */
static void
finish_message(struct session *s)
{
	struct txn *tx = &s->tx;
	int	bare = tx->dec.bare_lf || tx->dec.bare_cr;

	if (tx->too_big) {
		reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
		log_message(s, 552, "rejected");
	} else if (bare && s->cf->bare_newline == BARE_NEWLINE_REJECT) {
		/* Set by DATA only: RFC 5321 2.3.8, lines end in CRLF. */
		reply(s, 550, "5.5.2", "Message contains bare CR or LF (see RFC 5321 2.3.8)");
		log_message(s, 550, "rejected");
	} else if (tx->dlv.err || delivery_commit(&tx->dlv) == -1) {
		int e = tx->dlv.err;
		errno = e;
		log_warn("id=%s delivery failed", tx->id);
		if (e == ENOSPC || e == EDQUOT) {
			reply(s, 452, "4.3.1", "Insufficient system storage");
			log_message(s, 452, "deferred");
		} else {
			reply(s, 451, "4.3.0", "Local error in processing, try again later");
			log_message(s, 451, "deferred");
		}
	} else {
		reply(s, 250, "2.0.0", "Ok: queued as %s", tx->id);
		log_message(s, 250, "delivered");
		atomic_fetch_add(&session_stats.accepted, 1);
		atomic_fetch_add(&session_stats.bytes, tx->dec.size);
		s->messages++;
		s->errors = 0;	/* max_errors counts errors without a delivery */
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

static int
cmd_data(struct session *s, char *args)
{
	struct txn	*tx = &s->tx;
	char		 fallback[FALLBACK_SIZE], *out;
	size_t		 olen, used, n, outcap;
	enum data_result dr = DATA_MORE;
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
	delivery_start(s);
	reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	s->cmdline = "(end of DATA)";	/* the line buffer is about to be reused */
	flush(s);
	if (s->dead)
		return -1;
	while (dr == DATA_MORE) {
		if (linebuf_pending(&s->lb) == 0) {
			r = linebuf_fill(&s->lb, s->cf->data_timeout * 1000, tx->deadline, 0);
			if (r != LB_OK) {
				log_message(s, 0, r == LB_TIMEOUT ? "timeout" : "disconnected");
				txn_reset(s);
				return lb_failed(s, r);
			}
			continue;
		}
		out = body_space(tx, fallback, &outcap);
		n = linebuf_pending(&s->lb);
		if (n > outcap - 2)
			n = outcap - 2;
		dr = data_feed(&tx->dec, s->lb.buf + s->lb.off, n, out, &olen, &used);
		linebuf_consume(&s->lb, used);
		if (tx->dec.size > s->cf->max_message_size)
			tx->too_big = 1;
		if (!tx->too_big && out != fallback)
			delivery_wrote(&tx->dlv, olen);
	}
	finish_message(s);
	return 0;
}

/*
 * cmd_bdat - RFC 3030 chunk: exactly n octets follow the command line.
 * The chunk is always read, even when the command is refused, so that
 * its bytes are never taken for commands.
 */
static int
cmd_bdat(struct session *s, char *args)
{
	struct txn	*tx = &s->tx;
	unsigned long long n;
	char		 num[24], fallback[FALLBACK_SIZE], *out;
	const char	*seq = NULL;
	size_t		 take, olen, outcap;
	int		 last = 0;
	time_t		 deadline;
	enum linebuf_result r;
	char		*sp = strchr(args, ' ');
	size_t		 nl = sp ? (size_t)(sp - args) : strlen(args);

	if (nl == 0 || nl >= sizeof num) {
		reply(s, 501, "5.5.4", "Syntax: BDAT size [LAST]");
		return 0;
	}
	memcpy(num, args, nl);
	num[nl] = '\0';
	if (parse_size(num, &n) == -1 ||
	    (sp != NULL && strcasecmp(sp + 1, "LAST") != 0)) {
		/* Its size is unknown: the session cannot stay in step. */
		reply(s, 501, "5.5.4", "Syntax: BDAT size [LAST]");
		s->closing = 1;
		return -1;
	}
	last = sp != NULL;
	s->cmdline = last ? "BDAT LAST" : "BDAT";
	if (!(s->state & (S_RCPT | S_BDAT)))
		seq = s->state == S_MAIL ? "No valid recipients" :
		    s->state == S_CONNECTED ? "Send HELO/EHLO first" : "Need MAIL command";
	if (seq == NULL && s->state == S_RCPT) {
		delivery_start(s);
		s->state = S_BDAT;
	}
	/* All chunks of one message share one deadline; a refused chunk
	 * gets its own, as it belongs to no transaction. */
	deadline = seq == NULL ? tx->deadline :
	    linebuf_now() + s->cf->transaction_timeout;
	while (n > 0) {
		if (linebuf_pending(&s->lb) == 0) {
			r = linebuf_fill(&s->lb, s->cf->data_timeout * 1000, deadline, 0);
			if (r != LB_OK) {
				if (seq == NULL)
					log_message(s, 0, "disconnected");
				txn_reset(s);
				return lb_failed(s, r);
			}
			continue;
		}
		take = linebuf_pending(&s->lb);
		if (take > n)
			take = (size_t)n;
		if (seq == NULL) {
			out = body_space(tx, fallback, &outcap);
			if (take > outcap - 1)
				take = outcap - 1;
			if (tx->dec.size + take > s->cf->max_message_size)
				tx->too_big = 1;
			olen = data_feed_raw(&tx->dec, s->lb.buf + s->lb.off, take, out);
			if (!tx->too_big && out != fallback)
				delivery_wrote(&tx->dlv, olen);
		}
		linebuf_consume(&s->lb, take);
		n -= take;
	}
	if (seq != NULL) {
		reply(s, 503, "5.5.1", "Bad sequence of commands: %s", seq);
		return 0;
	}
	if (!last) {
		if (tx->too_big)
			reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
		else
			reply(s, 250, "2.0.0", "%llu octets received",
			    (unsigned long long)tx->dec.size);
		return 0;
	}
	olen = data_finish_raw(&tx->dec, fallback);
	if (!tx->too_big)
		delivery_write(&tx->dlv, fallback, olen);
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
}

/*
 * early_talker - RFC 5321 4.3.1: the client waits for the greeting.
 * With greeting_delay 0 this is one non-blocking poll and costs nothing.
 */
static int
early_talker(struct session *s)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };

	if (linebuf_pending(&s->lb) > 0)
		return 1;
	return poll(&pfd, 1, s->cf->greeting_delay * 1000) == 1 &&
	    (pfd.revents & POLLIN);
}

/* session_loop - greeting, then commands until QUIT, error or timeout. */
static void
session_loop(struct session *s)
{
	enum linebuf_result r;
	char	*line;
	size_t	 len;

	if (early_talker(s)) {
		reply(s, 554, "5.5.0", "SMTP protocol synchronization error (talked before the greeting)");
		s->end_reason = "early talker";
		return;
	}
	reply(s, 220, NULL, "%s ESMTP smtpd", s->cf->hostname);
	while (!s->dead) {
		/* RFC 2920: flush only when no further command is waiting. */
		if (!linebuf_has_line(&s->lb))
			flush(s);
		/* The whole line within the timeout: no byte-a-minute drip. */
		r = linebuf_getline(&s->lb, SMTP_PARAMLINE_MAX, s->cf->timeout * 1000,
		    linebuf_now() + s->cf->timeout, 1, &line, &len);
		if (r == LB_WAKE) {
			reply(s, 421, "4.3.2", "%s Service shutting down", s->cf->hostname);
			s->end_reason = "shutdown";
			break;
		}
		if (r == LB_TOOLONG) {
			s->cmdline = NULL;
			reply(s, 500, "5.5.2", "Line too long");
		} else if (r != LB_OK) {
			lb_failed(s, r);
			break;
		} else if (memchr(line, '\0', len) != NULL || memchr(line, '\r', len) != NULL) {
			/* RFC 5321 2.3.8: CR only as part of the line's CRLF. */
			s->cmdline = NULL;
			reply(s, 500, "5.5.2", "NUL or bare CR in command");
		} else if (len + 2 > SMTP_CMDLINE_MAX &&
		    strncasecmp(line, "MAIL ", 5) != 0 && strncasecmp(line, "RCPT ", 5) != 0) {
			/* 4.5.3.1.4; MAIL and RCPT may carry parameters. */
			s->cmdline = NULL;
			reply(s, 500, "5.5.2", "Line too long");
		} else if (session_command(s, line) == -1)
			break;
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
	s->fd = fd;
	s->cf = cf;
	s->state = S_CONNECTED;
	s->end_reason = "closed";
	s->id = atomic_fetch_add(&session_counter, 1) + 1;
	atomic_fetch_add(&session_stats.sessions, 1);
	set_peer(s, &conn->peer);
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
			free(s);
			return;
		}
		set_peer(s, &real);
		if (conn->admit != NULL && conn->admit(conn->admit_arg, &real) == -1) {
			log_info("session=%lu refused connection: max_clients_per_ip %d reached",
			    s->id, cf->max_clients_per_ip);
			reply(s, 421, "4.7.0", "%s Too many connections from your address, "
			    "try again later", cf->hostname);
			flush(s);
			free(s);
			return;
		}
	}
	log_info("session=%lu connect client=%s port=%d", s->id, s->literal, s->port);
	session_loop(s);
	flush(s);
	txn_reset(s);
	linebuf_free(&s->lb);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("session=%lu disconnect client=%s helo=%s messages=%u errors=%d "
	    "reason=\"%s\" duration=%ldms", s->id, s->literal,
	    s->helo[0] ? s->helo : "-", s->messages, s->errors, s->end_reason,
	    (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	free(s);
}
