/* log.h: the one log sink: JSON lines in Cloud Logging's structured form. */
#ifndef TB_LOG_H
#define TB_LOG_H

/*
 * PIPE_BUF: a line, newline included, is one atomic write to a shared pipe or file. Longer lines
 * have their longest labels, then their message, cut; a cut value ends with TB_LOG_CUT_MARK.
 */
#define TB_LOG_LINE_MAX 4096
#define TB_LOG_CUT_MARK "[cut]"

enum tb_severity {
	TB_LOG_DEBUG,
	TB_LOG_INFO,
	TB_LOG_NOTICE,
	TB_LOG_WARNING,
	TB_LOG_ERROR,
	TB_LOG_CRITICAL
};

/*
 * What a request's log lines carry as labels besides event. All borrowed, any may be NULL.
 * Never put a token, key or whole certificate here or in a message.
 */
struct tb_log_ctx {
	const char *trace; /* trace id from X-Cloud-Trace-Context or traceparent */
	const char *client_id;
	const char *x5_sha256;
	const char *x5_serial;
	const char *subject;
	const char *flow;
};

/*
 * Sends lines to file (appended, one write(2) a line, so several processes can share it) or,
 * when file is NULL, to standard error. project is GOOGLE_CLOUD_PROJECT or NULL: with it the
 * trace label becomes projects/PROJECT/traces/ID. Call once at start; 0 or TB_ERR_IO.
 */
int tb_log_open(const char *file, const char *project);
void tb_log_close(void);

/*
 * Sets the context of the request being served (borrowed until cleared with NULL): lines
 * logged with a NULL ctx while it is set, by modules that do not know the request (the Google
 * client), carry its trace and labels too. A FastCGI process serves one request at a time.
 */
void tb_log_set_request(const struct tb_log_ctx *ctx);

/*
 * Writes one line of at most TB_LOG_LINE_MAX bytes: severity, message (printf-style), labels
 * {event, ctx...}, trace. The event is never cut, the message never below 256 bytes.
 */
void tb_log(enum tb_severity sev, const char *event, const struct tb_log_ctx *ctx, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

#endif
