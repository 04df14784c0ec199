/*
 * xclient.c - the XCLIENT command of Postfix's XCLIENT_README, by which
 * a proxy in front (nginx's mail proxy terminating STARTTLS) names the
 * client it serves: its address, port, host name, HELO name, protocol,
 * login, and the address and port it was connected to.
 * Owns: the syntax of the command (attribute=xtext pairs, RFC 3461 4
 * xtext, [UNAVAILABLE]/[TEMPUNAVAIL], the IPV6: prefix), what each value
 * may hold, and who may send it (xclient_from).
 * Not here: the session starting over for the named client (session.c:
 * cmd_xclient), counting it (listener.c's admit hook).
 * Threads: pure functions.
 *
 * Every value comes from the proxy, and through it partly from the
 * client (the HELO name): each is bounded, decoded strictly and checked
 * for what it is (a host name, an address, a port, one printable word)
 * before anything else sees it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "smtpaddr.h"
#include "xclient.h"

#define UNAVAILABLE	"[UNAVAILABLE]"
#define TEMPUNAVAIL	"[TEMPUNAVAIL]"

static const struct attribute {
	const char	*name;
	unsigned	 bit;
	const char	*bad;		/* the 501 text of a bad value */
} attributes[] = {
	{ "NAME", XCLIENT_NAME, "Bad NAME syntax" },
	{ "ADDR", XCLIENT_ADDR, "Bad ADDR syntax" },
	{ "PORT", XCLIENT_PORT, "Bad PORT syntax" },
	{ "HELO", XCLIENT_HELO, "Bad HELO syntax" },
	{ "PROTO", XCLIENT_PROTO, "Bad PROTO syntax" },
	{ "LOGIN", XCLIENT_LOGIN, "Bad LOGIN syntax" },
	{ "DESTADDR", XCLIENT_DESTADDR, "Bad DESTADDR syntax" },
	{ "DESTPORT", XCLIENT_DESTPORT, "Bad DESTPORT syntax" },
};

/* hexval - the value of hex digit c, or -1. */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')	/* RFC 3461 says upper case; be kind */
		return c - 'a' + 10;
	return -1;
}

int
xclient_xtext(const char *in, size_t len, char *out, size_t size)
{
	size_t	i, n = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int	 hi, lo;

		if (c == '+') {
			if (len - i < 3 || (hi = hexval(in[i + 1])) < 0 ||
			    (lo = hexval(in[i + 2])) < 0 || (hi == 0 && lo == 0))
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (c < 33 || c > 126 || c == '=')
			return -1;
		if (n + 1 >= size)
			return -1;
		out[n++] = (char)c;
	}
	if (size == 0)
		return -1;
	out[n] = '\0';
	return (int)n;
}

/* parse_addr - "192.0.2.1" or "IPV6:2001:db8::1" (prefix in any case)
 * into ss (port 0), or [UNAVAILABLE] (family AF_UNSPEC); 0 or -1. */
static int
parse_addr(const char *v, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)(void *)ss;

	memset(ss, 0, sizeof *ss);
	if (strcasecmp(v, UNAVAILABLE) == 0) {
		ss->ss_family = AF_UNSPEC;
		return 0;
	}
	if (strncasecmp(v, "IPV6:", 5) == 0) {
		if (inet_pton(AF_INET6, v + 5, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	if (inet_pton(AF_INET, v, &sin->sin_addr) != 1)
		return -1;
	sin->sin_family = AF_INET;
	return 0;
}

/* parse_port - decimal 0..65535, or [UNAVAILABLE] (-1); 0 or -1. */
static int
parse_port(const char *v, int *port)
{
	size_t	i, n = strlen(v);
	long	p = 0;

	if (strcasecmp(v, UNAVAILABLE) == 0) {
		*port = -1;
		return 0;
	}
	if (n == 0 || n > 5)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		p = p * 10 + (v[i] - '0');
	}
	if (p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

/* printable_word - 1 if v is one word of printable characters: no
 * space or control, well-formed UTF-8 (a HELO name, as valid_helo in
 * session.c). */
static int
printable_word(const char *v, int spaces)
{
	const unsigned char *p;

	for (p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (*p == ' ' && !spaces))
			return 0;
	return smtpaddr_valid_utf8(v, strlen(v));
}

/* set_value - the decoded value v of attribute a into x; 0 or -1. */
static int
set_value(const struct attribute *a, const char *v, struct xclient *x)
{
	size_t	len = strlen(v);

	switch (a->bit) {
	case XCLIENT_NAME:
		x->name[0] = '\0';
		x->name_temp = strcasecmp(v, TEMPUNAVAIL) == 0;
		if (x->name_temp || strcasecmp(v, UNAVAILABLE) == 0)
			return 0;
		/* A host name, not an address literal. */
		if (v[0] == '[' || !smtpaddr_valid_domain(v, len, 0))
			return -1;
		memcpy(x->name, v, len + 1);
		return 0;
	case XCLIENT_ADDR:
		return parse_addr(v, &x->addr);
	case XCLIENT_PORT:
		return parse_port(v, &x->port);
	case XCLIENT_HELO:
		x->helo[0] = '\0';
		if (strcasecmp(v, UNAVAILABLE) == 0)
			return 0;
		if (len == 0 || !printable_word(v, 0))
			return -1;
		memcpy(x->helo, v, len + 1);
		return 0;
	case XCLIENT_PROTO:
		if (strcasecmp(v, "ESMTP") == 0)
			x->esmtp = 1;
		else if (strcasecmp(v, "SMTP") == 0)
			x->esmtp = 0;
		else
			return -1;
		return 0;
	case XCLIENT_LOGIN:
		/* Only logged: any printable text, spaces too. */
		x->login[0] = '\0';
		if (strcasecmp(v, UNAVAILABLE) == 0)
			return 0;
		if (!printable_word(v, 1))
			return -1;
		memcpy(x->login, v, len + 1);
		return 0;
	case XCLIENT_DESTADDR:
		return parse_addr(v, &x->destaddr);
	case XCLIENT_DESTPORT:
		return parse_port(v, &x->destport);
	}
	return -1;
}

int
xclient_parse(const char *args, struct xclient *x, const char **why)
{
	char	 value[XCLIENT_VALUE_MAX + 1];
	const char *p = args, *eq, *end;
	size_t	 i, nlen;

	memset(x, 0, sizeof *x);
	x->port = x->destport = -1;
	x->addr.ss_family = x->destaddr.ss_family = AF_UNSPEC;
	while (*p == ' ')
		p++;
	if (*p == '\0') {
		*why = "Syntax: XCLIENT attribute=value...";
		return -1;
	}
	while (*p != '\0') {
		const struct attribute *a = NULL;

		end = p + strcspn(p, " ");
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL || eq == p || eq + 1 == end) {
			*why = "Error: attribute=value expected";
			return -1;
		}
		nlen = (size_t)(eq - p);
		for (i = 0; i < sizeof attributes / sizeof attributes[0]; i++)
			if (strlen(attributes[i].name) == nlen &&
			    strncasecmp(p, attributes[i].name, nlen) == 0)
				a = &attributes[i];
		if (a == NULL) {
			*why = "Bad XCLIENT attribute name";
			return -1;
		}
		if ((size_t)(end - eq - 1) > XCLIENT_VALUE_MAX) {
			*why = "Error: attribute value too long";
			return -1;
		}
		if (xclient_xtext(eq + 1, (size_t)(end - eq - 1), value, sizeof value) == -1) {
			*why = "Error: attribute value is not xtext";
			return -1;
		}
		if (set_value(a, value, x) == -1) {
			*why = a->bad;
			return -1;
		}
		x->given |= a->bit;
		p = end;
		while (*p == ' ')
			p++;
	}
	return 0;
}

/* set_port - the port of ss (an IPv4 or IPv6 address) to port. */
static void
set_port(struct sockaddr_storage *ss, int port)
{
	uint16_t n = htons((uint16_t)(port < 0 ? 0 : port));

	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)(void *)ss)->sin_port = n;
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)(void *)ss)->sin6_port = n;
}

void
xclient_client(const struct xclient *x, const struct sockaddr_storage *cur,
    struct sockaddr_storage *out)
{
	if (x->given & XCLIENT_ADDR) {
		*out = x->addr;
		set_port(out, (x->given & XCLIENT_PORT) ? x->port : 0);
		return;
	}
	*out = *cur;
	if (x->given & XCLIENT_PORT)
		set_port(out, x->port);
}

int
xclient_trusted(const struct config *cf, int family, const unsigned char addr[16])
{
	for (int i = 0; i < cf->nxclient_from; i++)
		if (config_cidr_match(&cf->xclient_from[i], family, addr))
			return 1;
	return 0;
}
