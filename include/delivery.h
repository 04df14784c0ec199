/*
 * delivery.h - one message's copies, one per recipient, written together.
 */
#ifndef DELIVERY_H
#define DELIVERY_H

#include <stddef.h>
#include "maildir.h"

#define DELIVERY_BUF_SIZE	(64 * 1024)

struct delivery {
	struct maildir_file	*files;
	int			 nfiles, cap;
	int			 err;		/* first errno, 0 = fine */
	int			 do_fsync;
	char			*buf;		/* body bytes not yet written */
	size_t			 len;
};

/* delivery_begin - prepare for up to n copies; 0 or -1. */
int	delivery_begin(struct delivery *d, int n, int do_fsync);
/* delivery_add - open a copy in the maildir at path (below root) and
 * write its own header block to it. Failures are kept in d->err. */
void	delivery_add(struct delivery *d, const char *root, const char *path,
	    const char *hdr, size_t hlen);
/* delivery_write - body bytes for every copy (buffered). */
void	delivery_write(struct delivery *d, const char *p, size_t len);
/* delivery_space - where the next body bytes can be decoded in place:
 * *room bytes (at least DELIVERY_MIN_ROOM; what was buffered is written
 * out first if less was left); NULL after a failure. delivery_wrote()
 * then keeps the first n of them, n <= *room. */
#define DELIVERY_MIN_ROOM	4096
char	*delivery_space(struct delivery *d, size_t *room);
void	delivery_wrote(struct delivery *d, size_t n);
/* delivery_commit - make every copy durable in new/, or none; 0 or -1. */
int	delivery_commit(struct delivery *d);
/* delivery_end - remove what was not committed, free everything. */
void	delivery_end(struct delivery *d);

#endif
