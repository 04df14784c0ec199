/*
 * dnsbl.c - DNS list specs and answers. Pure.
 * Owns: the "dnsbl ZONE[=ANSWERS][*WEIGHT]" syntax (Postfix postscreen's
 * postscreen_dnsbl_sites), the answer filter, the 127.255.255.0/24 rule.
 * Not here: sending queries (dnsquery.c), scoring a session (session.c).
 * Threads: none; no state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dnsbl.h"
#include "smtpaddr.h"

static int	parse_octet(const char **, unsigned char *, unsigned char *);
static int	parse_pattern(const char *, const char *, struct dnsbl_pattern *);

/* parse_num - 0..255 at *sp, advancing it; -1 if none or too big. */
static int
parse_num(const char **sp)
{
	const char *s = *sp;
	int	 v = 0, n = 0;

	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (*s - '0');
		if (++n > 3 || v > 255)
			return -1;
		s++;
	}
	if (n == 0)
		return -1;
	*sp = s;
	return v;
}

/* parse_octet - "N" or "[N..M]" (N <= M); 0 or -1. */
static int
parse_octet(const char **sp, unsigned char *lo, unsigned char *hi)
{
	const char *s = *sp;
	int	 a, b;

	if (*s == '[') {
		s++;
		if ((a = parse_num(&s)) == -1 || strncmp(s, "..", 2) != 0)
			return -1;
		s += 2;
		if ((b = parse_num(&s)) == -1 || *s != ']' || a > b)
			return -1;
		s++;
	} else if ((a = b = parse_num(&s)) == -1)
		return -1;
	*lo = (unsigned char)a;
	*hi = (unsigned char)b;
	*sp = s;
	return 0;
}

/* parse_pattern - one IPv4 pattern, the text [s, end). */
static int
parse_pattern(const char *s, const char *end, struct dnsbl_pattern *p)
{
	for (int i = 0; i < 4; i++) {
		if (i > 0) {
			if (s >= end || *s != '.')
				return -1;
			s++;
		}
		if (s >= end || parse_octet(&s, &p->lo[i], &p->hi[i]) == -1 || s > end)
			return -1;
	}
	return s == end ? 0 : -1;
}

int
dnsbl_parse_spec(const char *s, struct dnsbl_list *out, const char **why)
{
	const char *eq, *star, *zend, *p, *end;
	char	 *e;
	long	  w;
	size_t	  zlen;

	memset(out, 0, sizeof *out);
	out->weight = 1;
	star = strrchr(s, '*');
	end = star ? star : s + strlen(s);
	eq = memchr(s, '=', (size_t)(end - s));
	zend = eq ? eq : end;
	zlen = (size_t)(zend - s);
	if (zlen > 0 && s[zlen - 1] == '.')
		zlen--;
	if (zlen == 0) {
		*why = "expected ZONE[=ANSWERS][*WEIGHT]";
		return -1;
	}
	if (zlen > DNSBL_ZONE_MAX) {
		*why = "zone name too long";
		return -1;
	}
	memcpy(out->zone, s, zlen);
	out->zone[zlen] = '\0';
	buf_lower(out->zone);
	if (out->zone[0] == '[' || !smtpaddr_valid_domain(out->zone, zlen, 0)) {
		*why = "not a valid zone name";
		return -1;
	}
	if (eq) {
		p = eq + 1;
		for (;;) {
			const char *c = memchr(p, ',', (size_t)(end - p));
			const char *pe = c ? c : end;
			if (out->nanswers >= DNSBL_ANSWERS_MAX) {
				*why = "too many answer patterns";
				return -1;
			}
			if (parse_pattern(p, pe, &out->answers[out->nanswers]) == -1) {
				*why = "expected answers like 127.0.0.2 or 127.0.0.[2..11], "
				    "separated by commas";
				return -1;
			}
			out->nanswers++;
			if (c == NULL)
				break;
			p = c + 1;
		}
	}
	if (star) {
		p = star + 1;
		if (!((*p >= '0' && *p <= '9') || (*p == '-' && p[1] >= '0' && p[1] <= '9'))) {
			*why = "expected a weight after *";
			return -1;
		}
		w = strtol(p, &e, 10);
		if (*e != '\0') {
			*why = "expected a weight after *";
			return -1;
		}
		if (w < DNSBL_WEIGHT_MIN || w > DNSBL_WEIGHT_MAX) {
			*why = "weight out of range -1000..1000";
			return -1;
		}
		out->weight = (int)w;
	}
	return 0;
}

int
dnsbl_format_spec(const struct dnsbl_list *l, char *buf, size_t size)
{
	size_t	len = 0;

	buf[0] = '\0';
	if (buf_appendf(buf, size, &len, "%s", l->zone) == -1)
		return -1;
	for (int i = 0; i < l->nanswers; i++) {
		const struct dnsbl_pattern *p = &l->answers[i];
		if (buf_appendf(buf, size, &len, "%c", i ? ',' : '=') == -1)
			return -1;
		for (int k = 0; k < 4; k++) {
			int r = p->lo[k] == p->hi[k] ?
			    buf_appendf(buf, size, &len, "%s%u", k ? "." : "", p->lo[k]) :
			    buf_appendf(buf, size, &len, "%s[%u..%u]", k ? "." : "",
			    p->lo[k], p->hi[k]);
			if (r == -1)
				return -1;
		}
	}
	if (l->weight != 1 && buf_appendf(buf, size, &len, "*%d", l->weight) == -1)
		return -1;
	return 0;
}

int
dnsbl_refusal(const unsigned char a[4])
{
	return a[0] == 127 && a[1] == 255 && a[2] == 255;
}

int
dnsbl_match(const struct dnsbl_list *l, const unsigned char a[4])
{
	if (dnsbl_refusal(a))
		return 0;
	if (l->nanswers == 0)
		return a[0] == 127;
	for (int i = 0; i < l->nanswers; i++) {
		const struct dnsbl_pattern *p = &l->answers[i];
		int k;
		for (k = 0; k < 4; k++)
			if (a[k] < p->lo[k] || a[k] > p->hi[k])
				break;
		if (k == 4)
			return 1;
	}
	return 0;
}
