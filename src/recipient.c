/*
 * recipient.c - recipient policy and routing.
 * Owns: the rules that decide at RCPT whether an address is ours and
 * which mailboxes it reaches: our domains (we never relay), aliases and
 * catch-alls (already expanded by config.c), the extension after
 * recipient_delimiter and the folder it may name, the local parts that
 * may become a path component, the mailbox lists of restricted domains,
 * and postmaster (RFC 5321 4.5.1), which is always accepted.
 * Not here: path syntax (smtpaddr.c), alias expansion and loops
 * (config.c), the directory a mailbox is (maildir.c), the RCPT
 * conversation (session.c).
 * Threads: pure; the config is read-only.
 */
#include <string.h>

#include "buf.h"
#include "maildir.h"
#include "recipient.h"

/* folder_ok - an extension that may name a Maildir++ folder: letters,
 * digits, '-' and '_' (already lower-cased), not empty. */
static int
folder_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > FOLDER_MAX)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '-' || *s == '_'))
			return 0;
	return 1;
}

int
recipient_route(const struct config *cf, const struct smtpaddr *a,
    struct route *rt, struct smtp_reply *r)
{
	const char *domain = a->domain[0] ? a->domain : cf->domains[0];
	char	 local[SMTP_LOCALPART_MAX + 1], dom[SMTP_DOMAIN_MAX + 1];
	const struct config_alias *catchall;
	char	*ext = NULL;
	int	 safe;

	memset(rt, 0, sizeof *rt);
	if (!config_has_domain(cf, domain)) {
		reply_set(r, 550, "5.7.1", "Relay access denied");
		return -1;
	}
	buf_copy(dom, sizeof dom, domain);
	buf_lower(dom);
	buf_copy(local, sizeof local, a->local_plain);
	buf_lower(local);
	/* The whole address first: an alias may name one extension. */
	if ((rt->alias = config_alias(cf, local, dom)) != NULL)
		return 0;
	if (cf->recipient_delimiter && local[0] != cf->recipient_delimiter &&
	    (ext = strchr(local, cf->recipient_delimiter)) != NULL) {
		*ext++ = '\0';
		if ((rt->alias = config_alias(cf, local, dom)) != NULL)
			return 0;
	}
	/* A domain with mailbox lines or a catch-all lists its mailboxes;
	 * one with neither takes any local part that can name one. */
	catchall = config_alias(cf, "", dom);
	safe = maildir_local_ok(local);
	if (safe && (strcmp(local, "postmaster") == 0 || config_has_mailbox(cf, local, dom) ||
	    (!config_domain_restricted(cf, dom) && catchall == NULL))) {
		buf_copy(rt->self.box, sizeof rt->self.box, local);
		buf_copy(rt->self.domain, sizeof rt->self.domain, dom);
		if (ext != NULL && cf->extension_folders && folder_ok(ext))
			buf_copy(rt->self.folder, sizeof rt->self.folder, ext);
		return 0;
	}
	if ((rt->alias = catchall) != NULL)
		return 0;
	if (!safe)
		reply_set(r, 550, "5.1.3", "Recipient local part cannot name a mailbox");
	else
		reply_set(r, 550, "5.1.1", "Recipient address rejected: User unknown");
	return -1;
}

int
recipient_target(const struct route *rt, int i, struct recipient *out)
{
	const char *t, *at;

	if (rt->alias == NULL) {
		if (i > 0)
			return -1;
		*out = rt->self;
		return 0;
	}
	if (i >= rt->alias->ntargets)
		return -1;
	t = rt->alias->targets[i];
	at = strrchr(t, '@');
	memset(out, 0, sizeof *out);
	if (at == NULL || (size_t)(at - t) >= sizeof out->box)
		return -1;	/* config.c never lets one in */
	memcpy(out->box, t, (size_t)(at - t));
	buf_copy(out->domain, sizeof out->domain, at + 1);
	return 0;
}
