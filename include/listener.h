/*
 * listener.h - listening sockets, the accept loop, client threads.
 */
#ifndef LISTENER_H
#define LISTENER_H

#include <stddef.h>
#include "config.h"

/* listener_bind - open every listen socket of cf, or adopt instead the
 * ones passed by systemd socket activation; 0, or -1 with a message in
 * err. */
int	listener_bind(const struct config *cf, char *err, size_t errsz);
/* listener_open - a listening socket for one "ADDR:PORT" line ("*": one
 * dual-stack socket, or IPv4 alone without IPv6); its fd, or -1 with a
 * message in err. The metrics listener uses it too. */
int	listener_open(const struct config_listen *l, char *err, size_t errsz);
/* listener_inherited - the number of listening sockets passed by the
 * service manager (LISTEN_PID is ours, LISTEN_FDS); once listener_bind()
 * has run, the number it adopted. With any, listen lines are optional. */
int	listener_inherited(void);
/* listener_describe - "127.0.0.1:2525, [::1]:2525" for the start-up line. */
void	listener_describe(char *buf, size_t size);
/* listener_start - run the accept loop on its own thread with cf,
 * which the listener owns from now on. */
void	listener_start(struct config *cf);
/* listener_reload - new sessions use cf, running ones keep theirs; the
 * listener frees each config once no session uses it. -1 (out of
 * memory): cf is not taken, the config in force stays. */
int	listener_reload(struct config *cf);
/* listener_current - the config in force (for comparisons at reload). */
const struct config *listener_current(void);
/* listener_stop - stop accepting, tell idle sessions to go, wait up to
 * grace seconds for the rest. Returns the number still running. */
int	listener_stop(int grace);
/* listener_status - log one status line (SIGUSR1). */
void	listener_status(void);

/* What listener_counts() reports (metrics.c). Client threads alive are
 * active + parked. */
struct listener_counts {
	int	active;		/* sessions running */
	int	parked;		/* client threads waiting for a client */
	int	peak_threads;	/* most client threads alive at once */
};
void	listener_counts(struct listener_counts *out);

#endif
