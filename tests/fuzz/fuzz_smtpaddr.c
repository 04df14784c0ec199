/*
 * fuzz_smtpaddr.c - smtpaddr_parse, smtpaddr_format, smtpaddr_next_param.
 * Input: byte 0 = flags (SMTPADDR_*), the rest = the text after
 * "MAIL FROM:" (NUL-terminated copy).
 */
#include <string.h>

#include "fuzz.h"
#include "smtpaddr.h"

#define ALL_FLAGS	(SMTPADDR_UTF8 | SMTPADDR_NULL_OK | SMTPADDR_POSTMASTER_OK)

static void
check_params(const char *s)
{
	size_t	 len = strlen(s);
	char	*copy = malloc(len + 1), *p, *key, *value;
	int	 rc, steps = 0;

	FUZZ_ASSERT(copy != NULL);
	memcpy(copy, s, len + 1);
	p = copy;
	while ((rc = smtpaddr_next_param(&p, &key, &value)) == 1) {
		FUZZ_ASSERT(key >= copy && key < copy + len);
		FUZZ_ASSERT(*key != '\0' && strchr(key, ' ') == NULL &&
		    strchr(key, '=') == NULL);
		if (value != NULL) {
			FUZZ_ASSERT(value > key && value < copy + len);
			FUZZ_ASSERT(*value != '\0' && strchr(value, ' ') == NULL);
		}
		FUZZ_ASSERT(p >= copy && p <= copy + len);
		FUZZ_ASSERT(++steps <= (int)len);
	}
	FUZZ_ASSERT(rc == 0 || rc == -1);
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtpaddr a, b;
	const char *end = NULL, *why = NULL, *end2 = NULL, *why2 = NULL;
	char	*s, buf[SMTP_PATH_MAX * 2 + 8];
	int	 flags, rc;

	if (size < 1)
		return 0;
	flags = data[0] & ALL_FLAGS;
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';

	rc = smtpaddr_parse(s, flags, &a, &end, &why);
	FUZZ_ASSERT(rc == 0 || rc == -1);
	if (rc == -1) {
		FUZZ_ASSERT(why != NULL && why[0] != '\0');
	} else {
		size_t used;

		FUZZ_ASSERT(end > s && end <= s + strlen(s));
		FUZZ_ASSERT(s[0] == '<' && end[-1] == '>');
		used = (size_t)(end - s);
		FUZZ_ASSERT(strlen(a.local) < sizeof a.local);
		FUZZ_ASSERT(strlen(a.local_plain) <= SMTP_LOCALPART_MAX);
		FUZZ_ASSERT(strlen(a.domain) <= SMTP_DOMAIN_MAX);
		if (a.is_null) {
			FUZZ_ASSERT(flags & SMTPADDR_NULL_OK);
			FUZZ_ASSERT(used == 2 && a.local[0] == '\0' &&
			    a.domain[0] == '\0');
		} else {
			FUZZ_ASSERT(a.local_plain[0] != '\0' ||
			    a.local[0] == '"');
			FUZZ_ASSERT(smtpaddr_valid_utf8(a.local_plain,
			    strlen(a.local_plain)));
		}
		if (a.domain[0] != '\0') {
			FUZZ_ASSERT(used <= SMTP_PATH_MAX);
			FUZZ_ASSERT(smtpaddr_valid_domain(a.domain,
			    strlen(a.domain), flags & SMTPADDR_UTF8));
			FUZZ_ASSERT(a.is_literal == (a.domain[0] == '['));
			/* ('@' and '<' may appear in a general address
			 * literal's dcontent: "[tag:a@b]") */
			FUZZ_ASSERT(strchr(a.domain, '>') == NULL);
			if (!a.is_literal)
				FUZZ_ASSERT(strchr(a.domain, '@') == NULL);
		} else if (!a.is_null) {
			FUZZ_ASSERT(flags & SMTPADDR_POSTMASTER_OK);
			FUZZ_ASSERT(strcasecmp(a.local_plain, "postmaster") == 0);
		}
		/* 8-bit only when SMTPUTF8 was given. */
		if (a.has_utf8)
			FUZZ_ASSERT(flags & SMTPADDR_UTF8);
		/* More flags never refuse what fewer accepted, and the
		 * address ends at the same place. */
		FUZZ_ASSERT(smtpaddr_parse(s, ALL_FLAGS, &b, &end2, &why2) == 0);
		FUZZ_ASSERT(end2 == end);
		FUZZ_ASSERT(strcmp(a.local, b.local) == 0 &&
		    strcmp(a.local_plain, b.local_plain) == 0 &&
		    strcmp(a.domain, b.domain) == 0);
		/* format fits in a path-sized buffer and round-trips. */
		FUZZ_ASSERT(smtpaddr_format(&a, buf, sizeof buf) == 0);
		FUZZ_ASSERT(strlen(buf) < sizeof buf);
		if (a.is_null)
			FUZZ_ASSERT(buf[0] == '\0');
		else if (a.domain[0] != '\0') {
			char	path[sizeof buf + 2];
			size_t	n = strlen(buf);
			path[0] = '<';
			memcpy(path + 1, buf, n);
			path[n + 1] = '>';
			path[n + 2] = '\0';
			FUZZ_ASSERT(smtpaddr_parse(path, flags, &b, &end2, &why2) == 0);
			FUZZ_ASSERT(strcmp(a.local_plain, b.local_plain) == 0 &&
			    strcmp(a.domain, b.domain) == 0);
		}
		/* Too small a buffer is refused, never overrun. */
		{
			size_t	n = strlen(buf);
			char	*small = malloc(n + 1);
			FUZZ_ASSERT(small != NULL);
			if (n > 0)
				FUZZ_ASSERT(smtpaddr_format(&a, small, n) == -1);
			FUZZ_ASSERT(smtpaddr_format(&a, small, n + 1) == 0 ||
			    (a.domain[0] == '\0' && !a.is_null));
			free(small);
		}
		check_params(end);
	}
	/* The other entry points on the raw text. */
	(void)smtpaddr_valid_domain(s, strlen(s), flags & SMTPADDR_UTF8);
	(void)smtpaddr_valid_utf8((const char *)data, size);
	check_params(s);
	free(s);
	return 0;
}
