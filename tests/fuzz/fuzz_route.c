/*
 * fuzz_route.c - recipient routing (src/recipient.c) under a config with
 * mailbox lists, aliases through aliases, a catch-all, an extension
 * delimiter and folders. Input: the text of a RCPT path (a NUL ends it).
 * Checks: a refusal is a 550; an accepted address reaches at least one
 * mailbox, each in one of our domains, with a local part that can name
 * a directory and a folder of the allowed characters.
 */
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "maildir.h"
#include "recipient.h"
#include "smtpaddr.h"

static struct config cf;
static int	ready;

static const char conf[] =
    "listen 127.0.0.1:25\n"
    "domain example.org\n"
    "domain example.net\n"
    "domain open.test\n"
    "mailbox alice@example.org\n"
    "mailbox bob@example.org\n"
    "recipient_delimiter +\n"
    "extension_folders yes\n"
    "maildir /var/spool/smtpd/%d/%u\n"
    "alias postmaster@example.org alice@example.org\n"
    "alias team@example.org alice@example.org, bob@example.org, abuse@example.org\n"
    "alias abuse@example.org postmaster@example.org x@open.test\n"
    "alias team+ops@example.org bob@example.org\n"
    "alias @example.net alice@example.org\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtpaddr	 a;
	struct route	 rt;
	struct recipient to;
	struct smtp_reply r;
	const char	*end, *why;
	char		*text;
	int		 i;

	if (!ready) {
		FILE *fp = fmemopen((void *)(uintptr_t)conf, sizeof conf - 1, "r");
		FUZZ_ASSERT(fp != NULL && config_parse(fp, "f.conf", &cf, stderr) == 0);
		fclose(fp);
		ready = 1;
	}
	if ((text = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	if (smtpaddr_parse(text, SMTPADDR_UTF8 | SMTPADDR_POSTMASTER_OK, &a, &end, &why) == 0) {
		memset(&r, 0, sizeof r);
		if (recipient_route(&cf, &a, &rt, &r) == -1) {
			FUZZ_ASSERT(r.code == 550 && r.esc != NULL);
		} else {
			for (i = 0; recipient_target(&rt, i, &to) == 0; i++) {
				FUZZ_ASSERT(config_has_domain(&cf, to.domain));
				FUZZ_ASSERT(maildir_local_ok(to.box));
				FUZZ_ASSERT(strspn(to.folder,
				    "abcdefghijklmnopqrstuvwxyz0123456789-_") == strlen(to.folder));
			}
			FUZZ_ASSERT(i >= 1 && i <= 3);
		}
	}
	free(text);
	return 0;
}
