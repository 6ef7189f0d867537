# setup.sh: what the serve tests share: real lighttpd with token-broker (the shipped
# configuration), the Google stand-in behind it, and `token-broker-credential serve` in front,
# each started here and always stopped. Sourced (POSIX sh) after tests/e2e/lib.sh and tap_plan.
# shellcheck shell=sh

SV_SCOPE=https://www.googleapis.com/auth/cloud-platform
SV_SA=sa@test-project.iam.gserviceaccount.com
SV_PROJECT_NUMBER=123456789012
# The audiences the broker may put in ID tokens besides the pool's (TOKEN_AUDIENCES).
SV_AUDIENCES=https://relying.example,https://renew-1.example,https://renew-2.example,https://renew-3.example,https://down.example
SV_LIFETIME=${SV_LIFETIME:-30} # seconds the stand-in's service-account tokens live at most
SV_MARGIN=20   # serve's --refresh-margin: with 30 s tokens, a refresh 10 s after each
HELPER=$TB_BUILDDIR/src/token-broker-credential
SV_PID=

# Stops serve (SIGTERM) and waits for it; $SV_RC is its exit status.
# shellcheck disable=SC2034 # SV_RC is for the test that sourced this file
sv_stop() {
	SV_RC=
	[ -n "$SV_PID" ] || return 0
	kill -TERM "$SV_PID" 2>/dev/null
	wait "$SV_PID"
	SV_RC=$?
	SV_PID=
}

# sv_start_standin DIR: the stand-in with short-lived service-account tokens; SPORT.
sv_start_standin() {
	"$PYTHON3" "$TB_SRCDIR/tests/google/standin.py" --port 0 --ready-file "$1/ready" \
		--record "$1/record" --jwks "$1/jwks.json" --mode sts=ok,iam=ok,meta=ok \
		--sa-lifetime "$SV_LIFETIME" 2>"$1/standin.err" &
	# shellcheck disable=SC2034 # lib.sh's tb_cleanup stops it
	TB_STANDIN_PID=$!
	i=0
	while [ ! -s "$1/ready" ] && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	SPORT=$(cat "$1/ready" 2>/dev/null)
}

# sv_setup NAME: everything up; exits with the rest of the plan failed when something is not.
# Sets W (work directory), SPORT, MPORT (serve's port), MBASE, and the files serve uses:
# $W/cred/cert.pem and $W/cred/key.pem (copies of the test client's, so a test may renew them).
sv_setup() {
	LIGHTTPD=${LIGHTTPD-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
	tb_need lighttpd "$LIGHTTPD" || exit 0
	if [ ! -x "$HELPER" ]; then
		tap_rest "$HELPER not built" fail
		exit 1
	fi
	tb_setup "$1"
	# shellcheck disable=SC2154 # sv_rc is set as the trap runs
	trap 'sv_rc=$?; sv_stop; (exit $sv_rc); tb_cleanup' EXIT
	W=$TB_TMP/serve
	mkdir -p "$W/cred"
	cp "$TB_PKI/client.pem" "$W/cred/cert.pem"
	cp "$TB_PKI/client.key" "$W/cred/key.pem"
	chmod 600 "$W/cred/key.pem"

	SIGNING_KEYS=$TB_PKI/signing-rsa.pem TOKEN_AUDIENCE=x "$TB_PROGRAM_BUILT" --jwks >"$W/jwks.json"
	sv_start_standin "$W"
	if [ -z "$SPORT" ]; then
		tap_diag "$(cat "$W/standin.err")"
		tap_rest "the Google stand-in did not start" fail
		exit 1
	fi
	tb_lighttpd_conf "$TB_PKI/signing-rsa.pem" tb_pool_id='"test-pool"' \
		tb_provider_id='"test-provider"' tb_procs=1 ||
		{ tap_rest "lighttpd.conf substitution failed" fail; exit 1; }
	# lighttpd hands its environment to the broker it spawns
	if ! STS_ENDPOINT=http://127.0.0.1:$SPORT IAMCREDENTIALS_ENDPOINT=http://127.0.0.1:$SPORT \
		TOKEN_AUDIENCES=$SV_AUDIENCES UPSTREAM_TIMEOUT=3 \
		tb_start_server "$TB_TMP/log/token-broker-error.log" -- \
		"$LIGHTTPD" -D -f "$TB_TMP/conf/lighttpd.conf"; then
		tap_rest "lighttpd did not start" fail
		exit 1
	fi

	MPORT=$("$PYTHON3" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
	MBASE=http://127.0.0.1:$MPORT
	# ASan and UBSan report to standard error, which is serve's log: checked at the end.
	# SV_WRAPPER runs it under a tool: SV_WRAPPER="valgrind --leak-check=full --error-exitcode=99"
	# shellcheck disable=SC2086 # SV_WRAPPER is a command line
	${SV_WRAPPER:-} "$HELPER" serve --listen "127.0.0.1:$MPORT" --url "$TB_BASE/token" \
		--cert "$W/cred/cert.pem" --key "$W/cred/key.pem" --cacert "$TB_PKI/ca.pem" \
		--scope "$SV_SCOPE" --service-account "$SV_SA" \
		--project-number "$SV_PROJECT_NUMBER" --refresh-margin "$SV_MARGIN" \
		2>"$W/serve.log" &
	SV_PID=$!
	i=0
	while [ "$i" -lt 100 ]; do
		if "$CURL_BIN" --silent --max-time 2 -o /dev/null -H 'Metadata-Flavor: Google' \
			"$MBASE/"; then
			break
		fi
		if ! kill -0 "$SV_PID" 2>/dev/null; then
			SV_PID=
			tap_diag "serve exited: $(cat "$W/serve.log")"
			tap_rest "token-broker-credential serve did not start" fail
			exit 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	TB_SERVER_LOGS="$TB_SERVER_LOGS $W/serve.log $W/standin.err"
}

# sv_get NAME PATH [CURL-ARGS...]: GET $MBASE/PATH with Metadata-Flavor: Google (unless the
# args say otherwise: they come after it); TB_STATUS, TB_BODY, TB_HEADERS as tb_curl sets them.
sv_get() {
	sv_name=$1
	sv_path=$2
	shift 2
	tb_curl "$sv_name" -H 'Metadata-Flavor: Google' "$@" "$MBASE/$sv_path"
}

# A member of the JSON body, or "".
sv_field() {
	"$PYTHON3" -c 'import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2])
print("" if v is None else v)' "$1" "$2" 2>/dev/null
}

# The number of requests to a path ending in $1 that the stand-in recorded (on arrival).
sv_calls() {
	"$PYTHON3" - "$W/record" "$1" <<'EOF'
import json, sys
n = 0
try:
    for line in open(sys.argv[1]):
        if json.loads(line)["path"].endswith(sys.argv[2]):
            n += 1
except OSError:
    pass
print(n)
EOF
}

# The claims of the JWT in FILE, member NAME.
sv_claim() {
	"$PYTHON3" -c 'import base64, json, sys
t = open(sys.argv[1]).read().strip().split(".")[1]
print(json.loads(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))).get(sys.argv[2], ""))' \
		"$1" "$2" 2>/dev/null
}
