/*
 * confprint.c - struct config -> smtpd.conf text, for smtpd -n -v
 * (Postfix's postconf: what the daemon will use, defaults included).
 * Owns: the text form of every directive's value.
 * Not here: parsing and defaults (config.c), acting on them (main.c).
 * The output must parse back into the same config: the integration test
 * test_admin_tools.py writes it to a file and checks it again.
 * Threads: none; pure but for writing to fp.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "confprint.h"
#include "dnsbl.h"

static void	print_listen(const struct config_listen *, FILE *);
static void	print_cidr(const char *, const struct config_cidr *, FILE *);
static void	print_screening(const struct config *, FILE *);
static const char *yesno(int);
static void	print_policy(const struct config *, FILE *);
static void	print_milters(const struct config *, FILE *);

/* print_policy - the policy servers (policy.c), in order, and their
 * settings. */
static void
print_policy(const struct config *cf, FILE *fp)
{
	int	i;

	for (i = 0; i < cf->npolicy; i++)
		fprintf(fp, "policy_server %s\n", cf->policy[i].spec);
	if (cf->npolicy == 0)
		fprintf(fp, "# policy_server: none; no policy server is asked\n");
	fprintf(fp, "policy_timeout %d\n", cf->policy_timeout);
	fprintf(fp, "policy_failure %s\n",
	    cf->policy_failure == POLICY_FAILURE_DUNNO ? "dunno" : "defer");
	fprintf(fp, "policy_end_of_data %s\n", yesno(cf->policy_end_of_data));
}

/* print_milters - the milter lines, in order, and their settings. */
static void
print_milters(const struct config *cf, FILE *fp)
{
	int	i;

	for (i = 0; i < cf->nmilters; i++)
		fprintf(fp, "milter %s\n", cf->milters[i].spec);
	if (cf->nmilters == 0)
		fprintf(fp, "# milter: none; no filter is asked\n");
	fprintf(fp, "milter_timeout %d\n", cf->milter_timeout);
	fprintf(fp, "milter_failure %s\n",
	    cf->milter_failure == MILTER_FAILURE_ACCEPT ? "accept" : "tempfail");
}

/* print_listen - "listen ADDR:PORT", an IPv6 address in brackets. */
static void
print_listen(const struct config_listen *l, FILE *fp)
{
	int	v6 = strchr(l->host, ':') != NULL;

	fprintf(fp, "listen %s%s%s:%u%s\n", v6 ? "[" : "", l->host,
	    v6 ? "]" : "", (unsigned)l->port, l->proxy ? " proxy" : "");
}

/* print_cidr - "KEYWORD ADDR/BITS", the address as it was given
 * (host bits included: config_cidr_match ignores them). */
static void
print_cidr(const char *kw, const struct config_cidr *c, FILE *fp)
{
	char	addr[INET6_ADDRSTRLEN];

	if (inet_ntop(c->family, c->addr, addr, sizeof addr) == NULL) {
		fprintf(fp, "# %s: unprintable address family %d\n", kw, c->family);
		return;
	}
	fprintf(fp, "%s %s/%d\n", kw, addr, c->prefix);
}

/* print_screening - the directives of DNS lists, rates and tarpit. */
static void
print_screening(const struct config *cf, FILE *fp)
{
	char	spec[DNSBL_SPEC_MAX], addr[INET6_ADDRSTRLEN];
	int	i;

	for (i = 0; i < cf->ndnsbl; i++) {
		if (dnsbl_format_spec(&cf->dnsbl[i], spec, sizeof spec) == -1)
			fprintf(fp, "# dnsbl %s: spec too long to print\n", cf->dnsbl[i].zone);
		else
			fprintf(fp, "dnsbl %s\n", spec);
	}
	if (cf->ndnsbl == 0)
		fprintf(fp, "# dnsbl: none; no DNS list is asked\n");
	fprintf(fp, "dnsbl_threshold %d\n", cf->dnsbl_threshold);
	if (cf->resolver.family != 0 &&
	    inet_ntop(cf->resolver.family, cf->resolver.addr, addr, sizeof addr) != NULL)
		fprintf(fp, "resolver %s%s%s:%u\n", cf->resolver.family == AF_INET6 ? "[" : "",
		    addr, cf->resolver.family == AF_INET6 ? "]" : "",
		    (unsigned)cf->resolver.port);
	else
		fprintf(fp, "# resolver: not set; the name servers of /etc/resolv.conf\n");
	fprintf(fp, "dns_timeout %d\n", cf->dns_timeout);
	fprintf(fp, "reverse_dns %s\n", yesno(cf->reverse_dns));
	for (i = 0; i < cf->nallow; i++)
		print_cidr("allow", &cf->allow[i], fp);
	if (cf->nallow == 0)
		fprintf(fp, "# allow: none; every client is screened\n");
	fprintf(fp, "error_delay %d\n", cf->error_delay);
	fprintf(fp, "max_connection_rate %d\n", cf->max_connection_rate);
	fprintf(fp, "max_message_rate %d\n", cf->max_message_rate);
}

static const char *
yesno(int v)
{
	return v ? "yes" : "no";
}

void
config_print(const struct config *cf, FILE *fp)
{
	int	i, j;

	for (i = 0; i < cf->nlisten; i++)
		print_listen(&cf->listen[i], fp);
	if (cf->nlisten == 0)
		fprintf(fp, "# listen: none; the service manager passes the sockets\n");
	for (i = 0; i < cf->nproxy_from; i++)
		print_cidr("proxy_from", &cf->proxy_from[i], fp);
	if (cf->nproxy_from == 0)
		fprintf(fp, "# proxy_from: none; a proxy listener refuses everyone\n");
	for (i = 0; i < cf->nxclient_from; i++)
		print_cidr("xclient_from", &cf->xclient_from[i], fp);
	if (cf->nxclient_from == 0)
		fprintf(fp, "# xclient_from: none; XCLIENT is refused to every client\n");
	if (cf->hostname[0] != '\0')
		fprintf(fp, "hostname %s\n", cf->hostname);
	else
		fprintf(fp, "# hostname: not set; the host's name is used\n");
	for (i = 0; i < cf->ndomains; i++)
		fprintf(fp, "domain %s\n", cf->domains[i]);
	for (i = 0; i < cf->nmailboxes; i++)
		fprintf(fp, "mailbox %s\n", cf->mailboxes[i]);
	if (cf->nmailboxes == 0)
		fprintf(fp, "# mailbox: none; every domain takes any local part\n");
	for (i = 0; i < cf->naliases; i++) {
		fprintf(fp, "alias %s", cf->aliases[i].source);
		for (j = 0; j < cf->aliases[i].ntargets; j++)
			fprintf(fp, " %s", cf->aliases[i].targets[j]);
		fputc('\n', fp);
	}
	if (cf->recipient_delimiter != 0)
		fprintf(fp, "recipient_delimiter %c\n", cf->recipient_delimiter);
	else
		fprintf(fp, "# recipient_delimiter: not set; no address extensions\n");
	/*
	 * XXX A parser older than extension_folders refuses the line; it
	 * cannot have set the field either, so "yes" always loads back. The
	 * default is a directive once config.h declares it
	 * (DEF_EXTENSION_FOLDERS), a comment until then.
	 */
#ifndef DEF_EXTENSION_FOLDERS
	if (!cf->extension_folders)
		fprintf(fp, "# extension_folders: no\n");
	else
#endif
		fprintf(fp, "extension_folders %s\n", yesno(cf->extension_folders));
	fprintf(fp, "maildir %s\n", cf->maildir);
	fprintf(fp, "fsync %s\n", yesno(cf->fsync));
	fprintf(fp, "bare_newline %s\n",
	    cf->bare_newline == BARE_NEWLINE_KEEP ? "keep" : "reject");
	if (cf->user[0] != '\0')
		fprintf(fp, "user %s\n", cf->user);
	else
		fprintf(fp, "# user: not set; smtpd keeps the user it was started as\n");
	fprintf(fp, "max_message_size %llu\n", (unsigned long long)cf->max_message_size);
	fprintf(fp, "max_recipients %d\n", cf->max_recipients);
	fprintf(fp, "max_clients %d\n", cf->max_clients);
	fprintf(fp, "max_clients_per_ip %d\n", cf->max_clients_per_ip);
	fprintf(fp, "max_errors %d\n", cf->max_errors);
	fprintf(fp, "max_junk_commands %d\n", cf->max_junk_commands);
	fprintf(fp, "timeout %d\n", cf->timeout);
	fprintf(fp, "data_timeout %d\n", cf->data_timeout);
	fprintf(fp, "transaction_timeout %d\n", cf->transaction_timeout);
	fprintf(fp, "greeting_delay %d\n", cf->greeting_delay);
	print_screening(cf, fp);
	print_policy(cf, fp);
	/* The metrics listener (metrics.c). */
	if (cf->metrics.port != 0)
		fprintf(fp, "metrics %s%s%s:%u\n",
		    strchr(cf->metrics.host, ':') ? "[" : "", cf->metrics.host,
		    strchr(cf->metrics.host, ':') ? "]" : "", (unsigned)cf->metrics.port);
	else
		fprintf(fp, "# metrics: not set; no metrics listener\n");
	print_milters(cf, fp);
}
