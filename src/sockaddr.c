/*
 * sockaddr.c - peer addresses as text and as keys.
 * Owns: the one rule that an IPv4-mapped IPv6 address is the IPv4
 * address it carries, for logs, Received: headers, per-client counts and
 * CIDR matches alike.
 * Not here: matching (config_cidr_match), sockets (listener.c).
 * Threads: pure functions.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "sockaddr.h"

int
sockaddr_key(const struct sockaddr_storage *ss, unsigned char addr[16])
{
	memset(addr, 0, 16);
	if (ss->ss_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)(const void *)ss)->sin_addr, 4);
		return AF_INET;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memcpy(addr, &s6->sin6_addr.s6_addr[12], 4);
			return AF_INET;
		}
		memcpy(addr, &s6->sin6_addr, 16);
		return AF_INET6;
	}
	return AF_UNSPEC;
}

int
sockaddr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)ss)->sin6_port);
	return 0;
}

void
sockaddr_text(const struct sockaddr_storage *ss, char *text, size_t tsize,
    char *literal, size_t lsize)
{
	unsigned char	a[16];
	char		buf[INET6_ADDRSTRLEN];
	int		fam = sockaddr_key(ss, a);

	if (fam == AF_UNSPEC || inet_ntop(fam, a, buf, sizeof buf) == NULL) {
		if (text != NULL)
			buf_copy(text, tsize, "local");
		if (literal != NULL)
			buf_copy(literal, lsize, "[local]");
		return;
	}
	if (text != NULL)
		buf_copy(text, tsize, buf);
	if (literal != NULL)
		snprintf(literal, lsize, "[%s%s]", fam == AF_INET6 ? "IPv6:" : "", buf);
}
