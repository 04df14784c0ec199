/*
 * reply.h - the replies a session sends: formatting and flushing.
 */
#ifndef REPLY_H
#define REPLY_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include "smtpd.h"

/*
 * Why a 4xx/5xx reply refuses: the reason label of the metrics'
 * refusal counts. The screening and the filters name theirs (set
 * reply_out.reason before the reply); any other reply is known by the
 * subject of its enhanced status code (RFC 3463 section 3).
 */
enum reply_reason {
	REPLY_REASON_NONE,		/* by the enhanced status code */
	REPLY_REASON_DNSBL,
	REPLY_REASON_CONNECTION_RATE,
	REPLY_REASON_MESSAGE_RATE,
	REPLY_REASON_MAX_CLIENTS,
	REPLY_REASON_MAX_CLIENTS_PER_IP,
	REPLY_REASON_POLICY_SERVICE,	/* a policy server's answer */
	REPLY_REASON_MILTER,		/* a milter's answer */
	/* The subjects of RFC 3463: X.1 to X.7, then none. */
	REPLY_REASON_ADDRESSING,
	REPLY_REASON_MAILBOX,
	REPLY_REASON_MAIL_SYSTEM,
	REPLY_REASON_NETWORK,
	REPLY_REASON_PROTOCOL,
	REPLY_REASON_CONTENT,
	REPLY_REASON_SECURITY_POLICY,
	REPLY_REASON_OTHER,
	REPLY_REASON_COUNT
};

/* Refusals sent since start: [reason][0] 4xx, [reason][1] 5xx (never
 * REPLY_REASON_NONE). Written by every session, read by metrics.c. */
struct reply_stats {
	atomic_ulong	refused[REPLY_REASON_COUNT][2];
};
extern struct reply_stats reply_stats;
/* The label of each reason ("dnsbl", ...; NULL for REPLY_REASON_NONE). */
extern const char *const reply_reason_names[REPLY_REASON_COUNT];

/* The replies queued for one flush (RFC 2920: one send per batch). */
struct reply_out {
	int	 fd;
	int	 dead;		/* a send failed: the client is gone */
	enum reply_reason reason;	/* of the next final reply line,
					 * then back to NONE */
	size_t	 len;
	char	 buf[SESSION_OUTBUF_SIZE];
};

/*
 * A reply decided before it is sent: by a parser (esmtp.c), a policy
 * (recipient.c) or the session itself. code 0 = no reply yet.
 */
struct smtp_reply {
	int		 code;
	const char	*esc;		/* enhanced status code or NULL */
	char		 text[160];
};

void	reply_init(struct reply_out *out, int fd);
/*
 * reply_vadd - queue "CODE[-| ]ESC TEXT\r\n" (more = 1 for a "250-" line
 * of a multi-line reply), formatted in place in the buffer (flushed
 * first when a whole line might not fit). The line is cut to
 * SMTP_REPLY_MAX octets. Returns its text (without code, enhanced code
 * and CRLF; *tlen octets, not NUL-terminated), valid until the next
 * reply_vadd or reply_flush.
 */
const char *reply_vadd(struct reply_out *out, int code, int more, const char *esc,
	    size_t *tlen, const char *fmt, va_list ap);
/* reply_flush - send what is queued; -1 once the client is gone. */
int	reply_flush(struct reply_out *out);
/*
 * reply_count - count a refusal sent outside reply_vadd (the
 * listener's 421): nothing for a code below 400. REPLY_REASON_NONE
 * means by esc (may be NULL).
 */
void	reply_count(int code, const char *esc, enum reply_reason why);
/* reply_set - fill r (printf-style text). */
void	reply_set(struct smtp_reply *r, int code, const char *esc,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
