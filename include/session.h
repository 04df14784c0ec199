/*
 * session.h - one SMTP conversation, run on its own thread.
 */
#ifndef SESSION_H
#define SESSION_H

#include <stdatomic.h>
#include <sys/socket.h>
#include "config.h"

/* Counters since start, for the SIGUSR1 status line. */
struct session_stats {
	atomic_ulong	sessions;	/* connections served */
	atomic_ulong	accepted;	/* messages accepted */
	atomic_ulong	rejected;	/* messages refused after DATA/BDAT */
	atomic_ulong	bytes;		/* message bytes accepted */
};
extern struct session_stats session_stats;

/*
 * session_run - greet the client on fd and run the conversation to its
 * end; the caller closes fd afterwards. cf stays valid (and unchanged)
 * until it returns. stop is the session's stop word (see linebuf.h):
 * once it is set, the session answers 421 when it next waits for a
 * command.
 */
void	session_run(int fd, const struct sockaddr_storage *peer,
	    const struct config *cf, atomic_int *stop, int proxy);

/* session_id_init - seed message ids (call once at start). */
void	session_id_init(void);

#endif
