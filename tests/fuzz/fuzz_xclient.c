/*
 * fuzz_xclient.c - xclient_parse on arbitrary argument lines, and
 * xclient_xtext on arbitrary bytes.
 */
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "smtpaddr.h"
#include "xclient.h"

/* plain - 1 if s holds no byte below 0x20 but (when spaces) a space,
 * and no DEL: what the session logs and writes into Received:. */
static int
plain(const char *s, int spaces)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c < 0x20 && !(spaces && c == ' ')) || c == 0x7f || (!spaces && c == ' '))
			return 0;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xclient	 x;
	struct sockaddr_storage cur, out;
	char		*line, dec[XCLIENT_VALUE_MAX + 1];
	const char	*why = NULL;
	int		 n;

	/* xtext: bounded by the output, and exact. */
	n = xclient_xtext((const char *)data, size, dec, sizeof dec);
	FUZZ_ASSERT(n >= -1 && n <= XCLIENT_VALUE_MAX);
	if (n >= 0) {
		FUZZ_ASSERT((size_t)n <= size && strlen(dec) == (size_t)n);
		FUZZ_ASSERT(memchr(data, '=', size) == NULL);
	}

	/* The session hands the parser a NUL-terminated line. */
	if ((line = malloc(size + 1)) == NULL)
		abort();
	memcpy(line, data, size);
	line[size] = '\0';
	memset(&x, 0xa5, sizeof x);
	if (xclient_parse(line, &x, &why) == -1) {
		FUZZ_ASSERT(why != NULL && why[0] != '\0');
		free(line);
		return 0;
	}
	FUZZ_ASSERT(x.given != 0 && (x.given & ~0xffu) == 0);
	FUZZ_ASSERT(strlen(x.name) <= XCLIENT_VALUE_MAX);
	FUZZ_ASSERT(strlen(x.helo) <= XCLIENT_VALUE_MAX);
	FUZZ_ASSERT(strlen(x.login) <= XCLIENT_VALUE_MAX);
	/* A name is a host name; a HELO one printable word; a login has
	 * no control character. */
	FUZZ_ASSERT(x.name[0] == '\0' || smtpaddr_valid_domain(x.name, strlen(x.name), 0));
	FUZZ_ASSERT(plain(x.helo, 0) && smtpaddr_valid_utf8(x.helo, strlen(x.helo)));
	FUZZ_ASSERT(plain(x.login, 1));
	FUZZ_ASSERT(x.port >= -1 && x.port <= 65535);
	FUZZ_ASSERT(x.destport >= -1 && x.destport <= 65535);
	FUZZ_ASSERT(x.esmtp == 0 || x.esmtp == 1);
	FUZZ_ASSERT(x.addr.ss_family == AF_UNSPEC || x.addr.ss_family == AF_INET ||
	    x.addr.ss_family == AF_INET6);
	FUZZ_ASSERT(x.destaddr.ss_family == AF_UNSPEC || x.destaddr.ss_family == AF_INET ||
	    x.destaddr.ss_family == AF_INET6);
	memset(&cur, 0, sizeof cur);
	cur.ss_family = AF_INET;
	xclient_client(&x, &cur, &out);
	FUZZ_ASSERT(out.ss_family == ((x.given & XCLIENT_ADDR) ? x.addr.ss_family : AF_INET));
	free(line);
	return 0;
}
