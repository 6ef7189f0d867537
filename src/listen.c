/* listen.c: the broker's own listening socket (--listen or systemd's), and the supervisor. */
/* ppoll, pipe2, accept4's flags on socket(): Linux interfaces behind _GNU_SOURCE */
#define _GNU_SOURCE
#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "envfile.h"
#include "err.h"
#include "log.h"
#include "text.h"
#include "valid.h"

extern char **environ;

#define READY_TIMEOUT_MS 60000 /* a worker not serving by then is killed: a failed start */
#define QUICK_EXIT_MS 2000     /* a worker gone this soon after its start died at start */
#define BACKOFF_FIRST_MS 100   /* the pause before restarting after one such death, doubled */
#define BACKOFF_MAX_MS 30000   /* after each further one, up to this */

/* ---- addresses ------------------------------------------------------------------------- */

static int
parse_unix(const char *path, struct tb_listen_addr *out, char *why, size_t whylen)
{
	size_t n = strlen(path);

	if (path[0] != '/') {
		tb_whyf(why, whylen, "unix:%s: the socket's path must be absolute", path);
		return TB_ERR_INVALID;
	}
	if (n > TB_LISTEN_PATH_MAX) {
		tb_whyf(why, whylen, "unix:%.64s...: a socket's path has at most %d bytes", path,
		    TB_LISTEN_PATH_MAX);
		return TB_ERR_INVALID;
	}
	out->unix_socket = 1;
	memcpy(out->path, path, n + 1);
	return 0;
}

int
tb_listen_parse(const char *s, int any, struct tb_listen_addr *out, char *why, size_t whylen)
{
	size_t n = strlen(s), h;
	const char *colon;

	memset(out, 0, sizeof(*out));
	if (strncmp(s, "unix:", 5) == 0)
		return parse_unix(s + 5, out, why, whylen);
	/* the port follows the last colon: an IPv6 host has its colons inside brackets */
	colon = strrchr(s, ':');
	h = colon != NULL ? (size_t)(colon - s) : n;
	if (colon == NULL || !tb_valid_authority(s, n) || !tb_valid_host(s, h)) {
		tb_whyf(why, whylen,
		    "'%.300s' is neither unix:PATH nor HOST:PORT (a host name, an IPv4 "
		    "address or a bracketed IPv6 one, and a port of 1 to 65535)",
		    s);
		return TB_ERR_INVALID;
	}
	out->loopback = tb_valid_loopback(s, h);
	if (!out->loopback && !any) {
		tb_whyf(why, whylen,
		    "%.300s is not a loopback address: FastCGI has no authentication and the "
		    "broker believes the SSL_CLIENT_* variables of whoever connects; give "
		    "--listen-any to listen there all the same (behind a firewall)",
		    s);
		return TB_ERR_INVALID;
	}
	if (s[0] == '[')
		snprintf(out->host, sizeof(out->host), "%.*s", (int)(h - 2), s + 1);
	else
		snprintf(out->host, sizeof(out->host), "%.*s", (int)h, s);
	snprintf(out->port, sizeof(out->port), "%s", colon + 1);
	return 0;
}

int
tb_listen_parse_mode(const char *s, mode_t *mode)
{
	size_t i;
	unsigned long m = 0;

	if (s[0] == '\0' || strlen(s) > 4)
		return TB_ERR_INVALID;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '7')
			return TB_ERR_INVALID;
		m = m * 8 + (unsigned long)(s[i] - '0');
	}
	if (m > 0777)
		return TB_ERR_INVALID;
	*mode = (mode_t)m;
	return 0;
}

/* A user or group as a name or a plain decimal id; *id, or -1 when the part is empty. */
static int
owner_part(const char *s, size_t n, int group, long *id, char *why, size_t whylen)
{
	char name[256];
	struct passwd *pw;
	struct group *gr;
	long v;

	*id = -1;
	if (n == 0)
		return 0;
	if (n >= sizeof(name)) {
		tb_whyf(
		    why, whylen, "--socket-owner: a name of at most %zu bytes", sizeof(name) - 1);
		return TB_ERR_INVALID;
	}
	memcpy(name, s, n);
	name[n] = '\0';
	if (tb_valid_decimal(name, 0, (long)INT32_MAX - 1, &v) == 0) {
		*id = v;
		return 0;
	}
	/* cppcheck-suppress [getgrnamCalled, getpwnamCalled] ; one thread parses the options */
	if (group ? (gr = getgrnam(name)) != NULL : (pw = getpwnam(name)) != NULL) {
		*id = group ? (long)gr->gr_gid : (long)pw->pw_uid;
		return 0;
	}
	tb_whyf(why, whylen, "--socket-owner: no %s '%s'", group ? "group" : "user", name);
	return TB_ERR_INVALID;
}

int
tb_listen_parse_owner(const char *s, uid_t *uid, gid_t *gid, char *why, size_t whylen)
{
	const char *colon = strchr(s, ':');
	size_t un = colon != NULL ? (size_t)(colon - s) : strlen(s);
	long u, g = -1;
	int r;

	if ((r = owner_part(s, un, 0, &u, why, whylen)) != 0 ||
	    (colon != NULL &&
	        (r = owner_part(colon + 1, strlen(colon + 1), 1, &g, why, whylen)) != 0))
		return r;
	if (u < 0 && g < 0) {
		tb_whyf(why, whylen, "--socket-owner: USER, USER:GROUP or :GROUP");
		return TB_ERR_INVALID;
	}
	*uid = (uid_t)u; /* -1 becomes (uid_t)-1: chown's "unchanged" */
	*gid = (gid_t)g;
	return 0;
}

/* ---- sockets --------------------------------------------------------------------------- */

/*
 * What is at a unix socket's path before bind: nothing (0), a stale socket nobody listens on
 * (removed: 0), or something to leave alone (TB_ERR_CONFIG).
 */
static int
clear_path(const char *path, char *why, size_t whylen)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, r = TB_ERR_CONFIG;

	if (lstat(path, &st) != 0)
		return errno == ENOENT
		           ? 0
		           : (tb_whyf(why, whylen, "%s: %s", path, strerror(errno)), TB_ERR_CONFIG);
	if (!S_ISSOCK(st.st_mode)) {
		tb_whyf(why, whylen, "%s exists and is not a socket: not removed", path);
		return TB_ERR_CONFIG;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		tb_whyf(why, whylen, "socket: %s", strerror(errno));
		return TB_ERR_IO;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		tb_whyf(why, whylen, "%s: another process listens on it", path);
	else if (errno != ECONNREFUSED)
		tb_whyf(why, whylen, "%s: %s", path, strerror(errno));
	else if (unlink(path) != 0)
		tb_whyf(why, whylen, "%s: a stale socket that cannot be removed: %s", path,
		    strerror(errno));
	else {
		tb_log(TB_LOG_NOTICE, "runtime.startup", NULL,
		    "Removed the stale socket %s (no process listened on it)", path);
		r = 0;
	}
	close(fd);
	return r;
}

static int
open_unix(const struct tb_listen_addr *a, mode_t mode, uid_t uid, gid_t gid, int *out, char *why,
    size_t whylen)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd = -1, r;

	if ((r = clear_path(a->path, why, whylen)) != 0)
		return r;
	r = TB_ERR_IO;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		tb_whyf(why, whylen, "socket: %s", strerror(errno));
		goto out;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, a->path, strlen(a->path) + 1);
	/* created with mode at most: nobody else can connect in the moment before the chmod */
	old = umask((mode_t)(~mode & 0777));
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r != 0) {
		tb_whyf(why, whylen, "unix:%s: %s", a->path, strerror(errno));
		r = TB_ERR_IO;
		goto out;
	}
	r = TB_ERR_IO;
	if (chmod(a->path, mode) != 0 ||
	    ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(a->path, uid, gid) != 0)) {
		tb_whyf(why, whylen, "unix:%s: cannot set the mode %04o or the owner: %s", a->path,
		    (unsigned)mode, strerror(errno));
		unlink(a->path);
		goto out;
	}
	if (listen(fd, TB_LISTEN_BACKLOG) != 0) {
		tb_whyf(why, whylen, "unix:%s: listen: %s", a->path, strerror(errno));
		unlink(a->path);
		goto out;
	}
	*out = fd;
	fd = -1; /* transferred */
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

static int
is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >>
		           24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
	return 0;
}

static int
open_tcp(const struct tb_listen_addr *a, int *out, char *why, size_t whylen)
{
	struct addrinfo hints, *ai = NULL;
	int fd = -1, one = 1, r = TB_ERR_IO, e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((e = getaddrinfo(a->host, a->port, &hints, &ai)) != 0) {
		tb_whyf(why, whylen, "%s: %s", a->host, gai_strerror(e));
		goto out;
	}
	/* a name such as localhost is loopback by its text; what it resolves to must be too */
	if (a->loopback && !is_loopback(ai->ai_addr)) {
		tb_whyf(why, whylen, "%s resolves to an address that is not loopback", a->host);
		r = TB_ERR_CONFIG;
		goto out;
	}
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, TB_LISTEN_BACKLOG) != 0) {
		tb_whyf(why, whylen, "%s port %s: %s", a->host, a->port, strerror(errno));
		goto out;
	}
	*out = fd;
	fd = -1; /* transferred */
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	return r;
}

int
tb_listen_open(const struct tb_listen_addr *a, mode_t mode, uid_t uid, gid_t gid, int *fd,
    char *why, size_t whylen)
{
	*fd = -1;
	return a->unix_socket ? open_unix(a, mode, uid, gid, fd, why, whylen)
	                      : open_tcp(a, fd, why, whylen);
}

int
tb_listen_activated(int *fd, char *why, size_t whylen)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	long p = 0, n = 0;
	int type = 0, acc = 0, r = 0, fl;
	socklen_t len = sizeof(type);
	struct stat st;

	*fd = -1;
	if (pid == NULL || fds == NULL || tb_valid_decimal(pid, 1, INT32_MAX, &p) != 0 ||
	    p != (long)getpid())
		goto out; /* not for this process */
	if (tb_valid_decimal(fds, 0, INT32_MAX, &n) != 0 || n != 1) {
		tb_whyf(why, whylen,
		    "LISTEN_FDS: systemd passed '%.20s' sockets; token-broker serves one (one "
		    "ListenStream= in the socket unit)",
		    fds);
		r = TB_ERR_CONFIG;
		goto out;
	}
	if (fstat(3, &st) != 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM ||
	    (len = sizeof(acc), getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len)) != 0 ||
	    !acc || (fl = fcntl(3, F_GETFL)) < 0 || fcntl(3, F_SETFL, fl | O_NONBLOCK) != 0 ||
	    fcntl(3, F_SETFD, FD_CLOEXEC) != 0) {
		tb_whyf(
		    why, whylen, "LISTEN_FDS: file descriptor 3 is not a listening stream socket");
		r = TB_ERR_CONFIG;
		goto out;
	}
	*fd = 3;
	r = 1;
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return r;
}

/* ---- the supervisor -------------------------------------------------------------------- */

static volatile sig_atomic_t got_chld, got_term, got_hup;

static void
on_signal(int sig)
{
	if (sig == SIGCHLD)
		got_chld = 1;
	else if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = 1;
}

/* One configuration: the environment its workers get. */
struct gen {
	char **envp;
	unsigned id;
	unsigned refs; /* workers started with it */
};

enum wstate { W_FREE, W_STARTING, W_READY, W_STOPPING };

struct worker {
	pid_t pid;
	enum wstate state;
	struct gen *gen;
	int ready_fd; /* W_STARTING: the read end of its readiness pipe, or -1 after EOF */
	long started; /* ms, monotonic */
};

struct sup {
	const struct tb_supervisor *s;
	struct worker w[TB_WORKERS_MAX + 1]; /* one more for the replacement during a reload */
	struct gen *current; /* what restarts get: the last configuration that loaded */
	struct gen *cand;    /* SIGHUP's configuration while it replaces the workers */
	unsigned next_gen;
	unsigned quick;   /* workers in a row that died soon after their start */
	long restart_at;  /* ms: no restart before (the backoff) */
	int ever_ready;   /* a worker has served: until then, a failed start is fatal */
	int stopping;     /* SIGTERM, or the first workers failed */
	int status;       /* the exit status once stopped */
	sigset_t waiting; /* the mask inside ppoll: our signals unblocked */
	sigset_t child;   /* the mask a worker starts with: the one the supervisor started with */
};

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
gen_release(struct sup *u, struct gen *g)
{
	if (g == NULL || g->refs > 0 || g == u->current || g == u->cand)
		return;
	tb_envfile_environ_free(g->envp);
	free(g);
}

/*
 * A configuration from the env file (or none) over the environment of start, checked in this
 * process with it in force. 0 and *out, or an error that is already logged.
 */
static int
gen_new(struct sup *u, char *const *base, int first, struct gen **out)
{
	struct tb_envfile *ef = NULL;
	struct gen *g = NULL;
	char why[TB_ENVFILE_WHY_MAX], **saved = environ;
	int r = TB_ERR_ALLOC;

	*out = NULL;
	if (u->s->env_file != NULL &&
	    (r = tb_envfile_load(u->s->env_file, &ef, why, sizeof(why))) != 0) {
		tb_log(first ? TB_LOG_CRITICAL : TB_LOG_ERROR,
		    first ? "runtime.startup" : "runtime.reload", NULL, "--env-file: %s", why);
		goto out;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL || tb_envfile_environ(ef, base, &g->envp) != 0) {
		tb_log(TB_LOG_CRITICAL, "runtime.reload", NULL, "Out of memory");
		r = TB_ERR_ALLOC;
		goto out;
	}
	environ = g->envp;
	r = u->s->check(u->s->arg, first) == 0 ? 0 : TB_ERR_CONFIG;
	environ = saved;
	if (r != 0)
		goto out;
	g->id = u->next_gen++;
	*out = g;
	g = NULL; /* transferred */
out:
	if (g != NULL)
		tb_envfile_environ_free(g->envp);
	free(g);
	tb_envfile_free(ef);
	return r;
}

/* In the new child: its own signals, environment and parent-death signal, then its life. */
static void
child(struct sup *u, struct gen *g, int ready_fd, pid_t parent)
{
	struct sigaction sa;
	size_t i;

	for (i = 0; i < TB_WORKERS_MAX + 1; i++)
		if (u->w[i].state == W_STARTING && u->w[i].ready_fd >= 0)
			close(u->w[i].ready_fd);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN; /* a reload is the supervisor's: a HUP to the group is not ours */
	sigaction(SIGHUP, &sa, NULL);
	sigprocmask(SIG_SETMASK, &u->child, NULL);
	/* a supervisor killed outright (SIGKILL) takes its workers with it */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
		_exit(1);
	environ = g->envp;
	exit(u->s->work(u->s->arg, u->s->fd, ready_fd));
}

static void
start_worker(struct sup *u, struct gen *g)
{
	struct worker *w = NULL;
	int p[2];
	pid_t pid, parent = getpid();
	size_t i;

	for (i = 0; i < TB_WORKERS_MAX + 1 && w == NULL; i++)
		if (u->w[i].state == W_FREE)
			w = &u->w[i];
	if (w == NULL)
		return;
	if (pipe2(p, O_CLOEXEC) != 0) {
		tb_log(TB_LOG_ERROR, "runtime.worker", NULL, "Cannot start a worker: pipe: %s",
		    strerror(errno));
		u->restart_at = now_ms() + BACKOFF_FIRST_MS;
		return;
	}
	if ((pid = fork()) < 0) {
		tb_log(TB_LOG_ERROR, "runtime.worker", NULL, "Cannot start a worker: fork: %s",
		    strerror(errno));
		close(p[0]);
		close(p[1]);
		u->restart_at = now_ms() + BACKOFF_FIRST_MS;
		return;
	}
	if (pid == 0) {
		close(p[0]);
		child(u, g, p[1], parent);
	}
	close(p[1]);
	w->pid = pid;
	w->state = W_STARTING;
	w->gen = g;
	w->ready_fd = p[0];
	w->started = now_ms();
	g->refs++;
	tb_log(TB_LOG_INFO, "runtime.worker", NULL, "Worker %ld started (configuration %u)",
	    (long)pid, g->id);
}

static size_t
count(const struct sup *u, int live, const struct gen *g, int other)
{
	size_t i, n = 0;

	for (i = 0; i < TB_WORKERS_MAX + 1; i++) {
		const struct worker *w = &u->w[i];

		if (w->state == W_FREE || (live && w->state == W_STOPPING))
			continue;
		if (g == NULL || (other ? w->gen != g : w->gen == g))
			n++;
	}
	return n;
}

static void
stop_all(struct sup *u, int status)
{
	size_t i;

	if (!u->stopping)
		tb_log(TB_LOG_INFO, "runtime.shutdown", NULL,
		    "Stopping: each worker finishes the request it serves, then exits");
	u->stopping = 1;
	u->status = status;
	for (i = 0; i < TB_WORKERS_MAX + 1; i++)
		if (u->w[i].state != W_FREE) {
			kill(u->w[i].pid, SIGTERM);
			u->w[i].state = W_STOPPING;
		}
}

/* A worker of the reload's configuration serves: it becomes the one in force, an old one goes. */
static void
on_ready(struct sup *u, struct worker *w)
{
	size_t i;

	w->state = W_READY;
	close(w->ready_fd);
	w->ready_fd = -1;
	u->ever_ready = 1;
	tb_log(TB_LOG_INFO, "runtime.worker", NULL, "Worker %ld serves", (long)w->pid);
	if (w->gen != u->cand)
		return;
	if (u->current != u->cand) {
		struct gen *old = u->current;

		u->current = u->cand;
		gen_release(u, old);
	}
	for (i = 0; i < TB_WORKERS_MAX + 1; i++)
		if (u->w[i].state == W_READY && u->w[i].gen != u->cand) {
			tb_log(TB_LOG_INFO, "runtime.reload", NULL,
			    "Stopping worker %ld of configuration %u after its request in progress",
			    (long)u->w[i].pid, u->w[i].gen->id);
			kill(u->w[i].pid, SIGTERM);
			u->w[i].state = W_STOPPING;
			break;
		}
}

static void
log_exit(const struct worker *w, int st)
{
	static const char *const how[] = {"starting", "starting", "serving", "stopping"};

	if (WIFEXITED(st))
		tb_log(w->state == W_STOPPING && WEXITSTATUS(st) == 0 ? TB_LOG_INFO : TB_LOG_ERROR,
		    "runtime.worker", NULL, "Worker %ld exited with status %d while %s",
		    (long)w->pid, WEXITSTATUS(st), how[w->state]);
	else
		tb_log(TB_LOG_ERROR, "runtime.worker", NULL,
		    "Worker %ld was killed by signal %d while %s", (long)w->pid,
		    WIFSIGNALED(st) ? WTERMSIG(st) : 0, how[w->state]);
}

/* What the exit of w means: nothing (a stop), a refused reload, a fatal start, or a restart. */
static void
on_exit_worker(struct sup *u, struct worker *w, int st)
{
	long now = now_ms(), delay;
	struct gen *g = w->gen;

	log_exit(w, st);
	if (w->ready_fd >= 0)
		close(w->ready_fd);
	if (u->stopping || w->state == W_STOPPING) {
		/* nothing more */
	} else if (w->state == W_STARTING && g == u->cand && g != u->current) {
		tb_log(TB_LOG_ERROR, "runtime.reload", NULL,
		    "SIGHUP: the new configuration does not load (its first worker exited); it is "
		    "refused and the workers of configuration %u go on serving",
		    u->current->id);
		u->cand = NULL;
	} else if (!u->ever_ready) {
		tb_log(TB_LOG_CRITICAL, "runtime.startup", NULL,
		    "The first worker did not start: the configuration does not load");
		stop_all(u, 1);
	} else {
		u->quick = now - w->started < QUICK_EXIT_MS ? u->quick + 1 : 0;
		delay = u->quick == 0 ? 0 : BACKOFF_FIRST_MS << (u->quick > 9 ? 9 : u->quick - 1);
		if (delay > BACKOFF_MAX_MS)
			delay = BACKOFF_MAX_MS;
		if (now + delay > u->restart_at)
			u->restart_at = now + delay;
		tb_log(
		    TB_LOG_WARNING, "runtime.worker", NULL, "Restarting a worker in %ld ms", delay);
	}
	memset(w, 0, sizeof(*w));
	w->ready_fd = -1;
	if (g != NULL) { /* every started worker has one */
		g->refs--;
		gen_release(u, g);
	}
}

static void
reap(struct sup *u)
{
	pid_t pid;
	int st;
	size_t i;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		for (i = 0; i < TB_WORKERS_MAX + 1; i++)
			if (u->w[i].state != W_FREE && u->w[i].pid == pid) {
				on_exit_worker(u, &u->w[i], st);
				break;
			}
}

static void
begin_reload(struct sup *u, char *const *base)
{
	struct gen *g = NULL;

	tb_log(TB_LOG_INFO, "runtime.reload", NULL, "SIGHUP: reading the configuration again");
	if (gen_new(u, base, 0, &g) != 0) {
		tb_log(TB_LOG_ERROR, "runtime.reload", NULL,
		    "SIGHUP: the new configuration is refused; the workers of configuration %u go "
		    "on serving",
		    u->current->id);
		return;
	}
	u->cand = g;
	tb_log(TB_LOG_INFO, "runtime.reload", NULL,
	    "SIGHUP: configuration %u replaces the workers one at a time", g->id);
}

/* Starts what is missing: restarts (after the backoff), and a reload's next replacement. */
static void
top_up(struct sup *u, long now)
{
	unsigned n = u->s->workers;

	while (count(u, 1, NULL, 0) < n && now >= u->restart_at) {
		size_t before = count(u, 0, NULL, 0);

		start_worker(u, u->current);
		if (count(u, 0, NULL, 0) == before)
			break; /* no free slot (a stopping worker holds it), or it logged why */
	}
	if (u->cand == NULL)
		return;
	if (count(u, 1, u->cand, 1) == 0 && u->cand == u->current) {
		tb_log(TB_LOG_INFO, "runtime.reload", NULL,
		    "SIGHUP: every worker now serves configuration %u", u->cand->id);
		u->cand = NULL;
		return;
	}
	if (count(u, 1, NULL, 0) <= n) {
		size_t i, starting = 0, old_ready = 0;

		for (i = 0; i < TB_WORKERS_MAX + 1; i++) {
			starting += u->w[i].state == W_STARTING && u->w[i].gen == u->cand;
			old_ready += u->w[i].state == W_READY && u->w[i].gen != u->cand;
		}
		if (starting == 0 && old_ready > 0)
			start_worker(u, u->cand);
	}
}

/* How long ppoll may sleep: until the backoff ends or a start's deadline, else forever. */
static int
timeout_ms(const struct sup *u, long now)
{
	long t = -1;
	size_t i;

	if (!u->stopping && count(u, 1, NULL, 0) < u->s->workers)
		t = u->restart_at > now ? u->restart_at - now : 0;
	for (i = 0; i < TB_WORKERS_MAX + 1; i++)
		if (u->w[i].state == W_STARTING && u->w[i].ready_fd >= 0) {
			long left = u->w[i].started + READY_TIMEOUT_MS - now;

			left = left > 0 ? left : 0;
			t = t < 0 || left < t ? left : t;
		}
	return (int)t;
}

/* One wait: signals, readiness bytes, EOF of a failed start, deadlines. */
static void
wait_once(struct sup *u)
{
	struct pollfd p[TB_WORKERS_MAX + 1];
	struct worker *of[TB_WORKERS_MAX + 1];
	struct timespec ts, *tsp = NULL;
	size_t i, n = 0;
	long now = now_ms();
	int t = timeout_ms(u, now);
	char c;

	for (i = 0; i < TB_WORKERS_MAX + 1; i++)
		if (u->w[i].state == W_STARTING && u->w[i].ready_fd >= 0) {
			p[n].fd = u->w[i].ready_fd;
			p[n].events = POLLIN;
			p[n].revents = 0;
			of[n++] = &u->w[i];
		}
	if (t >= 0) {
		ts.tv_sec = t / 1000;
		ts.tv_nsec = (long)(t % 1000) * 1000000;
		tsp = &ts;
	}
	if (ppoll(p, n, tsp, &u->waiting) < 0)
		return; /* a signal: the loop looks at the flags */
	for (i = 0; i < n; i++) {
		if (p[i].revents == 0)
			continue;
		if (read(p[i].fd, &c, 1) == 1 && !u->stopping)
			on_ready(u, of[i]);
		else if (of[i]->state == W_STARTING) { /* EOF: it failed; its exit follows */
			close(of[i]->ready_fd);
			of[i]->ready_fd = -1;
		}
	}
	now = now_ms();
	for (i = 0; i < TB_WORKERS_MAX + 1; i++)
		if (u->w[i].state == W_STARTING && now - u->w[i].started >= READY_TIMEOUT_MS &&
		    u->w[i].ready_fd >= 0) {
			tb_log(TB_LOG_ERROR, "runtime.worker", NULL,
			    "Worker %ld did not start within %d s: killed", (long)u->w[i].pid,
			    READY_TIMEOUT_MS / 1000);
			kill(u->w[i].pid, SIGKILL);
			close(u->w[i].ready_fd);
			u->w[i].ready_fd = -1;
		}
}

/* The environment of start, copied: each configuration is built over it. */
static char **
copy_environ(void)
{
	char **env;
	size_t n, i;

	for (n = 0; environ[n] != NULL; n++)
		;
	if ((env = calloc(n + 1, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if ((env[i] = strdup(environ[i])) == NULL) {
			tb_envfile_environ_free(env);
			return NULL;
		}
	return env;
}

/* The socket file is removed at exit only while it is still the one this process made. */
static void
remove_socket(const char *path, const struct stat *made)
{
	struct stat st;

	if (path != NULL && lstat(path, &st) == 0 && st.st_dev == made->st_dev &&
	    st.st_ino == made->st_ino)
		unlink(path);
}

static void
signals(struct sup *u)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* blocked but inside ppoll, as in fcgi.c: none is lost between a check and the wait */
	sigprocmask(SIG_BLOCK, &set, &u->child);
	u->waiting = u->child;
	sigdelset(&u->waiting, SIGCHLD);
	sigdelset(&u->waiting, SIGTERM);
	sigdelset(&u->waiting, SIGINT);
	sigdelset(&u->waiting, SIGHUP);
}

int
tb_supervise(const struct tb_supervisor *s)
{
	struct sup *u = NULL;
	struct stat made;
	char **base = NULL;
	int status = 1, have_made;
	size_t i;

	have_made = s->unix_path != NULL && lstat(s->unix_path, &made) == 0;
	if ((u = calloc(1, sizeof(*u))) == NULL || (base = copy_environ()) == NULL) {
		tb_log(TB_LOG_CRITICAL, "runtime.startup", NULL, "Out of memory");
		goto out;
	}
	u->s = s;
	for (i = 0; i < TB_WORKERS_MAX + 1; i++)
		u->w[i].ready_fd = -1;
	u->next_gen = 1;
	signals(u);
	if (gen_new(u, base, 1, &u->current) != 0)
		goto out;
	tb_log(TB_LOG_INFO, "runtime.startup", NULL,
	    "token-broker %s supervisor (pid %ld) starts %u workers", PACKAGE_VERSION,
	    (long)getpid(), s->workers);
	for (;;) {
		if (got_term) {
			got_term = 0;
			stop_all(u, u->stopping ? u->status : 0);
		}
		if (got_chld) {
			got_chld = 0;
			reap(u);
		}
		if (u->stopping && count(u, 0, NULL, 0) == 0)
			break;
		if (!u->stopping) {
			if (got_hup && u->cand == NULL) {
				got_hup = 0;
				begin_reload(u, base);
			}
			top_up(u, now_ms());
		}
		wait_once(u);
	}
	status = u->status;
	tb_log(TB_LOG_INFO, "runtime.shutdown", NULL, "token-broker supervisor stopping");
out:
	if (have_made)
		remove_socket(s->unix_path, &made);
	if (u != NULL) {
		struct gen *cur = u->current, *cand = u->cand;

		u->current = u->cand = NULL;
		gen_release(u, cur);
		if (cand != cur)
			gen_release(u, cand);
	}
	free(u);
	tb_envfile_environ_free(base);
	return status;
}
