/*
 * fuzz_milter.c - a filter's replies and the header/body stream
 * (src/milter.c). Input: byte 0 selects: even - byte 1 is a reply's
 * command byte and the rest its data (milter_parse_reply,
 * milter_parse_optneg, and the header value cleaner on what it
 * returns); odd - byte 1 is a chunk size (0 = one piece) and the rest
 * a stored message fed to milter_stream. Checked: every packet is
 * within its bound, a header packet is "name\0value\0", every body LF
 * follows a CR, a cleaned value never starts a new field.
 */
#include <string.h>

#include "fuzz.h"
#include "milter.h"

static int
check_packet(void *arg, int cmd, const char *p, size_t len)
{
	const char *nul;

	(void)arg;
	FUZZ_ASSERT(cmd == SMFIC_HEADER || cmd == SMFIC_EOH || cmd == SMFIC_BODY);
	if (cmd == SMFIC_HEADER) {
		FUZZ_ASSERT(len >= 2 && len <= MILTER_HEADER_MAX + 2);
		nul = memchr(p, '\0', len);
		FUZZ_ASSERT(nul != NULL && nul > p);
		FUZZ_ASSERT(memchr(nul + 1, '\0', len - (size_t)(nul + 1 - p)) == p + len - 1);
	} else if (cmd == SMFIC_BODY) {
		FUZZ_ASSERT(len > 0 && len <= MILTER_CHUNK_MAX);
		for (size_t i = 0; i < len; i++)
			if (p[i] == '\n')
				FUZZ_ASSERT(i > 0 && p[i - 1] == '\r');
	} else
		FUZZ_ASSERT(len == 0);
	return 0;
}

static void
check_value(const char *v)
{
	char	out[2 * 4096 + 2];

	if (milter_clean_value(v, out, sizeof out) == -1)
		return;
	FUZZ_ASSERT(strchr(out, '\r') == NULL);
	for (const char *q = out; (q = strchr(q, '\n')) != NULL; q++)
		FUZZ_ASSERT(q[1] == ' ' || q[1] == '\t');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct milter_reply r;
	struct milter_stream ms;
	const char *why, *p = (const char *)data + 2;
	uint32_t v, a, pr;
	size_t	 n, len, step;
	char	*copy;

	if (size < 2)
		return 0;
	len = size - 2;
	/* A copy on the heap of exactly len bytes: ASan sees any overread. */
	if ((copy = malloc(len ? len : 1)) == NULL)
		return 0;
	memcpy(copy, p, len);
	if ((data[0] & 1) == 0) {
		if (milter_parse_reply(data[1], copy, len, &r, &why) == 0) {
			if (r.cmd == SMFIR_REPLYCODE) {
				FUZZ_ASSERT(r.code >= 400 && r.code <= 599);
				FUZZ_ASSERT(strlen(r.text) <= MILTER_TEXT_MAX);
			}
			if (r.name != NULL)
				(void)milter_valid_name(r.name);
			if (r.value != NULL && strlen(r.value) <= 4096)
				check_value(r.value);
		}
		(void)milter_parse_optneg(copy, len, &v, &a, &pr, &why);
		free(copy);
		return 0;
	}
	step = data[1];
	if (milter_stream_init(&ms, check_packet, NULL) == 0) {
		for (size_t i = 0; i < len; i += n) {
			n = step == 0 || step > len - i ? len - i : step;
			milter_stream_feed(&ms, copy + i, n);
		}
		milter_stream_end(&ms);
	}
	milter_stream_free(&ms);
	free(copy);
	return 0;
}
