/*
 * dirsync.c - group commit for directory fsyncs.
 * Owns: the table of directories being synced and who waits on them.
 * Threads: every field is guarded by dirsync_mu.
 *
 * A copy is durable in new/ once new/ itself has been synced after the
 * link. When many sessions deliver into one maildir at once, one fsync
 * started after all their links covers every one of them: each caller
 * takes a ticket after its link; a leader syncs on behalf of every
 * ticket taken before its fsync began; the others wait for it. The 250
 * still goes out only after a sync that began after the caller's link.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirsync.h"

struct dirsync {
	struct dirsync	*next;
	dev_t		 dev;
	ino_t		 ino;
	uint64_t	 taken;		/* tickets handed out */
	uint64_t	 synced;	/* tickets covered by a finished fsync */
	uint64_t	 failed;	/* tickets covered by a failed fsync */
	int		 failed_errno;
	int		 running;	/* a leader is in fsync() */
	int		 users;
	pthread_cond_t	 done;
};

static pthread_mutex_t	 dirsync_mu = PTHREAD_MUTEX_INITIALIZER;
static struct dirsync	*dirsync_list;

/* lookup - the entry for dev/ino, created if needed; under dirsync_mu. */
static struct dirsync *
lookup(dev_t dev, ino_t ino)
{
	struct dirsync *e;

	for (e = dirsync_list; e != NULL; e = e->next)
		if (e->dev == dev && e->ino == ino)
			return e;
	if ((e = calloc(1, sizeof *e)) == NULL)
		return NULL;
	e->dev = dev;
	e->ino = ino;
	pthread_cond_init(&e->done, NULL);
	e->next = dirsync_list;
	dirsync_list = e;
	return e;
}

static void
release(struct dirsync *e)
{
	struct dirsync **p;

	if (--e->users > 0)
		return;
	for (p = &dirsync_list; *p != e; p = &(*p)->next)
		;
	*p = e->next;
	pthread_cond_destroy(&e->done);
	free(e);
}

int
dirsync(int fd)
{
	struct dirsync	*e;
	struct stat	 st;
	uint64_t	 ticket, upto;
	int		 rc = 0, err = 0;

	if (fstat(fd, &st) == -1)
		return -1;
	pthread_mutex_lock(&dirsync_mu);
	if ((e = lookup(st.st_dev, st.st_ino)) == NULL) {
		pthread_mutex_unlock(&dirsync_mu);
		return fsync(fd);	/* no memory: sync alone */
	}
	e->users++;
	ticket = ++e->taken;
	while (e->synced < ticket && e->failed < ticket) {
		if (e->running) {
			pthread_cond_wait(&e->done, &dirsync_mu);
			continue;
		}
		/* Lead: this fsync covers every ticket taken so far. */
		e->running = 1;
		upto = e->taken;
		pthread_mutex_unlock(&dirsync_mu);
		rc = fsync(fd);
		err = errno;
		pthread_mutex_lock(&dirsync_mu);
		e->running = 0;
		if (rc == 0)
			e->synced = upto;
		else {
			e->failed = upto;
			e->failed_errno = err;
		}
		pthread_cond_broadcast(&e->done);
	}
	/* A failed sync that covered our ticket fails us, even if a later
	 * one succeeded: after an fsync error the link may be lost. */
	if (e->failed >= ticket) {
		rc = -1;
		err = e->failed_errno;
	} else
		rc = 0;
	release(e);
	pthread_mutex_unlock(&dirsync_mu);
	if (rc == -1)
		errno = err;
	return rc;
}
