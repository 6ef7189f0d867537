/* google.h: the client of Google's STS, IAM Credentials and metadata server APIs (libcurl). */
#ifndef TB_GOOGLE_H
#define TB_GOOGLE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TB_UPSTREAM_MAX (64 * 1024) /* bytes accepted in one reply from Google */
#define TB_DETAIL_MAX 512           /* room for Google's own error text */

struct tb_google; /* one per process: keeps connections, DNS and TLS sessions across requests */

/*
 * Creates the client. sts and iam are base URLs without /v1 (https://sts.googleapis.com), meta is
 * the metadata server as host[:port]; timeout is seconds for one call. Plain http:// is accepted
 * only for loopback hosts. *out is the caller's (tb_google_free).
 */
int tb_google_new(
    const char *sts, const char *iam, const char *meta, long timeout, struct tb_google **out);
void tb_google_free(struct tb_google *g);

/*
 * The calls below return 0, or:
 *   TB_ERR_DENIED       Google answered 4xx; detail holds Google's code and message
 *   TB_ERR_UNAVAILABLE  unreachable, timed out, reset, 5xx, or 408/429 (retry later)
 *   TB_ERR_REQUEST      an input that comes from the client is unusable (scope, account)
 *   TB_ERR_INVALID      an input from the caller is unusable (a bug), TB_ERR_ALLOC
 *   TB_ERR_UPSTREAM     a reply that is not what Google documents (or over TB_UPSTREAM_MAX)
 * and log the detail themselves. detail (TB_DETAIL_MAX bytes) is always NUL-terminated.
 * Tokens they return are the caller's (free with tb_free_secret).
 */

/* STS token exchange (RFC 8693) of an ID token for a federated access token. */
int tb_google_sts_exchange(struct tb_google *g, const char *audience, const char *id_token,
    const char *scope, char **access_token, int64_t *expires_in, char *detail);

/* IAM Credentials generateAccessToken for account, with bearer; scope is space-separated. */
int tb_google_generate_access_token(struct tb_google *g, const char *bearer, const char *account,
    const char *scope, int64_t lifetime, time_t now, char **access_token, int64_t *expires_in,
    char *detail);

/*
 * IAM Credentials signJwt as account ("default": the metadata server's account), authenticated
 * with the metadata server's access token (cached until a minute before it expires).
 */
int tb_google_sign_jwt(struct tb_google *g, const char *account, const char *payload, time_t now,
    char **jwt, char *detail);

/* The email of the metadata server's default service account, into *email (caller's). */
int tb_google_default_account(struct tb_google *g, char **email, char *detail);

/*
 * The readers of Google's replies, one for each API the calls above use. They are pure (no I/O,
 * no log: the calls log what they return), so the fuzz target runs them on any bytes. Each takes
 * the HTTP status and the body (len bytes, no NUL needed; NULL when len is 0) and returns 0 with
 * the result (the caller's: tb_free_secret for tokens, free for the email), or one of the codes
 * above (TB_ERR_DENIED, TB_ERR_UNAVAILABLE, TB_ERR_UPSTREAM, TB_ERR_ALLOC) with the results NULL
 * and 0. detail (TB_DETAIL_MAX bytes) is always NUL-terminated and printable; it quotes Google's
 * error text, never a 2xx body (that may hold a token).
 */
/* STS token: {"access_token", "expires_in"}; errors as OAuth's or Google's envelope. */
int tb_google_read_sts(long status, const char *body, size_t len, char **access_token,
    int64_t *expires_in, char *detail);
/* generateAccessToken: {"accessToken", "expireTime"}; *expires_in is seconds after now. */
int tb_google_read_access_token(long status, const char *body, size_t len, time_t now,
    char **access_token, int64_t *expires_in, char *detail);
/* signJwt: {"signedJwt"}, a compact JWS. */
int tb_google_read_signed_jwt(long status, const char *body, size_t len, char **jwt, char *detail);
/* The metadata server's token: {"access_token", "expires_in"}. */
int tb_google_read_metadata_token(
    long status, const char *body, size_t len, char **token, int64_t *expires_in, char *detail);
/* The metadata server's email: plain text, perhaps with a line break after it. */
int tb_google_read_metadata_email(
    long status, const char *body, size_t len, char **email, char *detail);

#endif
