/*
 * reply.c - what the client reads.
 * Owns: the reply buffer, the reply line format (RFC 5321 4.2, with the
 * enhanced status code of RFC 3463), its length limit (4.5.3.1.5), and
 * flushing once per batch of pipelined commands (RFC 2920).
 * Not here: which reply a command gets, counting errors and logging
 * refusals (session.c).
 * Threads: one reply_out per session; nothing shared.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "reply.h"

void
reply_init(struct reply_out *out, int fd)
{
	out->fd = fd;
	out->dead = 0;
	out->len = 0;
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
