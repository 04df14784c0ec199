/*
 * maildir.c - where a recipient's copy goes and how it gets there.
 * Owns: %u/%d template expansion, safe directory creation below the
 * spool root (Maildir++ folders too) and its removal when nothing was
 * stored, the check that a mailbox can be delivered to (maildir_usable),
 * the table of mailbox directories in use and recently used, unique
 * file names, the tmp/ -> new/ protocol, and the start-up sweep of
 * stale tmp/ files.
 * Not here: the message bytes (delivery.c writes them through f->fd),
 * which recipient gets which folder (recipient.c), the spool root
 * itself (main.c makes and checks it).
 * Threads: every session thread delivers; the name counter is atomic,
 * the directory table is behind dircache_mu, walks that create and
 * removals exclude each other through walk_lk, the host part is set
 * once before the first client thread starts.
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
#define MAILDIR_CACHE_MAX	16	/* idle mailboxes kept open */
#define MAILDIR_DEPTH_MAX	32	/* components removed again (unmake) */

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
 * open_subdir - open (creating if needed) dir name below fd, no symlinks;
 * *made set if it was created here.
 * A new directory is made durable at once (its parent synced), so the
 * fsync of new/ before a 250 never leaves the mailbox itself at risk.
 * Creation happens once per mailbox, so this costs nothing per message.
 */
static int
open_subdir(int fd, const char *name, int *made)
{
	int	d, tries;

	*made = 0;
	for (tries = 0; tries < 2; tries++) {
		d = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (d != -1 || errno != ENOENT)
			return d;
		if (mkdirat(fd, name, MAILDIR_DIR_MODE) == -1) {
			if (errno != EEXIST)
				return -1;
		} else {
			*made = 1;
			if (fsync(fd) == -1)
				return -1;
		}
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

/*
 * The mailboxes in use, and those delivered to in the last
 * MAILDIR_CACHE_SECS (MAILDIR_CACHE_MAX of those at most): one entry per
 * directory delivered into (root, path and folder), holding its tmp/ and
 * new/ open. A busy mailbox then costs one fstat() per message to check
 * instead of a walk from the root. The fds came from the same
 * symlink-refusing walk, and an entry is never used for a new copy older
 * than that, so a mailbox moved meanwhile is found again soon; a cached
 * new/ found removed, or a file that cannot be created in a cached
 * directory, retries the walk at once. maildir_expire(), called every
 * few seconds by the main thread, closes the idle entries that have
 * expired: an idle daemon holds no mailbox open (nor keeps an unmount
 * of the spool busy).
 *
 * An entry counts the copies being written through it (users), and stays
 * in the table as long as it has any, even once too old for new copies
 * (stale): the table knows every mailbox directory this process writes
 * into. That is what makes it safe to remove what a walk created for a
 * transaction that stored nothing (three sessions of 100 made-up
 * recipients that begin DATA and vanish must not leave 300 empty
 * maildirs): an entry remembers what its walk made (struct made) until
 * a copy is delivered there, and the last copy to let go of it without
 * delivering removes those directories again, deepest first, when no
 * other entry of the same mailbox is in use. Walks that may create hold
 * walk_lk shared from the first mkdir until their entry is in the table;
 * a removal holds it alone, so no walk can open a directory it is about
 * to remove without the removal seeing that walk's entry. rmdir() removes
 * only empty directories: a mailbox below one of ours (another domain
 * member) keeps it.
 * The table, each entry's users, made and flags are guarded by
 * dircache_mu; dirs_lookup() and dirs_release() take it once per copy.
 */

/* What a walk created (made.box and made.sub bits). */
#define MADE_TMP	0x01
#define MADE_NEW	0x02
#define MADE_CUR	0x04
#define MADE_DIR	0x08	/* the folder's directory itself */
#define MADE_MARK	0x10	/* the folder's maildirfolder file */

struct made {
	int		first;	/* first path component created, -1: none */
	unsigned	box;	/* the mailbox's tmp/ new/ cur/ */
	unsigned	sub;	/* the folder's directory and its contents */
};

#define DIRCACHE_BUCKETS	256

/* A mailbox directory's tmp/ and new/, shared by every copy written there. */
struct maildir_dirs {
	struct maildir_dirs *next;	/* in its bucket */
	char		*key;		/* root NUL path NUL folder NUL */
	size_t		 keylen;
	size_t		 boxlen;	/* of "root NUL path NUL": the mailbox */
	unsigned	 hash;		/* of the mailbox part: folders share a bucket */
	int		 tmpdir, newdir;
	dev_t		 dev;		/* new/'s identity, for dirsync */
	ino_t		 ino;
	dev_t		 boxdev;	/* the mailbox directory's, for removal */
	ino_t		 boxino;
	time_t		 until;		/* no new copy through it after this */
	int		 users;		/* copies being written */
	int		 fresh;		/* new copies may use it */
	int		 idle;		/* in idle[] */
	struct made	 made;		/* until a copy is delivered here */
	atomic_int	 link_only;	/* no RENAME_NOREPLACE here (NFS) */
	atomic_int	 no_tmpfile;	/* no O_TMPFILE here */
};

static pthread_mutex_t	 dircache_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t	 walk_lk = PTHREAD_RWLOCK_INITIALIZER;
static struct maildir_dirs *dircache[DIRCACHE_BUCKETS];
static struct maildir_dirs *idle[MAILDIR_CACHE_MAX];	/* fresh, no users */

static time_t
mono_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* key_hash - FNV-1a of the first n bytes of key. */
static unsigned
key_hash(const char *key, size_t n)
{
	unsigned h = 2166136261u;

	while (n-- > 0) {
		h ^= (unsigned char)*key++;
		h *= 16777619u;
	}
	return h;
}

/* make_key - "root\0path\0folder\0" in buf (folder NULL: ""); its
 * length and *boxlen, or 0 if it does not fit. */
static size_t
make_key(const char *root, const char *path, const char *folder, char *buf,
    size_t bufsz, size_t *boxlen)
{
	size_t	rl = strlen(root) + 1, pl = strlen(path) + 1;
	size_t	fl = (folder != NULL ? strlen(folder) : 0) + 1;

	if (rl + pl + fl > bufsz)
		return 0;
	memcpy(buf, root, rl);
	memcpy(buf + rl, path, pl);
	memcpy(buf + rl + pl, folder != NULL ? folder : "", fl);
	*boxlen = rl + pl;
	return rl + pl + fl;
}

/* dirs_free - close and free an entry no longer listed nor used. */
static void
dirs_free(struct maildir_dirs *e)
{
	if (e->tmpdir != -1)
		close(e->tmpdir);
	if (e->newdir != -1)
		close(e->newdir);
	free(e->key);
	free(e);
}

/* unlist - take e out of the table (and idle[]); dircache_mu held. */
static void
unlist(struct maildir_dirs *e)
{
	struct maildir_dirs **pp = &dircache[e->hash % DIRCACHE_BUCKETS];

	for (; *pp != NULL; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	if (e->idle)
		for (int i = 0; i < MAILDIR_CACHE_MAX; i++)
			if (idle[i] == e)
				idle[i] = NULL;
	e->idle = 0;
}

/* go_stale - no new copy through e; freed now if nobody uses it. */
static void
go_stale(struct maildir_dirs *e)
{
	e->fresh = 0;
	if (e->users == 0) {
		unlist(e);
		dirs_free(e);
	}
}

/* go_idle - e's last copy is done: keep it for the next one, in place
 * of the idle entry closest to expiry if idle[] is full. */
static void
go_idle(struct maildir_dirs *e)
{
	int	i, victim = 0;

	for (i = 0; i < MAILDIR_CACHE_MAX; i++) {
		if (idle[i] == NULL) {
			victim = i;
			break;
		}
		if (idle[i]->until < idle[victim]->until)
			victim = i;
	}
	if (idle[victim] != NULL)
		go_stale(idle[victim]);
	idle[victim] = e;
	e->idle = 1;
}

/* holds - e is the entry for key. */
static int
holds(const struct maildir_dirs *e, const char *key, size_t keylen)
{
	return e->keylen == keylen && memcmp(e->key, key, keylen) == 0;
}

/* find - the fresh entry for key, if any (one too old goes stale);
 * dircache_mu held. */
static struct maildir_dirs *
find(const char *key, size_t keylen, unsigned hash, time_t now)
{
	struct maildir_dirs *e;

	for (e = dircache[hash % DIRCACHE_BUCKETS]; e != NULL; e = e->next) {
		if (!e->fresh || e->hash != hash || !holds(e, key, keylen))
			continue;
		if (now < e->until)
			return e;
		go_stale(e);
		return NULL;
	}
	return NULL;
}

/* use - one more copy through e; dircache_mu held. */
static struct maildir_dirs *
use(struct maildir_dirs *e)
{
	if (e->idle) {
		for (int i = 0; i < MAILDIR_CACHE_MAX; i++)
			if (idle[i] == e)
				idle[i] = NULL;
		e->idle = 0;
	}
	e->users++;
	return e;
}

/* dirs_lookup - a fresh cached entry for key, with a user taken; NULL
 * if none. */
static struct maildir_dirs *
dirs_lookup(const char *key, size_t keylen, size_t boxlen)
{
	struct maildir_dirs *e;
	unsigned hash = key_hash(key, boxlen);

	pthread_mutex_lock(&dircache_mu);
	if ((e = find(key, keylen, hash, mono_secs())) != NULL)
		use(e);
	pthread_mutex_unlock(&dircache_mu);
	return e;
}

/* dirs_enlist - e (just walked, made filled in) into the table with one
 * user; if another walk listed the same directory meanwhile, that
 * entry instead (taking over what e made), and e is freed. */
static struct maildir_dirs *
dirs_enlist(struct maildir_dirs *e)
{
	struct maildir_dirs *o;
	time_t	now = mono_secs();

	pthread_mutex_lock(&dircache_mu);
	if ((o = find(e->key, e->keylen, e->hash, now)) != NULL) {
		if (e->made.first != -1 &&
		    (o->made.first == -1 || e->made.first < o->made.first))
			o->made.first = e->made.first;
		o->made.box |= e->made.box;
		o->made.sub |= e->made.sub;
		use(o);
		pthread_mutex_unlock(&dircache_mu);
		dirs_free(e);
		return o;
	}
	e->until = now + MAILDIR_CACHE_SECS;
	e->fresh = 1;
	e->users = 1;
	e->next = dircache[e->hash % DIRCACHE_BUCKETS];
	dircache[e->hash % DIRCACHE_BUCKETS] = e;
	pthread_mutex_unlock(&dircache_mu);
	return e;
}

/* dirs_release - a copy is done with e (delivered: something is stored
 * there now, so nothing it made is ever removed); dircache_mu taken. */
static void
dirs_release(struct maildir_dirs *e, int delivered)
{
	pthread_mutex_lock(&dircache_mu);
	if (delivered) {
		e->made.first = -1;
		e->made.box = e->made.sub = 0;
	}
	if (--e->users == 0) {
		if (e->fresh)
			go_idle(e);
		else {
			unlist(e);
			dirs_free(e);
		}
	}
	pthread_mutex_unlock(&dircache_mu);
}

/* forget - every idle entry closed, or those expired before now; the
 * ones in use go stale (closed when their last copy is done). */
static void
forget(time_t now)
{
	struct maildir_dirs *e, *next;

	pthread_mutex_lock(&dircache_mu);
	for (int b = 0; b < DIRCACHE_BUCKETS; b++)
		for (e = dircache[b]; e != NULL; e = next) {
			next = e->next;
			if (now == 0 || (e->users == 0 && e->until <= now))
				go_stale(e);
		}
	pthread_mutex_unlock(&dircache_mu);
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

/* below_root - path's part below root into rel; -1 (EINVAL) if path is
 * not root or below it. */
static int
below_root(const char *root, const char *path, char *rel, size_t relsz)
{
	size_t	rl = strlen(root);

	if (strncmp(path, root, rl) != 0 ||
	    (rl > 0 && root[rl - 1] != '/' && path[rl] != '/' && path[rl] != '\0') ||
	    buf_copy(rel, relsz, path + rl) == -1) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* open_root - root as a directory (a symlink there is the admin's). */
static int
open_root(const char *root)
{
	return open(root[0] != '\0' ? root : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* make_mark - the empty file maildirfolder in a folder (Maildir++: it
 * tells Courier and Dovecot the directory is a folder); *made set if
 * created here. */
static int
make_mark(int fd, int *made)
{
	int	m;

	*made = 0;
	m = openat(fd, "maildirfolder",
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, MAILDIR_FILE_MODE);
	if (m == -1)
		return errno == EEXIST ? 0 : -1;
	*made = 1;
	if (close(m) == -1 || fsync(fd) == -1)
		return -1;
	return 0;
}

/* open_maildir - tmp/, new/ and cur/ of the maildir at fd (created as
 * needed; MADE_* bits into *made); tmp/ and new/ into e. */
static int
open_maildir(int fd, struct maildir_dirs *e, unsigned *made)
{
	int	cur, m;

	if ((e->tmpdir = open_subdir(fd, "tmp", &m)) == -1)
		return -1;
	*made |= m ? MADE_TMP : 0;
	if ((e->newdir = open_subdir(fd, "new", &m)) == -1)
		return -1;
	*made |= m ? MADE_NEW : 0;
	if ((cur = open_subdir(fd, "cur", &m)) == -1)
		return -1;
	*made |= m ? MADE_CUR : 0;
	close(cur);
	return 0;
}

/* folder_name - ".folder" into buf. */
static int
folder_name(const char *folder, char *buf, size_t bufsz)
{
	int	n = snprintf(buf, bufsz, ".%s", folder);

	if (n < 0 || (size_t)n >= bufsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * walk - open (creating as needed) the maildir at path below root, and
 * its folder (Maildir++: path/.folder, with its own tmp/ new/ cur/ and
 * a maildirfolder file) if folder is not NULL; no symlinks followed
 * below root. Fills in e's directories and what was made; 0 or -1.
 * Called with walk_lk held shared.
 */
static int
walk(const char *root, const char *path, const char *folder,
    struct maildir_dirs *e)
{
	char	 rel[MAILDIR_PATH_MAX], sub[NAME_MAX + 1], *comp, *save = NULL;
	struct stat st;
	int	 fd, next, saved, m, i = 0;

	if (below_root(root, path, rel, sizeof rel) == -1)
		return -1;
	if (folder != NULL && folder_name(folder, sub, sizeof sub) == -1)
		return -1;
	if ((fd = open_root(root)) == -1)
		return -1;
	for (comp = strtok_r(rel, "/", &save); comp != NULL;
	    comp = strtok_r(NULL, "/", &save), i++) {
		next = open_subdir(fd, comp, &m);
		saved = errno;
		close(fd);
		if (next == -1) {
			errno = saved;
			return -1;
		}
		if (m && e->made.first == -1)
			e->made.first = i;
		fd = next;
	}
	if (fstat(fd, &st) == -1)
		goto fail;
	e->boxdev = st.st_dev;
	e->boxino = st.st_ino;
	if (folder == NULL) {
		if (open_maildir(fd, e, &e->made.box) == -1)
			goto fail;
	} else {
		/* The mailbox first (a reader finds its folders through it). */
		if (open_maildir(fd, e, &e->made.box) == -1)
			goto fail;
		close(e->tmpdir);
		close(e->newdir);
		e->tmpdir = e->newdir = -1;
		next = open_subdir(fd, sub, &m);
		saved = errno;
		close(fd);
		if ((fd = next) == -1) {
			errno = saved;
			return -1;
		}
		e->made.sub |= m ? MADE_DIR : 0;
		if (make_mark(fd, &m) == -1)
			goto fail;
		e->made.sub |= m ? MADE_MARK : 0;
		if (open_maildir(fd, e, &e->made.sub) == -1)
			goto fail;
	}
	if (fstat(e->newdir, &st) == -1)
		goto fail;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	close(fd);
	return 0;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* dirs_walk - a new entry for key: walked (creating what is missing)
 * and listed, one user taken; NULL with errno set. */
static struct maildir_dirs *
dirs_walk(const char *root, const char *path, const char *folder,
    const char *key, size_t keylen, size_t boxlen)
{
	struct maildir_dirs *e;
	int	 rc, saved;

	if ((e = calloc(1, sizeof *e)) == NULL || (e->key = malloc(keylen)) == NULL) {
		free(e);
		errno = ENOMEM;
		return NULL;
	}
	memcpy(e->key, key, keylen);
	e->keylen = keylen;
	e->boxlen = boxlen;
	e->hash = key_hash(key, boxlen);
	e->tmpdir = e->newdir = -1;
	e->made.first = -1;
	atomic_init(&e->link_only, 0);
	atomic_init(&e->no_tmpfile, 0);
	pthread_rwlock_rdlock(&walk_lk);
	rc = walk(root, path, folder, e);
	saved = errno;
	if (rc == 0)
		e = dirs_enlist(e);
	pthread_rwlock_unlock(&walk_lk);
	if (rc == -1) {
		/* XXX what a failed walk made stays (a disk full, a
		 * file where tmp/ belongs): rare, and reported. */
		dirs_free(e);
		errno = saved;
		return NULL;
	}
	return e;
}

/* same_dir - the directory name below fd is the one with dev/ino. */
static int
same_dir(int fd, const char *name, dev_t dev, ino_t ino)
{
	struct stat st;

	return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode) && st.st_dev == dev && st.st_ino == ino;
}

/* unmake_maildir - remove new/ cur/ tmp/ of the maildir at fd as made,
 * in that order, stopping at one that stays (holding mail someone put
 * there meanwhile): a maildir is left whole or not at all. 0 if all
 * that was made went. */
static int
unmake_maildir(int fd, unsigned made)
{
	if ((made & MADE_NEW) && unlinkat(fd, "new", AT_REMOVEDIR) == -1)
		return -1;
	if ((made & MADE_CUR) && unlinkat(fd, "cur", AT_REMOVEDIR) == -1)
		return -1;
	if ((made & MADE_TMP) && unlinkat(fd, "tmp", AT_REMOVEDIR) == -1)
		return -1;
	return 0;
}

/*
 * unmake - remove again what e's walk made (m), deepest first, if the
 * directories found are still the ones it walked; never the root. Only
 * empty directories go (rmdir); one still in use by a mailbox below it
 * stays, and so do its parents. Returns the index of a path component
 * made and kept because it was not empty (for hand_on), else -1.
 * Called with walk_lk held alone.
 */
static int
unmake(const struct maildir_dirs *e, const struct made *m)
{
	const char *root = e->key, *path = root + strlen(root) + 1;
	const char *folder = path + strlen(path) + 1;
	char	 rel[MAILDIR_PATH_MAX], sub[NAME_MAX + 1], *comp, *save = NULL;
	char	*comps[MAILDIR_DEPTH_MAX];
	int	 fds[MAILDIR_DEPTH_MAX + 1], n = 0, i, box, kept = -1;

	if (below_root(root, path, rel, sizeof rel) == -1 ||
	    (*folder != '\0' && folder_name(folder, sub, sizeof sub) == -1))
		return -1;
	if ((fds[0] = open_root(root)) == -1)
		return -1;
	for (comp = strtok_r(rel, "/", &save); comp != NULL;
	    comp = strtok_r(NULL, "/", &save)) {
		if (n == MAILDIR_DEPTH_MAX)	/* XXX deeper ones are kept */
			goto out;
		fds[n + 1] = openat(fds[n], comp,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fds[n + 1] == -1)
			goto out;
		comps[n++] = comp;
	}
	box = fds[n];
	if (*folder == '\0') {
		if (!same_dir(box, "new", e->dev, e->ino))
			goto out;
	} else {
		int	f = openat(box, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (f == -1)
			goto out;
		if (!same_dir(f, "new", e->dev, e->ino)) {
			close(f);
			goto out;
		}
		if (unmake_maildir(f, m->sub) == -1 || ((m->sub & MADE_MARK) &&
		    unlinkat(f, "maildirfolder", 0) == -1)) {
			close(f);
			goto out;
		}
		close(f);
		if ((m->sub & MADE_DIR) && unlinkat(box, sub, AT_REMOVEDIR) == -1)
			goto out;
	}
	if (m->first == -1 && m->box == 0)
		goto out;
	if (!same_dir(fds[n > 0 ? n - 1 : 0], n > 0 ? comps[n - 1] : ".",
	    e->boxdev, e->boxino) || unmake_maildir(box, m->box) == -1)
		goto out;
	for (i = n - 1; m->first != -1 && i >= m->first; i--)
		if (unlinkat(fds[i], comps[i], AT_REMOVEDIR) == -1) {
			if (errno == ENOTEMPTY || errno == EEXIST)
				kept = i;
			break;
		}
out:
	for (i = 0; i <= n; i++)
		close(fds[i]);
	return kept;
}

/* comp_next - the component of p at *i onwards: its length, *i moved
 * past it (repeated '/' skipped); 0 at the end. */
static size_t
comp_next(const char *p, size_t *i)
{
	size_t	start, len;

	while (p[*i] == '/')
		(*i)++;
	start = *i;
	while (p[*i] != '\0' && p[*i] != '/')
		(*i)++;
	len = *i - start;
	return len;
}

/* below_comp - o's mailbox is below component k of e's path (same
 * root, the same components 0..k). */
static int
below_comp(const struct maildir_dirs *e, const struct maildir_dirs *o, int k)
{
	const char *ep = e->key + strlen(e->key) + 1, *op = o->key + strlen(o->key) + 1;
	size_t	 rl = strlen(e->key), ei, oi, el, ol;
	int	 c;

	if (strcmp(e->key, o->key) != 0)
		return 0;
	ei = oi = rl;
	for (c = 0; c <= k; c++) {
		size_t es, os;

		el = comp_next(ep, &ei);
		es = ei - el;
		ol = comp_next(op, &oi);
		os = oi - ol;
		if (el == 0 || el != ol || memcmp(ep + es, op + os, el) != 0)
			return 0;
	}
	return 1;
}

/* hand_on - directory k of e's path, made by e's walk, could not go
 * yet (another mailbox below it is in use): the first such one in use
 * removes it in its turn; dircache_mu held. */
static void
hand_on(const struct maildir_dirs *e, int k)
{
	struct maildir_dirs *o;

	for (int b = 0; b < DIRCACHE_BUCKETS; b++)
		for (o = dircache[b]; o != NULL; o = o->next)
			if (o != e && o->users > 0 && below_comp(e, o, k)) {
				if (o->made.first == -1 || k < o->made.first)
					o->made.first = k;
				return;
			}
}

/* Who else uses a mailbox (box_users). */
#define BOX_ALONE	0	/* nobody: all that was made can go */
#define BOX_SHARED	1	/* another folder (or the INBOX) of it */
#define BOX_BUSY	2	/* e itself, or another entry for its key */

/* box_users - who else writes copies into e's mailbox; the first other
 * entry of it in use into *other; dircache_mu held. */
static int
box_users(const struct maildir_dirs *e, struct maildir_dirs **other)
{
	struct maildir_dirs *o;
	int	 r = BOX_ALONE;

	*other = NULL;
	if (e->users != 1)
		return BOX_BUSY;
	for (o = dircache[e->hash % DIRCACHE_BUCKETS]; o != NULL; o = o->next) {
		if (o == e || o->users == 0 || o->boxlen != e->boxlen ||
		    memcmp(o->key, e->key, e->boxlen) != 0)
			continue;
		if (holds(o, e->key, e->keylen))
			return BOX_BUSY;
		if (*other == NULL)
			*other = o;
		r = BOX_SHARED;
	}
	return r;
}

/*
 * let_go - a copy that stored nothing is done with e. What e's walk
 * made goes again when no other copy uses it: all of it when nobody
 * else writes into that mailbox, only the folder when another folder of
 * it (or its INBOX) has a copy being written, which then inherits the
 * rest to remove in its turn.
 */
static void
let_go(struct maildir_dirs *e)
{
	struct maildir_dirs *o, *next, *other;
	struct made m = { -1, 0, 0 };
	int	 made, who, kept;

	pthread_mutex_lock(&dircache_mu);
	made = e->made.first != -1 || e->made.box || e->made.sub;
	pthread_mutex_unlock(&dircache_mu);
	if (made) {
		pthread_rwlock_wrlock(&walk_lk);
		pthread_mutex_lock(&dircache_mu);
		who = box_users(e, &other);
		if (who == BOX_SHARED) {
			m.sub = e->made.sub;
			if (e->made.first != -1 && (other->made.first == -1 ||
			    e->made.first < other->made.first))
				other->made.first = e->made.first;
			other->made.box |= e->made.box;
		} else if (who == BOX_ALONE) {
			m = e->made;
			/* Nothing new through this mailbox's cached entries
			 * while (and after) its directories go. */
			for (o = dircache[e->hash % DIRCACHE_BUCKETS]; o; o = next) {
				next = o->next;
				if (o != e && o->boxlen == e->boxlen &&
				    memcmp(o->key, e->key, e->boxlen) == 0)
					go_stale(o);
			}
		}
		if (who != BOX_BUSY) {
			e->made.first = -1;
			e->made.box = e->made.sub = 0;
			e->fresh = 0;
		}
		pthread_mutex_unlock(&dircache_mu);
		if ((m.first != -1 || m.box || m.sub) && (kept = unmake(e, &m)) != -1) {
			pthread_mutex_lock(&dircache_mu);
			hand_on(e, kept);
			pthread_mutex_unlock(&dircache_mu);
		}
		pthread_rwlock_unlock(&walk_lk);
	}
	dirs_release(e, 0);
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
		/* Read and write: header edits at end of data
		 * (delivery_edit) read the copy back. */
		f->fd = openat(d->newdir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
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
	    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, MAILDIR_FILE_MODE);
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

/* folder_ok - NULL for the INBOX ("" too), else a name that makes one
 * path component after its dot; -1 (EINVAL) if it cannot. */
static int
folder_ok(const char **folder)
{
	if (*folder != NULL && **folder == '\0')
		*folder = NULL;
	if (*folder != NULL && !path_part_ok(*folder, MAILDIR_FOLDER_MAX)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int
maildir_open(const char *root, const char *path, const char *folder,
    struct maildir_file *f)
{
	char	key[2 * MAILDIR_PATH_MAX + MAILDIR_FOLDER_MAX + 1];
	size_t	keylen, boxlen;
	int	saved;

	f->fd = -1;
	f->linked = 0;
	f->unnamed = 0;
	f->name[0] = '\0';
	f->dirs = NULL;
	if (folder_ok(&folder) == -1)
		return -1;
	if ((keylen = make_key(root, path, folder, key, sizeof key, &boxlen)) == 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (unique_name(f->name, sizeof f->name) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((f->dirs = dirs_lookup(key, keylen, boxlen)) != NULL) {
		if (!removed(f->dirs) && open_tmp(f) != -1)
			return 0;
		/* The mailbox may have gone since it was cached: walk again. */
		pthread_mutex_lock(&dircache_mu);
		f->dirs->fresh = 0;
		pthread_mutex_unlock(&dircache_mu);
		let_go(f->dirs);
		f->dirs = NULL;
	}
	if ((f->dirs = dirs_walk(root, path, folder, key, keylen, boxlen)) == NULL)
		return -1;
	if (open_tmp(f) == -1) {
		saved = errno;
		let_go(f->dirs);
		f->dirs = NULL;
		errno = saved;
		return -1;
	}
	return 0;
}

/*
 * maildir_usable: each step is what walk() would do, without doing it.
 * A component that exists must open as a directory without following a
 * symlink (and readable: walk() opens it); one that is missing needs a
 * parent we may write into and search. tmp/ and new/ must also be
 * writable, where the files are made. faccessat(AT_EACCESS) asks with
 * our effective ids, the ones the delivery runs with.
 */

/* Why a directory of the maildir cannot be used: [what][which]. */
enum { U_SYMLINK, U_NOTDIR, U_PERM, U_OTHER };
static const char *const usable_why[4][4] = {
	{ "a symlink in the path", "tmp/ is a symlink", "new/ is a symlink",
	  "cur/ is a symlink" },
	{ "a path component is not a directory", "tmp/ is not a directory",
	  "new/ is not a directory", "cur/ is not a directory" },
	{ "no permission", "no permission in tmp/", "no permission in new/",
	  "no permission in cur/" },
	{ "a directory cannot be opened", "tmp/ cannot be opened",
	  "new/ cannot be opened", "cur/ cannot be opened" },
};

/* writable - we may create entries in the directory fd. */
static int
writable(int fd, const char *name, const char **why)
{
	if (faccessat(fd, name, W_OK | X_OK, AT_EACCESS) == 0)
		return 0;
	*why = errno == EROFS ? "read-only file system" : "no permission";
	return -1;
}

/* probe - open name below fd as walk() would: 1 with *sub, 0 if it is
 * missing and can be created, -1 with errno and *why. which: 0 for a
 * path component, 1..3 for tmp/ new/ cur/. */
static int
probe(int fd, const char *name, int which, int *sub, const char **why)
{
	struct stat st;
	int	 err;

	*sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*sub != -1)
		return 1;
	err = errno;
	if (err == ENOENT)
		return writable(fd, ".", why) == -1 ? -1 : 0;
	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode)) {
			*why = usable_why[U_SYMLINK][which];
			errno = ELOOP;
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			*why = usable_why[U_NOTDIR][which];
			errno = ENOTDIR;
			return -1;
		}
	}
	*why = usable_why[err == EACCES || err == EPERM ? U_PERM : U_OTHER][which];
	errno = err;
	return -1;
}

/* usable_maildir - tmp/ new/ cur/ of the maildir at fd are usable or
 * can be made; 1 if all three exist. */
static int
usable_maildir(int fd, const char **why)
{
	static const char *const names[] = { "tmp", "new", "cur" };
	int	 i, r, sub, all = 1;

	for (i = 0; i < 3; i++) {
		if ((r = probe(fd, names[i], i + 1, &sub, why)) == -1)
			return -1;
		if (r == 0) {
			all = 0;
			continue;
		}
		r = i < 2 ? writable(sub, ".", why) : 0;
		close(sub);
		if (r == -1) {
			*why = usable_why[U_PERM][i + 1];
			return -1;
		}
	}
	return all;
}

int
maildir_usable(const char *root, const char *path, const char *folder,
    const char **why)
{
	char	 rel[MAILDIR_PATH_MAX], key[2 * MAILDIR_PATH_MAX + MAILDIR_FOLDER_MAX + 1];
	char	 sub[NAME_MAX + 1], *comp, *save = NULL;
	struct maildir_dirs *e;
	size_t	 keylen, boxlen;
	int	 fd, next, r, saved, ok;

	*why = "bad folder name";
	if (folder_ok(&folder) == -1)
		return -1;
	*why = "not below the spool root";
	if (below_root(root, path, rel, sizeof rel) == -1)
		return -1;
	*why = "path too long";
	if ((keylen = make_key(root, path, folder, key, sizeof key, &boxlen)) == 0 ||
	    (folder != NULL && folder_name(folder, sub, sizeof sub) == -1)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* Delivered to in the last seconds: that walk is answer enough. */
	pthread_mutex_lock(&dircache_mu);
	e = find(key, keylen, key_hash(key, boxlen), mono_secs());
	ok = e != NULL && !removed(e);
	pthread_mutex_unlock(&dircache_mu);
	if (ok)
		return 0;
	if ((fd = open_root(root)) == -1) {
		*why = errno == ENOENT ? "no spool root" :
		    errno == EACCES ? "no permission" : "the spool root cannot be opened";
		return -1;
	}
	for (comp = strtok_r(rel, "/", &save); comp != NULL;
	    comp = strtok_r(NULL, "/", &save)) {
		r = probe(fd, comp, 0, &next, why);
		saved = errno;
		close(fd);
		errno = saved;
		if (r <= 0)
			return r;
		fd = next;
	}
	if ((r = usable_maildir(fd, why)) == 1 && folder != NULL) {
		r = probe(fd, sub, 0, &next, why);
		if (r == 1) {
			saved = errno;
			close(fd);
			fd = next;
			errno = saved;
			r = usable_maildir(fd, why);
		}
	}
	saved = errno;
	close(fd);
	errno = saved;
	return r == -1 ? -1 : 0;
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
	dirs_release(f->dirs, 1);
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
	let_go(f->dirs);
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
