/* fcgi.c: accepts requests from libfcgi (or the CGI environment), and writes the answers. */
/* ppoll: the wait that unblocks the stop signals atomically (glibc declares it for _GNU_SOURCE) */
#define _GNU_SOURCE
#include "fcgi.h"

#include <errno.h>
#include <fcntl.h>
#include <fcgiapp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "certcache.h"
#include "err.h"
#include "log.h"
#include "request.h"

/* input read after the answer so that a connection can close at once (finish): at most */
#define DRAIN_MAX (64 * 1024)
#define DRAIN_CHUNK 1024

extern char **environ;

static volatile sig_atomic_t stopping;

static void
on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

/* Renders the CGI response: Status line, headers, blank line, body. */
static int
write_response(
    const struct tb_response *resp, int (*write_fn)(void *arg, const char *p, int n), void *arg)
{
	char status[64];
	int n = snprintf(status, sizeof(status), "Status: %d %s\r\n", resp->status,
	    tb_status_reason(resp->status));

	if (write_fn(arg, status, n) < 0 ||
	    (resp->head.len > 0 && write_fn(arg, resp->head.data, (int)resp->head.len) < 0) ||
	    write_fn(arg, "\r\n", 2) < 0 ||
	    (resp->body_len > 0 && write_fn(arg, resp->body, (int)resp->body_len) < 0))
		return TB_ERR_IO;
	return 0;
}

/* A broken request: answered with a bare 500 so the web server has something to send. */
static const char broken[] =
    "Status: 500 Internal Server Error\r\nContent-Type: application/json\r\n"
    "Cache-Control: no-store\r\n\r\n"
    "{\"error\":\"server_error\",\"error_description\":\"Internal error\"}";

static int
handle(struct tb_app *app, char **envp, int (*read_fn)(void *, char *, int), void *rarg,
    int (*write_fn)(void *, const char *, int), void *warg)
{
	struct tb_request *req = NULL;
	struct tb_response *resp = NULL;
	int r;

	if ((r = tb_request_new(&req)) != 0)
		goto out;
	for (; *envp != NULL; envp++)
		if ((r = tb_request_add_param(req, *envp)) != 0 && r != TB_ERR_INVALID)
			goto out;
	if ((r = tb_request_read_body(req, read_fn, rarg)) != 0)
		goto out;
	/* from here on the routes log what goes wrong, with the request's trace */
	if ((r = tb_app_handle(app, req, time(NULL), &resp)) != 0)
		goto answer;
	r = write_response(resp, write_fn, warg);
	goto answer;
out:
	if (r == TB_ERR_LIMIT)
		tb_log(TB_LOG_WARNING, "api.request", NULL,
		    "Refused a request with more than %d parameters or %d bytes of them",
		    TB_PARAMS_MAX, TB_PARAMS_BYTES);
	else if (r != TB_ERR_IO)
		tb_log(TB_LOG_ERROR, "api.request", NULL, "Request failed: %s", tb_err_str(r));
answer:
	if (r != 0 && r != TB_ERR_IO)
		write_fn(warg, broken, (int)sizeof(broken) - 1);
	tb_response_free(resp);
	tb_request_free(req);
	return r;
}

static int
cgi_read(void *arg, char *p, int n)
{
	return (int)fread(p, 1, (size_t)n, (FILE *)arg);
}

static int
cgi_write(void *arg, const char *p, int n)
{
	return fwrite(p, 1, (size_t)n, (FILE *)arg) == (size_t)n ? n : -1;
}

static int
fcgi_read(void *arg, char *p, int n)
{
	return FCGX_GetStr(p, n, (FCGX_Stream *)arg);
}

static int
fcgi_write(void *arg, const char *p, int n)
{
	return FCGX_PutStr(p, n, (FCGX_Stream *)arg);
}

/*
 * Waits, with the signal mask waiting (the stop signals unblocked), until a request can be read:
 * on the connection libfcgi keeps open (a web server that keeps FastCGI connections), else on
 * the listening socket. 0 when one is there, -1 once a stop signal came or the wait failed.
 * When several processes share one listening socket (--workers), another may take the
 * connection after this returns: that socket is non-blocking, so FCGX_Accept_r then fails with
 * EAGAIN at once and the loop waits again here, where a stop is seen. A socket handed over by a
 * web server (standard input) stays blocking as the web server made it: the web servers that
 * spawn us give each process a socket of its own.
 */
static int
wait_for_request(const FCGX_Request *rq, const sigset_t *waiting)
{
	struct pollfd p;

	p.fd = rq->ipcFd >= 0 ? rq->ipcFd : rq->listen_sock;
	p.events = POLLIN;
	while (!stopping) {
		p.revents = 0;
		if (ppoll(&p, 1, NULL, waiting) > 0)
			return 0;
		if (errno != EINTR) {
			tb_log(TB_LOG_CRITICAL, "runtime.shutdown", NULL,
			    "Waiting for requests failed: %s", strerror(errno));
			return -1;
		}
	}
	return -1;
}

/*
 * Ends the request. When libfcgi closes a connection it shuts down its sending side and waits
 * for the web server to close its own (up to 2 s a read), so that input left unread cannot turn
 * the close into a TCP reset that loses the answer; the responder then sits idle for a round
 * trip through the web server's event loop after every request (a profile behind lighttpd put
 * 15% of the responder's samples there). When the request's input has been read to its end,
 * nothing is left to reset: the rest of it (the empty FCGI_STDIN record the web servers send
 * after the body) is read without waiting, and FCGX_Detach makes FCGX_Finish_r close at once.
 * Otherwise, or when the web server keeps the connection, libfcgi's own close is used.
 */
static void
finish(FCGX_Request *rq)
{
	char rest[DRAIN_CHUNK];
	int fd = rq->ipcFd, flags, n, left = DRAIN_MAX;

	if (!rq->keepConnection && fd >= 0 && (flags = fcntl(fd, F_GETFL)) >= 0 &&
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0) {
		while (left > 0 && (n = FCGX_GetStr(rest, (int)sizeof(rest), rq->in)) > 0)
			left -= n;
		/* a read that would have waited is an error of the stream: libfcgi's close then */
		if (FCGX_HasSeenEOF(rq->in) && FCGX_GetError(rq->in) == 0)
			FCGX_Detach(rq);
		if (fcntl(fd, F_SETFL, flags) != 0) /* FCGX_Finish_r writes the end record */
			rq->detached = 0;
	}
	FCGX_Finish_r(rq);
}

/* A lost race for a connection on a shared non-blocking socket: wait again, do not stop. */
static int
accept_again(int r)
{
	return r == -EAGAIN || r == -EWOULDBLOCK || r == -EINTR;
}

/* The FastCGI loop on listening socket fd; ready_fd (or -1) hears once it waits for requests. */
static int
serve_fcgi(struct tb_app *app, int fd, int ready_fd)
{
	struct sigaction sa;
	sigset_t stop_set, waiting;
	FCGX_Request rq;
	struct tb_certcache_stats certs;
	unsigned long served = 0;
	int r;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&rq, fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		tb_log(TB_LOG_CRITICAL, "runtime.startup", NULL, "libfcgi could not start");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	tb_log(TB_LOG_INFO, "runtime.startup", NULL, "token-broker %s serving FastCGI (pid %ld)",
	    PACKAGE_VERSION, (long)getpid());
	/*
	 * The stop signals stay blocked except inside ppoll, which unblocks them atomically with
	 * the wait: one that arrives while a request is served, or between the check of stopping
	 * and the wait, is delivered there and ends the loop; none is lost.
	 */
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGTERM);
	sigaddset(&stop_set, SIGINT);
	sigaddset(&stop_set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &stop_set, &waiting);
	sigdelset(&waiting, SIGTERM);
	sigdelset(&waiting, SIGINT);
	sigdelset(&waiting, SIGUSR1);
	if (ready_fd >= 0) {
		/* the handlers are in place: from now on a SIGTERM means "after this request" */
		if (write(ready_fd, "r", 1) != 1)
			tb_log(TB_LOG_WARNING, "runtime.startup", NULL,
			    "Could not tell the supervisor that this worker serves: %s",
			    strerror(errno));
		close(ready_fd);
	}
	while (wait_for_request(&rq, &waiting) == 0) {
		if ((r = FCGX_Accept_r(&rq)) < 0) {
			if (accept_again(r))
				continue;
			break;
		}
		handle(app, rq.envp, fcgi_read, rq.in, fcgi_write, rq.out);
		finish(&rq);
		served++;
	}
	FCGX_Free(&rq, 1);
	tb_certcache_stats(app->certs, &certs);
	tb_log(TB_LOG_INFO, "runtime.shutdown", NULL,
	    "token-broker stopping after %lu requests (client certificates: %lu parsed, %lu "
	    "answered from the cache)",
	    served, certs.misses, certs.hits);
	return 0;
}

int
tb_fcgi_serve(struct tb_app *app)
{
	int r;

	if (FCGX_IsCGI()) {
		r = handle(app, environ, cgi_read, stdin, cgi_write, stdout);
		fflush(stdout);
		return r == 0 ? 0 : 1;
	}
	return serve_fcgi(app, 0, -1);
}

int
tb_fcgi_serve_socket(struct tb_app *app, int fd, int ready_fd)
{
	return serve_fcgi(app, fd, ready_fd);
}
