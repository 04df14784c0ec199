/*
 * dns.h - DNS answers and query names, pure (no sockets).
 */
#ifndef DNS_H
#define DNS_H

#include <stddef.h>
#include <stdint.h>

#define DNS_NAME_MAX		1025	/* NS_MAXDNAME */
#define DNS_ADDRS_MAX		8	/* A/AAAA records kept from one answer */
#define DNS_PACKET_MAX		512	/* UDP without EDNS0 */

/* What one answer packet says. */
struct dns_answer {
	uint16_t	id;
	char		qname[DNS_NAME_MAX];	/* the question's name */
	int		rcode;		/* ns_r_noerror, ns_r_nxdomain, ... */
	int		naddr;		/* A (4 bytes) or AAAA (16) records */
	unsigned char	addr[DNS_ADDRS_MAX][16];
	char		ptr[DNS_NAME_MAX];	/* the first PTR, "" if none */
	uint32_t	ttl;		/* least TTL of the records kept, or
					 * of the SOA for a negative answer */
	int		has_ttl;
};

/*
 * dns_parse_answer - the response msg[0..len) to a question of type
 * qtype (ns_t_a, ns_t_aaaa, ns_t_ptr) into out. Only records of qtype
 * in the answer section count. 0, or -1 with *why (not a response,
 * truncated, malformed).
 */
int	dns_parse_answer(const unsigned char *msg, size_t len, int qtype,
	    struct dns_answer *out, const char **why);
/*
 * dns_reverse_name - "4.3.2.1.ZONE" for an IPv4 address, the 32 nibbles
 * of RFC 5782 2.4 for IPv6 (zone "in-addr.arpa"/"ip6.arpa" for a PTR
 * look-up). 0, or -1 if it does not fit.
 */
int	dns_reverse_name(int family, const unsigned char addr[16], const char *zone,
	    char *buf, size_t size);

#endif
