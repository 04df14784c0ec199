/*
 * dns.c - DNS answer parsing and reverse names. Pure.
 * Owns: reading a response with ns_initparse/ns_parserr (libresolv,
 * part of glibc) into struct dns_answer; RFC 5782 query names.
 * Not here: sockets, timeouts and the cache (dnsquery.c).
 * Threads: none; no state. A DNS answer is untrusted input: every
 * length is checked by ns_initparse/ns_parserr or here.
 */
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "dns.h"

int
dns_parse_answer(const unsigned char *msg, size_t len, int qtype,
    struct dns_answer *out, const char **why)
{
	ns_msg	 h;
	ns_rr	 rr;
	int	 n, i;

	memset(out, 0, sizeof *out);
	if (len < NS_HFIXEDSZ || len > 65535) {
		*why = "short packet";
		return -1;
	}
	if (ns_initparse(msg, (int)len, &h) == -1) {
		*why = "malformed packet";
		return -1;
	}
	out->id = ns_msg_id(h);
	if (!ns_msg_getflag(h, ns_f_qr)) {
		*why = "not a response";
		return -1;
	}
	if (ns_msg_getflag(h, ns_f_tc)) {
		*why = "truncated";
		return -1;
	}
	out->rcode = ns_msg_getflag(h, ns_f_rcode);
	if (ns_msg_count(h, ns_s_qd) != 1 || ns_parserr(&h, ns_s_qd, 0, &rr) == -1) {
		*why = "no question";
		return -1;
	}
	if (buf_copy(out->qname, sizeof out->qname, ns_rr_name(rr)) == -1) {
		*why = "question name too long";
		return -1;
	}
	n = ns_msg_count(h, ns_s_an);
	for (i = 0; i < n; i++) {
		if (ns_parserr(&h, ns_s_an, i, &rr) == -1) {
			*why = "malformed answer record";
			return -1;
		}
		if (ns_rr_class(rr) != ns_c_in || (int)ns_rr_type(rr) != qtype)
			continue;	/* a CNAME on the way, say */
		if (qtype == ns_t_a || qtype == ns_t_aaaa) {
			unsigned sz = qtype == ns_t_a ? 4 : 16;
			if (ns_rr_rdlen(rr) != sz) {
				*why = "bad address record";
				return -1;
			}
			if (out->naddr >= DNS_ADDRS_MAX)
				continue;
			memcpy(out->addr[out->naddr++], ns_rr_rdata(rr), sz);
		} else if (qtype == ns_t_ptr) {
			if (out->ptr[0] != '\0')
				continue;
			if (dn_expand(ns_msg_base(h), ns_msg_end(h), ns_rr_rdata(rr),
			    out->ptr, sizeof out->ptr) < 0) {
				out->ptr[0] = '\0';
				*why = "bad PTR record";
				return -1;
			}
		} else
			continue;
		if (!out->has_ttl || ns_rr_ttl(rr) < out->ttl)
			out->ttl = ns_rr_ttl(rr);
		out->has_ttl = 1;
	}
	if (out->rcode == ns_r_nxdomain || (out->rcode == ns_r_noerror && !out->has_ttl)) {
		/* RFC 2308 5: a negative answer lives as long as its SOA says. */
		n = ns_msg_count(h, ns_s_ns);
		for (i = 0; i < n; i++) {
			if (ns_parserr(&h, ns_s_ns, i, &rr) == -1)
				break;
			if (ns_rr_type(rr) == ns_t_soa) {
				out->ttl = ns_rr_ttl(rr);
				out->has_ttl = 1;
				break;
			}
		}
	}
	return 0;
}

int
dns_reverse_name(int family, const unsigned char addr[16], const char *zone,
    char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t	len = 0;
	int	i;

	buf[0] = '\0';
	if (family == AF_INET) {
		if (buf_appendf(buf, size, &len, "%u.%u.%u.%u.%s", addr[3], addr[2],
		    addr[1], addr[0], zone) == -1)
			return -1;
		return 0;
	}
	if (family != AF_INET6)
		return -1;
	for (i = 15; i >= 0; i--)
		if (buf_appendf(buf, size, &len, "%c.%c.", hex[addr[i] & 15],
		    hex[addr[i] >> 4]) == -1)
			return -1;
	return buf_appendf(buf, size, &len, "%s", zone);
}
