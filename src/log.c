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
#define TRACE_MAX 256

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

/* Drops an incomplete UTF-8 sequence that cutting the message left at its end. */
static void
trim_utf8(char *s)
{
	size_t n = strlen(s), i = n, need;
	unsigned char c;

	while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0 || ((c = (unsigned char)s[i - 1]) & 0xc0) != 0xc0)
		return;
	need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
	if (n - (i - 1) < need)
		s[i - 1] = '\0';
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

static char *
render(enum tb_severity sev, const char *event, const struct tb_log_ctx *ctx, const char *msg)
{
	struct tb_json *o = tb_json_object(), *labels = tb_json_object();
	char trace[TRACE_MAX], *out = NULL;
	int r = 0;

	if (o == NULL || labels == NULL)
		goto out;
	r |= tb_json_set_str(o, "severity", severity_names[sev]);
	r |= tb_json_set_str(o, "message", msg);
	r |= tb_json_set_str(labels, "event", event);
	if (ctx != NULL) {
		r |= add_label(labels, "flow", ctx->flow);
		r |= add_label(labels, "client_id", ctx->client_id);
		r |= add_label(labels, "x5_sha256", ctx->x5_sha256);
		r |= add_label(labels, "x5_serial", ctx->x5_serial);
		r |= add_label(labels, "subject", ctx->subject);
	}
	r |= tb_json_set(o, "logging.googleapis.com/labels", labels);
	labels = NULL; /* transferred */
	if (ctx != NULL && ctx->trace != NULL && *ctx->trace != '\0') {
		if (log_project != NULL)
			snprintf(
			    trace, sizeof(trace), "projects/%s/traces/%s", log_project, ctx->trace);
		else
			snprintf(trace, sizeof(trace), "%s", ctx->trace);
		r |= tb_json_set_str(o, "logging.googleapis.com/trace", trace);
	} else
		r |= tb_json_set_null(o, "logging.googleapis.com/trace");
	if (r == 0)
		tb_json_render(o, &out);
out:
	tb_json_free(labels);
	tb_json_free(o);
	return out;
}

void
tb_log(enum tb_severity sev, const char *event, const struct tb_log_ctx *ctx, const char *fmt, ...)
{
	char msg[MESSAGE_MAX];
	char *line;
	size_t n;
	va_list ap;

	if (ctx == NULL)
		ctx = log_request;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	trim_utf8(msg);
	for (;;) {
		if ((line = render(sev, event, ctx, msg)) == NULL) {
			static const char oom[] =
			    "{\"severity\":\"ERROR\",\"message\":\"failed to log\"}\n";
			write_line(oom, sizeof(oom) - 1);
			return;
		}
		n = strlen(line);
		if (n < TB_LOG_LINE_MAX || strlen(msg) < 64)
			break;
		/* too long (labels are bounded elsewhere): shorten the message and try again */
		msg[strlen(msg) / 2] = '\0';
		trim_utf8(msg);
		free(line);
	}
	/* the rendered text has no raw newline: json-c escapes control characters */
	line[n] = '\n';
	write_line(line, n + 1);
	free(line);
}
