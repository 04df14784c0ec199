/*
 * proxy.c - the PROXY protocol header a load balancer sends first.
 * Owns: parsing versions 1 (text) and 2 (binary), and the proxy_from
 * check that decides who may speak it.
 * Not here: the SMTP session that follows (session.c).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"
#include "sockaddr.h"

/* Address block plus TLVs we are willing to buffer (the specification
 * suggests 536 bytes of header in all for what fits one segment). */
#define PROXY_V2_ADDR_MAX	536

static const unsigned char proxy_v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* parse_port - decimal 0..65535 without sign or leading zero games. */
static int
parse_port(const char *s, uint16_t *out)
{
	char	*end;
	long	 v;

	if (*s < '0' || *s > '9' || strlen(s) > 5 || (s[0] == '0' && s[1] != '\0'))
		return -1;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v > 65535)
		return -1;
	*out = htons((uint16_t)v);
	return 0;
}

static int
parse_v1(const char *buf, size_t len, struct sockaddr_storage *real,
    const char **why)
{
	char	 line[PROXY_V1_MAX + 1], *f[7], *p;
	const char *crlf;
	size_t	 n;
	int	 i, nf;

	crlf = memchr(buf, '\n', len < PROXY_V1_MAX ? len : PROXY_V1_MAX);
	if (crlf == NULL) {
		if (len >= PROXY_V1_MAX) {
			*why = "PROXY v1 line too long";
			return -1;
		}
		return 0;
	}
	n = (size_t)(crlf - buf) + 1;
	if (n < 2 || buf[n - 2] != '\r') {
		*why = "PROXY v1 line must end in CRLF";
		return -1;
	}
	memcpy(line, buf, n - 2);
	line[n - 2] = '\0';
	memset(real, 0, sizeof *real);
	/* Fields are separated by exactly one space. */
	nf = 0;
	for (p = line; nf < 7; ) {
		f[nf++] = p;
		if ((p = strchr(p, ' ')) == NULL)
			break;
		*p++ = '\0';
	}
	for (i = 0; i < nf; i++)
		if (*f[i] == '\0') {
			*why = "PROXY v1: empty field";
			return -1;
		}
	if (nf >= 2 && strcmp(f[1], "UNKNOWN") == 0) {
		/* The rest of the line may be anything (specification 2.1). */
		real->ss_family = AF_UNSPEC;
		return (int)n;
	}
	if (nf != 6) {
		*why = "PROXY v1: wrong number of fields";
		return -1;
	}
	if (strcmp(f[1], "TCP4") == 0) {
		struct sockaddr_in *sin = (struct sockaddr_in *)real;
		struct in_addr dst;
		sin->sin_family = AF_INET;
		if (inet_pton(AF_INET, f[2], &sin->sin_addr) != 1 ||
		    inet_pton(AF_INET, f[3], &dst) != 1 ||
		    parse_port(f[4], &sin->sin_port) == -1) {
			*why = "PROXY v1: bad TCP4 address";
			return -1;
		}
	} else if (strcmp(f[1], "TCP6") == 0) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)real;
		struct in6_addr dst;
		sin6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, f[2], &sin6->sin6_addr) != 1 ||
		    inet_pton(AF_INET6, f[3], &dst) != 1 ||
		    parse_port(f[4], &sin6->sin6_port) == -1) {
			*why = "PROXY v1: bad TCP6 address";
			return -1;
		}
	} else {
		*why = "PROXY v1: unknown protocol";
		return -1;
	}
	{
		uint16_t dport;
		if (parse_port(f[5], &dport) == -1) {
			*why = "PROXY v1: bad port";
			return -1;
		}
	}
	return (int)n;
}

static int
parse_v2(const unsigned char *b, size_t len, struct sockaddr_storage *real,
    const char **why)
{
	size_t	alen, total;

	if (len < 16)
		return 0;
	if ((b[12] >> 4) != 2) {
		*why = "PROXY v2: bad version";
		return -1;
	}
	alen = ((size_t)b[14] << 8) | b[15];
	total = 16 + alen;
	if (alen > PROXY_V2_ADDR_MAX) {
		/* Judged on the fixed part alone: the same answer however
		 * the header is cut into segments. */
		*why = "PROXY v2: header too long";
		return -1;
	}
	if (len < total)
		return 0;
	memset(real, 0, sizeof *real);
	if ((b[12] & 0x0f) == 0x00) {		/* LOCAL: a health check */
		real->ss_family = AF_UNSPEC;
		return (int)total;
	}
	if ((b[12] & 0x0f) != 0x01) {
		*why = "PROXY v2: bad command";
		return -1;
	}
	switch (b[13]) {
	case 0x11: {			/* TCP over IPv4 */
		struct sockaddr_in *sin = (struct sockaddr_in *)real;
		if (alen < 12)
			goto shortaddr;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, b + 16, 4);
		memcpy(&sin->sin_port, b + 24, 2);
		break;
	}
	case 0x21: {			/* TCP over IPv6 */
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)real;
		if (alen < 36)
			goto shortaddr;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, b + 16, 16);
		memcpy(&sin6->sin6_port, b + 48, 2);
		break;
	}
	case 0x00:
		real->ss_family = AF_UNSPEC;
		break;
	default:
		*why = "PROXY v2: unsupported address family";
		return -1;
	}
	return (int)total;
shortaddr:
	*why = "PROXY v2: address block too short";
	return -1;
}

int
proxy_parse(const char *buf, size_t len, struct sockaddr_storage *real,
    const char **why)
{
	size_t	n = len < 12 ? len : 12;

	*why = "not a PROXY header";
	if (memcmp(buf, proxy_v2_sig, n) == 0)
		return len < 12 ? 0 : parse_v2((const unsigned char *)buf, len, real, why);
	n = len < 6 ? len : 6;
	if (memcmp(buf, "PROXY ", n) == 0)
		return len < 6 ? 0 : parse_v1(buf, len, real, why);
	return -1;
}

/* peer_allowed - is the socket's peer listed in proxy_from? */
static int
peer_allowed(const struct config *cf, const struct sockaddr_storage *ss)
{
	unsigned char a[16];
	int	fam = sockaddr_key(ss, a), i;

	if (fam == AF_UNSPEC)
		return 0;
	for (i = 0; i < cf->nproxy_from; i++)
		if (config_cidr_match(&cf->proxy_from[i], fam, a))
			return 1;
	return 0;
}

int
proxy_read(struct linebuf *lb, const struct config *cf,
    struct sockaddr_storage *addr, int timeout_ms, const char **why)
{
	struct sockaddr_storage real;
	time_t	deadline = linebuf_now() + timeout_ms / 1000 + 1;
	int	n;

	if (!peer_allowed(cf, addr)) {
		*why = "peer not listed in proxy_from";
		return -1;
	}
	for (;;) {
		{
			size_t avail;
			const char *p = linebuf_peek(lb, &avail);
			n = proxy_parse(p, avail, &real, why);
		}
		if (n == -1)
			return -1;
		if (n > 0)
			break;
		if (linebuf_fill(lb, timeout_ms, deadline, 0) != LB_OK) {
			*why = "no PROXY header before timeout or close";
			return -1;
		}
	}
	if (real.ss_family != AF_UNSPEC)
		*addr = real;
	/* Exactly the header: what follows is the client's. */
	linebuf_consume(lb, (size_t)n);
	return 0;
}
