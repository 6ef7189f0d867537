#!/bin/sh
# unit.sh: systemd/token-broker-credential.service (clean under `systemd-analyze verify`, its
# hardening), serve configured by TOKEN_BROKER_* variables alone as the unit configures it,
# and the settings serve refuses at start: exit 1 with one JSON line naming the setting (TAP).

if [ ! -f "$(dirname "$0")/../e2e/lib.sh" ]; then
	echo "1..0 # SKIP tests/e2e/lib.sh is missing"
	exit 0
fi
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/../e2e/lib.sh"

HELPER=$TB_BUILDDIR/src/token-broker-credential
UNIT=$TB_SRCDIR/systemd/token-broker-credential.service
tap_plan 4
if [ ! -x "$HELPER" ]; then
	tap_rest "$HELPER not built" fail
	exit 1
fi
tb_setup unit
SV_PID=
# shellcheck disable=SC2154 # sv_rc is set as the trap runs
trap 'sv_rc=$?; [ -z "$SV_PID" ] || { kill -TERM "$SV_PID"; wait "$SV_PID"; }; (exit $sv_rc); tb_cleanup' EXIT

# ---- the unit --------------------------------------------------------------------------------
SYSTEMD_ANALYZE=$(command -v systemd-analyze || true)
if [ -n "$SYSTEMD_ANALYZE" ]; then
	tb_begin
	# ExecStart must name a program that exists: the built one stands in for the installed one
	sed -e "s|/usr/local/bin/token-broker-credential|$HELPER|" "$UNIT" >"$TB_TMP/conf/token-broker-credential.service"
	grep -q '^ExecStart=/usr/local/bin/token-broker-credential serve$' "$UNIT" ||
		tb_fail "ExecStart is not the installed program's serve"
	out=$(cd "$TB_TMP/conf" && "$SYSTEMD_ANALYZE" verify --man=no ./token-broker-credential.service 2>&1)
	[ -z "$out" ] || tb_fail "systemd-analyze verify: $out"
	tb_end "systemd-analyze verify: token-broker-credential.service clean"

	tb_begin
	for kv in NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes ProtectHome=yes \
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" User=token-broker-credential \
		EnvironmentFile=/usr/local/etc/token-broker/credential.env; do
		grep -qx -- "$kv" "$UNIT" || tb_fail "no line $kv"
	done
	exposure=$("$SYSTEMD_ANALYZE" security --offline=true "$TB_TMP/conf/token-broker-credential.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')
	tb_end "the unit's hardening (exposure ${exposure:-not measured})"
else
	tap_rest "systemd-analyze not installed"
	tb_n=2
fi

# ---- serve from the environment alone --------------------------------------------------------
MPORT=$("$PYTHON3" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
cat >"$TB_TMP/conf/credential.env" <<EOF
TOKEN_BROKER_URL=https://127.0.0.1:9/token
TOKEN_BROKER_CERT=$TB_PKI/client.pem
TOKEN_BROKER_KEY=$TB_PKI/client.key
TOKEN_BROKER_CACERT=$TB_PKI/ca.pem
TOKEN_BROKER_SCOPE=https://www.googleapis.com/auth/cloud-platform
TOKEN_BROKER_SERVICE_ACCOUNT=device@env-project.iam.gserviceaccount.com
TOKEN_BROKER_LISTEN=127.0.0.1:$MPORT
TOKEN_BROKER_PROJECT_NUMBER=42
EOF
tb_begin
# shellcheck disable=SC2046 # one KEY=value word a line, as EnvironmentFile= reads them
env $(cat "$TB_TMP/conf/credential.env") "$HELPER" serve 2>"$TB_TMP/log/serve.log" &
SV_PID=$!
i=0
until "$CURL_BIN" --silent --max-time 2 -o /dev/null -H 'Metadata-Flavor: Google' "http://127.0.0.1:$MPORT/"; do
	i=$((i + 1))
	if [ "$i" -gt 100 ] || ! kill -0 "$SV_PID" 2>/dev/null; then
		tb_fail "serve did not start: $(cat "$TB_TMP/log/serve.log")"
		break
	fi
	sleep 0.1
done
TB_BODY=$TB_TMP/resp/email
"$CURL_BIN" --silent -H 'Metadata-Flavor: Google' -o "$TB_BODY" \
	"http://127.0.0.1:$MPORT/computeMetadata/v1/instance/service-accounts/default/email"
[ "$(cat "$TB_BODY")" = device@env-project.iam.gserviceaccount.com ] || tb_fail "email '$(cat "$TB_BODY")'"
"$CURL_BIN" --silent -H 'Metadata-Flavor: Google' -o "$TB_BODY" \
	"http://127.0.0.1:$MPORT/computeMetadata/v1/project/project-id"
[ "$(cat "$TB_BODY")" = env-project ] || tb_fail "project-id '$(cat "$TB_BODY")'"
"$CURL_BIN" --silent -H 'Metadata-Flavor: Google' -o "$TB_BODY" \
	"http://127.0.0.1:$MPORT/computeMetadata/v1/project/numeric-project-id"
[ "$(cat "$TB_BODY")" = 42 ] || tb_fail "numeric-project-id '$(cat "$TB_BODY")'"
kill -TERM "$SV_PID"
wait "$SV_PID"
rc=$?
SV_PID=
[ "$rc" = 0 ] || tb_fail "exit $rc after SIGTERM"
tb_end "serve configured by the TOKEN_BROKER_* variables alone, as the unit runs it; SIGTERM: exit 0"

# ---- settings refused at start ---------------------------------------------------------------
tb_begin
ok_args="--url https://127.0.0.1:9/token --cert $TB_PKI/client.pem --key $TB_PKI/client.key --scope https://www.googleapis.com/auth/cloud-platform"
# refused ARGS... -- PATTERN: serve exits 1 at once, its one log line matching PATTERN
refused() {
	args=
	while [ "$1" != -- ]; do
		args="$args $1"
		shift
	done
	# shellcheck disable=SC2086 # the arguments are words
	timeout 20 "$HELPER" serve $args >"$TB_TMP/resp/refused.out" 2>"$TB_TMP/resp/refused.err"
	r=$?
	[ "$r" = 1 ] || tb_fail "serve$args: exit $r, not 1"
	if ! grep -q '"severity":"ERROR"' "$TB_TMP/resp/refused.err" ||
		! grep -q -- "$2" "$TB_TMP/resp/refused.err"; then
		tb_fail "serve$args: no ERROR line naming $2: $(cat "$TB_TMP/resp/refused.err")"
	fi
}
# shellcheck disable=SC2086
refused $ok_args --listen "0.0.0.0:$MPORT" -- "--allow-remote"
# shellcheck disable=SC2086
refused $ok_args --listen "[::1]:$MPORT" --allow-remote --refresh-margin 0 -- "--refresh-margin"
refused --url "https://127.0.0.1:9/token" --cert "$TB_PKI/client.pem" -- "--scope"
refused --url "http://127.0.0.1:9/token" --cert "$TB_PKI/client.pem" --scope x -- "https://"
# shellcheck disable=SC2086
refused $ok_args --key "$TB_PKI/client2.key" -- "does not match"
# shellcheck disable=SC2086
refused $ok_args --listen "localhost" -- "--listen"
tb_end "refused at start with one ERROR line naming the problem: a non-loopback address without --allow-remote, a bad margin, no scope, plain http, a key that does not match, no port"
