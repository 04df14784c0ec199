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

void
reply_vadd(struct reply_out *out, int code, int more, const char *esc,
    char *text, size_t tsize, const char *fmt, va_list ap)
{
	char	line[SMTP_REPLY_MAX];
	int	n, m, start;

	n = snprintf(line, sizeof line, "%03d%c", code, more ? '-' : ' ');
	if (esc != NULL)
		n += snprintf(line + n, sizeof line - (size_t)n, "%s ", esc);
	start = n;
	m = vsnprintf(line + n, sizeof line - (size_t)n - 2, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof line - 3)
		n = (int)sizeof line - 3;
	line[n] = '\0';
	if (text != NULL)
		snprintf(text, tsize, "%s", line + start);
	line[n++] = '\r';
	line[n++] = '\n';
	if (out->len + (size_t)n > sizeof out->buf)
		reply_flush(out);
	memcpy(out->buf + out->len, line, (size_t)n);
	out->len += (size_t)n;
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
