/*
 * ratelimit.h - events per client per minute in a table of fixed size.
 */
#ifndef RATELIMIT_H
#define RATELIMIT_H

#include <stddef.h>
#include <time.h>

enum ratelimit_kind { RATELIMIT_CONNECT, RATELIMIT_MAIL, RATELIMIT_KINDS };

#define RATELIMIT_WINDOW	60	/* seconds: "per minute" */
#define RATELIMIT_WAYS		8	/* entries per hash set */
#define RATELIMIT_SETS		4096	/* sets; the table holds SETS * WAYS */

/*
 * ratelimit_hit - count one event of kind for the client (family and the
 * address bytes of sockaddr_key: an IPv4 address, or an IPv6 /64) at
 * now (seconds of a monotonic clock); returns the events of that kind in
 * the client's current minute, this one included. The table never
 * grows: a full set forgets its least recently seen client. Thread-safe.
 */
unsigned ratelimit_hit(enum ratelimit_kind kind, int family,
	    const unsigned char addr[16], time_t now);
/* ratelimit_table_size - the table's bytes (fixed at compile time). */
size_t	ratelimit_table_size(void);
/* ratelimit_reset - forget every client (tests). */
void	ratelimit_reset(void);

#endif
