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

#endif
