/*
 * recipient.h - which RCPT addresses smtpd accepts, and where each goes.
 * Pure: the same config and address always give the same answer.
 */
#ifndef RECIPIENT_H
#define RECIPIENT_H

#include "config.h"
#include "reply.h"
#include "smtpaddr.h"

/* Where an accepted recipient's copy is delivered. */
struct recipient {
	char	box[SMTP_LOCALPART_MAX + 1];	/* lower-cased, no extension */
	char	domain[SMTP_DOMAIN_MAX + 1];	/* lower-cased */
};

/*
 * recipient_resolve - the mailbox of address a under cf: 0 with *out
 * filled, or -1 with the refusal (550 relay, unknown user, unsafe local
 * part) in *r. A bare <postmaster> (empty domain) is our first domain's.
 */
int	recipient_resolve(const struct config *cf, const struct smtpaddr *a,
	    struct recipient *out, struct smtp_reply *r);

#endif
