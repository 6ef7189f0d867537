/* log.c: JSON log lines (Cloud Logging structured form) to standard error or LOG_FILE. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "json.h"

#define MESSAGE_MAX 2048 /* bytes of message text; longer messages are cut */
#define MESSAGE_MIN 256  /* the message is never cut shorter than this */
#define LABEL_MAX 1024   /* bytes of a label value before the line's size cuts it further */
#define LABEL_MIN 64     /* labels are cut this far before the message is */
#define LABEL_ROOM (LABEL_MAX + sizeof(TB_LOG_CUT_MARK))
#define TRACE_MAX 256 /* bytes of the trace, with projects/PROJECT/traces/ */
#define UTF8_MAX 4    /* bytes of one UTF-8 character */

static int log_fd = 2;
static char *log_project;
static const struct tb_log_ctx *log_request; /* the request being served, or NULL */

static const char *const severity_names[] = {
    [TB_LOG_DEBUG] = "DEBUG",
    [TB_LOG_INFO] = "INFO",
    [TB_LOG_NOTICE] = "NOTICE",
    [TB_LOG_WARNING] = "WARNING",
    [TB_LOG_ERROR] = "ERROR",
    [TB_LOG_CRITICAL] = "CRITICAL",
};

int
tb_log_open(const char *file, const char *project)
{
	int fd;

	tb_log_close();
	if (project != NULL && *project != '\0' && (log_project = strdup(project)) == NULL)
		return TB_ERR_ALLOC;
	if (file == NULL || *file == '\0')
		return 0;
	if ((fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) < 0)
		return TB_ERR_IO;
	log_fd = fd;
	return 0;
}

void
tb_log_set_request(const struct tb_log_ctx *ctx)
{
	log_request = ctx;
}

void
tb_log_close(void)
{
	if (log_fd > 2)
		close(log_fd);
	log_fd = 2;
	free(log_project);
	log_project = NULL;
}

/*
 * A value of at most max bytes for the line: s itself when it fits, else its first bytes in
 * dst (max + sizeof(TB_LOG_CUT_MARK) bytes) followed by the mark. The cut falls between
 * characters, never inside a UTF-8 sequence, and before rendering, so never inside a JSON
 * escape either.
 */
static const char *
cut(char *dst, const char *s, size_t max)
{
	size_t n, back;

	if (s == NULL || strnlen(s, max + 1) <= max)
		return s;
	/* back over continuation bytes to the start of the character that does not fit */
	for (n = max, back = 0; n > 0 && back < UTF8_MAX - 1; n--, back++)
		if (((unsigned char)s[n] & 0xc0) != 0x80)
			break;
	if (((unsigned char)s[n] & 0xc0) == 0x80)
		n = max; /* not UTF-8 there anyway: nothing to keep whole */
	memcpy(dst, s, n);
	memcpy(dst + n, TB_LOG_CUT_MARK, sizeof(TB_LOG_CUT_MARK));
	return dst;
}

static void
write_line(const char *s, size_t n)
{
	ssize_t w;

	/* one write(2) for the whole line keeps lines whole when processes share the file */
	do {
		w = write(log_fd, s, n);
	} while (w < 0 && errno == EINTR);
}

static int
add_label(struct tb_json *labels, const char *key, const char *value)
{
	if (value == NULL || *value == '\0')
		return 0;
	return tb_json_set_str(labels, key, value);
}

/* Room for the cut copy of each label. */
struct cut_labels {
	char flow[LABEL_ROOM], client_id[LABEL_ROOM], x5_sha256[LABEL_ROOM], x5_serial[LABEL_ROOM],
	    subject[LABEL_ROOM];
};

static int
add_labels(struct tb_json *labels, const struct tb_log_ctx *ctx, size_t max, struct cut_labels *c)
{
	int r;

	if (ctx == NULL)
		return 0;
	if ((r = add_label(labels, "flow", cut(c->flow, ctx->flow, max))) != 0 ||
	    (r = add_label(labels, "client_id", cut(c->client_id, ctx->client_id, max))) != 0 ||
	    (r = add_label(labels, "x5_sha256", cut(c->x5_sha256, ctx->x5_sha256, max))) != 0 ||
	    (r = add_label(labels, "x5_serial", cut(c->x5_serial, ctx->x5_serial, max))) != 0 ||
	    (r = add_label(labels, "subject", cut(c->subject, ctx->subject, max))) != 0)
		return r;
	return 0;
}

/*
 * The line for msg with labels cut to label_max bytes and the message to msg_max (the event is
 * never cut: it is a name from the code), or NULL when memory ran out.
 */
static char *
render(enum tb_severity sev, const char *event, const struct tb_log_ctx *ctx, const char *msg,
    size_t label_max, size_t msg_max)
{
	struct tb_json *o = NULL, *labels = NULL;
	struct cut_labels c;
	char trace[TRACE_MAX + 2], cut_trace[TRACE_MAX + sizeof(TB_LOG_CUT_MARK)];
	char cut_msg[MESSAGE_MAX + sizeof(TB_LOG_CUT_MARK)], *out = NULL;
	int r;

	if ((o = tb_json_object()) == NULL || (labels = tb_json_object()) == NULL)
		goto out;
	if (tb_json_set_str(o, "severity", severity_names[sev]) != 0 ||
	    tb_json_set_str(o, "message", cut(cut_msg, msg, msg_max)) != 0 ||
	    tb_json_set_str(labels, "event", event) != 0 ||
	    add_labels(labels, ctx, label_max, &c) != 0)
		goto out;
	r = tb_json_set(o, "logging.googleapis.com/labels", labels);
	labels = NULL; /* transferred, even on failure */
	if (r != 0)
		goto out;
	if (ctx != NULL && ctx->trace != NULL && *ctx->trace != '\0') {
		if (log_project != NULL)
			snprintf(
			    trace, sizeof(trace), "projects/%s/traces/%s", log_project, ctx->trace);
		else
			snprintf(trace, sizeof(trace), "%s", ctx->trace);
		/* a trace over TRACE_MAX is left with TRACE_MAX + 1 bytes: cut() marks it */
		r = tb_json_set_str(
		    o, "logging.googleapis.com/trace", cut(cut_trace, trace, TRACE_MAX));
	} else
		r = tb_json_set_null(o, "logging.googleapis.com/trace");
	if (r == 0)
		tb_json_render(o, &out);
out:
	tb_json_free(labels);
	tb_json_free(o);
	return out;
}

/*
 * Renders the line within TB_LOG_LINE_MAX bytes, newline included. Long labels go first, down
 * to LABEL_MIN bytes (a digest, a serial and a flow name stay whole); then the message, down
 * to MESSAGE_MIN; then the labels to nothing but the mark. That last step always fits: even
 * with every byte escaped six-fold, MESSAGE_MIN and TRACE_MAX bytes come to about 3.1 KiB.
 * NULL when memory ran out (or, impossibly, nothing fits).
 */
static char *
render_within(enum tb_severity sev, const char *event, const struct tb_log_ctx *ctx,
    const char *msg, size_t *len)
{
	size_t label_max = LABEL_MAX, msg_max = MESSAGE_MAX;
	char *line;

	for (;;) {
		if ((line = render(sev, event, ctx, msg, label_max, msg_max)) == NULL)
			return NULL;
		if ((*len = strlen(line)) < TB_LOG_LINE_MAX)
			return line;
		free(line);
		if (label_max > LABEL_MIN)
			label_max /= 2;
		else if (msg_max > MESSAGE_MIN)
			msg_max /= 2;
		else if (label_max > 0)
			label_max = 0;
		else
			return NULL;
	}
}

void
tb_log(enum tb_severity sev, const char *event, const struct tb_log_ctx *ctx, const char *fmt, ...)
{
	/* the whole line when even rendering it failed: the shape every line has, no detail */
	static const char failed[] =
	    "{\"severity\":\"ERROR\",\"message\":\"a log line could not be rendered\","
	    "\"logging.googleapis.com/labels\":{\"event\":\"log.failed\"},"
	    "\"logging.googleapis.com/trace\":null}\n";
	char msg[MESSAGE_MAX + 2];
	char *line;
	size_t n = 0;
	va_list ap;
	int full;

	if (ctx == NULL)
		ctx = log_request;
	va_start(ap, fmt);
	full = vsnprintf(msg, MESSAGE_MAX + 2, fmt, ap);
	va_end(ap);
	if (full < 0)
		snprintf(msg, sizeof(msg), "(unprintable message)");
	/* a message over MESSAGE_MAX is left with MESSAGE_MAX + 1 bytes: cut() marks it */
	if ((line = render_within(sev, event, ctx, msg, &n)) == NULL) {
		write_line(failed, sizeof(failed) - 1);
		return;
	}
	/* the rendered text has no raw newline: control characters are escaped */
	line[n] = '\n';
	write_line(line, n + 1);
	free(line);
}
