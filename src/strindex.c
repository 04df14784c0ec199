/*
 * strindex.c - case-blind string indexes (see strindex.h).
 * Owns: the table and its growth. Not here: the strings, which stay
 * the caller's.
 * Threads: no shared state.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "strindex.h"

/* slot - where key is, or the empty slot it would take (cap > 0). */
static unsigned
slot(const struct strindex *ix, const char *key)
{
	unsigned i = buf_hash_nocase(key) & (ix->cap - 1);

	while (ix->key[i] != NULL && strcasecmp(ix->key[i], key) != 0)
		i = (i + 1) & (ix->cap - 1);
	return i;
}

int
strindex_reserve(struct strindex *ix, unsigned n)
{
	const char	**okey = ix->key, **key;
	int		 *oval = ix->val, *val;
	unsigned	  ocap = ix->cap, cap, i, j;

	if (n <= ix->cap / 2)
		return 0;
	if (n > (1u << 28))
		return -1;
	for (cap = ocap ? ocap : 16; cap / 2 < n; cap *= 2)
		;
	key = calloc(cap, sizeof *key);
	val = calloc(cap, sizeof *val);
	if (key == NULL || val == NULL) {
		free(key);
		free(val);
		return -1;
	}
	ix->key = key;
	ix->val = val;
	ix->cap = cap;
	for (i = 0; i < ocap; i++)
		if (okey[i] != NULL) {
			j = slot(ix, okey[i]);
			key[j] = okey[i];
			val[j] = oval[i];
		}
	free(okey);
	free(oval);
	return 0;
}

int
strindex_put(struct strindex *ix, const char *key, int val)
{
	unsigned i;

	if (strindex_reserve(ix, ix->n + 1) == -1)
		return -1;
	i = slot(ix, key);
	if (ix->key[i] != NULL)
		return 0;
	ix->key[i] = key;
	ix->val[i] = val;
	ix->n++;
	return 1;
}

int
strindex_get(const struct strindex *ix, const char *key)
{
	unsigned i;

	if (ix->cap == 0)
		return -1;
	i = slot(ix, key);
	return ix->key[i] != NULL ? ix->val[i] : -1;
}

void
strindex_clear(struct strindex *ix)
{
	if (ix->cap > 0)
		memset(ix->key, 0, ix->cap * sizeof *ix->key);
	ix->n = 0;
}

void
strindex_free(struct strindex *ix)
{
	free(ix->key);
	free(ix->val);
	memset(ix, 0, sizeof *ix);
}
