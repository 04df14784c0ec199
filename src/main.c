/*
 * main.c - start-up and signals. The only file with main().
 * Owns: the command line (and what -n and -q print), loading the
 * config, binding, creating and checking the spool root (start-up and
 * reload), dropping privileges, detaching, the pid file, and the signal
 * loop (TERM/INT stop, HUP reloads, USR1 logs a status line), which also
 * keeps house: idle mailboxes closed, freed memory returned.
 * Not here: parsing (config.c), accepting (listener.c), the protocol
 * (session.c).
 * Threads: all of this runs on the main thread, which after start-up
 * only waits for signals; a reload never exits (see reload()).
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "confprint.h"
#include "listener.h"
#include "log.h"
#include "maildir.h"
#include "pidfile.h"
#include "metrics.h"
#include "recipient.h"
#include "session.h"
#include "smtpaddr.h"
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
static char	pidpath[PATH_MAX];

/* Exit statuses of smtpd -q (the others exit 0 or 1). */
#define EXIT_ACCEPTED	0
#define EXIT_REFUSED	1
#define EXIT_QUERY_ERR	2	/* usage or configuration error */

/* What the command line asks for. */
struct options {
	const char	*conffile;
	const char	*pidfile;	/* NULL: none */
	const char	*query;		/* -q ADDRESS, or NULL */
	int		 foreground;
	int		 checkonly;
	int		 verbose;
};

static void	usage(FILE *);
static void	parse_options(int, char *[], struct options *);
static int	absolute(const char *, char *, size_t);
static int	remember_paths(struct options *);
static int	not_a_directory(const char *);
static struct config *read_config(const char *, FILE *);
static void	default_hostname(struct config *);
static struct config *load_config(const char *, FILE *);
static int	check_config(const struct options *);
static void	print_copy(const struct config *, const struct recipient *,
		    int *);
static int	query(const struct options *);
static int	mkdirs(const char *, int *);
static int	spool_access(const char *, const struct passwd *);
static const char *run_as(const struct passwd *, char *, size_t);
static struct passwd *service_user(const struct config *, const char *);
static void	raise_nofile(void);
static void	prepare_spool(const struct config *, const struct passwd *);
static void	open_service(const struct config *, const struct passwd *,
		    char *, size_t);
static int	detach(void);
static void	detach_done(int);
static void	write_pidfile(const char *, const struct passwd *);
static void	drop_privileges(const struct passwd *);
static void	become_daemon(const struct options *, const struct config *,
		    const struct passwd *, const char *);
static void	clean_spool(const struct config *);
static void	log_lines(const char *, char *);
static void	reload(const char *);
static void	handled_signals(sigset_t *);
static void	block_signals(void);
static int	signal_loop(void);
static void	shut_down(int, const char *);

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: smtpd [-dhnvV] [-f config] [-p pidfile]\n"
	    "       smtpd -q address [-f config]\n"
	    "  -d          stay in the foreground, log to stderr\n"
	    "  -f config   configuration file (default %s)\n"
	    "  -h          this help\n"
	    "  -n          check the configuration and exit (with -v: print it)\n"
	    "  -p pidfile  write the process id to pidfile\n"
	    "  -q address  show where mail for address would go, and exit\n"
	    "  -v          verbose logging (every command and reply)\n"
	    "  -V          print the version and exit\n", SMTPD_CONF);
}

/* parse_options - the command line into o; exits for -h, -V and errors
 * (status 2 when -q is involved: its 1 means "refused"). */
static void
parse_options(int argc, char *argv[], struct options *o)
{
	int	ch, bad = 0;

	memset(o, 0, sizeof *o);
	o->conffile = SMTPD_CONF;
	while ((ch = getopt(argc, argv, "df:hnp:q:vV")) != -1) {
		switch (ch) {
		case 'd': o->foreground = 1; break;
		case 'f': o->conffile = optarg; break;
		case 'h': usage(stdout); exit(0);
		case 'n': o->checkonly = 1; break;
		case 'p': o->pidfile = optarg; break;
		case 'q': o->query = optarg; break;
		case 'v': o->verbose = 1; break;
		case 'V': printf("smtpd %s\n", SMTPD_VERSION); exit(0);
		default:
			if (optopt == 'q')
				o->query = "";
			bad = 1;
			break;
		}
	}
	/* -q runs no daemon and checks nothing else. */
	if (o->query != NULL && (o->checkonly || o->foreground || o->pidfile != NULL))
		bad = 1;
	if (bad || optind != argc) {
		usage(stderr);
		exit(o->query != NULL ? EXIT_QUERY_ERR : 1);
	}
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

/* remember_paths - the start-up directory, and the config file and pid
 * file as absolute paths: reloads and the pid file's removal happen
 * after detaching. 0, or -1 after saying why. */
static int
remember_paths(struct options *o)
{
	if (getcwd(startdir, sizeof startdir) == NULL) {
		log_warn("getcwd");
		return -1;
	}
	if (absolute(o->conffile, reloadpath, sizeof reloadpath) == -1) {
		log_warnx("%s: path too long", o->conffile);
		return -1;
	}
	if (o->pidfile != NULL) {
		if (absolute(o->pidfile, pidpath, sizeof pidpath) == -1) {
			log_warnx("%s: path too long", o->pidfile);
			return -1;
		}
		o->pidfile = pidpath;
	}
	return 0;
}

/*
 * not_a_directory - 0 unless path names a directory (then -1, said on
 * stderr). XXX config_load() should say it: fopen() of a directory
 * succeeds and only the first read fails (EISDIR), which it reports as
 * a "read error" followed by every whole-file error.
 */
static int
not_a_directory(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		fprintf(stderr, "%s: is a directory\n", path);
		return -1;
	}
	return 0;
}

/*
 * read_config - the config at path as written, with every check made
 * (the same for -n, -q, start-up and SIGHUP): a relative template taken
 * from the start-up directory, the spool root filled in. NULL after
 * writing the errors to err. Never exits: a reload runs this.
 */
static struct config *
read_config(const char *path, FILE *err)
{
	struct config_opts opts = {
		.basedir = startdir, .inherited = listener_inherited() > 0,
	};
	struct config	*cf;

	if ((cf = config_load(path, &opts, err)) == NULL)
		return NULL;
	/* A prefix of the template: it always fits. */
	if (maildir_root(cf->maildir, cf->spool_root, sizeof cf->spool_root) == -1) {
		fprintf(err, "%s: maildir %s: no spool root\n", path, cf->maildir);
		config_free(cf);
		return NULL;
	}
	return cf;
}

/* default_hostname - an unset hostname becomes the host's own name; no
 * DNS look-up. */
static void
default_hostname(struct config *cf)
{
	if (cf->hostname[0] != '\0')
		return;
	if (gethostname(cf->hostname, sizeof cf->hostname) == -1 ||
	    cf->hostname[0] == '\0')
		buf_copy(cf->hostname, sizeof cf->hostname, "localhost");
	cf->hostname[sizeof cf->hostname - 1] = '\0';
}

/* load_config - read_config(), with the host name filled in: the config
 * a daemon runs with. */
static struct config *
load_config(const char *path, FILE *err)
{
	struct config	*cf;

	if ((cf = read_config(path, err)) != NULL)
		default_hostname(cf);
	return cf;
}

/*
 * check_config - smtpd -n: the checks of every load, and what only a
 * start as root would find out: that the user exists. With -v the
 * config follows, as written back by config_print(). Exit status.
 */
static int
check_config(const struct options *o)
{
	struct config	*cf;

	if (not_a_directory(o->conffile) == -1)
		return 1;
	/* As written: an unset hostname is printed as unset. */
	if ((cf = read_config(o->conffile, stderr)) == NULL)
		return 1;
	/* getpwnam is fine here: one thread. */
	if (cf->user[0] != '\0' && getpwnam(cf->user) == NULL) {
		fprintf(stderr, "%s: user %s: no such user (create it: "
		    "useradd --system %s)\n", o->conffile, cf->user, cf->user);
		config_free(cf);
		return 1;
	}
	printf("%s: configuration OK\n", o->conffile);
	if (o->verbose)
		config_print(cf, stdout);
	config_free(cf);
	return fflush(stdout) == EOF ? 1 : 0;
}

/*
 * print_copy - one line of smtpd -q: "  -> MAILBOX  PATH", PATH being
 * the maildir the copy would be stored in (a Maildir++ folder is its
 * subdirectory .FOLDER), or "  -> MAILBOX  cannot be stored: WHY";
 * *failed set then.
 */
static void
print_copy(const struct config *cf, const struct recipient *to, int *failed)
{
	char		 path[PATH_MAX];
	const char	*why;
	size_t		 len;
	int		 n;

	printf("  -> %s@%s  ", to->box, to->domain);
	if (maildir_expand(cf->maildir, to->box, to->domain, path, sizeof path,
	    &why) == -1) {
		printf("cannot be stored: %s\n", why);
		*failed = 1;
		return;
	}
	if (to->folder[0] != '\0') {
		len = strlen(path);
		n = snprintf(path + len, sizeof path - len, "/.%s", to->folder);
		if (n < 0 || (size_t)n >= sizeof path - len) {
			printf("cannot be stored: path too long\n");
			*failed = 1;
			return;
		}
	}
	printf("%s\n", path);
}

/*
 * query - smtpd -q ADDRESS: the reply RCPT TO:<ADDRESS> would get (as
 * from a client that gave SMTPUTF8), and for an accepted address every
 * mailbox it reaches and where that mailbox is stored. The same
 * parser and router as a session (session.c cmd_rcpt), no daemon, no
 * file touched. Output (smtpd(8)), ADDRESS as given:
 *	ADDRESS: accepted
 *	  -> MAILBOX  PATH		one line per copy
 *	  (via alias SOURCE)		when an alias routed it
 * or
 *	ADDRESS: refused: CODE ESC TEXT
 * Exit status EXIT_ACCEPTED, EXIT_REFUSED (also when a copy could not
 * be stored) or EXIT_QUERY_ERR.
 */
static int
query(const struct options *o)
{
	struct config	*cf;
	struct smtpaddr	 a;
	struct route	 rt;
	struct recipient to;
	struct smtp_reply r;
	const char	*why, *end;
	char		 arg[SMTP_PATH_MAX + 3], addr[SMTP_PATH_MAX + 1];
	int		 i, n, failed = 0;

	if (not_a_directory(o->conffile) == -1)
		return EXIT_QUERY_ERR;
	if ((cf = load_config(o->conffile, stderr)) == NULL)
		return EXIT_QUERY_ERR;
	/* The argument is a RCPT path, brackets optional. */
	n = snprintf(arg, sizeof arg, o->query[0] == '<' ? "%s" : "<%s>", o->query);
	memset(&r, 0, sizeof r);
	if (n < 0 || (size_t)n >= sizeof arg ||
	    smtpaddr_parse(arg, SMTPADDR_UTF8 | SMTPADDR_POSTMASTER_OK, &a,
	    &end, &why) == -1 || *end != '\0')
		reply_set(&r, 501, "5.1.3", "Bad recipient address syntax");
	else if (recipient_route(cf, &a, &rt, &r) == 0) {
		/* RFC 5321 4.1.1.3: <postmaster> alone means our first domain. */
		if (a.domain[0] == '\0')
			buf_copy(a.domain, sizeof a.domain, cf->domains[0]);
		if (smtpaddr_format(&a, addr, sizeof addr) == -1)
			reply_set(&r, 501, "5.1.3", "Recipient address too long");
	}
	if (r.code != 0) {
		printf("%s: refused: %d %s%s%s\n", o->query, r.code,
		    r.esc != NULL ? r.esc : "", r.esc != NULL ? " " : "", r.text);
		config_free(cf);
		return EXIT_REFUSED;
	}
	printf("%s: accepted\n", o->query);
	for (i = 0; recipient_target(&rt, i, &to) == 0; i++)
		print_copy(cf, &to, &failed);
	if (rt.alias != NULL)
		printf("  (via alias %s)\n", rt.alias->source);
	config_free(cf);
	if (fflush(stdout) == EOF)
		return EXIT_QUERY_ERR;
	return failed ? EXIT_REFUSED : EXIT_ACCEPTED;
}

/*
 * mkdirs - create path and its parents: parents mode 0755 (whatever the
 * umask: the user must get through them), path itself 0700. *made is
 * set if path itself was created here.
 */
static int
mkdirs(const char *path, int *made)
{
	char	tmp[PATH_MAX];
	size_t	i;

	*made = 0;
	if (buf_copy(tmp, sizeof tmp, path) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (i = 1; tmp[i]; i++) {
		if (tmp[i] != '/')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0755) == 0) {
			if (chmod(tmp, 0755) == -1)
				return -1;
		} else if (errno != EEXIST)
			return -1;
		tmp[i] = '/';
	}
	if (mkdir(tmp, 0700) == 0)
		*made = 1;
	else if (errno != EEXIST)
		return -1;
	return 0;
}

/*
 * spool_access - 0 if the spool root is a directory that user pw (NULL:
 * we ourselves) may create entries in and search, else -1 with errno.
 * Another uid's rights cannot be asked of the kernel (faccessat checks
 * our own ids), and working them out from the mode bits misses ACLs,
 * read-only mounts and the ancestors' search bits. So at start-up, as
 * root, a child process becomes that user (supplementary groups too,
 * as drop_privileges() does) and asks access(2) for itself; no thread
 * exists yet, so the child may call initgroups().
 */
static int
spool_access(const char *root, const struct passwd *pw)
{
	struct stat st;
	pid_t	pid;
	int	status, err;

	if (pw == NULL) {
		if (faccessat(AT_FDCWD, root, W_OK | X_OK, AT_EACCESS) == -1)
			return -1;
		if (stat(root, &st) == -1)
			return -1;
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return -1;
		}
		return 0;
	}
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
		    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
			_exit(255);
		if (access(root, W_OK | X_OK) == -1)
			_exit(errno > 0 && errno < 255 ? errno : EACCES);
		if (stat(root, &st) == -1)
			_exit(errno > 0 && errno < 255 ? errno : EIO);
		_exit(S_ISDIR(st.st_mode) ? 0 : ENOTDIR);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 255) {
		errno = EPERM;	/* could not become the user */
		return -1;
	}
	if ((err = WEXITSTATUS(status)) != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

/* run_as - the name of the user deliveries run as, for messages. */
static const char *
run_as(const struct passwd *pw, char *buf, size_t size)
{
	struct passwd	 pwd, *res = NULL;
	char		 pwbuf[1024];

	if (pw != NULL)
		snprintf(buf, size, "%s", pw->pw_name);
	else if (getpwuid_r(geteuid(), &pwd, pwbuf, sizeof pwbuf, &res) == 0 &&
	    res != NULL)
		snprintf(buf, size, "%s", res->pw_name);
	else
		snprintf(buf, size, "uid %ld", (long)geteuid());
	return buf;
}

/* service_user - the user to become, looked up while still root; NULL
 * to stay who we are. */
static struct passwd *
service_user(const struct config *cf, const char *conffile)
{
	struct passwd	*pw;

	if (cf->user[0] == '\0') {
		if (geteuid() == 0)
			log_warnx("WARNING: running as root: set \"user\" in %s", conffile);
		return NULL;
	}
	pw = getpwnam(cf->user);
	if (geteuid() != 0) {
		/* Started as that user already (a systemd unit): fine. */
		if (pw == NULL || pw->pw_uid != geteuid())
			log_warnx("user %s: not started as root, running as uid %ld",
			    cf->user, (long)geteuid());
		return NULL;
	}
	if (pw == NULL)
		fatalx("user %s: no such user (create it: useradd --system %s)",
		    cf->user, cf->user);
	return pw;
}

/*
 * prepare_spool - the spool root must exist (it is made if missing, its
 * parents too) and be writable by the user deliveries run as, or we do
 * not start. A root made here is given to that user; one that existed
 * keeps its owner (it may be /var/mail, or someone's home directory).
 */
static void
prepare_spool(const struct config *cf, const struct passwd *pw)
{
	char	user[LOGIN_NAME_MAX + 32];
	int	made;

	run_as(pw, user, sizeof user);
	if (mkdirs(cf->spool_root, &made) == -1)
		fatal("spool root %s: cannot create it", cf->spool_root);
	if (made && pw != NULL && chown(cf->spool_root, pw->pw_uid, pw->pw_gid) == -1)
		fatal("spool root %s: chown to %s", cf->spool_root, pw->pw_name);
	if (spool_access(cf->spool_root, pw) == -1)
		fatal("spool root %s: not writable by user %s (give it to that "
		    "user, or choose another maildir)", cf->spool_root, user);
}

/* open_service - what needs root: sockets, the spool root; then say
 * where we listen (into where) and where mail goes. */
static void
open_service(const struct config *cf, const struct passwd *pw, char *where,
    size_t wsize)
{
	char	err[512];

	raise_nofile();
	if (listener_bind(cf, err, sizeof err) == -1)
		fatalx("%s", err);
	/* The metrics listener, if configured (metrics.c). */
	if (metrics_bind(cf, err, sizeof err) == -1)
		fatalx("%s", err);
	prepare_spool(cf, pw);
	maildir_set_host(cf->hostname);
	session_id_init();
	listener_describe(where, wsize);
	log_info("smtpd %s listening on %s", SMTPD_VERSION, where);
	log_info("mail goes to %s", cf->maildir);
	metrics_describe(err, sizeof err);
	if (err[0] != '\0')
		log_info("metrics on http://%s/metrics", err);
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

/* write_pidfile - while root (it may live in /run); a user we become
 * could not remove it there, so a root remover is kept for the exit
 * (pidfile.c). */
static void
write_pidfile(const char *path, const struct passwd *pw)
{
	if (pidfile_write(path) == -1)
		fatal("pid file %s", path);
	if (pw != NULL && pidfile_keep_remover(path) == -1) {
		(void)unlink(path);
		fatal("pid file %s: cannot start its remover", path);
	}
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

/* become_daemon - detach unless -d, write the pid file (still
 * privileged, so it may live in /run), drop privileges, and only then
 * tell the waiting parent that we started. */
static void
become_daemon(const struct options *o, const struct config *cf,
    const struct passwd *pw, const char *where)
{
	int	readyfd = -1;

	if (!o->foreground)
		readyfd = detach();
	if (o->pidfile != NULL)
		write_pidfile(o->pidfile, pw);
	if (pw != NULL)
		drop_privileges(pw);
	if (!o->foreground) {
		detach_done(readyfd);
		log_init(0, o->verbose);
		log_info("smtpd %s started, listening on %s, mail goes to %s",
		    SMTPD_VERSION, where, cf->maildir);
	}
}

/* clean_spool - remove what an earlier run left in tmp/. */
static void
clean_spool(const struct config *cf)
{
	int	n;

	if ((n = maildir_clean_stale(cf->spool_root)) > 0)
		log_info("removed %d stale file%s from tmp/", n, n == 1 ? "" : "s");
}

/* log_lines - log each line of text (modified) with prefix. */
static void
log_lines(const char *prefix, char *text)
{
	char	*line, *save = NULL;

	if (text == NULL)
		return;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		log_warnx("%s%s", prefix, line);
}

/*
 * reload - SIGHUP: a new config for new sessions, or keep the old one.
 * Nothing here may exit: every check is made by load_config(), and a
 * config that fails one, or whose spool root cannot be created or is
 * not writable by the user we run as, is refused with the one in force
 * kept.
 */
static void
reload(const char *path)
{
	const struct config *old = listener_current();
	struct config	*cf;
	char		*msg = NULL;
	size_t		 msglen = 0;
	FILE		*err = open_memstream(&msg, &msglen);
	char		 user[LOGIN_NAME_MAX + 32];
	int		 made;

	cf = load_config(path, err != NULL ? err : stderr);
	if (err != NULL)
		fclose(err);
	log_lines("reload: ", msg);
	free(msg);
	/* Made with the rights we run with now (never chowned: we are
	 * the user by now, or root without one), and checked as at
	 * start-up, as ourselves. */
	run_as(NULL, user, sizeof user);
	if (cf != NULL && mkdirs(cf->spool_root, &made) == -1) {
		log_warn("reload: %s: cannot create spool %s as user %s",
		    path, cf->spool_root, user);
		config_free(cf);
		cf = NULL;
	} else if (cf != NULL && spool_access(cf->spool_root, NULL) == -1) {
		log_warn("reload: %s: spool %s not writable by user %s",
		    path, cf->spool_root, user);
		config_free(cf);
		cf = NULL;
	}
	if (cf == NULL) {
		log_warnx("reload failed: keeping the configuration in force");
		metrics_reloaded(0);
		return;
	}
	if (listener_inherited() == 0 && (cf->nlisten != old->nlisten ||
	    memcmp(cf->listen, old->listen, sizeof cf->listen[0] * (size_t)cf->nlisten) != 0))
		log_warnx("reload: listen changes take effect at restart");
	if (strcmp(cf->user, old->user) != 0)
		log_warnx("reload: user changes take effect at restart");
	/* The metrics listener is bound once, at start (metrics.c). */
	if (memcmp(&cf->metrics, &old->metrics, sizeof cf->metrics) != 0)
		log_warnx("reload: metrics changes take effect at restart");
	if (strcmp(cf->hostname, old->hostname) != 0)
		log_warnx("reload: the hostname in maildir file names changes at restart");
	if (listener_reload(cf) == -1) {
		log_warnx("reload failed: out of memory; keeping the configuration in force");
		config_free(cf);
		metrics_reloaded(0);
		return;
	}
	metrics_reloaded(1);
	log_info("reloaded %s", path);
}

/* handled_signals - the signals signal_loop() waits for. */
static void
handled_signals(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	sigaddset(sigs, SIGHUP);
	sigaddset(sigs, SIGUSR1);
}

/* block_signals - before any thread starts: they all inherit the mask. */
static void
block_signals(void)
{
	sigset_t	sigs;

	signal(SIGPIPE, SIG_IGN);
	handled_signals(&sigs);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
}

/*
 * signal_loop - signals reach this thread only, through sigwait; the
 * other threads are started with them blocked. Keeps house between
 * signals. Returns the signal that stops us.
 */
static int
signal_loop(void)
{
	sigset_t	sigs;
	int		sig;
	unsigned	quiet = 0;

	handled_signals(&sigs);
	for (;;) {
		struct timespec tick = { EXPIRE_SECS, 0 };

		sig = sigtimedwait(&sigs, NULL, &tick);
		maildir_expire();
		if (sig == -1) {
#ifdef __GLIBC__
			/* Idle client threads pin freed memory in their
			 * caches; every TRIM_SECS of ticks without a
			 * signal, give it back. */
			if (errno == EAGAIN && ++quiet % (TRIM_SECS / EXPIRE_SECS) == 0)
				malloc_trim(0);
#else
			(void)quiet;
#endif
			continue;
		}
		if (sig == SIGHUP)
			reload(reloadpath);
		else if (sig == SIGUSR1)
			listener_status();
		else
			return sig;
	}
}


/* shut_down - stop accepting, give sessions their grace, remove the
 * pid file. */
static void
shut_down(int sig, const char *pidfile)
{
	int	left;

	log_info("stopping on signal %d", sig);
	left = listener_stop(SHUTDOWN_GRACE);
	metrics_stop();
	if (left > 0)
		log_warnx("%d session%s still running after %ds; exiting", left,
		    left == 1 ? "" : "s", SHUTDOWN_GRACE);
	if (pidfile != NULL)
		(void)pidfile_remove(pidfile);
	log_info("stopped");
}

int
main(int argc, char *argv[])
{
	struct options	 o;
	struct config	*cf;
	struct passwd	*pw;
	char		 where[1024];

	parse_options(argc, argv, &o);
	log_init(1, o.verbose);
#ifdef __GLIBC__
	/* Each message borrows two 64 KiB buffers; giving the memory back
	 * to the kernel every time costs page faults and a TLB shootdown
	 * on every CPU. Keep up to TRIM_KEEP free per malloc arena. */
	mallopt(M_TRIM_THRESHOLD, TRIM_KEEP);
#endif
	if (remember_paths(&o) == -1)
		return o.query != NULL ? EXIT_QUERY_ERR : 1;
	if (o.query != NULL)
		return query(&o);
	if (o.checkonly)
		return check_config(&o);
	if (not_a_directory(o.conffile) == -1 ||
	    (cf = load_config(o.conffile, stderr)) == NULL)
		return 1;
	tzset();
	umask(077);
	pw = service_user(cf, o.conffile);
	open_service(cf, pw, where, sizeof where);
	become_daemon(&o, cf, pw, where);
	clean_spool(cf);
	block_signals();
	listener_start(cf);
	metrics_start();
	shut_down(signal_loop(), o.pidfile);
	return 0;
}
