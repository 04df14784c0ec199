/*
 * test_maildir.c - template expansion and maildir delivery (src/maildir.c).
 * Delivery tests work in a fresh mkdtemp() directory, removed afterwards.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <grp.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"
#include "unit.h"

#define HOST	"unit.test"

/* ---- helpers ---- */

/*
 * maildir.c's renameat2() resolves to this one: with rename_unsupported
 * set it fails as on a filesystem without RENAME_NOREPLACE (NFS), to
 * drive the link() fallback.
 */
static int	rename_unsupported;
static int	rename_calls;

int
renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
    unsigned int flags)
{
	rename_calls++;
	if (rename_unsupported) {
		errno = EINVAL;
		return -1;
	}
	return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

/*
 * And its openat(): with tmpfile_unsupported set, O_TMPFILE fails as on
 * a filesystem without unnamed files, to drive the tmp/ protocol.
 */
static int	tmpfile_unsupported;
static int	tmpfile_calls;

int
openat(int dirfd, const char *path, int flags, ...)
{
	va_list	ap;
	int	mode = 0;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_start(ap, flags);
		mode = va_arg(ap, int);
		va_end(ap);
	}
	if ((flags & O_TMPFILE) == O_TMPFILE) {
		tmpfile_calls++;
		if (tmpfile_unsupported) {
			errno = EOPNOTSUPP;
			return -1;
		}
	}
	return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

/*
 * Its fsync() and linkat() note each call in order: 'F' and the fd, 'L'.
 */
static struct { char op; int fd; } traced[16];
static int	ncalls;

static void
trace(char op, int fd)
{
	if (ncalls < (int)(sizeof traced / sizeof traced[0])) {
		traced[ncalls].op = op;
		traced[ncalls].fd = fd;
		ncalls++;
	}
}

int
fsync(int fd)
{
	trace('F', fd);
	return (int)syscall(SYS_fsync, fd);
}

/*
 * And its linkat(): with proc_link_refused set, linking through
 * /proc/self/fd fails as under a security module that forbids it.
 */
static int	proc_link_refused;

int
linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
    int flags)
{
	trace('L', -1);
	if (proc_link_refused && strncmp(oldpath, "/proc/", 6) == 0) {
		errno = EACCES;
		return -1;
	}
	return (int)syscall(SYS_linkat, olddirfd, oldpath, newdirfd, newpath, flags);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* scratch - a new empty directory; its path is returned in buf. */
static int
scratch(char *buf, size_t size)
{
	const char *t = getenv("TMPDIR");

	snprintf(buf, size, "%s/test_maildir.XXXXXX", t && *t ? t : "/tmp");
	return mkdtemp(buf) != NULL ? 0 : -1;
}

/* count - entries of dir other than . and ..; -1 if it cannot be read. */
static int
count(const char *dir, char *first, size_t firstsz)
{
	DIR	*dp = opendir(dir);
	struct dirent *de;
	int	 n = 0;

	if (dp == NULL)
		return -1;
	while ((de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n++ == 0 && first != NULL)
			snprintf(first, firstsz, "%s", de->d_name);
	}
	closedir(dp);
	return n;
}

/* join - "a/b" into dst (cut short if it does not fit). */
static char *
join(char *dst, size_t size, const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b);

	if (la + 1 + lb + 1 > size) {
		dst[0] = '\0';
		return dst;
	}
	memcpy(dst, a, la);
	dst[la] = '/';
	memcpy(dst + la + 1, b, lb + 1);
	return dst;
}

/* count2 - entries of the directory a/b. */
static int
count2(const char *a, const char *b)
{
	char	path[2048];

	return count(join(path, sizeof path, a, b), NULL, 0);
}

static int
is_dir(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* an_open_fds - how many fds this process has (leak checks). */
static int
open_fds(void)
{
	return count("/proc/self/fd", NULL, 0);
}

/* ---- maildir_local_ok ---- */

static void
test_local_ok(void)
{
	char	s[100];

	CHECK_EQ_INT(maildir_local_ok("alice"), 1);
	CHECK_EQ_INT(maildir_local_ok("a.b"), 1);
	CHECK_EQ_INT(maildir_local_ok("a..b"), 1);
	CHECK_EQ_INT(maildir_local_ok("a b"), 1);
	CHECK_EQ_INT(maildir_local_ok("j\xc3\xb6rg"), 1);
	CHECK_EQ_INT(maildir_local_ok("x-"), 1);
	CHECK_EQ_INT(maildir_local_ok(""), 0);
	CHECK_EQ_INT(maildir_local_ok("."), 0);
	CHECK_EQ_INT(maildir_local_ok(".."), 0);
	CHECK_EQ_INT(maildir_local_ok(".hidden"), 0);
	CHECK_EQ_INT(maildir_local_ok("../x"), 0);
	CHECK_EQ_INT(maildir_local_ok("a/b"), 0);
	CHECK_EQ_INT(maildir_local_ok("a/"), 0);
	CHECK_EQ_INT(maildir_local_ok("/"), 0);
	CHECK_EQ_INT(maildir_local_ok("a\x01"), 0);
	CHECK_EQ_INT(maildir_local_ok("a\nb"), 0);
	CHECK_EQ_INT(maildir_local_ok("a\tb"), 0);
	CHECK_EQ_INT(maildir_local_ok("\x1f"), 0);
	CHECK_EQ_INT(maildir_local_ok("a\x7f"), 0);
	memset(s, 'a', 64);
	s[64] = '\0';
	CHECK_EQ_INT(maildir_local_ok(s), 1);
	s[64] = 'a';
	s[65] = '\0';
	CHECK_EQ_INT(maildir_local_ok(s), 0);
}

/* ---- maildir_expand ---- */

static void
test_expand(void)
{
	char	buf[256];
	const char *why = NULL;

	CHECK_EQ_INT(maildir_expand("/spool/%d/%u", "Alice", "Example.ORG",
	    buf, sizeof buf, &why), 0);
	CHECK_STR(buf, "/spool/example.org/alice");
	CHECK_EQ_INT(maildir_expand("/Home/%u/Maildir", "BOB", "x.example",
	    buf, sizeof buf, &why), 0);
	CHECK_STR(buf, "/Home/bob/Maildir");	/* template case kept */
	CHECK_EQ_INT(maildir_expand("/m/100%%/%u%%%d", "u", "d.example",
	    buf, sizeof buf, &why), 0);
	CHECK_STR(buf, "/m/100%/u%d.example");
	CHECK_EQ_INT(maildir_expand("/fixed", "u", "d", buf, sizeof buf, &why), 0);
	CHECK_STR(buf, "/fixed");
	CHECK_EQ_INT(maildir_expand("", "u", "d", buf, sizeof buf, &why), 0);
	CHECK_STR(buf, "");
	/* Only ASCII letters are lower-cased. */
	CHECK_EQ_INT(maildir_expand("%u", "J\xc3\x96RG", "d", buf, sizeof buf, &why), 0);
	CHECK_STR(buf, "j\xc3\x96rg");
	CHECK_EQ_INT(maildir_expand("/s/%d/%u", "u", "[192.0.2.1]", buf, sizeof buf, &why), 0);
	CHECK_STR(buf, "/s/[192.0.2.1]/u");
}

static void
test_expand_unsafe(void)
{
	static const char *const bad[] = {
		"../x", "..", ".", ".hidden", "a/b", "/", "", "a\x01", "a\n",
		"a\x7f",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
	};
	char	buf[256];
	const char *why;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		strcpy(buf, "untouched");
		if (!CHECK_EQ_INT(maildir_expand("/s/%d/%u", bad[i], "example.org",
		    buf, sizeof buf, &why), -1))
			printf("#   local %zu\n", i);
		CHECK_STR(why, "Local part cannot name a mailbox");
		if (strlen(bad[i]) > 64)
			continue;	/* too long for a local part, fine for a domain */
		why = NULL;
		if (!CHECK_EQ_INT(maildir_expand("/s/%d/%u", "alice", bad[i],
		    buf, sizeof buf, &why), -1))
			printf("#   domain %zu\n", i);
		CHECK_STR(why, "Domain cannot name a mailbox");
	}
	{
		char	dom[300];
		memset(dom, 'd', 256);
		dom[256] = '\0';
		CHECK_EQ_INT(maildir_expand("/s/%d/%u", "alice", dom, buf, sizeof buf, &why), -1);
	}
	/* Refused even when the template does not use the part. */
	CHECK_EQ_INT(maildir_expand("/s/fixed", "../x", "d", buf, sizeof buf, &why), -1);
}

static void
test_expand_limits(void)
{
	char	buf[64];
	const char *why = NULL;

	/* "/s/d/u" is 6 characters: needs 7 bytes. */
	CHECK_EQ_INT(maildir_expand("/s/%d/%u", "u", "d", buf, 7, &why), 0);
	CHECK_STR(buf, "/s/d/u");
	CHECK_EQ_INT(maildir_expand("/s/%d/%u", "u", "d", buf, 6, &why), -1);
	CHECK_STR(why, "Mailbox path too long");
	CHECK_EQ_INT(maildir_expand("/s/%d/%u", "u", "d", buf, 4, &why), -1);
	CHECK_STR(why, "Mailbox path too long");
	CHECK_EQ_INT(maildir_expand("/s/%%", "u", "d", buf, 4, &why), -1);
	CHECK_EQ_INT(maildir_expand("/s/%%", "u", "d", buf, 5, &why), 0);
	CHECK_STR(buf, "/s/%");
	CHECK_EQ_INT(maildir_expand("/s/", "u", "d", buf, 3, &why), -1);
	/* Unknown escapes (config.c refuses them first). */
	why = NULL;
	CHECK_EQ_INT(maildir_expand("/s/%x", "u", "d", buf, sizeof buf, &why), -1);
	CHECK(why != NULL);
	CHECK_EQ_INT(maildir_expand("/s/%", "u", "d", buf, sizeof buf, &why), -1);
}

/* A domain may have up to 255 octets (RFC 5321 4.5.3.1.2); one longer
 * than a local part's 64 still names a mailbox directory (a path
 * component may have 255). */
static void
test_expand_long_domain(void)
{
	char	buf[512];
	const char *why = NULL;
	const char *dom =
	    "mail.a-rather-long-department-name.some-university.example";	/* 58 */
	const char *dom70 =
	    "mail.a-rather-long-department-name.some-university-of-x.example.org";

	CHECK_EQ_INT(maildir_expand("/s/%d/%u", "u", dom, buf, sizeof buf, &why), 0);
	CHECK(strlen(dom70) > 64);
	CHECK_EQ_INT(maildir_expand("/s/%d/%u", "u", dom70, buf, sizeof buf, &why), 0);
}

/* ---- maildir_root ---- */

static void
test_root(void)
{
	static const char *const cases[][2] = {
		{ "/var/spool/smtpd/%d/%u", "/var/spool/smtpd" },
		{ "/var/mail/%u/Maildir", "/var/mail" },
		{ "/var/mail/%u", "/var/mail" },
		{ "/var/spool/mail", "/var/spool/mail" },
		{ "/var/spool/mail/", "/var/spool/mail" },
		{ "/var/mail%u", "/var" },
		{ "/var/mail/x%u/", "/var/mail" },
		{ "/srv//mail//%d", "/srv//mail" },
		{ "/%u", "/" },
		{ "/", "/" },
		{ "%u/Maildir", "" },
		{ "rel/%d/%u", "rel" },
		{ "/s/100%%/%u", "/s" },
		{ "", "" },
	};
	char	buf[256];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		strcpy(buf, "junk");
		if (!CHECK_EQ_INT(maildir_root(cases[i][0], buf, sizeof buf), 0))
			continue;
		if (!CHECK_STR(buf, cases[i][1]))
			printf("#   template \"%s\"\n", cases[i][0]);
	}
	CHECK_EQ_INT(maildir_root("/var/spool/%u", buf, 11), 0);
	CHECK_STR(buf, "/var/spool");
	CHECK_EQ_INT(maildir_root("/var/spool/%u", buf, 10), -1);
	CHECK_EQ_INT(maildir_root("/var/spool", buf, 10), -1);
	CHECK_EQ_INT(maildir_root("", buf, 1), 0);
}

/* ---- delivery ---- */

/* deliver - one complete copy of text into root/path. */
static int
deliver(const char *root, const char *path, const char *text, char *name,
    size_t namesz, int do_fsync)
{
	struct maildir_file f;
	size_t	len = strlen(text);

	if (maildir_open(root, path, NULL, &f) == -1)
		return -1;
	if (write(f.fd, text, len) != (ssize_t)len ||
	    maildir_sync(&f, do_fsync) == -1 || maildir_link(&f, do_fsync) == -1) {
		maildir_abort(&f);
		return -1;
	}
	if (name != NULL)
		snprintf(name, namesz, "%s", f.name);
	maildir_finish(&f);
	return 0;
}

static void
test_deliver(void)
{
	char	 root[512], path[1024], name[256], file[2048], first[256];
	char	 body[64];
	struct stat st;
	int	 fds0 = open_fds(), fd;
	ssize_t	 n;

	REQUIRE(scratch(root, sizeof root) == 0);
	snprintf(path, sizeof path, "%s/example.org/alice", root);
	CHECK_EQ_INT(deliver(root, path, "Subject: hi\n\nhello\n", name,
	    sizeof name, 1), 0);
	CHECK(is_dir(path));
	CHECK_EQ_INT(count2(path, "new"), 1);
	CHECK_EQ_INT(count2(path, "tmp"), 0);
	CHECK_EQ_INT(count2(path, "cur"), 0);
	snprintf(file, sizeof file, "%s/new", path);
	CHECK_EQ_INT(count(file, first, sizeof first), 1);
	CHECK_STR(first, name);
	/* name: time.MusecPpidQnRrand.host */
	{
		char pid[32];
		snprintf(pid, sizeof pid, "P%ldQ", (long)getpid());
		CHECK(strstr(name, ".M") != NULL);
		CHECK(strstr(name, pid) != NULL);
		CHECK(strlen(name) > strlen(HOST) + 1 &&
		    strcmp(name + strlen(name) - strlen(HOST) - 1, "." HOST) == 0);
		CHECK(strchr(name, '/') == NULL);
		CHECK(strchr(name, ':') == NULL);
	}
	snprintf(file, sizeof file, "%s/new/%s", path, name);
	fd = open(file, O_RDONLY);
	REQUIRE(fd != -1);
	n = read(fd, body, sizeof body);
	close(fd);
	CHECK_MEM(body, n < 0 ? 0 : (size_t)n, "Subject: hi\n\nhello\n", 19);
	REQUIRE(stat(file, &st) == 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0600);
	CHECK_EQ_INT(st.st_nlink, 1);
	REQUIRE(stat(path, &st) == 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0700);
	snprintf(file, sizeof file, "%s/example.org", root);
	REQUIRE(stat(file, &st) == 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0700);

	/* A second copy: a different name, the first is kept. */
	CHECK_EQ_INT(deliver(root, path, "two\n", first, sizeof first, 0), 0);
	CHECK(strcmp(first, name) != 0);
	CHECK_EQ_INT(count2(path, "new"), 2);
	CHECK_EQ_INT(count2(path, "tmp"), 0);
	/* Into the root itself (template without %). */
	CHECK_EQ_INT(deliver(root, root, "three\n", NULL, 0, 0), 0);
	CHECK_EQ_INT(count2(root, "new"), 1);
	/* Path given with doubled and trailing slashes. */
	snprintf(path, sizeof path, "%s//example.org///bob/", root);
	CHECK_EQ_INT(deliver(root, path, "four\n", NULL, 0, 0), 0);
	CHECK_EQ_INT(count2(root, "example.org/bob/new"), 1);
	/* Nothing leaked (once the cached directories are let go). */
	maildir_forget();
	CHECK_EQ_INT(open_fds(), fds0);
	rm_tree(root);
}

static void
test_open_refusals(void)
{
	char	 root[512], path[1024];
	struct maildir_file f;

	REQUIRE(scratch(root, sizeof root) == 0);
	/* Not below root. */
	errno = 0;
	CHECK_EQ_INT(maildir_open(root, "/elsewhere/x", NULL, &f), -1);
	CHECK_EQ_INT(errno, EINVAL);
	CHECK_EQ_INT(f.fd, -1);
	CHECK(f.dirs == NULL);
	/* Root missing. */
	snprintf(path, sizeof path, "%s/none", root);
	CHECK_EQ_INT(maildir_open(path, path, NULL, &f), -1);
	CHECK_EQ_INT(errno, ENOENT);
	/* A component is a plain file. */
	snprintf(path, sizeof path, "%s/file", root);
	REQUIRE(close(open(path, O_WRONLY | O_CREAT, 0600)) == 0);
	snprintf(path, sizeof path, "%s/file/alice", root);
	CHECK_EQ_INT(maildir_open(root, path, NULL, &f), -1);
	CHECK_EQ_INT(errno, ENOTDIR);
	rm_tree(root);
}

/*
 * "Below root" means below it as a directory: a sibling that merely
 * shares the root's name as a string prefix (root "/x/spool", path
 * "/x/spool2/u") is not below it, and must not be created as
 * "/x/spool/2/u" instead.
 */
static void
test_open_prefix_sibling(void)
{
	char	 base[512], root[1024], path[1024];
	struct maildir_file f;

	REQUIRE(scratch(base, sizeof base) == 0);
	join(root, sizeof root, base, "spool");
	REQUIRE(mkdir(root, 0700) == 0);
	join(path, sizeof path, base, "spool2/u");
	errno = 0;
	if (!CHECK_EQ_INT(maildir_open(root, path, NULL, &f), -1))
		maildir_abort(&f);
	else
		CHECK_EQ_INT(errno, EINVAL);
	CHECK_EQ_INT(count(root, NULL, 0), 0);
	rm_tree(base);
}

/*
 * A symlink planted below the root (for a user's directory, a domain's,
 * or a maildir's tmp/) is refused, and nothing is written through it.
 */
static void
test_symlinks(void)
{
	char	 root[512], out[512], path[1024], link[1024];
	struct maildir_file f;
	int	 fds0 = open_fds();

	REQUIRE(scratch(root, sizeof root) == 0);
	REQUIRE(scratch(out, sizeof out) == 0);

	/* root/example.org/carol -> out */
	snprintf(path, sizeof path, "%s/example.org", root);
	REQUIRE(mkdir(path, 0700) == 0);
	snprintf(link, sizeof link, "%s/example.org/carol", root);
	REQUIRE(symlink(out, link) == 0);
	CHECK_EQ_INT(maildir_open(root, link, NULL, &f), -1);
	CHECK_EQ_INT(count(out, NULL, 0), 0);
	snprintf(path, sizeof path, "%s/example.org/carol/sub", root);
	CHECK_EQ_INT(maildir_open(root, path, NULL, &f), -1);
	CHECK_EQ_INT(count(out, NULL, 0), 0);

	/* root/evil.example -> out (a domain directory) */
	snprintf(link, sizeof link, "%s/evil.example", root);
	REQUIRE(symlink(out, link) == 0);
	snprintf(path, sizeof path, "%s/evil.example/dave", root);
	CHECK_EQ_INT(maildir_open(root, path, NULL, &f), -1);
	CHECK_EQ_INT(count(out, NULL, 0), 0);

	/* root/example.org/bob/tmp -> out; also new/ -> out */
	snprintf(path, sizeof path, "%s/example.org/bob", root);
	REQUIRE(mkdir(path, 0700) == 0);
	join(link, sizeof link, path, "tmp");
	REQUIRE(symlink(out, link) == 0);
	CHECK_EQ_INT(maildir_open(root, path, NULL, &f), -1);
	CHECK_EQ_INT(f.fd, -1);
	CHECK_EQ_INT(count(out, NULL, 0), 0);
	snprintf(path, sizeof path, "%s/example.org/erin", root);
	REQUIRE(mkdir(path, 0700) == 0);
	join(link, sizeof link, path, "new");
	REQUIRE(symlink(out, link) == 0);
	CHECK_EQ_INT(maildir_open(root, path, NULL, &f), -1);
	CHECK_EQ_INT(count(out, NULL, 0), 0);
	/* ... and leaves no tmp file behind in the real tmp/. */
	CHECK_EQ_INT(count2(path, "tmp"), 0);

	/* A dangling symlink as a component is not created through. */
	snprintf(path, sizeof path, "%s/example.org/frank", root);
	snprintf(link, sizeof link, "%s/made-by-symlink", out);
	REQUIRE(symlink(link, path) == 0);
	CHECK_EQ_INT(maildir_open(root, path, NULL, &f), -1);
	CHECK_EQ_INT(count(out, NULL, 0), 0);

	/* The root itself may be a symlink (the admin's choice). */
	snprintf(link, sizeof link, "%s/rootlink", root);
	REQUIRE(symlink(out, link) == 0);
	join(path, sizeof path, link, "x.example/u");
	CHECK_EQ_INT(deliver(link, path, "ok\n", NULL, 0, 0), 0);
	CHECK_EQ_INT(count2(out, "x.example/u/new"), 1);

	maildir_forget();
	CHECK_EQ_INT(open_fds(), fds0);
	rm_tree(root);
	rm_tree(out);
}

/*
 * The directory cache: a mailbox replaced by a symlink is never written
 * through; the cache answers only for the root it was filled under. (A
 * mailbox removed while cached: test_removed_while_cached.)
 */
static void
test_cache(void)
{
	char	 root[512], out[512], path[1024], old[1100], other[1100];
	struct maildir_file f;
	int	 fds0 = open_fds();

	REQUIRE(scratch(root, sizeof root) == 0);
	REQUIRE(scratch(out, sizeof out) == 0);
	snprintf(path, sizeof path, "%s/example.org/gina", root);
	CHECK_EQ_INT(deliver(root, path, "one\n", NULL, 0, 1), 0);

	/* Moved aside and replaced by a symlink while cached: the copy goes
	 * to the directory that was checked (or is refused), never out. */
	snprintf(old, sizeof old, "%s.old", path);
	REQUIRE(rename(path, old) == 0);
	REQUIRE(symlink(out, path) == 0);
	CHECK_EQ_INT(deliver(root, path, "three\n", NULL, 0, 1) == 0 ?
	    count2(old, "new") : 2, 2);
	CHECK_EQ_INT(count(out, NULL, 0), 0);
	/* Once the cache is gone the symlink is refused. */
	maildir_forget();
	CHECK_EQ_INT(deliver(root, path, "four\n", NULL, 0, 1), -1);
	CHECK_EQ_INT(count(out, NULL, 0), 0);

	/* A cached mailbox is still not below another root. */
	snprintf(path, sizeof path, "%s/example.org/hal", root);
	CHECK_EQ_INT(deliver(root, path, "five\n", NULL, 0, 1), 0);
	snprintf(other, sizeof other, "%s/example.net", root);
	errno = 0;
	if (!CHECK_EQ_INT(maildir_open(other, path, NULL, &f), -1))
		maildir_abort(&f);
	else
		CHECK_EQ_INT(errno, EINVAL);

	maildir_forget();
	CHECK_EQ_INT(open_fds(), fds0);
	rm_tree(root);
	rm_tree(out);
}

/* maildir_expire closes a mailbox's directories once their time in the
 * cache is up, and keeps them until then: an idle mailbox holds no
 * descriptor for long. (Takes MAILDIR_CACHE_SECS and a bit.) */
static void
test_expire(void)
{
	char	 root[512], path[1024];
	struct timespec nap = { 0, 100 * 1000 * 1000 };
	int	 fds0, i;

	maildir_forget();
	fds0 = open_fds();
	REQUIRE(scratch(root, sizeof root) == 0);
	snprintf(path, sizeof path, "%s/example.org/ida", root);
	CHECK_EQ_INT(deliver(root, path, "one\n", NULL, 0, 1), 0);
	CHECK(open_fds() > fds0);
	maildir_expire();			/* still fresh: kept */
	CHECK(open_fds() > fds0);
	for (i = 0; i < 40 && open_fds() > fds0; i++) {
		nanosleep(&nap, NULL);
		maildir_expire();
	}
	CHECK_EQ_INT(open_fds(), fds0);
	CHECK(i >= 10);				/* not before a second had passed */
	/* And delivered to again from scratch. */
	CHECK_EQ_INT(deliver(root, path, "two\n", NULL, 0, 1), 0);
	CHECK_EQ_INT(count2(path, "new"), 2);
	maildir_forget();
	CHECK_EQ_INT(open_fds(), fds0);
	rm_tree(root);
}

/* A mailbox removed while its directories are cached is made again and
 * delivered to, below root in base (a directory). */
static void
removed_while_cached(const char *base)
{
	char	 root[512], path[1024], newdir[1100];
	int	 fds0;

	maildir_forget();
	fds0 = open_fds();
	snprintf(root, sizeof root, "%s/test_maildir.XXXXXX", base);
	REQUIRE(mkdtemp(root) != NULL);
	snprintf(path, sizeof path, "%s/example.org/gina", root);
	CHECK_EQ_INT(deliver(root, path, "one\n", NULL, 0, 1), 0);
	rm_tree(path);
	CHECK_EQ_INT(deliver(root, path, "two\n", NULL, 0, 1), 0);
	CHECK_EQ_INT(count2(path, "new"), 1);
	CHECK_EQ_INT(count2(path, "tmp"), 0);
	/* Only new/ removed: made again too. */
	rm_tree(join(newdir, sizeof newdir, path, "new"));
	CHECK_EQ_INT(deliver(root, path, "three\n", NULL, 0, 1), 0);
	CHECK_EQ_INT(count2(path, "new"), 1);
	maildir_forget();
	CHECK_EQ_INT(open_fds(), fds0);
	rm_tree(root);
}

/* On tmpfs (as on xfs) an unnamed file can be made in a removed
 * directory, and only its link fails: the cached directory must be
 * found removed before. Skipped where /dev/shm is not a directory. */
static void
test_removed_while_cached(void)
{
	const char *t = getenv("TMPDIR");
	struct stat st;

	removed_while_cached(t && *t ? t : "/tmp");
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
	    access("/dev/shm", W_OK) == 0)
		removed_while_cached("/dev/shm");
}

/* Aborted at every step, a copy leaves nothing in new/ or tmp/, no
 * directory its open made, and no fd open: as an unnamed file (mode 0)
 * and in tmp/ (mode 1). */
static void
test_abort(void)
{
	char	 root[512], path[1024], dpath[1024];
	struct maildir_file f;
	int	 fds0 = open_fds();

	REQUIRE(scratch(root, sizeof root) == 0);
	snprintf(path, sizeof path, "%s/d/u", root);
	snprintf(dpath, sizeof dpath, "%s/d", root);
	for (int mode = 0; mode < 2; mode++) {
		tmpfile_unsupported = mode;
		maildir_forget();	/* the fallback is learnt per mailbox */

		/* Abort after link: neither new/ nor tmp/ keeps it. */
		REQUIRE(maildir_open(root, path, NULL, &f) == 0);
		CHECK_EQ_INT(f.unnamed, !mode);
		CHECK(write(f.fd, "x\n", 2) == 2);
		CHECK_EQ_INT(maildir_sync(&f, 0), 0);
		CHECK_EQ_INT(f.fd != -1, !mode);	/* unnamed: open until linked */
		CHECK_EQ_INT(maildir_link(&f, 0), 0);
		CHECK_EQ_INT(f.fd, -1);
		CHECK(f.linked != 0);
		CHECK_EQ_INT(count2(path, "new"), 1);
		CHECK_EQ_INT(count2(path, "tmp"), 0);	/* moved, not linked */
		maildir_abort(&f);
		/* Nothing stored: the maildir it made (and its parent d/)
		 * is gone again; the root stays. */
		CHECK(!is_dir(path));
		CHECK(!is_dir(dpath));
		CHECK(is_dir(root));
		CHECK(f.dirs == NULL);
		maildir_abort(&f);	/* twice is harmless */

		/* Abort while still open. */
		REQUIRE(maildir_open(root, path, NULL, &f) == 0);
		CHECK_EQ_INT(count2(path, "tmp"), mode);
		CHECK_EQ_INT(count2(path, "new"), 0);
		maildir_abort(&f);
		CHECK_EQ_INT(f.fd, -1);
		CHECK(!is_dir(dpath));

		/* Abort after sync, before link. */
		REQUIRE(maildir_open(root, path, NULL, &f) == 0);
		CHECK_EQ_INT(maildir_sync(&f, 1), 0);
		maildir_abort(&f);
		CHECK_EQ_INT(f.fd, -1);
		CHECK(!is_dir(dpath));

		/* Finish, then abort: the delivered copy stays. */
		REQUIRE(maildir_open(root, path, NULL, &f) == 0);
		CHECK_EQ_INT(maildir_sync(&f, 0), 0);
		CHECK_EQ_INT(maildir_link(&f, 1), 0);
		maildir_finish(&f);
		maildir_abort(&f);
		CHECK_EQ_INT(count2(path, "new"), 1);
		CHECK_EQ_INT(count2(path, "tmp"), 0);
		rm_tree(dpath);
	}
	tmpfile_unsupported = 0;
	maildir_forget();
	CHECK_EQ_INT(open_fds(), fds0);
	rm_tree(root);
}

/* Where the filesystem has unnamed files, a copy being written has no
 * name anywhere: a reader sees it whole in new/ or not at all, and a
 * process dying mid-message leaves nothing to sweep. Where it has not,
 * that is learnt once per mailbox and tmp/ is used. */
static void
test_unnamed(void)
{
	char	 root[512], path[1024], proc[64], target[2048], newdir[1100];
	struct maildir_file f;
	ssize_t	 n;
	int	 tmpfiles, fd;

	REQUIRE(scratch(root, sizeof root) == 0);
	snprintf(path, sizeof path, "%s/d/v", root);
	REQUIRE(maildir_open(root, path, NULL, &f) == 0);
	CHECK_EQ_INT(f.unnamed, 1);
	CHECK(write(f.fd, "x\n", 2) == 2);
	CHECK_EQ_INT(count2(path, "new"), 0);
	CHECK_EQ_INT(count2(path, "tmp"), 0);
	/* It lives in new/'s filesystem, with no name. */
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", f.fd);
	n = readlink(proc, target, sizeof target - 1);
	REQUIRE(n > 0);
	target[n] = '\0';
	snprintf(newdir, sizeof newdir, "%s/new/", path);
	CHECK(strncmp(target, newdir, strlen(newdir)) == 0);
	CHECK(strstr(target, "(deleted)") != NULL);
	/* Synced, linked, and the file synced again (that makes its name
	 * durable), not new/. */
	fd = f.fd;
	ncalls = 0;
	CHECK_EQ_INT(maildir_sync(&f, 1), 0);
	CHECK_EQ_INT(count2(path, "new"), 0);
	CHECK_EQ_INT(maildir_link(&f, 1), 0);
	CHECK_EQ_INT(count2(path, "new"), 1);
	REQUIRE(ncalls == 3);
	CHECK(traced[0].op == 'F' && traced[0].fd == fd);
	CHECK(traced[1].op == 'L');
	CHECK(traced[2].op == 'F' && traced[2].fd == fd);
	maildir_finish(&f);

	/* No O_TMPFILE: tmp/ is used, and not asked again for this mailbox
	 * while it is cached. */
	tmpfile_unsupported = 1;
	tmpfiles = tmpfile_calls;
	REQUIRE(maildir_open(root, path, NULL, &f) == 0);
	CHECK_EQ_INT(f.unnamed, 0);
	CHECK_EQ_INT(count2(path, "tmp"), 1);
	maildir_abort(&f);
	tmpfile_unsupported = 0;
	CHECK_EQ_INT(deliver(root, path, "y\n", NULL, 0, 1), 0);
	CHECK_EQ_INT(tmpfile_calls, tmpfiles + 1);
	CHECK_EQ_INT(count2(path, "new"), 2);
	CHECK_EQ_INT(count2(path, "tmp"), 0);
	/* Found again after the cache lets go: unnamed once more. */
	maildir_forget();
	REQUIRE(maildir_open(root, path, NULL, &f) == 0);
	CHECK_EQ_INT(f.unnamed, 1);
	CHECK_EQ_INT(tmpfile_calls, tmpfiles + 2);
	maildir_abort(&f);
	maildir_forget();
	rm_tree(root);
}

/* Where rename cannot refuse to replace, the copy is linked into new/
 * and its tmp/ name removed by maildir_finish (or maildir_abort). */
static void
test_link_fallback(void)
{
	char	 root[512], path[1024], name[NAME_MAX + 1], file[1400], buf[16];
	struct maildir_file f;
	int	 fds0 = open_fds(), calls = rename_calls, fd;

	REQUIRE(scratch(root, sizeof root) == 0);
	snprintf(path, sizeof path, "%s/d/u", root);
	rename_unsupported = 1;
	tmpfile_unsupported = 1;	/* only a named file is renamed */

	REQUIRE(maildir_open(root, path, NULL, &f) == 0);
	CHECK(write(f.fd, "hello\n", 6) == 6);
	CHECK_EQ_INT(maildir_sync(&f, 1), 0);
	CHECK_EQ_INT(maildir_link(&f, 1), 0);
	CHECK(rename_calls > calls);
	CHECK_EQ_INT(count2(path, "new"), 1);
	CHECK_EQ_INT(count2(path, "tmp"), 1);	/* linked, not moved */
	snprintf(name, sizeof name, "%s", f.name);
	maildir_finish(&f);
	CHECK_EQ_INT(count2(path, "tmp"), 0);
	snprintf(file, sizeof file, "%s/new/%s", path, name);
	fd = open(file, O_RDONLY);
	CHECK(fd != -1);
	CHECK(read(fd, buf, sizeof buf) == 6 && memcmp(buf, "hello\n", 6) == 0);
	close(fd);

	/* Abort after a fallback link: gone from both. */
	REQUIRE(maildir_open(root, path, NULL, &f) == 0);
	CHECK_EQ_INT(maildir_sync(&f, 0), 0);
	CHECK_EQ_INT(maildir_link(&f, 0), 0);
	CHECK_EQ_INT(count2(path, "new"), 2);
	maildir_abort(&f);
	CHECK_EQ_INT(count2(path, "new"), 1);
	CHECK_EQ_INT(count2(path, "tmp"), 0);

	rename_unsupported = 0;
	tmpfile_unsupported = 0;
	maildir_forget();
	CHECK_EQ_INT(open_fds(), fds0);
	rm_tree(root);
}

/* A name already in new/ is never replaced, by linking an unnamed file,
 * by rename or by link; the
 * failed copy is removed and the file in new/ kept. */
static void
test_no_replace(void)
{
	char	 root[512], path[1024], file[1400], buf[16];
	struct maildir_file f;
	int	 fd;

	REQUIRE(scratch(root, sizeof root) == 0);
	snprintf(path, sizeof path, "%s/d/u", root);
	for (int mode = 0; mode < 3; mode++) {
		tmpfile_unsupported = mode > 0;
		rename_unsupported = mode > 1;
		maildir_forget();
		REQUIRE(maildir_open(root, path, NULL, &f) == 0);
		CHECK_EQ_INT(f.unnamed, mode == 0);
		CHECK_EQ_INT(maildir_sync(&f, 0), 0);
		snprintf(file, sizeof file, "%s/new/%s", path, f.name);
		fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
		REQUIRE(fd != -1);
		CHECK(write(fd, "old\n", 4) == 4);
		close(fd);
		errno = 0;
		CHECK_EQ_INT(maildir_link(&f, 1), -1);
		CHECK_EQ_INT(errno, EEXIST);
		maildir_abort(&f);
		CHECK_EQ_INT(count2(path, "tmp"), 0);
		fd = open(file, O_RDONLY);
		CHECK(fd != -1);
		CHECK(read(fd, buf, sizeof buf) == 4 && memcmp(buf, "old\n", 4) == 0);
		close(fd);
		CHECK_EQ_INT(unlink(file), 0);
	}
	rename_unsupported = 0;
	tmpfile_unsupported = 0;
	maildir_forget();
	rm_tree(root);
}

/* Where linking through /proc/self/fd is refused, the copy fails (the
 * client gets a temporary error) and every later one goes through tmp/.
 * It changes the whole process: run last. */
static void
test_proc_link_refused(void)
{
	char	 root[512], path[1024];
	struct maildir_file f;
	int	 fds0;

	maildir_forget();
	fds0 = open_fds();
	REQUIRE(scratch(root, sizeof root) == 0);
	snprintf(path, sizeof path, "%s/d/w", root);
	proc_link_refused = 1;
	REQUIRE(maildir_open(root, path, NULL, &f) == 0);
	CHECK_EQ_INT(f.unnamed, 1);
	CHECK_EQ_INT(maildir_sync(&f, 1), 0);
	errno = 0;
	CHECK_EQ_INT(maildir_link(&f, 1), -1);
	CHECK_EQ_INT(errno, EACCES);
	maildir_abort(&f);
	CHECK(!is_dir(path));
	/* The next copy, even in another mailbox, is written in tmp/. */
	maildir_forget();
	snprintf(path, sizeof path, "%s/d/x", root);
	REQUIRE(maildir_open(root, path, NULL, &f) == 0);
	CHECK_EQ_INT(f.unnamed, 0);
	CHECK_EQ_INT(count2(path, "tmp"), 1);
	maildir_abort(&f);
	CHECK_EQ_INT(deliver(root, path, "z\n", NULL, 0, 1), 0);
	CHECK_EQ_INT(count2(path, "new"), 1);
	CHECK_EQ_INT(count2(path, "tmp"), 0);
	proc_link_refused = 0;
	maildir_forget();
	CHECK_EQ_INT(open_fds(), fds0);
	rm_tree(root);
}

static void
test_set_host(void)
{
	char	 root[512], name[256];
	const char *want = ".a\\057b\\072c";

	REQUIRE(scratch(root, sizeof root) == 0);
	maildir_set_host("a/b:c");
	CHECK_EQ_INT(deliver(root, root, "x", name, sizeof name, 0), 0);
	CHECK(strlen(name) > strlen(want) &&
	    strcmp(name + strlen(name) - strlen(want), want) == 0);
	if (unit_cur_failures)
		printf("#   name \"%s\"\n", name);
	maildir_set_host(HOST);
	rm_tree(root);
}

/* ---- unique names and long host names ---- */

/* The other fields of a name at their longest (maildir.c) and what that
 * leaves of NAME_MAX for the host part. */
#define FIXED_MAX	61
#define HOST_PART_MAX	(NAME_MAX - FIXED_MAX)
#define HASH_LEN	17	/* '#' and 16 hex digits */

/* long_host - n octets of a valid host name: labels of 63 'a'..'z'
 * letters joined by dots, the last byte set to last (a letter). */
static char *
long_host(char *buf, size_t n, char last)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (i % 64 == 63) ? '.' : (char)('a' + i % 26);
	buf[n - 1] = last;
	buf[n] = '\0';
	return buf;
}

/* host_part - the host part of names, as maildir_set_host left it. */
static const char *
host_part(char *buf, size_t size)
{
	static const char fixed[] = "0.M000000P0Q0R00000000.";

	if (maildir_name(buf, size, 0, 0, 0, 0, 0) == -1 ||
	    strncmp(buf, fixed, sizeof fixed - 1) != 0)
		return "";
	return buf + sizeof fixed - 1;
}

/* hashed - s ends in '#' and 16 lower-case hex digits. */
static int
hashed(const char *s)
{
	size_t	n = strlen(s);

	if (n < HASH_LEN || s[n - HASH_LEN] != '#')
		return 0;
	for (s += n - HASH_LEN + 1; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

/*
 * A long hostname: names in new/ carry the whole host name while it
 * fits within NAME_MAX with every other field at its longest, and its
 * leading part and a hash beyond that; every delivery succeeds. (They
 * were built in 160 bytes from a host part cut to 123: past that, or
 * once pid and counter grew, every delivery failed, "File name too long".)
 */
static void
test_long_host_delivery(void)
{
	char	 root[512], path[1024], host[256], name[512], first[512];
	char	 newdir[1024];
	size_t	 lens[] = { 123, 150, HOST_PART_MAX, HOST_PART_MAX + 1, 253, 255 };

	REQUIRE(scratch(root, sizeof root) == 0);
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		size_t	 n = lens[i], nl;
		int	 whole = n <= HOST_PART_MAX;

		maildir_set_host(long_host(host, n, 'z'));
		snprintf(path, sizeof path, "%s/h%zu", root, n);
		for (int k = 0; k < 3; k++) {
			REQUIRE(deliver(root, path, "x\n", name, sizeof name, 0) == 0);
			nl = strlen(name);
			CHECK(nl <= NAME_MAX);
			if (whole)
				CHECK(nl > n && strcmp(name + nl - n, host) == 0 &&
				    name[nl - n - 1] == '.');
			else
				CHECK(hashed(name) && nl >= HOST_PART_MAX &&
				    memcmp(name + nl - HOST_PART_MAX, host,
				    HOST_PART_MAX - HASH_LEN) == 0 &&
				    name[nl - HOST_PART_MAX - 1] == '.');
			if (unit_cur_failures) {
				printf("#   host %zu octets: name \"%s\"\n", n, name);
				break;
			}
		}
		CHECK_EQ_INT(count(join(newdir, sizeof newdir, path, "new"),
		    first, sizeof first), 3);
	}
	maildir_set_host(HOST);
	rm_tree(root);
}

/* maildir_name: every field at its longest with the longest valid host
 * name (255 octets: four labels of 63) is NAME_MAX bytes exactly. */
static void
test_name_longest(void)
{
	char	 host[256], name[NAME_MAX + 1], small[NAME_MAX];
	const char *want = "-9223372036854775808.M999999P-2147483648"
	    "Q4294967295Rffffffff.";

	maildir_set_host(long_host(host, 255, 'z'));
	REQUIRE(maildir_name(name, sizeof name, LLONG_MIN, 999999,
	    (pid_t)INT_MIN, UINT_MAX, UINT_MAX) == 0);
	CHECK_EQ_INT(strlen(want), FIXED_MAX);
	CHECK_EQ_INT(strlen(name), NAME_MAX);
	CHECK(strncmp(name, want, strlen(want)) == 0);
	CHECK(memcmp(name + FIXED_MAX, host, HOST_PART_MAX - HASH_LEN) == 0);
	CHECK(hashed(name));
	/* The largest positive values too, and one byte short is refused. */
	REQUIRE(maildir_name(name, sizeof name, LLONG_MAX, 999999,
	    (pid_t)INT_MAX, UINT_MAX, UINT_MAX) == 0);
	CHECK(strlen(name) < NAME_MAX);
	CHECK_EQ_INT(maildir_name(small, sizeof small, LLONG_MIN, 999999,
	    (pid_t)INT_MIN, UINT_MAX, UINT_MAX), -1);
	/* Microseconds stay 6 digits. */
	maildir_set_host(HOST);
	REQUIRE(maildir_name(name, sizeof name, 1700000000, 5, 42, 7, 0xab) == 0);
	CHECK_STR(name, "1700000000.M000005P42Q7R000000ab." HOST);
}

/* The host part: whole up to HOST_PART_MAX bytes escaped; beyond, its
 * leading part (whole escapes) and a hash of the whole host name, the
 * same for the same host, different for another. */
static void
test_host_part(void)
{
	char	 host[512], a[512], b[512], buf[512];
	const char *p;
	size_t	 n;

	/* Exactly HOST_PART_MAX: whole. One more: shortened. */
	maildir_set_host(long_host(host, HOST_PART_MAX, 'q'));
	CHECK_STR(host_part(buf, sizeof buf), host);
	maildir_set_host(long_host(host, HOST_PART_MAX + 1, 'q'));
	p = host_part(buf, sizeof buf);
	CHECK_EQ_INT(strlen(p), HOST_PART_MAX);
	CHECK(hashed(p));
	CHECK(strncmp(p, host, HOST_PART_MAX - HASH_LEN) == 0);
	/* Same host, same part (a restart finds its own names again). */
	snprintf(a, sizeof a, "%s", p);
	maildir_set_host(HOST);
	maildir_set_host(host);
	CHECK_STR(host_part(buf, sizeof buf), a);
	/* Two hosts that differ in their last byte only: different parts. */
	maildir_set_host(long_host(host, 255, 'y'));
	snprintf(a, sizeof a, "%s", host_part(buf, sizeof buf));
	maildir_set_host(long_host(host, 255, 'z'));
	snprintf(b, sizeof b, "%s", host_part(buf, sizeof buf));
	CHECK(hashed(a) && hashed(b));
	CHECK(strcmp(a, b) != 0);
	CHECK(strncmp(a, b, HOST_PART_MAX - HASH_LEN) == 0);
	/* Escapes count at their escaped length and are never split:
	 * 60 '/' (240 bytes escaped) keep 44 whole "\057", then the hash. */
	memset(host, '/', 60);
	host[60] = '\0';
	maildir_set_host(host);
	p = host_part(buf, sizeof buf);
	n = strlen(p);
	CHECK(hashed(p));
	CHECK_EQ_INT(n, 44 * 4 + HASH_LEN);
	for (size_t i = 0; i + HASH_LEN < n; i += 4)
		CHECK(strncmp(p + i, "\\057", 4) == 0);
	/* ':' too; a short host with escapes stays whole. */
	maildir_set_host("[IPv6:2001:db8::1]");
	CHECK_STR(host_part(buf, sizeof buf),
	    "[IPv6\\0722001\\072db8\\072\\0721]");
	maildir_set_host(HOST);
}

/* dead_pid - a pid no process has (kill gives ESRCH), or 0. */
static long
dead_pid(void)
{
	for (long pid = 999999; pid > 1000; pid -= 7919)
		if (kill((pid_t)pid, 0) == -1 && errno == ESRCH)
			return pid;
	return 0;
}

static int
touch(const char *dir, const char *name)
{
	char	path[2048];
	int	fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1)
		return -1;
	return close(fd);
}

static int
exists(const char *dir, const char *name)
{
	char	path[2048];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* ---- Maildir++ folders ---- */

/* deliver_folder - one complete copy of text into folder of root/path. */
static int
deliver_folder(const char *root, const char *path, const char *folder,
    const char *text)
{
	struct maildir_file f;
	size_t	len = strlen(text);

	if (maildir_open(root, path, folder, &f) == -1)
		return -1;
	if (write(f.fd, text, len) != (ssize_t)len ||
	    maildir_sync(&f, 1) == -1 || maildir_link(&f, 1) == -1) {
		maildir_abort(&f);
		return -1;
	}
	maildir_finish(&f);
	return 0;
}

/* is_file - path is a regular file of size bytes (no symlink). */
static int
is_file(const char *path, off_t size)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == size;
}

/*
 * A folder's copy goes into path/.folder/new, the folder made with its
 * tmp/ new/ cur/ and an empty maildirfolder (Courier, Dovecot), the
 * mailbox too; "" is the INBOX; the directory cache tells a mailbox's
 * folders apart; a name that is not one component is refused.
 */
static void
test_folders(void)
{
	char	 root[512], path[1024], p[1400];
	struct maildir_file f;
	int	 fds0 = open_fds();

	REQUIRE(scratch(root, sizeof root) == 0);
	snprintf(path, sizeof path, "%s/example.org/alice", root);
	CHECK_EQ_INT(deliver_folder(root, path, "work", "w1\n"), 0);
	CHECK_EQ_INT(count2(path, ".work/new"), 1);
	CHECK_EQ_INT(count2(path, ".work/tmp"), 0);
	CHECK_EQ_INT(count2(path, ".work/cur"), 0);
	CHECK(is_file(join(p, sizeof p, path, ".work/maildirfolder"), 0));
	CHECK_EQ_INT(count2(path, "new"), 0);	/* the INBOX, made, empty */
	CHECK_EQ_INT(count2(path, "tmp"), 0);
	CHECK_EQ_INT(count2(path, "cur"), 0);
	CHECK(!is_file(join(p, sizeof p, path, "maildirfolder"), 0));
	/* Cached: each goes where it belongs. */
	CHECK_EQ_INT(deliver_folder(root, path, NULL, "i1\n"), 0);
	CHECK_EQ_INT(deliver_folder(root, path, "", "i2\n"), 0);
	CHECK_EQ_INT(deliver_folder(root, path, "work", "w2\n"), 0);
	CHECK_EQ_INT(deliver_folder(root, path, "lists", "l1\n"), 0);
	CHECK_EQ_INT(count2(path, "new"), 2);
	CHECK_EQ_INT(count2(path, ".work/new"), 2);
	CHECK_EQ_INT(count2(path, ".lists/new"), 1);
	/* An existing folder without maildirfolder gets one. */
	REQUIRE(unlink(join(p, sizeof p, path, ".lists/maildirfolder")) == 0);
	maildir_forget();
	CHECK_EQ_INT(deliver_folder(root, path, "lists", "l2\n"), 0);
	CHECK(is_file(join(p, sizeof p, path, ".lists/maildirfolder"), 0));
	/* Not one path component. */
	errno = 0;
	CHECK_EQ_INT(maildir_open(root, path, "a/b", &f), -1);
	CHECK_EQ_INT(errno, EINVAL);
	CHECK_EQ_INT(maildir_open(root, path, ".hidden", &f), -1);
	CHECK_EQ_INT(maildir_open(root, path, "..", &f), -1);
	CHECK_EQ_INT(count(path, NULL, 0), 5);	/* tmp new cur .work .lists */
	/* A folder that is a symlink is refused like any other. */
	REQUIRE(symlink(root, join(p, sizeof p, path, ".evil")) == 0);
	CHECK_EQ_INT(maildir_open(root, path, "evil", &f), -1);
	CHECK(!is_dir(join(p, sizeof p, root, "new")));
	maildir_forget();
	CHECK_EQ_INT(open_fds(), fds0);
	rm_tree(root);
}

/* ---- directories made for nothing are removed again ---- */

/*
 * What maildir_open made goes when the last copy using the mailbox is
 * aborted, and only then: a copy still being written there (through
 * the same cache entry, or the mailbox's INBOX while a folder copy
 * goes) keeps it. A mailbox that existed keeps everything.
 */
static void
test_unmake_shared(void)
{
	char	 root[512], path[1100], dom[1024], p[1400];
	struct maildir_file a, b;
	int	 fds0 = open_fds();

	REQUIRE(scratch(root, sizeof root) == 0);
	snprintf(dom, sizeof dom, "%s/example.org", root);
	snprintf(path, sizeof path, "%s/alice", dom);

	/* Two copies, one aborted: the other still delivers. */
	REQUIRE(maildir_open(root, path, NULL, &a) == 0);
	REQUIRE(maildir_open(root, path, NULL, &b) == 0);
	maildir_abort(&a);
	CHECK(is_dir(join(p, sizeof p, path, "new")));
	CHECK(write(b.fd, "b\n", 2) == 2);
	CHECK_EQ_INT(maildir_sync(&b, 1), 0);
	CHECK_EQ_INT(maildir_link(&b, 1), 0);
	maildir_finish(&b);
	CHECK_EQ_INT(count2(path, "new"), 1);
	rm_tree(dom);
	maildir_forget();

	/* Both aborted: the last one removes what the first made. */
	REQUIRE(maildir_open(root, path, NULL, &a) == 0);
	REQUIRE(maildir_open(root, path, NULL, &b) == 0);
	maildir_abort(&b);
	CHECK(is_dir(path));
	maildir_abort(&a);
	CHECK(!is_dir(path));
	CHECK(!is_dir(dom));
	CHECK(is_dir(root));

	/* Two new mailboxes in a new domain: the one that made the domain
	 * goes first, and the last one takes the domain with it. */
	REQUIRE(maildir_open(root, path, NULL, &a) == 0);
	snprintf(p, sizeof p, "%s/bob", dom);
	REQUIRE(maildir_open(root, p, NULL, &b) == 0);
	maildir_abort(&a);
	CHECK(!is_dir(path));
	CHECK(is_dir(p));
	maildir_abort(&b);
	CHECK(!is_dir(dom));

	/* A folder copy made the mailbox while an INBOX copy is being
	 * written there: only the folder goes. */
	REQUIRE(maildir_open(root, path, "work", &a) == 0);
	REQUIRE(maildir_open(root, path, NULL, &b) == 0);
	maildir_abort(&a);
	CHECK(!is_dir(join(p, sizeof p, path, ".work")));
	CHECK(is_dir(join(p, sizeof p, path, "new")));
	CHECK_EQ_INT(maildir_sync(&b, 1), 0);
	CHECK_EQ_INT(maildir_link(&b, 1), 0);
	maildir_finish(&b);
	CHECK_EQ_INT(count2(path, "new"), 1);

	/* The mailbox exists: an aborted folder copy takes only its
	 * folder away, an aborted INBOX copy nothing. */
	maildir_forget();
	REQUIRE(maildir_open(root, path, "work", &a) == 0);
	maildir_abort(&a);
	CHECK(!is_dir(join(p, sizeof p, path, ".work")));
	CHECK_EQ_INT(count(path, NULL, 0), 3);
	REQUIRE(maildir_open(root, path, NULL, &a) == 0);
	maildir_abort(&a);
	CHECK_EQ_INT(count(path, NULL, 0), 3);
	CHECK_EQ_INT(count2(path, "new"), 1);

	/* Only tmp/ was missing: only tmp/ goes again. */
	REQUIRE(rmdir(join(p, sizeof p, path, "tmp")) == 0);
	maildir_forget();
	REQUIRE(maildir_open(root, path, NULL, &a) == 0);
	CHECK(is_dir(p));
	maildir_abort(&a);
	CHECK(!is_dir(p));
	CHECK_EQ_INT(count2(path, "new"), 1);

	/* Mail put into a new/ it made meanwhile keeps the maildir whole. */
	rm_tree(dom);
	maildir_forget();
	REQUIRE(maildir_open(root, path, NULL, &a) == 0);
	REQUIRE(touch(join(p, sizeof p, path, "new"), "other") == 0);
	maildir_abort(&a);
	CHECK_EQ_INT(count(path, NULL, 0), 3);
	CHECK_EQ_INT(count2(path, "new"), 1);

	/* Never the root itself (a template without %). */
	maildir_forget();
	REQUIRE(maildir_open(path, path, NULL, &a) == 0);
	maildir_abort(&a);
	CHECK(is_dir(path));

	maildir_forget();
	CHECK_EQ_INT(open_fds(), fds0);
	rm_tree(root);
}

/* ---- maildir_usable ---- */

/* usable - maildir_usable's result; why and errno into *why, *err. */
static int
usable(const char *root, const char *path, const char *folder,
    const char **why, int *err)
{
	int	rc;

	*why = NULL;
	errno = 0;
	rc = maildir_usable(root, path, folder, why);
	*err = errno;
	return rc;
}

static void
test_usable(void)
{
	char	 root[512], path[1024], p[1400], out[512];
	const char *why;
	int	 err, fds0 = open_fds();

	maildir_forget();
	REQUIRE(scratch(root, sizeof root) == 0);
	REQUIRE(scratch(out, sizeof out) == 0);
	snprintf(path, sizeof path, "%s/example.org/alice", root);

	/* Missing: fine, and nothing is created by asking. */
	CHECK_EQ_INT(usable(root, path, NULL, &why, &err), 0);
	CHECK_EQ_INT(usable(root, path, "work", &why, &err), 0);
	CHECK_EQ_INT(count(root, NULL, 0), 0);
	/* Normal, uncached and cached, INBOX and folders. */
	CHECK_EQ_INT(deliver_folder(root, path, "work", "x\n"), 0);
	CHECK_EQ_INT(usable(root, path, NULL, &why, &err), 0);
	CHECK_EQ_INT(usable(root, path, "work", &why, &err), 0);
	maildir_forget();
	CHECK_EQ_INT(usable(root, path, NULL, &why, &err), 0);
	CHECK_EQ_INT(usable(root, path, "work", &why, &err), 0);
	CHECK_EQ_INT(usable(root, path, "other", &why, &err), 0);
	CHECK_EQ_INT(usable(root, path, "", &why, &err), 0);
	CHECK(!is_dir(join(p, sizeof p, path, ".other")));
	/* Not below root; a bad folder name. */
	CHECK_EQ_INT(usable(root, "/elsewhere/x", NULL, &why, &err), -1);
	CHECK_EQ_INT(err, EINVAL);
	CHECK_EQ_INT(usable(root, path, "a/b", &why, &err), -1);
	CHECK_EQ_INT(err, EINVAL);

	/* tmp/ missing: can be made. */
	REQUIRE(rmdir(join(p, sizeof p, path, "tmp")) == 0);
	CHECK_EQ_INT(usable(root, path, NULL, &why, &err), 0);
	/* tmp/ a file. */
	REQUIRE(touch(path, "tmp") == 0);
	CHECK_EQ_INT(usable(root, path, NULL, &why, &err), -1);
	CHECK_EQ_INT(err, ENOTDIR);
	CHECK_STR(why, "tmp/ is not a directory");
	CHECK_EQ_INT(usable(root, path, "work", &why, &err), -1);
	REQUIRE(unlink(p) == 0);
	REQUIRE(mkdir(p, 0700) == 0);
	/* new/ a file; new/ a symlink (to a good directory). */
	rm_tree(join(p, sizeof p, path, "new"));
	REQUIRE(touch(path, "new") == 0);
	CHECK_EQ_INT(usable(root, path, NULL, &why, &err), -1);
	CHECK_EQ_INT(err, ENOTDIR);
	CHECK_STR(why, "new/ is not a directory");
	REQUIRE(unlink(p) == 0);
	REQUIRE(symlink(out, p) == 0);
	CHECK_EQ_INT(usable(root, path, NULL, &why, &err), -1);
	CHECK_EQ_INT(err, ELOOP);
	CHECK_STR(why, "new/ is a symlink");
	REQUIRE(unlink(p) == 0);
	REQUIRE(mkdir(p, 0700) == 0);
	CHECK_EQ_INT(usable(root, path, NULL, &why, &err), 0);
	/* A folder's new/ a file. */
	rm_tree(join(p, sizeof p, path, ".work/new"));
	REQUIRE(touch(join(p, sizeof p, path, ".work"), "new") == 0);
	CHECK_EQ_INT(usable(root, path, "work", &why, &err), -1);
	CHECK_STR(why, "new/ is not a directory");
	CHECK_EQ_INT(usable(root, path, NULL, &why, &err), 0);
	/* The folder a symlink, a file. */
	rm_tree(join(p, sizeof p, path, ".work"));
	REQUIRE(symlink(out, p) == 0);
	CHECK_EQ_INT(usable(root, path, "work", &why, &err), -1);
	CHECK_EQ_INT(err, ELOOP);
	CHECK_STR(why, "a symlink in the path");
	REQUIRE(unlink(p) == 0);
	REQUIRE(touch(path, ".work") == 0);
	CHECK_EQ_INT(usable(root, path, "work", &why, &err), -1);
	CHECK_EQ_INT(err, ENOTDIR);
	REQUIRE(unlink(p) == 0);

	/* The mailbox a symlink; the domain a symlink; a file. */
	rm_tree(path);
	REQUIRE(symlink(out, path) == 0);
	CHECK_EQ_INT(usable(root, path, NULL, &why, &err), -1);
	CHECK_EQ_INT(err, ELOOP);
	CHECK_STR(why, "a symlink in the path");
	REQUIRE(unlink(path) == 0);
	rm_tree(join(p, sizeof p, root, "example.org"));
	REQUIRE(symlink(out, p) == 0);
	CHECK_EQ_INT(usable(root, path, NULL, &why, &err), -1);
	CHECK_STR(why, "a symlink in the path");
	REQUIRE(unlink(p) == 0);
	REQUIRE(touch(root, "example.org") == 0);
	CHECK_EQ_INT(usable(root, path, NULL, &why, &err), -1);
	CHECK_EQ_INT(err, ENOTDIR);
	CHECK_STR(why, "a path component is not a directory");
	REQUIRE(unlink(p) == 0);
	/* No spool root at all. */
	join(p, sizeof p, root, "none");
	CHECK_EQ_INT(usable(p, p, NULL, &why, &err), -1);
	CHECK_EQ_INT(err, ENOENT);

	maildir_forget();
	CHECK_EQ_INT(open_fds(), fds0);
	CHECK_EQ_INT(count(out, NULL, 0), 0);
	rm_tree(root);
	rm_tree(out);
}

/*
 * No permission: a directory we may not write where something must be
 * made, or a tmp/ or new/ we may not write. Root may write anywhere, so
 * as root the checks run in a child that has become nobody (65534);
 * maildir_usable asks with the effective ids (AT_EACCESS).
 */
static int
usable_perm_checks(const char *root)
{
	char	 path[1024];
	const char *why;
	int	 err, bad = 0;

	snprintf(path, sizeof path, "%s/ro/alice", root);
	bad |= usable(root, path, NULL, &why, &err) != -1 || err != EACCES ||
	    why == NULL || strcmp(why, "no permission") != 0;
	snprintf(path, sizeof path, "%s/box", root);
	bad |= (usable(root, path, NULL, &why, &err) != -1 || err != EACCES ||
	    why == NULL || strcmp(why, "no permission in tmp/") != 0) << 1;
	bad |= (usable(root, path, "work", &why, &err) != -1) << 2;
	snprintf(path, sizeof path, "%s/ok", root);
	bad |= (usable(root, path, NULL, &why, &err) != 0) << 3;
	return bad;
}

static void
test_usable_permission(void)
{
	char	 root[512], p[1400];
	int	 status;
	pid_t	 pid;

	REQUIRE(scratch(root, sizeof root) == 0);
	REQUIRE(chmod(root, 0755) == 0);
	REQUIRE(mkdir(join(p, sizeof p, root, "ro"), 0555) == 0);
	REQUIRE(mkdir(join(p, sizeof p, root, "box"), 0755) == 0);
	REQUIRE(mkdir(join(p, sizeof p, root, "box/tmp"), 0555) == 0);
	REQUIRE(mkdir(join(p, sizeof p, root, "box/new"), 0755) == 0);
	REQUIRE(mkdir(join(p, sizeof p, root, "box/cur"), 0755) == 0);
	REQUIRE(mkdir(join(p, sizeof p, root, "ok"), 0777) == 0);
	REQUIRE(chmod(p, 0777) == 0);	/* whatever the umask */
	if (geteuid() != 0) {
		CHECK_EQ_INT(usable_perm_checks(root), 0);
	} else {
		/* Root is let through mode bits: ask as nobody instead. */
		REQUIRE(access("/tmp", X_OK) == 0);
		pid = fork();
		REQUIRE(pid != -1);
		if (pid == 0) {
			if (setgroups(0, NULL) == -1 ||
			    setresgid(65534, 65534, 65534) == -1 ||
			    setresuid(65534, 65534, 65534) == -1)
				_exit(100);
			_exit(usable_perm_checks(root));
		}
		REQUIRE(waitpid(pid, &status, 0) == pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 100)
			printf("# skip: cannot become nobody to check permissions\n");
		else if (!CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0))
			printf("# as nobody: failed checks 0x%x (status %d)\n",
			    WEXITSTATUS(status), status);
	}
	(void)chmod(join(p, sizeof p, root, "ro"), 0755);
	(void)chmod(join(p, sizeof p, root, "box/tmp"), 0755);
	rm_tree(root);
}

static void
test_clean_stale(void)
{
	char	 root[512], tmp[1024], deep[1024], new[1024];
	char	 dead[256], mine[256], other[256], deadq[256], odd[256];
	long	 pid = dead_pid();

	REQUIRE(pid != 0);
	REQUIRE(scratch(root, sizeof root) == 0);
	maildir_set_host(HOST);
	/* a real maildir for the layout */
	snprintf(tmp, sizeof tmp, "%s/example.org/alice", root);
	REQUIRE(deliver(root, tmp, "x", NULL, 0, 0) == 0);
	snprintf(tmp, sizeof tmp, "%s/example.org/alice/tmp", root);
	snprintf(new, sizeof new, "%s/example.org/alice/new", root);

	snprintf(dead, sizeof dead, "1700000000.M000001P%ldQ1R0badf00d." HOST, pid);
	snprintf(mine, sizeof mine, "1700000000.M000002P%ldQ2R0badf00d." HOST,
	    (long)getpid());
	snprintf(other, sizeof other, "1700000000.M000003P%ldQ3R0badf00d.other.host", pid);
	snprintf(deadq, sizeof deadq, "1700000000.M000004P%ld.R0badf00d." HOST, pid);
	snprintf(odd, sizeof odd, ".1700000000.M000005P%ldQ5R0badf00d." HOST, pid);
	REQUIRE(touch(tmp, dead) == 0);
	REQUIRE(touch(tmp, mine) == 0);
	REQUIRE(touch(tmp, other) == 0);
	REQUIRE(touch(tmp, deadq) == 0);
	REQUIRE(touch(tmp, odd) == 0);
	REQUIRE(touch(tmp, "notes.txt") == 0);
	REQUIRE(touch(tmp, "1700000000.M1P0Q1R0." HOST) == 0);
	REQUIRE(touch(new, dead) == 0);		/* new/ is never swept */
	/* Deeper: a tmp/ a few levels down is swept too. */
	snprintf(deep, sizeof deep, "%s/a/b/c/d/tmp", root);
	{
		char p[1024];
		const char *parts[] = { "a", "a/b", "a/b/c", "a/b/c/d", "a/b/c/d/tmp" };
		for (size_t i = 0; i < 5; i++) {
			snprintf(p, sizeof p, "%s/%s", root, parts[i]);
			REQUIRE(mkdir(p, 0700) == 0);
		}
	}
	REQUIRE(touch(deep, dead) == 0);

	CHECK_EQ_INT(maildir_clean_stale(root), 2);
	CHECK(!exists(tmp, dead));
	CHECK(!exists(deep, dead));
	CHECK(exists(tmp, mine));
	CHECK(exists(tmp, other));
	CHECK(exists(tmp, deadq));
	CHECK(exists(tmp, odd));
	CHECK(exists(tmp, "notes.txt"));
	CHECK(exists(tmp, "1700000000.M1P0Q1R0." HOST));
	CHECK(exists(new, dead));
	/* Nothing more the second time; a missing root is 0. */
	CHECK_EQ_INT(maildir_clean_stale(root), 0);
	CHECK_EQ_INT(maildir_clean_stale("/nonexistent/spool"), 0);
	rm_tree(root);
}

/* The sweep knows its own names under a shortened host part, and not
 * those of a host that shares its leading part. */
static void
test_clean_stale_long_host(void)
{
	char	 root[512], path[1024], tmp[1100], host[256];
	char	 dead[NAME_MAX + 1], other[NAME_MAX + 1];
	long	 pid = dead_pid();

	REQUIRE(pid != 0);
	REQUIRE(scratch(root, sizeof root) == 0);
	snprintf(path, sizeof path, "%s/example.org/alice", root);
	REQUIRE(deliver(root, path, "x", NULL, 0, 0) == 0);
	snprintf(tmp, sizeof tmp, "%s/tmp", path);
	maildir_set_host(long_host(host, 255, 'y'));
	REQUIRE(maildir_name(other, sizeof other, 1700000000, 1, (pid_t)pid, 1,
	    0xbadf00d) == 0);
	maildir_set_host(long_host(host, 255, 'z'));
	REQUIRE(maildir_name(dead, sizeof dead, 1700000000, 2, (pid_t)pid, 2,
	    0xbadf00d) == 0);
	REQUIRE(touch(tmp, dead) == 0);
	REQUIRE(touch(tmp, other) == 0);
	CHECK_EQ_INT(maildir_clean_stale(root), 1);
	CHECK(!exists(tmp, dead));
	CHECK(exists(tmp, other));
	maildir_set_host(HOST);
	rm_tree(root);
}

/* The sweep does not follow a symlinked directory out of the root. */
static void
test_clean_stale_symlink(void)
{
	char	 root[512], out[512], tmp[1024], link[1024], dead[256];
	long	 pid = dead_pid();

	REQUIRE(pid != 0);
	REQUIRE(scratch(root, sizeof root) == 0);
	REQUIRE(scratch(out, sizeof out) == 0);
	maildir_set_host(HOST);
	snprintf(tmp, sizeof tmp, "%s/tmp", out);
	REQUIRE(mkdir(tmp, 0700) == 0);
	snprintf(dead, sizeof dead, "1700000000.M000001P%ldQ1R0badf00d." HOST, pid);
	REQUIRE(touch(tmp, dead) == 0);
	snprintf(link, sizeof link, "%s/u", root);
	REQUIRE(symlink(out, link) == 0);
	snprintf(link, sizeof link, "%s/tmp", root);
	REQUIRE(symlink(tmp, link) == 0);
	CHECK_EQ_INT(maildir_clean_stale(root), 0);
	CHECK(exists(tmp, dead));
	rm_tree(root);
	rm_tree(out);
}

int
main(void)
{
	maildir_set_host(HOST);
	RUN(test_local_ok);
	RUN(test_expand);
	RUN(test_expand_unsafe);
	RUN(test_expand_limits);
	RUN(test_expand_long_domain);
	RUN(test_root);
	RUN(test_deliver);
	RUN(test_open_refusals);
	RUN(test_open_prefix_sibling);
	RUN(test_symlinks);
	RUN(test_cache);
	RUN(test_removed_while_cached);
	RUN(test_expire);
	RUN(test_abort);
	RUN(test_folders);
	RUN(test_unmake_shared);
	RUN(test_usable);
	RUN(test_usable_permission);
	RUN(test_unnamed);
	RUN(test_link_fallback);
	RUN(test_no_replace);
	RUN(test_set_host);
	RUN(test_long_host_delivery);
	RUN(test_name_longest);
	RUN(test_host_part);
	RUN(test_clean_stale);
	RUN(test_clean_stale_long_host);
	RUN(test_clean_stale_symlink);
	RUN(test_proc_link_refused);	/* last: it turns unnamed files off */
	return unit_done();
}
