/*
 * test_ratelimit.c - the fixed-size rate table (src/ratelimit.c).
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ratelimit.h"
#include "unit.h"

static unsigned char *
v4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	static unsigned char x[16];

	memset(x, 0, sizeof x);
	x[0] = (unsigned char)a; x[1] = (unsigned char)b;
	x[2] = (unsigned char)c; x[3] = (unsigned char)d;
	return x;
}

/* rss_kb - this process's resident set, from /proc. */
static long
rss_kb(void)
{
	char	 line[256];
	long	 kb = -1;
	FILE	*fp = fopen("/proc/self/status", "r");

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof line, fp) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(fp);
	return kb;
}

static void
test_counts_per_minute(void)
{
	ratelimit_reset();
	for (unsigned i = 1; i <= 5; i++)
		CHECK_EQ_INT(ratelimit_hit(RATELIMIT_CONNECT, AF_INET, v4(192, 0, 2, 1), 1000), i);
	/* Kinds and clients are counted apart. */
	CHECK_EQ_INT(ratelimit_hit(RATELIMIT_MAIL, AF_INET, v4(192, 0, 2, 1), 1000), 1);
	CHECK_EQ_INT(ratelimit_hit(RATELIMIT_CONNECT, AF_INET, v4(192, 0, 2, 2), 1000), 1);
	CHECK_EQ_INT(ratelimit_hit(RATELIMIT_CONNECT, AF_INET, v4(192, 0, 2, 1), 1059), 6);
	/* A new minute starts from one. */
	CHECK_EQ_INT(ratelimit_hit(RATELIMIT_CONNECT, AF_INET, v4(192, 0, 2, 1), 1060), 1);
	CHECK_EQ_INT(ratelimit_hit(RATELIMIT_MAIL, AF_INET, v4(192, 0, 2, 1), 1060), 1);
}

static void
test_ipv6_per_64(void)
{
	unsigned char a[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1 }, b[16];

	ratelimit_reset();
	memcpy(b, a, 16);
	b[15] = 7;
	CHECK_EQ_INT(ratelimit_hit(RATELIMIT_CONNECT, AF_INET6, a, 50), 1);
	CHECK_EQ_INT(ratelimit_hit(RATELIMIT_CONNECT, AF_INET6, b, 50), 2);
	b[7] = 2;	/* another /64 */
	CHECK_EQ_INT(ratelimit_hit(RATELIMIT_CONNECT, AF_INET6, b, 50), 1);
	/* An IPv4 address never shares an IPv6 client's entry. */
	memset(b, 0, sizeof b);
	memcpy(b, a, 4);
	CHECK_EQ_INT(ratelimit_hit(RATELIMIT_CONNECT, AF_INET, b, 50), 1);
}

/* 100,000 distinct addresses twice over: the table and the resident
 * memory stay as they were; a client seen just now keeps its count. */
static void
test_flood_memory_flat(void)
{
	long	 before, after;
	unsigned n;

	ratelimit_reset();
	for (unsigned i = 0; i < 100000; i++)
		ratelimit_hit(RATELIMIT_CONNECT, AF_INET,
		    v4(10, (i >> 16) & 255, (i >> 8) & 255, i & 255), 2000);
	before = rss_kb();
	for (unsigned i = 100000; i < 200000; i++) {
		ratelimit_hit(RATELIMIT_CONNECT, AF_INET,
		    v4(10, (i >> 16) & 255, (i >> 8) & 255, i & 255), 2001);
		if (i % 1000 == 0)
			ratelimit_hit(RATELIMIT_CONNECT, AF_INET, v4(198, 51, 100, 9), 2001);
	}
	after = rss_kb();
	printf("# table %zu bytes, rss %ld kB -> %ld kB\n", ratelimit_table_size(),
	    before, after);
	CHECK(before > 0 && after - before < 256);
	CHECK(ratelimit_table_size() < 4 * 1024 * 1024);
	/* Hit every 1000th step, it is never the least recent in its set. */
	n = ratelimit_hit(RATELIMIT_CONNECT, AF_INET, v4(198, 51, 100, 9), 2001);
	CHECK_EQ_INT(n, 101);
	/* The newest entries are there; evicted ones start again at one. */
	CHECK_EQ_INT(ratelimit_hit(RATELIMIT_CONNECT, AF_INET, v4(10, 3, 13, 63), 2001), 2);
}

int
main(void)
{
	RUN(test_counts_per_minute);
	RUN(test_ipv6_per_64);
	RUN(test_flood_memory_flat);
	return unit_done();
}
