/* listen.h: the broker's own FastCGI socket (--listen, socket activation) and the supervisor. */
#ifndef TB_LISTEN_H
#define TB_LISTEN_H

#include <stddef.h>
#include <sys/types.h>

#define TB_LISTEN_PATH_MAX 107 /* a unix socket's path: sun_path holds 108 bytes with the NUL */
#define TB_LISTEN_BACKLOG 128  /* connections the kernel queues while every worker is busy */
#define TB_LISTEN_WHY_MAX 512  /* one problem with an address or a socket, as described */
#define TB_WORKERS_MAX 128     /* --workers */
#define TB_SOCKET_MODE_DEFAULT 0660 /* owner and group connect (php-fpm's listen.mode) */

/* Where to listen, as tb_listen_parse read it from --listen. */
struct tb_listen_addr {
	int unix_socket;                   /* unix:PATH, else HOST:PORT */
	char path[TB_LISTEN_PATH_MAX + 1]; /* unix: the socket file */
	char host[256];                    /* TCP: the host, without brackets */
	char port[6];                      /* TCP: 1 to 65535, decimal */
	int loopback;                      /* TCP: the host is a loopback host (valid.c's rule) */
};

/*
 * Parses a --listen address: "unix:PATH" (an absolute path of at most TB_LISTEN_PATH_MAX
 * bytes) or "HOST:PORT", HOST as tb_valid_host accepts it (a name, a dotted IPv4 address, a
 * bracketed IPv6 one) and a port of 1 to 65535. A host that is not a loopback host is refused
 * unless any is 1 (--listen-any): FastCGI has no authentication, and the broker believes the
 * SSL_CLIENT_* variables of whoever connects. Pure. 0 and *out, or TB_ERR_INVALID with why.
 */
int tb_listen_parse(const char *s, int any, struct tb_listen_addr *out, char *why, size_t whylen);

/*
 * Parses --socket-mode: octal permission bits (0600, 660), nothing above 0777. Pure. 0 and
 * *mode, or TB_ERR_INVALID.
 */
int tb_listen_parse_mode(const char *s, mode_t *mode);

/*
 * Parses --socket-owner USER[:GROUP] (either may be a name or a number; ":GROUP" alone changes
 * only the group). *uid or *gid is (uid_t)-1 / (gid_t)-1 for the part left unchanged. 0, or
 * TB_ERR_INVALID with why (no such user or group).
 */
int tb_listen_parse_owner(const char *s, uid_t *uid, gid_t *gid, char *why, size_t whylen);

/*
 * Creates the listening socket for a (non-blocking, close-on-exec). A unix socket file gets
 * mode (it is created with it, never wider), then uid/gid when they are not -1; a stale socket
 * file nobody listens on is replaced, anything else at the path (a live socket, a file that is
 * not a socket) is refused and left alone. Resolved TCP addresses must still be loopback unless
 * a->loopback is 0 (the caller allowed any). 0 and *fd, or an error code with why.
 */
int tb_listen_open(const struct tb_listen_addr *a, mode_t mode, uid_t uid, gid_t gid, int *fd,
    char *why, size_t whylen);

/*
 * Systemd socket activation, as sd_listen_fds(3) reads it: when LISTEN_PID is this process and
 * LISTEN_FDS is 1, *fd is 3 (checked to be a listening stream socket, made non-blocking) and 1
 * is returned; LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are then removed from the
 * environment, so no child takes them for its own. 0 when the variables are not for this
 * process (they are removed all the same), or TB_ERR_CONFIG with why (not one usable socket).
 */
int tb_listen_activated(int *fd, char *why, size_t whylen);

/* What the supervisor runs, given by main.c (the supervisor knows no settings). */
struct tb_supervisor {
	int fd;               /* the listening socket, shared by every worker */
	unsigned workers;     /* how many serve at a time, 1 to TB_WORKERS_MAX */
	const char *env_file; /* --env-file, read again on SIGHUP, or NULL */
	const char
	    *unix_path; /* the socket file the supervisor created (removed at exit), or NULL */
	/*
	 * Checks the settings of the environment in force (environ) in the supervisor before a
	 * generation of workers is started with them; first is 1 at start (open the log there).
	 * 0 when usable; else the check has logged why.
	 */
	int (*check)(void *arg, int first);
	/*
	 * A worker's life, in the child: loads the settings of environ, writes one byte to
	 * ready_fd (and closes it) once it serves fd, serves until SIGTERM. The exit status.
	 */
	int (*work)(void *arg, int fd, int ready_fd);
	void *arg;
};

/*
 * The supervisor: the parent process of --listen (or of socket activation), which never
 * serves. Starts s->workers workers, each with the environment of start plus the env file's
 * settings (the environment wins), and restarts one that exits (after a growing pause when
 * they die at start, so a broken host is not a fork loop). SIGHUP reads the env file again and
 * replaces the workers one at a time: a new one must be ready before an old one is told to
 * stop, and a configuration that does not load is refused with an ERROR line while the old
 * workers go on. SIGTERM or SIGINT stops every worker after its request in progress, then the
 * supervisor. Logs a line per start, exit and restart. Returns the process exit status: 0 after
 * a stop, 1 when the first workers could not start.
 */
int tb_supervise(const struct tb_supervisor *s);

#endif
