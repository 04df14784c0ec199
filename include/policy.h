/*
 * policy.h - the client side of Postfix's policy delegation protocol
 * (SMTPD_POLICY_README): each policy_server of the config is asked, in
 * order, at RCPT (and at end of data with policy_end_of_data), and the
 * answers become one verdict.
 */
#ifndef POLICY_H
#define POLICY_H

#include <stdatomic.h>
#include <stddef.h>

#include "config.h"
#include "delivery.h"

#define POLICY_REPLY_MAX	4096	/* a longer reply is nonsense */
#define POLICY_TEXT_MAX		400	/* reply text kept (and sanitized) */
#define POLICY_HEADER_MAX	998	/* one PREPEND field (RFC 5322 2.1.1) */
#define POLICY_PREPEND_MAX	4096	/* all PREPENDs of one transaction */
#define POLICY_VALUE_MAX	1000	/* one request attribute's value */
#define POLICY_POOL_IDLE	8	/* idle connections kept per server */

/* What one answer asks for (access(5) actions, any case). */
enum policy_action {
	POLICY_DUNNO,		/* no opinion: ask the next server */
	POLICY_OK,		/* accept; ask no further server */
	POLICY_REJECT,		/* REJECT or 5NN: code, esc, text */
	POLICY_DEFER,		/* DEFER or 4NN: code, esc, text */
	POLICY_DEFER_IF_PERMIT,	/* 450 unless something rejects */
	POLICY_DEFER_IF_REJECT,	/* a later reject becomes this 450 */
	POLICY_PREPEND,		/* text is the header field */
	POLICY_WARN,		/* logged only */
	POLICY_INFO,		/* logged only */
	POLICY_DISCARD,		/* accept, store nothing */
	POLICY_UNSUPPORTED	/* HOLD, FILTER, REDIRECT, BCC, ...: word */
};

/* One parsed answer. Every string is NUL-terminated and printable
 * (control bytes replaced); text is cut to POLICY_TEXT_MAX. */
struct policy_result {
	enum policy_action action;
	int		 code;		/* REJECT, DEFER, DEFER_IF_*: 4NN/5NN */
	char		 esc[12];	/* their enhanced status code */
	char		 word[24];	/* the action word, as sent (cut) */
	char		 text[POLICY_HEADER_MAX + 1];
};

/*
 * policy_parse_reply - a reply buf[0..len): "name=value" lines up to and
 * including an empty line, exactly one of them "action=...". Pure.
 * 0 with *r filled, or -1 with *why (nonsense: the caller applies
 * policy_failure). Bytes after the empty line are ignored.
 */
int	policy_parse_reply(const char *buf, size_t len, struct policy_result *r,
	    const char **why);
/* policy_reply_end - the length of the reply in buf[0..len) with its
 * empty line, or 0 if it is not complete yet. Pure. */
size_t	policy_reply_end(const char *buf, size_t len);

/* What smtpd knows about one request (strings may be client text; NULL
 * is sent as an empty value). */
struct policy_req {
	const char	*state;		/* "RCPT", "END-OF-MESSAGE" */
	const char	*protocol;	/* "SMTP", "ESMTP" */
	const char	*helo;
	const char	*queue_id;	/* "" before the message has one */
	const char	*sender;	/* "" for <> */
	const char	*recipient;	/* "" at end of data with several */
	int		 recipient_count;	/* 0 at RCPT */
	const char	*client_address;
	int		 client_port;
	const char	*client_name;	/* "unknown" unless confirmed */
	const char	*reverse_client_name;
	const char	*server_address;
	const char	*sasl_username;	/* XCLIENT's LOGIN, or NULL */
	int		 server_port;
	unsigned long long size;	/* MAIL SIZE=, or the actual size */
	atomic_int	*stop;		/* the session's stop word (linebuf.h),
					 * or NULL */
	/* for the log lines */
	unsigned long	 session;
	const char	*client;	/* the client's address literal */
};

/*
 * policy_format_request - rq (and the instance) as a request: name=value
 * lines and an empty line. Values lose their control bytes and are cut
 * to POLICY_VALUE_MAX. Pure. The length, or 0 if it did not fit.
 */
size_t	policy_format_request(const struct policy_req *rq, const char *instance,
	    char *buf, size_t size);

/* A transaction's policy state (struct txn holds one). */
struct policy_txn {
	char		 instance[40];	/* "" until the first request */
	char		*prepend;	/* RCPT PREPENDs: "Name: value\n"... */
	size_t		 prepend_len;
	struct hdr_edit	*edits;		/* END-OF-MESSAGE PREPENDs */
	int		 discard;	/* a DISCARD: 250, store nothing */
	char		*answers;	/* "SPEC STATE ACTION; ..." for the
					 * message's log line (heap, bounded),
					 * NULL until the first answer */
};
#define POLICY_ANSWERS_MAX	512	/* the answers of one transaction, as logged */
/* policy_answers - the transaction's answers so far, "" for none. */
const char *policy_answers(const struct policy_txn *pt);
/* policy_txn_reset - forget (and free) a transaction's policy state. */
void	policy_txn_reset(struct policy_txn *pt);

/* The outcome of asking every server. */
struct policy_verdict {
	int		 code;		/* 0 = go on; else the refusal */
	char		 esc[12];
	char		 text[POLICY_TEXT_MAX + 1];
};

/*
 * policy_check - ask every policy_server of cf about rq, in order, and
 * combine the answers (Postfix's semantics, see policy.c). 0: go on
 * (a RCPT's PREPENDs were added to pt->prepend, an END-OF-MESSAGE's to
 * pt->edits, a DISCARD set pt->discard), or 1 with the refusal in *v.
 * Every answer is logged. Blocks at most policy_timeout per server.
 */
int	policy_check(const struct config *cf, struct policy_txn *pt,
	    const struct policy_req *rq, struct policy_verdict *v);

/* Outcome counters since start (one per server answer), for metrics. */
struct policy_stats {
	atomic_ulong	requests;	/* requests sent */
	atomic_ulong	ok;
	atomic_ulong	dunno;		/* DUNNO, WARN, INFO */
	atomic_ulong	reject;		/* REJECT, 5NN */
	atomic_ulong	defer;		/* DEFER, 4NN, DEFER_IF_* */
	atomic_ulong	prepend;
	atomic_ulong	discard;
	atomic_ulong	failure;	/* no answer, nonsense, unsupported */
	atomic_ulong	connects;	/* new connections to servers */
	atomic_ulong	reused;		/* requests on a pooled connection */
};
extern struct policy_stats policy_stats;

#endif
