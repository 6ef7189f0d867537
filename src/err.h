/* err.h: the one table of token-broker's error codes, and their names. */
#ifndef TB_ERR_H
#define TB_ERR_H

/*
 * Functions return 0 or one of these negative codes. The route layer is the one place that turns
 * a code into an HTTP status and an OAuth error; everywhere else only passes it on and logs the
 * detail where it happened.
 */
enum tb_err {
	TB_OK = 0,
	TB_ERR_INTERNAL = -1,   /* a bug or an impossible state: server_error */
	TB_ERR_ALLOC = -2,      /* out of memory */
	TB_ERR_LIMIT = -3,      /* a bounded buffer or input went over its cap */
	TB_ERR_INVALID = -4,    /* malformed input */
	TB_ERR_IO = -5,         /* a file or stream could not be read or written */
	TB_ERR_CONFIG = -6,     /* a bad setting */
	TB_ERR_CRYPTO = -7,     /* OpenSSL refused */
	TB_ERR_NOT_FOUND = -8,  /* no such route, key or member */
	TB_ERR_METHOD = -9,     /* the route exists, the method does not: 405 */
	TB_ERR_MEDIA = -10,     /* unsupported content type: 415 */
	TB_ERR_TOO_LARGE = -11, /* request body over the limit: 413 */
	TB_ERR_REQUEST = -12,   /* invalid_request: missing, repeated or malformed parameter */
	TB_ERR_GRANT = -13,     /* unsupported_grant_type */
	TB_ERR_CLIENT = -14,    /* invalid_client: authentication failed */
	TB_ERR_SCOPE = -15,     /* invalid_scope: the registry does not allow the scope */
	TB_ERR_UNAUTHORIZED =
	    -16,             /* unauthorized_client: the registry does not allow the account */
	TB_ERR_DENIED = -17, /* Google answered 4xx: access_denied */
	TB_ERR_UNAVAILABLE =
	    -18,               /* Google unreachable, timed out or 5xx: temporarily_unavailable */
	TB_ERR_UPSTREAM = -19, /* Google answered something it does not document */
	TB_ERR_TARGET = -20,   /* invalid_target: an audience the client may not ask for */
};

/* The name of an error code, for logs: a static string, never NULL. */
const char *tb_err_str(int r);

#endif
