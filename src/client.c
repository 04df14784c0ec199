/*
 * client.c - who the client of a session is, and whether it may go on.
 * Owns: the client's address as set at connect, behind PROXY or by
 * XCLIENT (client_set_peer, cmd_xclient: Postfix's XCLIENT_README), its
 * name (reverse_dns, or XCLIENT's NAME), and the screening of the
 * connection: the connection and message rates, the DNS lists and their
 * replies (421/450/554).
 * Not here: look-ups (dnsquery.c), counting (ratelimit.c), parsing
 * XCLIENT (xclient.c), the per-client connection limit (listener.c,
 * through the admit hook).
 * Threads: the session's own; the shared counters are atomics.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "dnsquery.h"
#include "milter.h"
#include "sessionint.h"
#include "sockaddr.h"
#include "xclient.h"

/*
 * client_name - the client's name: XCLIENT's NAME, or the one reverse_dns
 * confirmed (waited for here), into buf; NULL when there is none.
 */
const char *
client_name(struct session *s, char *buf, size_t size)
{
	const char	*sp;
	size_t		 n;

	if (s->rclient == NULL && s->rdns != NULL)
		return rdns_collect(s->rdns, s->id, s->literal);
	if (s->rclient == NULL || (sp = strrchr(s->rclient, ' ')) == NULL)
		return NULL;
	/* "name [addr]" */
	if ((n = (size_t)(sp - s->rclient)) == 0 || n >= size)
		return NULL;
	memcpy(buf, s->rclient, n);
	buf[n] = '\0';
	return buf;
}

/* client_over_rate - 1 if this event takes the client over limit per minute
 * (0 = no limit; allowed clients and XCLIENT proxies are not counted). */
int
client_over_rate(const struct session *s, enum ratelimit_kind kind, int limit)
{
	struct timespec	now;

	if (limit <= 0 || s->allowed || s->xclient_ok || s->family == AF_UNSPEC)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return ratelimit_hit(kind, s->family, s->key, now.tv_sec) > (unsigned)limit;
}

/*
 * client_dnsbl_blocked - 1 (answered 554) if the DNS lists refuse the client:
 * at the first RCPT once the score reaches dnsbl_threshold, then at
 * every MAIL and RCPT. The answers are awaited here, not before the
 * greeting. is_rcpt: a RCPT (the first refusal comes only there).
 */
int
client_dnsbl_blocked(struct session *s, int is_rcpt)
{
	const char	*zone;

	if (s->dnsbl == NULL)
		return 0;
	if (dnsq_collect(s->dnsbl, s->literal, &zone) < s->cf->dnsbl_threshold ||
	    zone[0] == '\0' || (!is_rcpt && !s->blocked))
		return 0;
	if (!s->blocked)
		atomic_fetch_add(&session_stats.refused_dnsbl, 1);
	s->blocked = 1;
	s->out.reason = REPLY_REASON_DNSBL;
	reply(s, 554, "5.7.1", "Service unavailable; client [%s] blocked using %s",
	    s->addr, zone);
	return 1;
}

/* client_set_peer - the client's address as text and as an address literal. */
void
client_set_peer(struct session *s, const struct sockaddr_storage *ss)
{
	sockaddr_text(ss, s->addr, sizeof s->addr, s->literal, sizeof s->literal);
	s->port = sockaddr_port(ss);
	s->family = sockaddr_key(ss, s->key);
	s->allowed = config_allowed(s->cf, s->family, s->key);
	s->peer = *ss;
}

/*
 * client_admit - count the client a PROXY header or an XCLIENT named
 * under max_clients_per_ip (the listener's admit hook): 0, or -1 with
 * the 421 queued and logged.
 */
int
client_admit(struct session *s, const struct session_conn *conn,
    const struct sockaddr_storage *ss)
{
	if (conn->admit == NULL || conn->admit(conn->admit_arg, ss) == 0)
		return 0;
	log_info("session=%lu client=%s refused connection: "
	    "max_clients_per_ip %d reached", s->id, s->literal,
	    s->cf->max_clients_per_ip);
	s->out.reason = REPLY_REASON_MAX_CLIENTS_PER_IP;
	reply(s, 421, "4.7.0", "%s Too many connections from your address, "
	    "try again later", s->cf->hostname);
	s->end_reason = "max_clients_per_ip";
	return -1;
}

/*
 * client_screen - the connection-level screening of the client client_set_peer
 * set: its connection rate (421 and -1 when over), then the DNS list
 * and reverse DNS look-ups. At connect, and again for the client an
 * XCLIENT names. A proxy allowed to send XCLIENT is not screened: the
 * clients it names are (Postfix exempts its XCLIENT hosts likewise).
 */
int
client_screen(struct session *s)
{
	const struct config *cf = s->cf;

	if (s->xclient_ok)
		return 0;
	if (client_over_rate(s, RATELIMIT_CONNECT, cf->max_connection_rate)) {
		/* Before the greeting: RFC 5321 3.1 lets a server open with 421. */
		atomic_fetch_add(&session_stats.refused_connection_rate, 1);
		s->out.reason = REPLY_REASON_CONNECTION_RATE;
		log_info("session=%lu client=%s refused connection: "
		    "max_connection_rate %d reached", s->id, s->literal,
		    cf->max_connection_rate);
		reply(s, 421, "4.7.0", "%s Too many connections from your address, "
		    "try again later", cf->hostname);
		s->end_reason = "max_connection_rate";
		return -1;
	}
	/* Asked now, awaited at the first MAIL or RCPT: never before the
	 * greeting. No dnsbl line, no query. A name the proxy gave
	 * (rclient) is not looked up again. */
	if (cf->ndnsbl > 0 && !s->allowed && s->family != AF_UNSPEC)
		s->dnsbl = dnsq_start(cf, s->family, s->key, s->id, s->lb.stop);
	if (cf->reverse_dns && s->family != AF_UNSPEC && s->rclient == NULL)
		s->rdns = rdns_start(cf, s->family, s->key, s->lb.stop);
	return 0;
}

/*
 * cmd_xclient - a proxy in xclient_from names the client it serves
 * (Postfix's XCLIENT_README; parsing in xclient.c). The session starts
 * over for that client as at connect: client_set_peer, max_clients_per_ip
 * (the admit hook, counting it instead of the proxy), the screening,
 * the greeting. What the command did not give is forgotten, but for
 * the address (ADDR without PORT: port 0); a HELO= name stands for the
 * client's HELO, so MAIL may follow without one.
 */
int
cmd_xclient(struct session *s, char *args)
{
	const struct config *cf = s->cf;
	struct sockaddr_storage ss;
	struct {
		struct xclient x;
		char	was[sizeof s->literal];
		char	qname[LOG_QUOTE_SIZE(XCLIENT_VALUE_MAX)];
		char	qhelo[LOG_QUOTE_SIZE(XCLIENT_VALUE_MAX)];
		char	qlogin[LOG_QUOTE_SIZE(XCLIENT_VALUE_MAX)];
	}		*b;
	const char	*why;
	size_t		 size;

	if (!s->xclient_ok) {
		reply(s, 550, "5.7.0", "Error: insufficient authorization");
		return 0;
	}
	/* On the heap: a thread's stack pages stay with it while it idles. */
	if ((b = malloc(sizeof *b)) == NULL) {
		reply(s, 451, "4.3.0", "Local error in processing, try again later");
		return 0;
	}
	if (xclient_parse(args, &b->x, &why) == -1) {
		reply(s, 501, "5.5.4", "%s", why);
		free(b);
		return 0;
	}
	buf_copy(b->was, sizeof b->was, s->literal);
	xclient_client(&b->x, &s->peer, &ss);
	txn_reset(s);
	client_set_peer(s, &ss);
	if (s->family == AF_UNSPEC) {
		/* ADDR=[UNAVAILABLE] */
		buf_copy(s->addr, sizeof s->addr, "unknown");
		buf_copy(s->literal, sizeof s->literal, "[unknown]");
	}
	/* Postfix asks again: the client named is rarely a proxy too. */
	s->xclient_ok = xclient_trusted(cf, s->family, s->key);
	s->destaddr[0] = '\0';
	if (b->x.destaddr.ss_family != AF_UNSPEC)
		sockaddr_text(&b->x.destaddr, s->destaddr, sizeof s->destaddr, NULL, 0);
	s->destport = b->x.destport;
	buf_copy(s->helo, sizeof s->helo, b->x.helo);
	s->esmtp = b->x.esmtp;
	s->state = s->helo[0] ? ST_HELO : ST_CONNECTED;
	s->errors = s->junk = s->refusals = 0;
	s->blocked = 0;
	dnsq_free(s->dnsbl);
	rdns_free(s->rdns);
	free(s->rclient);
	free(s->login);
	s->dnsbl = NULL;
	s->rdns = NULL;
	s->rclient = NULL;
	/* Who the proxy says logged in: the policy servers' sasl_username. */
	s->login = b->x.login[0] != '\0' ? strdup(b->x.login) : NULL;
	if (b->x.name[0] != '\0') {
		/* The proxy's name of the client, as reverse_dns would give it. */
		size = strlen(b->x.name) + sizeof s->literal + 2;
		if ((s->rclient = malloc(size)) != NULL)
			snprintf(s->rclient, size, "%s %s", b->x.name, s->literal);
	}
	log_info("session=%lu xclient client=%s port=%d name=%s helo=%s proto=%s "
	    "login=%s destaddr=%s destport=%d proxy=%s%s", s->id, s->literal, s->port,
	    b->x.name[0] ? log_quote(b->qname, sizeof b->qname, b->x.name) :
	    b->x.name_temp ? "[TEMPUNAVAIL]" : "-",
	    s->helo[0] ? log_quote(b->qhelo, sizeof b->qhelo, s->helo) : "-",
	    !(b->x.given & XCLIENT_PROTO) ? "-" : s->esmtp ? "ESMTP" : "SMTP",
	    b->x.login[0] ? log_quote(b->qlogin, sizeof b->qlogin, b->x.login) : "-",
	    s->destaddr[0] ? s->destaddr : "-", s->destport, b->was,
	    s->allowed ? " allowed=yes" : "");
	free(b);
	if (client_admit(s, s->conn, &ss) == -1)
		return -1;
	if (client_screen(s) == -1)
		return -1;
	if (filters_open(s) == -1) {
		reply(s, 421, "4.3.2", "%s Service not available, try again later",
		    cf->hostname);
		s->end_reason = "out of memory";
		return -1;
	}
	reply(s, 220, NULL, "%s ESMTP smtpd", cf->hostname);
	return 0;
}
