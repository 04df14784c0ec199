/*
 * reply.h - the replies a session sends: formatting and flushing.
 */
#ifndef REPLY_H
#define REPLY_H

#include <stdarg.h>
#include <stddef.h>
#include "smtpd.h"

/* The replies queued for one flush (RFC 2920: one send per batch). */
struct reply_out {
	int	 fd;
	int	 dead;		/* a send failed: the client is gone */
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
/* reply_set - fill r (printf-style text). */
void	reply_set(struct smtp_reply *r, int code, const char *esc,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
