/*
 * ratelimit.c - connections and MAIL commands per client per minute
 * (Postfix's anvil, in-process).
 * Owns: the rate table: RATELIMIT_SETS sets of RATELIMIT_WAYS entries,
 * a static array, so a flood of distinct addresses costs no memory: a
 * full set forgets its least recently seen client, which only loses
 * that client's history. A client is an IPv4 address or an IPv6 /64.
 * Not here: the limits and the replies (session.c).
 * Threads: any; a set is guarded by one of RATELIMIT_STRIPES mutexes.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "ratelimit.h"

#define RATELIMIT_STRIPES	64
#define KEY_LEN			9	/* family tag, then 8 address bytes */

struct entry {
	unsigned char	key[KEY_LEN];	/* all zero: a free entry */
	time_t		start[RATELIMIT_KINDS];	/* the minute's first event */
	unsigned	count[RATELIMIT_KINDS];
	unsigned long	used;		/* tick of its last event */
};

static struct entry	table[RATELIMIT_SETS][RATELIMIT_WAYS];
static pthread_mutex_t	stripes[RATELIMIT_STRIPES];
static pthread_once_t	once = PTHREAD_ONCE_INIT;
static uint64_t		seed;		/* written once, under once */
static atomic_ulong	ticks;		/* orders events for eviction */

static void	init(void);
static unsigned	set_of(const unsigned char *);

static void
init(void)
{
	for (int i = 0; i < RATELIMIT_STRIPES; i++)
		pthread_mutex_init(&stripes[i], NULL);
	/* A secret hash seed: a client cannot pick addresses that share a set. */
	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
		seed = (uint64_t)(uintptr_t)&seed ^ (uint64_t)time(NULL);
}

/* set_of - FNV-1a of the key, seeded. */
static unsigned
set_of(const unsigned char *key)
{
	uint64_t h = 1469598103934665603ULL ^ seed;

	for (int i = 0; i < KEY_LEN; i++) {
		h ^= key[i];
		h *= 1099511628211ULL;
	}
	h ^= h >> 29;
	return (unsigned)(h % RATELIMIT_SETS);
}

unsigned
ratelimit_hit(enum ratelimit_kind kind, int family, const unsigned char addr[16],
    time_t now)
{
	unsigned char	 key[KEY_LEN];
	struct entry	*set, *e = NULL, *victim;
	unsigned	 idx, n;
	int		 i;

	pthread_once(&once, init);
	memset(key, 0, sizeof key);
	if (family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, addr, 4);
	} else {
		key[0] = family == AF_INET6 ? 6 : 1;
		memcpy(key + 1, addr, 8);	/* the /64 */
	}
	idx = set_of(key);
	set = table[idx];
	pthread_mutex_lock(&stripes[idx % RATELIMIT_STRIPES]);
	victim = NULL;
	for (i = 0; i < RATELIMIT_WAYS && e == NULL; i++) {
		struct entry *c = &set[i];
		if (memcmp(c->key, key, KEY_LEN) == 0)
			e = c;
		else if (c->key[0] == 0) {
			if (victim == NULL || victim->key[0] != 0)
				victim = c;	/* a free entry first */
		} else if (victim == NULL ||
		    (victim->key[0] != 0 && c->used < victim->used))
			victim = c;		/* else the least recent */
	}
	if (e == NULL) {
		e = victim;
		memset(e, 0, sizeof *e);
		memcpy(e->key, key, KEY_LEN);
	}
	if (e->count[kind] == 0 || now - e->start[kind] >= RATELIMIT_WINDOW ||
	    now < e->start[kind]) {
		e->start[kind] = now;
		e->count[kind] = 0;
	}
	if (e->count[kind] < UINT32_MAX)
		e->count[kind]++;
	e->used = atomic_fetch_add(&ticks, 1) + 1;
	n = e->count[kind];
	pthread_mutex_unlock(&stripes[idx % RATELIMIT_STRIPES]);
	return n;
}

size_t
ratelimit_table_size(void)
{
	return sizeof table;
}

void
ratelimit_reset(void)
{
	pthread_once(&once, init);
	for (unsigned i = 0; i < RATELIMIT_SETS; i++) {
		pthread_mutex_lock(&stripes[i % RATELIMIT_STRIPES]);
		memset(table[i], 0, sizeof table[i]);
		pthread_mutex_unlock(&stripes[i % RATELIMIT_STRIPES]);
	}
}
