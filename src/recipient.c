/*
 * recipient.c - recipient policy.
 * Owns: the rules that decide at RCPT whether an address is ours and
 * which mailbox it names: our domains (we never relay), the extension
 * after recipient_delimiter, the local parts that may become a path
 * component, the mailbox lists of restricted domains, and postmaster
 * (RFC 5321 4.5.1), which is always accepted.
 * Not here: path syntax (smtpaddr.c), the directory a mailbox is
 * (maildir.c), the RCPT conversation (session.c).
 * Threads: pure; the config is read-only.
 */
#include <string.h>

#include "buf.h"
#include "maildir.h"
#include "recipient.h"

int
recipient_resolve(const struct config *cf, const struct smtpaddr *a,
    struct recipient *out, struct smtp_reply *r)
{
	const char *domain = a->domain[0] ? a->domain : cf->domains[0];
	char	*ext;

	if (!config_has_domain(cf, domain)) {
		reply_set(r, 550, "5.7.1", "Relay access denied");
		return -1;
	}
	buf_copy(out->domain, sizeof out->domain, domain);
	buf_lower(out->domain);
	buf_copy(out->box, sizeof out->box, a->local_plain);
	buf_lower(out->box);
	if (cf->recipient_delimiter && out->box[0] != cf->recipient_delimiter &&
	    (ext = strchr(out->box, cf->recipient_delimiter)) != NULL)
		*ext = '\0';
	if (!maildir_local_ok(out->box)) {
		reply_set(r, 550, "5.1.3", "Recipient local part cannot name a mailbox");
		return -1;
	}
	if (strcmp(out->box, "postmaster") != 0 &&
	    config_domain_restricted(cf, out->domain) &&
	    !config_has_mailbox(cf, out->box, out->domain)) {
		reply_set(r, 550, "5.1.1", "Recipient address rejected: User unknown");
		return -1;
	}
	return 0;
}
