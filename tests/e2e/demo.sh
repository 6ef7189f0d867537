#!/bin/sh
# The README's first Quick start command works: scripts/demo --once, with the program from
# this build (no apt-get, no build), a temporary demo directory and a free port, makes its
# PKI with openssl, starts lighttpd from the shipped configuration, gets an ID token with
# the README's curl command, shows its claims, and leaves nothing running.

. "$(dirname "$0")/lib.sh"

tap_plan 3
LIGHTTPD=${LIGHTTPD-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
tb_need lighttpd "$LIGHTTPD" || exit 0
for tool in bash jq "$OPENSSL"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		tap_rest "$tool not installed"
		exit 0
	fi
done

TB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tb-e2e-demo.XXXXXX") || { tap_rest "mktemp failed" fail; exit 1; }
trap tb_cleanup EXIT
trap 'exit 130' INT TERM HUP
TB_PORT=$("$PYTHON3" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
out=$TB_TMP/demo.out
TB_SERVER_LOGS="$out $TB_TMP/demo/log/lighttpd.log $TB_TMP/demo/log/token-broker-error.log"

# Our processes are the ones whose command line names our temporary directory.
ours() {
	for c in /proc/[0-9]*/cmdline; do
		case $(tr '\0' ' ' 2>/dev/null <"$c") in
		*"$TB_TMP"*)
			p=${c#/proc/}
			echo "${p%/cmdline}"
			;;
		esac
	done
}

TB_DEMO_BINARY=$TB_PROGRAM_BUILT TB_DEMO_DIR=$TB_TMP/demo TB_INSTALL=no \
	timeout 120 bash "$TB_SRCDIR/scripts/demo" --once --port "$TB_PORT" >"$out" 2>&1
rc=$?

tb_begin
[ "$rc" = 0 ] || tb_fail "scripts/demo --once exited with $rc"
grep -q '"id_token": "ey' "$out" || tb_fail "no id_token in its output"
tb_end "scripts/demo --once starts lighttpd with token-broker and gets an ID token (port $TB_PORT)"

tb_begin
grep -q "\"iss\": \"https://localhost:$TB_PORT\"" "$out" || tb_fail "no decoded iss claim"
grep -q '"x5_dnssan": "demo-client.example.net"' "$out" || tb_fail "no decoded client claims"
grep -q 'curl "https://localhost:'"$TB_PORT"'/token"' "$out" || tb_fail "the curl command is not shown"
tb_end "it shows the curl command and the token's decoded claims"

tb_begin
left=$(ours)
if [ -n "$left" ]; then
	tb_fail "still running: $left"
	# shellcheck disable=SC2086
	kill -KILL $left 2>/dev/null
fi
tb_end "nothing it started is left running"
