/*
 * trivial.c: the ceiling of scripts/bench: a FastCGI responder that does no work at all, so
 * that lighttpd's own cost (TLS, the FastCGI hop, the exported certificate) is known apart
 * from the broker's.
 *
 * Spawned by lighttpd like token-broker (bin-path). Every request gets one fixed JSON body
 * with status 200, after its request body is read and thrown away (as the broker reads a
 * form). A path of the form /status/NNN answers status NNN instead: the load generator's
 * own test (tests/bench/loadgen.sh) needs a server that refuses on demand. The answer says
 * whether SSL_CLIENT_CERT arrived, so the bench can show that exportcert is on or off.
 */
#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_CHUNK 4096 /* bytes read from the request body at a time */
#define STATUS_PREFIX "/status/"
#define STATUS_MIN 100
#define STATUS_MAX 599

/* The same bytes every time: the ceiling must not vary with anything. */
static const char BODY[] =
    "{\"trivial\":true,\"note\":\"a fixed body from tests/bench/trivial\"}\n";

/* The status a path asks for: /status/NNN with NNN a three-digit HTTP status, else 200. */
static int
status_of(const char *uri)
{
	const char *d;
	int status = 0;

	if (uri == NULL || strncmp(uri, STATUS_PREFIX, strlen(STATUS_PREFIX)) != 0)
		return 200;
	d = uri + strlen(STATUS_PREFIX);
	for (int i = 0; i < 3; i++) {
		if (d[i] < '0' || d[i] > '9')
			return 200;
		status = status * 10 + (d[i] - '0');
	}
	if (d[3] != '\0' && d[3] != '?')
		return 200;
	return status >= STATUS_MIN && status <= STATUS_MAX ? status : 200;
}

int
main(void)
{
	FCGX_Request req;
	char chunk[BODY_CHUNK];
	int rc = 1;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0) {
		fprintf(stderr, "trivial: FastCGI initialisation failed\n");
		goto out;
	}
	while (FCGX_Accept_r(&req) >= 0) {
		const char *cert = FCGX_GetParam("SSL_CLIENT_CERT", req.envp);

		while (FCGX_GetStr(chunk, sizeof(chunk), req.in) > 0)
			;
		FCGX_FPrintF(req.out,
		    "Status: %d\r\nContent-Type: application/json\r\nContent-Length: %u\r\n"
		    "X-Client-Cert: %s\r\n\r\n",
		    status_of(FCGX_GetParam("REQUEST_URI", req.envp)), (unsigned)(sizeof(BODY) - 1),
		    cert != NULL && *cert != '\0' ? "yes" : "no");
		FCGX_PutStr(BODY, (int)(sizeof(BODY) - 1), req.out);
		FCGX_Finish_r(&req);
	}
	FCGX_Free(&req, 1);
	rc = 0;
out:
	return rc;
}
