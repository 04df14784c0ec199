/*
 * recipient.h - which RCPT addresses smtpd accepts, and where each goes.
 * Pure: the same config and address always give the same answer.
 */
#ifndef RECIPIENT_H
#define RECIPIENT_H

#include "config.h"
#include "reply.h"
#include "smtpaddr.h"

#define FOLDER_MAX	64	/* a Maildir++ folder name, without its dot */

/* One mailbox a recipient reaches. */
struct recipient {
	char	box[SMTP_LOCALPART_MAX + 1];	/* lower-cased, no extension */
	char	domain[SMTP_DOMAIN_MAX + 1];	/* lower-cased */
	char	folder[FOLDER_MAX + 1];		/* "" = the INBOX */
};

/* Where an accepted address goes: through an alias to its mailboxes,
 * or to one mailbox of its own. */
struct route {
	const struct config_alias *alias;	/* NULL: to self */
	struct recipient	 self;
};

/*
 * recipient_route - the route of address a under cf: 0 with *rt filled,
 * or -1 with the refusal (550 relay, unknown user, unsafe local part) in
 * *r. Lookup order: the alias of the whole address, then (with a
 * recipient_delimiter) of the address without its extension; the
 * mailbox itself (a mailbox line, postmaster, or any safe local part of
 * a domain with neither mailbox lines nor a catch-all); the domain's
 * catch-all alias.
 * A bare <postmaster> (empty domain) is our first domain's.
 */
int	recipient_route(const struct config *cf, const struct smtpaddr *a,
	    struct route *rt, struct smtp_reply *r);
/* recipient_target - the i-th mailbox of route rt into *out; 0, or -1
 * past the last one. */
int	recipient_target(const struct route *rt, int i, struct recipient *out);

#endif
