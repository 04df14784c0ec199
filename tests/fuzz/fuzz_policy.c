/*
 * fuzz_policy.c - policy_parse_reply on arbitrary bytes (a policy
 * server's answer), and the invariants of what it keeps.
 */
#include <string.h>

#include "fuzz.h"
#include "policy.h"

/* printable_text - every byte of s printable ASCII (or a tab, for a
 * PREPEND field's value). */
static int
printable_text(const char *s, int tab_ok)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && !(tab_ok && *s == '\t')) ||
		    (unsigned char)*s == 0x7f)
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_result r, r2;
	const char *why;
	char	*copy;
	size_t	 end;
	int	 rc;

	if ((copy = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(copy, data, size);
	end = policy_reply_end(copy, size);
	FUZZ_ASSERT(end <= size);
	rc = policy_parse_reply(copy, size, &r, &why);
	FUZZ_ASSERT(rc == 0 || rc == -1);
	if (rc == -1) {
		FUZZ_ASSERT(why != NULL && why[0] != '\0');
		free(copy);
		return 0;
	}
	FUZZ_ASSERT(end > 0);
	FUZZ_ASSERT(r.action >= POLICY_DUNNO && r.action <= POLICY_UNSUPPORTED);
	FUZZ_ASSERT(memchr(r.text, '\0', sizeof r.text) != NULL);
	FUZZ_ASSERT(memchr(r.esc, '\0', sizeof r.esc) != NULL);
	FUZZ_ASSERT(memchr(r.word, '\0', sizeof r.word) != NULL);
	FUZZ_ASSERT(printable_text(r.word, 0));
	if (r.action == POLICY_PREPEND) {
		FUZZ_ASSERT(strchr(r.text, ':') != NULL && r.text[0] != ':');
		FUZZ_ASSERT(strlen(r.text) <= POLICY_HEADER_MAX);
		FUZZ_ASSERT(strchr(r.text, '\n') == NULL && strchr(r.text, '\r') == NULL);
	} else {
		FUZZ_ASSERT(strlen(r.text) <= POLICY_TEXT_MAX);
		FUZZ_ASSERT(printable_text(r.text, 0));
	}
	if (r.action == POLICY_REJECT || r.action == POLICY_DEFER ||
	    r.action == POLICY_DEFER_IF_PERMIT || r.action == POLICY_DEFER_IF_REJECT) {
		FUZZ_ASSERT(r.code >= 400 && r.code <= 599);
		FUZZ_ASSERT(r.esc[0] == '0' + r.code / 100 && r.esc[1] == '.');
		FUZZ_ASSERT((r.action == POLICY_REJECT) == (r.code >= 500));
	}
	/* The reply alone parses the same; bytes after it do not matter. */
	FUZZ_ASSERT(policy_parse_reply(copy, end, &r2, &why) == 0);
	FUZZ_ASSERT(r2.action == r.action && r2.code == r.code &&
	    strcmp(r2.text, r.text) == 0 && strcmp(r2.esc, r.esc) == 0);
	free(copy);
	return 0;
}
