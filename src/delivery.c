/*
 * delivery.c - one message's copies, one per recipient, all or none.
 * Owns: each copy's trace headers (Return-Path:, Delivered-To:,
 * Received:) and where they end (header edits start there: hdredit.c),
 * the client's Return-Path: fields dropped and Delivered-To:
 * loops found in its header section, the body write buffer and the sink
 * that drops a body after a failure, writing every copy, the commit
 * order that
 * makes a 250 safe (every file synced before any link into new/, every
 * name in new/ synced before the reply) and the rollback that leaves no
 * copy in any new/ when one of them fails.
 * Not here: names and directories (maildir.c), the protocol (session.c).
 * Threads: one delivery per session; nothing shared.
 *
 * XXX a copy already linked into new/ when a later one fails is removed
 * again; a mail reader fast enough to move it to cur/ in that window
 * keeps it, and the client's retry then delivers it twice. Duplicates
 * are the safe side of that race: nothing accepted is lost.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "delivery.h"
#include "hdredit.h"

int
delivery_begin(struct delivery *d, int n, int do_fsync)
{
	d->files = NULL;
	d->nfiles = d->cap = d->err = 0;
	d->err_copy = -1;
	d->buf = NULL;
	d->len = 0;
	d->do_fsync = do_fsync;
	d->in_headers = 1;
	d->dropping = d->loop = 0;
	d->line = 0;
	d->files = calloc((size_t)(n > 0 ? n : 1), sizeof *d->files);
	d->dto = calloc((size_t)(n > 0 ? n : 1), sizeof *d->dto);
	d->trace = calloc((size_t)(n > 0 ? n : 1), sizeof *d->trace);
	d->buf = malloc(DELIVERY_BUF_SIZE);
	if (d->files == NULL || d->dto == NULL || d->trace == NULL || d->buf == NULL) {
		free(d->files);
		free(d->dto);
		free(d->trace);
		free(d->buf);
		d->files = NULL;
		d->dto = NULL;
		d->trace = NULL;
		d->buf = NULL;
		d->err = ENOMEM;
		return -1;
	}
	d->cap = n;
	return 0;
}

/* write_all - write len bytes or fail with errno. */
static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
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

void
delivery_add(struct delivery *d, const char *root, const char *tmpl,
    const struct delivery_copy *c, const struct delivery_trace *t)
{
	struct maildir_file *f;
	/* On the heap: a thread's stack pages stay with it while it idles. */
	struct {
		char	path[2048], hdr[8192], date[64];
	}		*b;
	const char	*why;
	size_t		 hlen;
	int		 n;

	if (d->err || d->nfiles >= d->cap)
		return;
	if ((b = malloc(sizeof *b)) == NULL) {
		d->err = ENOMEM;
		return;
	}
	if (maildir_expand(tmpl, c->box, c->domain, b->path, sizeof b->path, &why) == -1) {
		d->err = ENAMETOOLONG;
		goto out;
	}
	rfc5322_date(b->date, sizeof b->date);
	/* RFC 5321 4.4: Return-Path, then our Received: line; between
	 * them, as Postfix's local delivery writes it, Delivered-To. A
	 * policy server's PREPENDs go above our Received:, as Postfix's
	 * smtpd writes them. */
	n = snprintf(b->hdr, sizeof b->hdr,
	    "Return-Path: <%s>\n"
	    "Delivered-To: %s\n"
	    "%s"
	    "Received: from %s (%s)\n"
	    "\tby %s (smtpd) with %s id %s\n"
	    "\tfor <%s>; %s\n",
	    t->from, c->mailbox, t->prepend != NULL ? t->prepend : "",
	    t->helo, t->client, t->host, t->proto, t->id, c->rcpt, b->date);
	if (n < 0 || (size_t)n >= sizeof b->hdr) {
		d->err = ENAMETOOLONG;
		goto out;
	}
	hlen = (size_t)n;
	f = &d->files[d->nfiles];
	if (maildir_open(root, b->path, c->folder, f) == -1) {
		d->err = errno ? errno : EIO;
		d->err_copy = d->nfiles;
		goto out;
	}
	d->dto[d->nfiles] = c->mailbox;
	d->trace[d->nfiles] = hlen;
	d->nfiles++;
	/* A single copy's header waits in the body buffer: one write()
	 * then carries it and the body's start. */
	if (d->cap == 1 && d->len == 0 && hlen <= DELIVERY_BUF_SIZE) {
		memcpy(d->buf, b->hdr, hlen);
		d->len = d->line = hlen;
	} else if (write_all(f->fd, b->hdr, hlen) == -1) {
		d->err = errno;
		d->err_copy = d->nfiles - 1;
	}
out:
	free(b);
}

/* flush - write the buffered body to every copy. */
static void
flush(struct delivery *d)
{
	int	i;

	for (i = 0; i < d->nfiles && !d->err; i++)
		if (write_all(d->files[i].fd, d->buf, d->len) == -1) {
			d->err = errno;
			d->err_copy = i;
		}
	d->len = 0;
	/* Headers longer than the buffer: the rest pass as they are. */
	d->in_headers = 0;
	d->line = 0;
}

void
delivery_write(struct delivery *d, const char *p, size_t len)
{
	size_t	n;

	while (len > 0 && !d->err) {
		n = DELIVERY_BUF_SIZE - d->len;
		if (n > len)
			n = len;
		memcpy(d->buf + d->len, p, n);
		delivery_wrote(d, n);
		p += n;
		len -= n;
		if (d->len == DELIVERY_BUF_SIZE)
			flush(d);
	}
}

void
delivery_fail(struct delivery *d, int err)
{
	if (!d->err)
		d->err = err;
}

char *
delivery_space(struct delivery *d, size_t *room)
{
	if (!d->err && DELIVERY_BUF_SIZE - d->len < DELIVERY_MIN_ROOM)
		flush(d);
	if (d->err) {
		/* Dropped: the body buffer's start, or the sink. */
		*room = d->buf != NULL ? DELIVERY_BUF_SIZE : sizeof d->sink;
		return d->buf != NULL ? d->buf : d->sink;
	}
	*room = DELIVERY_BUF_SIZE - d->len;
	return d->buf + d->len;
}

/* field_is - the header line p[0..n) starts field name (any case),
 * with optional white space before its colon. */
static int
field_is(const char *p, size_t n, const char *name)
{
	size_t	k = strlen(name);

	if (n <= k || strncasecmp(p, name, k) != 0)
		return 0;
	while (k < n && (p[k] == ' ' || p[k] == '\t'))
		k++;
	return k < n && p[k] == ':';
}

/* our_mailbox - 1 if the Delivered-To: value in p[0..n) names a copy
 * of this delivery. */
static int
our_mailbox(const struct delivery *d, const char *p, size_t n)
{
	const char *colon = memchr(p, ':', n);
	size_t	 i, len;

	n -= (size_t)(colon - p) + 1;
	p = colon + 1;
	while (n > 0 && (*p == ' ' || *p == '\t' || *p == '<')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' ' ||
	    p[n - 1] == '\t' || p[n - 1] == '>'))
		n--;
	for (i = 0; i < (size_t)d->nfiles; i++) {
		len = strlen(d->dto[i]);
		if (len == n && strncasecmp(d->dto[i], p, n) == 0)
			return 1;
	}
	return 0;
}

/* filter_headers - the whole lines of the client's header section in
 * buf[d->line..d->len): drop Return-Path: fields, note our own
 * Delivered-To:. Stops at the empty line (or a line that is no field). */
static void
filter_headers(struct delivery *d)
{
	char	*p, *lf;
	size_t	 n;

	while (d->in_headers &&
	    (lf = memchr(d->buf + d->line, '\n', d->len - d->line)) != NULL) {
		p = d->buf + d->line;
		n = (size_t)(lf - p) + 1;
		if (p[0] == ' ' || p[0] == '\t') {
			/* A continuation: goes with its field. */
		} else if (n == 1 || (n == 2 && p[0] == '\r') ||
		    memchr(p, ':', n) == NULL) {
			d->in_headers = 0;	/* the body begins */
			break;
		} else {
			d->dropping = field_is(p, n, "Return-Path");
			if (field_is(p, n, "Delivered-To") && our_mailbox(d, p, n))
				d->loop = 1;
		}
		if (d->dropping) {
			memmove(p, p + n, d->len - d->line - n);
			d->len -= n;
		} else
			d->line += n;
	}
}

void
delivery_wrote(struct delivery *d, size_t n)
{
	if (d->err)
		return;
	d->len += n;
	if (d->in_headers)
		filter_headers(d);
}

int
delivery_commit(struct delivery *d)
{
	int	i;

	if (d->len > 0)
		flush(d);
	for (i = 0; i < d->nfiles && !d->err; i++)
		if (maildir_sync(&d->files[i], d->do_fsync) == -1) {
			d->err = errno;
			d->err_copy = i;
		}
	for (i = 0; i < d->nfiles && !d->err; i++)
		if (maildir_link(&d->files[i], d->do_fsync) == -1) {
			d->err = errno;
			d->err_copy = i;
		}
	if (d->err)
		return -1;
	for (i = 0; i < d->nfiles; i++)
		maildir_finish(&d->files[i]);
	d->nfiles = 0;
	return 0;
}

const char *
delivery_file_name(const struct delivery *d, int i)
{
	if (d->files == NULL || i < 0 || i >= d->cap || d->files[i].name[0] == '\0')
		return NULL;
	return d->files[i].name;
}

void
delivery_end(struct delivery *d)
{
	int	i;

	for (i = 0; i < d->nfiles; i++)
		maildir_abort(&d->files[i]);
	free(d->files);
	free(d->dto);
	free(d->trace);
	free(d->buf);
	d->files = NULL;
	d->dto = NULL;
	d->trace = NULL;
	d->buf = NULL;
	d->nfiles = d->cap = d->err = 0;
	d->len = 0;
}

/* delivery_edit - every copy rewritten by hdredit.c: what is buffered
 * is written first, so each file holds the whole message. */
int
delivery_edit(struct delivery *d, const struct hdr_edit *edits)
{
	int	i;

	if (edits == NULL || d->err)
		return d->err ? -1 : 0;
	if (d->len > 0)
		flush(d);
	for (i = 0; i < d->nfiles && !d->err; i++)
		if (hdredit_file(d->files[i].fd, (off_t)d->trace[i], edits) == -1) {
			d->err = errno ? errno : EIO;
			d->err_copy = i;
		}
	return d->err ? -1 : 0;
}
