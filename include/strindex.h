/*
 * strindex.h - a case-blind index of strings the caller keeps: key ->
 * a non-negative int (an index into the caller's array). Open
 * addressing, a power of two slots, at most half full, grown on demand.
 * Serves the config's tables (tables.c) and a transaction's recipients
 * and copies (session.c).
 * Threads: none of its own; one writer, or readers only.
 */
#ifndef STRINDEX_H
#define STRINDEX_H

struct strindex {
	const char	**key;		/* not owned: valid while indexed */
	int		 *val;
	unsigned	  cap, n;
};

/* strindex_reserve - room for n keys in all; 0 or -1 (memory). */
int	strindex_reserve(struct strindex *ix, unsigned n);
/*
 * strindex_put - key -> val unless key (any case) is there already:
 * 1 added, 0 there already (its value kept), -1 no memory.
 */
int	strindex_put(struct strindex *ix, const char *key, int val);
/* strindex_get - the value of key (any case), or -1. */
int	strindex_get(const struct strindex *ix, const char *key);
/* strindex_clear - forget every key; the room stays. */
void	strindex_clear(struct strindex *ix);
/* strindex_free - free it; it is then empty (usable again). */
void	strindex_free(struct strindex *ix);

#endif
