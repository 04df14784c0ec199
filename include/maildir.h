/*
 * maildir.h - template expansion, mailbox directories, and the files of
 * a maildir delivery: created, then named in new/ (tmp/ -> new/, or an
 * unnamed file in new/ given its name there). The message bytes are
 * written through maildir_file.fd by delivery.c.
 */
#ifndef MAILDIR_H
#define MAILDIR_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

struct maildir_dirs;	/* a mailbox's tmp/ and new/ (maildir.c) */

/* One recipient's copy while it is being written. */
struct maildir_file {
	struct maildir_dirs *dirs;	/* NULL once finished or aborted */
	int	fd;		/* the file being written, -1 once closed */
	int	linked;		/* non-zero once it is in new/ */
	int	unnamed;	/* O_TMPFILE: no name until linked */
	char	name[NAME_MAX + 1];	/* unique file name (maildir_name) */
};

/*
 * maildir_local_ok - 1 if a local part (unquoted) can become a path
 * component: not empty, at most 64 octets, no '/', no leading '.',
 * no NUL or control byte.
 */
int	maildir_local_ok(const char *local);

/*
 * maildir_expand - expand %u (local part, lower-cased), %d (domain,
 * lower-cased) and %% in tmpl into buf. Refuses unsafe parts before any
 * file is touched. Returns 0, or -1 with *why set.
 */
int	maildir_expand(const char *tmpl, const char *local, const char *domain,
	    char *buf, size_t bufsz, const char **why);

/*
 * maildir_root - copy into buf the fixed directory prefix of tmpl: the
 * part before the first '%' up to its last '/', or all of it without '%'.
 */
int	maildir_root(const char *tmpl, char *buf, size_t bufsz);

/*
 * maildir_set_host - the host part of unique names (call once at start,
 * before any thread delivers): host with '/' and ':' escaped, shortened
 * to its leading part and a hash of the whole when too long (maildir.c).
 */
void	maildir_set_host(const char *host);

/*
 * maildir_name - format the unique name sec.MusecPpidQcounterRrnd.host
 * (host part as set by maildir_set_host) into buf; at most NAME_MAX
 * bytes whatever the values. Returns 0, or -1 if bufsz is too small.
 */
int	maildir_name(char *buf, size_t bufsz, long long sec, long usec,
	    pid_t pid, unsigned counter, unsigned rnd);

/* A Maildir++ folder name: at most this long (recipient.c checks it). */
#define MAILDIR_FOLDER_MAX	64

/*
 * maildir_open - make sure the maildir at path exists below root (no
 * symlinks followed below root) and create a new file: unnamed in its
 * new/ where the filesystem allows (O_TMPFILE), else in its tmp/. With
 * folder neither NULL nor "" (a Maildir++ folder: one path component
 * without its dot, no '/', no leading '.'), the file goes into
 * path/.folder/ instead, made as needed with its tmp/, new/, cur/ and
 * an empty file maildirfolder (the mailbox itself too). What is created
 * here is removed again by maildir_abort() if no copy is ever delivered
 * there (see maildir.c). Returns 0 or -1 with errno set (EINVAL: path
 * not below root, or a bad folder name).
 */
int	maildir_open(const char *root, const char *path, const char *folder,
	    struct maildir_file *f);
/*
 * maildir_usable - whether maildir_open() could deliver to path (and
 * folder) below root, without creating anything: every existing
 * directory below root a directory and no symlink, tmp/ and new/ (where
 * they exist) writable, and where something is missing, its parent
 * writable. A mailbox delivered to in the last seconds is answered from
 * the directory cache. Returns 0, or -1 with errno set and *why a short
 * static text ("new/ is not a directory", "a symlink in the path",
 * "no permission", ...).
 */
int	maildir_usable(const char *root, const char *path, const char *folder,
	    const char **why);
/* maildir_forget - close every cached mailbox directory not in use
 * (they are kept for a few seconds after a delivery; see maildir.c). */
void	maildir_forget(void);
/* maildir_expire - close the cached directories no longer in use: a
 * mailbox left idle holds no descriptor for long. */
void	maildir_expire(void);
/* maildir_sync - fsync the file (if asked) and close it, or keep an
 * unnamed one open for maildir_link; 0 or -1. */
int	maildir_sync(struct maildir_file *f, int do_fsync);
/* maildir_link - give the file its name in new/ (and close it), and
 * make that name durable if asked: fsync new/, or the unnamed file
 * again. Never replaces an existing name. */
int	maildir_link(struct maildir_file *f, int do_fsync);
/* maildir_finish - let go of the copy after a successful link. */
void	maildir_finish(struct maildir_file *f);
/* maildir_abort - close and remove the copy (from tmp/, and new/ if
 * linked); the directories its maildir_open() created go too, deepest
 * first, unless another copy in this process uses that mailbox (or one
 * is delivered there first). Never the root, never a non-empty one. */
void	maildir_abort(struct maildir_file *f);

/* maildir_clean_stale - remove our dead processes' files from every
 * tmp/ below root. Returns the number removed. */
int	maildir_clean_stale(const char *root);

#endif
