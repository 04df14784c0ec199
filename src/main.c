/*
 * main.c - start-up and signals. The only file with main().
 * Owns: the command line, loading the config, binding, creating the
 * spool root, dropping privileges, detaching, the pid file, and the
 * signal loop (TERM/INT stop, HUP reloads, USR1 logs a status line),
 * which also keeps house: idle mailboxes closed, freed memory returned.
 * Not here: accepting (listener.c), the protocol (session.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "listener.h"
#include "log.h"
#include "maildir.h"
#include "session.h"
#include "smtpd.h"

#define TRIM_KEEP	(512 * 1024)
#define EXPIRE_SECS	5	/* idle mailboxes' directories are closed */
#define TRIM_SECS	30	/* per this much time without signals, freed
				 * memory goes back */

#ifndef SMTPD_CONF
#define SMTPD_CONF	"/etc/smtpd.conf"
#endif
#define SHUTDOWN_GRACE	30	/* seconds for transactions in flight */

/* The directory smtpd started in: relative paths are taken from it,
 * also at a reload after detaching (when the process runs from "/"). */
static char	startdir[PATH_MAX];
static char	reloadpath[PATH_MAX];

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: smtpd [-dhnvV] [-f config] [-p pidfile]\n"
	    "  -d          stay in the foreground, log to stderr\n"
	    "  -f config   configuration file (default %s)\n"
	    "  -h          this help\n"
	    "  -n          check the configuration and exit\n"
	    "  -p pidfile  write the process id to pidfile\n"
	    "  -v          verbose logging (every command and reply)\n"
	    "  -V          print the version and exit\n", SMTPD_CONF);
}

/* absolute - path as an absolute path into buf, relative ones taken
 * from the start-up directory; 0, or -1 if it does not fit. */
static int
absolute(const char *path, char *buf, size_t size)
{
	int	n;

	if (path[0] == '/')
		return buf_copy(buf, size, path);
	n = snprintf(buf, size, "%s/%s", startdir, path);
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* absolute_template - a relative maildir template is taken from the
 * directory smtpd was started in, since a daemon runs from "/". */
static void
absolute_template(struct config *cf)
{
	char	abs[sizeof cf->maildir];

	if (absolute(cf->maildir, abs, sizeof abs) == -1)
		fatalx("%s: maildir path too long", cf->file);
	buf_copy(cf->maildir, sizeof cf->maildir, abs);
}

/* finish_config - what the parser leaves to the running system. */
static void
finish_config(struct config *cf)
{
	if (cf->hostname[0] == '\0') {
		/* The host's own name; no DNS look-up. */
		if (gethostname(cf->hostname, sizeof cf->hostname) == -1 ||
		    cf->hostname[0] == '\0')
			buf_copy(cf->hostname, sizeof cf->hostname, "localhost");
		cf->hostname[sizeof cf->hostname - 1] = '\0';
	}
	absolute_template(cf);
	if (maildir_root(cf->maildir, cf->spool_root, sizeof cf->spool_root) == -1)
		fatalx("%s: maildir path too long", cf->file);
}

/* mkdirs - create path and its parents (0700 for new ones). */
static int
mkdirs(const char *path)
{
	char	tmp[PATH_MAX];
	size_t	i;

	if (buf_copy(tmp, sizeof tmp, path) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (i = 1; tmp[i]; i++) {
		if (tmp[i] != '/')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
			return -1;
		tmp[i] = '/';
	}
	if (mkdir(tmp, 0700) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

/* prepare_spool - create the spool root, owned by the delivery user. */
static void
prepare_spool(const struct config *cf, const struct passwd *pw)
{
	char	root[PATH_MAX];
	struct stat st;

	if (maildir_root(cf->maildir, root, sizeof root) == -1)
		fatalx("maildir %s: path too long", cf->maildir);
	if (mkdirs(root) == -1)
		fatal("cannot create spool %s", root);
	if (pw != NULL && stat(root, &st) == 0 && st.st_uid == 0 &&
	    chown(root, pw->pw_uid, pw->pw_gid) == -1)
		fatal("chown %s", root);
}

/* drop_privileges - become user for good, before any client thread. */
static void
drop_privileges(const struct passwd *pw)
{
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("cannot drop privileges to %s", pw->pw_name);
	if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid ||
	    getgid() != pw->pw_gid || getegid() != pw->pw_gid ||
	    setuid(0) != -1)
		fatalx("privileges not dropped to %s", pw->pw_name);
}

/*
 * detach - become a daemon. The first process waits on a pipe until the
 * daemon says it is ready (pid file written, privileges dropped), so
 * its exit status tells a supervisor whether the start succeeded.
 * Returns the pipe's write end, for detach_done().
 */
static int
detach(void)
{
	pid_t	pid;
	int	fd, ready[2];
	char	c;

	if (pipe(ready) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0) {
		ssize_t n;
		close(ready[1]);
		c = 0;
		do
			n = read(ready[0], &c, 1);
		while (n == -1 && errno == EINTR);
		_exit(n == 1 && c == 'y' ? 0 : 1);
	}
	close(ready[0]);
	if (setsid() == -1)
		fatal("setsid");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0)
		_exit(0);
	if (chdir("/") == -1)
		fatal("chdir /");
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		/* stderr stays until detach_done(): start-up errors still show. */
		if (fd > STDERR_FILENO)
			close(fd);
	}
	fcntl(ready[1], F_SETFD, FD_CLOEXEC);
	return ready[1];
}

/* detach_done - tell the waiting parent that start-up succeeded. */
static void
detach_done(int fd)
{
	int	null;

	if (fd == -1)
		return;
	if ((null = open("/dev/null", O_RDWR)) != -1) {
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	(void)!write(fd, "y", 1);
	close(fd);
}

static void
write_pidfile(const char *path)
{
	FILE	*fp;

	if ((fp = fopen(path, "w")) == NULL)
		fatal("pid file %s", path);
	fprintf(fp, "%ld\n", (long)getpid());
	if (fclose(fp) == EOF)
		fatal("pid file %s", path);
}

/* raise_nofile - one descriptor per client: take the hard limit. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* reload - SIGHUP: a new config for new sessions, or keep the old one. */
static void
reload(const char *path)
{
	const struct config *old = listener_current();
	struct config *cf;
	char	*msg = NULL;
	size_t	 msglen = 0;
	FILE	*err = open_memstream(&msg, &msglen);

	cf = config_load(path, err ? err : stderr);
	if (err != NULL)
		fclose(err);
	if (cf == NULL) {
		char *line, *save = NULL;
		for (line = strtok_r(msg, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			log_warnx("reload: %s", line);
		log_warnx("reload failed: keeping the configuration in force");
		free(msg);
		return;
	}
	free(msg);
	finish_config(cf);
	{
		char root[PATH_MAX];
		if (maildir_root(cf->maildir, root, sizeof root) == 0 && mkdirs(root) == -1)
			log_warn("reload: cannot create spool %s", root);
	}
	if (cf->nlisten != old->nlisten ||
	    memcmp(cf->listen, old->listen, sizeof cf->listen[0] * (size_t)cf->nlisten) != 0)
		log_warnx("reload: listen changes take effect at restart");
	if (strcmp(cf->user, old->user) != 0)
		log_warnx("reload: user changes take effect at restart");
	if (strcmp(cf->hostname, old->hostname) != 0)
		log_warnx("reload: the hostname in maildir file names changes at restart");
	listener_reload(cf);
	log_info("reloaded %s", path);
}

int
main(int argc, char *argv[])
{
	const char	*conffile = SMTPD_CONF, *pidfile = NULL;
	struct config	*cf;
	struct passwd	*pw = NULL;
	sigset_t	 sigs;
	char		 err[512], where[1024];
	int		 ch, foreground = 0, checkonly = 0, verbose = 0, sig, left;
	int		 readyfd = -1;

	while ((ch = getopt(argc, argv, "df:hnp:vV")) != -1) {
		switch (ch) {
		case 'd': foreground = 1; break;
		case 'f': conffile = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'n': checkonly = 1; break;
		case 'p': pidfile = optarg; break;
		case 'v': verbose = 1; break;
		case 'V': printf("smtpd %s\n", SMTPD_VERSION); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	log_init(1, verbose);
#ifdef __GLIBC__
	/* Each message borrows two 64 KiB buffers; giving the memory back
	 * to the kernel every time costs page faults and a TLB shootdown
	 * on every CPU. Keep up to TRIM_KEEP free per malloc arena. */
	mallopt(M_TRIM_THRESHOLD, TRIM_KEEP);
#endif
	if (getcwd(startdir, sizeof startdir) == NULL)
		fatal("getcwd");
	/* Reloads and the pid file's removal happen after detaching. */
	if (absolute(conffile, reloadpath, sizeof reloadpath) == -1)
		fatalx("%s: path too long", conffile);
	if (pidfile != NULL) {
		static char abspid[PATH_MAX];
		if (absolute(pidfile, abspid, sizeof abspid) == -1)
			fatalx("%s: path too long", pidfile);
		pidfile = abspid;
	}
	if ((cf = config_load(conffile, stderr)) == NULL)
		return 1;
	if (checkonly) {
		printf("%s: configuration OK\n", conffile);
		config_free(cf);
		return 0;
	}
	finish_config(cf);
	tzset();
	umask(077);
	if (cf->user[0] != '\0') {
		pw = getpwnam(cf->user);
		if (geteuid() != 0) {
			/* Started as that user already (a systemd unit): fine. */
			if (pw == NULL || pw->pw_uid != geteuid())
				log_warnx("user %s: not started as root, running as uid %ld",
				    cf->user, (long)geteuid());
			pw = NULL;
		} else if (pw == NULL)
			fatalx("user %s: no such user (create it: useradd --system %s)",
			    cf->user, cf->user);
	} else if (geteuid() == 0)
		log_warnx("WARNING: running as root: set \"user\" in %s", conffile);
	raise_nofile();
	if (listener_bind(cf, err, sizeof err) == -1)
		fatalx("%s", err);
	prepare_spool(cf, pw);
	maildir_set_host(cf->hostname);
	session_id_init();

	listener_describe(where, sizeof where);
	log_info("smtpd %s listening on %s", SMTPD_VERSION, where);
	log_info("mail goes to %s", cf->maildir);
	if (!foreground)
		readyfd = detach();
	/* Written while still privileged, so it may live in /run. */
	if (pidfile != NULL)
		write_pidfile(pidfile);
	if (pw != NULL)
		drop_privileges(pw);
	if (!foreground) {
		detach_done(readyfd);
		log_init(0, verbose);
		log_info("smtpd %s started, listening on %s, mail goes to %s",
		    SMTPD_VERSION, where, cf->maildir);
	}
	{
		char root[PATH_MAX];
		int n;
		if (maildir_root(cf->maildir, root, sizeof root) == 0 &&
		    (n = maildir_clean_stale(root)) > 0)
			log_info("removed %d stale file%s from tmp/", n, n == 1 ? "" : "s");
	}

	/* Signals reach this thread only, through sigwait. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	listener_start(cf);

	for (;;) {
		struct timespec tick = { EXPIRE_SECS, 0 };

		sig = sigtimedwait(&sigs, NULL, &tick);
		maildir_expire();
		if (sig == -1) {
#ifdef __GLIBC__
			/* Idle client threads pin freed memory in their
			 * caches; every TRIM_SECS of ticks without a
			 * signal, give it back. */
			static unsigned quiet;
			if (errno == EAGAIN && ++quiet % (TRIM_SECS / EXPIRE_SECS) == 0)
				malloc_trim(0);
#endif
			continue;
		}
		if (sig == SIGHUP)
			reload(reloadpath);
		else if (sig == SIGUSR1)
			listener_status();
		else
			break;
	}
	log_info("stopping on signal %d", sig);
	left = listener_stop(SHUTDOWN_GRACE);
	if (left > 0)
		log_warnx("%d session%s still running after %ds; exiting", left,
		    left == 1 ? "" : "s", SHUTDOWN_GRACE);
	if (pidfile != NULL && unlink(pidfile) == -1)
		log_warn("cannot remove pid file %s", pidfile);
	log_info("stopped");
	return 0;
}
