/*
 * test_log.c: the JSON log line's exact shape, trace forms, labels, and the line cap: huge labels,
 * messages and traces are cut and marked, the line stays within TB_LOG_LINE_MAX and valid JSON;
 * bytes that are not UTF-8 are replaced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "tap.h"

#define HUGE_LEN 6000                              /* longer than a whole line */
#define MESSAGE_MIN 256                            /* log.h: a message is never cut shorter */
#define TRACE_PREFIX "projects/my-project/traces/" /* the project the tests open the log with */

static char path[] = "/tmp/tb-log-XXXXXX";

/* The file's lines so far, as one string (the caller frees). */
static char *
slurp(void)
{
	FILE *f = fopen(path, "r");
	char *s = calloc(1, 65536);
	size_t n = fread(s, 1, 65535, f);

	s[n] = '\0';
	fclose(f);
	return s;
}

static void
truncate_log(void)
{
	FILE *f = fopen(path, "w");

	fclose(f);
}

/* HUGE_LEN bytes: prefix, then unit repeated (a multi-byte unit makes cuts straddle it). */
static char *
huge(const char *prefix, const char *unit)
{
	char *s = malloc(HUGE_LEN + 1);
	size_t n = strlen(prefix), u = strlen(unit);

	memcpy(s, prefix, n);
	while (n + u <= HUGE_LEN) {
		memcpy(s + n, unit, u);
		n += u;
	}
	s[n] = '\0';
	return s;
}

/* 1 when value is a cut copy of full: a strict prefix followed by the mark. */
static int
is_cut_of(const char *value, const char *full)
{
	size_t n, m = strlen(TB_LOG_CUT_MARK);

	if (value == NULL || (n = strlen(value)) < m || strcmp(value + n - m, TB_LOG_CUT_MARK) != 0)
		return 0;
	return n - m < strlen(full) && strncmp(value, full, n - m) == 0;
}

/*
 * Logs one line and checks what every line must be, however long its parts: one line of at
 * most TB_LOG_LINE_MAX bytes with its newline, a JSON object that parses strictly (no half
 * UTF-8 character, no broken escape), the event whole. *doc is the parsed line.
 */
static void
log_and_parse(const char *name, const struct tb_log_ctx *ctx, const char *msg, struct tb_json **doc)
{
	char *s;
	size_t n;

	*doc = NULL;
	truncate_log();
	tb_log(TB_LOG_WARNING, "api.token", ctx, "%s", msg);
	s = slurp();
	n = strlen(s);
	ok(n > 0 && n <= TB_LOG_LINE_MAX && s[n - 1] == '\n' && strchr(s, '\n') == s + n - 1,
	    "%s: one line of %zu bytes, at most %d", name, n, TB_LOG_LINE_MAX);
	ok(n > 0 && tb_json_parse(s, n - 1, doc) == 0, "%s: valid JSON, valid UTF-8", name);
	is_str(tb_json_get_str(tb_json_get(*doc, "logging.googleapis.com/labels"), "event"),
	    "api.token", "%s: the event is whole", name);
	free(s);
}

static void
test_line_cap(void)
{
	char *subject = huge("CN=x,", "OU=unit-\xc3\xa9,"), *id = huge("a", "\xf0\x9f\x98\x80");
	char *serial = huge("00", ":c9"), *sha = huge("", "m97P"), *flow = huge("", "mtls-"),
	     *trace = huge("", "0123456789abcdef"), *msg = huge("refused: ", "\xc3\xa9"),
	     *ctl = huge("", "\x01");
	struct tb_log_ctx all = {.trace = "105445aa7843bc8bf206b12000100000",
	    .client_id = id,
	    .x5_sha256 = sha,
	    .x5_serial = serial,
	    .subject = subject,
	    .flow = flow};
	struct tb_log_ctx usual = {.trace = "105445aa7843bc8bf206b12000100000",
	    .client_id = "m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM",
	    .x5_sha256 = "m97PuzECBhCm/I0kODCYy5q00uRkxM00DSGQ+Tl8DoM",
	    .x5_serial = "00:c9:77:71:db:a8:b7:70:e1:b6:a7:3f:4c:91:80:42:72:77:b5:fd",
	    .subject = "CN=client.example.net,O=Example",
	    .flow = "mtls-client-credentials"};
	static const char *const names[] = {
	    "flow", "client_id", "x5_sha256", "x5_serial", "subject"};
	const char *fulls[] = {flow, id, sha, serial, subject};
	const char *usuals[] = {
	    usual.flow, usual.client_id, usual.x5_sha256, usual.x5_serial, usual.subject};
	struct tb_json *doc, *labels;
	const char *m;
	size_t i;

	/* every label huge, the message short */
	log_and_parse("every label huge", &all, "refused", &doc);
	labels = tb_json_get(doc, "logging.googleapis.com/labels");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ok(is_cut_of(tb_json_get_str(labels, names[i]), fulls[i]),
		    "every label huge: %s cut and marked " TB_LOG_CUT_MARK, names[i]);
	is_str(tb_json_get_str(doc, "message"), "refused", "every label huge: the message whole");
	is_str(tb_json_get_str(doc, "logging.googleapis.com/trace"),
	    TRACE_PREFIX "105445aa7843bc8bf206b12000100000", "every label huge: the trace whole");
	tb_json_free(doc);

	/* the message huge, the labels usual: the message is cut, no label is */
	log_and_parse("message huge", &usual, msg, &doc);
	ok(is_cut_of(tb_json_get_str(doc, "message"), msg), "message huge: cut and marked");
	labels = tb_json_get(doc, "logging.googleapis.com/labels");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		is_str(tb_json_get_str(labels, names[i]), usuals[i], "message huge: %s whole",
		    names[i]);
	tb_json_free(doc);

	/* a message of control characters (six bytes each once escaped), the labels usual */
	log_and_parse("message escaped six-fold", &usual, ctl, &doc);
	m = tb_json_get_str(doc, "message");
	ok(is_cut_of(m, ctl) && strlen(m) >= MESSAGE_MIN,
	    "message escaped six-fold: cut, marked, at least %d bytes kept", MESSAGE_MIN);
	labels = tb_json_get(doc, "logging.googleapis.com/labels");
	is_str(tb_json_get_str(labels, "x5_serial"), usual.x5_serial,
	    "message escaped six-fold: a 59-byte serial stays whole");
	tb_json_free(doc);

	/* both huge, the message escaped six-fold, and a huge trace */
	all.trace = trace;
	log_and_parse("everything huge", &all, ctl, &doc);
	m = tb_json_get_str(doc, "message");
	ok(is_cut_of(m, ctl) && strlen(m) >= MESSAGE_MIN,
	    "everything huge: the message survives, cut and marked");
	labels = tb_json_get(doc, "logging.googleapis.com/labels");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ok(is_cut_of(tb_json_get_str(labels, names[i]), fulls[i]),
		    "everything huge: %s cut and marked", names[i]);
	m = tb_json_get_str(doc, "logging.googleapis.com/trace");
	ok(m != NULL && strncmp(m, TRACE_PREFIX, strlen(TRACE_PREFIX)) == 0 &&
	        is_cut_of(m + strlen(TRACE_PREFIX), trace),
	    "everything huge: the trace cut and marked");
	tb_json_free(doc);

	free(subject);
	free(id);
	free(serial);
	free(sha);
	free(flow);
	free(trace);
	free(msg);
	free(ctl);
}

/* Bytes that are not UTF-8 become U+FFFD, one each, so that the line stays JSON text. */
static void
test_not_utf8(void)
{
	struct tb_log_ctx ctx = {.client_id = "id\xfe", .flow = "mtls-client-credentials"};
	struct tb_json *doc;

	log_and_parse("bytes that are not UTF-8", &ctx,
	    "bad \xff \xc3( \xc0\xaf \xed\xa0\x80 \xf8 ok \xc3\xa9\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf "
	    "end\xe2\x82",
	    &doc);
	is_str(tb_json_get_str(doc, "message"),
	    "bad \xef\xbf\xbd \xef\xbf\xbd( \xef\xbf\xbd\xef\xbf\xbd "
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd ok "
	    "\xc3\xa9\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf "
	    "end\xef\xbf\xbd\xef\xbf\xbd",
	    "a stray byte, a lead without its continuation, an overlong form, a surrogate, a "
	    "five-byte lead and a truncated end each become U+FFFD; UTF-8 up to U+10FFFF stays");
	is_str(tb_json_get_str(tb_json_get(doc, "logging.googleapis.com/labels"), "client_id"),
	    "id\xef\xbf\xbd", "in a label too");
	tb_json_free(doc);
}

int
main(void)
{
	struct tb_log_ctx ctx = {.trace = "105445aa7843bc8bf206b12000100000",
	    .client_id = "c1",
	    .x5_sha256 = "abc",
	    .x5_serial = "00:c9",
	    .subject = "CN=x",
	    .flow = "mtls-client-credentials"};
	char big[5000], *s;
	int fd = mkstemp(path);

	close(fd);
	ok(tb_log_open(path, NULL) == 0, "opens LOG_FILE for appending");
	tb_log(TB_LOG_INFO, "event-1", NULL, "message-%d", 1);
	s = slurp();
	is_str(s,
	    "{\"severity\":\"INFO\",\"message\":\"message-1\",\"logging.googleapis.com/labels\":"
	    "{\"event\":\"event-1\"},\"logging.googleapis.com/trace\":null}\n",
	    "the exact line, trace null without a request");
	free(s);

	truncate_log();
	tb_log(TB_LOG_ERROR, "api.token", &ctx, "refused \"%s\"\n", "x");
	s = slurp();
	is_str(s,
	    "{\"severity\":\"ERROR\",\"message\":\"refused "
	    "\\\"x\\\"\\n\",\"logging.googleapis.com/labels\":"
	    "{\"event\":\"api.token\",\"flow\":\"mtls-client-credentials\",\"client_id\":\"c1\","
	    "\"x5_sha256\":\"abc\",\"x5_serial\":\"00:c9\",\"subject\":\"CN=x\"},"
	    "\"logging.googleapis.com/trace\":\"105445aa7843bc8bf206b12000100000\"}\n",
	    "labels and trace; quotes and a newline in the message stay inside one line");
	free(s);

	tb_log_close();
	ok(tb_log_open(path, "my-project") == 0, "reopens with a project");
	truncate_log();
	tb_log_set_request(&ctx);
	tb_log(TB_LOG_WARNING, "google.sts", NULL, "from a module without the request");
	tb_log_set_request(NULL);
	s = slurp();
	ok(strstr(s, "\"logging.googleapis.com/trace\":\"projects/my-project/traces/"
	             "105445aa7843bc8bf206b12000100000\"") != NULL,
	    "with GOOGLE_CLOUD_PROJECT the trace is projects/P/traces/ID");
	ok(strstr(s, "\"client_id\":\"c1\"") != NULL, "a NULL ctx takes the request's labels");
	free(s);

	truncate_log();
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	/* two-byte characters at every offset around the message cut: none may be left half */
	for (size_t i = 2040; i + 2 < 2060; i += 3)
		memcpy(big + i, "\xc3\xa9", 2);
	tb_log(TB_LOG_INFO, "big", NULL, "%s", big);
	s = slurp();
	ok(strlen(s) <= TB_LOG_LINE_MAX && s[strlen(s) - 1] == '\n',
	    "a long message is cut to one line of at most %d bytes", TB_LOG_LINE_MAX);
	ok(strchr(s, '\n') == s + strlen(s) - 1, "still exactly one line");
	ok(strstr(s, "\xc3" TB_LOG_CUT_MARK) == NULL, "no half UTF-8 character at the cut");
	ok(strstr(s, TB_LOG_CUT_MARK "\"") != NULL, "the cut message ends with the mark");
	free(s);
	test_line_cap();
	test_not_utf8();
	tb_log_close();
	unlink(path);
	ok(tb_log_open("/nonexistent/dir/log", NULL) != 0, "an unwritable LOG_FILE is an error");
	tb_log_close();
	return done_testing();
}
