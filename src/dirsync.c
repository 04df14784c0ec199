/*
 * dirsync.c - group commit for directory fsyncs.
 * Owns: the table of directories being synced and who waits on them.
 * Threads: the table and every queue are guarded by dirsync_mu.
 *
 * A copy is durable in new/ once new/ itself has been synced after the
 * link. When many sessions deliver into one maildir at once, one fsync
 * started after all their links covers every one of them: a caller
 * finding no sync running leads one; a caller finding one running
 * queues after its link and sleeps. The leader takes the whole queue
 * just before its fsync starts, so everyone in it linked before that
 * fsync began, and posts each its result afterwards; whoever queued
 * meanwhile is woken to lead the next round. The 250 goes out only
 * after a sync that began after the caller's link.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <unistd.h>

#include "dirsync.h"

/* A caller waiting for a sync to cover it; lives on its own stack. */
struct waiter {
	struct waiter	*next;
	int		 lead;		/* woken to lead the next sync */
	int		 err;		/* covered: 0, or the fsync's errno */
	sem_t		 wake;
};

struct dirsync {
	struct dirsync	*next;
	dev_t		 dev;
	ino_t		 ino;
	int		 running;	/* a leader is between take and hand-on */
	struct waiter	*head, **tail;	/* queued after their link */
	int		 users;
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
	e->tail = &e->head;
	e->next = dirsync_list;
	dirsync_list = e;
	return e;
}

/* release - drop one user; under dirsync_mu. */
static void
release(struct dirsync *e)
{
	struct dirsync **p;

	if (--e->users > 0)
		return;
	for (p = &dirsync_list; *p != e; p = &(*p)->next)
		;
	*p = e->next;
	free(e);
}

/* lead - one fsync covering every caller queued now; then wake them and
 * hand the lead to the first caller queued meanwhile. */
static int
lead(struct dirsync *e, int fd)
{
	struct waiter	*covered, *w, *after, *next;
	int		 rc, err;

	pthread_mutex_lock(&dirsync_mu);
	covered = e->head;
	e->head = NULL;
	e->tail = &e->head;
	pthread_mutex_unlock(&dirsync_mu);

	rc = fsync(fd);
	err = rc == -1 ? (errno ? errno : EIO) : 0;

	pthread_mutex_lock(&dirsync_mu);
	if ((next = e->head) != NULL) {
		if ((e->head = next->next) == NULL)
			e->tail = &e->head;
	} else
		e->running = 0;
	pthread_mutex_unlock(&dirsync_mu);
	for (w = covered; w != NULL; w = after) {
		after = w->next;
		w->err = err;
		sem_post(&w->wake);	/* w may be gone from here on */
	}
	if (next != NULL) {
		next->lead = 1;
		sem_post(&next->wake);
	}
	if (rc == -1)
		errno = err;
	return rc;
}

int
dirsync(int fd, dev_t dev, ino_t ino)
{
	struct dirsync	*e;
	struct waiter	 self;
	int		 rc, saved;

	pthread_mutex_lock(&dirsync_mu);
	if ((e = lookup(dev, ino)) == NULL) {
		pthread_mutex_unlock(&dirsync_mu);
		return fsync(fd);	/* no memory: sync alone */
	}
	e->users++;
	if (!e->running) {
		e->running = 1;
		pthread_mutex_unlock(&dirsync_mu);
		rc = lead(e, fd);
	} else {
		self.next = NULL;
		self.lead = 0;
		self.err = 0;
		sem_init(&self.wake, 0, 0);
		*e->tail = &self;
		e->tail = &self.next;
		pthread_mutex_unlock(&dirsync_mu);
		while (sem_wait(&self.wake) == -1 && errno == EINTR)
			;
		sem_destroy(&self.wake);
		if (self.lead)
			rc = lead(e, fd);
		else if (self.err) {
			errno = self.err;
			rc = -1;
		} else
			rc = 0;
	}
	saved = errno;
	pthread_mutex_lock(&dirsync_mu);
	release(e);
	pthread_mutex_unlock(&dirsync_mu);
	errno = saved;
	return rc;
}
