/*
 * filters.c - the session's side of its filters: the milters (milter.c
 * speaks their protocol) at connect, HELO, MAIL, RCPT, DATA and end of
 * message, and the policy servers (policy.c) at RCPT and end of data.
 * Owns: what each hook asks, the replies and log lines of the filters'
 * verdicts, and their order at the end of a message (milters, then
 * policy servers; DISCARD stores nothing and answers 250).
 * Not here: the protocols (milter.c, policy.c), the header edits
 * (delivery.c, hdredit.c).
 * Threads: the session's own.
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

/* filters_milter_reply - a filter's refusal as the command's reply. */
void
filters_milter_reply(struct session *s, const struct milter_refusal *r)
{
	s->out.reason = REPLY_REASON_MILTER;
	reply(s, r->code, r->esc[0] ? r->esc : NULL, "%s", r->text);
}

/*
 * filters_open - the session's milters (milter.c) for the client
 * client_set_peer set, at connect and again after XCLIENT; each is connected
 * at the first HELO/EHLO. 0, or -1 when memory is short.
 */
int
filters_open(struct session *s)
{
	struct milter_client mc = { .addr = s->addr, .family = s->family,
	    .port = s->port, .name = NULL, .fd = s->lb.fd, .sid = s->id,
	    .stop = s->conn->stop };

	milter_session_free(s->milter);
	s->milter = NULL;
	if (s->cf->nmilters == 0)
		return 0;
	return (s->milter = milter_session_new(s->cf, &mc)) == NULL ? -1 : 0;
}

int
filters_helo(struct session *s)
{
	struct milter_refusal r;
	char	buf[DNS_NAME_MAX + 1];
	const char *name;

	if (s->milter == NULL)
		return 0;
	name = client_name(s, buf, sizeof buf);
	if (milter_helo(s->milter, s->helo, name, &r) == MILTER_GO)
		return 0;
	filters_milter_reply(s, &r);
	s->state = ST_CONNECTED;	/* no HELO */
	return 1;
}

int
filters_mail(struct session *s, const struct esmtp_mail *m)
{
	struct milter_refusal r;
	char	args[DSN_VALUE_MAX + 100];
	size_t	len = 0;

	if (s->milter == NULL)
		return 0;
	/* The parameters as accepted (esmtp.c parsed them in place). */
	args[0] = '\0';
	if (m->size > 0)
		buf_appendf(args, sizeof args, &len, " SIZE=%llu",
		    (unsigned long long)m->size);
	if (m->body != BODY_7BIT)
		buf_appendf(args, sizeof args, &len, " BODY=%s",
		    m->body == BODY_8BITMIME ? "8BITMIME" : "BINARYMIME");
	if (m->smtputf8)
		buf_appendf(args, sizeof args, &len, " SMTPUTF8");
	if (m->ret[0])
		buf_appendf(args, sizeof args, &len, " RET=%s", m->ret);
	if (m->envid[0])
		buf_appendf(args, sizeof args, &len, " ENVID=%s", m->envid);
	message_new_id(s->tx.id, sizeof s->tx.id);
	if (milter_mail(s->milter, s->tx.id, s->tx.from, args, &r) == MILTER_GO)
		return 0;
	filters_milter_reply(s, &r);
	txn_reset(s);
	return 1;
}

int
filters_rcpt(struct session *s, const char *addr, const struct esmtp_rcpt *prm)
{
	struct milter_refusal r;
	char	args[DSN_VALUE_MAX + DSN_NOTIFY_MAX + 20];
	size_t	len = 0;

	if (s->milter == NULL)
		return 0;
	args[0] = '\0';
	if (prm->notify[0])
		buf_appendf(args, sizeof args, &len, " NOTIFY=%s", prm->notify);
	if (prm->orcpt[0])
		buf_appendf(args, sizeof args, &len, " ORCPT=%s", prm->orcpt);
	if (milter_rcpt(s->milter, addr, args, &r) == MILTER_GO)
		return 0;
	filters_milter_reply(s, &r);
	return 1;
}

/* filters_data - DATA: refused before the 354, the transaction
 * ends. */
int
filters_data(struct session *s)
{
	struct milter_refusal r;

	if (s->milter == NULL || milter_data(s->milter, &r) == MILTER_GO)
		return 0;
	filters_milter_reply(s, &r);
	txn_reset(s);
	return 1;
}

/* filters_bdat_start - the first BDAT chunk: a refusal is the answer
 * to BDAT LAST (milter.c keeps it); the chunks are read meanwhile. */
void
filters_bdat_start(struct session *s)
{
	struct milter_refusal r;

	if (s->milter != NULL)
		(void)milter_data(s->milter, &r);
}

/* discarded - accept a message a filter asked to drop: 250, logged,
 * nothing stored; FILTER_DISCARDED. */
static int
discarded(struct session *s)
{
	reply(s, 250, "2.0.0", "Ok: queued as %s", s->tx.id);
	message_log(s, 250, "discarded");
	s->messages++;
	s->errors = 0;
	s->junk = 0;
	return FILTER_DISCARDED;
}

/*
 * milter_finish - end of message: FILTER_REFUSED or FILTER_DISCARDED
 * when a filter said so (answered and logged here; nothing is
 * committed), or FILTER_PASSED with every filter's header edits applied
 * to the copies.
 */
static int
milter_finish(struct session *s)
{
	struct txn	*tx = &s->tx;
	struct milter_refusal r;
	struct hdr_edit	*edits;

	if (s->milter == NULL)
		return 0;
	switch (milter_eom(s->milter, &edits, &r)) {
	case MILTER_REFUSE:
		filters_milter_reply(s, &r);
		message_log(s, r.code, r.code >= 500 ? "rejected" : "deferred");
		return FILTER_REFUSED;
	case MILTER_DISCARD:
		return discarded(s);
	default:
		break;
	}
	if (edits != NULL)
		(void)delivery_edit(&tx->dlv, edits);	/* a failure: d->err */
	milter_edits_free(edits);
	return FILTER_PASSED;
}

/*
 * filters_policy - ask the policy servers (policy.c) about this RCPT or
 * the message at its end (state "RCPT", "END-OF-MESSAGE"); the code
 * of their refusal (answered here), or 0.
 */
int
filters_policy(struct session *s, const char *state, const char *rcpt)
{
	const struct txn *tx = &s->tx;
	struct policy_verdict *v;
	struct policy_req rq;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char	 saddr[INET6_ADDRSTRLEN], slit[INET6_ADDRSTRLEN + 8];
	char	 cname[DNS_NAME_MAX + 1];
	const char *name = "unknown";
	int	 eom = strcmp(state, "RCPT") != 0, refused;

	memset(&rq, 0, sizeof rq);
	saddr[0] = '\0';
	if (getsockname(s->lb.fd, (struct sockaddr *)&ss, &sl) == 0) {
		sockaddr_text(&ss, saddr, sizeof saddr, slit, sizeof slit);
		rq.server_port = sockaddr_port(&ss);
	}
	if (s->destaddr[0] != '\0') {
		/* Where the client connected, as the proxy's XCLIENT said. */
		buf_copy(saddr, sizeof saddr, s->destaddr);
		rq.server_port = s->destport >= 0 ? s->destport : 0;
	}
	if ((name = client_name(s, cname, sizeof cname)) == NULL)
		name = "unknown";
	rq.state = state;
	rq.protocol = s->esmtp ? "ESMTP" : "SMTP";
	rq.helo = s->helo;
	rq.queue_id = eom ? tx->id : "";
	rq.sender = tx->from;
	/* SMTPD_POLICY_README: at end of data only with one recipient. */
	rq.recipient = !eom ? rcpt : tx->nrcpt == 1 ? tx->rcpts[0]->addr : "";
	rq.recipient_count = eom ? tx->nrcpt : 0;
	rq.client_address = s->addr;
	rq.client_port = s->port;
	rq.client_name = name;
	rq.reverse_client_name = name;
	rq.server_address = saddr;
	rq.size = eom ? tx->dec.size : tx->mail_size;
	rq.session = s->id;
	rq.stop = s->conn->stop;
	rq.sasl_username = s->login;
	rq.client = s->literal;
	if ((v = malloc(sizeof *v)) == NULL) {
		reply(s, 451, "4.3.0", "Local error in processing, try again later");
		return 451;
	}
	refused = 0;
	if (policy_check(s->cf, &s->tx.policy, &rq, v) != 0) {
		s->out.reason = REPLY_REASON_POLICY_SERVICE;
		reply(s, v->code, v->esc, "%s", v->text);
		refused = v->code;
	}
	free(v);
	return refused;
}

/*
 * policy_end_of_message - with policy_end_of_data, ask the policy
 * servers about the whole message before it is committed: what they
 * made of it (FILTER_*), their PREPENDs edited in when it passed.
 */
static int
policy_end_of_message(struct session *s)
{
	struct txn *tx = &s->tx;
	int	code;

	if (s->cf->npolicy == 0 || !s->cf->policy_end_of_data || s->allowed)
		return FILTER_PASSED;
	if ((code = filters_policy(s, "END-OF-MESSAGE", NULL)) != 0) {
		message_log(s, code, code >= 500 ? "rejected" : "deferred");
		return FILTER_REFUSED;
	}
	if (tx->policy.discard)
		return discarded(s);
	if (tx->policy.edits != NULL)
		(void)delivery_edit(&tx->dlv, tx->policy.edits);	/* a failure: d->err */
	return FILTER_PASSED;
}

/*
 * filters_end_of_message - the milters, then the policy servers, at the
 * end of a message (a DISCARD a policy server gave at RCPT ends it
 * first); FILTER_* as the first that did not pass.
 */
int
filters_end_of_message(struct session *s)
{
	int	r;

	if (s->tx.policy.discard)
		return discarded(s);
	if ((r = milter_finish(s)) == FILTER_PASSED)
		r = policy_end_of_message(s);
	return r;
}
