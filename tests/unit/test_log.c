/* test_log.c: the JSON log line's exact shape, trace forms, labels, and cut messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

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
	/* a two-byte character straddling the cut must not be left half */
	memcpy(big + 2046, "\xc3\xa9", 2);
	tb_log(TB_LOG_INFO, "big", NULL, "%s", big);
	s = slurp();
	ok(strlen(s) < TB_LOG_LINE_MAX && s[strlen(s) - 1] == '\n',
	    "a long message is cut to one line under %d bytes", TB_LOG_LINE_MAX);
	ok(strchr(s, '\n') == s + strlen(s) - 1, "still exactly one line");
	ok(strstr(s, "\xc3\"") == NULL, "no half UTF-8 character at the cut");
	free(s);
	tb_log_close();
	unlink(path);
	ok(tb_log_open("/nonexistent/dir/log", NULL) != 0, "an unwritable LOG_FILE is an error");
	tb_log_close();
	return done_testing();
}
