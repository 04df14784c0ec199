/*
 * smtpaddr.c - MAIL FROM / RCPT TO paths and their parameters. Pure.
 * Owns: RFC 5321 4.1.2 syntax (Path, Mailbox, Local-part, Domain,
 * address literals), the 4.5.3.1 length limits, RFC 6531 UTF-8 checks.
 * Not here: whether a recipient is ours (session.c), file names (maildir.c).
 */
#include <arpa/inet.h>
#include <string.h>

#include "buf.h"
#include "smtpaddr.h"

static int	is_atext(unsigned char, int);
static int	valid_literal(const char *, size_t);

/* RFC 5322 3.2.3 atext, plus any UTF-8 byte under RFC 6531. */
static int
is_atext(unsigned char c, int utf8)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	if (c >= 0x80)
		return utf8;
	return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

int
smtpaddr_valid_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t	i = 0, n;

	while (i < len) {
		if ((n = buf_utf8_len(p + i, len - i)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

/* valid_literal - "[1.2.3.4]", "[IPv6:...]" or "[tag:text]" (4.1.3). */
static int
valid_literal(const char *s, size_t len)
{
	char	buf[SMTP_DOMAIN_MAX + 1];
	unsigned char addr[16];
	size_t	i, colon;

	if (len < 3 || s[0] != '[' || s[len - 1] != ']' || len > SMTP_DOMAIN_MAX)
		return 0;
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, addr) == 1;
	if (inet_pton(AF_INET, buf, addr) == 1)
		return 1;
	/* General-address-literal: Standardized-tag ":" 1*dcontent, the
	 * tag an Ldh-str: letters and digits, inner hyphens. */
	colon = strcspn(buf, ":");
	if (colon == 0 || buf[colon] == '\0' || buf[colon + 1] == '\0' ||
	    buf[0] == '-' || buf[colon - 1] == '-')
		return 0;
	for (i = 0; i < colon; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	for (i = colon + 1; buf[i]; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\')
			return 0;
	}
	return 1;
}

int
smtpaddr_valid_domain(const char *s, size_t len, int utf8)
{
	size_t	i, label = 0;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return 0;
	if (s[0] == '[')
		return valid_literal(s, len);
	if (utf8 && !smtpaddr_valid_utf8(s, len))
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			/* no empty label, none ending in '-' */
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (c >= 0x80) {
			if (!utf8)
				return 0;
		} else if (c == '-') {
			if (label == 0)
				return 0;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9')))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[len - 1] != '-';
}

/*
 * parse_local - Dot-string or Quoted-string at s; fills a->local (as
 * written) and a->local_plain (unquoted). Returns bytes used or 0.
 */
static size_t
parse_local(const char *s, int utf8, struct smtpaddr *a)
{
	size_t	i = 0, o = 0, w;

	if (s[0] == '"') {
		for (i = 1; s[i] != '"'; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c == '\\') {
				c = (unsigned char)s[++i];
				if (c < 32 || c > 126)
					return 0;
			} else if (c >= 0x80) {
				if (!utf8)
					return 0;
			} else if (c < 32 || c > 126)
				return 0;
			if (o >= SMTP_LOCALPART_MAX)
				return 0;
			a->local_plain[o++] = (char)c;
		}
		i++;
	} else {
		int	dot_ok = 0;
		for (; s[i] != '\0' && s[i] != '@' && s[i] != '>'; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c == '.') {
				if (!dot_ok)
					return 0;
				dot_ok = 0;
			} else if (is_atext(c, utf8))
				dot_ok = 1;
			else
				return 0;
			if (o >= SMTP_LOCALPART_MAX)
				return 0;
			a->local_plain[o++] = (char)c;
		}
		if (!dot_ok)	/* empty, or ends in '.' */
			return 0;
	}
	a->local_plain[o] = '\0';
	if (!smtpaddr_valid_utf8(a->local_plain, o))
		return 0;
	w = i;
	if (w >= sizeof a->local)
		return 0;
	memcpy(a->local, s, w);
	a->local[w] = '\0';
	return i;
}

int
smtpaddr_parse(const char *s, int flags, struct smtpaddr *out,
    const char **end, const char **why)
{
	const char	*p, *close;
	size_t		 n, dlen;
	int		 utf8 = (flags & SMTPADDR_UTF8) != 0;

	memset(out, 0, sizeof *out);
	*why = "Syntax error in address";
	if (s[0] != '<') {
		*why = "Address must be in angle brackets <>";
		return -1;
	}
	p = s + 1;
	if (*p == '>') {
		if (!(flags & SMTPADDR_NULL_OK)) {
			*why = "Null address not allowed here";
			return -1;
		}
		out->is_null = 1;
		*end = p + 1;
		return 0;
	}
	/* Source route "@a,@b:" (4.1.2 A-d-l): parse and ignore (C.).
	 * A route domain may be an address literal, colons and all. */
	if (*p == '@') {
		for (;;) {
			const char *d = ++p;
			if (*d == '[') {
				const char *rb = strchr(d, ']');
				if (rb == NULL)
					return -1;
				p = rb + 1;
			} else
				p += strcspn(p, ",:>");
			if (!smtpaddr_valid_domain(d, (size_t)(p - d), utf8))
				return -1;
			if (*p == ':')
				break;
			if (*p != ',' || p[1] != '@')
				return -1;
			p++;
		}
		p++;
	}
	if ((n = parse_local(p, utf8, out)) == 0) {
		*why = utf8 ? "Bad local part" :
		    "Bad local part (8-bit needs SMTPUTF8)";
		return -1;
	}
	p += n;
	if (*p == '>') {
		/* RFC 5321 4.1.1.3: "postmaster" without a domain. */
		if ((flags & SMTPADDR_POSTMASTER_OK) &&
		    strcasecmp(out->local_plain, "postmaster") == 0 &&
		    out->local[0] != '"') {
			*end = p + 1;
			return 0;
		}
		*why = "Address needs a domain";
		return -1;
	}
	if (*p != '@')
		return -1;
	p++;
	close = strchr(p, '>');
	if (close == NULL) {
		*why = "Missing closing >";
		return -1;
	}
	dlen = (size_t)(close - p);
	if (!smtpaddr_valid_domain(p, dlen, utf8)) {
		*why = "Bad domain";
		return -1;
	}
	memcpy(out->domain, p, dlen);
	out->domain[dlen] = '\0';
	out->is_literal = p[0] == '[';
	if ((size_t)(close + 1 - s) > SMTP_PATH_MAX) {
		*why = "Path too long";
		return -1;
	}
	for (const char *c = s; c <= close; c++)
		if ((unsigned char)*c >= 0x80)
			out->has_utf8 = 1;
	*end = close + 1;
	return 0;
}

int
smtpaddr_format(const struct smtpaddr *a, char *buf, size_t bufsz)
{
	size_t	ll = strlen(a->local), dl = strlen(a->domain);

	if (a->is_null) {
		if (bufsz == 0)
			return -1;
		buf[0] = '\0';
		return 0;
	}
	if (ll + 1 + dl + 1 > bufsz)
		return -1;
	memcpy(buf, a->local, ll);
	if (dl == 0) {
		buf[ll] = '\0';
		return 0;
	}
	buf[ll] = '@';
	memcpy(buf + ll + 1, a->domain, dl + 1);
	return 0;
}

int
smtpaddr_next_param(char **pp, char **key, char **value)
{
	char	*p = *pp, *eq;

	while (*p == ' ')
		p++;
	if (*p == '\0') {
		*pp = p;
		return 0;
	}
	*key = p;
	p += strcspn(p, " ");
	if (*p != '\0')
		*p++ = '\0';
	*pp = p;
	if ((eq = strchr(*key, '=')) != NULL) {
		*eq = '\0';
		*value = eq + 1;
		if (**value == '\0')
			return -1;
	} else
		*value = NULL;
	if (!((**key >= 'a' && **key <= 'z') || (**key >= 'A' && **key <= 'Z') ||
	    (**key >= '0' && **key <= '9')))
		return -1;	/* esmtp-keyword: (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
	for (char *k = *key; *k; k++) {
		unsigned char c = (unsigned char)*k;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return -1;
	}
	if (*value != NULL)
		for (char *v = *value; *v; v++) {
			unsigned char c = (unsigned char)*v;
			/* esmtp-value: %d33-60 / %d62-126, UTF-8 for RFC 6531 */
			if (c < 33 || c == '=' || c == 127)
				return -1;
		}
	if (*value != NULL && !smtpaddr_valid_utf8(*value, strlen(*value)))
		return -1;
	return 1;
}
