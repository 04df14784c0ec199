/*
 * esmtp.c - the ESMTP parameters smtpd understands.
 * Owns: SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531),
 * RET, ENVID, NOTIFY and ORCPT (RFC 3461), and the BDAT argument
 * (RFC 3030): their syntax and the refusal each bad one gets.
 * Not here: the path before them (smtpaddr.c), what the values mean for
 * the transaction (session.c).
 * Threads: pure functions.
 *
 * The parameters are split on a copy: the caller's line stays whole
 * (a refused command is logged as the client sent it).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "esmtp.h"
#include "smtpaddr.h"

int
esmtp_size(const char *v, uint64_t *out)
{
	uint64_t n = 0;

	if (*v == '\0' || strlen(v) > 20)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		if (__builtin_mul_overflow(n, 10, &n) ||
		    __builtin_add_overflow(n, (unsigned)(*v - '0'), &n))
			return -1;
	}
	*out = n;
	return 0;
}

int
esmtp_bdat(const char *args, uint64_t *size, int *last)
{
	char	num[21];
	size_t	n = strspn(args, "0123456789");

	if (n == 0 || n >= sizeof num)
		return -1;
	memcpy(num, args, n);
	num[n] = '\0';
	if (esmtp_size(num, size) == -1)
		return -1;
	if (args[n] == '\0')
		*last = 0;
	else if (args[n] == ' ' && strcasecmp(args + n + 1, "LAST") == 0)
		*last = 1;
	else
		return -1;
	return 0;
}

/* is_hex - an upper-case hex digit, as xtext's hexchar wants. */
static int
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* valid_xtext - RFC 3461 4: xtext, bounded. */
static int
valid_xtext(const char *v)
{
	size_t	n = strlen(v);

	if (n == 0 || n > DSN_VALUE_MAX)
		return 0;
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == '+') {
			if (!is_hex(v[1]) || !is_hex(v[2]))
				return 0;
			v += 2;
		} else if (c < 33 || c > 126 || c == '=')
			return 0;
	}
	return 1;
}

/* valid_notify - RFC 3461 4.1: NEVER, or a list of SUCCESS/FAILURE/DELAY. */
static int
valid_notify(const char *v)
{
	const char *p = v;
	size_t	n;

	if (strcasecmp(v, "NEVER") == 0)
		return 1;
	if (strlen(v) > DSN_NOTIFY_MAX)
		return 0;
	for (;;) {
		n = strcspn(p, ",");
		if (!((n == 7 && strncasecmp(p, "SUCCESS", n) == 0) ||
		    (n == 7 && strncasecmp(p, "FAILURE", n) == 0) ||
		    (n == 5 && strncasecmp(p, "DELAY", n) == 0)))
			return 0;
		if (p[n] == '\0')
			return 1;
		p += n + 1;
	}
}

static int
mail_params(char *params, struct esmtp_mail *m, struct smtp_reply *r)
{
	char	*key, *val;
	int	 rc;

	memset(m, 0, sizeof *m);
	m->body = BODY_7BIT;
	while ((rc = smtpaddr_next_param(&params, &key, &val)) == 1) {
		if (strcasecmp(key, "SIZE") == 0 && val != NULL) {
			if (esmtp_size(val, &m->size) == -1) {
				reply_set(r, 501, "5.5.4", "Bad SIZE parameter");
				return -1;
			}
		} else if (strcasecmp(key, "BODY") == 0 && val != NULL) {
			if (strcasecmp(val, "7BIT") == 0)
				m->body = BODY_7BIT;
			else if (strcasecmp(val, "8BITMIME") == 0)
				m->body = BODY_8BITMIME;
			else if (strcasecmp(val, "BINARYMIME") == 0)
				m->body = BODY_BINARYMIME;
			else {
				reply_set(r, 501, "5.5.4", "Bad BODY parameter");
				return -1;
			}
		} else if (strcasecmp(key, "SMTPUTF8") == 0 && val == NULL) {
			m->smtputf8 = 1;
		} else if (strcasecmp(key, "RET") == 0 && val != NULL &&
		    (strcasecmp(val, "FULL") == 0 || strcasecmp(val, "HDRS") == 0)) {
			buf_copy(m->ret, sizeof m->ret, val);
		} else if (strcasecmp(key, "ENVID") == 0 && val != NULL) {
			if (!valid_xtext(val)) {
				reply_set(r, 501, "5.5.4", "Bad ENVID parameter");
				return -1;
			}
			buf_copy(m->envid, sizeof m->envid, val);
		} else {
			reply_set(r, 555, "5.5.4", "Unsupported MAIL parameter %.40s", key);
			return -1;
		}
	}
	if (rc == -1) {
		reply_set(r, 501, "5.5.4", "Bad MAIL parameter syntax");
		return -1;
	}
	return 0;
}

static int
rcpt_params(char *params, struct esmtp_rcpt *rc, struct smtp_reply *r)
{
	char	*key, *val;
	int	 n;

	memset(rc, 0, sizeof *rc);
	while ((n = smtpaddr_next_param(&params, &key, &val)) == 1) {
		if (strcasecmp(key, "NOTIFY") == 0 && val != NULL && valid_notify(val))
			buf_copy(rc->notify, sizeof rc->notify, val);
		else if (strcasecmp(key, "ORCPT") == 0 && val != NULL &&
		    strchr(val, ';') != NULL && valid_xtext(val))
			buf_copy(rc->orcpt, sizeof rc->orcpt, val);
		else {
			reply_set(r, 555, "5.5.4", "Unsupported RCPT parameter %.40s", key);
			return -1;
		}
	}
	if (n == -1) {
		reply_set(r, 501, "5.5.4", "Bad RCPT parameter syntax");
		return -1;
	}
	return 0;
}

/* params_copy - a copy of params to split, or NULL (452 in *r). */
static char *
params_copy(const char *params, struct smtp_reply *r)
{
	char	*p = strdup(params);

	if (p == NULL)
		reply_set(r, 452, "4.3.1", "Insufficient system storage");
	return p;
}

int
esmtp_mail_params(const char *params, struct esmtp_mail *m, struct smtp_reply *r)
{
	char	*p;
	int	 rv;

	memset(m, 0, sizeof *m);
	if ((p = params_copy(params, r)) == NULL)
		return -1;
	rv = mail_params(p, m, r);
	free(p);
	return rv;
}

int
esmtp_rcpt_params(const char *params, struct esmtp_rcpt *rc, struct smtp_reply *r)
{
	char	*p;
	int	 rv;

	memset(rc, 0, sizeof *rc);
	if ((p = params_copy(params, r)) == NULL)
		return -1;
	rv = rcpt_params(p, rc, r);
	free(p);
	return rv;
}
