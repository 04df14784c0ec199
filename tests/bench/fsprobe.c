/*
 * fsprobe.c - the disk's floor for durable maildir-style file creation.
 *
 * THREADS threads, for SECS seconds or until FILES files in all, each
 * repeat in DIR:
 *   open(tmp/NAME, O_CREAT|O_EXCL|O_WRONLY), write SIZE bytes (4096),
 *   fsync, close, rename(tmp/NAME, new/NAME), fsync(new/)
 * With --no-fsync both fsyncs are skipped (the plain create+write+rename
 * floor). With --link, link(tmp/NAME, new/NAME) + fsync(new/) +
 * unlink(tmp/NAME) replaces the rename (smtpd's fallback where a rename
 * cannot be told to refuse replacing). With --unnamed, the file is
 * created with no name in new/ (O_TMPFILE), written, fsynced, given
 * NAME there by linkat(), fsynced again (that makes the name durable:
 * see src/maildir.c) and closed: what smtpd does where the filesystem
 * allows it.
 * The files are removed afterwards (not timed) unless --keep.
 *
 * Prints one line:
 *   threads=T files=N secs=S rate=R per_file_ms=M p99_ms=P
 *   cpu_per_10k=C fsync=yes|no
 * rate = files/secs; per_file_ms = the mean time one thread spent on one
 * file (secs*threads/files); p99_ms = the 99th percentile of single files;
 * cpu_per_10k = CPU seconds (user + system) this process spent per
 * 10,000 files: on a virtual machine the fsyncs themselves cost CPU.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct {
	const char	*dir;
	int		 threads;
	double		 secs;
	long		 files;		/* 0 = run for secs */
	size_t		 size;
	int		 do_fsync;
	int		 link;
	int		 unnamed;
	int		 keep;
} o = { .dir = NULL, .threads = 1, .secs = 3, .files = 0, .size = 4096,
	.do_fsync = 1, .link = 0, .unnamed = 0, .keep = 0 };

static atomic_long	claimed, failures;
static double		deadline;
static char		payload[1 << 16];

struct worker {
	int		 id;
	pthread_t	 th;
	long		 done;
	size_t		 nlat, caplat;
	double		*lat;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
more(void)
{
	if (o.files > 0)
		return atomic_fetch_add(&claimed, 1) < o.files;
	return now() < deadline;
}

static void
fail(const char *what, const char *name)
{
	if (atomic_fetch_add(&failures, 1) < 5)
		fprintf(stderr, "fsprobe: %s %s: %s\n", what, name, strerror(errno));
}

static int
write_all(int fd, size_t len)
{
	while (len > 0) {
		size_t	n = len < sizeof payload ? len : sizeof payload;
		ssize_t	w = write(fd, payload, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		len -= (size_t)w;
	}
	return 0;
}

/* fill - write the file's bytes to fd and fsync them (unless --no-fsync);
 * -1 with fd closed if the write fails. */
static int
fill(int fd, const char *name)
{
	if (write_all(fd, o.size) == -1) {
		fail("write", name);
		close(fd);
		return -1;
	}
	if (o.do_fsync && fsync(fd) == -1)
		fail("fsync", name);
	return 0;
}

/* create_named - one file through tmp/, renamed (or linked) into new/. */
static int
create_named(int newfd, const char *name)
{
	char	tmp[4200], new[4200];
	int	fd;

	snprintf(tmp, sizeof tmp, "%s/tmp/%s", o.dir, name);
	snprintf(new, sizeof new, "%s/new/%s", o.dir, name);
	if ((fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600)) == -1) {
		fail("open", tmp);
		return -1;
	}
	if (fill(fd, tmp) == -1)
		return -1;
	if (close(fd) == -1)
		fail("close", tmp);
	if (o.link) {
		if (link(tmp, new) == -1) {
			fail("link", new);
			return -1;
		}
	} else if (rename(tmp, new) == -1) {
		fail("rename", new);
		return -1;
	}
	if (o.do_fsync && fsync(newfd) == -1)
		fail("fsync", "new/");
	if (o.link && unlink(tmp) == -1)
		fail("unlink", tmp);
	return 0;
}

/* create_unnamed - one file the --unnamed way, named name in new/. */
static int
create_unnamed(int newfd, const char *name)
{
	char	proc[64];
	int	fd;

	if ((fd = openat(newfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600)) == -1) {
		fail("open O_TMPFILE in", "new/");
		return -1;
	}
	if (fill(fd, name) == -1)
		return -1;
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, newfd, name, AT_SYMLINK_FOLLOW) == -1) {
		fail("linkat", name);
		close(fd);
		return -1;
	}
	if (o.do_fsync && fsync(fd) == -1)
		fail("fsync after link", name);
	if (close(fd) == -1)
		fail("close", name);
	return 0;
}

static void *
worker(void *arg)
{
	struct worker	*w = arg;
	char		 path[4200], name[64];
	int		 newfd;

	snprintf(path, sizeof path, "%s/new", o.dir);
	if ((newfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		fail("open", path);
		return NULL;
	}
	while (more()) {
		double t0 = now();

		snprintf(name, sizeof name, "%ld.P%dT%dN%ld.fsprobe", (long)time(NULL),
		    (int)getpid(), w->id, w->done);
		if ((o.unnamed ? create_unnamed(newfd, name) :
		    create_named(newfd, name)) == -1)
			break;
		w->done++;
		if (w->nlat == w->caplat) {
			size_t	 nc = w->caplat ? w->caplat * 2 : 4096;
			double	*nl = realloc(w->lat, nc * sizeof *nl);
			if (nl == NULL)
				continue;
			w->lat = nl;
			w->caplat = nc;
		}
		w->lat[w->nlat++] = now() - t0;
	}
	close(newfd);
	return NULL;
}

/* cleanup - remove this run's files from new/ and tmp/ (not timed). */
static void
cleanup(void)
{
	static const char *const sub[] = { "new", "tmp" };
	char		 path[4200], tag[64];
	struct dirent	*de;
	DIR		*d;
	int		 dfd;

	if (o.keep)
		return;
	snprintf(tag, sizeof tag, ".P%d", (int)getpid());
	for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", o.dir, sub[i]);
		if ((d = opendir(path)) == NULL)
			continue;
		dfd = dirfd(d);
		while ((de = readdir(d)) != NULL) {
			size_t n = strlen(de->d_name);
			if (n > 8 && strcmp(de->d_name + n - 8, ".fsprobe") == 0 &&
			    strstr(de->d_name, tag) != NULL)
				(void)unlinkat(dfd, de->d_name, 0);
		}
		closedir(d);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: fsprobe -D DIR [options]\n"
	    "  -D, --dir DIR      where tmp/ and new/ are created (required)\n"
	    "  -t, --threads N    threads (1)\n"
	    "  -s, --secs S       run for S seconds (3)\n"
	    "  -n, --files K      or create K files in all\n"
	    "  -b, --size BYTES   bytes per file (4096)\n"
	    "  -F, --no-fsync     skip the file and directory fsyncs\n"
	    "  -l, --link         link+fsync+unlink instead of rename (smtpd on NFS)\n"
	    "  -u, --unnamed      unnamed file in new/, then linkat (smtpd elsewhere)\n"
	    "  -k, --keep         leave the files behind\n");
	exit(status);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'D' },
		{ "threads", required_argument, NULL, 't' },
		{ "secs", required_argument, NULL, 's' },
		{ "files", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 'b' },
		{ "no-fsync", no_argument, NULL, 'F' },
		{ "link", no_argument, NULL, 'l' },
		{ "unnamed", no_argument, NULL, 'u' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct worker	*ws;
	char		 path[4200];
	struct rusage	 ru;
	double		 t0, secs, cpu, *all;
	size_t		 nall = 0, k;
	long		 files = 0;
	int		 ch, t;

	while ((ch = getopt_long(argc, argv, "D:t:s:n:b:Flukh", lo, NULL)) != -1) {
		switch (ch) {
		case 'D': o.dir = optarg; break;
		case 't': o.threads = atoi(optarg); break;
		case 's': o.secs = atof(optarg); break;
		case 'n': o.files = atol(optarg); break;
		case 'b': o.size = (size_t)atol(optarg); break;
		case 'F': o.do_fsync = 0; break;
		case 'l': o.link = 1; break;
		case 'u': o.unnamed = 1; break;
		case 'k': o.keep = 1; break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (o.dir == NULL || optind != argc || o.threads < 1 || o.threads > 10000 ||
	    (o.files <= 0 && o.secs <= 0) || strlen(o.dir) > 4000)
		usage(2);
	memset(payload, 'x', sizeof payload);
	for (k = 0; k < sizeof payload; k += 64)
		payload[k] = '\n';
	snprintf(path, sizeof path, "%s/tmp", o.dir);
	if (mkdir(o.dir, 0700) == -1 && errno != EEXIST) {
		fprintf(stderr, "fsprobe: mkdir %s: %s\n", o.dir, strerror(errno));
		return 1;
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		fprintf(stderr, "fsprobe: mkdir %s: %s\n", path, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof path, "%s/new", o.dir);
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		fprintf(stderr, "fsprobe: mkdir %s: %s\n", path, strerror(errno));
		return 1;
	}
	if ((ws = calloc((size_t)o.threads, sizeof *ws)) == NULL) {
		perror("fsprobe: calloc");
		return 1;
	}
	t0 = now();
	deadline = t0 + o.secs;
	for (t = 0; t < o.threads; t++) {
		int err;

		ws[t].id = t;
		if ((err = pthread_create(&ws[t].th, NULL, worker, &ws[t])) != 0) {
			fprintf(stderr, "fsprobe: pthread_create: %s\n", strerror(err));
			return 1;
		}
	}
	for (t = 0; t < o.threads; t++) {
		pthread_join(ws[t].th, NULL);
		files += ws[t].done;
		nall += ws[t].nlat;
	}
	secs = now() - t0;
	getrusage(RUSAGE_SELF, &ru);
	cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	cleanup();

	if ((all = malloc((nall + 1) * sizeof *all)) == NULL) {
		perror("fsprobe: malloc");
		return 1;
	}
	nall = 0;
	for (t = 0; t < o.threads; t++) {
		memcpy(all + nall, ws[t].lat, ws[t].nlat * sizeof *all);
		nall += ws[t].nlat;
	}
	qsort(all, nall, sizeof *all, cmp_double);
	printf("threads=%d files=%ld secs=%.2f rate=%.1f per_file_ms=%.3f p99_ms=%.3f "
	    "cpu_per_10k=%.2f fsync=%s\n",
	    o.threads, files, secs, secs > 0 ? (double)files / secs : 0,
	    files > 0 ? secs * o.threads / (double)files * 1e3 : 0,
	    nall ? all[(size_t)(0.99 * (double)(nall - 1) + 0.5)] * 1e3 : 0,
	    files > 0 ? cpu * 1e4 / (double)files : 0, o.do_fsync ? "yes" : "no");
	fflush(stdout);
	return atomic_load(&failures) > 0 || files == 0 ? 1 : 0;
}
