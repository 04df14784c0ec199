/*
 * delivery.c - one message's copies, one per recipient, all or none.
 * Owns: the body write buffer, writing every copy, the commit order that
 * makes a 250 safe (every file synced before any link into new/, every
 * name in new/ synced before the reply) and the rollback that leaves no
 * copy in any new/ when one of them fails.
 * Not here: names and directories (maildir.c), the protocol (session.c).
 *
 * XXX a copy already linked into new/ when a later one fails is removed
 * again; a mail reader fast enough to move it to cur/ in that window
 * keeps it, and the client's retry then delivers it twice. Duplicates
 * are the safe side of that race: nothing accepted is lost.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delivery.h"

int
delivery_begin(struct delivery *d, int n, int do_fsync)
{
	memset(d, 0, sizeof *d);
	d->do_fsync = do_fsync;
	d->files = calloc((size_t)(n > 0 ? n : 1), sizeof *d->files);
	d->buf = malloc(DELIVERY_BUF_SIZE);
	if (d->files == NULL || d->buf == NULL) {
		free(d->files);
		free(d->buf);
		memset(d, 0, sizeof *d);
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

void
delivery_add(struct delivery *d, const char *root, const char *path,
    const char *hdr, size_t hlen)
{
	struct maildir_file *f;

	if (d->err || d->nfiles >= d->cap)
		return;
	f = &d->files[d->nfiles];
	if (maildir_open(root, path, f) == -1) {
		d->err = errno ? errno : EIO;
		return;
	}
	d->nfiles++;
	/* A single copy's header waits in the body buffer: one write()
	 * then carries it and the body's start. */
	if (d->cap == 1 && d->len == 0 && hlen <= DELIVERY_BUF_SIZE) {
		memcpy(d->buf, hdr, hlen);
		d->len = hlen;
	} else if (write_all(f->fd, hdr, hlen) == -1)
		d->err = errno;
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

char *
delivery_space(struct delivery *d, size_t *room)
{
	if (d->err || d->buf == NULL)
		return NULL;
	if (DELIVERY_BUF_SIZE - d->len < DELIVERY_MIN_ROOM)
		flush(d);
	if (d->err)
		return NULL;
	*room = DELIVERY_BUF_SIZE - d->len;
	return d->buf + d->len;
}

void
delivery_wrote(struct delivery *d, size_t n)
{
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
	memset(d, 0, sizeof *d);
}
