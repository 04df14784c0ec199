/*
 * fuzz_dns.c - dns_parse_answer on arbitrary packets, for each type.
 */
#include <arpa/nameser.h>
#include <string.h>

#include "dns.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[] = { ns_t_a, ns_t_aaaa, ns_t_ptr };
	struct dns_answer a;
	const char *why;
	unsigned char *copy = malloc(size ? size : 1);

	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		why = NULL;
		if (dns_parse_answer(copy, size, types[i], &a, &why) == -1) {
			FUZZ_ASSERT(why != NULL);
			continue;
		}
		FUZZ_ASSERT(a.naddr >= 0 && a.naddr <= DNS_ADDRS_MAX);
		FUZZ_ASSERT(memchr(a.qname, '\0', sizeof a.qname) != NULL);
		FUZZ_ASSERT(memchr(a.ptr, '\0', sizeof a.ptr) != NULL);
	}
	free(copy);
	return 0;
}
