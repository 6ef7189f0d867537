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
#define LABELS 5      /* the labels of struct tb_log_ctx besides the trace */
#define TRACE_MAX 256 /* bytes of the trace, with projects/PROJECT/traces/ */
#define UTF8_MAX 4    /* bytes of one UTF-8 character */
/*
 * Room past a cap when formatting: text cut there by vsnprintf ends, at worst, in a character
 * begun after cap + 1 bytes, which clean_cut never reaches; that more came shows it must cut.
 */
#define OVER (UTF8_MAX + 2)

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

/* The length of the well-formed UTF-8 sequence (RFC 3629) that p starts, or 0 if none. */
static size_t
utf8_len(const unsigned char *p)
{
	size_t n, i;
	unsigned char lo = 0x80, hi = 0xbf; /* the range of the second byte */

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	/* no overlong forms, no surrogates, nothing past U+10FFFF */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	/* a NUL is no continuation byte: the checks stop at the end of the string */
	for (i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/*
 * A value of at most max bytes for the line, in dst (max + sizeof(TB_LOG_CUT_MARK) bytes): s
 * with every byte that is not part of well-formed UTF-8 replaced by U+FFFD, so that the line is
 * valid JSON text whatever a client sent, and cut between characters, never inside one, with
 * the mark after a cut. The cut comes before rendering, so never inside a JSON escape either.
 */
static const char *
clean_cut(char *dst, const char *s, size_t max)
{
	static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
	const unsigned char *p = (const unsigned char *)s;
	const char *piece;
	size_t n = 0, len, out;

	if (s == NULL)
		return NULL;
	while (*p != '\0') {
		if ((len = utf8_len(p)) == 0) {
			piece = replacement;
			out = sizeof(replacement) - 1;
			len = 1;
		} else {
			piece = (const char *)p;
			out = len;
		}
		if (n + out > max)
			break;
		memcpy(dst + n, piece, out);
		n += out;
		p += len;
	}
	if (*p != '\0') {
		memcpy(dst + n, TB_LOG_CUT_MARK, sizeof(TB_LOG_CUT_MARK));
		return dst;
	}
	dst[n] = '\0';
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
	char room[LABELS][LABEL_ROOM];
};

static int
add_labels(struct tb_json *labels, const struct tb_log_ctx *ctx, size_t max, struct cut_labels *c)
{
	static const char *const names[LABELS] = {
	    "flow", "client_id", "x5_sha256", "x5_serial", "subject"};
	const char *values[LABELS];
	size_t i;
	int r;

	if (ctx == NULL)
		return 0;
	values[0] = ctx->flow;
	values[1] = ctx->client_id;
	values[2] = ctx->x5_sha256;
	values[3] = ctx->x5_serial;
	values[4] = ctx->subject;
	for (i = 0; i < LABELS; i++)
		if ((r = add_label(labels, names[i], clean_cut(c->room[i], values[i], max))) != 0)
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
	char trace[TRACE_MAX + OVER], cut_trace[TRACE_MAX + sizeof(TB_LOG_CUT_MARK)];
	char cut_msg[MESSAGE_MAX + sizeof(TB_LOG_CUT_MARK)], *out = NULL;
	int r;

	if ((o = tb_json_object()) == NULL || (labels = tb_json_object()) == NULL)
		goto out;
	if (tb_json_set_str(o, "severity", severity_names[sev]) != 0 ||
	    tb_json_set_str(o, "message", clean_cut(cut_msg, msg, msg_max)) != 0 ||
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
		r = tb_json_set_str(
		    o, "logging.googleapis.com/trace", clean_cut(cut_trace, trace, TRACE_MAX));
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
	char msg[MESSAGE_MAX + OVER];
	char *line;
	size_t n = 0;
	va_list ap;
	int full;

	if (ctx == NULL)
		ctx = log_request;
	va_start(ap, fmt);
	full = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (full < 0)
		snprintf(msg, sizeof(msg), "(unprintable message)");
	if ((line = render_within(sev, event, ctx, msg, &n)) == NULL) {
		write_line(failed, sizeof(failed) - 1);
		return;
	}
	/* the rendered text has no raw newline: control characters are escaped */
	line[n] = '\n';
	write_line(line, n + 1);
	free(line);
}
