/*
 * sessionint.h - the inside of a session, shared by the files that act on
 * one: session.c (the conversation and its command table), client.c (who
 * the client is: its address, XCLIENT, the connection's screening),
 * filters.c (the milters' and policy servers' hooks) and message.c (one
 * message: its copies, their delivery, the final reply and log lines).
 * Nothing outside those four includes it; session.h is the public face.
 * Threads: a session belongs to its thread.
 */
#ifndef SESSIONINT_H
#define SESSIONINT_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "data.h"
#include "delivery.h"
#include "dns.h"
#include "esmtp.h"
#include "linebuf.h"
#include "log.h"
#include "maildir.h"
#include "milter.h"
#include "policy.h"
#include "ratelimit.h"
#include "recipient.h"
#include "reply.h"
#include "session.h"
#include "smtpaddr.h"
#include "strindex.h"

struct dnsq;
struct rdns;
struct milter_session;

/* Session states; the command table says what each command gets in each. */
enum sess_state {
	ST_CONNECTED,	/* greeted, no HELO/EHLO yet */
	ST_HELO,	/* HELO/EHLO done, no transaction */
	ST_MAIL,	/* MAIL accepted */
	ST_RCPT,	/* at least one RCPT accepted */
	ST_BDAT,	/* BDAT chunks arriving, LAST not yet */
	ST_COUNT
};

/* An accepted RCPT, as the client wrote it. */
struct rcpt {
	char		 addr[SMTP_PATH_MAX + 1];
	char		*notify;			/* DSN NOTIFY=, recorded */
	char		*orcpt;				/* DSN ORCPT=, recorded */
};

/* A copy to store: one per mailbox (and folder) reached, however many
 * recipients reach it. */
struct copy {
#define MAILBOX_MAX	(SMTP_LOCALPART_MAX + 1 + SMTP_DOMAIN_MAX)
	char		 key[MAILBOX_MAX + 1 + FOLDER_MAX + 1];	/* mailbox/folder */
	char		 mailbox[MAILBOX_MAX + 1];		/* box@domain */
	struct recipient to;
	int		 rcpt;		/* the first RCPT that reached it */
};

struct txn {
	char		 from[SMTP_PATH_MAX + 1];	/* "" for <> */
	/* MAIL's parameters (esmtp.c) */
	enum esmtp_body	 body;
	int		 smtputf8;
	char		 ret[5];			/* DSN RET=, "" = none */
	char		*envid;				/* DSN ENVID=, or NULL */
	struct rcpt	**rcpts;
	int		 nrcpt, caprcpt;
	struct strindex	 rcptset;			/* by address, any case */
	struct copy	**copies;
	int		 ncopy, capcopy;
	struct strindex	 copyset;			/* by key */
	/* while the body arrives */
	struct delivery	 dlv;
	struct data_decoder dec;
	int		 started;		/* delivery_start() done */
	int		 too_big;
	char		 id[20];
	struct timespec	 t0;
	time_t		 deadline;		/* end of the DATA/BDAT phase */
	/* policy servers (policy.c) */
	struct policy_txn policy;
	unsigned long long mail_size;		/* MAIL SIZE=, 0 = none */
};

struct session {
	const struct config	*cf;
	char			 addr[INET6_ADDRSTRLEN];	/* "192.0.2.1" */
	char			 literal[INET6_ADDRSTRLEN + 8];	/* "[IPv6:::1]" */
	int			 port;
	unsigned long		 id;
	enum sess_state		 state;
	int			 esmtp;
	char			 helo[SMTP_DOMAIN_MAX + 1];
	int			 errors;	/* 4xx/5xx since the last message */
	int			 junk;		/* junk commands, likewise */
	int			 refusals;	/* 4xx/5xx in the whole session
						 * (error_delay) */
	int			 allowed;	/* in an allow line: no screening */
	unsigned char		 key[16];	/* the peer's address bytes */
	int			 family;	/* AF_INET, AF_INET6, AF_UNSPEC */
	struct dnsq		*dnsbl;		/* look-ups started at connect */
	struct rdns		*rdns;		/* reverse_dns, started at connect */
	char			*rclient;	/* "name [addr]" with reverse_dns */
						/* "name [addr]" for Received: */
	int			 blocked;	/* a RCPT got the dnsbl 554 */
	const char		*end_reason;
	unsigned		 messages;
	const char		*refusal;	/* 503 text for a chunk read first */
	struct txn		 tx;
	struct milter_session	*milter;	/* NULL without milter lines */
	struct reply_out	 out;
	struct linebuf		 lb;
	char			 cmd[SMTP_PARAMLINE_MAX + 1];	/* this command */
	/* XCLIENT: the client as set_peer last set it, and what the proxy
	 * named besides (cmd_xclient). */
	const struct session_conn *conn;
	struct sockaddr_storage	 peer;
	int			 xclient_ok;	/* in xclient_from: may send it */
	char			 destaddr[INET6_ADDRSTRLEN];	/* DESTADDR, or "" */
	char			*login;		/* XCLIENT's LOGIN (heap), or NULL */
	int			 destport;	/* DESTPORT, or -1 */
};

/* The quoted forms of client text in one log line (log_quote). */
/* A command: any plain one whole (up to SMTP_PARAMLINE_MAX). */
#define QUOTED_CMD	(SMTP_PARAMLINE_MAX + 100)
#define QUOTED_TEXT	LOG_QUOTE_SIZE(SMTP_REPLY_MAX)
#define QUOTED_HELO	LOG_QUOTE_SIZE(SMTP_DOMAIN_MAX)
#define QUOTED_PATH	LOG_QUOTE_SIZE(SMTP_PATH_MAX + 2)

/* session.c: the session's replies (error_delay, the reject log line)
 * and the transaction's reset. */
void	reply(struct session *, int, const char *, const char *, ...)
	    __attribute__((format(printf, 4, 5)));
void	reply_decided(struct session *, const struct smtp_reply *);
void	txn_reset(struct session *);
/* deadline_in - secs from now, in linebuf's whole monotonic seconds. */
time_t	deadline_in(int secs);

/* client.c */
void	client_set_peer(struct session *, const struct sockaddr_storage *);
int	client_admit(struct session *, const struct session_conn *,
	    const struct sockaddr_storage *);
int	client_screen(struct session *);
int	client_over_rate(const struct session *, enum ratelimit_kind, int);
int	client_dnsbl_blocked(struct session *, int);
const char *client_name(struct session *, char *, size_t);
int	cmd_xclient(struct session *, char *);

/* filters.c: each hook returns 1 when a filter refused and the command
 * got its reply, 0 to go on (at once without milter lines). */
void	filters_milter_reply(struct session *, const struct milter_refusal *);
int	filters_open(struct session *);
int	filters_helo(struct session *);
int	filters_mail(struct session *, const struct esmtp_mail *);
int	filters_rcpt(struct session *, const char *, const struct esmtp_rcpt *);
int	filters_data(struct session *);
void	filters_bdat_start(struct session *);
int	filters_policy(struct session *, const char *, const char *);
/* What the filters made of a message at its end. */
enum { FILTER_PASSED, FILTER_REFUSED, FILTER_DISCARDED };
int	filters_end_of_message(struct session *);

/* message.c */
extern atomic_uint message_counter;	/* seeded by session_id_init */
int	message_add_copies(struct session *, const struct route *, int,
	    const char *, struct smtp_reply *);
void	message_drop_copies(struct txn *, int);
void	message_new_id(char *, size_t);
void	message_start(struct session *);
void	message_log(struct session *, int, const char *);
void	message_finish(struct session *);

#endif
