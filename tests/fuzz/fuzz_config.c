/*
 * fuzz_config.c - config_parse on arbitrary smtpd.conf text.
 */
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "config.h"
#include "fuzz.h"
#include "smtpaddr.h"

/* clear - what config_free releases, but not the struct itself. */

static void
check_valid(const struct config *cf)
{
	FUZZ_ASSERT(cf->nlisten >= 1 && cf->nlisten <= CONFIG_LISTEN_MAX);
	FUZZ_ASSERT(cf->ndomains >= 1);
	FUZZ_ASSERT(cf->maildir[0] != '\0');
	FUZZ_ASSERT(cf->max_message_size >= 1);
	FUZZ_ASSERT(cf->max_recipients >= 1 && cf->max_clients >= 1);
	FUZZ_ASSERT(cf->max_clients_per_ip >= 0 && cf->max_errors >= 1);
	FUZZ_ASSERT(cf->timeout >= 1 && cf->data_timeout >= 1 &&
	    cf->transaction_timeout >= 1);
	FUZZ_ASSERT(cf->greeting_delay >= 0 && cf->greeting_delay <= 300);
	FUZZ_ASSERT(cf->nproxy_from >= 0 && cf->nproxy_from <= CONFIG_PROXY_FROM_MAX);
	for (int i = 0; i < cf->nlisten; i++) {
		FUZZ_ASSERT(cf->listen[i].port >= 1);
		FUZZ_ASSERT(memchr(cf->listen[i].host, '\0',
		    sizeof cf->listen[i].host) != NULL);
	}
	for (int i = 0; i < cf->nproxy_from; i++) {
		const struct config_cidr *c = &cf->proxy_from[i];
		FUZZ_ASSERT(c->family == AF_INET || c->family == AF_INET6);
		FUZZ_ASSERT(c->prefix >= 0 &&
		    c->prefix <= (c->family == AF_INET ? 32 : 128));
		/* a network contains its own address */
		FUZZ_ASSERT(config_cidr_match(c, c->family, c->addr));
	}
	for (int i = 0; i < cf->ndomains; i++) {
		const char *d = cf->domains[i];
		FUZZ_ASSERT(smtpaddr_valid_domain(d, strlen(d), 1));
		for (const char *c = d; *c; c++)
			FUZZ_ASSERT(!(*c >= 'A' && *c <= 'Z'));
		FUZZ_ASSERT(config_has_domain(cf, d));
		for (int j = 0; j < i; j++)
			FUZZ_ASSERT(strcmp(cf->domains[j], d) != 0);
	}
	for (int i = 0; i < cf->nmailboxes; i++) {
		const char *m = cf->mailboxes[i], *at = strrchr(m, '@');
		char	local[1100];
		size_t	ll;

		FUZZ_ASSERT(at != NULL && at > m);
		FUZZ_ASSERT(config_has_domain(cf, at + 1));
		FUZZ_ASSERT(config_domain_restricted(cf, at + 1));
		ll = (size_t)(at - m);
		FUZZ_ASSERT(ll < sizeof local);
		memcpy(local, m, ll);
		local[ll] = '\0';
		FUZZ_ASSERT(config_has_mailbox(cf, local, at + 1));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct config cf;
	char	*text;
	FILE	*fp;
	int	 rc;

	if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	/* fmemopen wants a writable buffer and at least one byte */
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	fp = fmemopen(text, size ? size : 1, "r");
	if (fp == NULL) {
		free(text);
		return 0;
	}
	rc = config_parse(fp, "fuzz.conf", &cf, devnull);
	fclose(fp);
	FUZZ_ASSERT(rc == 0 || rc == -1);
	if (rc == 0)
		check_valid(&cf);
	/* A NUL byte anywhere is refused. */
	if (size > 0 && memchr(data, '\0', size) != NULL)
		FUZZ_ASSERT(rc == -1);
	config_empty(&cf);
	free(text);
	return 0;
}
