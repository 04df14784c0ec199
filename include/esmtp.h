/*
 * esmtp.h - ESMTP parameters of MAIL, RCPT and BDAT. Pure.
 */
#ifndef ESMTP_H
#define ESMTP_H

#include <stdint.h>
#include "reply.h"

#define DSN_VALUE_MAX	500	/* RFC 3461: ORCPT and ENVID are bounded */
#define DSN_NOTIFY_MAX	32	/* "SUCCESS,FAILURE,DELAY" */

enum esmtp_body { BODY_7BIT, BODY_8BITMIME, BODY_BINARYMIME };

/* MAIL FROM parameters. */
struct esmtp_mail {
	uint64_t	 size;			/* SIZE=, 0 = not given */
	enum esmtp_body	 body;			/* BODY= */
	int		 smtputf8;		/* SMTPUTF8 */
	char		 ret[5];		/* RET=FULL|HDRS, "" = none */
	char		 envid[DSN_VALUE_MAX + 1];	/* ENVID=, "" = none */
};

/* RCPT TO parameters (RFC 3461), recorded as given. */
struct esmtp_rcpt {
	char	notify[DSN_NOTIFY_MAX + 1];	/* "" = none */
	char	orcpt[DSN_VALUE_MAX + 1];	/* "" = none */
};

/*
 * esmtp_mail_params, esmtp_rcpt_params - parse the parameters after the
 * path (params is left as it is: it is split on a copy). 0, or -1 with
 * the refusal in *r.
 */
int	esmtp_mail_params(const char *params, struct esmtp_mail *m,
	    struct smtp_reply *r);
int	esmtp_rcpt_params(const char *params, struct esmtp_rcpt *rc,
	    struct smtp_reply *r);

/* esmtp_size - RFC 1870 size-value: 1*20DIGIT, overflow-checked; 0 or -1. */
int	esmtp_size(const char *v, uint64_t *out);

/*
 * esmtp_bdat - the argument of BDAT (RFC 3030 2): chunk-size, then
 * optionally one space and "LAST", nothing else. 0 with *size and *last
 * set, or -1: the chunk's size is unknown.
 */
int	esmtp_bdat(const char *args, uint64_t *size, int *last);

#endif
