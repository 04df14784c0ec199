/*
 * pidfile.c - the -p pid file.
 * Owns: writing it, and removing it at exit. The daemon runs as an
 * unprivileged user, but the pid file lives where root put it (/run is
 * writable by root only), so the user cannot unlink it. Before dropping
 * privileges the daemon forks a remover: a root process that does
 * nothing but wait for the end of a pipe whose write end only the daemon
 * holds. The end comes when the daemon exits, however it exits (also
 * SIGKILL or a crash); the remover then unlinks the file if it still
 * names the daemon, and exits. At a clean stop the daemon closes its end
 * itself and waits for the remover, so the file is gone before the
 * daemon's pid is.
 * Not here: when the file is written (main.c), the privileges.
 * Threads: main thread only, before the first thread is started (the
 * fork) and after the last one has stopped (the removal).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "log.h"
#include "pidfile.h"

static pid_t	remover = -1;	/* the remover's pid, or -1: none */
static int	remover_fd = -1;	/* our end of its pipe */

static void	close_all_but(int);
static pid_t	pid_in(const char *);
static void	remover_main(const char *, pid_t, int) __attribute__((noreturn));

int
pidfile_write(const char *path)
{
	char	line[32];
	int	fd, n, saved;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0644)) == -1)
		return -1;
	n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
	/* Readable by all (status queries), whatever the umask. */
	if (fchmod(fd, 0644) == -1 || n < 0 || (size_t)n >= sizeof line ||
	    write(fd, line, (size_t)n) != n) {
		saved = errno == 0 ? EIO : errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

/* close_all_but - close every descriptor except keep; 0, 1 and 2 become
 * /dev/null. */
static void
close_all_but(int keep)
{
	int	fd, null, max;

	if ((null = open("/dev/null", O_RDWR)) != -1) {
		for (fd = 0; fd <= 2; fd++)
			if (fd != null)
				dup2(null, fd);
		if (null > 2 && null != keep)
			close(null);
	}
	if ((keep <= 3 || close_range(3, (unsigned)keep - 1, 0) == 0) &&
	    close_range((unsigned)keep + 1, ~0U, 0) == 0)
		return;
	/* No close_range(2): every possible descriptor. */
	max = (int)sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = 3; fd < max; fd++)
		if (fd != keep)
			close(fd);
}

/* pid_in - the pid written in path, or -1. */
static pid_t
pid_in(const char *path)
{
	char	buf[32], *end;
	ssize_t	n;
	long	v;
	int	fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') || v <= 0)
		return -1;
	return (pid_t)v;
}

/* remover_main - the remover: wait for the daemon's end, then remove
 * path if it still names the daemon. Exits 0, or 1 if unlink failed. */
static void
remover_main(const char *path, pid_t daemon, int fd)
{
	static const int ignored[] = { SIGHUP, SIGINT, SIGTERM, SIGQUIT,
	    SIGUSR1, SIGUSR2, SIGPIPE };
	sigset_t all;
	size_t	i;
	ssize_t	n;
	char	c;

	/* A signal meant for the daemon (its process group, a terminal's
	 * ^C, a service manager's TERM to all) must not stop the remover
	 * before it has done its one job. */
	for (i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
		signal(ignored[i], SIG_IGN);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	close_all_but(fd);
	(void)!chdir("/");
#ifdef __linux__
	/* Not "smtpd": pgrep -x smtpd and pidof name the daemon alone. */
	prctl(PR_SET_NAME, "smtpd-pidfile", 0, 0, 0);
#endif
	do
		n = read(fd, &c, 1);
	while (n == -1 && errno == EINTR);
	if (pid_in(path) == daemon && unlink(path) == -1 && errno != ENOENT)
		_exit(1);
	_exit(0);
}

int
pidfile_keep_remover(const char *path)
{
	pid_t	daemon = getpid(), pid;
	int	p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[1]);
		remover_main(path, daemon, p[0]);
	}
	close(p[0]);
	remover = pid;
	remover_fd = p[1];
	return 0;
}

int
pidfile_remove(const char *path)
{
	int	status;

	if (remover == -1) {
		if (unlink(path) == -1) {
			log_warn("cannot remove pid file %s", path);
			return -1;
		}
		return 0;
	}
	close(remover_fd);
	remover_fd = -1;
	while (waitpid(remover, &status, 0) == -1) {
		if (errno != EINTR) {
			log_warn("pid file %s: waiting for its remover", path);
			return -1;
		}
	}
	remover = -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_warnx("cannot remove pid file %s", path);
		return -1;
	}
	return 0;
}
