/*
 * test_dirsync.c - group-committed directory fsyncs: many threads at
 * once all get a successful sync of their directory, errors reach the
 * caller, and nothing is left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirsync.h"
#include "unit.h"

#define THREADS	16
#define ROUNDS	40

/* sync_dir - dirsync(fd) as maildir.c calls it: keyed by fstat. */
static int
sync_dir(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		return -1;
	return dirsync(fd, st.st_dev, st.st_ino);
}

struct worker {
	int	dirfd;
	int	index;
	int	failures;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	char	name[64];

	for (int i = 0; i < ROUNDS; i++) {
		int fd;
		snprintf(name, sizeof name, "f%d.%d", w->index, i);
		fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd == -1 || close(fd) == -1 || sync_dir(w->dirfd) == -1)
			w->failures++;
		if (unlinkat(w->dirfd, name, 0) == -1)
			w->failures++;
	}
	return NULL;
}

static void
test_concurrent_callers_all_succeed(void)
{
	char	dir[] = "/tmp/test_dirsync.XXXXXX";
	struct worker w[THREADS];
	pthread_t t[THREADS];
	int	dfd, other;

	REQUIRE(mkdtemp(dir) != NULL);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	REQUIRE(dfd != -1);
	/* A second descriptor of the same directory shares its entry. */
	other = open(dir, O_RDONLY | O_DIRECTORY);
	REQUIRE(other != -1);
	for (int i = 0; i < THREADS; i++) {
		w[i].dirfd = i % 2 ? other : dfd;
		w[i].index = i;
		w[i].failures = 0;
		REQUIRE(pthread_create(&t[i], NULL, work, &w[i]) == 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(w[i].failures, 0);
	}
	CHECK_EQ_INT(sync_dir(dfd), 0);
	close(dfd);
	close(other);
	CHECK_EQ_INT(rmdir(dir), 0);
}

static void
test_error_reaches_caller(void)
{
	int	p[2];

	REQUIRE(pipe(p) == 0);
	errno = 0;
	CHECK_EQ_INT(sync_dir(p[0]), -1);	/* fsync of a pipe: EINVAL */
	CHECK_EQ_INT(errno, EINVAL);
	close(p[0]);
	close(p[1]);
	errno = 0;
	CHECK_EQ_INT(dirsync(-1, 0, 0), -1);
	CHECK_EQ_INT(errno, EBADF);
}

int
main(void)
{
	RUN(test_concurrent_callers_all_succeed);
	RUN(test_error_reaches_caller);
	return unit_done();
}
