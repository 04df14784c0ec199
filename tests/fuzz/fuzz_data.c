/*
 * fuzz_data.c - the DATA decoder (data_feed) and BDAT (data_feed_raw).
 * Input: byte 0 = low 3 bits: how many chunk-size bytes follow (k),
 * bit 3 unused; then k chunk sizes (used in turn, 0 = an empty
 * chunk); the rest is the body. The body is decoded in one piece, in
 * those chunks and a byte at a time; all must agree byte for byte, in
 * size, flags and end.
 */
#include <string.h>

#include "data.h"
#include "fuzz.h"

struct result {
	char		*out;
	size_t		 outlen;
	size_t		 used;
	enum data_result r;
	struct data_decoder d;
};

/* decode - chunk sizes from sizes[0..nsizes) in turn (none: one piece). */
static void
decode(const char *in, size_t len, const uint8_t *sizes, size_t nsizes,
    struct result *res)
{
	size_t	pos = 0, k = 0, calls = 0;

	res->outlen = res->used = 0;
	res->r = DATA_MORE;
	data_init(&res->d);
	while (res->r == DATA_MORE) {
		size_t	n = nsizes ? sizes[k++ % nsizes] : len - pos;
		size_t	olen = (size_t)-1, used = (size_t)-1;
		char	*out;

		if (n > len - pos)
			n = len - pos;
		/* exactly the promised room, on the heap for ASan */
		if ((out = malloc(n + 2)) == NULL)
			abort();
		res->r = data_feed(&res->d, in + pos, n, out, &olen, &used);
		FUZZ_ASSERT(res->r == DATA_MORE || res->r == DATA_END);
		FUZZ_ASSERT(olen <= n + 2);
		FUZZ_ASSERT(used <= n);
		FUZZ_ASSERT(used == n || res->r == DATA_END);
		FUZZ_ASSERT((res->r == DATA_END) == (res->d.state == DS_END));
		memcpy(res->out + res->outlen, out, olen);
		res->outlen += olen;
		res->used += used;
		free(out);
		pos += n;
		if (pos == len && n == 0)
			break;		/* nothing left, and an empty call made */
		/* bounded: a call per chunk size per input byte at most */
		FUZZ_ASSERT(++calls <= (nsizes + 1) * (len + 2));
	}
	FUZZ_ASSERT(res->used <= len);
	/* The decoded size counts each output byte at least once, and no
	 * input byte more than once. */
	FUZZ_ASSERT(res->outlen <= res->d.size);
	FUZZ_ASSERT(res->d.size <= res->used);
}

static size_t
decode_raw(const char *in, size_t len, const uint8_t *sizes, size_t nsizes,
    char *out, uint64_t *size)
{
	struct data_decoder d;
	size_t	pos = 0, k = 0, o = 0;

	data_init(&d);
	while (pos < len) {
		size_t	n = nsizes ? sizes[k++ % nsizes] : len - pos;
		size_t	w;
		char	*tmp;

		if (n > len - pos)
			n = len - pos;
		if ((tmp = malloc(n + 1)) == NULL)
			abort();
		w = data_feed_raw(&d, in + pos, n, tmp);
		FUZZ_ASSERT(w <= n + 1);
		memcpy(out + o, tmp, w);
		o += w;
		free(tmp);
		pos += n;
	}
	o += data_finish_raw(&d, out + o);
	FUZZ_ASSERT(data_finish_raw(&d, out + o) == 0);
	FUZZ_ASSERT(o <= len);
	*size = d.size;
	return o;
}

/* The chunk sizes of a byte-per-call decode. */
static const uint8_t one_byte = 1;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result whole, parts;
	const uint8_t *sizes;
	const char *in;
	size_t	 nsizes, len;

	if (size < 1)
		return 0;
	nsizes = data[0] & 7;
	if (size < 1 + nsizes)
		return 0;
	sizes = data + 1;
	in = (const char *)data + 1 + nsizes;
	len = size - 1 - nsizes;
	/* only zero sizes would never get anywhere: one piece then */
	if (nsizes > 0 && memchr(sizes, 0, nsizes) != NULL) {
		size_t i;
		for (i = 0; i < nsizes && sizes[i] == 0; i++)
			;
		if (i == nsizes)
			nsizes = 0;
	}

	whole.out = malloc(len + 3);
	parts.out = malloc(2 * len + 3);
	if (whole.out == NULL || parts.out == NULL)
		abort();
	decode(in, len, NULL, 0, &whole);
	/* In the given chunks, then a byte per call: the state machine
	 * alone, without the runs a longer call copies whole. */
	for (int pass = 0; pass < 2; pass++) {
		decode(in, len, pass ? &one_byte : sizes, pass ? 1 : nsizes, &parts);
		FUZZ_ASSERT(whole.outlen == parts.outlen);
		FUZZ_ASSERT(memcmp(whole.out, parts.out, whole.outlen) == 0);
		FUZZ_ASSERT(whole.used == parts.used);
		FUZZ_ASSERT(whole.r == parts.r);
		FUZZ_ASSERT(whole.d.size == parts.d.size);
		FUZZ_ASSERT(whole.d.bare_lf == parts.d.bare_lf);
		FUZZ_ASSERT(whole.d.bare_cr == parts.d.bare_cr);
		FUZZ_ASSERT(whole.d.state == parts.d.state);
	}
	/* The end is CRLF "." CRLF (or "." CRLF at the very start), and the
	 * decoder stops right after it. */
	if (whole.r == DATA_END) {
		FUZZ_ASSERT(whole.used >= 3);
		FUZZ_ASSERT(memcmp(in + whole.used - 3, ".\r\n", 3) == 0);
		FUZZ_ASSERT(whole.used == 3 ||
		    (whole.used >= 5 && in[whole.used - 5] == '\r' &&
		    in[whole.used - 4] == '\n'));
	} else
		FUZZ_ASSERT(whole.used == len);
	/* Without a bare CR or LF there is nothing to flag. */
	if (memchr(in, '\n', whole.used) == NULL)
		FUZZ_ASSERT(!whole.d.bare_lf);
	if (memchr(in, '\r', whole.used) == NULL)
		FUZZ_ASSERT(!whole.d.bare_cr);

	/* BDAT: the same agreement for the raw decoder. */
	{
		char	*a = malloc(len + 2), *b = malloc(len + 2);
		uint64_t sa, sb;
		size_t	 na, nb;

		if (a == NULL || b == NULL)
			abort();
		na = decode_raw(in, len, NULL, 0, a, &sa);
		nb = decode_raw(in, len, sizes, nsizes, b, &sb);
		FUZZ_ASSERT(na == nb && memcmp(a, b, na) == 0);
		FUZZ_ASSERT(sa == len && sb == len);
		nb = decode_raw(in, len, &one_byte, 1, b, &sb);
		FUZZ_ASSERT(na == nb && memcmp(a, b, na) == 0);
		free(a);
		free(b);
	}
	free(whole.out);
	free(parts.out);
	return 0;
}
