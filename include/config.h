/*
 * config.h - the parsed form of smtpd.conf.
 * After config_load() succeeds the struct is read-only and shared by all
 * threads; reloads build a new one and swap it. listener.c owns the
 * lifetime of a config in force (it counts the sessions using it).
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdio.h>
#include <stdint.h>
#include <netinet/in.h>
#include "dnsbl.h"
#include "filterconn.h"
#include "smtpd.h"

#define CONFIG_LISTEN_MAX	16
#define CONFIG_PROXY_FROM_MAX	32
#define CONFIG_DNSBL_MAX	32	/* dnsbl lines */
#define CONFIG_ALLOW_MAX	256	/* allow lines */
#define CONFIG_POLICY_MAX	8	/* policy_server lines */
#define CONFIG_XCLIENT_FROM_MAX	32	/* xclient_from lines */
#define CONFIG_MILTER_MAX	8	/* milter lines */

struct config_listen {
	char		host[64];	/* "*", "127.0.0.1", "::1" */
	uint16_t	port;
	int		proxy;		/* expects a PROXY v1/v2 header */
};

struct config_cidr {
	int		family;		/* AF_INET or AF_INET6 */
	unsigned char	addr[16];
	int		prefix;		/* bits */
};

/* The name server of "resolver ADDR[:PORT]". */
struct config_resolver {
	int		family;		/* AF_INET, AF_INET6; 0 = the system's */
	unsigned char	addr[16];
	uint16_t	port;
};

enum config_bare_newline { BARE_NEWLINE_REJECT, BARE_NEWLINE_KEEP };
/* What a milter that fails (no answer, a timeout, a protocol error)
 * makes of the session: 451 4.7.1, or going on without it. */
enum config_milter_failure { MILTER_FAILURE_TEMPFAIL, MILTER_FAILURE_ACCEPT };

/* An alias: its targets as written, then expanded (tables.c). */
struct config_alias {
	char		 *source;	/* "local@domain", "@domain" = catch-all */
	char		**raw;		/* the targets as written, lower-cased */
	int		  nraw;
	char		 *where;	/* "file:line" of its (first) line */
	char		**targets;	/* the mailboxes it reaches, "box@domain",
					 * through other aliases, once each */
	int		  ntargets;
};

#define CONFIG_ALIAS_DEPTH	8	/* aliases through aliases */
#define CONFIG_INCLUDE_DEPTH	8	/* files including files */

struct config_index;	/* hashed lookups of a loaded config (tables.c) */

struct config {
	char		 file[1024];	/* where it was read from */
	struct config_listen listen[CONFIG_LISTEN_MAX];
	int		 nlisten;
	char		 hostname[HOSTNAME_MAX + 1];	/* "" = ask the host */
	char		**domains;	/* lower-cased */
	int		 ndomains;
	char		**mailboxes;	/* "local@domain", lower-cased */
	int		 nmailboxes;
	char		 maildir[1024];	/* template with %u, %d, %%; absolute
					 * when loaded with a basedir */
	char		 spool_root[1024];	/* maildir_root() of it, made once
					 * by main.c for every config it hands
					 * to the listener */
	uint64_t	 max_message_size;	/* octets */
	int		 max_recipients;	/* 1..CONFIG_RECIPIENTS_MAX */
	int		 max_clients;
	int		 max_clients_per_ip;	/* 0 = no limit */
	int		 max_errors;
	int		 max_junk_commands;	/* NOOP, RSET, VRFY, HELP, unknown;
					 * 0 = no limit */
	int		 timeout;	/* seconds, each wait for a client line */
	int		 data_timeout;	/* seconds, each wait inside DATA */
	int		 transaction_timeout;	/* seconds, one message's data:
					 * DATA, or all its BDAT chunks */
	int		 greeting_delay;	/* seconds; 0 = greet at once */
	char		 user[64];	/* "" = keep the starting user */
	enum config_bare_newline bare_newline;
	char		 recipient_delimiter;	/* 0 = none */
	int		 extension_folders;	/* an extension names a folder */
	struct config_alias *aliases;
	int		 naliases;
	struct config_index *index;	/* NULL until config_index_build */
	int		 fsync;		/* 1 = fsync files and dirs */
	struct config_cidr proxy_from[CONFIG_PROXY_FROM_MAX];
	int		 nproxy_from;
	/* Screening (issue 18): all off unless configured. */
	struct dnsbl_list dnsbl[CONFIG_DNSBL_MAX];
	int		 ndnsbl;
	int		 dnsbl_threshold;	/* summed weight that refuses */
	struct config_resolver resolver;
	int		 dns_timeout;	/* seconds, every look-up */
	struct config_cidr allow[CONFIG_ALLOW_MAX];
	int		 nallow;
	int		 error_delay;	/* seconds before each error reply
					 * after the first; 0 = none */
	int		 max_connection_rate;	/* per client per minute; 0 = off */
	int		 max_message_rate;	/* MAIL per client per minute; 0 = off */
	int		 reverse_dns;	/* 1 = PTR, forward-confirmed */
	/* Policy servers (policy.c): none unless configured. */
	struct filter_addr policy[CONFIG_POLICY_MAX];	/* in asking order */
	int		 npolicy;
	int		 policy_timeout;	/* seconds, each request */
	int		 policy_failure;	/* POLICY_FAILURE_* */
	int		 policy_end_of_data;	/* 1 = ask at end of data too */
	/* Metrics (metrics.c): the HTTP listener of "metrics ADDR:PORT";
	 * port 0 = none. Fixed at start: a reload does not move it. */
	struct config_listen metrics;
	/* XCLIENT (xclient.c): the proxies that may name the client. */
	struct config_cidr xclient_from[CONFIG_XCLIENT_FROM_MAX];
	int		 nxclient_from;
	/* Milters (milter.c): none unless configured, asked in order. */
	struct filter_addr milters[CONFIG_MILTER_MAX];
	int		 nmilters;
	int		 milter_timeout;	/* seconds, each wait for a filter */
	enum config_milter_failure milter_failure;
};

/* Defaults, next to their keywords (config.c documents each). */
#define DEF_MAX_MESSAGE_SIZE	(10ULL * 1024 * 1024)
#define DEF_MAX_RECIPIENTS	100	/* RFC 5321 4.5.3.1.8 minimum */
/* Each recipient's copy is an open file while DATA is read: a bound the
 * open-file limit (raised at start-up) always has room for. */
#define CONFIG_RECIPIENTS_MAX	1000
#define DEF_MAX_CLIENTS		1000
#define DEF_MAX_CLIENTS_PER_IP	50	/* Postfix's smtpd_client_connection_count_limit */
#define DEF_MAX_ERRORS		20
#define DEF_MAX_JUNK_COMMANDS	100
#define DEF_TIMEOUT		300	/* RFC 5321 4.5.3.2.7: 5 minutes */
#define DEF_TRANSACTION_TIMEOUT	3600
#define DEF_DNSBL_THRESHOLD	1
#define DEF_DNS_TIMEOUT		5
#define DEF_ERROR_DELAY		0	/* Postfix's smtpd_error_sleep_time is 1s */
#define DEF_RESOLVER_PORT	53
#define DEF_POLICY_TIMEOUT	10
/* policy_failure: what a server that cannot answer sensibly means. */
#define POLICY_FAILURE_DEFER	0	/* 451 4.3.5 (the default) */
#define POLICY_FAILURE_DUNNO	1	/* as if it had no opinion */
#define DEF_MILTER_TIMEOUT	30	/* Postfix's milter_*_timeout are 30s..300s */

/*
 * config_clear - zero cf and set every default; its lists must be empty
 * (a fresh struct) or already freed.
 */
void	config_clear(struct config *cf);
/*
 * What loading takes from the running daemon, so that every check is made
 * while loading (smtpd -n makes the same ones) and none is left for later.
 */
struct config_opts {
	const char	*basedir;	/* a relative maildir template starts
					 * here (a daemon runs from "/");
					 * NULL leaves it relative */
	int		 inherited;	/* listening sockets come from the
					 * service manager: listen lines are
					 * optional (and not bound) */
};

/*
 * config_parse - parse text from fp (named fname in messages) into cf.
 * Each error is written to err as "file:line: message\n"; parsing goes on
 * so every error is reported. Returns 0 when valid, -1 otherwise.
 * The same as config_load's parse with no opts.
 */
int	config_parse(FILE *fp, const char *fname, struct config *cf, FILE *err);
/* config_load - open and parse a file with opts (may be NULL); returns
 * NULL after printing errors. spool_root is left empty (see main.c). */
struct config *config_load(const char *path, const struct config_opts *opts,
	    FILE *err);
void	config_free(struct config *cf);
/* config_empty - free what config_parse allocated in cf and clear it
 * (config_free of a config that is not on the heap). */
void	config_empty(struct config *cf);

/* config_has_domain - 1 if domain (any case) is one of ours. */
int	config_has_domain(const struct config *cf, const char *domain);
/* config_domain_restricted - 1 if the domain has mailbox lines. */
int	config_domain_restricted(const struct config *cf, const char *domain);
/* config_has_mailbox - 1 if local@domain (already lower-cased) is listed. */
int	config_has_mailbox(const struct config *cf, const char *local, const char *domain);
/*
 * config_index_build - check every alias (its domain ours, each target a
 * mailbox of ours or another alias, no loop, at most CONFIG_ALIAS_DEPTH
 * deep), expand it, and index domains, mailboxes and aliases for the
 * lookups below. Errors go to err as "file:line: message"; 0 or -1.
 */
int	config_index_build(struct config *cf, FILE *err);
/* config_index_free - what config_index_build made. */
void	config_index_free(struct config *cf);
/* config_alias - the alias of local@domain (both lower-cased; local ""
 * for the domain's catch-all), or NULL. */
const struct config_alias *config_alias(const struct config *cf,
	    const char *local, const char *domain);
/* config_cidr_match - 1 if the address (family, 4 or 16 bytes) is in c. */
int	config_cidr_match(const struct config_cidr *c, int family, const void *addr);
/* config_allowed - 1 if the address is in an allow line of cf. */
int	config_allowed(const struct config *cf, int family, const void *addr);
/* config_parse_cidr - "192.0.2.0/24", "::1", ...; 0 or -1. */
int	config_parse_cidr(const char *s, struct config_cidr *out);

#endif
