/*
 * proxy.h - the PROXY protocol header (HAProxy, versions 1 and 2).
 */
#ifndef PROXY_H
#define PROXY_H

#include <stddef.h>
#include <sys/socket.h>
#include "config.h"
#include "linebuf.h"

#define PROXY_V1_MAX	107	/* the specification's longest v1 line */

/*
 * proxy_parse - parse a header at the start of buf. Pure.
 * Returns the header's length with *real filled in (family AF_UNSPEC
 * for "UNKNOWN"/LOCAL: keep the socket's own address), 0 when more
 * bytes are needed, -1 when it is not a valid header (*why set).
 */
int	proxy_parse(const char *buf, size_t len, struct sockaddr_storage *real,
	    const char **why);

/*
 * proxy_read - on a proxy listener: check that the peer is allowed by
 * proxy_from, read the header within timeout_ms, replace *addr with the
 * real client (unless LOCAL/UNKNOWN), and consume exactly the header:
 * bytes after it stay buffered for the session.
 * Returns 0 or -1 with *why set.
 */
int	proxy_read(struct linebuf *lb, const struct config *cf,
	    struct sockaddr_storage *addr, int timeout_ms, const char **why);

#endif
