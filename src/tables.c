/*
 * tables.c - the address tables of a loaded config.
 * Owns: alias expansion and its checks (targets ours, no loops, bounded
 * depth), and the hashed indexes behind config_has_domain,
 * config_domain_restricted, config_has_mailbox and config_alias, so a
 * RCPT costs the same for a domain of 100,000 mailboxes as for one.
 * Not here: reading the lines (config.c), what an address means at RCPT
 * (recipient.c).
 * Threads: built once while a config is loaded, read-only afterwards.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "config.h"
#include "maildir.h"
#include "strindex.h"

struct config_index {
	struct strindex	 domains;	/* our domains */
	struct strindex	 restricted;	/* domains with mailbox lines */
	struct strindex	 mailboxes;	/* "local@domain" */
	struct strindex	 aliases;	/* source -> index in cf->aliases */
};

/* The state of one expansion, for its errors and its result. */
struct expansion {
	struct config	 *cf;
	FILE		 *err;
	int		  errors;
	signed char	 *state;	/* per alias: 0 new, 1 on the path, 2 done */
	int		  path[CONFIG_ALIAS_DEPTH + 1];
	int		  depth;
};

static void	xerr(struct expansion *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* xerr - an error of alias a, at its line. */
static void
xerr(struct expansion *x, int a, const char *fmt, ...)
{
	va_list	ap;

	x->errors++;
	if (x->err == NULL)
		return;
	fprintf(x->err, "%s: alias %s: ", x->cf->aliases[a].where,
	    x->cf->aliases[a].source);
	va_start(ap, fmt);
	vfprintf(x->err, fmt, ap);
	va_end(ap);
	fputc('\n', x->err);
}

/* add_target - mailbox m into alias a's targets, once. */
static int
add_target(struct config_alias *al, const char *m)
{
	char	**n;

	for (int i = 0; i < al->ntargets; i++)
		if (strcmp(al->targets[i], m) == 0)
			return 0;
	if ((n = realloc(al->targets, (size_t)(al->ntargets + 1) * sizeof *n)) == NULL)
		return -1;
	al->targets = n;
	if ((n[al->ntargets] = strdup(m)) == NULL)
		return -1;
	al->ntargets++;
	return 0;
}

/* mailbox_of - target t as a mailbox "box@domain" into buf (the
 * extension dropped), or NULL with the reason in *why. */
static const char *
mailbox_of(const struct config *cf, const char *t, char *buf, size_t size,
    const char **why)
{
	const char *at = strrchr(t, '@');
	char	box[SMTP_LOCALPART_MAX + 1], *ext;
	size_t	n = (size_t)(at - t);

	if (n == 0 || n >= sizeof box) {
		*why = "not a mailbox";
		return NULL;
	}
	memcpy(box, t, n);
	box[n] = '\0';
	if (cf->recipient_delimiter && box[0] != cf->recipient_delimiter &&
	    (ext = strchr(box, cf->recipient_delimiter)) != NULL)
		*ext = '\0';
	if (!maildir_local_ok(box)) {
		*why = "its local part cannot name a mailbox";
		return NULL;
	}
	if (strcmp(box, "postmaster") != 0 && config_domain_restricted(cf, at + 1) &&
	    !config_has_mailbox(cf, box, at + 1)) {
		*why = "neither a mailbox line nor an alias";
		return NULL;
	}
	snprintf(buf, size, "%s@%s", box, at + 1);
	return buf;
}

/* expand - the mailboxes alias a reaches, into alias into (a itself at
 * the top); on a loop or past the depth bound, one error. */
static void
expand(struct expansion *x, int a, struct config_alias *into)
{
	struct config_alias *al = &x->cf->aliases[a];
	char	 mbox[SMTP_LOCALPART_MAX + SMTP_DOMAIN_MAX + 2];
	const char *why;
	int	 i, b;

	if (x->state[a] == 1 || x->depth >= CONFIG_ALIAS_DEPTH) {
		char	loop[1024];
		size_t	len = 0;

		loop[0] = '\0';
		for (i = 0; i < x->depth; i++)
			buf_appendf(loop, sizeof loop, &len, "%s -> ",
			    x->cf->aliases[x->path[i]].source);
		buf_appendf(loop, sizeof loop, &len, "%s", al->source);
		if (x->state[a] == 1)
			xerr(x, x->path[0], "alias loop: %s", loop);
		else
			xerr(x, x->path[0], "aliases nested more than %d deep: %s",
			    CONFIG_ALIAS_DEPTH, loop);
		return;
	}
	x->state[a] = 1;
	x->path[x->depth++] = a;
	for (i = 0; i < al->nraw; i++) {
		const char *t = al->raw[i];
		const char *d = strrchr(t, '@') + 1;

		if (!config_has_domain(x->cf, d)) {
			xerr(x, x->path[0], "target %s: %s is not one of our domains "
			    "(smtpd never relays)", t, d);
			continue;
		}
		if ((b = strindex_get(&x->cf->index->aliases, t)) >= 0) {
			expand(x, b, into);
			continue;
		}
		if (mailbox_of(x->cf, t, mbox, sizeof mbox, &why) == NULL) {
			xerr(x, x->path[0], "target %s: %s", t, why);
			continue;
		}
		if (add_target(into, mbox) == -1)
			xerr(x, x->path[0], "out of memory");
	}
	x->depth--;
	x->state[a] = x->depth == 0 ? 2 : 0;
}

int
config_index_build(struct config *cf, FILE *err)
{
	struct config_index *ix;
	struct expansion x = { .cf = cf, .err = err };
	int	 i, n;

	if ((ix = calloc(1, sizeof *ix)) == NULL)
		goto nomem;
	cf->index = ix;
	if (strindex_reserve(&ix->domains, (unsigned)cf->ndomains) == -1 ||
	    strindex_reserve(&ix->restricted, (unsigned)cf->nmailboxes) == -1 ||
	    strindex_reserve(&ix->mailboxes, (unsigned)cf->nmailboxes) == -1 ||
	    strindex_reserve(&ix->aliases, (unsigned)cf->naliases) == -1)
		goto nomem;
	/* Room reserved: no put below can fail. */
	for (i = 0; i < cf->ndomains; i++)
		(void)strindex_put(&ix->domains, cf->domains[i], i);
	/* A repeated mailbox line goes here: its first one stays. */
	for (i = n = 0; i < cf->nmailboxes; i++) {
		if (strindex_get(&ix->mailboxes, cf->mailboxes[i]) >= 0) {
			free(cf->mailboxes[i]);
			continue;
		}
		cf->mailboxes[n] = cf->mailboxes[i];
		(void)strindex_put(&ix->mailboxes, cf->mailboxes[n], n);
		(void)strindex_put(&ix->restricted, strrchr(cf->mailboxes[n], '@') + 1, n);
		n++;
	}
	cf->nmailboxes = n;
	for (i = 0; i < cf->naliases; i++) {
		const char *d = strrchr(cf->aliases[i].source, '@') + 1;
		if (!config_has_domain(cf, d)) {
			xerr(&x, i, "%s is not one of our domains (add a domain line)", d);
			continue;
		}
		(void)strindex_put(&ix->aliases, cf->aliases[i].source, i);
	}
	if ((x.state = calloc((size_t)cf->naliases + 1, 1)) == NULL)
		goto nomem;
	for (i = 0; i < cf->naliases; i++)
		expand(&x, i, &cf->aliases[i]);
	free(x.state);
	return x.errors ? -1 : 0;
nomem:
	if (err != NULL)
		fprintf(err, "%s: out of memory\n", cf->file);
	return -1;
}

void
config_index_free(struct config *cf)
{
	struct config_index *ix = cf->index;

	if (ix == NULL)
		return;
	strindex_free(&ix->domains);
	strindex_free(&ix->restricted);
	strindex_free(&ix->mailboxes);
	strindex_free(&ix->aliases);
	free(ix);
	cf->index = NULL;
}

/*
 * The lookups. Before the index is built (while the file is read) they
 * walk the lists: config.c checks mailbox lines against domain lines
 * that way.
 */
int
config_has_domain(const struct config *cf, const char *domain)
{
	if (cf->index != NULL)
		return strindex_get(&cf->index->domains, domain) >= 0;
	for (int i = 0; i < cf->ndomains; i++)
		if (strcasecmp(cf->domains[i], domain) == 0)
			return 1;
	return 0;
}

int
config_domain_restricted(const struct config *cf, const char *domain)
{
	if (cf->index != NULL)
		return strindex_get(&cf->index->restricted, domain) >= 0;
	for (int i = 0; i < cf->nmailboxes; i++)
		if (strcasecmp(strrchr(cf->mailboxes[i], '@') + 1, domain) == 0)
			return 1;
	return 0;
}

int
config_has_mailbox(const struct config *cf, const char *local, const char *domain)
{
	char	key[SMTP_LOCALPART_MAX + SMTP_DOMAIN_MAX + 2];
	int	n = snprintf(key, sizeof key, "%s@%s", local, domain);

	if (n < 0 || (size_t)n >= sizeof key)
		return 0;
	if (cf->index != NULL)
		return strindex_get(&cf->index->mailboxes, key) >= 0;
	for (int i = 0; i < cf->nmailboxes; i++)
		if (strcasecmp(cf->mailboxes[i], key) == 0)
			return 1;
	return 0;
}

const struct config_alias *
config_alias(const struct config *cf, const char *local, const char *domain)
{
	char	key[SMTP_LOCALPART_MAX + SMTP_DOMAIN_MAX + 2];
	int	n = snprintf(key, sizeof key, "%s@%s", local, domain), i;

	if (n < 0 || (size_t)n >= sizeof key || cf->index == NULL)
		return NULL;
	i = strindex_get(&cf->index->aliases, key);
	return i >= 0 ? &cf->aliases[i] : NULL;
}
