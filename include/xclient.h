/*
 * xclient.h - the XCLIENT command (Postfix's XCLIENT_README): a proxy in
 * front of smtpd (nginx's mail proxy) names the real client.
 */
#ifndef XCLIENT_H
#define XCLIENT_H

#include <stddef.h>
#include <sys/socket.h>
#include "config.h"

/* What EHLO announces to a client in xclient_from. */
#define XCLIENT_EHLO	"XCLIENT ADDR PORT NAME HELO PROTO LOGIN DESTADDR DESTPORT"

/* A value, xtext-encoded on the wire or decoded: at most this many
 * octets (Postfix's limit; NAME and HELO are host names). */
#define XCLIENT_VALUE_MAX	255

/* The attributes a command gave: bits of struct xclient's given. */
#define XCLIENT_NAME		0x01
#define XCLIENT_ADDR		0x02
#define XCLIENT_PORT		0x04
#define XCLIENT_HELO		0x08
#define XCLIENT_PROTO		0x10
#define XCLIENT_LOGIN		0x20
#define XCLIENT_DESTADDR	0x40
#define XCLIENT_DESTPORT	0x80

/*
 * One XCLIENT command, decoded. A value of [UNAVAILABLE] (or, for NAME,
 * [TEMPUNAVAIL]) is an empty string, an address of family AF_UNSPEC, or
 * a port of -1.
 */
struct xclient {
	unsigned	 given;				/* XCLIENT_* bits */
	char		 name[XCLIENT_VALUE_MAX + 1];	/* a host name */
	int		 name_temp;			/* NAME=[TEMPUNAVAIL] */
	struct sockaddr_storage addr;			/* port 0 */
	int		 port;
	char		 helo[XCLIENT_VALUE_MAX + 1];	/* one printable word */
	int		 esmtp;				/* PROTO=ESMTP */
	char		 login[XCLIENT_VALUE_MAX + 1];	/* printable UTF-8 */
	struct sockaddr_storage destaddr;		/* port 0 */
	int		 destport;
};

/*
 * xclient_parse - the arguments of an XCLIENT command: one or more
 * NAME=xtext separated by spaces, names in any case, a later one
 * replacing an earlier one of the same name. Pure.
 * Returns 0 with *x filled in, or -1 with *why set to the text of the
 * 501 reply.
 */
int	xclient_parse(const char *args, struct xclient *x, const char **why);

/*
 * xclient_xtext - decode the xtext in[0..len) (RFC 3461 4: '+' and two
 * hex digits for an octet, other printable ASCII but '=' as itself) into
 * out[size] with a NUL. Returns the decoded length, or -1 if in is not
 * xtext, decodes to a NUL, or does not fit.
 */
int	xclient_xtext(const char *in, size_t len, char *out, size_t size);

/*
 * xclient_client - the client after command x, from the one before
 * (cur): ADDR replaces the address (and its port: PORT, or 0 when not
 * given); PORT alone replaces the port only. Pure.
 */
void	xclient_client(const struct xclient *x, const struct sockaddr_storage *cur,
	    struct sockaddr_storage *out);

/*
 * xclient_trusted - 1 if the address (family and bytes of sockaddr_key)
 * is in an xclient_from line of cf: a proxy that may send XCLIENT, and
 * that is itself neither counted nor screened.
 */
int	xclient_trusted(const struct config *cf, int family, const unsigned char addr[16]);

#endif
