/*
 * hdredit.c - header edits on a stored copy, before it is committed.
 * Owns: finding the client's header section in a copy (after smtpd's
 * trace fields, to the empty line or the first line that is no field),
 * applying HDR_INSERT/HDR_ADD/HDR_CHANGE to it, and moving the body so
 * the new section fits: in place, through a fixed buffer.
 * Not here: which edits (milter.c, the policy client), which copies and
 * when (delivery.c).
 * Threads: reentrant; one file at a time per caller.
 *
 * The file is a copy in tmp/ (or unnamed): a failure half way leaves a
 * copy that is never committed, so no step needs to be atomic.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hdredit.h"

#define MOVE_BUF	(64 * 1024)

/* One field of the section: original text, or a new one (own). */
struct field {
	const char	*text;
	size_t		 len;
	size_t		 namelen;
	char		*own;
};

struct fields {
	struct field	*v;
	size_t		 n, cap;
};

/* pread_all - len bytes at off, or -1 (a short file is EIO). */
static int
pread_all(int fd, char *p, size_t len, off_t off)
{
	ssize_t	n;

	while (len > 0) {
		n = pread(fd, p, len, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int
pwrite_all(int fd, const char *p, size_t len, off_t off)
{
	ssize_t	n;

	while (len > 0) {
		n = pwrite(fd, p, len, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static struct field *insert_at(struct fields *, size_t);

/* parse_section - the fields of buf[0..len) into fs; returns where the
 * section ends (the empty line or first non-field line starts there),
 * or (size_t)-1 when memory is short. */
static size_t
parse_section(const char *buf, size_t len, struct fields *fs)
{
	size_t	 pos = 0, n;
	const char *lf, *colon;

	while (pos < len && (lf = memchr(buf + pos, '\n', len - pos)) != NULL) {
		const char *line = buf + pos;

		n = (size_t)(lf - line) + 1;
		if (line[0] == ' ' || line[0] == '\t') {
			if (fs->n == 0)
				break;
			fs->v[fs->n - 1].len += n;	/* a fold */
		} else if (n == 1 || line[0] == '\r' ||
		    (colon = memchr(line, ':', n)) == NULL) {
			/* The empty line, or no field (milter.c's stream
			 * ends the header section at the same line). */
			break;
		} else {
			struct field *f = insert_at(fs, fs->n);
			if (f == NULL)
				return (size_t)-1;
			f->text = line;
			f->len = n;
			f->own = NULL;
			f->namelen = (size_t)(colon - line);
			while (f->namelen > 0 && (line[f->namelen - 1] == ' ' ||
			    line[f->namelen - 1] == '\t'))
				f->namelen--;
		}
		pos += n;
	}
	return pos;
}

/* new_field - "Name: value\n", the value's line breaks kept as folds. */
static int
new_field(struct field *f, const struct hdr_edit *e)
{
	size_t	nl = strlen(e->name), vl = strlen(e->value), o;
	const char *v;
	char	*p;

	if ((p = malloc(nl + 2 * vl + 4)) == NULL)
		return -1;
	memcpy(p, e->name, nl);
	o = nl;
	p[o++] = ':';
	if (e->value[0] != '\0' && e->value[0] != ' ' && e->value[0] != '\t')
		p[o++] = ' ';
	for (v = e->value; *v != '\0'; v++) {
		if (*v == '\r')
			continue;
		p[o++] = *v;
		if (*v == '\n' && v[1] != ' ' && v[1] != '\t')
			p[o++] = '\t';
	}
	while (o > nl + 1 && (p[o - 1] == '\n' || p[o - 1] == '\t'))
		o--;
	p[o++] = '\n';
	f->text = f->own = p;
	f->len = o;
	f->namelen = nl;
	return 0;
}

/* change_field - f gets e's value under its own name. */
static int
change_field(struct field *f, const struct hdr_edit *e)
{
	struct hdr_edit	 c = *e;
	struct field	 nf;
	char		*name;

	if ((name = strndup(f->text, f->namelen)) == NULL)
		return -1;
	c.name = name;
	if (new_field(&nf, &c) == -1) {
		free(name);
		return -1;
	}
	free(name);
	free(f->own);
	*f = nf;
	return 0;
}

/* insert_at - room for one field at i (0..n). */
static struct field *
insert_at(struct fields *fs, size_t i)
{
	if (fs->n == fs->cap) {
		size_t	 cap = fs->cap * 2 + 8;
		void	*nv = realloc(fs->v, cap * sizeof *fs->v);

		if (nv == NULL)
			return NULL;
		fs->v = nv;
		fs->cap = cap;
	}
	memmove(fs->v + i + 1, fs->v + i, (fs->n - i) * sizeof *fs->v);
	fs->n++;
	return &fs->v[i];
}

/* apply - one edit to the list; 0 or -1 (memory). */
static int
apply(struct fields *fs, const struct hdr_edit *e)
{
	struct field	 nf, *slot;
	size_t		 i, nl = strlen(e->name);
	int		 seen = 0;

	if (e->op == HDR_CHANGE) {
		for (i = 0; i < fs->n; i++) {
			struct field *f = &fs->v[i];
			if (f->namelen != nl || strncasecmp(f->text, e->name, nl) != 0 ||
			    ++seen != e->index)
				continue;
			if (e->value[0] == '\0') {
				free(f->own);
				memmove(f, f + 1, (fs->n - i - 1) * sizeof *f);
				fs->n--;
				return 0;
			}
			/* The field keeps its name as it was written. */
			return change_field(f, e);
		}
		if (e->value[0] == '\0')
			return 0;
		i = fs->n;
	} else if (e->op == HDR_INSERT)
		i = e->index < 0 || (size_t)e->index > fs->n ? fs->n : (size_t)e->index;
	else
		i = fs->n;
	if (new_field(&nf, e) == -1)
		return -1;
	if ((slot = insert_at(fs, i)) == NULL) {
		free(nf.own);
		return -1;
	}
	*slot = nf;
	return 0;
}

/* move_body - the bytes [from, size) to from + delta. */
static int
move_body(int fd, off_t from, off_t size, off_t delta, char *buf)
{
	off_t	pos;
	size_t	n;

	if (delta > 0) {
		/* Backwards, so nothing is overwritten before it moved. */
		for (pos = size; pos > from; pos -= (off_t)n) {
			n = pos - from > MOVE_BUF ? MOVE_BUF : (size_t)(pos - from);
			if (pread_all(fd, buf, n, pos - (off_t)n) == -1 ||
			    pwrite_all(fd, buf, n, pos - (off_t)n + delta) == -1)
				return -1;
		}
	} else if (delta < 0) {
		for (pos = from; pos < size; pos += (off_t)n) {
			n = size - pos > MOVE_BUF ? MOVE_BUF : (size_t)(size - pos);
			if (pread_all(fd, buf, n, pos) == -1 ||
			    pwrite_all(fd, buf, n, pos + delta) == -1)
				return -1;
		}
		if (ftruncate(fd, size + delta) == -1)
			return -1;
	}
	return 0;
}

int
hdredit_file(int fd, off_t start, const struct hdr_edit *edits)
{
	struct fields	 fs = { NULL, 0, 0 };
	struct stat	 st;
	const struct hdr_edit *e;
	char		*sec = NULL, *out = NULL, *buf = NULL;
	size_t		 slen, end, olen, i;
	int		 rc = -1, saved;

	if (edits == NULL)
		return 0;
	if (fstat(fd, &st) == -1)
		return -1;
	if (st.st_size < start) {
		errno = EIO;
		return -1;
	}
	slen = (size_t)(st.st_size - start);
	if (slen > DELIVERY_EDIT_MAX)
		slen = DELIVERY_EDIT_MAX;
	if ((sec = malloc(slen + 1)) == NULL || (buf = malloc(MOVE_BUF)) == NULL) {
		errno = ENOMEM;
		goto out;
	}
	if (pread_all(fd, sec, slen, start) == -1)
		goto out;
	if ((end = parse_section(sec, slen, &fs)) == (size_t)-1) {
		errno = ENOMEM;
		goto out;
	}
	for (e = edits; e != NULL; e = e->next)
		if (apply(&fs, e) == -1) {
			errno = ENOMEM;
			goto out;
		}
	for (olen = 0, i = 0; i < fs.n; i++)
		olen += fs.v[i].len;
	if ((out = malloc(olen + 1)) == NULL) {
		errno = ENOMEM;
		goto out;
	}
	for (olen = 0, i = 0; i < fs.n; i++) {
		memcpy(out + olen, fs.v[i].text, fs.v[i].len);
		olen += fs.v[i].len;
	}
	if (move_body(fd, start + (off_t)end, st.st_size, (off_t)olen - (off_t)end,
	    buf) == -1 || pwrite_all(fd, out, olen, start) == -1 ||
	    lseek(fd, 0, SEEK_END) == -1)
		goto out;
	rc = 0;
out:
	saved = errno;
	for (i = 0; i < fs.n; i++)
		free(fs.v[i].own);
	free(fs.v);
	free(sec);
	free(out);
	free(buf);
	errno = saved;
	return rc;
}
