/*
 * listener.c - listening sockets, the accept loop, one thread per client.
 * Owns: the sockets, max_clients and max_clients_per_ip counting, the
 * config in force and the lifetime of every config (struct cfref: freed
 * once no session uses it), the list of clients and
 * telling their sessions to stop, the parked client threads, and the one
 * reply sent outside a session (421 when full).
 *
 * Every client gets a thread of its own for the whole session. A thread
 * whose client has gone parks for a while (up to PARKED_MAX of them) and
 * the next client is handed to it rather than to a new thread: creating
 * a thread and tearing its stack down again costs more than a short
 * SMTP session does.
 * Threads: the accept loop runs on its own thread; every shared field
 * below is guarded by lk.mu.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "linebuf.h"
#include "listener.h"
#include "log.h"
#include "reply.h"
#include "session.h"
#include "smtpd.h"
#include "sockaddr.h"
#include "xclient.h"

#define LISTEN_BACKLOG		4096
#define LISTEN_FD_MAX		(CONFIG_LISTEN_MAX * 2)
#define IPTABLE_BUCKETS		4096
/* Threads keep their buffers in struct session; 256 KiB is room to spare. */
#define CLIENT_STACK_SIZE	(256 * 1024)
#define SD_LISTEN_FDS_START	3
#define PARKED_MAX		64	/* idle client threads kept */
#define PARKED_SECS		30	/* how long one waits for a client */

struct ipcount {
	struct ipcount	*next;
	int		 family;
	unsigned char	 addr[16];
	int		 count;
};

/* A config in force, or still used by sessions started under it. */
struct cfref {
	struct config	*cf;
	int		 refs;	/* 1 while in force, 1 per session; lk.mu */
};

struct client {
	struct client		*next, **prevp;	/* on lk.clients */
	atomic_int		 stop;		/* the session's stop word */
	int			 fd;
	int			 proxy;
	struct sockaddr_storage	 peer;
	struct cfref		*cfr;		/* its config, held */
	struct ipcount		*ip;
};

/* A client thread waiting for its next client; it lives on that thread's
 * stack and is on lk.parked while the thread waits. */
struct parked {
	struct parked	*next;
	struct client	*c;		/* handed over by the listener */
	int		 owed;		/* posts promised, under lk.mu */
	sem_t		 wake;		/* posted once c is set, or to stop */
};

static struct {
	int		 fds[LISTEN_FD_MAX];
	int		 proxy[LISTEN_FD_MAX];
	char		 names[LISTEN_FD_MAX][80];
	int		 nfds;
	int		 bound;		/* listener_bind() has run */
	int		 ninherited;	/* of fds, adopted from the service
					 * manager (set before the accept
					 * thread starts, like fds) */
	int		 wake[2];	/* readable once stopping: ends accept_loop */
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	pthread_cond_t	 idle;		/* signalled when active drops */
	struct cfref	*cur;		/* in force for new sessions; only
					 * the main thread changes it */
	struct client	*clients;	/* every client with a session */
	int		 active;
	int		 stopping;
	struct parked	*parked;	/* threads waiting for a client */
	int		 nparked;
	int		 peak_threads;	/* most of active + nparked (metrics) */
	struct ipcount	*iptable[IPTABLE_BUCKETS];
} lk = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.idle = PTHREAD_COND_INITIALIZER,
	.wake = { -1, -1 },
};

/* cfref_new - cf with the reference of being in force; NULL if out of
 * memory. */
static struct cfref *
cfref_new(struct config *cf)
{
	struct cfref *r;

	if ((r = malloc(sizeof *r)) == NULL)
		return NULL;
	r->cf = cf;
	r->refs = 1;
	return r;
}

/* cfref_put - drop one reference (under lk.mu); the config goes with
 * the last. */
static void
cfref_put(struct cfref *r)
{
	if (--r->refs > 0)
		return;
	config_free(r->cf);
	free(r);
}

static unsigned
ip_hash(int family, const unsigned char *a)
{
	unsigned h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ a[i]) * 16777619u;
	return (h ^ (unsigned)family) % IPTABLE_BUCKETS;
}

/* ip_get - the count for an address, created at zero; under lk.mu. */
static struct ipcount *
ip_get(int family, const unsigned char *a)
{
	struct ipcount *e, **b = &lk.iptable[ip_hash(family, a)];

	for (e = *b; e != NULL; e = e->next)
		if (e->family == family && memcmp(e->addr, a, 16) == 0)
			return e;
	if ((e = calloc(1, sizeof *e)) == NULL)
		return NULL;
	e->family = family;
	memcpy(e->addr, a, 16);
	e->next = *b;
	*b = e;
	return e;
}

/*
 * ip_take - count c against limit (0: none) as the address fam/key,
 * under lk.mu: 0 and recorded in c->ip (released with the session), or
 * -1 when the address already has limit sessions. An address of no
 * family counts nothing, nor does one when out of memory.
 */
static int
ip_take(struct client *c, int limit, int fam, const unsigned char *key)
{
	struct ipcount *e;

	if (limit == 0 || fam == AF_UNSPEC || c->ip != NULL)
		return 0;
	if ((e = ip_get(fam, key)) == NULL)
		return 0;
	if (e->count >= limit)
		return -1;	/* limit >= 1: e had sessions, stays */
	e->count++;
	c->ip = e;
	return 0;
}

static void
ip_put(struct ipcount *e)
{
	struct ipcount **p;

	if (--e->count > 0)
		return;
	for (p = &lk.iptable[ip_hash(e->family, e->addr)]; *p != e; p = &(*p)->next)
		;
	*p = e->next;
	free(e);
}

/* park - wait for the listener to hand over a client (called and
 * returning with lk.mu held); NULL when none came in PARKED_SECS, or we
 * are stopping. The wait itself is on a semaphore, outside lk.mu, so
 * the listener's post does not leave us queueing for its mutex. Kept
 * out of line: its frame would otherwise sit under every session and
 * cost an idle connection one more stack page. */
__attribute__((noinline)) static struct client *
park(void)
{
	struct parked	  self = { .next = NULL, .c = NULL, .owed = 0 };
	struct parked	**pp;
	struct timespec	  until;
	int		  rc, got;

	if (lk.stopping || lk.nparked >= PARKED_MAX)
		return NULL;
	sem_init(&self.wake, 0, 0);
	self.next = lk.parked;
	lk.parked = &self;
	lk.nparked++;
	pthread_mutex_unlock(&lk.mu);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += PARKED_SECS;
	while ((rc = sem_timedwait(&self.wake, &until)) == -1 && errno == EINTR)
		;
	got = rc == 0;
	pthread_mutex_lock(&lk.mu);
	/* Timed out, or told to stop: leave the list if still on it. */
	for (pp = &lk.parked; *pp != NULL; pp = &(*pp)->next)
		if (*pp == &self) {
			*pp = self.next;
			lk.nparked--;
			break;
		}
	/* Every post promised must land before the semaphore goes away. */
	while (got < self.owed) {
		pthread_mutex_unlock(&lk.mu);
		while (sem_wait(&self.wake) == -1 && errno == EINTR)
			;
		got++;
		pthread_mutex_lock(&lk.mu);
	}
	sem_destroy(&self.wake);
	return self.c;
}

/* unpark - take a parked thread for c (under lk.mu); post it once
 * lk.mu is released. NULL if none waits. */
static struct parked *
unpark(struct client *c)
{
	struct parked *p = lk.parked;

	if (p == NULL)
		return NULL;
	lk.parked = p->next;
	lk.nparked--;
	p->c = c;
	p->owed++;
	return p;
}

/* client_link, client_unlink - on and off lk.clients; under lk.mu. */
static void
client_link(struct client *c)
{
	if ((c->next = lk.clients) != NULL)
		c->next->prevp = &c->next;
	c->prevp = &lk.clients;
	lk.clients = c;
}

static void
client_unlink(struct client *c)
{
	if (c->next != NULL)
		c->next->prevp = c->prevp;
	*c->prevp = c->next;
}

/*
 * admit_proxied - session.h's admit hook: a PROXY header, or an XCLIENT
 * command from an xclient_from proxy, named the real client, which
 * max_clients_per_ip counts as it counts direct clients, instead of
 * what was counted before (an earlier XCLIENT's client). A header
 * without an address (UNKNOWN, LOCAL: the balancer's health checks)
 * leaves the balancer's own address, which is not counted: every
 * client comes through it.
 */
static int
admit_proxied(void *arg, const struct sockaddr_storage *real)
{
	struct client	*c = arg;
	unsigned char	 key[16];
	int		 fam, rc = 0;

	fam = sockaddr_key(real, key);
	pthread_mutex_lock(&lk.mu);
	if (c->ip != NULL) {
		ip_put(c->ip);
		c->ip = NULL;
	}
	if (memcmp(real, &c->peer, sizeof *real) != 0)
		rc = ip_take(c, c->cfr->cf->max_clients_per_ip, fam, key);
	pthread_mutex_unlock(&lk.mu);
	return rc;
}

/* client_thread - one session, give back its slot, then wait to be
 * handed the next client. */
static void *
client_thread(void *arg)
{
	struct client *c = arg;

	while (c != NULL) {
		struct session_conn conn = {
			.fd = c->fd, .peer = c->peer, .cf = c->cfr->cf,
			.stop = &c->stop, .proxy = c->proxy,
			.admit = admit_proxied, .admit_arg = c,
		};
		session_run(&conn);
		/* A stop may be shutting this socket (under lk.mu): let it
		 * finish before the descriptor can be reused. */
		if (atomic_load(&c->stop) == LB_STOPPED) {
			pthread_mutex_lock(&lk.mu);
			pthread_mutex_unlock(&lk.mu);
		}
		close(c->fd);
		pthread_mutex_lock(&lk.mu);
		client_unlink(c);
		lk.active--;
		if (c->ip != NULL)
			ip_put(c->ip);
		cfref_put(c->cfr);
		pthread_cond_broadcast(&lk.idle);
		free(c);
		c = park();
		pthread_mutex_unlock(&lk.mu);
	}
	return NULL;
}

/* refusal - the one reply sent without a session, into msg: 421 with
 * why. cf must be held (or lk.mu): a reload may free it otherwise.
 * Returns its length, 0 if it did not fit. */
static size_t
refusal(char *msg, size_t size, const struct config *cf, const char *why)
{
	int	n;

	n = snprintf(msg, size, "421 4.7.0 %s %s, try again later\r\n",
	    cf->hostname, why);
	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

/* refuse - send the refusal (without waiting) and close. */
static void
refuse(int fd, const char *msg, size_t len)
{
	if (len > 0)
		(void)!send(fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

/*
 * accept_one - take a connection from listening socket i. The config in
 * force is read only under lk.mu, or through the reference the client
 * holds: a SIGHUP may free the one before at any moment.
 */
static void
accept_one(int i, pthread_attr_t *attr)
{
	struct client	*c;
	struct parked	*p;
	struct config	*cf;
	const char	*limit = NULL;
	socklen_t	 len;
	unsigned char	 key[16];
	char		 msg[SMTP_REPLY_MAX];
	size_t		 msglen = 0;
	int		 fd, fam, err, n = 0;
	pthread_t	 t;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return;
	len = sizeof c->peer;
	fd = accept4(lk.fds[i], (struct sockaddr *)&c->peer, &len, SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			log_warn("accept");
			/* Out of descriptors: back off instead of spinning. */
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		free(c);
		return;
	}
	c->fd = fd;
	c->proxy = lk.proxy[i];
	pthread_mutex_lock(&lk.mu);
	cf = lk.cur->cf;
	if (lk.active >= cf->max_clients) {
		limit = "max_clients";
		n = cf->max_clients;
		msglen = refusal(msg, sizeof msg, cf, "Too many connections");
		goto refused;
	}
	/* Behind a proxy the socket's peer is the balancer: the client the
	 * header names is counted once it is known (admit_proxied). So is
	 * the client an xclient_from proxy names with XCLIENT. */
	fam = sockaddr_key(&c->peer, key);
	if (!c->proxy && !xclient_trusted(cf, fam, key) &&
	    ip_take(c, cf->max_clients_per_ip, fam, key) == -1) {
		limit = "max_clients_per_ip";
		n = cf->max_clients_per_ip;
		msglen = refusal(msg, sizeof msg, cf,
		    "Too many connections from your address");
		goto refused;
	}
	lk.active++;
	if (lk.active + lk.nparked > lk.peak_threads)
		lk.peak_threads = lk.active + lk.nparked;
	c->cfr = lk.cur;
	c->cfr->refs++;
	client_link(c);
	if ((p = unpark(c)) != NULL) {
		pthread_mutex_unlock(&lk.mu);
		sem_post(&p->wake);
		return;
	}
	pthread_mutex_unlock(&lk.mu);

	if ((err = pthread_create(&t, attr, client_thread, c)) == 0)
		return;
	errno = err;
	log_warn("pthread_create");
	pthread_mutex_lock(&lk.mu);
	msglen = refusal(msg, sizeof msg, c->cfr->cf, "Out of resources");
	client_unlink(c);
	lk.active--;
	if (c->ip != NULL)
		ip_put(c->ip);
	cfref_put(c->cfr);
refused:
	pthread_mutex_unlock(&lk.mu);
	if (limit != NULL)
		log_info("refused connection: %s %d reached", limit, n);
	/* Counted as sent: the send does not wait to find out. */
	reply_count(421, "4.7.0", limit == NULL ? REPLY_REASON_MAIL_SYSTEM :
	    strcmp(limit, "max_clients") == 0 ? REPLY_REASON_MAX_CLIENTS :
	    REPLY_REASON_MAX_CLIENTS_PER_IP);
	refuse(fd, msg, msglen);
	free(c);
}

static void *
accept_loop(void *arg)
{
	struct pollfd	 pfd[LISTEN_FD_MAX + 1];
	pthread_attr_t	 attr;
	int		 i;

	(void)arg;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, CLIENT_STACK_SIZE);
	for (i = 0; i < lk.nfds; i++) {
		pfd[i].fd = lk.fds[i];
		pfd[i].events = POLLIN;
	}
	pfd[lk.nfds].fd = lk.wake[0];
	pfd[lk.nfds].events = POLLIN;
	for (;;) {
		if (poll(pfd, (nfds_t)lk.nfds + 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			break;
		}
		if (pfd[lk.nfds].revents & POLLIN)
			break;
		for (i = 0; i < lk.nfds; i++)
			if (pfd[i].revents & POLLIN)
				accept_one(i, &attr);
	}
	pthread_attr_destroy(&attr);
	for (i = 0; i < lk.nfds; i++)
		close(lk.fds[i]);
	return NULL;
}

/* bind_one - one socket for family/address/port; its fd or -1. */
static int
bind_one(int family, const char *host, uint16_t port, int v6only,
    char *err, size_t errsz)
{
	struct sockaddr_storage ss;
	socklen_t	 len;
	int		 fd, on = 1;

	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		if (host != NULL && inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			goto badaddr;
		len = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		if (host != NULL && inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			goto badaddr;
		len = sizeof *sin6;
	}
	if ((fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
	if (bind(fd, (struct sockaddr *)&ss, len) == -1) {
		int e = errno;
		snprintf(err, errsz, "cannot bind %s port %u: %s%s",
		    host ? host : (family == AF_INET ? "0.0.0.0" : "::"), port,
		    strerror(e), e == EACCES && port < 1024 ?
		    " (ports below 1024 need root or CAP_NET_BIND_SERVICE)" :
		    e == EADDRINUSE ? " (another server is listening there)" : "");
		close(fd);
		return -1;
	}
	if (listen(fd, LISTEN_BACKLOG) == -1) {
		snprintf(err, errsz, "listen: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
badaddr:
	snprintf(err, errsz, "bad address %s", host);
	return -1;
}

/* inherited_env - how many listening sockets LISTEN_PID (ours) and
 * LISTEN_FDS pass, as systemd's socket activation does; 0 for none. */
static int
inherited_env(void)
{
	const char	*pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
	char		*end;
	long		 p, n;

	if (pid == NULL || nfds == NULL || *pid < '0' || *pid > '9' ||
	    *nfds < '0' || *nfds > '9')
		return 0;
	errno = 0;
	p = strtol(pid, &end, 10);
	if (*end != '\0' || errno != 0 || p != (long)getpid())
		return 0;
	n = strtol(nfds, &end, 10);
	if (*end != '\0' || errno != 0 || n <= 0 || n > LISTEN_FD_MAX)
		return 0;
	return (int)n;
}

/* adopt_inherited - take the stream sockets passed from fd 3 on; the
 * number taken. */
static int
adopt_inherited(void)
{
	int	n = inherited_env(), i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss, tlen;
		char	 host[INET6_ADDRSTRLEN];
		int	 fd = SD_LISTEN_FDS_START + i, type = 0;

		tlen = sizeof type;
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == -1 ||
		    type != SOCK_STREAM) {
			log_warnx("inherited fd %d is not a stream socket: ignored", fd);
			continue;
		}
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		memset(&ss, 0, sizeof ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
			ss.ss_family = AF_UNSPEC;
		sockaddr_text(&ss, host, sizeof host, NULL, 0);
		lk.fds[lk.nfds] = fd;
		lk.proxy[lk.nfds] = 0;
		if (sockaddr_port(&ss) == 0)
			snprintf(lk.names[lk.nfds], sizeof lk.names[0], "%s (inherited)", host);
		else
			snprintf(lk.names[lk.nfds], sizeof lk.names[0], "%s%s%s:%d (inherited)",
			    strchr(host, ':') ? "[" : "", host,
			    strchr(host, ':') ? "]" : "", sockaddr_port(&ss));
		lk.nfds++;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return lk.nfds;
}

int
listener_inherited(void)
{
	return lk.bound ? lk.ninherited : inherited_env();
}

int
listener_open(const struct config_listen *l, char *err, size_t errsz)
{
	int	fd;

	if (strcmp(l->host, "*") != 0)
		return bind_one(strchr(l->host, ':') != NULL ? AF_INET6 : AF_INET,
		    l->host, l->port, 1, err, errsz);
	/* One dual-stack socket; IPv4 alone if the host lacks IPv6. */
	fd = bind_one(AF_INET6, NULL, l->port, 0, err, errsz);
	if (fd == -1 && (errno == EAFNOSUPPORT || strstr(err, "socket:")))
		fd = bind_one(AF_INET, NULL, l->port, 0, err, errsz);
	return fd;
}

int
listener_bind(const struct config *cf, char *err, size_t errsz)
{
	int	i, fd;

	lk.bound = 1;
	if ((lk.ninherited = adopt_inherited()) > 0)
		return 0;
	if (cf->nlisten == 0) {
		snprintf(err, errsz, "%s: no listen line, and no listening socket "
		    "inherited from the service manager", cf->file);
		return -1;
	}
	for (i = 0; i < cf->nlisten; i++) {
		const struct config_listen *l = &cf->listen[i];
		int v6 = strchr(l->host, ':') != NULL;

		fd = listener_open(l, err, errsz);
		if (fd == -1)
			return -1;
		lk.fds[lk.nfds] = fd;
		lk.proxy[lk.nfds] = l->proxy;
		snprintf(lk.names[lk.nfds], sizeof lk.names[0], "%s%s%s:%u%s",
		    v6 ? "[" : "", l->host, v6 ? "]" : "", l->port,
		    l->proxy ? " (PROXY protocol)" : "");
		lk.nfds++;
	}
	return 0;
}

void
listener_describe(char *buf, size_t size)
{
	size_t	len = 0;

	buf[0] = '\0';
	for (int i = 0; i < lk.nfds; i++)
		buf_appendf(buf, size, &len, "%s%s", i ? ", " : "", lk.names[i]);
}

void
listener_start(struct config *cf)
{
	int	err;

	if (pipe2(lk.wake, O_CLOEXEC) == -1)
		fatal("pipe");
	if ((lk.cur = cfref_new(cf)) == NULL)
		fatal("listener_start");
	if ((err = pthread_create(&lk.thread, NULL, accept_loop, NULL)) != 0) {
		errno = err;
		fatal("pthread_create");
	}
}

int
listener_reload(struct config *cf)
{
	struct cfref *r, *old;

	if ((r = cfref_new(cf)) == NULL)
		return -1;
	pthread_mutex_lock(&lk.mu);
	old = lk.cur;
	lk.cur = r;
	cfref_put(old);
	pthread_mutex_unlock(&lk.mu);
	return 0;
}

const struct config *
listener_current(void)
{
	return lk.cur->cf;	/* only the main thread changes lk.cur */
}

int
listener_stop(int grace)
{
	struct timespec	deadline;
	int		left;

	pthread_mutex_lock(&lk.mu);
	lk.stopping = 1;
	for (struct parked *p = lk.parked; p != NULL; p = p->next) {
		p->owed++;
		sem_post(&p->wake);
	}
	pthread_mutex_unlock(&lk.mu);
	(void)!write(lk.wake[1], "x", 1);
	pthread_join(lk.thread, NULL);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += grace;
	pthread_mutex_lock(&lk.mu);
	/* Sessions waiting for a command are woken to answer 421; the rest
	 * find their stop word set when they next wait for one. */
	for (struct client *c = lk.clients; c != NULL; c = c->next)
		if (linebuf_stop(&c->stop))
			(void)shutdown(c->fd, SHUT_RD);
	while (lk.active > 0 &&
	    pthread_cond_timedwait(&lk.idle, &lk.mu, &deadline) != ETIMEDOUT)
		;
	left = lk.active;
	pthread_mutex_unlock(&lk.mu);
	return left;
}

void
listener_status(void)
{
	int	active;

	pthread_mutex_lock(&lk.mu);
	active = lk.active;
	pthread_mutex_unlock(&lk.mu);
	log_info("status sessions_active=%d sessions_total=%lu messages_accepted=%lu "
	    "messages_rejected=%lu bytes_received=%lu refused_connection_rate=%lu "
	    "refused_message_rate=%lu refused_dnsbl=%lu", active,
	    atomic_load(&session_stats.sessions), atomic_load(&session_stats.accepted),
	    atomic_load(&session_stats.rejected), atomic_load(&session_stats.bytes),
	    atomic_load(&session_stats.refused_connection_rate),
	    atomic_load(&session_stats.refused_message_rate),
	    atomic_load(&session_stats.refused_dnsbl));
}

void
listener_counts(struct listener_counts *out)
{
	pthread_mutex_lock(&lk.mu);
	out->active = lk.active;
	out->parked = lk.nparked;
	out->peak_threads = lk.peak_threads;
	pthread_mutex_unlock(&lk.mu);
}
