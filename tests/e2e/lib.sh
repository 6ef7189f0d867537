# lib.sh: what the end-to-end tests share: TAP output, a temporary tree, the test PKI, the
# shipped web server configurations with paths and ports substituted, starting and always
# stopping a real server, and the list of cases that every server must pass.
#
# Sourced (POSIX sh) by tests/e2e/lighttpd.sh and tests/e2e/apache.sh. make check sets
# TB_SRCDIR, TB_BUILDDIR, PYTHON3, OPENSSL, CURL_BIN, LIGHTTPD, APACHE2; run by hand, the
# defaults below find an in-tree build. TB_KEEP_TMP=1 keeps the temporary tree for a look.
# shellcheck shell=sh

# Absolute: they end up in server configurations.
TB_SRCDIR=$(cd "${TB_SRCDIR:-$(dirname "$0")/../..}" && pwd)
TB_BUILDDIR=$(cd "${TB_BUILDDIR:-$TB_SRCDIR}" && pwd)
PYTHON3=${PYTHON3:-python3}
CURL_BIN=${CURL_BIN:-curl}
OPENSSL=${OPENSSL:-openssl}
TB_E2E=$TB_SRCDIR/tests/e2e
TB_PROGRAM_BUILT=$TB_BUILDDIR/src/token-broker

# The shipped example provider: the tests keep it, so the audience is known.
TB_AUD=https://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/token-broker-pool/providers/token-broker

TB_START_TIMEOUT=100        # tenths of a second for a server to answer after starting
TB_STOP_TIMEOUT=50          # tenths of a second for it to exit after SIGTERM
TB_CURL_TIMEOUT=15          # seconds for one curl run
# shellcheck disable=SC2034 # used by the scripts that source this file
TB_NCASES=12                # tests that tb_run_cases reports

# ---- TAP ---------------------------------------------------------------------------------

tb_n=0
tb_failed=0
tb_plan=0

tap_plan() { tb_plan=$1; echo "1..$1"; }
tap_ok() { tb_n=$((tb_n + 1)); echo "ok $tb_n - $*"; }
tap_not_ok() { tb_n=$((tb_n + 1)); echo "not ok $tb_n - $*"; tb_failed=1; }
tap_skip() { tb_n=$((tb_n + 1)); echo "ok $tb_n # SKIP $*"; }
# Diagnostics: every argument, every line of it, as a "# " line.
tap_diag() { printf '%s\n' "$@" | sed -e '/^$/d' -e 's/^# //' -e 's/^/# /'; }

# Reports every test not yet reported: skipped, or failed when CI=true (a CI machine must
# have everything installed) or when $2 says "fail".
tap_rest() {
	while [ "$tb_n" -lt "$tb_plan" ]; do
		if [ "$2" = fail ] || [ "${CI:-}" = true ]; then
			tap_not_ok "$1"
		else
			tap_skip "$1"
		fi
	done
}

# One test made of several checks: tb_begin, then tb_fail for each problem found, then
# tb_end "description" prints ok or not ok with the problems as diagnostics.
tb_begin() { tb_case_bad=0; tb_case_diag=""; }
tb_fail() {
	tb_case_bad=1
	tb_case_diag="$tb_case_diag
$*"
}
tb_end() {
	if [ "$tb_case_bad" = 0 ]; then
		tap_ok "$1"
	else
		tap_not_ok "$1"
		tap_diag "$tb_case_diag"
	fi
}

# ---- the temporary tree and cleanup ------------------------------------------------------

TB_TMP=
TB_SERVER_PID=
TB_SERVER_PROCS=
TB_SERVER_LOGS=

tb_cleanup() {
	tb_rc=$?
	trap "" INT TERM HUP
	trap - EXIT
	tb_stop_server
	if [ -n "$TB_STANDIN_PID" ]; then
		kill -TERM "$TB_STANDIN_PID" 2>/dev/null
		wait "$TB_STANDIN_PID" 2>/dev/null
	fi
	if [ "$tb_failed" = 1 ] && [ -n "$TB_SERVER_LOGS" ]; then
		for f in $TB_SERVER_LOGS; do
			[ -s "$f" ] || continue
			tap_diag "---- $(basename "$f") (last 60 lines) ----"
			tail -n 60 "$f" | sed -e 's/^/# /'
		done
	fi
	if [ -n "$TB_TMP" ] && [ -d "$TB_TMP" ]; then
		if [ "${TB_KEEP_TMP:-}" = 1 ]; then
			tap_diag "kept $TB_TMP"
		else
			rm -rf "$TB_TMP"
		fi
	fi
	[ "$tb_failed" = 1 ] && [ "$tb_rc" = 0 ] && tb_rc=1
	exit "$tb_rc"
}

# tb_setup NAME: the temporary tree ($TB_TMP/{conf,run,log,pki,bin,resp}), the PKI, the
# program, a free port, and the user the server drops to. Exits through cleanup on failure.
tb_setup() {
	TB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tb-e2e-$1.XXXXXX") || { tap_rest "mktemp failed" fail; exit 1; }
	trap tb_cleanup EXIT
	trap 'exit 130' INT TERM HUP
	mkdir -p "$TB_TMP/conf" "$TB_TMP/run" "$TB_TMP/log" "$TB_TMP/pki" "$TB_TMP/bin" \
		"$TB_TMP/resp"

	# The PKI is shared with the other test layers (mkpki.py locks and reuses it); the server
	# gets its own copies, which it may own.
	tb_pki_shared=$TB_BUILDDIR/tests/pki-out
	if ! tb_out=$("$PYTHON3" "$TB_SRCDIR/tests/pki/mkpki.py" "$tb_pki_shared" 2>&1); then
		tap_diag "mkpki.py: $tb_out"
		tap_rest "test PKI could not be made" fail
		exit 1
	fi
	TB_PKI=$TB_TMP/pki
	cp "$tb_pki_shared"/*.pem "$tb_pki_shared"/*.key "$TB_PKI/"

	if [ "$(id -u)" = 0 ]; then
		# Web servers refuse to serve as root: they drop to nobody, who must reach the
		# program (the build tree may sit under a private home) and read the keys.
		TB_RUN_USER=nobody
		TB_RUN_GROUP=$(id -gn nobody)
		TB_PROGRAM=$TB_TMP/bin/token-broker
		cp "$TB_PROGRAM_BUILT" "$TB_PROGRAM"
		chmod 755 "$TB_TMP" "$TB_PROGRAM"
		chown -R "$TB_RUN_USER:$TB_RUN_GROUP" "$TB_TMP/run" "$TB_TMP/log" "$TB_PKI"
	else
		# Not root: the servers ignore User/server.username and keep the current user.
		TB_RUN_USER=$(id -un)
		TB_RUN_GROUP=$(id -gn)
		TB_PROGRAM=$TB_PROGRAM_BUILT
	fi

	TB_PORT=$("$PYTHON3" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
	TB_BASE=https://localhost:$TB_PORT
}

# tb_need NAME PATH [FILE...]: the server binary and any module files it needs exist, and
# so does the program. Otherwise reports every test as skipped (failed under CI=true) and
# returns 1.
tb_need() {
	tb_what=$1
	tb_bin=$2
	shift 2
	if [ -z "$tb_bin" ] || [ ! -x "$tb_bin" ]; then
		tap_rest "$tb_what not installed"
		return 1
	fi
	for f in "$@"; do
		if [ ! -e "$f" ]; then
			tap_rest "$tb_what: $f not installed"
			return 1
		fi
	done
	if [ ! -x "$TB_PROGRAM_BUILT" ]; then
		tap_rest "$TB_PROGRAM_BUILT not built" fail
		return 1
	fi
	return 0
}

# ---- substituting the shipped configurations ---------------------------------------------

tb_sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

# tb_subst STYLE IN OUT NAME=VALUE...: copies a shipped file, replacing the value of each
# named site setting: STYLE "lighttpd" rewrites `var.NAME = ...` lines, "apache" rewrites
# `Define NAME ...` lines. Every NAME must be there: a renamed setting fails the test
# rather than silently keeping its shipped value.
tb_subst() {
	tb_style=$1
	tb_in=$2
	tb_out=$3
	shift 3
	tb_script=
	for kv in "$@"; do
		k=${kv%%=*}
		v=$(tb_sed_escape "${kv#*=}")
		case $tb_style in
		lighttpd) pat="^var\\.$k *="; rep="s|^\\(var\\.$k *=\\).*|\\1 $v|" ;;
		apache) pat="^Define $k "; rep="s|^\\(Define $k\\) .*|\\1 $v|" ;;
		esac
		if ! grep -q "$pat" "$tb_in"; then
			tap_diag "$tb_in has no site setting $k"
			return 1
		fi
		tb_script="$tb_script
$rep"
	done
	sed -e "$tb_script" "$tb_in" >"$tb_out"
}

# tb_lighttpd_conf SIGNING_KEYS [NAME=VALUE...]: the shipped lighttpd configuration in
# $TB_TMP/conf for this test tree (port, user, program, PKI, issuer, directories), signing
# with SIGNING_KEYS; further NAME=VALUE pairs set other site settings (tb_procs=1, ...).
tb_lighttpd_conf() {
	tb_keys=$1
	shift
	tb_subst lighttpd "$TB_SRCDIR/lighttpd/lighttpd.conf" "$TB_TMP/conf/lighttpd.conf" \
		tb_port="$TB_PORT" \
		tb_bind='"127.0.0.1"' \
		tb_user="\"$TB_RUN_USER\"" \
		tb_group="\"$TB_RUN_GROUP\"" \
		tb_program="\"$TB_PROGRAM\"" \
		tb_server_cert="\"$TB_PKI/server.pem\"" \
		tb_server_key="\"$TB_PKI/server.key\"" \
		tb_client_ca="\"$TB_PKI/ca.pem\"" \
		tb_signing_keys="\"$tb_keys\"" \
		tb_issuer="\"$TB_BASE\"" \
		tb_rundir="\"$TB_TMP/run\"" \
		tb_logdir="\"$TB_TMP/log\"" \
		"$@" &&
		cp "$TB_SRCDIR/lighttpd/token-broker.conf" "$TB_TMP/conf/token-broker.conf"
}

# tb_standin DIR JWKS: starts the Google stand-in (tests/google/standin.py, every API "ok",
# ID tokens verified against the JWK Set in the file JWKS), recording into DIR/record; sets
# SPORT to its port, or to "" when it did not start (the reason in DIR/standin.err).
# tb_cleanup stops it.
TB_STANDIN_PID=
tb_standin() {
	"$PYTHON3" "$TB_SRCDIR/tests/google/standin.py" --port 0 --ready-file "$1/ready" \
		--record "$1/record" --jwks "$2" --mode sts=ok,iam=ok,meta=ok 2>"$1/standin.err" &
	TB_STANDIN_PID=$!
	i=0
	while [ ! -s "$1/ready" ] && [ "$i" -lt 100 ] && kill -0 "$TB_STANDIN_PID" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	# shellcheck disable=SC2034 # for the test that sourced this file
	SPORT=$(cat "$1/ready" 2>/dev/null)
}

# ---- processes ---------------------------------------------------------------------------

# Prints "pid ppid starttime" for every process (from /proc: procps may be missing).
tb_proc_table() {
	for s in /proc/[0-9]*/stat; do
		cat "$s" 2>/dev/null
		echo
	done | sed -n 's/^\([0-9]*\) (.*) \(.*\)$/\1 \2/p' | awk '{ print $1, $3, $21 }'
}

# Prints "pid:starttime" for PID and all its descendants.
tb_proc_tree() {
	tb_proc_table | awk -v root="$1" '
		{ ppid[$1] = $2; start[$1] = $3; pids[NR] = $1 }
		END {
			want[root] = 1
			do {
				more = 0
				for (i = 1; i <= NR; i++) {
					p = pids[i]
					if (!(p in want) && (ppid[p] in want)) { want[p] = 1; more = 1 }
				}
			} while (more)
			for (p in want) if (p in start) print p ":" start[p]
		}'
}

# Prints the pids of the running token-broker processes below the server.
tb_broker_pids() {
	tb_exe=$(readlink -f "$TB_PROGRAM")
	for ps in $(tb_proc_tree "$TB_SERVER_PID"); do
		p=${ps%%:*}
		[ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$tb_exe" ] && echo "$p"
	done
}

tb_rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# tb_start_server LOGS... -- COMMAND...: starts a server in the foreground of a background
# job and waits (bounded) until it answers HTTPS on $TB_PORT. LOGS are the files to show
# when something fails. Returns 1 when it exits or does not answer in time.
tb_start_server() {
	TB_SERVER_LOGS=
	while [ "$1" != -- ]; do
		TB_SERVER_LOGS="$TB_SERVER_LOGS $1"
		shift
	done
	shift
	TB_SERVER_LOGS="$TB_SERVER_LOGS $TB_TMP/log/server-output.log"
	"$@" >"$TB_TMP/log/server-output.log" 2>&1 &
	TB_SERVER_PID=$!
	i=0
	while [ "$i" -lt "$TB_START_TIMEOUT" ]; do
		if ! kill -0 "$TB_SERVER_PID" 2>/dev/null; then
			wait "$TB_SERVER_PID"
			tap_diag "the server exited with status $? while starting"
			TB_SERVER_PID=
			return 1
		fi
		# Any HTTP answer will do (with the client certificate, so that a server that wrongly
		# demands one still starts, and the cases then say what is wrong).
		if "$CURL_BIN" --silent --insecure --max-time 2 -o /dev/null \
			--cert "$TB_PKI/client.pem" --key "$TB_PKI/client.key" \
			"https://127.0.0.1:$TB_PORT/.well-known/openid-configuration"; then
			TB_SERVER_PROCS=$(tb_proc_tree "$TB_SERVER_PID")
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	tap_diag "the server did not answer on port $TB_PORT within $((TB_START_TIMEOUT / 10)) s"
	return 1
}

# Stops the server: SIGTERM, a bounded wait, then SIGKILL for it and for any process that
# was below it (FastCGI processes, mod_fcgid's manager) and is still the same process
# (same pid and start time): nothing is left behind, and nothing else is touched.
tb_stop_server() {
	[ -n "$TB_SERVER_PID" ] || return 0
	tb_stop_tree "$TB_SERVER_PID" "$TB_SERVER_PROCS"
	TB_SERVER_PID=
}

# tb_stop_tree PID PROCS: SIGTERM to PID, a bounded wait, SIGKILL; then SIGKILL for each of
# PROCS ("pid:starttime" words, tb_proc_tree) and PID's tree now that is still the same process.
tb_stop_tree() {
	tb_procs="$2 $(tb_proc_tree "$1")"
	kill -TERM "$1" 2>/dev/null
	i=0
	while kill -0 "$1" 2>/dev/null && [ "$i" -lt "$TB_STOP_TIMEOUT" ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	sleep 0.2
	for ps in $tb_procs; do
		p=${ps%%:*}
		now=$(tb_proc_table | awk -v p="$p" '$1 == p { print $1 ":" $3 }')
		[ "$now" = "$ps" ] && kill -KILL "$p" 2>/dev/null
	done
}

# ---- requests ----------------------------------------------------------------------------

# tb_curl NAME CURL-ARGS...: one request; sets TB_STATUS (HTTP status, 000 when there was
# no answer), TB_CURL_RC, TB_BODY and TB_HEADERS (files).
tb_curl() {
	TB_BODY=$TB_TMP/resp/$1.body
	TB_HEADERS=$TB_TMP/resp/$1.headers
	tb_err=$TB_TMP/resp/$1.err
	shift
	: >"$TB_BODY"
	: >"$TB_HEADERS"
	TB_STATUS=$("$CURL_BIN" --silent --show-error --max-time "$TB_CURL_TIMEOUT" \
		--cacert "$TB_PKI/ca.pem" -o "$TB_BODY" -D "$TB_HEADERS" -w '%{http_code}' \
		"$@" 2>"$tb_err")
	TB_CURL_RC=$?
}

# The value of a response header (the last one of that name), without the CR.
tb_header() {
	grep -i "^$1:" "$TB_HEADERS" | tail -n 1 | sed -e 's/^[^:]*: *//' -e 's/\r$//'
}

tb_expect_status() {
	if [ "$TB_STATUS" != "$1" ]; then
		tb_fail "status $TB_STATUS, expected $1 (curl exit $TB_CURL_RC $(tail -n 1 "$tb_err"))" \
			"body: $(head -c 400 "$TB_BODY")"
	fi
}

tb_expect_header() {
	tb_v=$(tb_header "$1")
	# shellcheck disable=SC2254 # $2 is a pattern
	case $tb_v in
	$2) ;;
	*) tb_fail "header $1: '$tb_v', expected '$2'" ;;
	esac
}

tb_expect_json() {
	tb_out=$("$PYTHON3" "$TB_E2E/check_json.py" "$TB_BODY" "$@" 2>&1) || tb_fail "$tb_out"
}

# The OAuth error every refused client gets: 401, JSON, error=invalid_client.
tb_expect_invalid_client() {
	tb_expect_status 401
	tb_expect_header Content-Type 'application/json*'
	tb_expect_json error=invalid_client error_description?
}

# ---- the cases every server passes -------------------------------------------------------

# tb_run_cases: needs TB_BASE, TB_PKI, TB_ALG (of the first signing key), TB_NKEYS, and
# TB_EXPIRED_TLS_OK=1 where the server may end the handshake on an expired certificate
# instead of passing it on. Reports TB_NCASES tests.
tb_run_cases() {
	tb_jwks=$TB_TMP/resp/jwks.body
	tb_client="--cert $TB_PKI/client.pem --key $TB_PKI/client.key"

	tb_begin
	tb_curl discovery "$TB_BASE/.well-known/openid-configuration"
	tb_expect_status 200
	tb_expect_header Content-Type 'application/json*'
	tb_expect_header Cache-Control 'public, max-age=*'
	tb_expect_json "issuer=$TB_BASE" "token_endpoint=$TB_BASE/token" jwks_uri? \
		grant_types_supported.0=client_credentials \
		token_endpoint_auth_methods_supported.0=tls_client_auth
	tb_end "discovery without a client certificate: 200, issuer $TB_BASE"

	tb_begin
	tb_curl metadata "$TB_BASE/.well-known/openid-metadata"
	tb_expect_status 200
	tb_expect_json "issuer=$TB_BASE" "token_endpoint=$TB_BASE/token"
	tb_end "discovery under its alias /.well-known/openid-metadata"

	tb_begin
	tb_jwks_uri=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1]))["jwks_uri"])' \
		"$TB_TMP/resp/discovery.body" 2>/dev/null)
	case $tb_jwks_uri in
	"$TB_BASE"/*) ;;
	*) tb_fail "jwks_uri '$tb_jwks_uri' is not below $TB_BASE" ;;
	esac
	tb_curl jwks "${tb_jwks_uri:-$TB_BASE/.well-known/jwks.json}"
	tb_expect_status 200
	tb_expect_header Content-Type 'application/json*'
	tb_expect_json "keys#=$TB_NKEYS" keys.0.kid? keys.0.kty? "keys.0.alg=$TB_ALG"
	tb_end "JWK Set at jwks_uri without a client certificate: $TB_NKEYS keys, $TB_ALG first"

	tb_begin
	tb_curl root "$TB_BASE/"
	tb_expect_status 307
	tb_expect_header Location "$TB_BASE/.well-known/openid-configuration"
	tb_end "GET / redirects (307) to the discovery document"

	# The README's client command (curl --cert), with the test CA for the server's certificate.
	tb_begin
	# shellcheck disable=SC2086
	tb_curl idtoken "$TB_BASE/token" --data "grant_type=client_credentials" $tb_client
	tb_expect_status 200
	tb_expect_header Content-Type 'application/json*'
	tb_expect_header Cache-Control '*no-store*'
	if [ "$TB_STATUS" = 200 ]; then
		tb_out=$("$PYTHON3" "$TB_E2E/verify_jwt.py" --jwks "$tb_jwks" --iss "$TB_BASE" \
			--aud "$TB_AUD" --cert "$TB_PKI/client.pem" --alg "$TB_ALG" "$TB_BODY" 2>&1) ||
			tb_fail "$tb_out"
	fi
	tb_end "ID token for a client certificate: $TB_ALG signature verifies with the JWK Set, claims as expected"

	tb_begin
	# shellcheck disable=SC2086
	tb_curl external "$TB_BASE/token" --data "format=external_credential" \
		--data "grant_type=client_credentials" $tb_client
	tb_expect_status 200
	if [ "$TB_STATUS" = 200 ]; then
		tb_out=$("$PYTHON3" "$TB_E2E/verify_jwt.py" --jwks "$tb_jwks" --iss "$TB_BASE" \
			--aud "$TB_AUD" --cert "$TB_PKI/client.pem" --alg "$TB_ALG" --external \
			"$TB_BODY" 2>&1) || tb_fail "$tb_out"
	fi
	tb_end "format=external_credential: executable-sourced credential with a verified ID token"

	tb_begin
	tb_curl nocert "$TB_BASE/token" --data "grant_type=client_credentials"
	tb_expect_invalid_client
	tb_end "token request without a client certificate: 401 invalid_client"

	tb_begin
	tb_curl nocert-external "$TB_BASE/token" --data "format=external_credential" \
		--data "grant_type=client_credentials"
	tb_expect_status 401
	tb_expect_json success=false version=1 code=invalid_client message?
	tb_end "external_credential without a client certificate: 401, success false"

	tb_begin
	tb_curl untrusted "$TB_BASE/token" --data "grant_type=client_credentials" \
		--cert "$TB_PKI/untrusted.pem" --key "$TB_PKI/untrusted.key"
	tb_expect_invalid_client
	tb_end "certificate from an untrusted CA: 401 invalid_client"

	tb_begin
	tb_curl expired "$TB_BASE/token" --data "grant_type=client_credentials" \
		--cert "$TB_PKI/expired.pem" --key "$TB_PKI/expired.key"
	if [ "$TB_STATUS" = 000 ] && [ "${TB_EXPIRED_TLS_OK:-0}" = 1 ]; then
		tb_what="the server ended the TLS handshake (curl exit $TB_CURL_RC), never reaching the broker"
	else
		tb_what="401 invalid_client from the broker"
		tb_expect_invalid_client
	fi
	tb_end "expired certificate: $tb_what"

	tb_begin
	# shellcheck disable=SC2086
	tb_curl granttype "$TB_BASE/token" --data "grant_type=password" $tb_client
	tb_expect_status 400
	tb_expect_json error=unsupported_grant_type
	tb_end "the form body reaches the broker: grant_type=password is 400 unsupported_grant_type"

	tb_begin
	tb_curl notfound "$TB_BASE/no/such/path"
	tb_expect_status 404
	tb_expect_header Content-Type 'application/json*'
	tb_expect_json error?
	tb_end "unknown path: 404 with a JSON error"
}

# ---- a broker on its own socket (nginx, Apache mod_proxy_fcgi) ----------------------------
# Sourced the same way by tests/e2e/nginx.sh and tests/e2e/apache-proxy.sh: the web server is
# the one tb_start_server starts, and the broker runs beside it as `token-broker --listen`,
# configured from the shipped systemd/token-broker.env.

TB_BROKER_PID=
TB_BROKER_PROCS=
TB_BROKER_WORKERS=2         # --workers of the broker the tests start
TB_SOCKET_WAIT=100          # tenths of a second for the broker's socket to accept

# tb_subst_nginx IN OUT NAME=VALUE...: copies a shipped nginx file, replacing the arguments of
# every directive NAME that starts a line (after indentation) with VALUE. Every NAME must be
# there, as for tb_subst.
tb_subst_nginx() {
	tb_in=$1
	tb_out=$2
	shift 2
	tb_script=
	for kv in "$@"; do
		k=${kv%%=*}
		v=$(tb_sed_escape "${kv#*=}")
		if ! grep -q "^ *$k " "$tb_in"; then
			tap_diag "$tb_in has no directive $k"
			return 1
		fi
		tb_script="$tb_script
s|^\\( *$k\\) .*;\$|\\1 $v;|"
	done
	sed -e "$tb_script" "$tb_in" >"$tb_out"
}

# tb_subst_env IN OUT NAME=VALUE...: copies a shipped env file (KEY=value lines), replacing
# the value of each NAME. "+NAME=VALUE" turns on the shipped commented line "# NAME=..." with
# VALUE instead. Every NAME must be there, as shipped.
tb_subst_env() {
	tb_in=$1
	tb_out=$2
	shift 2
	tb_script=
	for kv in "$@"; do
		k=${kv%%=*}
		v=$(tb_sed_escape "${kv#*=}")
		case $k in
		+*) k=${k#+}; pat="^# $k=" ;;
		*) pat="^$k=" ;;
		esac
		if ! grep -q "$pat" "$tb_in"; then
			tap_diag "$tb_in has no line $pat"
			return 1
		fi
		tb_script="$tb_script
s|$pat.*|$k=$v|"
	done
	sed -e "$tb_script" "$tb_in" >"$tb_out"
}

# tb_broker_env OUT [NAME=VALUE...]: the shipped env file for this test tree (signing keys,
# issuer), with further settings as tb_subst_env takes them.
tb_broker_env() {
	tb_envout=$1
	shift
	tb_subst_env "$TB_SRCDIR/systemd/token-broker.env" "$tb_envout" \
		SIGNING_KEYS="$TB_PKI/signing-rsa.pem,$TB_PKI/signing-ec.pem" \
		TOKEN_ISSUER="$TB_BASE" "$@"
}

# tb_start_broker ENVFILE [ARGS...]: starts `token-broker --listen unix:$TB_SOCKET --env-file
# ENVFILE --workers $TB_BROKER_WORKERS ARGS...` in the background, as the user the web server
# runs as (so that the socket is that user's, as the unit's SocketGroup arranges), its
# standard error in $TB_TMP/log/broker.log, and waits (bounded) until the socket accepts.
# Returns 1 when it exits or does not accept in time. tb_cleanup_broker stops it.
TB_SOCKET=
tb_start_broker() {
	tb_env=$1
	shift
	TB_SOCKET=$TB_TMP/run/fcgi.sock
	if [ "$(id -u)" = 0 ]; then
		chown "$TB_RUN_USER:$TB_RUN_GROUP" "$tb_env"
		set -- setpriv --reuid="$TB_RUN_USER" --regid="$TB_RUN_GROUP" --clear-groups -- \
			"$TB_PROGRAM" --listen "unix:$TB_SOCKET" --env-file "$tb_env" \
			--workers "$TB_BROKER_WORKERS" "$@"
	else
		set -- "$TB_PROGRAM" --listen "unix:$TB_SOCKET" --env-file "$tb_env" \
			--workers "$TB_BROKER_WORKERS" "$@"
	fi
	"$@" 2>>"$TB_TMP/log/broker.log" </dev/null &
	TB_BROKER_PID=$!
	i=0
	while [ "$i" -lt "$TB_SOCKET_WAIT" ]; do
		if ! kill -0 "$TB_BROKER_PID" 2>/dev/null; then
			wait "$TB_BROKER_PID"
			tap_diag "the broker exited with status $? while starting:" \
				"$(tail -n 5 "$TB_TMP/log/broker.log")"
			TB_BROKER_PID=
			return 1
		fi
		if [ -S "$TB_SOCKET" ] && "$PYTHON3" -c 'import socket, sys
socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$TB_SOCKET" 2>/dev/null; then
			TB_BROKER_PROCS=$(tb_proc_tree "$TB_BROKER_PID")
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	tap_diag "the broker's socket $TB_SOCKET did not accept within $((TB_SOCKET_WAIT / 10)) s"
	return 1
}

# Stops the broker as tb_stop_server stops a server: SIGTERM, a bounded wait, then SIGKILL for
# whatever of its process tree is left (the same processes only).
tb_stop_broker() {
	[ -n "$TB_BROKER_PID" ] || return 0
	tb_stop_tree "$TB_BROKER_PID" "$TB_BROKER_PROCS"
	TB_BROKER_PID=
}

# The EXIT trap of a test that starts a broker: stops it, shows its log when a test failed,
# then does what tb_cleanup does. Installed by tb_setup_broker.
tb_cleanup_broker() {
	tb_brc=$?
	tb_stop_broker
	if [ "$tb_failed" = 1 ] && [ -s "$TB_TMP/log/broker.log" ]; then
		tap_diag "---- broker.log (last 40 lines) ----"
		tail -n 40 "$TB_TMP/log/broker.log" | sed -e 's/^/# /'
	fi
	(exit "$tb_brc")
	tb_cleanup
}

# tb_setup_broker NAME: tb_setup, with tb_cleanup_broker as the EXIT trap.
tb_setup_broker() {
	tb_setup "$1"
	trap tb_cleanup_broker EXIT
}

# tb_broker_mark, then tb_broker_log TEXT: waits (bounded, TB_LOG_WAIT) until a line that the
# broker logged since the mark holds TEXT; returns 1 otherwise.
TB_LOG_WAIT=20              # tenths of a second for a broker log line to arrive
tb_bm=0
tb_broker_mark() { tb_bm=$(wc -l <"$TB_TMP/log/broker.log"); }
tb_broker_log() {
	i=0
	while ! tail -n "+$((tb_bm + 1))" "$TB_TMP/log/broker.log" | grep -F -q -- "$1"; do
		[ "$i" -ge "$TB_LOG_WAIT" ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
}

# tb_run_socket_cases: after tb_run_cases, with a broker from tb_start_broker behind the web
# server: what the web server passes or keeps back. Restarts the broker twice (both flows on,
# then the shipped revocation lines on). Reports TB_NSOCKET_CASES tests.
# shellcheck disable=SC2034 # used by the scripts that source this file
TB_NSOCKET_CASES=4
tb_run_socket_cases() {
	tb_begin
	tb_bm=0
	tb_broker_log 'SSL_CLIENT_VERIFY=FAILED:' ||
		tb_fail "no broker log line shows the untrusted certificate as SSL_CLIENT_VERIFY=FAILED:..."
	grep -q '"severity"' "$TB_TMP/log/broker.log" ||
		tb_fail "no JSON log line in the broker's standard error"
	# the supervisor would hide a worker that crashed on a request by starting another
	tb_crash=$(grep -E 'Worker [0-9]+ (was killed by signal|exited with status [1-9])' \
		"$TB_TMP/log/broker.log" | head -n 3)
	[ -z "$tb_crash" ] || tb_fail "a worker died: $tb_crash"
	tb_end "the untrusted certificate reached the broker marked SSL_CLIENT_VERIFY=FAILED:...; no worker died"

	# A client's own copies of what the web server or a load balancer passes. The broker
	# restarted with the load balancer's flow on as well (AUTH_FLOWS lists both): were any
	# X-Client-Cert-* header to reach it, a client without a certificate would pick its
	# identity with them. With them, spellings of the SSL_CLIENT_* variables as headers,
	# carrying client.pem itself.
	tb_stop_broker
	tb_begin
	tb_broker_mark
	if ! tb_broker_env "$TB_TMP/conf/env-xlb" \
		+AUTH_FLOWS=mtls-client-credentials,xlb-mtls-client-credentials ||
		! tb_start_broker "$TB_TMP/conf/env-xlb"; then
		tb_fail "the broker did not start with both flows"
	fi
	tb_c=$TB_PKI/client.pem
	tb_hash=$("$OPENSSL" x509 -in "$tb_c" -outform DER | "$OPENSSL" dgst -sha256 -binary |
		"$OPENSSL" base64 -A | tr -d '=')
	tb_pem=$("$PYTHON3" -c 'import sys, urllib.parse
print(urllib.parse.quote(open(sys.argv[1]).read(), safe=""))' "$tb_c")
	tb_nb=$(date -u -d "$("$OPENSSL" x509 -in "$tb_c" -noout -startdate | cut -d= -f2)" \
		+%Y-%m-%dT%H:%M:%SZ)
	tb_na=$(date -u -d "$("$OPENSSL" x509 -in "$tb_c" -noout -enddate | cut -d= -f2)" \
		+%Y-%m-%dT%H:%M:%SZ)
	tb_serial=$("$OPENSSL" x509 -in "$tb_c" -noout -serial | cut -d= -f2)
	tb_curl smuggle "$TB_BASE/token" --data grant_type=client_credentials \
		-H "X-Client-Cert-Present: true" -H "X-Client-Cert-Chain-Verified: true" \
		-H "X-Client-Cert-Error: none" -H "X-Client-Cert-Hash: $tb_hash" \
		-H "X-Client-Cert-Spiffe: spiffe://example.net/client" \
		-H "X-Client-Cert-URI-SANs: $(printf 'spiffe://example.net/client' | "$OPENSSL" base64 -A)" \
		-H "X-Client-Cert-DNSName-SANs: $(printf 'client.example.net' | "$OPENSSL" base64 -A)" \
		-H "X-Client-Cert-Serial-Number: $tb_serial" \
		-H "X-Client-Cert-Valid-Not-Before: $tb_nb" -H "X-Client-Cert-Valid-Not-After: $tb_na" \
		-H "SSL-Client-Verify: SUCCESS" -H "SSL_CLIENT_VERIFY: SUCCESS" \
		-H "SSL-Client-Cert: $tb_pem" -H "SSL_CLIENT_CERT: $tb_pem"
	tb_expect_invalid_client
	tb_broker_log 'no client certificate (SSL_CLIENT_VERIFY=NONE)' ||
		tb_fail "the broker did not log the request as one without a client certificate"
	tb_end "forged X-Client-Cert-* and SSL_CLIENT_* headers without a certificate, both flows on: 401"

	# The same headers beside the real certificate of another client: the real one decides.
	tb_begin
	tb_curl smuggle-cert "$TB_BASE/token" --data grant_type=client_credentials \
		--cert "$TB_PKI/client2.pem" --key "$TB_PKI/client2.key" \
		-H "X-Client-Cert-Present: true" -H "X-Client-Cert-Hash: $tb_hash" \
		-H "SSL-Client-Cert: $tb_pem" -H "SSL_CLIENT_CERT: $tb_pem"
	tb_expect_status 200
	if [ "$TB_STATUS" = 200 ]; then
		tb_out=$("$PYTHON3" "$TB_E2E/verify_jwt.py" --jwks "$TB_TMP/resp/jwks.body" \
			--iss "$TB_BASE" --aud "$TB_AUD" --cert "$TB_PKI/client2.pem" --alg "$TB_ALG" \
			"$TB_BODY" 2>&1) || tb_fail "$tb_out"
	fi
	tb_end "client2.pem with client.pem's forged headers: a token for client2.pem"

	# Revocation: the shipped env file's commented lines turned on, CRL_FILES a directory
	# with the CA's CRL that lists client.pem (as revocation.sh does through lighttpd, Apache).
	tb_stop_broker
	tb_crldir=$TB_TMP/crl
	mkdir -p "$tb_crldir"
	cp "$TB_BUILDDIR/tests/pki-out/crl/ca-client.pem" "$tb_crldir/client-ca.pem"
	chmod 755 "$tb_crldir"
	chmod 644 "$tb_crldir/client-ca.pem"
	[ "$(id -u)" = 0 ] && chown -R "$TB_RUN_USER:$TB_RUN_GROUP" "$tb_crldir"
	tb_begin
	tb_broker_mark
	if ! tb_broker_env "$TB_TMP/conf/env-crl" +CLIENT_CA_FILE="$TB_PKI/ca.pem" \
		+CRL_FILES="$tb_crldir" || ! tb_start_broker "$TB_TMP/conf/env-crl"; then
		tb_fail "the broker did not start with the revocation lines on"
	fi
	tb_curl revoked "$TB_BASE/token" --data grant_type=client_credentials \
		--cert "$TB_PKI/client.pem" --key "$TB_PKI/client.key"
	tb_expect_invalid_client
	tb_broker_log "the certificate is revoked: serial 00:c9:77:71:db:a8:b7:70:e1:b6:a7:3f:4c:91:80:42:72:77:b5:fd" ||
		tb_fail "no broker log line says client.pem is revoked"
	tb_curl revoked-good "$TB_BASE/token" --data grant_type=client_credentials \
		--cert "$TB_PKI/client2.pem" --key "$TB_PKI/client2.key"
	tb_expect_status 200
	tb_end "revocation on (CLIENT_CA_FILE, CRL_FILES): revoked client.pem 401, client2.pem 200"
}
