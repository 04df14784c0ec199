/*
 * reply.c - what the client reads.
 * Owns: the reply buffer, the reply line format (RFC 5321 4.2, with the
 * enhanced status code of RFC 3463), its length limit (4.5.3.1.5), and
 * flushing once per batch of pipelined commands (RFC 2920), and the
 * count of refusals by reason and class (reply_stats, for metrics.c).
 * Not here: which reply a command gets, counting errors and logging
 * refusals (session.c).
 * Threads: one reply_out per session; reply_stats is shared, atomics.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "reply.h"

struct reply_stats reply_stats;

const char *const reply_reason_names[REPLY_REASON_COUNT] = {
	[REPLY_REASON_NONE] = NULL,
	[REPLY_REASON_DNSBL] = "dnsbl",
	[REPLY_REASON_CONNECTION_RATE] = "connection_rate",
	[REPLY_REASON_MESSAGE_RATE] = "message_rate",
	[REPLY_REASON_MAX_CLIENTS] = "max_clients",
	[REPLY_REASON_MAX_CLIENTS_PER_IP] = "max_clients_per_ip",
	[REPLY_REASON_POLICY_SERVICE] = "policy_service",
	[REPLY_REASON_MILTER] = "milter",
	[REPLY_REASON_ADDRESSING] = "addressing",
	[REPLY_REASON_MAILBOX] = "mailbox",
	[REPLY_REASON_MAIL_SYSTEM] = "mail_system",
	[REPLY_REASON_NETWORK] = "network",
	[REPLY_REASON_PROTOCOL] = "protocol",
	[REPLY_REASON_CONTENT] = "content",
	[REPLY_REASON_SECURITY_POLICY] = "security_policy",
	[REPLY_REASON_OTHER] = "other",
};

void
reply_count(int code, const char *esc, enum reply_reason why)
{
	if (code < 400 || code > 599)
		return;
	/* "X.S.D": the subject S (RFC 3463 section 3), 1 to 7. */
	if (why <= REPLY_REASON_NONE || why >= REPLY_REASON_COUNT) {
		why = REPLY_REASON_OTHER;
		if (esc != NULL && esc[0] != '\0' && esc[1] == '.' &&
		    esc[2] >= '1' && esc[2] <= '7' && esc[3] == '.')
			why = REPLY_REASON_ADDRESSING + (esc[2] - '1');
	}
	atomic_fetch_add_explicit(&reply_stats.refused[why][code >= 500],
	    1, memory_order_relaxed);
}

void
reply_init(struct reply_out *out, int fd)
{
	out->fd = fd;
	out->dead = 0;
	out->len = 0;
	out->reason = REPLY_REASON_NONE;
}

int
reply_flush(struct reply_out *out)
{
	size_t	off = 0;
	ssize_t	n;

	while (off < out->len && !out->dead) {
		n = send(out->fd, out->buf + off, out->len - off, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			out->dead = 1;	/* also SO_SNDTIMEO: a client not reading */
			break;
		}
		off += (size_t)n;
	}
	out->len = 0;
	return out->dead ? -1 : 0;
}

const char *
reply_vadd(struct reply_out *out, int code, int more, const char *esc,
    size_t *tlen, const char *fmt, va_list ap)
{
	char	*line;
	int	 n, m, start;

	/* In place, without a copy on the stack: a session's thread keeps
	 * every stack page it ever touched. */
	if (sizeof out->buf - out->len < SMTP_REPLY_MAX)
		reply_flush(out);
	line = out->buf + out->len;
	n = snprintf(line, SMTP_REPLY_MAX, "%03d%c", code, more ? '-' : ' ');
	if (esc != NULL)
		n += snprintf(line + n, SMTP_REPLY_MAX - (size_t)n, "%s ", esc);
	start = n;
	m = vsnprintf(line + n, SMTP_REPLY_MAX - (size_t)n - 2, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > SMTP_REPLY_MAX - 3)
		n = SMTP_REPLY_MAX - 3;
	*tlen = (size_t)(n - start);
	if (!more) {
		reply_count(code, esc, out->reason);
		out->reason = REPLY_REASON_NONE;
	}
	line[n++] = '\r';
	line[n++] = '\n';
	out->len += (size_t)n;
	return line + start;
}

void
reply_set(struct smtp_reply *r, int code, const char *esc, const char *fmt, ...)
{
	va_list	ap;

	r->code = code;
	r->esc = esc;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof r->text, fmt, ap);
	va_end(ap);
}
