/*
 * delivery.h - one message's copies, one per recipient, written together.
 */
#ifndef DELIVERY_H
#define DELIVERY_H

#include <stddef.h>
#include "maildir.h"

#define DELIVERY_BUF_SIZE	(64 * 1024)

#define DELIVERY_MIN_ROOM	4096
#define DELIVERY_SINK_SIZE	64

struct delivery {
	struct maildir_file	*files;
	int			 nfiles, cap;
	int			 err;		/* first errno, 0 = fine */
	int			 err_copy;	/* the copy it came from, or -1 */
	int			 do_fsync;
	char			*buf;		/* body bytes not yet written */
	size_t			 len;
	const char		**dto;		/* each copy's Delivered-To */
	size_t			*trace;		/* each copy's trace header length */
	/* The client's header section is read line by line as it arrives
	 * (while it fits in buf): its Return-Path: fields are dropped, and
	 * a Delivered-To: naming one of our copies is a mail loop. */
	int			 in_headers;
	int			 dropping;	/* inside a dropped field */
	int			 loop;		/* a Delivered-To: of ours */
	size_t			 line;		/* start of the current line */
	/* Once a copy failed and not even buf could be had, the rest of the
	 * body is read a little at a time into this and dropped. */
	char			 sink[DELIVERY_SINK_SIZE];
};

/* What every copy's trace headers say (RFC 5321 4.4). */
struct delivery_trace {
	const char	*from;		/* the reverse-path, "" for <> */
	const char	*helo;		/* as the client sent it */
	const char	*client;	/* its address literal */
	const char	*host;		/* our name */
	const char	*proto;		/* "SMTP", "ESMTP", "UTF8SMTP" */
	const char	*id;		/* the message id */
	const char	*prepend;	/* fields a policy server PREPENDed,
					 * "Name: value\n" each, or NULL */
};

/* One copy: who it is for and where it goes. */
struct delivery_copy {
	const char	*rcpt;		/* the RCPT address, as written */
	const char	*mailbox;	/* "box@domain": Delivered-To: */
	const char	*box, *domain;	/* the template's %u and %d */
	const char	*folder;	/* Maildir++ folder, NULL = INBOX */
};

/* delivery_begin - prepare for up to n copies; -1 (kept in d->err)
 * when memory is short: the body is then only read. */
int	delivery_begin(struct delivery *d, int n, int do_fsync);
/*
 * delivery_add - open copy c (its strings must outlive the delivery) in
 * the maildir that template tmpl names below root, and write its
 * Return-Path:, Delivered-To: and Received: headers. Failures are kept
 * in d->err.
 */
void	delivery_add(struct delivery *d, const char *root, const char *tmpl,
	    const struct delivery_copy *c, const struct delivery_trace *t);
/* delivery_write - body bytes for every copy (buffered). */
void	delivery_write(struct delivery *d, const char *p, size_t len);
/* delivery_fail - stop writing copies (err, unless one is kept
 * already): the rest of the body is read and dropped. */
void	delivery_fail(struct delivery *d, int err);
/* delivery_space - where the next body bytes can be decoded in place:
 * *room bytes, at least DELIVERY_MIN_ROOM (what was buffered is written
 * out first if less was left). After a failure it is a sink whose bytes
 * are dropped (at least DELIVERY_SINK_SIZE). delivery_wrote() then keeps the first n of them,
 * n <= *room. */
char	*delivery_space(struct delivery *d, size_t *room);
void	delivery_wrote(struct delivery *d, size_t n);
/*
 * Header edits decided at end of data (a milter's, a policy server's
 * PREPEND at END-OF-MESSAGE), applied to every copy before it is
 * committed. They work on the client's header section as stored: its
 * fields from the first line after smtpd's trace fields (Return-Path:,
 * Delivered-To:, Received:, which stay on top whatever the edits) to
 * the empty line, or to the first line that is no field. name is a
 * field name; value what follows "Name:" (written after one space
 * unless it starts with a space or tab; LF + white space folds it).
 */
enum hdr_op {
	HDR_INSERT,	/* new field before the index-th (0 = first); past
			 * the last: after it */
	HDR_ADD,	/* new field after the last */
	HDR_CHANGE	/* the index-th (1-based) field called name (any
			 * case) gets value; value "" deletes it. No such
			 * field: a value is added after the last. */
};
struct hdr_edit {
	enum hdr_op	 op;
	int		 index;
	char		*name;
	char		*value;
	struct hdr_edit	*next;
};
/* delivery_edit - apply the edits, in order, to every copy; 0, or -1
 * with the failure kept in d->err. Memory: the header section (up to
 * DELIVERY_EDIT_MAX octets; a longer one is edited in its first part,
 * the rest passing as body) and a copy buffer; the body is moved in
 * place. */
#define DELIVERY_EDIT_MAX	(256 * 1024)
int	delivery_edit(struct delivery *d, const struct hdr_edit *edits);

/* delivery_commit - make every copy durable in new/, or none; 0 or -1. */
int	delivery_commit(struct delivery *d);
/* delivery_file_name - the name in new/ of copy i (in the order of
 * delivery_add) once delivery_commit succeeded, until delivery_end; NULL
 * for no such copy. For the log line of each stored copy. */
const char *delivery_file_name(const struct delivery *d, int i);
/* delivery_end - remove what was not committed, free everything. */
void	delivery_end(struct delivery *d);

#endif
