/*
 * delivery.c - one message's copies, one per recipient, all or none.
 * Owns: each copy's trace headers (Return-Path:, Received:), the body
 * write buffer and the sink that drops a body after a failure, writing
 * every copy, the commit order that
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
#include <time.h>
#include <unistd.h>

#include "delivery.h"

int
delivery_begin(struct delivery *d, int n, int do_fsync)
{
	d->files = NULL;
	d->nfiles = d->cap = d->err = 0;
	d->buf = NULL;
	d->len = 0;
	d->do_fsync = do_fsync;
	d->files = calloc((size_t)(n > 0 ? n : 1), sizeof *d->files);
	d->buf = malloc(DELIVERY_BUF_SIZE);
	if (d->files == NULL || d->buf == NULL) {
		free(d->files);
		free(d->buf);
		d->files = NULL;
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
    const char *rcpt, const char *box, const char *domain,
    const struct delivery_trace *t)
{
	struct maildir_file *f;
	/* On the heap: a thread's stack pages stay with it while it idles. */
	struct {
		char	path[2048], hdr[2048], date[64];
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
	if (maildir_expand(tmpl, box, domain, b->path, sizeof b->path, &why) == -1) {
		d->err = ENAMETOOLONG;
		goto out;
	}
	rfc5322_date(b->date, sizeof b->date);
	/* RFC 5321 4.4: Return-Path, then our Received: line. */
	n = snprintf(b->hdr, sizeof b->hdr,
	    "Return-Path: <%s>\n"
	    "Received: from %s (%s)\n"
	    "\tby %s (smtpd) with %s id %s\n"
	    "\tfor <%s>; %s\n",
	    t->from, t->helo, t->client, t->host, t->proto, t->id, rcpt, b->date);
	if (n < 0 || (size_t)n >= sizeof b->hdr) {
		d->err = ENAMETOOLONG;
		goto out;
	}
	hlen = (size_t)n;
	f = &d->files[d->nfiles];
	if (maildir_open(root, b->path, f) == -1) {
		d->err = errno ? errno : EIO;
		goto out;
	}
	d->nfiles++;
	/* A single copy's header waits in the body buffer: one write()
	 * then carries it and the body's start. */
	if (d->cap == 1 && d->len == 0 && hlen <= DELIVERY_BUF_SIZE) {
		memcpy(d->buf, b->hdr, hlen);
		d->len = hlen;
	} else if (write_all(f->fd, b->hdr, hlen) == -1)
		d->err = errno;
out:
	free(b);
}

/* flush - write the buffered body to every copy. */
static void
flush(struct delivery *d)
{
	int	i;

	for (i = 0; i < d->nfiles && !d->err; i++)
		if (write_all(d->files[i].fd, d->buf, d->len) == -1)
			d->err = errno;
	d->len = 0;
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
		d->len += n;
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

void
delivery_wrote(struct delivery *d, size_t n)
{
	if (!d->err)
		d->len += n;
}

int
delivery_commit(struct delivery *d)
{
	int	i;

	if (d->len > 0)
		flush(d);
	for (i = 0; i < d->nfiles && !d->err; i++)
		if (maildir_sync(&d->files[i], d->do_fsync) == -1)
			d->err = errno;
	for (i = 0; i < d->nfiles && !d->err; i++)
		if (maildir_link(&d->files[i], d->do_fsync) == -1)
			d->err = errno;
	if (d->err)
		return -1;
	for (i = 0; i < d->nfiles; i++)
		maildir_finish(&d->files[i]);
	d->nfiles = 0;
	return 0;
}

void
delivery_end(struct delivery *d)
{
	int	i;

	for (i = 0; i < d->nfiles; i++)
		maildir_abort(&d->files[i]);
	free(d->files);
	free(d->buf);
	d->files = NULL;
	d->buf = NULL;
	d->nfiles = d->cap = d->err = 0;
	d->len = 0;
}
