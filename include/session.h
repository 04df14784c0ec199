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
 * session_run - greet the client on fd, run the conversation to its end,
 * close fd. cf stays valid (and unchanged) until it returns. wakefd
 * becomes readable when the daemon stops.
 */
void	session_run(int fd, const struct sockaddr_storage *peer,
	    const struct config *cf, int wakefd, int proxy);

/* session_id_init - seed message ids (call once at start). */
void	session_id_init(void);

#endif
