/*
 * sockaddr.h - socket addresses as smtpd sees them: one rule for
 * IPv4-mapped IPv6 addresses, used by every module that looks at a peer.
 */
#ifndef SOCKADDR_H
#define SOCKADDR_H

#include <netinet/in.h>
#include <sys/socket.h>

/*
 * sockaddr_key - the address bytes of ss: an IPv4-mapped IPv6 address is
 * IPv4. Fills addr[16] (IPv4 in the first 4 bytes, the rest zero) and
 * returns AF_INET or AF_INET6, or AF_UNSPEC (addr all zero) for anything
 * else.
 */
int	sockaddr_key(const struct sockaddr_storage *ss, unsigned char addr[16]);
/* sockaddr_port - the port of ss, 0 for a family without one. */
int	sockaddr_port(const struct sockaddr_storage *ss);
/*
 * sockaddr_text - "192.0.2.1" / "2001:db8::1" into text, and the address
 * literal of RFC 5321 4.1.3, "[192.0.2.1]" / "[IPv6:2001:db8::1]", into
 * literal (either may be NULL). Unknown families read "local".
 */
void	sockaddr_text(const struct sockaddr_storage *ss, char *text, size_t tsize,
	    char *literal, size_t lsize);

#endif
