/*
 * smtpd.h - limits and small types shared by every module.
 * Owns: protocol limits (RFC 5321 4.5.3.1), defaults, the version string.
 * Every limit carries its unit in its name or comment.
 */
#ifndef SMTPD_H
#define SMTPD_H

#include <stddef.h>
#include <stdint.h>

#define SMTPD_VERSION		"0.1.0"

/* RFC 5321 4.5.3.1: sizes in octets. */
#define SMTP_LOCALPART_MAX	64	/* 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX		255	/* 4.5.3.1.2 */
#define SMTP_PATH_MAX		256	/* 4.5.3.1.3, with the angle brackets */
#define SMTP_CMDLINE_MAX	512	/* 4.5.3.1.4, with CRLF */
/* MAIL and RCPT may carry extension parameters: SIZE (RFC 1870) adds 26,
 * DSN (RFC 3461 section 5) adds up to 500 more; allow both. */
#define SMTP_PARAMLINE_MAX	1100
#define SMTP_REPLY_MAX		512	/* 4.5.3.1.5 */

/* Session output buffer: replies queued for one flush (RFC 2920). */
#define SESSION_OUTBUF_SIZE	768

#define HOSTNAME_MAX		255

#endif
