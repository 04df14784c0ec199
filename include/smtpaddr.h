/*
 * smtpaddr.h - RFC 5321 4.1.2 paths and ESMTP parameters. Pure.
 */
#ifndef SMTPADDR_H
#define SMTPADDR_H

#include <stddef.h>
#include "smtpd.h"

#define SMTPADDR_UTF8		0x01	/* SMTPUTF8 given: allow UTF-8 */
#define SMTPADDR_NULL_OK	0x02	/* "<>" allowed (MAIL FROM) */
#define SMTPADDR_POSTMASTER_OK	0x04	/* bare "<postmaster>" allowed (RCPT) */

struct smtpaddr {
	/* The local part as the client wrote it (quotes kept, for logs and
	 * Return-Path) and its unquoted content (for delivery). */
	char	local[SMTP_LOCALPART_MAX * 2 + 3];
	char	local_plain[SMTP_LOCALPART_MAX + 1];
	char	domain[SMTP_DOMAIN_MAX + 1];
	int	is_null;	/* "<>" */
	int	is_literal;	/* domain is [address literal] */
	int	has_utf8;	/* bytes above 127 appear */
};

/*
 * smtpaddr_parse - parse "<path>" at the start of s.
 * On success fills out, sets *end to the first byte after '>' and
 * returns 0. On failure returns -1 with *why set to a reply text.
 */
int	smtpaddr_parse(const char *s, int flags, struct smtpaddr *out,
	    const char **end, const char **why);

/* smtpaddr_valid_domain - 1 if s is a domain or an address literal. */
int	smtpaddr_valid_domain(const char *s, size_t len, int utf8);
/* smtpaddr_valid_utf8 - 1 if s[0..len) is well-formed UTF-8. */
int	smtpaddr_valid_utf8(const char *s, size_t len);

/* smtpaddr_format - write "local@domain" (or "" for <>) into buf. */
int	smtpaddr_format(const struct smtpaddr *a, char *buf, size_t bufsz);

/*
 * smtpaddr_next_param - split the next "KEY[=VALUE]" out of *p (space
 * separated). Returns 1 with key/value pointed into the buffer (which
 * is modified), 0 at the end, -1 on bad syntax.
 */
int	smtpaddr_next_param(char **p, char **key, char **value);

#endif
