/*
 * message.c - one message of a session: the copies its recipients reach,
 * opening them at DATA/BDAT, the decision after its last byte (refused,
 * filtered, or committed and only then 250) and its log lines (a summary,
 * then one per copy).
 * Not here: reading the body (session.c), the copies' files and trace
 * headers (delivery.c, maildir.c), where a recipient goes (recipient.c).
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

/* Message ids: a counter seeded at start (session_id_init). */
atomic_uint message_counter;

/*
 * mailbox_unusable - 1 (with a 451 in *r, and a log line naming the
 * recipient, the maildir and the reason) if copy cp's maildir cannot be
 * used as it is: that recipient is deferred, the others go on. Nothing
 * is created here.
 */
static int
mailbox_unusable(const struct session *s, const struct copy *cp,
    const char *rcpt_addr, struct smtp_reply *r)
{
	char	*b, *q;
	const char *why;
	size_t	 size = 1024;

	/* On the heap: a thread's stack pages stay with it while it idles. */
	if ((b = malloc(size + 2 * QUOTED_PATH + LOG_QUOTE_SIZE(1024))) == NULL)
		return 0;	/* the delivery will say */
	q = b + size;
	if (maildir_expand(s->cf->maildir, cp->to.box, cp->to.domain, b, size,
	    &why) == 0 && maildir_usable(s->cf->spool_root, b, cp->to.folder,
	    &why) == 0) {
		free(b);
		return 0;
	}
	log_warn("session=%lu client=%s rcpt=%s mailbox=%s path=%s unusable: %s",
	    s->id, s->literal, log_quote(q, QUOTED_PATH, rcpt_addr),
	    log_quote(q + QUOTED_PATH, QUOTED_PATH, cp->mailbox),
	    log_quote(q + 2 * QUOTED_PATH, LOG_QUOTE_SIZE(1024), b), why);
	free(b);
	reply_set(r, 451, "4.3.0", "Mailbox unavailable, try again later");
	return 1;
}

/* message_add_copies - the mailboxes of route rt for RCPT number ircpt, each
 * once per transaction; 0, or -1 with the refusal in *r. */
int
message_add_copies(struct session *s, const struct route *rt, int ircpt,
    const char *rcpt_addr, struct smtp_reply *r)
{
	struct txn	*tx = &s->tx;
	struct recipient to;
	struct copy	*cp;
	void		*p;
	int		 i;

	for (i = 0; recipient_target(rt, i, &to) == 0; i++) {
		if ((cp = calloc(1, sizeof *cp)) == NULL)
			goto nomem;
		cp->to = to;
		cp->rcpt = ircpt;
		snprintf(cp->mailbox, sizeof cp->mailbox, "%s@%s", to.box, to.domain);
		snprintf(cp->key, sizeof cp->key, "%s/%s", cp->mailbox, to.folder);
		if (strindex_get(&tx->copyset, cp->key) >= 0) {
			free(cp);	/* reached already: one copy */
			continue;
		}
		if (mailbox_unusable(s, cp, rcpt_addr, r)) {
			free(cp);
			return -1;
		}
		/* Each copy holds a file open while the body arrives. */
		if (tx->ncopy >= s->cf->max_recipients) {
			free(cp);
			reply_set(r, 452, "4.5.3", "Too many recipients");
			return -1;
		}
		if (tx->ncopy == tx->capcopy) {
			int cap = tx->capcopy ? tx->capcopy * 2 : 4;
			if (cap > s->cf->max_recipients)
				cap = s->cf->max_recipients;
			if ((p = realloc(tx->copies, (size_t)cap * sizeof *tx->copies)) == NULL) {
				free(cp);
				goto nomem;
			}
			tx->copies = p;
			tx->capcopy = cap;
		}
		if (strindex_reserve(&tx->copyset, (unsigned)tx->ncopy + 1) == -1) {
			free(cp);
			goto nomem;
		}
		tx->copies[tx->ncopy] = cp;
		(void)strindex_put(&tx->copyset, cp->key, tx->ncopy++);
	}
	return 0;
nomem:
	reply_set(r, 452, "4.3.1", "Insufficient system storage");
	return -1;
}

/* message_drop_copies - forget the copies from number n on (a RCPT refused
 * after some of its mailboxes were added). */
void
message_drop_copies(struct txn *tx, int n)
{
	while (tx->ncopy > n)
		free(tx->copies[--tx->ncopy]);
	/* The room is there: putting the rest back cannot fail. */
	strindex_clear(&tx->copyset);
	for (int k = 0; k < tx->ncopy; k++)
		(void)strindex_put(&tx->copyset, tx->copies[k]->key, k);
}

/* message_new_id - 16 hex digits: seconds, then a randomly seeded counter. */
void
message_new_id(char *buf, size_t size)
{
	snprintf(buf, size, "%08llX%08X", (unsigned long long)time(NULL) & 0xffffffffULL,
	    atomic_fetch_add(&message_counter, 1));
}

/*
 * message_start - open one copy per recipient, with its trace headers.
 * A failure is kept in tx->dlv.err, the body is read all the same, and
 * the failure is answered after it.
 */
void
message_start(struct session *s)
{
	const struct config *cf = s->cf;
	struct txn	*tx = &s->tx;
	struct delivery_trace t;
	int		 i;

	clock_gettime(CLOCK_MONOTONIC, &tx->t0);
	tx->deadline = deadline_in(cf->transaction_timeout);
	if (tx->id[0] == '\0')		/* milters have it from MAIL on */
		message_new_id(tx->id, sizeof tx->id);
	data_init(&tx->dec);
	tx->started = 1;
	tx->too_big = 0;
	if (delivery_begin(&tx->dlv, tx->ncopy, cf->fsync) == -1)
		return;
	t.from = tx->from;
	t.helo = s->helo;
	t.client = s->rclient != NULL ? s->rclient : s->literal;
	t.host = cf->hostname;
	t.proto = tx->smtputf8 ? "UTF8SMTP" : s->esmtp ? "ESMTP" : "SMTP";
	t.id = tx->id;
	t.prepend = tx->policy.prepend;
	for (i = 0; i < tx->ncopy; i++) {
		const struct copy *cp = tx->copies[i];
		struct delivery_copy c = {
			.rcpt = tx->rcpts[cp->rcpt]->addr, .mailbox = cp->mailbox,
			.box = cp->to.box, .domain = cp->to.domain,
			.folder = cp->to.folder[0] ? cp->to.folder : NULL,
		};
		delivery_add(&tx->dlv, cf->spool_root, cf->maildir, &c, &t);
	}
}

/*
 * log_copies - one line per copy of the message (a mailbox, or a folder
 * of one, however many RCPTs reached it): to= the mailbox, orig_to= the
 * first RCPT that reached it as the client wrote it (with that RCPT's
 * DSN parameters), status= "stored" with file= its name below the
 * maildir once delivered, else the message's result.
 */
static void
log_copies(const struct session *s, const char *result)
{
	const struct txn *tx = &s->tx;
	struct {
		char	to[MAILBOX_MAX + 3], orig[SMTP_PATH_MAX + 3];
		char	file[FOLDER_MAX + NAME_MAX + 8];
		char	qto[LOG_QUOTE_SIZE(MAILBOX_MAX + 2)], qorig[QUOTED_PATH];
		char	qfolder[LOG_QUOTE_SIZE(FOLDER_MAX)];
		char	qfile[LOG_QUOTE_SIZE(FOLDER_MAX + NAME_MAX + 8)];
		/* cut (ending in ...") so that the line stays whole */
		char	qorcpt[600];
	}		*b;
	int		 stored = strcmp(result, "delivered") == 0;
	const char	*status = stored ? "stored" : result, *name;
	int		 i;

	if ((b = malloc(sizeof *b)) == NULL)
		return;
	for (i = 0; i < tx->ncopy; i++) {
		const struct copy *cp = tx->copies[i];
		const struct rcpt *rc = tx->rcpts[cp->rcpt];
		const char *folder = cp->to.folder;

		name = stored ? delivery_file_name(&tx->dlv, i) : NULL;
		snprintf(b->to, sizeof b->to, "<%s>", cp->mailbox);
		snprintf(b->orig, sizeof b->orig, "<%s>", rc->addr);
		if (name != NULL)
			snprintf(b->file, sizeof b->file, "%s%s%snew/%s",
			    folder[0] ? "." : "", folder, folder[0] ? "/" : "", name);
		log_info("id=%s session=%lu to=%s orig_to=%s%s%s status=%s%s%s%s%s%s%s",
		    tx->id, s->id, log_quote(b->qto, sizeof b->qto, b->to),
		    log_quote(b->qorig, sizeof b->qorig, b->orig),
		    folder[0] ? " folder=" : "",
		    folder[0] ? log_quote(b->qfolder, sizeof b->qfolder, folder) : "",
		    status, name != NULL ? " file=" : "",
		    name != NULL ? log_quote(b->qfile, sizeof b->qfile, b->file) : "",
		    rc->notify ? " notify=" : "", rc->notify ? rc->notify : "",
		    rc->orcpt ? " orcpt=" : "",
		    rc->orcpt ? log_quote(b->qorcpt, sizeof b->qorcpt, rc->orcpt) : "");
	}
	free(b);
}

/* message_log - the summary line of a message, then a line for each of
 * its copies (log_copies); every field of client text quoted. */
void
message_log(struct session *s, int code, const char *result)
{
	struct txn	*tx = &s->tx;
	struct timespec	 t1;
	struct {
		char	from[SMTP_PATH_MAX + 3];
		char	qfrom[QUOTED_PATH], qhelo[QUOTED_HELO];
		char	qenvid[LOG_QUOTE_SIZE(DSN_VALUE_MAX)];
		char	qmilter[LOG_QUOTE_SIZE(1024)];
		char	qpolicy[LOG_QUOTE_SIZE(POLICY_ANSWERS_MAX)];
	}		*b;
	const char	*answers = policy_answers(&tx->policy);
	long		 ms;

	if ((b = malloc(sizeof *b)) == NULL)
		return;
	snprintf(b->from, sizeof b->from, "<%s>", tx->from);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - tx->t0.tv_sec) * 1000 + (t1.tv_nsec - tx->t0.tv_nsec) / 1000000;
	log_info("id=%s session=%lu client=%s helo=%s from=%s nrcpt=%d ncopy=%d "
	    "size=%llu result=%s code=%d delay=%ldms%s%s%s%s%s%s%s%s",
	    tx->id, s->id, s->literal, log_quote(b->qhelo, sizeof b->qhelo, s->helo),
	    log_quote(b->qfrom, sizeof b->qfrom, b->from), tx->nrcpt, tx->ncopy,
	    (unsigned long long)tx->dec.size, result, code, ms,
	    tx->envid != NULL ? " envid=" : "",
	    tx->envid != NULL ? log_quote(b->qenvid, sizeof b->qenvid, tx->envid) : "",
	    tx->ret[0] ? " ret=" : "", tx->ret,
	    milter_log(s->milter)[0] ? " milter=" : "",
	    milter_log(s->milter)[0] ? log_quote(b->qmilter, sizeof b->qmilter,
	    milter_log(s->milter)) : "",
	    answers[0] ? " policy=" : "",
	    answers[0] ? log_quote(b->qpolicy, sizeof b->qpolicy, answers) : "");
	free(b);
	log_copies(s, result);
}

/* log_delivery_failure - which copy failed, where and why. */
static void
log_delivery_failure(const struct session *s)
{
	const struct txn *tx = &s->tx;
	const struct copy *cp;
	char	path[1024], *q;
	const char *why;
	int	i = tx->dlv.err_copy;

	errno = tx->dlv.err;
	if (i < 0 || i >= tx->ncopy) {
		log_warn("id=%s delivery failed", tx->id);
		return;
	}
	cp = tx->copies[i];
	if (maildir_expand(s->cf->maildir, cp->to.box, cp->to.domain, path,
	    sizeof path, &why) == -1)
		buf_copy(path, sizeof path, "?");
	if (cp->to.folder[0]) {
		size_t len = strlen(path);
		buf_appendf(path, sizeof path, &len, "/.%s", cp->to.folder);
	}
	/* Both carry a local part the client chose. */
	if ((q = malloc(QUOTED_PATH + LOG_QUOTE_SIZE(sizeof path))) == NULL)
		return;
	errno = tx->dlv.err;
	log_warn("id=%s delivery failed mailbox=%s path=%s", tx->id,
	    log_quote(q, QUOTED_PATH, cp->mailbox),
	    log_quote(q + QUOTED_PATH, LOG_QUOTE_SIZE(sizeof path), path));
	free(q);
}

/* message_finish - commit or refuse after the last byte; one reply. */
void
message_finish(struct session *s)
{
	struct txn *tx = &s->tx;
	int	bare = tx->dec.bare_lf || tx->dec.bare_cr, answered;
	struct timespec data_end;	/* for session_stats.commit_time */

	clock_gettime(CLOCK_MONOTONIC, &data_end);
	if (tx->too_big) {
		reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
		message_log(s, 552, "rejected");
	} else if (tx->dlv.loop) {
		/* A Delivered-To: naming a mailbox of ours: it came back. */
		reply(s, 554, "5.4.6", "Mail loop: already delivered to a recipient here");
		message_log(s, 554, "rejected");
	} else if (bare && s->cf->bare_newline == BARE_NEWLINE_REJECT) {
		/* Set by DATA only: RFC 5321 2.3.8, lines end in CRLF. */
		reply(s, 550, "5.5.2", "Message contains bare CR or LF (see RFC 5321 2.3.8)");
		message_log(s, 550, "rejected");
	} else if (!tx->dlv.err && (answered = filters_end_of_message(s)) != 0) {
		/* A milter or a policy server answered: nothing is stored. */
		if (answered == FILTER_DISCARDED) {
			txn_reset(s);	/* a 250, not a refusal */
			return;
		}
	} else if (tx->dlv.err || delivery_commit(&tx->dlv) == -1) {
		int e = tx->dlv.err;
		log_delivery_failure(s);
		if (e == ENOSPC || e == EDQUOT) {
			reply(s, 452, "4.3.1", "Insufficient system storage");
			message_log(s, 452, "deferred");
		} else {
			reply(s, 451, "4.3.0", "Local error in processing, try again later");
			message_log(s, 451, "deferred");
		}
	} else {
		metrics_observe_since(&session_stats.commit_time, &data_end);
		reply(s, 250, "2.0.0", "Ok: queued as %s", tx->id);
		message_log(s, 250, "delivered");
		atomic_fetch_add(&session_stats.accepted, 1);
		atomic_fetch_add(&session_stats.bytes, tx->dec.size);
		s->messages++;
		/* max_errors and max_junk_commands count since a delivery. */
		s->errors = 0;
		s->junk = 0;
		txn_reset(s);
		return;
	}
	atomic_fetch_add(&session_stats.rejected, 1);
	txn_reset(s);
}
