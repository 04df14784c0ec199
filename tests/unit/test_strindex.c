/*
 * test_strindex.c - case-blind string indexes (src/strindex.c).
 */
#include <stdio.h>
#include <string.h>

#include "strindex.h"
#include "unit.h"

static void
test_put_get(void)
{
	struct strindex	ix = { 0 };

	CHECK_EQ_INT(strindex_get(&ix, "a"), -1);	/* empty, no table */
	CHECK_EQ_INT(strindex_put(&ix, "User@Example.org", 3), 1);
	CHECK_EQ_INT(strindex_get(&ix, "user@example.ORG"), 3);
	CHECK_EQ_INT(strindex_put(&ix, "USER@example.org", 9), 0);	/* first kept */
	CHECK_EQ_INT(strindex_get(&ix, "user@example.org"), 3);
	CHECK_EQ_INT(strindex_get(&ix, "user@example.net"), -1);
	strindex_clear(&ix);
	CHECK_EQ_INT(strindex_get(&ix, "user@example.org"), -1);
	CHECK_EQ_INT(strindex_put(&ix, "user@example.org", 1), 1);
	strindex_free(&ix);
	CHECK_EQ_INT(strindex_get(&ix, "user@example.org"), -1);
}

/* Growth keeps every key, and the table stays at most half full. */
static void
test_growth(void)
{
	static char	keys[5000][16];
	struct strindex	ix = { 0 };
	int		i, bad = 0;

	for (i = 0; i < 5000; i++) {
		snprintf(keys[i], sizeof keys[i], "k%d", i);
		if (strindex_put(&ix, keys[i], i) != 1)
			bad++;
		CHECK(ix.n * 2 <= ix.cap);
	}
	CHECK_EQ_INT(bad, 0);
	for (i = 0; i < 5000; i++) {
		char other[16];

		snprintf(other, sizeof other, "K%d", i);
		if (strindex_get(&ix, other) != i)
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(strindex_get(&ix, "k5000"), -1);
	strindex_free(&ix);
}

/* Reserved room: puts up to it never move the table. */
static void
test_reserve(void)
{
	struct strindex	 ix = { 0 };
	const char	**before;

	REQUIRE(strindex_reserve(&ix, 100) == 0);
	before = ix.key;
	for (int i = 0; i < 100; i++) {
		static char keys[100][8];

		snprintf(keys[i], sizeof keys[i], "%d", i);
		CHECK_EQ_INT(strindex_put(&ix, keys[i], i), 1);
	}
	CHECK(ix.key == before);
	CHECK_EQ_INT(strindex_reserve(&ix, 0), 0);
	strindex_free(&ix);
}

int
main(void)
{
	RUN(test_put_get);
	RUN(test_growth);
	RUN(test_reserve);
	return unit_done();
}
