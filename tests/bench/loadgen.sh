#!/bin/sh
# The load generator of `make bench` (tests/bench/loadgen.c) tested against real lighttpd with
# the trivial responder (tests/bench/trivial.c) behind it: what it counts must be true before
# any figure it prints means anything. It presents the client certificate it parsed once
# (lighttpd here refuses the handshake without one), keeps its connections alive, counts a
# non-2xx answer as an error and exits 1, and exits 2 with curl's reason when the server is
# gone. No timing is asserted.

. "$(dirname "$0")/../e2e/lib.sh"
. "$TB_SRCDIR/tests/bench/lib.sh"

tap_plan 6
LIGHTTPD=${LIGHTTPD-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
tb_need lighttpd "$LIGHTTPD" || exit 0
if [ ! -x "$TB_LOADGEN" ] || [ ! -x "$TB_TRIVIAL_BUILT" ]; then
	tap_rest "tests/bench/loadgen and tests/bench/trivial not built" fail
	exit 1
fi
tb_setup loadgen

# The shipped configuration, the trivial responder in the broker's place, and client
# certificates required for the handshake itself (shipped: asked for, not required).
prog=$(tb_bench_program "$TB_TRIVIAL_BUILT")
tb_lighttpd_conf "$TB_PKI/signing-ec.pem" tb_procs=1 tb_program="\"$prog\"" ||
	{ tap_rest "lighttpd.conf substitution failed" fail; exit 1; }
sed -e 's|^\( *ssl.verifyclient.enforce *= *\)"disable"|\1"enable"|' \
	"$TB_TMP/conf/token-broker.conf" >"$TB_TMP/conf/enforce.conf"
if ! grep -q 'enforce *= *"enable"' "$TB_TMP/conf/enforce.conf"; then
	tap_rest "token-broker.conf has no ssl.verifyclient.enforce line" fail
	exit 1
fi
mv "$TB_TMP/conf/enforce.conf" "$TB_TMP/conf/token-broker.conf"
if tb_start_server "$TB_TMP/log/token-broker-error.log" -- \
	"$LIGHTTPD" -D -f "$TB_TMP/conf/lighttpd.conf"; then
	tap_ok "lighttpd requiring client certificates, the trivial responder behind it"
else
	tap_rest "lighttpd did not start" fail
	exit 1
fi
R=$TB_TMP/resp
URL=https://localhost:$TB_PORT

# 1. A counted run: every request answered 200 on two connections set up once.
tb_begin
tb_bench_load "$R/ok" "$URL/token" -c 2 -w 0 -n 100 -D grant_type=client_credentials
rc=$?
[ "$rc" = 0 ] || tb_fail "exit status $rc, expected 0: $(cat "$R/ok.err")"
[ "$(tb_bench_get "$R/ok" requests)" = 100 ] || tb_fail "requests: $(cat "$R/ok")"
[ "$(tb_bench_get "$R/ok" errors)" = 0 ] || tb_fail "errors: $(cat "$R/ok")"
[ "$(tb_bench_get "$R/ok" status)" = 200:100 ] || tb_fail "status counts: $(cat "$R/ok")"
[ "$(tb_bench_get "$R/ok" handshakes)" = 2 ] || tb_fail "not 2 handshakes (keep-alive): $(cat "$R/ok")"
[ "$(tb_bench_get "$R/ok" connects)" = 2 ] || tb_fail "not 2 connections (keep-alive): $(cat "$R/ok")"
tb_end "100 POSTs on 2 kept-alive connections, the parsed client key presented: 100 x 200, 2 handshakes"

# 2. Non-2xx answers are errors: counted, reported, exit status 1.
tb_begin
tb_bench_load "$R/bad" "$URL/status/503" -c 2 -w 0 -n 20
rc=$?
[ "$rc" = 1 ] || tb_fail "exit status $rc, expected 1: $(cat "$R/bad.err")"
[ "$(tb_bench_get "$R/bad" errors)" = 20 ] || tb_fail "errors: $(cat "$R/bad")"
[ "$(tb_bench_get "$R/bad" status)" = 503:20 ] || tb_fail "status counts: $(cat "$R/bad")"
grep -q 'not 2xx; the first, 503' "$R/bad.err" || tb_fail "no message: $(cat "$R/bad.err")"
tb_end "20 answers 503: 20 errors, counted by status, exit status 1 with a message"

# 3. A run by duration, with a warm-up that is not counted.
tb_begin
tb_bench_load "$R/dur" "$URL/" -c 3 -w 0.2 -d 0.5
rc=$?
[ "$rc" = 0 ] || tb_fail "exit status $rc, expected 0: $(cat "$R/dur.err")"
n=$(tb_bench_get "$R/dur" requests)
[ "${n:-0}" -gt 0 ] || tb_fail "nothing measured: $(cat "$R/dur")"
[ "$(tb_bench_get "$R/dur" status)" = "200:$n" ] || tb_fail "status counts: $(cat "$R/dur")"
for k in rps p50_ms p99_ms; do
	v=$(tb_bench_get "$R/dur" "$k")
	awk -v v="$v" 'BEGIN { exit !(v > 0) }' || tb_fail "$k is '$v'"
done
tb_end "a 0.5 s run after 0.2 s of warm-up: $n requests, all 200, rate and percentiles"

# 4. Without the client certificate the handshake is refused (so 1. did present it): exit 2.
tb_begin
"$TB_LOADGEN" -C "$TB_PKI/ca.pem" -r "localhost:$TB_PORT:127.0.0.1" -c 1 -w 0 -n 1 \
	"$URL/" >"$R/nocert" 2>"$R/nocert.err"
rc=$?
[ "$rc" = 2 ] || tb_fail "exit status $rc, expected 2: $(cat "$R/nocert.err")"
grep -q 'loadgen: stopped: .*curl error' "$R/nocert.err" || tb_fail "no reason: $(cat "$R/nocert.err")"
tb_end "no client certificate: lighttpd ends the handshake, exit status 2 with curl's reason"

# 5. A dead server: exit 2 with curl's reason, at once.
tb_stop_server
tb_begin
tb_bench_load "$R/dead" "$URL/" -c 2 -w 0 -d 2
rc=$?
[ "$rc" = 2 ] || tb_fail "exit status $rc, expected 2: $(cat "$R/dead.err")"
grep -q "loadgen: stopped: $URL/: Couldn't connect to server" "$R/dead.err" ||
	tb_fail "no reason: $(cat "$R/dead.err")"
tb_end "nothing listening: exit status 2, \"$(cat "$R/dead.err")\""
