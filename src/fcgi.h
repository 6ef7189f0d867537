/* fcgi.h: the FastCGI (and CGI) front: the only module that includes libfcgi's headers. */
#ifndef TB_FCGI_H
#define TB_FCGI_H

#include "routes.h"

/*
 * Serves requests with app: as a FastCGI responder until told to stop (SIGTERM, SIGINT,
 * SIGUSR1), or, when started as a CGI program, the one request of the environment and standard
 * input. Returns the process exit status.
 */
int tb_fcgi_serve(struct tb_app *app);

/*
 * Serves FastCGI requests with app on the listening socket fd (borrowed; non-blocking, since
 * the workers of --listen share it: tb_listen_open and tb_listen_activated make it so) until
 * told to stop, as tb_fcgi_serve does. Once it is ready to accept, writes one byte to ready_fd
 * and closes it (the supervisor's sign that the configuration loaded), when ready_fd >= 0.
 * Returns the process exit status.
 */
int tb_fcgi_serve_socket(struct tb_app *app, int fd, int ready_fd);

#endif
