/*
 * fuzz_proxy.c - proxy_parse on arbitrary bytes (PROXY v1 and v2).
 */
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "proxy.h"

/* parse - proxy_parse on a heap copy of exactly len bytes. */
static int
parse(const uint8_t *data, size_t len, struct sockaddr_storage *ss,
    const char **why)
{
	char	*copy = malloc(len ? len : 1);
	int	 rc;

	if (copy == NULL)
		abort();
	memcpy(copy, data, len);
	*why = NULL;
	rc = proxy_parse(copy, len, ss, why);
	free(copy);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss, ss2;
	const char *why, *why2;
	int	 rc, v2;

	rc = parse(data, size, &ss, &why);
	FUZZ_ASSERT(rc >= -1 && (rc <= 0 || (size_t)rc <= size));
	if (rc == -1) {
		FUZZ_ASSERT(why != NULL && why[0] != '\0');
		return 0;
	}
	if (rc == 0)
		return 0;
	v2 = size >= 12 && data[0] == 0x0d;
	FUZZ_ASSERT(ss.ss_family == AF_INET || ss.ss_family == AF_INET6 ||
	    ss.ss_family == AF_UNSPEC);
	if (!v2) {
		/* A v1 line: "PROXY ..." CRLF, at most 107 bytes. */
		FUZZ_ASSERT(rc <= PROXY_V1_MAX && rc >= 8);
		FUZZ_ASSERT(memcmp(data, "PROXY ", 6) == 0);
		FUZZ_ASSERT(data[rc - 2] == '\r' && data[rc - 1] == '\n');
		FUZZ_ASSERT(memchr(data, '\n', (size_t)rc - 1) == NULL);
	} else
		FUZZ_ASSERT(rc >= 16);
	/* The header alone parses the same; bytes after it do not matter. */
	FUZZ_ASSERT(parse(data, (size_t)rc, &ss2, &why2) == rc);
	FUZZ_ASSERT(ss2.ss_family == ss.ss_family);
	/* Every proper prefix of a header asks for more bytes. */
	for (size_t i = 0; i < (size_t)rc; i++)
		FUZZ_ASSERT(parse(data, i, &ss2, &why2) == 0);
	return 0;
}
