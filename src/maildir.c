/*
 * maildir.c - where a recipient's copy goes and how it gets there.
 * Owns: %u/%d template expansion, safe directory creation below the
 * spool root, the short-lived cache of mailbox directories, unique file
 * names, the tmp/ -> new/ protocol, and the start-up sweep of stale
 * tmp/ files.
 * Not here: the message bytes (delivery.c writes them through f->fd).
 * Threads: every session thread delivers; the name counter is atomic,
 * the directory cache is behind dircache_lk, the host part is set once
 * before the first client thread starts.
 *
 * The maildir protocol: create tmp/NAME with O_EXCL, write, fsync,
 * close, move it to new/NAME, fsync new/. The move is a rename that
 * refuses to replace (RENAME_NOREPLACE), so a name clash fails rather
 * than overwrites; where the filesystem cannot do that (NFS), it is the
 * classic link() to new/ and unlink() of tmp/NAME after the fsync.
 * Where the filesystem can (ext4, xfs, btrfs, tmpfs), the file is made
 * unnamed in new/ instead (O_TMPFILE), written, fsynced, given its name
 * there by linkat(), and fsynced again: data durable before the name,
 * the name durable before the 250, no tmp/ entry to make and remove, and
 * nothing left behind when the process dies mid-message. linkat()
 * refuses an existing name, like the rename. The second fsync, of the
 * file and not of new/, is what makes the name durable: the link raised
 * the file's link count from 0, and on ext4 without a journal an fsync
 * of new/ writes the entry but not that count (a crash would leave an
 * entry to an inode fsck takes for deleted), while an fsync of the file
 * writes the count and its new entry's directory (there, and in the
 * journal commit of ext4 with a journal, xfs and btrfs alike).
 * NAME must be unique per delivery across hosts sharing the spool:
 * seconds, microseconds, pid, a process-wide counter, random bits drawn
 * once per process, and the host name. Below the spool root every
 * component is opened with O_NOFOLLOW, so a planted symlink is refused
 * rather than followed out of the spool.
 *
 * NAME is one path component, so at most NAME_MAX (255) bytes, and it
 * must fit for every valid host name (255 octets) with every other
 * field at its longest: "sec.MusecPpidQcounterRrnd." takes at most
 * NAME_FIXED_MAX (61) bytes, which leaves MAILDIR_HOST_MAX (194) for the
 * host part. That part is the host name with '/' written as \057 and
 * ':' as \072, as the maildir convention asks. When it is longer than
 * MAILDIR_HOST_MAX, it becomes its leading part (whole escapes only, at
 * most MAILDIR_HOST_MAX - 17 bytes), '#' and the 64-bit FNV-1a hash of
 * the whole host name in 16 hex digits: the same host always gets the
 * same part (the stale sweep recognises its own names after a restart)
 * and two hosts that share a long prefix still differ, short of a hash
 * collision. A domain name has no '#', so a shortened part never
 * equals a whole one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dirsync.h"
#include "maildir.h"
#include "smtpd.h"

#define MAILDIR_DIR_MODE	0700
#define MAILDIR_FILE_MODE	0600
#define MAILDIR_SWEEP_DEPTH	8
#define MAILDIR_PATH_MAX	1024
#define MAILDIR_CACHE_SECS	2	/* see dircache */
#define MAILDIR_CACHE_MAX	16

/*
 * A unique name's fields at their longest: seconds (a 64-bit count, its
 * sign included) 20, ".M" and microseconds 8, "P" and a 32-bit pid 12,
 * "Q" and a 32-bit counter 11, "R" and 8 hex digits 9, the '.' 1.
 */
#define NAME_FIXED_MAX		(20 + 8 + 12 + 11 + 9 + 1)
#define MAILDIR_HOST_MAX	(NAME_MAX - NAME_FIXED_MAX)
#define HOST_HASH_LEN		17	/* '#' and 16 hex digits */
_Static_assert(LLONG_MIN == -9223372036854775807LL - 1, "seconds: 20 digits");
_Static_assert(sizeof(pid_t) == 4 && UINT_MAX == 0xffffffffu,
    "pid and counter: 32 bits");
_Static_assert(MAILDIR_HOST_MAX >= 64 + HOST_HASH_LEN, "room for a host");

/* How a copy got into new/ (maildir_file.linked). */
#define MOVED	1	/* renamed, or an unnamed file linked: none in tmp/ */
#define LINKED	2	/* linked: tmp/NAME remains until maildir_finish */

/* A mailbox's tmp/ and new/, shared by the cache and every copy being
 * written there; closed when the last reference goes. */
struct maildir_dirs {
	int		tmpdir, newdir;
	dev_t		dev;		/* new/'s identity, for dirsync */
	ino_t		ino;
	atomic_int	refs;
	atomic_int	link_only;	/* no RENAME_NOREPLACE here (NFS) */
	atomic_int	no_tmpfile;	/* no O_TMPFILE here */
};

static char		maildir_host[MAILDIR_HOST_MAX + 1] = "localhost";
static atomic_uint	maildir_counter;
static pthread_once_t	name_once = PTHREAD_ONCE_INIT;
static pid_t		name_pid;	/* this process, and its random bits */
static unsigned		name_rand;
static atomic_int	proc_fd_ok;	/* /proc/self/fd names open files */

/* path_part_ok - s can be one path component: see maildir_local_ok. */
static int
path_part_ok(const char *s, size_t max)
{
	size_t	n = strlen(s);

	if (n == 0 || n > max || s[0] == '.')
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '/')
			return 0;
	}
	return 1;
}

int
maildir_local_ok(const char *local)
{
	return path_part_ok(local, SMTP_LOCALPART_MAX);
}

/* append_lower - copy s lower-cased into buf at *o. */
static int
append_lower(char *buf, size_t bufsz, size_t *o, const char *s)
{
	for (; *s; s++) {
		char c = *s;
		if (*o + 1 >= bufsz)
			return -1;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		buf[(*o)++] = c;
	}
	return 0;
}

int
maildir_expand(const char *tmpl, const char *local, const char *domain,
    char *buf, size_t bufsz, const char **why)
{
	size_t	o = 0;

	*why = "Bad template";
	if (!maildir_local_ok(local)) {
		*why = "Local part cannot name a mailbox";
		return -1;
	}
	if (!path_part_ok(domain, SMTP_DOMAIN_MAX)) {
		*why = "Domain cannot name a mailbox";
		return -1;
	}
	for (; *tmpl; tmpl++) {
		if (*tmpl != '%') {
			if (o + 1 >= bufsz)
				goto toolong;
			buf[o++] = *tmpl;
			continue;
		}
		tmpl++;
		if (*tmpl == 'u') {
			if (append_lower(buf, bufsz, &o, local) == -1)
				goto toolong;
		} else if (*tmpl == 'd') {
			if (append_lower(buf, bufsz, &o, domain) == -1)
				goto toolong;
		} else if (*tmpl == '%') {
			if (o + 1 >= bufsz)
				goto toolong;
			buf[o++] = '%';
		} else
			return -1;
	}
	buf[o] = '\0';
	return 0;
toolong:
	*why = "Mailbox path too long";
	return -1;
}

int
maildir_root(const char *tmpl, char *buf, size_t bufsz)
{
	const char *pct = strchr(tmpl, '%');
	size_t	n;

	if (pct == NULL)
		n = strlen(tmpl);
	else {
		n = (size_t)(pct - tmpl);
		while (n > 0 && tmpl[n - 1] != '/')
			n--;
	}
	while (n > 1 && tmpl[n - 1] == '/')
		n--;
	if (n + 1 > bufsz)
		return -1;
	memcpy(buf, tmpl, n);
	buf[n] = '\0';
	return 0;
}

/* host_hash - 64-bit FNV-1a of s. */
static unsigned long long
host_hash(const char *s)
{
	unsigned long long h = 0xcbf29ce484222325ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* host_escaped - the length of host with '/' and ':' escaped. */
static size_t
host_escaped(const char *host)
{
	size_t	n = 0;

	for (; *host; host++)
		n += (*host == '/' || *host == ':') ? 4 : 1;
	return n;
}

void
maildir_set_host(const char *host)
{
	size_t	o = 0, room = MAILDIR_HOST_MAX;
	int	shorten = host_escaped(host) > MAILDIR_HOST_MAX;
	const char *h;

	if (shorten)
		room -= HOST_HASH_LEN;
	/* The maildir convention: encode '/' as \057 and ':' as \072. */
	for (h = host; *h; h++) {
		if (*h == '/' || *h == ':') {
			if (o + 4 > room)
				break;
			maildir_host[o++] = '\\';
			maildir_host[o++] = '0';
			maildir_host[o++] = *h == '/' ? '5' : '7';
			maildir_host[o++] = *h == '/' ? '7' : '2';
		} else {
			if (o + 1 > room)
				break;
			maildir_host[o++] = *h;
		}
	}
	maildir_host[o] = '\0';
	if (shorten)
		snprintf(maildir_host + o, sizeof maildir_host - o, "#%016llx",
		    host_hash(host));
}

/*
 * open_subdir - open (creating if needed) dir name below fd, no symlinks.
 * A new directory is made durable at once (its parent synced), so the
 * fsync of new/ before a 250 never leaves the mailbox itself at risk.
 * Creation happens once per mailbox, so this costs nothing per message.
 */
static int
open_subdir(int fd, const char *name)
{
	int	d, tries;

	for (tries = 0; tries < 2; tries++) {
		d = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (d != -1 || errno != ENOENT)
			return d;
		if (mkdirat(fd, name, MAILDIR_DIR_MODE) == -1) {
			if (errno != EEXIST)
				return -1;
		} else if (fsync(fd) == -1)
			return -1;
	}
	return -1;
}

/* name_fresh - the pid and random bits in unique names; again in a
 * child after fork(), so no two processes share them. */
static void
name_fresh(void)
{
	name_pid = getpid();
	if (getrandom(&name_rand, sizeof name_rand, GRND_NONBLOCK) !=
	    (ssize_t)sizeof name_rand) {
		struct timeval tv;
		gettimeofday(&tv, NULL);
		name_rand = ((unsigned)tv.tv_usec ^ (unsigned)name_pid) * 2654435761u;
	}
}

static void
name_init(void)
{
	name_fresh();
	atomic_store(&proc_fd_ok, access("/proc/self/fd", X_OK) == 0);
	(void)pthread_atfork(NULL, NULL, name_fresh);
}

int
maildir_name(char *buf, size_t bufsz, long long sec, long usec, pid_t pid,
    unsigned counter, unsigned rnd)
{
	int	n;

	/* usec is below 1000000 from gettimeofday(); keep it 6 digits. */
	n = snprintf(buf, bufsz, "%lld.M%06luP%ldQ%uR%08x.%s", sec,
	    (unsigned long)usec % 1000000ul, (long)pid, counter, rnd,
	    maildir_host);
	return (n < 0 || (size_t)n >= bufsz) ? -1 : 0;
}

/* unique_name - a name for this delivery (maildir_name). */
static int
unique_name(char *buf, size_t bufsz)
{
	struct timeval	tv;

	pthread_once(&name_once, name_init);
	gettimeofday(&tv, NULL);
	return maildir_name(buf, bufsz, (long long)tv.tv_sec, (long)tv.tv_usec,
	    name_pid, atomic_fetch_add(&maildir_counter, 1) + 1, name_rand);
}

/* dirs_new - a shared pair for tmpdir and newdir (taken over, closed on
 * failure), one reference held; NULL with errno set. */
static struct maildir_dirs *
dirs_new(int tmpdir, int newdir)
{
	struct maildir_dirs	*d;
	struct stat		 st;
	int			 saved;

	if (fstat(newdir, &st) == -1 || (d = malloc(sizeof *d)) == NULL) {
		saved = errno;
		close(tmpdir);
		close(newdir);
		errno = saved;
		return NULL;
	}
	d->tmpdir = tmpdir;
	d->newdir = newdir;
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	atomic_init(&d->refs, 1);
	atomic_init(&d->link_only, 0);
	atomic_init(&d->no_tmpfile, 0);
	return d;
}

static struct maildir_dirs *
dirs_ref(struct maildir_dirs *d)
{
	atomic_fetch_add(&d->refs, 1);
	return d;
}

static void
dirs_release(struct maildir_dirs *d)
{
	if (d == NULL || atomic_fetch_sub(&d->refs, 1) != 1)
		return;
	close(d->tmpdir);
	close(d->newdir);
	free(d);
}

/* walk - open (creating as needed) the maildir at path below root, no
 * symlinks followed below root; its tmp/ and new/, or NULL. */
static struct maildir_dirs *
walk(const char *root, const char *path)
{
	char	 rel[MAILDIR_PATH_MAX], *comp, *save = NULL;
	size_t	 rl = strlen(root);
	int	 fd, next, tmpdir = -1, newdir = -1, saved;

	if (strncmp(path, root, rl) != 0 ||
	    (rl > 0 && root[rl - 1] != '/' && path[rl] != '/' && path[rl] != '\0') ||
	    buf_copy(rel, sizeof rel, path + rl) == -1) {
		errno = EINVAL;
		return NULL;
	}
	if ((fd = open(rl ? root : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return NULL;
	for (comp = strtok_r(rel, "/", &save); comp != NULL;
	    comp = strtok_r(NULL, "/", &save)) {
		next = open_subdir(fd, comp);
		saved = errno;
		close(fd);
		if (next == -1) {
			errno = saved;
			return NULL;
		}
		fd = next;
	}
	if ((tmpdir = open_subdir(fd, "tmp")) == -1 ||
	    (newdir = open_subdir(fd, "new")) == -1 ||
	    (next = open_subdir(fd, "cur")) == -1) {
		saved = errno;
		close(fd);
		if (tmpdir != -1)
			close(tmpdir);
		if (newdir != -1)
			close(newdir);
		errno = saved;
		return NULL;
	}
	close(next);
	close(fd);
	return dirs_new(tmpdir, newdir);
}

/*
 * The directories of the mailboxes delivered to in the last
 * MAILDIR_CACHE_SECS, MAILDIR_CACHE_MAX of them at most: a busy mailbox
 * then costs one fstat() per message to check instead of a walk from
 * the root. The fds came from the same symlink-refusing walk, and an
 * entry is never used older than that, so a mailbox moved meanwhile
 * is found again soon; a cached new/ found removed, or a file that
 * cannot be created in a cached directory, retries the walk at once.
 * maildir_expire(), called every few seconds by the main thread, closes
 * what has expired: an idle daemon holds no mailbox open (nor keeps an
 * unmount of the spool busy).
 * An entry holds one reference to its pair and every copy being written
 * one more, so a pair dropped from the cache stays open until its last
 * copy is done.
 * Guarded by dircache_lk: lookups share it (many sessions deliver to
 * one mailbox at once), changes take it alone.
 */
struct dircache {
	char			*key;		/* root NUL path NUL */
	size_t			 keylen;
	struct maildir_dirs	*dirs;
	time_t			 until;
};

static pthread_rwlock_t	dircache_lk = PTHREAD_RWLOCK_INITIALIZER;
static struct dircache	dircache[MAILDIR_CACHE_MAX];

static time_t
mono_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* cache_key - "root\0path\0" in buf; its length, or 0 if too long. */
static size_t
cache_key(const char *root, const char *path, char *buf, size_t bufsz)
{
	size_t	rl = strlen(root) + 1, pl = strlen(path) + 1;

	if (rl + pl > bufsz)
		return 0;
	memcpy(buf, root, rl);
	memcpy(buf + rl, path, pl);
	return rl + pl;
}

/* holds - e is the entry for key. */
static int
holds(const struct dircache *e, const char *key, size_t keylen)
{
	return e->key != NULL && e->keylen == keylen &&
	    memcmp(e->key, key, keylen) == 0;
}

/* drop - empty one entry; dircache_lk held for writing. */
static void
drop(struct dircache *e)
{
	if (e->key == NULL)
		return;
	dirs_release(e->dirs);
	free(e->key);
	e->key = NULL;
	e->dirs = NULL;
}

/* forget - drop every entry, or those expired before now. */
static void
forget(time_t now)
{
	pthread_rwlock_wrlock(&dircache_lk);
	for (int i = 0; i < MAILDIR_CACHE_MAX; i++)
		if (now == 0 || dircache[i].until <= now)
			drop(&dircache[i]);
	pthread_rwlock_unlock(&dircache_lk);
}

void
maildir_forget(void)
{
	forget(0);
}

void
maildir_expire(void)
{
	forget(mono_secs());
}

/* cache_invalidate - forget key's entry (its mailbox may have gone). */
static void
cache_invalidate(const char *key, size_t keylen)
{
	pthread_rwlock_wrlock(&dircache_lk);
	for (int i = 0; i < MAILDIR_CACHE_MAX; i++)
		if (holds(&dircache[i], key, keylen))
			drop(&dircache[i]);
	pthread_rwlock_unlock(&dircache_lk);
}

/* cache_get - a reference to the cached pair for key; NULL if none (or
 * the entry has expired: then it is dropped). */
static struct maildir_dirs *
cache_get(const char *key, size_t keylen)
{
	struct maildir_dirs *d = NULL;
	time_t	now = mono_secs();
	int	i, expired = 0;

	pthread_rwlock_rdlock(&dircache_lk);
	for (i = 0; i < MAILDIR_CACHE_MAX; i++) {
		struct dircache *e = &dircache[i];
		if (!holds(e, key, keylen))
			continue;
		if (now >= e->until)
			expired = 1;
		else
			d = dirs_ref(e->dirs);
		break;
	}
	pthread_rwlock_unlock(&dircache_lk);
	if (expired)
		cache_invalidate(key, keylen);
	return d;
}

/* cache_put - keep a reference to d under key (best effort): in a free
 * slot, else in place of the entry closest to expiry. */
static void
cache_put(const char *key, size_t keylen, struct maildir_dirs *d)
{
	struct dircache	*e, *victim = &dircache[0];
	char		*k;
	int		 i;

	if ((k = malloc(keylen)) == NULL)
		return;
	memcpy(k, key, keylen);
	pthread_rwlock_wrlock(&dircache_lk);
	for (i = 0; i < MAILDIR_CACHE_MAX; i++) {
		e = &dircache[i];
		if (holds(e, key, keylen)) {
			victim = e;	/* another thread was first: refresh */
			break;
		}
		if (victim->key != NULL &&
		    (e->key == NULL || e->until < victim->until))
			victim = e;
	}
	drop(victim);
	victim->key = k;
	victim->keylen = keylen;
	victim->dirs = dirs_ref(d);
	victim->until = mono_secs() + MAILDIR_CACHE_SECS;
	pthread_rwlock_unlock(&dircache_lk);
}

/* open_tmp - create f's file: unnamed in new/ (O_TMPFILE), else in tmp/;
 * the fd or -1. A filesystem without O_TMPFILE is learnt once per pair;
 * linking an unnamed file takes its /proc/self/fd name (AT_EMPTY_PATH
 * would need a capability). */
static int
open_tmp(struct maildir_file *f)
{
	struct maildir_dirs *d = f->dirs;

	f->unnamed = 0;
	if (atomic_load(&proc_fd_ok) && !atomic_load(&d->no_tmpfile)) {
		f->fd = openat(d->newdir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC,
		    MAILDIR_FILE_MODE);
		if (f->fd != -1) {
			f->unnamed = 1;
			return f->fd;
		}
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
			return -1;
		atomic_store(&d->no_tmpfile, 1);
	}
	return f->fd = openat(d->tmpdir, f->name,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, MAILDIR_FILE_MODE);
}

/* removed - d's new/ has been removed. An unnamed file can still be
 * made in a removed directory on some filesystems (xfs, tmpfs), only
 * its link fails; a name in a removed tmp/ fails at once. */
static int
removed(struct maildir_dirs *d)
{
	struct stat st;

	return fstat(d->newdir, &st) == 0 && st.st_nlink == 0;
}

int
maildir_open(const char *root, const char *path, struct maildir_file *f)
{
	char	key[2 * MAILDIR_PATH_MAX];
	size_t	keylen = cache_key(root, path, key, sizeof key);
	int	cached, saved;

	f->fd = -1;
	f->linked = 0;
	f->name[0] = '\0';
	f->dirs = keylen > 0 ? cache_get(key, keylen) : NULL;
	cached = f->dirs != NULL;
	if (!cached && (f->dirs = walk(root, path)) == NULL)
		return -1;
	if (unique_name(f->name, sizeof f->name) == -1) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	if (cached && (removed(f->dirs) || open_tmp(f) == -1)) {
		/* The mailbox may have gone since it was cached: walk again. */
		cache_invalidate(key, keylen);
		dirs_release(f->dirs);
		cached = 0;
		if ((f->dirs = walk(root, path)) == NULL)
			return -1;
	}
	if (f->fd == -1 && open_tmp(f) == -1)
		goto fail;
	if (!cached && keylen > 0)
		cache_put(key, keylen, f->dirs);
	return 0;
fail:
	saved = errno;
	dirs_release(f->dirs);
	f->dirs = NULL;
	errno = saved;
	return -1;
}

int
maildir_sync(struct maildir_file *f, int do_fsync)
{
	int	rc = 0, saved = 0;

	if (do_fsync && fsync(f->fd) == -1) {
		rc = -1;
		saved = errno;
	}
	if (f->unnamed)
		return rc;	/* its fd names it for the link */
	if (close(f->fd) == -1 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	f->fd = -1;
	errno = saved;
	return rc;
}

int
maildir_link(struct maildir_file *f, int do_fsync)
{
	struct maildir_dirs *d = f->dirs;
	char	proc[64];

	if (f->unnamed) {
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", f->fd);
		if (linkat(AT_FDCWD, proc, d->newdir, f->name, AT_SYMLINK_FOLLOW) == -1) {
			/* Refused through /proc (a security module, a
			 * sandbox): this copy fails with a temporary error,
			 * the next ones go through tmp/. */
			if (errno == EACCES || errno == EPERM)
				atomic_store(&proc_fd_ok, 0);
			return -1;
		}
		f->linked = MOVED;
		if (do_fsync && fsync(f->fd) == -1)
			return -1;
		close(f->fd);
		f->fd = -1;
		return 0;
	}
	if (!f->linked && !atomic_load(&d->link_only)) {
		if (renameat2(d->tmpdir, f->name, d->newdir, f->name,
		    RENAME_NOREPLACE) == 0)
			f->linked = MOVED;
		else if (errno == EINVAL || errno == ENOSYS)
			atomic_store(&d->link_only, 1);	/* learnt once per pair */
		else
			return -1;
	}
	if (!f->linked) {
		if (linkat(d->tmpdir, f->name, d->newdir, f->name, 0) == -1)
			return -1;
		f->linked = LINKED;
	}
	if (do_fsync && dirsync(d->newdir, d->dev, d->ino) == -1)
		return -1;
	return 0;
}

void
maildir_finish(struct maildir_file *f)
{
	if (f->dirs == NULL)
		return;
	if (f->linked == LINKED)
		(void)unlinkat(f->dirs->tmpdir, f->name, 0);
	dirs_release(f->dirs);
	f->dirs = NULL;
}

void
maildir_abort(struct maildir_file *f)
{
	if (f->fd != -1) {
		close(f->fd);
		f->fd = -1;
	}
	if (f->dirs == NULL)
		return;
	if (f->linked)
		(void)unlinkat(f->dirs->newdir, f->name, 0);
	if (f->linked != MOVED && !f->unnamed)
		(void)unlinkat(f->dirs->tmpdir, f->name, 0);
	dirs_release(f->dirs);
	f->dirs = NULL;
}

/* stale_name - 1 if name is ours (our host) from a process now gone. */
static int
stale_name(const char *name)
{
	const char *p = strstr(name, ".M"), *dot;
	char	*end;
	long	 pid;

	if (p == NULL || (p = strchr(p, 'P')) == NULL)
		return 0;
	pid = strtol(p + 1, &end, 10);
	if (end == p + 1 || *end != 'Q' || pid <= 0)
		return 0;
	if ((dot = strchr(end, '.')) == NULL || strcmp(dot + 1, maildir_host) != 0)
		return 0;
	if (pid == (long)getpid())
		return 0;
	return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

/* sweep - walk dir (fd) to a bounded depth; clean each tmp/ found. */
static int
sweep(int fd, int depth)
{
	DIR		*dp;
	struct dirent	*de;
	int		 removed = 0, sub;

	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.' &&
		    (de->d_name[1] == '\0' || strcmp(de->d_name, "..") == 0))
			continue;
		sub = openat(dirfd(dp), de->d_name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub == -1)
			continue;
		if (strcmp(de->d_name, "tmp") == 0) {
			DIR *tp = fdopendir(sub);
			struct dirent *te;
			if (tp == NULL) {
				close(sub);
				continue;
			}
			while ((te = readdir(tp)) != NULL)
				if (te->d_name[0] != '.' && stale_name(te->d_name) &&
				    unlinkat(dirfd(tp), te->d_name, 0) == 0)
					removed++;
			closedir(tp);
		} else if (depth < MAILDIR_SWEEP_DEPTH &&
		    strcmp(de->d_name, "new") != 0 && strcmp(de->d_name, "cur") != 0)
			removed += sweep(sub, depth + 1);
		else
			close(sub);
	}
	closedir(dp);
	return removed;
}

int
maildir_clean_stale(const char *root)
{
	int	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1)
		return 0;
	return sweep(fd, 0);
}
