/*
 * milter.c - the milter protocol (libmilter's, version 6), smtpd's side.
 * Owns: the packets (framing, option negotiation, macros, each
 * command), the header/body stream the filters see, reading and judging
 * their replies, the header edits they ask for at end of message, what
 * a failing filter does to the session (milter_failure), the outcome
 * counters, and the log lines of their decisions.
 * Not here: sockets and deadlines (filterconn.c), when each hook runs
 * and the replies to the client (session.c), applying the edits to the
 * copies (delivery.c).
 * Threads: one struct milter_session per SMTP session (its thread); the
 * only shared writes are the atomic counters in milter_stats.
 *
 * A packet is a 4-octet length in network order (the command byte and
 * the data), the command byte, the data. smtpd offers version 6, the
 * actions MILTER_ACTIONS and the protocol flags MILTER_PROTOCOL; a
 * filter's answer keeps what it wants of them. Steps a filter turned
 * off (SMFIP_NO*) are not sent, replies it will not send (SMFIP_NR_*)
 * are not awaited.
 *
 * The filters see the client's header section as it will be stored
 * (Return-Path: fields dropped, as delivery.c drops them), never
 * smtpd's own trace fields, which differ per copy: header indexes of
 * SMFIR_INSHEADER and SMFIR_CHGHEADER count the client's fields only,
 * and the trace fields stay on top.
 *
 * A filter that wants the body replaced (SMFIR_REPLBODY: not offered)
 * fails, per milter_failure: a message is never stored other than the
 * filter wanted it. Recipient and sender changes (not offered either)
 * are logged and ignored.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "filterconn.h"
#include "linebuf.h"
#include "log.h"
#include "milter.h"
#include "smtpd.h"
#include "sockaddr.h"

struct milter_stats milter_stats;

/* ---- pure parsing -------------------------------------------------- */

/* get32 - a network-order 32-bit value. */
static uint32_t
get32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static void
put32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
}

int
milter_parse_optneg(const char *data, size_t len, uint32_t *version,
    uint32_t *actions, uint32_t *protocol, const char **why)
{
	if (len < 12) {
		*why = "option negotiation too short";
		return -1;
	}
	*version = get32(data);
	*actions = get32(data + 4);
	*protocol = get32(data + 8);
	if (*version < 2 || *version > MILTER_VERSION) {
		*why = "unsupported protocol version";
		return -1;
	}
	return 0;
}

int
milter_valid_name(const char *name)
{
	size_t	n = 0;

	for (; name[n] != '\0'; n++)
		if ((unsigned char)name[n] <= 0x20 || (unsigned char)name[n] >= 0x7f ||
		    name[n] == ':' || n >= 100)
			return 0;
	return n > 0;
}

int
milter_clean_value(const char *src, char *dst, size_t size)
{
	size_t	o = 0;

	if (size == 0)
		return -1;
	for (; *src != '\0'; src++) {
		unsigned char c = (unsigned char)*src;

		if (c == '\r')
			continue;
		if (o + 3 > size)
			return -1;
		if (c == '\n') {
			/* Only a fold: a line break that starts no field.
			 * What follows is looked at past the CRs dropped. */
			const char *next = src + 1 + strspn(src + 1, "\r");

			dst[o++] = '\n';
			if (*next != ' ' && *next != '\t' && *next != '\0' &&
			    *next != '\n')
				dst[o++] = '\t';
			continue;
		}
		dst[o++] = (c < 0x20 && c != '\t') || c == 0x7f ? ' ' : (char)c;
	}
	/* No empty lines, no line ends at the end. */
	while (o > 0 && (dst[o - 1] == '\n' || dst[o - 1] == ' ' || dst[o - 1] == '\t'))
		o--;
	dst[o] = '\0';
	for (size_t i = 0; i + 1 < o; i++)
		if (dst[i] == '\n' && dst[i + 1] == '\n') {
			memmove(dst + i, dst + i + 1, o - i - 1);
			dst[--o] = '\0';
			i--;
		}
	return 0;
}

/* cstring - the NUL-terminated string at data[*off..len); NULL if
 * there is none. */
static const char *
cstring(const char *data, size_t len, size_t *off)
{
	const char *p = data + *off, *nul;

	if (*off >= len || (nul = memchr(p, '\0', len - *off)) == NULL)
		return NULL;
	*off += (size_t)(nul - p) + 1;
	return p;
}

/* parse_replycode - "NNN X.Y.Z text" (or "NNN text"), possibly several
 * lines of which the first is kept: 4xx or 5xx, the enhanced code of
 * the same class, printable ASCII text. */
static int
parse_replycode(const char *s, struct milter_reply *r, const char **why)
{
	size_t	 n, o;
	const char *t;

	if (s[0] < '4' || s[0] > '5' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9' || (s[3] != ' ' && s[3] != '-' && s[3] != '\0')) {
		*why = "reply code not 4xx or 5xx";
		return -1;
	}
	r->code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	t = s[3] != '\0' ? s + 4 : s + 3;
	/* An enhanced status code (RFC 3463), class as the code's. */
	n = strspn(t, "0123456789.");
	if (n >= 5 && n < sizeof r->esc && t[0] == s[0] && t[1] == '.' &&
	    (t[n] == ' ' || t[n] == '\0' || t[n] == '\r' || t[n] == '\n')) {
		memcpy(r->esc, t, n);
		r->esc[n] = '\0';
		t += n;
		while (*t == ' ')
			t++;
	}
	for (o = 0; *t != '\0' && *t != '\r' && *t != '\n' && o < MILTER_TEXT_MAX; t++) {
		if ((unsigned char)*t < 0x20 || (unsigned char)*t >= 0x7f) {
			*why = "reply text not printable ASCII";
			return -1;
		}
		r->text[o++] = *t;
	}
	r->text[o] = '\0';
	return 0;
}

int
milter_parse_reply(int cmd, const char *data, size_t len, struct milter_reply *r,
    const char **why)
{
	size_t	off = 0;

	memset(r, 0, sizeof *r);
	r->cmd = cmd;
	switch (cmd) {
	case SMFIR_ACCEPT: case SMFIR_CONTINUE: case SMFIR_DISCARD:
	case SMFIR_REJECT: case SMFIR_TEMPFAIL: case SMFIR_SKIP:
	case SMFIR_PROGRESS: case SMFIR_SHUTDOWN: case SMFIR_CONN_FAIL:
	case SMFIR_REPLBODY: case SMFIR_SETSYMLIST:
		/* No data, or data smtpd does not use. */
		return 0;
	case SMFIR_REPLYCODE:
		if ((r->value = cstring(data, len, &off)) == NULL) {
			*why = "reply code not NUL-terminated";
			return -1;
		}
		return parse_replycode(r->value, r, why);
	case SMFIR_QUARANTINE:
	case SMFIR_ADDRCPT: case SMFIR_DELRCPT: case SMFIR_CHGFROM:
	case SMFIR_ADDRCPT_PAR:
		if ((r->value = cstring(data, len, &off)) == NULL) {
			*why = "string not NUL-terminated";
			return -1;
		}
		return 0;
	case SMFIR_ADDHEADER:
		if ((r->name = cstring(data, len, &off)) == NULL ||
		    (r->value = cstring(data, len, &off)) == NULL) {
			*why = "header not NUL-terminated";
			return -1;
		}
		return 0;
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
		if (len < 4) {
			*why = "header index missing";
			return -1;
		}
		r->index = get32(data);
		off = 4;
		if ((r->name = cstring(data, len, &off)) == NULL ||
		    (r->value = cstring(data, len, &off)) == NULL) {
			*why = "header not NUL-terminated";
			return -1;
		}
		return 0;
	default:
		*why = "unknown reply";
		return -1;
	}
}

/* ---- the stream: header fields, then the body ---------------------- */

enum {
	MS_BOL,		/* at a header line's start */
	MS_BOL_CR,	/* a CR there: an empty line if LF follows */
	MS_NAME,	/* a field's name, before its colon */
	MS_LINE,	/* the rest of a header line */
	MS_BODY
};
#define MS_NAME_MAX	998	/* no colon in as many: no field */

int
milter_stream_init(struct milter_stream *ms,
    int (*emit)(void *, int, const char *, size_t), void *arg)
{
	memset(ms, 0, sizeof *ms);
	ms->emit = emit;
	ms->arg = arg;
	ms->state = MS_BOL;
	if ((ms->chunk = malloc(MILTER_CHUNK_MAX)) == NULL)
		return -1;
	return 0;
}

void
milter_stream_free(struct milter_stream *ms)
{
	free(ms->field);
	free(ms->chunk);
	ms->field = ms->chunk = NULL;
	ms->flen = ms->fcap = ms->clen = 0;
}

static void
stream_emit(struct milter_stream *ms, int cmd, const char *p, size_t n)
{
	if (!ms->stopped && ms->emit(ms->arg, cmd, p, n) == -1)
		ms->stopped = 1;
}

/* field_add - bytes of the current field, cut at MILTER_HEADER_MAX. */
static void
field_add(struct milter_stream *ms, const char *p, size_t n)
{
	size_t	cap;
	char	*nf;

	if (n > MILTER_HEADER_MAX - ms->flen) {
		n = MILTER_HEADER_MAX - ms->flen;
		ms->cut = 1;
	}
	if (ms->flen + n + 1 > ms->fcap) {
		for (cap = ms->fcap ? ms->fcap : 256; cap < ms->flen + n + 1; cap *= 2)
			;
		if (cap > MILTER_HEADER_MAX + 1)
			cap = MILTER_HEADER_MAX + 1;
		if ((nf = realloc(ms->field, cap)) == NULL) {
			ms->cut = 1;
			return;
		}
		ms->field = nf;
		ms->fcap = cap;
	}
	memcpy(ms->field + ms->flen, p, n);
	ms->flen += n;
}

/* field_end - the current field as an SMFIC_HEADER packet (built in
 * place: "Name: value\n" -> "Name\0 value\0"). */
static void
field_end(struct milter_stream *ms)
{
	char	*colon;
	size_t	 nl, vl;

	if (ms->flen == 0)
		return;
	colon = memchr(ms->field, ':', ms->flen);
	if (colon != NULL) {
		nl = (size_t)(colon - ms->field);
		while (nl > 0 && (ms->field[nl - 1] == ' ' || ms->field[nl - 1] == '\t'))
			nl--;
		vl = ms->flen - (size_t)(colon + 1 - ms->field);
		if (vl > 0 && ms->field[ms->flen - 1] == '\n')
			vl--;
		/* A NUL in a field would end its string early: a space. */
		for (char *z = ms->field; (z = memchr(z, '\0',
		    ms->flen - (size_t)(z - ms->field))) != NULL; z++)
			*z = ' ';
		/* No name, no field to show (an empty name ends the packet). */
		if (nl > 0 && !(nl == 11 && strncasecmp(ms->field, "Return-Path", 11) == 0)) {
			memmove(ms->field + nl + 1, colon + 1, vl);
			ms->field[nl] = '\0';
			ms->field[nl + 1 + vl] = '\0';
			stream_emit(ms, SMFIC_HEADER, ms->field, nl + vl + 2);
		}
	}
	ms->flen = 0;
	ms->cut = 0;
}

/* body_add - body bytes, LF made CRLF, emitted in full chunks. */
static void
body_add(struct milter_stream *ms, const char *p, size_t n)
{
	const char *lf;
	size_t	 k;

	while (n > 0 && !ms->stopped) {
		/* Room for one byte and a CRLF, always. */
		if (ms->clen + 3 > MILTER_CHUNK_MAX) {
			stream_emit(ms, SMFIC_BODY, ms->chunk, ms->clen);
			ms->clen = 0;
		}
		k = MILTER_CHUNK_MAX - 2 - ms->clen;
		if (k > n)
			k = n;
		if ((lf = memchr(p, '\n', k)) != NULL)
			k = (size_t)(lf - p);
		memcpy(ms->chunk + ms->clen, p, k);
		ms->clen += k;
		p += k;
		n -= k;
		if (n > 0 && *p == '\n') {
			ms->chunk[ms->clen++] = '\r';
			ms->chunk[ms->clen++] = '\n';
			p++;
			n--;
		}
	}
}

/* body_begin - the header section is over: its end, then the body
 * begins with the n bytes at p (a line that was no field). */
static void
body_begin(struct milter_stream *ms, const char *p, size_t n)
{
	stream_emit(ms, SMFIC_EOH, NULL, 0);
	ms->state = MS_BODY;
	body_add(ms, p, n);
}

void
milter_stream_feed(struct milter_stream *ms, const char *p, size_t n)
{
	const char *e;
	size_t	 k;

	while (n > 0 && !ms->stopped) {
		switch (ms->state) {
		case MS_BODY:
			body_add(ms, p, n);
			return;
		case MS_BOL:
			if (*p == '\n') {
				field_end(ms);
				stream_emit(ms, SMFIC_EOH, NULL, 0);
				ms->state = MS_BODY;
				p++;
				n--;
			} else if (*p == '\r') {
				ms->state = MS_BOL_CR;
				p++;
				n--;
			} else if (*p == ' ' || *p == '\t') {
				if (ms->flen == 0) {
					body_begin(ms, "", 0);
					break;
				}
				ms->state = MS_LINE;
			} else {
				field_end(ms);
				ms->state = MS_NAME;
			}
			break;
		case MS_BOL_CR:
			if (*p == '\n') {
				/* "\r\n" stored: an empty line all the same. */
				field_end(ms);
				stream_emit(ms, SMFIC_EOH, NULL, 0);
				ms->state = MS_BODY;
				p++;
				n--;
				break;
			}
			/* A line starting with CR: no field. */
			field_end(ms);
			body_begin(ms, "\r", 1);
			break;
		case MS_NAME:
			for (k = 0; k < n && p[k] != ':' && p[k] != '\n'; k++)
				;
			if (ms->flen + k > MS_NAME_MAX || (k < n && p[k] == '\n')) {
				/* No field: the body begins with this line. */
				char	*held = ms->field;
				size_t	 hl = ms->flen;

				ms->field = NULL;
				ms->flen = ms->fcap = 0;
				body_begin(ms, held, hl);
				free(held);
				break;
			}
			field_add(ms, p, k);
			p += k;
			n -= k;
			if (n > 0) {
				field_add(ms, p, 1);	/* the colon */
				p++;
				n--;
				ms->state = MS_LINE;
			}
			break;
		case MS_LINE:
			e = memchr(p, '\n', n);
			k = e != NULL ? (size_t)(e - p) + 1 : n;
			field_add(ms, p, k);
			if (ms->cut && e != NULL && ms->flen > 0)
				ms->field[ms->flen - 1] = '\n';
			p += k;
			n -= k;
			if (e != NULL)
				ms->state = MS_BOL;
			break;
		}
	}
}

void
milter_stream_end(struct milter_stream *ms)
{
	if (ms->state == MS_NAME) {
		char	*held = ms->field;
		size_t	 hl = ms->flen;

		ms->field = NULL;
		ms->flen = ms->fcap = 0;
		body_begin(ms, held, hl);
		free(held);
	} else if (ms->state != MS_BODY) {
		field_end(ms);
		body_begin(ms, ms->state == MS_BOL_CR ? "\r" : "", ms->state == MS_BOL_CR);
	}
	if (ms->clen > 0)
		stream_emit(ms, SMFIC_BODY, ms->chunk, ms->clen);
	ms->clen = 0;
}

/* ---- one filter's connection ---------------------------------------- */

struct milter {
	const struct filter_addr *fa;
	int		 fd;		/* -1: not open */
	int		 gone;		/* failed or done with this session */
	uint32_t	 version, actions, proto;
	int		 in_msg;	/* MAIL sent, EOM not answered */
	int		 msg_done;	/* no more questions on this message */
	int		 skip_body;	/* SMFIR_SKIP to a body chunk */
};

struct milter_session {
	const struct config *cf;
	unsigned long	 sid;
	atomic_int	*stop;
	char		 addr[INET6_ADDRSTRLEN];
	char		 name[256];	/* verified client name, or "" */
	int		 family, port;
	char		 ouraddr[INET6_ADDRSTRLEN];
	char		 helo[SMTP_DOMAIN_MAX + 1];
	int		 opened;	/* the connections were made */
	int		 denied;
	struct milter_refusal deny;
	struct milter	 f[CONFIG_MILTER_MAX];
	int		 n;
	/* the message */
	char		 id[32];
	int		 in_msg;
	enum milter_verdict verdict;
	struct milter_refusal refusal;
	struct milter_stream stream;
	int		 streaming;
	char		 log[1024];
	size_t		 loglen;
	struct milter_refusal *r;	/* where the stream's refusal goes */
};

/* Outcome of one question to one filter. */
enum outcome { O_CONTINUE, O_ACCEPT, O_SKIP, O_REFUSE, O_DISCARD, O_FAIL };

/* What end of message collects from one filter. */
struct eom_edits {
	struct hdr_edit	*head, **tail;
	int		 quarantined;
};

static const char *
stage_name(int cmd)
{
	switch (cmd) {
	case SMFIC_CONNECT:	return "connect";
	case SMFIC_HELO:	return "helo";
	case SMFIC_MAIL:	return "mail";
	case SMFIC_RCPT:	return "rcpt";
	case SMFIC_DATA:	return "data";
	case SMFIC_HEADER:	return "header";
	case SMFIC_EOH:		return "eoh";
	case SMFIC_BODY:	return "body";
	case SMFIC_BODYEOB:	return "eom";
	case SMFIC_OPTNEG:	return "negotiation";
	default:		return "?";
	}
}

/* note - a decision, for the message's log line. */
static void
note(struct milter_session *m, const struct milter *f, int cmd, const char *what,
    const struct milter_refusal *r)
{
	if (r != NULL)
		buf_appendf(m->log, sizeof m->log, &m->loglen, "%s%s %s %s %d %s %s",
		    m->loglen ? "; " : "", f->fa->spec, stage_name(cmd), what, r->code,
		    r->esc, r->text);
	else
		buf_appendf(m->log, sizeof m->log, &m->loglen, "%s%s %s %s",
		    m->loglen ? "; " : "", f->fa->spec, stage_name(cmd), what);
}

/* log_decision - one log line per decision that is not "continue";
 * the filter's text is quoted. */
static void
log_decision(const struct milter_session *m, const struct milter *f, int cmd,
    const char *what, const char *text)
{
	char	*q = malloc(LOG_QUOTE_SIZE(MILTER_TEXT_MAX));

	log_info("session=%lu%s%s milter=%s stage=%s decision=%s%s%s", m->sid,
	    m->in_msg && m->id[0] ? " id=" : "", m->in_msg ? m->id : "",
	    f->fa->spec, stage_name(cmd), what, text != NULL ? " text=" : "",
	    text != NULL && q != NULL ? log_quote(q, LOG_QUOTE_SIZE(MILTER_TEXT_MAX), text) : "");
	free(q);
}

static void
set_refusal(struct milter_refusal *r, int code, const char *esc, const char *text)
{
	r->code = code;
	buf_copy(r->esc, sizeof r->esc, esc);
	buf_copy(r->text, sizeof r->text, text);
}

/* quit - SMFIC_QUIT, then shut: f is done with this session. */
static void	shut(struct milter *);
static int	send_packet(struct milter_session *, struct milter *, int,
		    const char *, size_t, const char *, size_t);
static void
quit(struct milter_session *m, struct milter *f)
{
	if (f->fd != -1)
		(void)send_packet(m, f, SMFIC_QUIT, NULL, 0, NULL, 0);
	shut(f);
}

/* shut - close f for the rest of the session. */
static void
shut(struct milter *f)
{
	if (f->fd != -1)
		close(f->fd);
	f->fd = -1;
	f->gone = 1;
	f->in_msg = 0;
}

/*
 * fail - f failed (why): closed for the session, counted and logged;
 * with milter_failure tempfail every later command gets 451 4.7.1, and
 * so does this one (the caller's O_FAIL).
 */
static void
fail(struct milter_session *m, struct milter *f, int cmd, const char *why)
{
	/* Stopping: never "going on without it" (the message would
	 * escape the filter). */
	int	tempfail = m->cf->milter_failure == MILTER_FAILURE_TEMPFAIL ||
	    (m->stop != NULL && atomic_load(m->stop) == LB_STOPPED);

	log_warnx("session=%lu%s%s milter=%s stage=%s failed: %s; %s", m->sid,
	    m->in_msg && m->id[0] ? " id=" : "", m->in_msg ? m->id : "",
	    f->fa->spec, stage_name(cmd), why,
	    tempfail ? "milter_failure tempfail" : "going on without it");
	shut(f);
	atomic_fetch_add(&milter_stats.failure, 1);
	note(m, f, cmd, "failed", NULL);
	if (tempfail && !m->denied) {
		m->denied = 1;
		set_refusal(&m->deny, 451, "4.7.1", "Service unavailable - try again later");
	}
}

/* send_packet - cmd with data a then b; 0 or -1 (errno). */
static int
send_packet(struct milter_session *m, struct milter *f, int cmd, const char *a,
    size_t alen, const char *b, size_t blen)
{
	char	hdr[5];

	put32(hdr, (uint32_t)(1 + alen + blen));
	hdr[4] = (char)cmd;
	long long deadline = filter_deadline(m->cf->milter_timeout);
	if (filter_write(f->fd, hdr, sizeof hdr, deadline) == -1 ||
	    (alen > 0 && filter_write(f->fd, a, alen, deadline) == -1) ||
	    (blen > 0 && filter_write(f->fd, b, blen, deadline) == -1))
		return -1;
	return 0;
}

/* read_packet - one reply: its command and data (malloc'd, NUL after
 * it); 0, or -1 with *why. The length is checked before anything else
 * is read. */
static int
read_packet(const struct milter_session *m, struct milter *f, long long deadline,
    int *cmd, char **data, size_t *len, const char **why)
{
	char	 hdr[4], c;
	uint32_t n;

	*data = NULL;
	if (filter_read_full(f->fd, hdr, sizeof hdr, deadline, m->stop) == -1)
		goto ioerr;
	n = get32(hdr);
	if (n < 1 || n - 1 > MILTER_PACKET_MAX) {
		*why = "reply length out of range";
		return -1;
	}
	if (filter_read_full(f->fd, &c, 1, deadline, m->stop) == -1)
		goto ioerr;
	*cmd = (unsigned char)c;
	*len = n - 1;
	if ((*data = malloc(*len + 1)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	if (*len > 0 && filter_read_full(f->fd, *data, *len, deadline, m->stop) == -1) {
		free(*data);
		*data = NULL;
		goto ioerr;
	}
	(*data)[*len] = '\0';
	return 0;
ioerr:
	*why = errno == ETIMEDOUT ? "timeout" : errno == EPIPE ?
	    "connection closed" : errno == ECANCELED ? "shutting down" :
	    "read error";
	return -1;
}

/* add_edit - one header edit onto e's list; 0 or -1 (memory). */
static int
add_edit(struct eom_edits *e, enum hdr_op op, int index, const char *name,
    const char *value)
{
	struct hdr_edit *h;
	size_t	 vsize = strlen(value) * 2 + 2;

	if ((h = calloc(1, sizeof *h)) == NULL ||
	    (h->name = strdup(name)) == NULL || (h->value = malloc(vsize)) == NULL) {
		if (h != NULL)
			free(h->name);
		free(h);
		return -1;
	}
	if (milter_clean_value(value, h->value, vsize) == -1)
		h->value[0] = '\0';
	h->op = op;
	h->index = index;
	*e->tail = h;
	e->tail = &h->next;
	return 0;
}

void
milter_edits_free(struct hdr_edit *h)
{
	struct hdr_edit *next;

	for (; h != NULL; h = next) {
		next = h->next;
		free(h->name);
		free(h->value);
		free(h);
	}
}

/* edit - a modification at end of message; 0, or -1 with *why when
 * the filter broke the protocol. */
static int
edit(struct milter_session *m, struct milter *f, const struct milter_reply *mr,
    struct eom_edits *e, const char **why)
{
	char	*q;

	switch (mr->cmd) {
	case SMFIR_ADDHEADER:
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
		if (!milter_valid_name(mr->name)) {
			*why = "bad header name";
			return -1;
		}
		if (mr->index > 100000) {
			*why = "header index out of range";
			return -1;
		}
		if (add_edit(e, mr->cmd == SMFIR_ADDHEADER ? HDR_ADD :
		    mr->cmd == SMFIR_INSHEADER ? HDR_INSERT : HDR_CHANGE,
		    mr->cmd == SMFIR_INSHEADER ? (int)mr->index :
		    mr->cmd == SMFIR_CHGHEADER ? (mr->index ? (int)mr->index : 1) : 0,
		    mr->name, mr->value) == -1) {
			*why = "out of memory";
			return -1;
		}
		return 0;
	case SMFIR_QUARANTINE:
		if (add_edit(e, HDR_INSERT, 0, "X-Quarantined", mr->value) == -1) {
			*why = "out of memory";
			return -1;
		}
		e->quarantined = 1;
		atomic_fetch_add(&milter_stats.quarantine, 1);
		log_decision(m, f, SMFIC_BODYEOB, "quarantine", mr->value);
		note(m, f, SMFIC_BODYEOB, "quarantine", NULL);
		return 0;
	case SMFIR_REPLBODY:
		*why = "replace body, which was not offered";
		return -1;
	case SMFIR_ADDRCPT: case SMFIR_DELRCPT: case SMFIR_ADDRCPT_PAR:
	case SMFIR_CHGFROM:
		/* Not offered: said, and left undone. */
		if ((q = malloc(LOG_QUOTE_SIZE(200))) != NULL) {
			char	 v[201];
			buf_copy(v, sizeof v, mr->value != NULL ? mr->value : "");
			log_info("session=%lu id=%s milter=%s ignored %s %s (not offered)",
			    m->sid, m->id, f->fa->spec,
			    mr->cmd == SMFIR_CHGFROM ? "change from" :
			    mr->cmd == SMFIR_DELRCPT ? "delete recipient" : "add recipient",
			    log_quote(q, LOG_QUOTE_SIZE(200), v));
			free(q);
		}
		note(m, f, SMFIC_BODYEOB, "ignored-envelope-change", NULL);
		return 0;
	default:
		*why = "unexpected reply";
		return -1;
	}
}

/*
 * ask - send cmd (data a and b) to f and, unless nr says the filter
 * will not answer it, read the answer: modifications only at end of
 * message (into e), progress extends the wait. A refusal goes to *r.
 */
static enum outcome
ask(struct milter_session *m, struct milter *f, int cmd, const char *a, size_t alen,
    const char *b, size_t blen, uint32_t nr, struct eom_edits *e,
    struct milter_refusal *r)
{
	struct milter_reply mr;
	long long	 deadline, limit;
	const char	*why = NULL;
	char		*data;
	size_t		 len;
	int		 rcmd;

	if (send_packet(m, f, cmd, a, alen, b, blen) == -1) {
		fail(m, f, cmd, errno == ETIMEDOUT ? "write timeout" : "write error");
		return O_FAIL;
	}
	if (f->version >= 6 && (f->proto & nr))
		return O_CONTINUE;
	deadline = filter_deadline(m->cf->milter_timeout);
	limit = filter_deadline(m->cf->milter_timeout * MILTER_PROGRESS_MAX);
	for (;;) {
		if (read_packet(m, f, deadline, &rcmd, &data, &len, &why) == -1)
			break;
		if (milter_parse_reply(rcmd, data, len, &mr, &why) == -1) {
			free(data);
			break;
		}
		switch (rcmd) {
		case SMFIR_PROGRESS:
			/* More time, within bounds: no filter holds a
			 * session forever. */
			deadline = filter_deadline(m->cf->milter_timeout);
			if (deadline > limit)
				deadline = limit;
			free(data);
			continue;
		case SMFIR_CONTINUE:
			free(data);
			return O_CONTINUE;
		case SMFIR_ACCEPT:
			free(data);
			return O_ACCEPT;
		case SMFIR_SKIP:
			free(data);
			return O_SKIP;
		case SMFIR_DISCARD:
			free(data);
			return O_DISCARD;
		case SMFIR_REJECT:
			set_refusal(r, 550, "5.7.1", cmd == SMFIC_RCPT ?
			    "Recipient rejected" : "Command rejected");
			free(data);
			return O_REFUSE;
		case SMFIR_TEMPFAIL:
			set_refusal(r, 451, "4.7.1", "Service unavailable - try again later");
			free(data);
			return O_REFUSE;
		case SMFIR_REPLYCODE:
			/* 421 would close the session: the message's 451. */
			r->code = mr.code == 421 ? 451 : mr.code;
			buf_copy(r->esc, sizeof r->esc, mr.esc[0] ? mr.esc :
			    mr.code >= 500 ? "5.7.1" : "4.7.1");
			buf_copy(r->text, sizeof r->text, mr.text[0] ? mr.text :
			    mr.code >= 500 ? "Command rejected" :
			    "Service unavailable - try again later");
			free(data);
			atomic_fetch_add(&milter_stats.replycode, 1);
			return O_REFUSE;
		case SMFIR_SETSYMLIST:
			free(data);
			continue;
		default:
			break;
		}
		if (e == NULL || cmd != SMFIC_BODYEOB) {
			why = rcmd == SMFIR_SHUTDOWN || rcmd == SMFIR_CONN_FAIL ?
			    "the filter gave up" : "a modification before end of message";
			free(data);
			break;
		}
		if (edit(m, f, &mr, e, &why) == -1) {
			free(data);
			break;
		}
		free(data);
	}
	fail(m, f, cmd, why);
	return O_FAIL;
}

/* ---- macros ------------------------------------------------------- */

/* A macro packet being built: stage byte, then name\0value\0 pairs. */
struct macros {
	char	buf[2048];
	size_t	len;
};

static void
macro(struct macros *mc, const char *name, const char *value)
{
	size_t	nl = strlen(name) + 1, vl = strlen(value) + 1;

	if (mc->len + nl + vl > sizeof mc->buf)
		return;
	memcpy(mc->buf + mc->len, name, nl);
	memcpy(mc->buf + mc->len + nl, value, vl);
	mc->len += nl + vl;
}

static void
macros_begin(struct macros *mc, int stage)
{
	mc->buf[0] = (char)stage;
	mc->len = 1;
}

/* send_macros - mc to f (no answer comes), if it holds any; 0 or -1
 * (failed). */
static int
send_macros(struct milter_session *m, struct milter *f, const struct macros *mc)
{
	if (mc->len <= 1)
		return 0;	/* none for this step */
	if (send_packet(m, f, SMFIC_MACRO, mc->buf, mc->len, NULL, 0) == -1) {
		fail(m, f, (unsigned char)mc->buf[0], "write error");
		return -1;
	}
	return 0;
}

/* ---- the session's hooks -------------------------------------------- */

struct milter_session *
milter_session_new(const struct config *cf, const struct milter_client *c)
{
	struct milter_session *m;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int	i;

	if (cf->nmilters == 0)
		return NULL;
	if ((m = calloc(1, sizeof *m)) == NULL)
		return NULL;
	m->cf = cf;
	m->sid = c->sid;
	m->stop = c->stop;
	buf_copy(m->addr, sizeof m->addr, c->addr);
	buf_copy(m->name, sizeof m->name, c->name != NULL ? c->name : "");
	m->family = c->family;
	m->port = c->port;
	if (getsockname(c->fd, (struct sockaddr *)&ss, &sl) == 0)
		sockaddr_text(&ss, m->ouraddr, sizeof m->ouraddr, NULL, 0);
	m->n = cf->nmilters;
	for (i = 0; i < m->n; i++) {
		m->f[i].fa = &cf->milters[i];
		m->f[i].fd = -1;
	}
	return m;
}

void
milter_session_free(struct milter_session *m)
{
	int	i;

	if (m == NULL)
		return;
	milter_abort(m);
	for (i = 0; i < m->n; i++)
		quit(m, &m->f[i]);
	if (m->streaming)
		milter_stream_free(&m->stream);
	free(m);
}

const struct milter_refusal *
milter_denied(const struct milter_session *m)
{
	return m != NULL && m->denied ? &m->deny : NULL;
}

/* count - a verdict in the counters and the log. */
static void
count(struct milter_session *m, struct milter *f, int cmd, enum outcome o,
    const struct milter_refusal *r)
{
	switch (o) {
	case O_ACCEPT:
		atomic_fetch_add(&milter_stats.accept, 1);
		log_decision(m, f, cmd, "accept", NULL);
		note(m, f, cmd, "accept", NULL);
		break;
	case O_DISCARD:
		atomic_fetch_add(&milter_stats.discard, 1);
		log_decision(m, f, cmd, "discard", NULL);
		note(m, f, cmd, "discard", NULL);
		break;
	case O_REFUSE:
		if (r->code >= 500)
			atomic_fetch_add(&milter_stats.reject, 1);
		else
			atomic_fetch_add(&milter_stats.tempfail, 1);
		log_decision(m, f, cmd, r->code >= 500 ? "reject" : "tempfail", r->text);
		note(m, f, cmd, r->code >= 500 ? "reject" : "tempfail", r);
		break;
	default:
		break;
	}
}

/* negotiate - connect to f and agree on version, actions and steps. */
static int
negotiate(struct milter_session *m, struct milter *f)
{
	char	 opt[12], *data;
	const char *why;
	size_t	 len;
	int	 cmd;
	long long deadline = filter_deadline(m->cf->milter_timeout);

	if ((f->fd = filter_connect(f->fa, deadline)) == -1) {
		fail(m, f, SMFIC_OPTNEG, errno == ETIMEDOUT ? "connect timeout" :
		    strerror(errno));
		return -1;
	}
	put32(opt, MILTER_VERSION);
	put32(opt + 4, MILTER_ACTIONS);
	put32(opt + 8, MILTER_PROTOCOL);
	if (send_packet(m, f, SMFIC_OPTNEG, opt, sizeof opt, NULL, 0) == -1) {
		fail(m, f, SMFIC_OPTNEG, "write error");
		return -1;
	}
	if (read_packet(m, f, deadline, &cmd, &data, &len, &why) == -1) {
		fail(m, f, SMFIC_OPTNEG, why);
		return -1;
	}
	if (cmd != SMFIC_OPTNEG) {
		free(data);
		fail(m, f, SMFIC_OPTNEG, "no option negotiation");
		return -1;
	}
	if (milter_parse_optneg(data, len, &f->version, &f->actions, &f->proto,
	    &why) == -1) {
		free(data);
		fail(m, f, SMFIC_OPTNEG, why);
		return -1;
	}
	free(data);
	/* What was not offered is not done. */
	if (f->actions & ~(uint32_t)MILTER_ACTIONS)
		log_debug("session=%lu milter=%s asks for actions 0x%x; offered 0x%x",
		    m->sid, f->fa->spec, (unsigned)f->actions, (unsigned)MILTER_ACTIONS);
	f->proto &= MILTER_PROTOCOL;
	return 0;
}

/* open_all - at the first HELO: every filter connected, told of the
 * connection. A refusal is the session's. */
static void
open_all(struct milter_session *m)
{
	struct milter_refusal r;
	struct macros	 mc;
	char		 port[8], under[SMTP_DOMAIN_MAX + INET6_ADDRSTRLEN + 4];
	char		 conn[300 + INET6_ADDRSTRLEN];
	size_t		 clen, hl;
	enum outcome	 o;
	int		 i;

	m->opened = 1;
	snprintf(port, sizeof port, "%d", m->port);
	snprintf(under, sizeof under, "%s [%s]", m->helo, m->addr);
	macros_begin(&mc, SMFIC_CONNECT);
	macro(&mc, "j", m->cf->hostname);
	macro(&mc, "{daemon_name}", "smtpd");
	macro(&mc, "{daemon_addr}", m->ouraddr);
	macro(&mc, "{if_name}", m->cf->hostname);
	macro(&mc, "{if_addr}", m->ouraddr);
	macro(&mc, "v", "smtpd " SMTPD_VERSION);
	macro(&mc, "_", under);
	macro(&mc, "{client_addr}", m->addr);
	macro(&mc, "{client_port}", port);
	macro(&mc, "{client_name}", m->name[0] ? m->name : "unknown");
	/* hostname\0, family, port (network order), address\0: the name
	 * is the address literal when none was verified (as sendmail). */
	if (m->name[0])
		clen = (size_t)snprintf(conn, sizeof conn, "%s", m->name);
	else
		clen = (size_t)snprintf(conn, sizeof conn, "[%s]", m->addr);
	clen++;
	if (m->family == AF_INET || m->family == AF_INET6) {
		conn[clen++] = m->family == AF_INET ? '4' : '6';
		conn[clen++] = (char)(m->port >> 8);
		conn[clen++] = (char)m->port;
		hl = strlen(m->addr) + 1;
		memcpy(conn + clen, m->addr, hl);
		clen += hl;
	} else
		conn[clen++] = 'U';
	for (i = 0; i < m->n && !m->denied; i++) {
		struct milter *f = &m->f[i];

		if (negotiate(m, f) == -1)
			continue;
		if (f->proto & SMFIP_NOCONNECT)
			continue;
		if (send_macros(m, f, &mc) == -1)
			continue;
		o = ask(m, f, SMFIC_CONNECT, conn, clen, NULL, 0, SMFIP_NR_CONN, NULL, &r);
		switch (o) {
		case O_ACCEPT:
			count(m, f, SMFIC_CONNECT, o, &r);
			quit(m, f);	/* nothing more to ask it */
			break;
		case O_REFUSE:
			count(m, f, SMFIC_CONNECT, o, &r);
			m->denied = 1;
			m->deny = r;
			break;
		case O_DISCARD:
			fail(m, f, SMFIC_CONNECT, "discard outside a message");
			break;
		default:
			break;
		}
	}
}

enum milter_verdict
milter_helo(struct milter_session *m, const char *helo, const char *name,
    struct milter_refusal *r)
{
	struct macros	mc;
	enum outcome	o;
	int		i;

	if (m == NULL)
		return MILTER_GO;
	buf_copy(m->helo, sizeof m->helo, helo);
	if (!m->opened && name != NULL && strcmp(name, "unknown") != 0)
		buf_copy(m->name, sizeof m->name, name);
	if (!m->opened)
		open_all(m);
	macros_begin(&mc, SMFIC_HELO);
	for (i = 0; i < m->n && !m->denied; i++) {
		struct milter *f = &m->f[i];

		if (f->fd == -1 || (f->proto & SMFIP_NOHELO))
			continue;
		if (send_macros(m, f, &mc) == -1)
			continue;
		o = ask(m, f, SMFIC_HELO, helo, strlen(helo) + 1, NULL, 0,
		    SMFIP_NR_HELO, NULL, r);
		if (o == O_ACCEPT) {
			count(m, f, SMFIC_HELO, o, r);
			quit(m, f);
		} else if (o == O_REFUSE) {
			count(m, f, SMFIC_HELO, o, r);
			return MILTER_REFUSE;
		} else if (o == O_DISCARD)
			fail(m, f, SMFIC_HELO, "discard outside a message");
	}
	if (m->denied) {
		*r = m->deny;
		return MILTER_REFUSE;
	}
	return MILTER_GO;
}

/* esmtp_args - "A=1 B=2" as "A=1\0B=2\0" into buf; its length. */
static size_t
esmtp_args(const char *args, char *buf, size_t size)
{
	size_t	o = 0;

	for (; *args != '\0' && o + 1 < size; args++) {
		if (*args == ' ') {
			if (o > 0 && buf[o - 1] != '\0')
				buf[o++] = '\0';
			continue;
		}
		buf[o++] = *args;
	}
	if (o > 0 && buf[o - 1] != '\0' && o < size)
		buf[o++] = '\0';
	return o;
}

/*
 * msg_step - one message command to every filter still asking about
 * this message; the first refusal (or discard, or a failure with
 * milter_failure tempfail) ends the round.
 */
static enum milter_verdict
msg_step(struct milter_session *m, int cmd, const struct macros *mc,
    uint32_t skipflag, uint32_t nr, const char *a, size_t alen, const char *b,
    size_t blen, struct milter_refusal *r)
{
	enum outcome	o;
	int		i;

	for (i = 0; i < m->n; i++) {
		struct milter *f = &m->f[i];

		if (f->fd == -1 || !f->in_msg || f->msg_done || (f->proto & skipflag))
			continue;
		if (mc != NULL && send_macros(m, f, mc) == -1)
			o = O_FAIL;
		else
			o = ask(m, f, cmd, a, alen, b, blen, nr, NULL, r);
		switch (o) {
		case O_ACCEPT:
			count(m, f, cmd, o, r);
			f->msg_done = 1;
			break;
		case O_SKIP:
			f->skip_body = 1;
			break;
		case O_REFUSE:
			count(m, f, cmd, o, r);
			return MILTER_REFUSE;
		case O_DISCARD:
			count(m, f, cmd, o, r);
			return MILTER_DISCARD;
		case O_FAIL:
			if (m->denied) {
				*r = m->deny;
				return MILTER_REFUSE;
			}
			break;
		default:
			break;
		}
	}
	return MILTER_GO;
}

void
milter_abort(struct milter_session *m)
{
	int	i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++)
		if (m->f[i].fd != -1 && m->f[i].in_msg &&
		    send_packet(m, &m->f[i], SMFIC_ABORT, NULL, 0, NULL, 0) == -1)
			shut(&m->f[i]);
	for (i = 0; i < m->n; i++)
		m->f[i].in_msg = m->f[i].msg_done = m->f[i].skip_body = 0;
	if (m->streaming)
		milter_stream_free(&m->stream);
	m->streaming = 0;
	m->in_msg = 0;
}

enum milter_verdict
milter_mail(struct milter_session *m, const char *id, const char *from,
    const char *args, struct milter_refusal *r)
{
	struct macros	mc;
	char		path[SMTP_PATH_MAX + 3], a[SMTP_PARAMLINE_MAX];
	size_t		alen;
	enum milter_verdict v;
	int		i;

	if (m == NULL)
		return MILTER_GO;
	milter_abort(m);
	if (m->denied) {
		*r = m->deny;
		return MILTER_REFUSE;
	}
	buf_copy(m->id, sizeof m->id, id);
	m->in_msg = 1;
	m->verdict = MILTER_GO;
	m->log[0] = '\0';
	m->loglen = 0;
	for (i = 0; i < m->n; i++)
		m->f[i].in_msg = m->f[i].fd != -1;
	snprintf(path, sizeof path, "<%s>", from);
	alen = esmtp_args(args, a, sizeof a);
	macros_begin(&mc, SMFIC_MAIL);
	macro(&mc, "i", id);
	macro(&mc, "{mail_addr}", from);
	macro(&mc, "{auth_type}", "");
	v = msg_step(m, SMFIC_MAIL, &mc, SMFIP_NOMAIL, SMFIP_NR_MAIL, path,
	    strlen(path) + 1, a, alen, r);
	if (v != MILTER_GO)
		m->verdict = v;
	/* A discard is answered at the end of the message. */
	return v == MILTER_DISCARD ? MILTER_GO : v;
}

enum milter_verdict
milter_rcpt(struct milter_session *m, const char *rcpt, const char *args,
    struct milter_refusal *r)
{
	struct macros	mc;
	char		path[SMTP_PATH_MAX + 3], a[SMTP_PARAMLINE_MAX];
	size_t		alen;
	enum milter_verdict v;

	if (m == NULL || !m->in_msg)
		return MILTER_GO;
	if (m->verdict == MILTER_DISCARD)
		return MILTER_GO;	/* the whole message goes */
	snprintf(path, sizeof path, "<%s>", rcpt);
	alen = esmtp_args(args, a, sizeof a);
	macros_begin(&mc, SMFIC_RCPT);
	macro(&mc, "i", m->id);
	macro(&mc, "{rcpt_addr}", rcpt);
	macro(&mc, "{rcpt_mailer}", "local");
	v = msg_step(m, SMFIC_RCPT, &mc, SMFIP_NORCPT, SMFIP_NR_RCPT, path,
	    strlen(path) + 1, a, alen, r);
	if (v == MILTER_DISCARD)
		m->verdict = v;		/* one recipient's: the message's */
	return v == MILTER_DISCARD ? MILTER_GO : v;
}

/* stream_to_filters - the stream's packets to every filter that wants
 * them; -1 stops the stream once the message is refused. */
static int
stream_to_filters(void *arg, int cmd, const char *data, size_t len)
{
	struct milter_session *m = arg;
	struct macros	 mc;
	const char	*v;
	size_t		 nl;
	uint32_t	 skip, nr;
	enum outcome	 o;
	int		 i;

	if (m->verdict != MILTER_GO)
		return -1;
	skip = cmd == SMFIC_HEADER ? SMFIP_NOHDRS : cmd == SMFIC_EOH ? SMFIP_NOEOH :
	    SMFIP_NOBODY;
	nr = cmd == SMFIC_HEADER ? SMFIP_NR_HDR : cmd == SMFIC_EOH ? SMFIP_NR_EOH :
	    SMFIP_NR_BODY;
	macros_begin(&mc, cmd);
	macro(&mc, "i", m->id);
	for (i = 0; i < m->n; i++) {
		struct milter *f = &m->f[i];

		if (f->fd == -1 || !f->in_msg || f->msg_done || (f->proto & skip) ||
		    (cmd == SMFIC_BODY && f->skip_body))
			continue;
		if (cmd == SMFIC_EOH && send_macros(m, f, &mc) == -1)
			o = O_FAIL;
		else if (cmd == SMFIC_HEADER && !(f->proto & SMFIP_HDR_LEADSPC)) {
			/* The value without the white space after the colon. */
			nl = strlen(data) + 1;
			for (v = data + nl; *v == ' ' || *v == '\t'; v++)
				;
			o = ask(m, f, cmd, data, nl, v, len - (size_t)(v - data), nr,
			    NULL, m->r);
		} else
			o = ask(m, f, cmd, data, len, NULL, 0, nr, NULL, m->r);
		switch (o) {
		case O_ACCEPT:
			count(m, f, cmd, o, m->r);
			f->msg_done = 1;
			break;
		case O_SKIP:
			f->skip_body = 1;
			break;
		case O_REFUSE:
		case O_DISCARD:
			count(m, f, cmd, o, m->r);
			m->verdict = o == O_REFUSE ? MILTER_REFUSE : MILTER_DISCARD;
			m->refusal = *m->r;
			return -1;
		case O_FAIL:
			if (m->denied) {
				m->verdict = MILTER_REFUSE;
				m->refusal = m->deny;
				return -1;
			}
			break;
		default:
			break;
		}
	}
	return 0;
}

enum milter_verdict
milter_data(struct milter_session *m, struct milter_refusal *r)
{
	struct macros	mc;
	enum milter_verdict v;

	if (m == NULL || !m->in_msg)
		return MILTER_GO;
	if (m->verdict != MILTER_GO)
		return MILTER_GO;	/* a discard: answered at the end */
	macros_begin(&mc, SMFIC_DATA);
	macro(&mc, "i", m->id);
	v = msg_step(m, SMFIC_DATA, &mc, SMFIP_NODATA, SMFIP_NR_DATA, NULL, 0, NULL,
	    0, r);
	if (v != MILTER_GO) {
		/* Kept for the end of a BDAT message. */
		m->verdict = v;
		m->refusal = *r;
		return v == MILTER_DISCARD ? MILTER_GO : v;
	}
	m->r = &m->refusal;
	if (milter_stream_init(&m->stream, stream_to_filters, m) == -1) {
		milter_stream_free(&m->stream);
		set_refusal(r, 451, "4.3.0", "Local error in processing, try again later");
		return MILTER_REFUSE;
	}
	m->streaming = 1;
	return MILTER_GO;
}

void
milter_body(struct milter_session *m, const char *p, size_t n)
{
	if (m != NULL && m->streaming && m->verdict == MILTER_GO)
		milter_stream_feed(&m->stream, p, n);
}

enum milter_verdict
milter_eom(struct milter_session *m, struct hdr_edit **edits,
    struct milter_refusal *r)
{
	struct eom_edits all = { NULL, &all.head, 0 };
	struct macros	 mc;
	enum outcome	 o;
	int		 i;

	*edits = NULL;
	if (m == NULL || !m->in_msg)
		return MILTER_GO;
	if (m->streaming && m->verdict == MILTER_GO)
		milter_stream_end(&m->stream);
	if (m->verdict == MILTER_REFUSE) {
		*r = m->refusal;
		return MILTER_REFUSE;
	}
	if (m->verdict == MILTER_DISCARD)
		return MILTER_DISCARD;
	macros_begin(&mc, SMFIC_BODYEOB);
	macro(&mc, "i", m->id);
	for (i = 0; i < m->n; i++) {
		struct milter *f = &m->f[i];
		struct eom_edits e = { NULL, &e.head, 0 };

		if (f->fd == -1 || !f->in_msg || f->msg_done)
			continue;
		if (send_macros(m, f, &mc) == -1)
			o = O_FAIL;
		else
			o = ask(m, f, SMFIC_BODYEOB, NULL, 0, NULL, 0, 0, &e, r);
		f->in_msg = 0;		/* the filter's message is over */
		if (o == O_CONTINUE || o == O_ACCEPT || o == O_SKIP) {
			if (o == O_ACCEPT)
				count(m, f, SMFIC_BODYEOB, o, r);
			else {
				atomic_fetch_add(&milter_stats.cont, 1);
				if (e.head != NULL)
					note(m, f, SMFIC_BODYEOB, "continue+edits", NULL);
			}
			*all.tail = e.head;
			if (e.head != NULL)
				all.tail = e.tail;
			continue;
		}
		milter_edits_free(e.head);
		if (o == O_FAIL && !m->denied)
			continue;
		milter_edits_free(all.head);
		if (o == O_FAIL) {
			*r = m->deny;
			return MILTER_REFUSE;
		}
		count(m, f, SMFIC_BODYEOB, o, r);
		return o == O_DISCARD ? MILTER_DISCARD : MILTER_REFUSE;
	}
	*edits = all.head;
	return MILTER_GO;
}

const char *
milter_log(const struct milter_session *m)
{
	return m != NULL ? m->log : "";
}
