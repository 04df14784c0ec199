/*
 * config.c - smtpd.conf -> struct config. Pure parse and validate.
 * Owns: every directive, its bounds and its default.
 * Not here: acting on the config (main.c, listener.c); the running
 * system's facts come in as struct config_opts, so -n, start-up and
 * SIGHUP make the same checks.
 * Errors read "file:line: message"; parsing goes on to show them all.
 * Threads: none; a loaded config is read-only, and listener.c decides
 * when it is freed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "buf.h"
#include "config.h"
#include "dnsbl.h"
#include "smtpaddr.h"

#define CONFIG_LINE_MAX		1024
#define CONFIG_LIST_MAX		10000	/* domains, aliases, an alias's targets */
#define CONFIG_MAILBOX_MAX	1000000	/* mailbox lines */

struct parse_ctx {
	const struct config_opts *opts;	/* never NULL */
	const char	*fname;
	int		 line;
	int		 errors;
	FILE		*err;
	unsigned	 seen;		/* bit per single-valued keyword */
	int		 depth;		/* include nesting */
	int		 bad_listen;	/* a listen line was refused */
};

static void	perr(struct parse_ctx *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	parse_number(struct parse_ctx *, const char *, long long, long long, long long *);
static int	parse_listen(struct parse_ctx *, struct config *, char *);
static int	parse_yesno(struct parse_ctx *, const char *, int *);
static int	parse_resolver(struct parse_ctx *, struct config *, char *);
static int	list_add(struct parse_ctx *, char ***, int *, const char *, int);
static int	parse_template(struct parse_ctx *, const char *);
static void	set_maildir(struct parse_ctx *, struct config *, const char *);
static int	parse_file(FILE *, const char *, const struct config_opts *,
		    struct config *, FILE *);
static void	parse_lines(struct parse_ctx *, FILE *, struct config *);
static void	parse_alias(struct parse_ctx *, struct config *, char *);
static void	parse_include(struct parse_ctx *, struct config *, const char *);
static void	parse_metrics(struct parse_ctx *, struct config *, char *);

/*
 * read_line - the next line of fp into buf, without its LF. Returns 0 at
 * the end of the file. A NUL byte or a line longer than the buffer is
 * flagged, never silently cut: fgets() can do neither.
 */
static int
read_line(FILE *fp, char *buf, size_t size, int *toolong, int *nul)
{
	size_t	n = 0;
	int	c, any = 0;

	*toolong = *nul = 0;
	while ((c = getc(fp)) != EOF) {
		any = 1;
		if (c == '\n')
			break;
		if (c == '\0')
			*nul = 1;
		if (n + 1 < size)
			buf[n++] = (char)c;
		else
			*toolong = 1;
	}
	buf[n] = '\0';
	return any;
}

static void
perr(struct parse_ctx *p, const char *fmt, ...)
{
	va_list	ap;

	p->errors++;
	if (p->err == NULL)
		return;
	fprintf(p->err, "%s:%d: ", p->fname, p->line);
	va_start(ap, fmt);
	vfprintf(p->err, fmt, ap);
	va_end(ap);
	fputc('\n', p->err);
}

/* parse_number - decimal in [min, max]; 0 or -1 (error reported). */
static int
parse_number(struct parse_ctx *p, const char *s, long long min, long long max,
    long long *out)
{
	char		*end;
	long long	 v;

	if (*s < '0' || *s > '9') {
		perr(p, "\"%s\": expected a number", s);
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0') {
		perr(p, "\"%s\": expected a number", s);
		return -1;
	}
	if (errno == ERANGE || v < min || v > max) {
		perr(p, "%s: out of range %lld..%lld", s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int
parse_yesno(struct parse_ctx *p, const char *s, int *out)
{
	if (strcmp(s, "yes") == 0)
		*out = 1;
	else if (strcmp(s, "no") == 0)
		*out = 0;
	else {
		perr(p, "\"%s\": expected yes or no", s);
		return -1;
	}
	return 0;
}

/* parse_listen - "ADDR:PORT", "[v6]:PORT", "*:PORT", then optional "proxy". */
static int
parse_listen(struct parse_ctx *p, struct config *cf, char *v)
{
	struct config_listen	*l;
	char			*host, *port, *opt;
	long long		 n;
	unsigned char		 tmp[16];

	if (cf->nlisten >= CONFIG_LISTEN_MAX) {
		perr(p, "too many listen lines (at most %d)", CONFIG_LISTEN_MAX);
		return -1;
	}
	opt = strchr(v, ' ');
	if (opt != NULL) {
		*opt++ = '\0';
		opt += strspn(opt, " \t");
	}
	if (*v == '[') {
		host = v + 1;
		port = strchr(host, ']');
		if (port == NULL || port[1] != ':') {
			perr(p, "\"%s\": expected [ADDRESS]:PORT", v);
			return -1;
		}
		*port = '\0';
		port += 2;
		if (inet_pton(AF_INET6, host, tmp) != 1) {
			perr(p, "\"%s\": not an IPv6 address", host);
			return -1;
		}
	} else {
		host = v;
		port = strrchr(v, ':');
		if (port == NULL) {
			perr(p, "\"%s\": expected ADDRESS:PORT", v);
			return -1;
		}
		*port++ = '\0';
		if (strcmp(host, "*") != 0 && inet_pton(AF_INET, host, tmp) != 1) {
			perr(p, "\"%s\": not an IPv4 address (use [::1] for IPv6, * for all)", host);
			return -1;
		}
	}
	if (parse_number(p, port, 1, 65535, &n) == -1)
		return -1;
	l = &cf->listen[cf->nlisten];
	memset(l, 0, sizeof *l);
	if (buf_copy(l->host, sizeof l->host, host) == -1) {
		perr(p, "address too long");
		return -1;
	}
	l->port = (uint16_t)n;
	if (opt != NULL && *opt != '\0') {
		if (strcmp(opt, "proxy") != 0) {
			perr(p, "\"%s\": unknown listen option (only \"proxy\")", opt);
			return -1;
		}
		l->proxy = 1;
	}
	cf->nlisten++;
	return 0;
}

/*
 * parse_metrics - "metrics ADDR:PORT": the address of the metrics
 * listener, written as a listen line is ("127.0.0.1:9125",
 * "[::1]:9125", "*:9125"), without options. Given once.
 */
static void
parse_metrics(struct parse_ctx *p, struct config *cf, char *v)
{
	struct config_listen	*m = &cf->metrics;
	char			*host = v, *port;
	long long		 n;
	unsigned char		 tmp[16];

	if (m->port != 0) {
		perr(p, "metrics: given twice");
		return;
	}
	if (*v == '[') {
		host = v + 1;
		if ((port = strchr(host, ']')) == NULL || port[1] != ':') {
			perr(p, "metrics \"%s\": expected [ADDRESS]:PORT", v);
			return;
		}
		*port = '\0';
		port += 2;
		if (inet_pton(AF_INET6, host, tmp) != 1) {
			perr(p, "metrics \"%s\": not an IPv6 address", host);
			return;
		}
	} else {
		if ((port = strrchr(v, ':')) == NULL) {
			perr(p, "metrics \"%s\": expected ADDRESS:PORT", v);
			return;
		}
		*port++ = '\0';
		if (strcmp(host, "*") != 0 && inet_pton(AF_INET, host, tmp) != 1) {
			perr(p, "metrics \"%s\": not an IPv4 address (use [::1] for "
			    "IPv6, * for all)", host);
			return;
		}
	}
	if (parse_number(p, port, 1, 65535, &n) == -1)
		return;
	if (buf_copy(m->host, sizeof m->host, host) == -1) {
		perr(p, "metrics: address too long");
		return;
	}
	m->port = (uint16_t)n;
}

/* parse_resolver - "ADDR", "ADDR:PORT", "[V6]", "[V6]:PORT". */
static int
parse_resolver(struct parse_ctx *p, struct config *cf, char *v)
{
	struct config_resolver *r = &cf->resolver;
	char		*host = v, *port = NULL;
	long long	 n = DEF_RESOLVER_PORT;
	int		 family = AF_INET;

	if (*v == '[') {
		host = v + 1;
		if ((port = strchr(host, ']')) == NULL ||
		    (port[1] != '\0' && port[1] != ':')) {
			perr(p, "resolver \"%s\": expected ADDRESS[:PORT] or [IPV6][:PORT]", v);
			return -1;
		}
		*port++ = '\0';
		port = *port == ':' ? port + 1 : NULL;
		family = AF_INET6;
	} else if ((port = strchr(v, ':')) != NULL)
		*port++ = '\0';
	if (inet_pton(family, host, r->addr) != 1) {
		perr(p, "resolver \"%s\": not an %s address%s", host,
		    family == AF_INET ? "IPv4" : "IPv6",
		    family == AF_INET ? " (write IPv6 as [ADDRESS])" : "");
		memset(r, 0, sizeof *r);
		return -1;
	}
	if (port != NULL && parse_number(p, port, 1, 65535, &n) == -1) {
		memset(r, 0, sizeof *r);
		return -1;
	}
	r->family = family;
	r->port = (uint16_t)n;
	return 0;
}

int
config_allowed(const struct config *cf, int family, const void *addr)
{
	for (int i = 0; i < cf->nallow; i++)
		if (config_cidr_match(&cf->allow[i], family, addr))
			return 1;
	return 0;
}

static int
list_add(struct parse_ctx *p, char ***list, int *n, const char *s, int max)
{
	char	**nl, *dup;

	/* A repeated entry is dropped here for the short lists, and for
	 * mailbox lines when they are indexed (tables.c): a file of
	 * 100,000 mailboxes loads without a scan per line. */
	if (max <= CONFIG_LIST_MAX)
		for (int i = 0; i < *n; i++)
			if (strcmp((*list)[i], s) == 0)
				return 0;
	if (*n >= max) {
		perr(p, "too many entries (at most %d)", max);
		return -1;
	}
	if ((dup = strdup(s)) == NULL) {
		perr(p, "out of memory");
		return -1;
	}
	if ((*n & (*n - 1)) == 0) {	/* 0, 1, 2, 4, ...: double */
		if ((nl = realloc(*list, (size_t)(*n ? *n * 2 : 1) * sizeof *nl)) == NULL) {
			free(dup);
			perr(p, "out of memory");
			return -1;
		}
		*list = nl;
	}
	(*list)[(*n)++] = dup;
	return 0;
}

/* parse_template - only %u, %d and %% may follow a '%'. */
static int
parse_template(struct parse_ctx *p, const char *s)
{
	for (; *s; s++) {
		if (*s != '%')
			continue;
		s++;
		if (*s != 'u' && *s != 'd' && *s != '%') {
			perr(p, "maildir: unknown escape %%%c (use %%u, %%d or %%%%)",
			    *s ? *s : ' ');
			return -1;
		}
	}
	return 0;
}

/*
 * set_maildir - the template, a relative one taken from opts->basedir:
 * one that does not fit once made absolute is refused here, with its
 * line, rather than found out at start-up or at a reload.
 */
static void
set_maildir(struct parse_ctx *p, struct config *cf, const char *v)
{
	const char	*base = p->opts->basedir;
	size_t		 blen;
	int		 n;

	if (v[0] == '/' || base == NULL) {
		if (buf_copy(cf->maildir, sizeof cf->maildir, v) == -1)
			perr(p, "maildir: template too long (at most %zu characters)",
			    sizeof cf->maildir - 1);
		return;
	}
	blen = strlen(base);
	n = snprintf(cf->maildir, sizeof cf->maildir, "%s%s%s", base,
	    blen > 0 && base[blen - 1] == '/' ? "" : "/", v);
	if (n < 0 || (size_t)n >= sizeof cf->maildir) {
		cf->maildir[0] = '\0';
		perr(p, "maildir: relative template too long once taken from %s "
		    "(%d characters, at most %zu): give an absolute path", base,
		    n, sizeof cf->maildir - 1);
	}
}

int
config_parse_cidr(const char *s, struct config_cidr *out)
{
	char	 addr[64];
	const char *slash;
	char	*end;
	long	 bits;
	size_t	 n;

	memset(out, 0, sizeof *out);
	slash = strchr(s, '/');
	n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof addr)
		return -1;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		out->prefix = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		out->prefix = 128;
	} else
		return -1;
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9')
			return -1;
		bits = strtol(slash + 1, &end, 10);
		if (*end != '\0' || bits < 0 || bits > out->prefix)
			return -1;
		out->prefix = (int)bits;
	}
	return 0;
}

int
config_cidr_match(const struct config_cidr *c, int family, const void *addr)
{
	const unsigned char *a = addr;
	int	full = c->prefix / 8, rest = c->prefix % 8;

	if (family != c->family)
		return 0;
	if (memcmp(a, c->addr, (size_t)full) != 0)
		return 0;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));
		if ((a[full] & mask) != (c->addr[full] & mask))
			return 0;
	}
	return 1;
}

/* Single-valued keywords: a second occurrence is an error. */
enum {
	K_HOSTNAME, K_MAILDIR, K_MAXSIZE, K_MAXRCPT, K_MAXCLIENTS, K_MAXPERIP,
	K_MAXERRORS, K_MAXJUNK, K_TIMEOUT, K_DATATIMEOUT, K_TXTIMEOUT,
	K_GREETDELAY, K_USER, K_BARENL, K_DELIM, K_FSYNC, K_EXTFOLDERS,
	K_DNSBLTHRESH, K_RESOLVER, K_DNSTIMEOUT, K_ERRDELAY, K_CONNRATE,
	K_MSGRATE, K_REVDNS, K_POLTIMEOUT, K_POLFAILURE, K_POLEOD,
	K_MILTERTIMEOUT, K_MILTERFAILURE
};

static int
once(struct parse_ctx *p, int k, const char *kw)
{
	if (p->seen & (1u << k)) {
		perr(p, "%s: given twice", kw);
		return -1;
	}
	p->seen |= 1u << k;
	return 0;
}

/* num_directive - the integer directives, with their bounds. */
static const struct num_directive {
	const char	*kw;
	int		 key;
	long long	 min, max;
	size_t		 off;
} num_directives[] = {
	{ "max_recipients", K_MAXRCPT, 1, CONFIG_RECIPIENTS_MAX, offsetof(struct config, max_recipients) },
	{ "max_clients", K_MAXCLIENTS, 1, 1000000, offsetof(struct config, max_clients) },
	{ "max_clients_per_ip", K_MAXPERIP, 0, 1000000, offsetof(struct config, max_clients_per_ip) },
	{ "max_errors", K_MAXERRORS, 1, 1000000, offsetof(struct config, max_errors) },
	{ "max_junk_commands", K_MAXJUNK, 0, 1000000, offsetof(struct config, max_junk_commands) },
	{ "timeout", K_TIMEOUT, 1, 86400, offsetof(struct config, timeout) },
	{ "data_timeout", K_DATATIMEOUT, 1, 86400, offsetof(struct config, data_timeout) },
	{ "transaction_timeout", K_TXTIMEOUT, 1, 864000, offsetof(struct config, transaction_timeout) },
	{ "greeting_delay", K_GREETDELAY, 0, 300, offsetof(struct config, greeting_delay) },
	{ "dnsbl_threshold", K_DNSBLTHRESH, 1, 100000, offsetof(struct config, dnsbl_threshold) },
	{ "dns_timeout", K_DNSTIMEOUT, 1, 60, offsetof(struct config, dns_timeout) },
	{ "error_delay", K_ERRDELAY, 0, 60, offsetof(struct config, error_delay) },
	{ "max_connection_rate", K_CONNRATE, 0, 1000000, offsetof(struct config, max_connection_rate) },
	{ "max_message_rate", K_MSGRATE, 0, 1000000, offsetof(struct config, max_message_rate) },
	{ "policy_timeout", K_POLTIMEOUT, 1, 3600, offsetof(struct config, policy_timeout) },
	{ "milter_timeout", K_MILTERTIMEOUT, 1, 3600, offsetof(struct config, milter_timeout) },
};

static const char *const other_keywords[] = {
	"listen", "hostname", "domain", "mailbox", "maildir", "max_message_size",
	"user", "bare_newline", "recipient_delimiter", "fsync", "proxy_from",
	"alias", "include", "extension_folders", "dnsbl", "resolver", "allow",
	"reverse_dns", "metrics",
	"policy_server", "policy_failure", "policy_end_of_data",
	"xclient_from", "milter", "milter_failure",
};

/* known_keyword - 1 if kw is a directive. */
static int
known_keyword(const char *kw)
{
	size_t	i;

	for (i = 0; i < sizeof num_directives / sizeof num_directives[0]; i++)
		if (strcmp(kw, num_directives[i].kw) == 0)
			return 1;
	for (i = 0; i < sizeof other_keywords / sizeof other_keywords[0]; i++)
		if (strcmp(kw, other_keywords[i]) == 0)
			return 1;
	return 0;
}

/* parse_milter - "milter unix:PATH|inet:HOST:PORT" (repeatable, asked
 * in order) and "milter_failure tempfail|accept". */
static void
parse_milter(struct parse_ctx *p, struct config *cf, const char *kw, const char *v)
{
	char	err[FILTERCONN_SPEC_MAX + 100];

	if (strcmp(kw, "milter_failure") == 0) {
		if (once(p, K_MILTERFAILURE, kw) == -1)
			return;
		if (strcmp(v, "tempfail") == 0)
			cf->milter_failure = MILTER_FAILURE_TEMPFAIL;
		else if (strcmp(v, "accept") == 0)
			cf->milter_failure = MILTER_FAILURE_ACCEPT;
		else
			perr(p, "\"%s\": expected tempfail or accept", v);
		return;
	}
	if (cf->nmilters >= CONFIG_MILTER_MAX) {
		perr(p, "too many milter lines (at most %d)", CONFIG_MILTER_MAX);
		return;
	}
	if (filter_addr_parse(v, &cf->milters[cf->nmilters], err, sizeof err) == -1) {
		perr(p, "milter %s", err);
		return;
	}
	cf->nmilters++;
}

/* config_directive - apply one "keyword value" line. */
static void
config_directive(struct parse_ctx *p, struct config *cf, char *kw, char *v)
{
	long long	n;
	size_t		i;

	if (!known_keyword(kw)) {
		perr(p, "unknown keyword \"%s\"", kw);
		return;
	}
	if (*v == '\0') {
		perr(p, "%s: missing value", kw);
		return;
	}
	for (i = 0; i < sizeof num_directives / sizeof num_directives[0]; i++) {
		const struct num_directive *d = &num_directives[i];
		if (strcmp(kw, d->kw) != 0)
			continue;
		if (once(p, d->key, kw) == 0 &&
		    parse_number(p, v, d->min, d->max, &n) == 0)
			*(int *)(void *)((char *)cf + d->off) = (int)n;
		return;
	}
	if (strcmp(kw, "listen") == 0) {
		if (parse_listen(p, cf, v) == -1)
			p->bad_listen = 1;
	} else if (strcmp(kw, "hostname") == 0) {
		if (once(p, K_HOSTNAME, kw) == -1)
			return;
		if (!smtpaddr_valid_domain(v, strlen(v), 0))
			perr(p, "\"%s\": not a valid host name", v);
		else
			buf_copy(cf->hostname, sizeof cf->hostname, v);
	} else if (strcmp(kw, "domain") == 0) {
		buf_lower(v);
		if (!smtpaddr_valid_domain(v, strlen(v), 1))
			perr(p, "\"%s\": not a valid domain", v);
		else
			list_add(p, &cf->domains, &cf->ndomains, v, CONFIG_LIST_MAX);
	} else if (strcmp(kw, "mailbox") == 0) {
		char *at = strrchr(v, '@');
		buf_lower(v);
		if (at == NULL || at == v || !smtpaddr_valid_domain(at + 1, strlen(at + 1), 1))
			perr(p, "\"%s\": expected LOCAL@DOMAIN", v);
		else if ((size_t)(at - v) > SMTP_LOCALPART_MAX)
			perr(p, "\"%s\": local part longer than %d octets", v,
			    SMTP_LOCALPART_MAX);
		else
			list_add(p, &cf->mailboxes, &cf->nmailboxes, v, CONFIG_MAILBOX_MAX);
	} else if (strcmp(kw, "maildir") == 0) {
		if (once(p, K_MAILDIR, kw) == 0 && parse_template(p, v) == 0)
			set_maildir(p, cf, v);
	} else if (strcmp(kw, "max_message_size") == 0) {
		if (once(p, K_MAXSIZE, kw) == 0 &&
		    parse_number(p, v, 1, (long long)1 << 40, &n) == 0)
			cf->max_message_size = (uint64_t)n;
	} else if (strcmp(kw, "user") == 0) {
		if (once(p, K_USER, kw) == -1)
			return;
		if (buf_copy(cf->user, sizeof cf->user, v) == -1 || strchr(v, ' '))
			perr(p, "\"%s\": not a user name", v);
	} else if (strcmp(kw, "bare_newline") == 0) {
		if (once(p, K_BARENL, kw) == -1)
			return;
		if (strcmp(v, "reject") == 0)
			cf->bare_newline = BARE_NEWLINE_REJECT;
		else if (strcmp(v, "keep") == 0)
			cf->bare_newline = BARE_NEWLINE_KEEP;
		else
			perr(p, "\"%s\": expected reject or keep", v);
	} else if (strcmp(kw, "recipient_delimiter") == 0) {
		if (once(p, K_DELIM, kw) == -1)
			return;
		if (strlen(v) != 1 || strchr("+-_=.", v[0]) == NULL)
			perr(p, "\"%s\": expected one of + - _ = .", v);
		else
			cf->recipient_delimiter = v[0];
	} else if (strcmp(kw, "fsync") == 0) {
		if (once(p, K_FSYNC, kw) == 0)
			parse_yesno(p, v, &cf->fsync);
	} else if (strcmp(kw, "extension_folders") == 0) {
		if (once(p, K_EXTFOLDERS, kw) == 0)
			parse_yesno(p, v, &cf->extension_folders);
	} else if (strcmp(kw, "alias") == 0) {
		parse_alias(p, cf, v);
	} else if (strcmp(kw, "include") == 0) {
		parse_include(p, cf, v);
	} else if (strcmp(kw, "dnsbl") == 0) {
		const char *why;
		if (cf->ndnsbl >= CONFIG_DNSBL_MAX)
			perr(p, "too many dnsbl lines (at most %d)", CONFIG_DNSBL_MAX);
		else if (dnsbl_parse_spec(v, &cf->dnsbl[cf->ndnsbl], &why) == -1)
			perr(p, "dnsbl \"%s\": %s", v, why);
		else
			cf->ndnsbl++;
	} else if (strcmp(kw, "resolver") == 0) {
		if (once(p, K_RESOLVER, kw) == 0)
			parse_resolver(p, cf, v);
	} else if (strcmp(kw, "allow") == 0) {
		if (cf->nallow >= CONFIG_ALLOW_MAX)
			perr(p, "too many allow lines (at most %d)", CONFIG_ALLOW_MAX);
		else if (config_parse_cidr(v, &cf->allow[cf->nallow]) == -1)
			perr(p, "\"%s\": expected ADDRESS or ADDRESS/BITS", v);
		else
			cf->nallow++;
	} else if (strcmp(kw, "reverse_dns") == 0) {
		if (once(p, K_REVDNS, kw) == 0)
			parse_yesno(p, v, &cf->reverse_dns);
	} else if (strcmp(kw, "policy_server") == 0) {
		/* Policy servers, asked in the order written (policy.c). */
		char why[256];
		if (cf->npolicy >= CONFIG_POLICY_MAX)
			perr(p, "too many policy_server lines (at most %d)", CONFIG_POLICY_MAX);
		else if (filter_addr_parse(v, &cf->policy[cf->npolicy], why, sizeof why) == -1)
			perr(p, "policy_server %s", why);
		else
			cf->npolicy++;
	} else if (strcmp(kw, "policy_failure") == 0) {
		if (once(p, K_POLFAILURE, kw) == -1)
			return;
		if (strcmp(v, "defer") == 0)
			cf->policy_failure = POLICY_FAILURE_DEFER;
		else if (strcmp(v, "dunno") == 0)
			cf->policy_failure = POLICY_FAILURE_DUNNO;
		else
			perr(p, "\"%s\": expected defer or dunno", v);
	} else if (strcmp(kw, "policy_end_of_data") == 0) {
		if (once(p, K_POLEOD, kw) == 0)
			parse_yesno(p, v, &cf->policy_end_of_data);
	} else if (strcmp(kw, "metrics") == 0) {
		parse_metrics(p, cf, v);
	} else if (strcmp(kw, "xclient_from") == 0) {
		/* The proxies that may send XCLIENT (xclient.c). */
		if (cf->nxclient_from >= CONFIG_XCLIENT_FROM_MAX)
			perr(p, "too many xclient_from lines (at most %d)",
			    CONFIG_XCLIENT_FROM_MAX);
		else if (config_parse_cidr(v, &cf->xclient_from[cf->nxclient_from]) == -1)
			perr(p, "\"%s\": expected ADDRESS or ADDRESS/BITS", v);
		else
			cf->nxclient_from++;
	} else if (strcmp(kw, "milter") == 0 || strcmp(kw, "milter_failure") == 0) {
		parse_milter(p, cf, kw, v);
	} else if (strcmp(kw, "proxy_from") == 0) {
		if (cf->nproxy_from >= CONFIG_PROXY_FROM_MAX)
			perr(p, "too many proxy_from lines (at most %d)", CONFIG_PROXY_FROM_MAX);
		else if (config_parse_cidr(v, &cf->proxy_from[cf->nproxy_from]) == -1)
			perr(p, "\"%s\": expected ADDRESS or ADDRESS/BITS", v);
		else
			cf->nproxy_from++;
	} else
		perr(p, "unknown keyword \"%s\"", kw);
}

void
config_clear(struct config *cf)
{
	memset(cf, 0, sizeof *cf);
	cf->max_message_size = DEF_MAX_MESSAGE_SIZE;
	cf->max_recipients = DEF_MAX_RECIPIENTS;
	cf->max_clients = DEF_MAX_CLIENTS;
	cf->max_clients_per_ip = DEF_MAX_CLIENTS_PER_IP;
	cf->max_errors = DEF_MAX_ERRORS;
	cf->max_junk_commands = DEF_MAX_JUNK_COMMANDS;
	cf->timeout = DEF_TIMEOUT;
	cf->data_timeout = DEF_TIMEOUT;		/* follows timeout unless given */
	cf->transaction_timeout = DEF_TRANSACTION_TIMEOUT;
	cf->greeting_delay = 0;
	cf->bare_newline = BARE_NEWLINE_REJECT;
	cf->recipient_delimiter = 0;
	cf->fsync = 1;
	cf->dnsbl_threshold = DEF_DNSBL_THRESHOLD;
	cf->dns_timeout = DEF_DNS_TIMEOUT;
	cf->error_delay = DEF_ERROR_DELAY;
	cf->policy_timeout = DEF_POLICY_TIMEOUT;
	cf->policy_failure = POLICY_FAILURE_DEFER;
	cf->milter_timeout = DEF_MILTER_TIMEOUT;
	cf->milter_failure = MILTER_FAILURE_TEMPFAIL;
}

int
config_parse(FILE *fp, const char *fname, struct config *cf, FILE *err)
{
	return parse_file(fp, fname, NULL, cf, err);
}

/* parse_lines - every directive of fp, as file p->fname. */
static void
parse_lines(struct parse_ctx *p, FILE *fp, struct config *cf)
{
	char		 line[CONFIG_LINE_MAX + 1];
	int		 toolong, nul;

	while (read_line(fp, line, sizeof line, &toolong, &nul)) {
		size_t	 len;
		char	*kw, *v, *end;

		p->line++;
		if (toolong) {
			perr(p, "line too long (at most %d characters)", CONFIG_LINE_MAX);
			continue;
		}
		if (nul) {
			perr(p, "NUL byte in line");
			continue;
		}
		if ((end = strchr(line, '#')) != NULL)
			*end = '\0';
		len = strlen(line);
		while (len > 0 && strchr(" \t\r\n", line[len - 1]))
			line[--len] = '\0';
		kw = line + strspn(line, " \t");
		if (*kw == '\0')
			continue;
		v = kw + strcspn(kw, " \t");
		if (*v != '\0') {
			*v++ = '\0';
			v += strspn(v, " \t");
		}
		for (end = v; *end; end++)
			if (*end == '\t')
				*end = ' ';
		config_directive(p, cf, kw, v);
	}
	if (ferror(fp))
		perr(p, "read error");
}

/* parse_alias - "SOURCE TARGET..." (targets split by spaces or commas). */
static void
parse_alias(struct parse_ctx *p, struct config *cf, char *v)
{
	struct config_alias *al = NULL, *n;
	char	*src, *t, *save = NULL, *at, where[1100];
	int	 i;

	buf_lower(v);
	src = strtok_r(v, " ,", &save);
	if (src == NULL || (at = strrchr(src, '@')) == NULL ||
	    !smtpaddr_valid_domain(at + 1, strlen(at + 1), 1) ||
	    (size_t)(at - src) > SMTP_LOCALPART_MAX) {
		perr(p, "alias \"%s\": expected LOCAL@DOMAIN or @DOMAIN, then targets",
		    src ? src : "");
		return;
	}
	for (i = 0; i < cf->naliases; i++)
		if (strcmp(cf->aliases[i].source, src) == 0)
			al = &cf->aliases[i];	/* a second line adds targets */
	if (al == NULL) {
		if (cf->naliases >= CONFIG_LIST_MAX) {
			perr(p, "too many aliases (at most %d)", CONFIG_LIST_MAX);
			return;
		}
		n = realloc(cf->aliases, (size_t)(cf->naliases + 1) * sizeof *n);
		if (n == NULL) {
			perr(p, "out of memory");
			return;
		}
		cf->aliases = n;
		al = &n[cf->naliases];
		memset(al, 0, sizeof *al);
		snprintf(where, sizeof where, "%s:%d", p->fname, p->line);
		if ((al->source = strdup(src)) == NULL || (al->where = strdup(where)) == NULL) {
			free(al->source);
			perr(p, "out of memory");
			return;
		}
		cf->naliases++;
	}
	while ((t = strtok_r(NULL, " ,", &save)) != NULL) {
		at = strrchr(t, '@');
		if (at == NULL || at == t || (size_t)(at - t) > SMTP_LOCALPART_MAX ||
		    !smtpaddr_valid_domain(at + 1, strlen(at + 1), 1)) {
			perr(p, "alias %s: target \"%s\": expected LOCAL@DOMAIN", al->source, t);
			continue;
		}
		list_add(p, &al->raw, &al->nraw, t, CONFIG_LIST_MAX);
	}
	if (al->nraw == 0)
		perr(p, "alias %s: no target", al->source);
}

/* parse_include - read another file's directives here; a relative path
 * is taken from the including file's directory. */
static void
parse_include(struct parse_ctx *p, struct config *cf, const char *v)
{
	const char *saved = p->fname, *slash = strrchr(p->fname, '/');
	int	 line = p->line, n;
	char	 path[1024];
	struct stat st;
	FILE	*fp;

	if (p->depth >= CONFIG_INCLUDE_DEPTH) {
		perr(p, "include %s: files included more than %d deep", v,
		    CONFIG_INCLUDE_DEPTH);
		return;
	}
	if (v[0] == '/' || slash == NULL)
		n = snprintf(path, sizeof path, "%s", v);
	else
		n = snprintf(path, sizeof path, "%.*s/%s", (int)(slash - p->fname),
		    p->fname, v);
	if (n < 0 || (size_t)n >= sizeof path) {
		perr(p, "include %s: path too long", v);
		return;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		perr(p, "include %s: %s", path, strerror(errno));
		return;
	}
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode)) {
		perr(p, "include %s: %s", path, S_ISDIR(st.st_mode) ?
		    "is a directory" : "not a regular file");
		fclose(fp);
		return;
	}
	p->depth++;
	p->fname = path;
	p->line = 0;
	parse_lines(p, fp, cf);
	if (ferror(fp))
		perr(p, "read error");
	fclose(fp);
	p->fname = saved;
	p->line = line;
	p->depth--;
}

/* parse_file - config_parse, with what opts says of the running daemon. */
static int
parse_file(FILE *fp, const char *fname, const struct config_opts *opts,
    struct config *cf, FILE *err)
{
	static const struct config_opts none;
	struct parse_ctx p;

	memset(&p, 0, sizeof p);
	p.opts = opts != NULL ? opts : &none;
	p.fname = fname;
	p.err = err;
	config_clear(cf);
	buf_copy(cf->file, sizeof cf->file, fname);

	parse_lines(&p, fp, cf);

	/* Whole-file checks, reported at the last line. */
	if (cf->nlisten == 0 && !p.opts->inherited && !p.bad_listen)
		perr(&p, "no listen line (needed unless the service manager "
		    "passes listening sockets)");
	if (cf->ndomains == 0)
		perr(&p, "no domain line: nothing would be accepted");
	if (!(p.seen & (1u << K_MAILDIR)))
		perr(&p, "no maildir line");
	for (int i = 0; i < cf->nmailboxes; i++) {
		const char *d = strrchr(cf->mailboxes[i], '@') + 1;
		if (!config_has_domain(cf, d))
			perr(&p, "mailbox %s: domain %s has no domain line",
			    cf->mailboxes[i], d);
	}
	if (!(p.seen & (1u << K_DATATIMEOUT)))
		cf->data_timeout = cf->timeout;
	for (int i = 0; i < cf->nlisten && err != NULL; i++)
		if (cf->listen[i].proxy && cf->nproxy_from == 0)
			fprintf(err, "%s: warning: listen %s:%u proxy: no proxy_from "
			    "line, every PROXY header there will be refused\n",
			    fname, cf->listen[i].host, cf->listen[i].port);
	if (p.errors == 0 && config_index_build(cf, err) == -1)
		return -1;
	return p.errors ? -1 : 0;
}

struct config *
config_load(const char *path, const struct config_opts *opts, FILE *err)
{
	struct config	*cf;
	struct stat	 st;
	FILE		*fp;

	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(err, "%s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
		fprintf(err, "%s: is a directory\n", path);
		fclose(fp);
		return NULL;
	}
	if ((cf = malloc(sizeof *cf)) == NULL) {
		fclose(fp);
		fprintf(err, "%s: out of memory\n", path);
		return NULL;
	}
	if (parse_file(fp, path, opts, cf, err) == -1) {
		fclose(fp);
		config_free(cf);
		return NULL;
	}
	fclose(fp);
	return cf;
}

void
config_empty(struct config *cf)
{
	int	i;

	for (i = 0; i < cf->ndomains; i++)
		free(cf->domains[i]);
	for (i = 0; i < cf->nmailboxes; i++)
		free(cf->mailboxes[i]);
	for (i = 0; i < cf->naliases; i++) {
		struct config_alias *al = &cf->aliases[i];
		for (int k = 0; k < al->nraw; k++)
			free(al->raw[k]);
		for (int k = 0; k < al->ntargets; k++)
			free(al->targets[k]);
		free(al->raw);
		free(al->targets);
		free(al->source);
		free(al->where);
	}
	config_index_free(cf);
	free(cf->aliases);
	free(cf->domains);
	free(cf->mailboxes);
	config_clear(cf);
}

void
config_free(struct config *cf)
{
	if (cf == NULL)
		return;
	config_empty(cf);
	free(cf);
}
