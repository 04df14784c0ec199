/*
 * fuzz_dnsbl.c - dnsbl_parse_spec on arbitrary text; what parses prints
 * back into a spec that parses the same.
 */
#include <string.h>

#include "dnsbl.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dnsbl_list l, l2;
	const char *why = NULL;
	char	 buf[DNSBL_SPEC_MAX], *copy;
	unsigned char a[4] = { 127, 0, 0, 0 };

	if ((copy = malloc(size + 1)) == NULL)
		abort();
	memcpy(copy, data, size);
	copy[size] = '\0';
	if (dnsbl_parse_spec(copy, &l, &why) == -1) {
		FUZZ_ASSERT(why != NULL && why[0] != '\0');
		free(copy);
		return 0;
	}
	FUZZ_ASSERT(l.zone[0] != '\0' && strlen(l.zone) <= DNSBL_ZONE_MAX);
	FUZZ_ASSERT(l.nanswers >= 0 && l.nanswers <= DNSBL_ANSWERS_MAX);
	FUZZ_ASSERT(l.weight >= DNSBL_WEIGHT_MIN && l.weight <= DNSBL_WEIGHT_MAX);
	FUZZ_ASSERT(dnsbl_format_spec(&l, buf, sizeof buf) == 0);
	FUZZ_ASSERT(dnsbl_parse_spec(buf, &l2, &why) == 0);
	FUZZ_ASSERT(memcmp(&l, &l2, sizeof l) == 0);
	for (int i = 0; i < l.nanswers; i++)
		for (int k = 0; k < 4; k++)
			FUZZ_ASSERT(l.answers[i].lo[k] <= l.answers[i].hi[k]);
	a[3] = size ? data[0] : 0;
	(void)dnsbl_match(&l, a);
	a[1] = a[2] = 255;
	FUZZ_ASSERT(!dnsbl_match(&l, a));
	free(copy);
	return 0;
}
