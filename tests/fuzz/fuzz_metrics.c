/*
 * fuzz_metrics.c - the metrics endpoint's HTTP request parser
 * (metrics_head_end, metrics_parse_request) on arbitrary bytes, as the
 * metrics thread feeds it: the head, cut at METRICS_HEAD_MAX.
 */
#include <string.h>

#include "fuzz.h"
#include "metrics.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t	 len = size < METRICS_HEAD_MAX ? size : METRICS_HEAD_MAX, end;
	char	*copy;
	int	 status, head_only = -1;

	/* Exactly len bytes on the heap: ASan sees any read past them. */
	if ((copy = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(copy, data, len);
	end = metrics_head_end(copy, len);
	FUZZ_ASSERT(end <= len);
	if (end > 0) {
		FUZZ_ASSERT(copy[end - 1] == '\n');
		/* Nothing before it ends the head already. */
		FUZZ_ASSERT(metrics_head_end(copy, end - 1) == 0);
	}
	/* The thread parses only a whole head; any bytes must be safe. */
	status = metrics_parse_request(copy, end > 0 ? end : len, &head_only);
	FUZZ_ASSERT(status == 200 || status == 400 || status == 404 ||
	    status == 405 || status == 505);
	FUZZ_ASSERT(head_only == 0 || head_only == 1);
	if (status == 200)
		FUZZ_ASSERT(end > 0 && (memcmp(copy, "GET ", 4) == 0 ||
		    memcmp(copy, "HEAD ", 5) == 0));
	free(copy);
	return 0;
}
