/* routes.h: the endpoints; the one place where an error becomes an HTTP status and OAuth body. */
#ifndef TB_ROUTES_H
#define TB_ROUTES_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "request.h"

#define TB_HEAD_MAX 4096             /* response header bytes */
#define TB_RESPONSE_MAX (256 * 1024) /* response body bytes */
#define TB_DISCOVERY_MAX_AGE 300     /* seconds discovery and the JWK Set may be cached */
#define TB_RETRY_AFTER 5             /* seconds a client should wait after a 503 */

struct tb_app; /* what lives for the whole process (app.h) */

struct tb_response {
	int status;
	struct tb_buf head; /* "Name: value\r\n" lines, without Status */
	char *body;
	size_t body_len;
};

/* Answers one request at now; *out is the caller's (tb_response_free). Fails only on memory. */
int tb_app_handle(
    struct tb_app *app, const struct tb_request *req, time_t now, struct tb_response **out);
void tb_response_free(struct tb_response *resp);
/* The reason phrase of a status code ("OK"), static. */
const char *tb_status_reason(int status);

#endif
