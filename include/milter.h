/*
 * milter.h - the milter protocol (libmilter's, version 6, as sendmail
 * and Postfix speak it): smtpd asks each configured filter about the
 * connection, HELO, MAIL, RCPT, the header fields and the body, and
 * applies its verdict and its header edits at end of data.
 *
 * A session holds one struct milter_session (NULL without milter lines:
 * then nothing is opened and every hook is skipped). The first HELO or
 * EHLO opens the connections (negotiation, macros, connect, helo); a
 * refusal there answers that command and every later one but QUIT,
 * NOOP and RSET. Per message: MAIL, RCPT, DATA, the header fields and
 * the body as they arrive (milter_stream), end of message. A hook
 * returns MILTER_GO, or MILTER_REFUSE with the reply in *r, or (from
 * MAIL on) MILTER_DISCARD: the message is answered 250 and not stored.
 *
 * The packet and reply parsers below are pure (tests/unit/test_milter.c,
 * tests/fuzz/fuzz_milter.c).
 */
#ifndef MILTER_H
#define MILTER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "delivery.h"

/* Commands, smtpd to filter. */
#define SMFIC_ABORT	'A'
#define SMFIC_BODY	'B'
#define SMFIC_CONNECT	'C'
#define SMFIC_MACRO	'D'
#define SMFIC_BODYEOB	'E'
#define SMFIC_HELO	'H'
#define SMFIC_HEADER	'L'
#define SMFIC_MAIL	'M'
#define SMFIC_EOH	'N'
#define SMFIC_OPTNEG	'O'
#define SMFIC_QUIT	'Q'
#define SMFIC_RCPT	'R'
#define SMFIC_DATA	'T'

/* Replies, filter to smtpd. */
#define SMFIR_ADDRCPT	'+'
#define SMFIR_DELRCPT	'-'
#define SMFIR_ADDRCPT_PAR '2'
#define SMFIR_SHUTDOWN	'4'
#define SMFIR_ACCEPT	'a'
#define SMFIR_REPLBODY	'b'
#define SMFIR_CONTINUE	'c'
#define SMFIR_DISCARD	'd'
#define SMFIR_CHGFROM	'e'
#define SMFIR_CONN_FAIL	'f'
#define SMFIR_ADDHEADER	'h'
#define SMFIR_INSHEADER	'i'
#define SMFIR_SETSYMLIST 'l'
#define SMFIR_CHGHEADER	'm'
#define SMFIR_PROGRESS	'p'
#define SMFIR_QUARANTINE 'q'
#define SMFIR_REJECT	'r'
#define SMFIR_SKIP	's'
#define SMFIR_TEMPFAIL	't'
#define SMFIR_REPLYCODE	'y'

/* Actions (SMFIF_*): what a filter may do at end of message. */
#define SMFIF_ADDHDRS	0x001
#define SMFIF_CHGBODY	0x002
#define SMFIF_ADDRCPT	0x004
#define SMFIF_DELRCPT	0x008
#define SMFIF_CHGHDRS	0x010
#define SMFIF_QUARANTINE 0x020
#define SMFIF_CHGFROM	0x040
#define SMFIF_ADDRCPT_PAR 0x080
#define SMFIF_SETSYMLIST 0x100
/* What smtpd offers: header edits and quarantine, never the body, the
 * sender or the recipients. */
#define MILTER_ACTIONS	(SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | \
			 SMFIF_SETSYMLIST)

/* Protocol flags (SMFIP_*): steps a filter does not want, replies it
 * will not send. */
#define SMFIP_NOCONNECT	0x00000001
#define SMFIP_NOHELO	0x00000002
#define SMFIP_NOMAIL	0x00000004
#define SMFIP_NORCPT	0x00000008
#define SMFIP_NOBODY	0x00000010
#define SMFIP_NOHDRS	0x00000020
#define SMFIP_NOEOH	0x00000040
#define SMFIP_NR_HDR	0x00000080
#define SMFIP_NOUNKNOWN	0x00000100
#define SMFIP_NODATA	0x00000200
#define SMFIP_SKIP	0x00000400
#define SMFIP_RCPT_REJ	0x00000800
#define SMFIP_NR_CONN	0x00001000
#define SMFIP_NR_HELO	0x00002000
#define SMFIP_NR_MAIL	0x00004000
#define SMFIP_NR_RCPT	0x00008000
#define SMFIP_NR_DATA	0x00010000
#define SMFIP_NR_UNKN	0x00020000
#define SMFIP_NR_EOH	0x00040000
#define SMFIP_NR_BODY	0x00080000
#define SMFIP_HDR_LEADSPC 0x00100000
/* Offered: all of the above but RCPT_REJ (refused recipients are never
 * shown) and the bigger packet sizes. */
#define MILTER_PROTOCOL	0x001ff7ff

#define MILTER_VERSION		6
#define MILTER_CHUNK_MAX	65535	/* a body packet's data */
#define MILTER_PACKET_MAX	65536	/* a reply's data, at most */
#define MILTER_HEADER_MAX	65000	/* a header field sent (cut beyond) */
#define MILTER_TEXT_MAX		400	/* a reply text from a filter */
#define MILTER_PROGRESS_MAX	10	/* "progress" extends one wait to at
					 * most this many milter_timeouts */

/* Outcome counters, for the status line and metrics: one count per
 * filter per decision (a refusal with the filter's own reply counts as
 * replycode and, by its class, as reject or tempfail). */
struct milter_stats {
	atomic_ulong	accept;		/* "accept": no more questions */
	atomic_ulong	cont;		/* "continue" at end of message */
	atomic_ulong	reject;		/* 5xx, at any step */
	atomic_ulong	tempfail;	/* 4xx, at any step */
	atomic_ulong	discard;	/* accepted, not stored */
	atomic_ulong	replycode;	/* the filter's own reply */
	atomic_ulong	quarantine;	/* stored with X-Quarantined: */
	atomic_ulong	failure;	/* no answer, timeout, protocol error */
};
extern struct milter_stats milter_stats;

/* ---- pure parsing ---- */

/* A filter's reply packet, classified. Pointers into the packet. */
struct milter_reply {
	int		 cmd;		/* SMFIR_* */
	/* SMFIR_REPLYCODE: validated */
	int		 code;		/* 400..599 */
	char		 esc[16];	/* "5.7.1", or "" */
	char		 text[MILTER_TEXT_MAX + 1];	/* printable ASCII */
	/* header edits, SMFIR_QUARANTINE's reason */
	uint32_t	 index;
	const char	*name;
	const char	*value;
};

/*
 * milter_parse_reply - the data (len octets, after the command byte) of
 * a reply with command cmd into *r; 0, or -1 with a short reason in
 * *why (unknown command, a string not NUL-terminated, a bad reply code).
 */
int	milter_parse_reply(int cmd, const char *data, size_t len,
	    struct milter_reply *r, const char **why);
/*
 * milter_parse_optneg - a filter's SMFIC_OPTNEG answer: version 2..6,
 * its actions and protocol flags (any symbol lists after them are
 * ignored). 0 or -1 (*why).
 */
int	milter_parse_optneg(const char *data, size_t len, uint32_t *version,
	    uint32_t *actions, uint32_t *protocol, const char **why);
/* milter_valid_name - 1 if name can be a header field name (RFC 5322
 * 2.2: printable ASCII but ':', 1..100 octets). */
int	milter_valid_name(const char *name);
/*
 * milter_clean_value - a header value from a filter as it will be
 * stored: CR dropped, a LF not followed by a space or tab gets a tab
 * (it stays one field), trailing line ends dropped, control bytes but
 * tab become spaces. dst holds size octets; 0, or -1 when it does not
 * fit.
 */
int	milter_clean_value(const char *src, char *dst, size_t size);

/*
 * The header section and body of a message as the filters get them:
 * fed the stored form (LF line ends, as data.c decodes it), it emits
 * SMFIC_HEADER packets (name, value with LF between folded lines; the
 * value's leading white space only with leadspc), one SMFIC_EOH, then
 * SMFIC_BODY chunks of at most MILTER_CHUNK_MAX octets with CRLF line
 * ends. Return-Path: fields are not shown (delivery.c drops them).
 * emit returns 0, or -1 to stop the stream (nothing more is emitted).
 */
struct milter_stream {
	int	(*emit)(void *arg, int cmd, const char *data, size_t len);
	void	*arg;
	int	 state;		/* MS_* in milter.c */
	int	 stopped;
	int	 cut;		/* the current field was cut */
	char	*field;		/* the current field, "Name: value..." */
	size_t	 flen, fcap;
	char	*chunk;		/* body bytes not yet emitted */
	size_t	 clen;
	int	 body_cr;	/* the body's last byte was a CR */
};
/* milter_stream_init - 0, or -1 when memory is short. */
int	milter_stream_init(struct milter_stream *ms,
	    int (*emit)(void *, int, const char *, size_t), void *arg);
void	milter_stream_feed(struct milter_stream *ms, const char *p, size_t n);
/* milter_stream_end - emit what is held (and SMFIC_EOH if the body
 * never began). */
void	milter_stream_end(struct milter_stream *ms);
void	milter_stream_free(struct milter_stream *ms);

/* ---- the session's hooks ---- */

struct milter_session;

/* What the filters are told of the client. */
struct milter_client {
	const char	*addr;		/* "192.0.2.1", "" if not IP */
	int		 family;	/* AF_INET, AF_INET6, else unknown */
	int		 port;
	const char	*name;		/* verified name, or NULL */
	int		 fd;		/* the client socket (our address) */
	unsigned long	 sid;		/* session number, for the log */
	atomic_int	*stop;		/* the session's stop word (linebuf.h),
					 * or NULL: a wait for a filter ends
					 * (a failure) once it is set */
};

/* The verdict a hook returns. */
enum milter_verdict { MILTER_GO, MILTER_REFUSE, MILTER_DISCARD };
struct milter_refusal {
	int	 code;
	char	 esc[16];
	char	 text[MILTER_TEXT_MAX + 1];
};

/* milter_session_new - NULL when cf has no milter line, or when memory
 * is short (the session must not go on unfiltered then). */
struct milter_session *milter_session_new(const struct config *cf,
	    const struct milter_client *c);
/* milter_session_free - SMFIC_QUIT to each open filter, close, free. */
void	milter_session_free(struct milter_session *m);
/* milter_denied - the refusal that answers every command after a
 * connect/HELO refusal (or a failure with milter_failure tempfail), or
 * NULL. */
const struct milter_refusal *milter_denied(const struct milter_session *m);

/* milter_helo - connect on first use, then HELO; name is the client's
 * verified name (NULL or "unknown": none). */
enum milter_verdict milter_helo(struct milter_session *m, const char *helo,
	    const char *name, struct milter_refusal *r);
/* milter_mail - a new message (SMFIC_ABORT first if one was open); id
 * is the message id (macro i), args MAIL's ESMTP parameters as sent. */
enum milter_verdict milter_mail(struct milter_session *m, const char *id,
	    const char *from, const char *args, struct milter_refusal *r);
enum milter_verdict milter_rcpt(struct milter_session *m, const char *rcpt,
	    const char *args, struct milter_refusal *r);
/* milter_data - SMFIC_DATA, and the stream made ready for the body. */
enum milter_verdict milter_data(struct milter_session *m,
	    struct milter_refusal *r);
/* milter_body - decoded message bytes (LF line ends) as they arrive. */
void	milter_body(struct milter_session *m, const char *p, size_t n);
/*
 * milter_eom - end of message: the verdict, and in *edits the header
 * edits of every filter in order (the caller frees them with
 * milter_edits_free). A quarantine adds an X-Quarantined: field.
 */
enum milter_verdict milter_eom(struct milter_session *m,
	    struct hdr_edit **edits, struct milter_refusal *r);
void	milter_edits_free(struct hdr_edit *edits);
/* milter_abort - the message is over (RSET, refused, failed, done):
 * SMFIC_ABORT to the filters that saw it, if it did not end at EOM. */
void	milter_abort(struct milter_session *m);
/* milter_log - the filters' decisions on this message for its log
 * line ("" if none); valid until the next milter_mail. */
const char *milter_log(const struct milter_session *m);

#endif
