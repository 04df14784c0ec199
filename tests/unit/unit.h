/*
 * unit.h - a tiny assertion framework for the C unit tests (no deps).
 *
 *	static void test_something(void) {
 *		CHECK(x > 0);
 *		CHECK_EQ_INT(f(1), 2);
 *		CHECK_STR(buf, "abc");
 *		REQUIRE(p != NULL);	(a failing REQUIRE ends the test)
 *	}
 *	int main(void) { RUN(test_something); return unit_done(); }
 *
 * Each test function counts as one test: it passes when all of its
 * checks pass; RUN_KNOWN_BUG(fn) runs fn only when UNIT_KNOWN_BUGS=1
 * is set (a skipped test counts neither way). Output: "ok - name", or "FAIL - name: file:line: expr"
 * (more failures of the same test follow as "#   file:line: ..."), and
 * finally exactly "N passed, N failed". unit_done() returns the exit
 * status: 0 iff nothing failed.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNIT_UNUSED	__attribute__((unused))

static int		 unit_npassed UNIT_UNUSED;
static int		 unit_nfailed UNIT_UNUSED;
static int		 unit_cur_failures UNIT_UNUSED;
static const char	*unit_cur_name UNIT_UNUSED = "(none)";

/* unit_fail - note one failed check of the running test. */
static UNIT_UNUSED void
unit_fail(const char *file, int line, const char *expr, const char *detail)
{
	if (unit_cur_failures++ == 0)
		printf("FAIL - %s: %s:%d: %s%s%s\n", unit_cur_name, file, line,
		    expr, detail[0] ? " " : "", detail);
	else
		printf("#   %s:%d: %s%s%s\n", file, line, expr,
		    detail[0] ? " " : "", detail);
	fflush(stdout);
}

/* unit_show - a printable copy of s[0..len) (\xHH for other bytes). */
static UNIT_UNUSED const char *
unit_show(char *dst, size_t size, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t	o = 0, i;

	if (s == NULL) {
		snprintf(dst, size, "(null)");
		return dst;
	}
	for (i = 0; i < len && o + 5 < size; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
			dst[o++] = (char)c;
		else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	if (i < len && o + 4 < size) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

static UNIT_UNUSED int
unit_check(int ok, const char *file, int line, const char *expr)
{
	if (!ok)
		unit_fail(file, line, expr, "");
	return ok;
}

static UNIT_UNUSED int
unit_check_int(long long a, long long b, const char *file, int line,
    const char *expr)
{
	char	detail[96];

	if (a == b)
		return 1;
	snprintf(detail, sizeof detail, "(got %lld, want %lld)", a, b);
	unit_fail(file, line, expr, detail);
	return 0;
}

static UNIT_UNUSED int
unit_check_mem(const char *a, size_t alen, const char *b, size_t blen,
    const char *file, int line, const char *expr)
{
	char	detail[600], sa[256], sb[256];

	if (a != NULL && b != NULL && alen == blen && memcmp(a, b, alen) == 0)
		return 1;
	snprintf(detail, sizeof detail, "(got \"%s\" [%zu], want \"%s\" [%zu])",
	    unit_show(sa, sizeof sa, a, alen), alen,
	    unit_show(sb, sizeof sb, b, blen), blen);
	unit_fail(file, line, expr, detail);
	return 0;
}

static UNIT_UNUSED int
unit_check_str(const char *a, const char *b, const char *file, int line,
    const char *expr)
{
	return unit_check_mem(a, a ? strlen(a) : 0, b, b ? strlen(b) : 0,
	    file, line, expr);
}

/* The checks; each evaluates to 1 when it passed. */
#define CHECK(cond) \
	unit_check((cond) ? 1 : 0, __FILE__, __LINE__, #cond)
#define CHECK_EQ_INT(a, b) \
	unit_check_int((long long)(a), (long long)(b), __FILE__, __LINE__, \
	    #a " == " #b)
#define CHECK_STR(a, b) \
	unit_check_str((a), (b), __FILE__, __LINE__, #a " eq " #b)
#define CHECK_MEM(a, alen, b, blen) \
	unit_check_mem((a), (alen), (b), (blen), __FILE__, __LINE__, \
	    #a " eq " #b)
/* REQUIRE - like CHECK, but a failure ends the test function. */
#define REQUIRE(cond) \
	do { if (!CHECK(cond)) return; } while (0)

/* unit_run - run one test function and record its verdict. */
static UNIT_UNUSED void
unit_run(void (*fn)(void), const char *name)
{
	unit_cur_name = name;
	unit_cur_failures = 0;
	fn();
	if (unit_cur_failures == 0) {
		printf("ok - %s\n", name);
		unit_npassed++;
	} else
		unit_nfailed++;
	fflush(stdout);
	unit_cur_name = "(none)";
}
#define RUN(fn)	unit_run(fn, #fn)

/*
 * RUN_KNOWN_BUG - a test that states the correct behaviour of code with
 * a reported, not yet fixed bug. It is skipped (counted neither way)
 * unless UNIT_KNOWN_BUGS is set in the environment; once the bug is
 * fixed, turn it into a plain RUN.
 */
static UNIT_UNUSED void
unit_run_known_bug(void (*fn)(void), const char *name)
{
	const char *e = getenv("UNIT_KNOWN_BUGS");

	if (e == NULL || *e == '\0' || strcmp(e, "0") == 0) {
		printf("skip - %s (known bug; UNIT_KNOWN_BUGS=1 runs it)\n", name);
		fflush(stdout);
		return;
	}
	unit_run(fn, name);
}
#define RUN_KNOWN_BUG(fn)	unit_run_known_bug(fn, #fn)

/* unit_done - the summary line; returns the exit status. */
static UNIT_UNUSED int
unit_done(void)
{
	printf("%d passed, %d failed\n", unit_npassed, unit_nfailed);
	fflush(stdout);
	return unit_nfailed == 0 ? 0 : 1;
}

#endif
