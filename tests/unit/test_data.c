/*
 * test_data.c - the DATA/BDAT body decoder (src/data.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "unit.h"

#define MAXIN	4096

/*
 * The decoder's searches, counted: this memchr takes the place of libc's
 * for data.c, and adds up the bytes each call looks at.
 */
static size_t memchr_looked;

void *
memchr(const void *s, int c, size_t n)
{
	const unsigned char *p = s;

	for (size_t i = 0; i < n; i++)
		if (p[i] == (unsigned char)c) {
			memchr_looked += i + 1;
			return (void *)(uintptr_t)(p + i);
		}
	memchr_looked += n;
	return NULL;
}

/* What one decoding run produced. */
struct run {
	char		out[2 * MAXIN + 16];
	size_t		outlen;
	size_t		used;		/* input bytes consumed in all */
	enum data_result r;
	uint64_t	size;
	int		bare_lf, bare_cr;
	int		contract_ok;	/* every call kept data_feed's promises */
};

/*
 * decode - feed in[0..len) to a fresh decoder in the chunks that the
 * sorted cut positions cuts[0..ncuts) make (cuts may repeat: empty
 * chunks are fed too). Stops at DATA_END. Each call gets an output
 * buffer of exactly chunk + 2 bytes (on the heap, for ASan).
 */
static void
decode(const char *in, size_t len, const size_t *cuts, size_t ncuts,
    struct run *res)
{
	struct data_decoder d;
	size_t	pos = 0, k;

	memset(res, 0, sizeof *res);
	res->contract_ok = 1;
	res->r = DATA_MORE;
	data_init(&d);
	for (k = 0; k <= ncuts && res->r == DATA_MORE; k++) {
		size_t	next = k < ncuts ? cuts[k] : len;
		size_t	n = next - pos, olen = (size_t)-1, used = (size_t)-1;
		char	*out = malloc(n + 2);

		if (out == NULL)
			abort();
		res->r = data_feed(&d, in + pos, n, out, &olen, &used);
		if (olen > n + 2 || used > n ||
		    (used < n && res->r != DATA_END))
			res->contract_ok = 0;
		else {
			memcpy(res->out + res->outlen, out, olen);
			res->outlen += olen;
			res->used += used;
		}
		free(out);
		pos = next;
	}
	res->size = d.size;
	res->bare_lf = d.bare_lf;
	res->bare_cr = d.bare_cr;
	if ((res->r == DATA_END) != (d.state == DS_END))
		res->contract_ok = 0;
}

static int
same_run(const struct run *a, const struct run *b)
{
	return a->contract_ok && b->contract_ok && a->outlen == b->outlen &&
	    memcmp(a->out, b->out, a->outlen) == 0 && a->used == b->used &&
	    a->r == b->r && a->size == b->size && a->bare_lf == b->bare_lf &&
	    a->bare_cr == b->bare_cr;
}

/*
 * every_split - 1 if every chunking of in gives the one-piece result:
 * each single cut, each pair of cuts (short inputs), byte by byte, and
 * fixed chunk sizes 2..16, with empty chunks mixed in.
 */
static int
every_split(const char *in, size_t len)
{
	struct run *ref = malloc(sizeof *ref), *r = malloc(sizeof *r);
	size_t	cuts[2 * MAXIN + 2], i, j, n;
	int	good = 1;

	if (ref == NULL || r == NULL)
		abort();
	decode(in, len, NULL, 0, ref);
	if (!ref->contract_ok)
		good = 0;
	for (i = 0; i <= len && good; i++) {
		cuts[0] = i;
		decode(in, len, cuts, 1, r);
		if (!same_run(ref, r)) {
			printf("#   differs when cut at %zu\n", i);
			good = 0;
		}
	}
	for (i = 0; i <= len && len <= 80 && good; i++)
		for (j = i; j <= len && good; j++) {
			cuts[0] = i;
			cuts[1] = j;
			decode(in, len, cuts, 2, r);
			if (!same_run(ref, r)) {
				printf("#   differs when cut at %zu and %zu\n", i, j);
				good = 0;
			}
		}
	/* Byte by byte, and byte by byte with an empty chunk after each. */
	for (i = 1; i < len; i++)
		cuts[i - 1] = i;
	decode(in, len, cuts, len ? len - 1 : 0, r);
	if (good && !same_run(ref, r)) {
		printf("#   differs byte by byte\n");
		good = 0;
	}
	for (i = 0, n = 0; i < len; i++) {
		cuts[n++] = i;
		cuts[n++] = i;
	}
	decode(in, len, cuts, n, r);
	if (good && !same_run(ref, r)) {
		printf("#   differs byte by byte with empty chunks\n");
		good = 0;
	}
	for (size_t step = 2; step <= 16 && good; step++) {
		for (i = step, n = 0; i < len; i += step)
			cuts[n++] = i;
		decode(in, len, cuts, n, r);
		if (!same_run(ref, r)) {
			printf("#   differs in chunks of %zu\n", step);
			good = 0;
		}
	}
	free(ref);
	free(r);
	return good;
}

/* expect - decode in one piece, check what came out, then every split. */
static void
expect(const char *file, int line, const char *in, size_t len,
    const char *want, size_t wantlen, enum data_result wr, size_t wused,
    uint64_t wsize, int wlf, int wcr)
{
	struct run *r = malloc(sizeof *r);
	char	 what[300], shown[200];

	if (r == NULL)
		abort();
	decode(in, len, NULL, 0, r);
	snprintf(what, sizeof what, "decoding \"%s\"",
	    unit_show(shown, sizeof shown, in, len));
	unit_check(r->contract_ok, file, line, "data_feed contract");
	unit_check_mem(r->out, r->outlen, want, wantlen, file, line, what);
	unit_check_int(r->r, wr, file, line, "result");
	unit_check_int((long long)r->used, (long long)wused, file, line, "used");
	unit_check_int((long long)r->size, (long long)wsize, file, line, "size");
	unit_check_int(r->bare_lf, wlf, file, line, "bare_lf");
	unit_check_int(r->bare_cr, wcr, file, line, "bare_cr");
	if (!every_split(in, len))
		unit_fail(file, line, what, "(chunking changes the result)");
	free(r);
}

/* EXPECT(input, output, result, used, size, bare_lf, bare_cr) with
 * string literals (sizeof, so NUL bytes inside are fine). */
#define EXPECT(in, out, r, used, size, lf, cr) \
	expect(__FILE__, __LINE__, in, sizeof(in) - 1, out, sizeof(out) - 1, \
	    r, used, size, lf, cr)

static void
test_plain(void)
{
	EXPECT("Hello\r\nWorld\r\n.\r\n", "Hello\nWorld\n", DATA_END, 17, 14, 0, 0);
	EXPECT("Subject: x\r\n\r\nbody\r\n.\r\n", "Subject: x\n\nbody\n",
	    DATA_END, 23, 20, 0, 0);
	EXPECT("a.b\r\nc.\r\n.\r\n", "a.b\nc.\n", DATA_END, 12, 9, 0, 0);
	EXPECT("\x00\x01\xff\r\n.\r\n", "\x00\x01\xff\n", DATA_END, 8, 5, 0, 0);
	EXPECT("no end yet\r\n", "no end yet\n", DATA_MORE, 12, 12, 0, 0);
	EXPECT("", "", DATA_MORE, 0, 0, 0, 0);
}

static void
test_empty_message(void)
{
	EXPECT(".\r\n", "", DATA_END, 3, 0, 0, 0);
	EXPECT(".\r\nMAIL FROM:<a@b>\r\n", "", DATA_END, 3, 0, 0, 0);
	EXPECT("\r\n.\r\n", "\n", DATA_END, 5, 2, 0, 0);
}

static void
test_dot_unstuffing(void)
{
	EXPECT("..\r\n.\r\n", ".\n", DATA_END, 7, 3, 0, 0);
	EXPECT("..foo\r\n.\r\n", ".foo\n", DATA_END, 10, 6, 0, 0);
	EXPECT("...\r\n.\r\n", "..\n", DATA_END, 8, 4, 0, 0);
	EXPECT("a\r\n..\r\n.\r\n", "a\n.\n", DATA_END, 10, 6, 0, 0);
	EXPECT(".x\r\n.\r\n", "x\n", DATA_END, 7, 3, 0, 0);
	EXPECT(".x.\r\n.\r\n", "x.\n", DATA_END, 8, 4, 0, 0);
	/* Only at the start of a line. */
	EXPECT("a..\r\n.\r\n", "a..\n", DATA_END, 8, 5, 0, 0);
	EXPECT(" .\r\n.\r\n", " .\n", DATA_END, 7, 4, 0, 0);
}

static void
test_end_detection(void)
{
	/* Bytes after the end are left for the next command. */
	EXPECT("a\r\n.\r\nQUIT\r\n", "a\n", DATA_END, 6, 3, 0, 0);
	EXPECT("a\r\n.\r\n.\r\n", "a\n", DATA_END, 6, 3, 0, 0);
	/* Not an end: a dot with more on its line, a dot mid-line. */
	EXPECT("a\r\n. \r\n", "a\n \n", DATA_MORE, 7, 6, 0, 0);
	EXPECT("a\r\nb.\r\n", "a\nb.\n", DATA_MORE, 7, 7, 0, 0);
	EXPECT("a.\r\n", "a.\n", DATA_MORE, 4, 4, 0, 0);
	/* Incomplete endings are held, not emitted. */
	EXPECT("a\r\n.", "a\n", DATA_MORE, 4, 3, 0, 0);
	EXPECT("a\r\n.\r", "a\n", DATA_MORE, 5, 3, 0, 0);
	EXPECT("a\r", "a", DATA_MORE, 2, 1, 0, 0);
}

/* The SMTP smuggling forms: none ends the data; each is flagged. */
static void
test_smuggling(void)
{
	/* <LF>.<LF> */
	EXPECT("a\n.\nb\r\n", "a\n.\nb\n", DATA_MORE, 7, 7, 1, 0);
	EXPECT("a\n.\nb\r\n.\r\n", "a\n.\nb\n", DATA_END, 10, 7, 1, 0);
	/* <LF>.<CR><LF> */
	EXPECT("a\n.\r\nb\r\n", "a\n.\nb\n", DATA_MORE, 8, 8, 1, 0);
	EXPECT("a\n.\r\nb\r\n.\r\n", "a\n.\nb\n", DATA_END, 11, 8, 1, 0);
	/* <CR><LF>.<LF> */
	EXPECT("a\r\n.\nb\r\n", "a\n.\nb\n", DATA_MORE, 8, 8, 1, 0);
	EXPECT("a\r\n.\nb\r\n.\r\n", "a\n.\nb\n", DATA_END, 11, 8, 1, 0);
	/* <CR>.<CR><LF> */
	EXPECT("a\r.\r\nb\r\n", "a\r.\nb\n", DATA_MORE, 8, 8, 0, 1);
	EXPECT("a\r.\r\nb\r\n.\r\n", "a\r.\nb\n", DATA_END, 11, 8, 0, 1);
	/* <CR><LF>.<CR> then not LF */
	EXPECT("a\r\n.\rb\r\n", "a\n.\rb\n", DATA_MORE, 8, 8, 0, 1);
	EXPECT("a\r\n.\rb\r\n.\r\n", "a\n.\rb\n", DATA_END, 11, 8, 0, 1);
	EXPECT("a\r\n.\r\r\n.\r\n", "a\n.\r\n", DATA_END, 10, 7, 0, 1);
	EXPECT("a\r\n.\r.\r\n", "a\n.\r.\n", DATA_MORE, 8, 8, 0, 1);
	/* <CR><CR><LF>: the first CR is bare. */
	EXPECT("a\r\r\n.\r\n", "a\r\n", DATA_END, 7, 4, 0, 1);
	/* The same at the very start (the DATA line's CRLF began it). */
	EXPECT("\n.\n", "\n.\n", DATA_MORE, 3, 3, 1, 0);
	EXPECT("\n.\r\n", "\n.\n", DATA_MORE, 4, 4, 1, 0);
	EXPECT(".\n", ".\n", DATA_MORE, 2, 2, 1, 0);
	EXPECT(".\n.\r\n", ".\n.\n", DATA_MORE, 5, 5, 1, 0);
	EXPECT("\r.\r\n", "\r.\n", DATA_MORE, 4, 4, 0, 1);
	EXPECT(".\r.\r\n", ".\r.\n", DATA_MORE, 5, 5, 0, 1);
	EXPECT(".\rx", ".\rx", DATA_MORE, 3, 3, 0, 1);
	/* Bare LF then CRLF.CRLF: the real end still works. */
	EXPECT("a\nb\r\n.\r\n", "a\nb\n", DATA_END, 8, 5, 1, 0);
	/* A bare LF does not begin a line: ".." after it stays "..". */
	EXPECT("a\n..\r\n.\r\n", "a\n..\n", DATA_END, 9, 6, 1, 0);
	/* Nor does a bare CR. */
	EXPECT("a\r..\r\n.\r\n", "a\r..\n", DATA_END, 9, 6, 0, 1);
}

static void
test_size_accounting(void)
{
	struct run *r = malloc(sizeof *r);
	char	*in = malloc(MAXIN);
	size_t	 n = 0;

	REQUIRE(r != NULL && in != NULL);
	/* 100 lines of ".x" stuffed: each costs 1 + 2 (the dot is not). */
	for (int i = 0; i < 100; i++) {
		memcpy(in + n, "..x\r\n", 5);
		n += 5;
	}
	memcpy(in + n, ".\r\n", 3);
	n += 3;
	decode(in, n, NULL, 0, r);
	CHECK_EQ_INT(r->r, DATA_END);
	CHECK_EQ_INT(r->size, 100 * 4);
	CHECK_EQ_INT(r->outlen, 100 * 3);
	CHECK_EQ_INT(r->used, n);
	CHECK(every_split(in, n));
	free(in);
	free(r);
}

/* A run that ended is over: more input is not consumed. */
static void
test_after_end(void)
{
	struct data_decoder d;
	char	out[16];
	size_t	olen = 99, used = 99;

	data_init(&d);
	CHECK_EQ_INT(data_feed(&d, ".\r\n", 3, out, &olen, &used), DATA_END);
	CHECK_EQ_INT(used, 3);
	CHECK_EQ_INT(olen, 0);
	CHECK_EQ_INT(data_feed(&d, "abc\r\n", 5, out, &olen, &used), DATA_END);
	CHECK_EQ_INT(used, 0);
	CHECK_EQ_INT(olen, 0);
	CHECK_EQ_INT(d.size, 0);
	/* data_init starts over. */
	data_init(&d);
	CHECK_EQ_INT(d.state, DS_BOL);
	CHECK_EQ_INT(data_feed(&d, "x\r\n", 3, out, &olen, &used), DATA_MORE);
	CHECK_EQ_INT(olen, 2);
	CHECK_EQ_INT(used, 3);
}

/* Output can exceed a chunk's input by at most two bytes. */
static void
test_output_bound(void)
{
	struct data_decoder d;
	char	out[8];
	size_t	olen, used;

	data_init(&d);
	data_feed(&d, ".", 1, out, &olen, &used);
	CHECK_EQ_INT(olen, 0);
	data_feed(&d, "\r", 1, out, &olen, &used);
	CHECK_EQ_INT(olen, 0);
	data_feed(&d, "x", 1, out, &olen, &used);
	CHECK_EQ_INT(olen, 3);
	CHECK_MEM(out, olen, ".\rx", 3);
	data_init(&d);
	data_feed(&d, "a\r", 2, out, &olen, &used);
	CHECK_EQ_INT(olen, 1);
	data_feed(&d, "\r", 1, out, &olen, &used);
	CHECK_EQ_INT(olen, 1);
	CHECK_MEM(out, olen, "\r", 1);
	data_feed(&d, "", 0, out, &olen, &used);
	CHECK_EQ_INT(olen, 0);
	CHECK_EQ_INT(used, 0);
}

/* A long mixed input cut everywhere. */
static void
test_every_chunk_boundary(void)
{
	static const char msg[] =
	    "From: a@example.org\r\n"
	    "Subject: test\r\n"
	    "\r\n"
	    "..leading dot\r\n"
	    ".\n"
	    "bare lf\nline\r\n"
	    "\r.\r\n"
	    ".\rx\r\n"
	    "\n.\r\n"
	    "...\r\n"
	    "mid.dle\r\r\n"
	    ".\r\r\n"
	    "\r\n"
	    ".\r\n"
	    "after the end\r\n.\r\n";

	CHECK(every_split(msg, sizeof msg - 1));
	CHECK(every_split(msg, 60));
	CHECK(every_split(msg + 3, sizeof msg - 4));
}

/*
 * A reference decoder written from the rules in data.c's header
 * comment, whole-input and without a state machine: compare it with
 * data_feed on pseudo-random inputs over { CR, LF, '.', 'a' }.
 */
static void
reference(const char *in, size_t len, struct run *res)
{
	size_t	i = 0;
	int	bol = 1;

	memset(res, 0, sizeof *res);
	res->contract_ok = 1;
	res->r = DATA_MORE;
	while (i < len) {
		if (bol && in[i] == '.') {
			if (i + 1 == len)
				break;			/* held */
			if (in[i + 1] == '\r') {
				if (i + 2 == len)
					break;		/* held */
				if (in[i + 2] == '\n') {
					res->r = DATA_END;
					i += 3;
					break;
				}
				res->out[res->outlen++] = '.';
				res->out[res->outlen++] = '\r';
				res->size += 2;
				res->bare_cr = 1;
				i += 2;
				bol = 0;
				continue;
			}
			if (in[i + 1] == '\n') {	/* kept, then a bare LF */
				res->out[res->outlen++] = '.';
				res->size++;
			}
			i++;				/* stuffing dot */
			bol = 0;
			continue;
		}
		if (in[i] == '\r') {
			if (i + 1 == len)
				break;			/* held */
			if (in[i + 1] == '\n') {
				res->out[res->outlen++] = '\n';
				res->size += 2;
				i += 2;
				bol = 1;
				continue;
			}
			res->bare_cr = 1;
		} else if (in[i] == '\n')
			res->bare_lf = 1;
		res->out[res->outlen++] = in[i++];
		res->size++;
		bol = 0;
	}
	/* Everything is consumed unless the end was seen. */
	res->used = res->r == DATA_END ? i : len;
}

static uint32_t rng_state = 2463534242u;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/* against_reference - random inputs of up to maxlen bytes over alphabet,
 * cut at random, must decode as the reference does. */
static void
against_reference(const char *alphabet, size_t maxlen, int tries)
{
	struct run *a = malloc(sizeof *a), *b = malloc(sizeof *b);
	size_t	 nalpha = strlen(alphabet), *cuts = malloc(MAXIN * sizeof *cuts);
	char	 in[MAXIN], shown[300];
	int	 bad = 0;

	REQUIRE(a != NULL && b != NULL && cuts != NULL && maxlen < MAXIN);
	for (int t = 0; t < tries && bad < 5; t++) {
		size_t len = rng() % (maxlen + 1), ncuts = 0;

		for (size_t i = 0; i < len; i++)
			in[i] = alphabet[rng() % nalpha];
		reference(in, len, a);
		for (size_t i = 0; i <= len; i++)
			if (rng() % (maxlen > 64 ? 100 : 3) == 0)
				cuts[ncuts++] = i;
		decode(in, len, cuts, ncuts, b);
		if (!same_run(a, b)) {
			CHECK(!"data_feed differs from the reference");
			printf("#   input \"%s\"\n",
			    unit_show(shown, sizeof shown, in, len));
			bad++;
		}
	}
	free(a);
	free(b);
	free(cuts);
}

/* Each byte is searched a bounded number of times whatever the mix of
 * CR and LF: no input makes the decoder go quadratic. */
static void
test_linear_search(void)
{
	static const char *units[] = { "a\r", "a\n", "\r", "\n", "ab\r\r", "a\n\n" };
	size_t	 len = 64 * 1024, olen, used;
	char	*in = malloc(len), *out = malloc(len + 2);
	struct data_decoder d;

	REQUIRE(in != NULL && out != NULL);
	for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
		size_t ul = strlen(units[u]);

		for (size_t i = 0; i < len; i++)
			in[i] = units[u][i % ul];
		in[len - 1] = 'z';	/* never a CR or LF at the very end */
		data_init(&d);
		memchr_looked = 0;
		data_feed(&d, in, len, out, &olen, &used);
		CHECK_EQ_INT(used, len);
		if (u == 0)	/* plain bytes to skip: the counting memchr ran */
			CHECK(memchr_looked >= len / 2);
		if (!CHECK(memchr_looked <= 2 * len))
			printf("#   pattern %zu: %zu bytes searched for %zu\n",
			    u, memchr_looked, len);
		d.state = DS_MID;
		memchr_looked = 0;
		data_feed_raw(&d, in, len, out);
		if (u == 0)
			CHECK(memchr_looked >= len / 2);
		CHECK(memchr_looked <= 2 * len);
	}
	free(in);
	free(out);
}

static void
test_random_against_reference(void)
{
	/* Short inputs dense in CR, LF and dots; then long lines, where
	 * most bytes go through the copy of a line's plain run. */
	against_reference("\r\n.a", 24, 20000);
	against_reference("\r\n.abcdefghijklmnopqrstuvwxyz0123456789 ", 1500, 3000);
}

/* raw - data_feed_raw over the given chunks, then data_finish_raw. */
static size_t
raw(const char *in, size_t len, const size_t *cuts, size_t ncuts,
    char *out, uint64_t *size, int *ok)
{
	struct data_decoder d;
	size_t	pos = 0, o = 0;

	*ok = 1;
	data_init(&d);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t	next = k < ncuts ? cuts[k] : len;
		size_t	n = next - pos, w;
		char	*tmp = malloc(n + 1);

		if (tmp == NULL)
			abort();
		w = data_feed_raw(&d, in + pos, n, tmp);
		if (w > n + 1)
			*ok = 0;
		memcpy(out + o, tmp, w);
		o += w;
		free(tmp);
		pos = next;
	}
	{
		char	last[1];
		size_t	w = data_finish_raw(&d, last);
		if (w > 1)
			*ok = 0;
		if (w == 1)
			out[o++] = last[0];
		/* A second finish has nothing more. */
		if (data_finish_raw(&d, last) != 0)
			*ok = 0;
	}
	*size = d.size;
	return o;
}

#define RAW(in, want) do {						\
	char	o_[256];						\
	uint64_t s_;							\
	int	ok_;							\
	size_t	n_ = raw(in, sizeof(in) - 1, NULL, 0, o_, &s_, &ok_);	\
	CHECK(ok_);							\
	CHECK_MEM(o_, n_, want, sizeof(want) - 1);			\
	CHECK_EQ_INT(s_, sizeof(in) - 1);				\
} while (0)

static void
test_raw(void)
{
	RAW("a\r\nb", "a\nb");
	RAW("a\r\nb\r\n", "a\nb\n");
	RAW("a\nb", "a\nb");			/* bare LF kept */
	RAW("a\rb", "a\rb");			/* bare CR kept */
	RAW("a\r", "a\r");			/* flushed by finish */
	RAW("\r\r\n", "\r\n");
	RAW("\r\r\r", "\r\r\r");
	RAW("\r\n.\r\n", "\n.\n");		/* no end marker, no stuffing */
	RAW("..x\r\n", "..x\n");
	RAW("", "");
	RAW("\x00\xff", "\x00\xff");
}

static void
test_raw_chunk_edges(void)
{
	static const char in[] = "ab\r\ncd\r\r\nef\r\rg\n\r\r\n\r.\r\n\r";
	size_t	len = sizeof in - 1, cuts[2 * sizeof in];
	char	ref[128], out[128];
	uint64_t rs, s;
	int	ok;
	size_t	rn = raw(in, len, NULL, 0, ref, &rs, &ok);

	CHECK(ok);
	CHECK_MEM(ref, rn, "ab\ncd\r\nef\r\rg\n\r\n\r.\n\r", 19);
	CHECK_EQ_INT(rs, len);
	for (size_t i = 0; i <= len; i++)
		for (size_t j = i; j <= len; j++) {
			cuts[0] = i;
			cuts[1] = j;
			size_t n = raw(in, len, cuts, 2, out, &s, &ok);
			if (!CHECK(ok && n == rn && memcmp(out, ref, n) == 0 && s == rs)) {
				printf("#   cut at %zu and %zu\n", i, j);
				return;
			}
		}
	for (size_t i = 1; i < len; i++)
		cuts[i - 1] = i;
	size_t n = raw(in, len, cuts, len - 1, out, &s, &ok);
	CHECK(ok);
	CHECK_MEM(out, n, ref, rn);
	/* A CR held over a chunk edge: nothing for it until the next byte. */
	{
		struct data_decoder d;
		char	o[4];
		data_init(&d);
		CHECK_EQ_INT(data_feed_raw(&d, "x\r", 2, o), 1);
		CHECK_EQ_INT(data_feed_raw(&d, "\n", 1, o), 1);
		CHECK_EQ_INT(o[0], '\n');
		CHECK_EQ_INT(data_feed_raw(&d, "\r", 1, o), 0);
		CHECK_EQ_INT(data_feed_raw(&d, "\r", 1, o), 1);
		CHECK_EQ_INT(o[0], '\r');
		CHECK_EQ_INT(data_feed_raw(&d, "y", 1, o), 2);
		CHECK_MEM(o, 2, "\ry", 2);
		CHECK_EQ_INT(data_finish_raw(&d, o), 0);
		CHECK_EQ_INT(d.size, 6);
	}
}

int
main(void)
{
	RUN(test_plain);
	RUN(test_empty_message);
	RUN(test_dot_unstuffing);
	RUN(test_end_detection);
	RUN(test_smuggling);
	RUN(test_size_accounting);
	RUN(test_after_end);
	RUN(test_output_bound);
	RUN(test_every_chunk_boundary);
	RUN(test_linear_search);
	RUN(test_random_against_reference);
	RUN(test_raw);
	RUN(test_raw_chunk_edges);
	return unit_done();
}
