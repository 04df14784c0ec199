/*
 * fuzz_esmtp.c - MAIL and RCPT parameters and the BDAT argument
 * (src/esmtp.c) on arbitrary bytes. Input: byte 0 picks the parser
 * (0 MAIL, 1 RCPT, 2 BDAT, by its value mod 3); the rest, cut at the
 * first NUL, is the text after the path (or after "BDAT ").
 */
#include <string.h>

#include "esmtp.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct esmtp_mail m;
	struct esmtp_rcpt rc;
	struct smtp_reply r;
	uint64_t n;
	char	*text;
	size_t	 len;
	int	 last, rv;

	if (size == 0)
		return 0;
	len = size - 1;
	if ((text = malloc(len + 1)) == NULL)
		abort();
	memcpy(text, data + 1, len);
	text[len] = '\0';
	len = strlen(text);
	memset(&r, 0, sizeof r);
	switch (data[0] % 3) {
	case 0:
		rv = esmtp_mail_params(text, &m, &r);
		FUZZ_ASSERT(rv == 0 || rv == -1);
		if (rv == 0) {
			FUZZ_ASSERT(strlen(m.envid) <= DSN_VALUE_MAX);
			FUZZ_ASSERT(m.body <= BODY_BINARYMIME);
			FUZZ_ASSERT(m.ret[0] == '\0' || strlen(m.ret) == 4);
		}
		break;
	case 1:
		rv = esmtp_rcpt_params(text, &rc, &r);
		FUZZ_ASSERT(rv == 0 || rv == -1);
		if (rv == 0) {
			FUZZ_ASSERT(strlen(rc.notify) <= DSN_NOTIFY_MAX);
			FUZZ_ASSERT(strlen(rc.orcpt) <= DSN_VALUE_MAX);
		}
		break;
	default:
		rv = esmtp_bdat(text, &n, &last);
		FUZZ_ASSERT(rv == 0 || rv == -1);
		if (rv == 0) {
			/* Only digits, then nothing or " LAST". */
			size_t d = strspn(text, "0123456789");
			FUZZ_ASSERT(d > 0 && d <= 20);
			FUZZ_ASSERT(last ? len == d + 5 : len == d);
		}
		break;
	}
	if (rv == -1) {
		/* A refusal is a whole reply: a code and a printable text. */
		FUZZ_ASSERT(data[0] % 3 == 2 || (r.code >= 500 && r.code <= 559));
		for (const char *p = r.text; *p; p++)
			FUZZ_ASSERT((unsigned char)*p >= 0x20 && *p != 0x7f);
	}
	free(text);
	return 0;
}
