/*
 * dnsbl.h - DNS block/allow lists: the "dnsbl" directive's spec, the
 * answer filter, query names (RFC 5782) and DNS answer parsing.
 */
#ifndef DNSBL_H
#define DNSBL_H

#include <stddef.h>
#include <stdint.h>

#define DNSBL_ZONE_MAX		253	/* a domain name's text, RFC 1035 */
#define DNSBL_ANSWERS_MAX	16	/* patterns in one =ANSWERS */
#define DNSBL_WEIGHT_MIN	(-1000)
#define DNSBL_WEIGHT_MAX	1000
#define DNSBL_SPEC_MAX		(DNSBL_ZONE_MAX + 1 + DNSBL_ANSWERS_MAX * 40 + 8)

/* One answer pattern: octet i matches lo[i]..hi[i]. */
struct dnsbl_pattern {
	unsigned char	lo[4], hi[4];
};

/* One "dnsbl ZONE[=ANSWERS][*WEIGHT]" line. */
struct dnsbl_list {
	char		zone[DNSBL_ZONE_MAX + 1];	/* lower-cased, no final dot */
	struct dnsbl_pattern answers[DNSBL_ANSWERS_MAX];
	int		nanswers;	/* 0 = any 127.0.0.0/8 but 127.255.255.0/24 */
	int		weight;		/* may be negative: an allow list */
};

/*
 * dnsbl_parse_spec - "zen.spamhaus.org=127.0.0.[2..11],127.0.0.20*3"
 * into out (postscreen's syntax). Pure. 0, or -1 with *why set.
 */
int	dnsbl_parse_spec(const char *s, struct dnsbl_list *out, const char **why);
/* dnsbl_format_spec - the spec text of l (parses back into l); 0 or -1. */
int	dnsbl_format_spec(const struct dnsbl_list *l, char *buf, size_t size);
/* dnsbl_refusal - 1 if a is in 127.255.255.0/24: the list refusing the
 * query (Spamhaus to public resolvers), never a listing. */
int	dnsbl_refusal(const unsigned char a[4]);
/* dnsbl_match - 1 if answer a counts as a listing on l. */
int	dnsbl_match(const struct dnsbl_list *l, const unsigned char a[4]);

#endif
