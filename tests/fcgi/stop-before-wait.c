/* stop-before-wait.c: an LD_PRELOAD shim that sends the process SIGTERM right before it first
 * blocks waiting for a FastCGI connection (in accept or ppoll), the moment a stop signal that
 * arrives between the serving loop's check and its wait would be lost. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

static volatile sig_atomic_t raised;

static void
stop_once(void)
{
	if (!raised) {
		raised = 1;
		raise(SIGTERM);
	}
}

int
accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	int (*real)(int, struct sockaddr *, socklen_t *) =
	    (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");

	stop_once();
	return real(fd, addr, len);
}

int
ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *mask)
{
	int (*real)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *) =
	    (int (*)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *))dlsym(
	        RTLD_NEXT, "ppoll");

	stop_once();
	return real(fds, n, timeout, mask);
}
