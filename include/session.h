/*
 * session.h - one SMTP conversation, run on its own thread.
 */
#ifndef SESSION_H
#define SESSION_H

#include <stdatomic.h>
#include <sys/socket.h>
#include "config.h"
#include "metrics.h"

/* Counters since start, for the SIGUSR1 status line and metrics.c. */
struct session_stats {
	atomic_ulong	sessions;	/* connections served */
	atomic_ulong	accepted;	/* messages accepted */
	atomic_ulong	rejected;	/* messages refused after DATA/BDAT */
	atomic_ulong	bytes;		/* message bytes accepted */
	/* refusals of the screening, per reason */
	atomic_ulong	refused_connection_rate;	/* 421 at connect */
	atomic_ulong	refused_message_rate;		/* 450 at MAIL */
	atomic_ulong	refused_dnsbl;			/* 554 at MAIL/RCPT */
	/* for metrics.c */
	atomic_ulong	recipients;	/* RCPT accepted into a transaction */
	struct metrics_histogram commit_time;	/* end of data to the 250 */
};
extern struct session_stats session_stats;

/* What the listener hands a session. */
struct session_conn {
	int			 fd;	/* the caller closes it afterwards */
	struct sockaddr_storage	 peer;	/* the socket's peer */
	const struct config	*cf;	/* valid and unchanged until return */
	atomic_int		*stop;	/* the stop word (see linebuf.h) */
	int			 proxy;	/* a PROXY header comes first */
	/*
	 * admit - on a proxy listener, called once the header named the
	 * real client, and after each XCLIENT with the client it named
	 * (counted instead of the one before): 0 to go on, -1 to refuse it
	 * (the per-client limit; the session answers 421 and closes).
	 * NULL admits everyone.
	 */
	int			(*admit)(void *arg, const struct sockaddr_storage *real);
	void			*admit_arg;
};

/*
 * session_run - greet the client and run the conversation to its end.
 * Once the stop word is set, the session answers 421 when it next waits
 * for a command.
 */
void	session_run(const struct session_conn *conn);

/* session_id_init - seed message and session ids (call once at start). */
void	session_id_init(void);

#endif
