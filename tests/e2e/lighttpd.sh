#!/bin/sh
# End-to-end through real lighttpd: mod_openssl with client certificates and mod_fastcgi
# spawning token-broker, configured from the shipped lighttpd/ files with only paths and the
# port substituted, driven with curl --cert as a client would; then a leak check on the
# FastCGI process over a few hundred requests.

. "$(dirname "$0")/lib.sh"

LEAK_WARMUP=${TB_LEAK_WARMUP:-50}             # requests before the first measurement
LEAK_REQUESTS=${TB_LEAK_REQUESTS:-200}          # requests between the two measurements
LEAK_BOUND_KB=64            # VmRSS growth allowed over LEAK_REQUESTS requests

tap_plan $((1 + TB_NCASES + 1))
LIGHTTPD=${LIGHTTPD-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
tb_need lighttpd "$LIGHTTPD" || exit 0
tb_setup lighttpd

# RS256 signs; the EC key is published too (rotation: every key is in the JWK Set).
TB_ALG=RS256
TB_NKEYS=2
TB_EXPIRED_TLS_OK=0         # ssl.verifyclient.enforce = "disable" passes it to the broker

if ! tb_lighttpd_conf "$TB_PKI/signing-rsa.pem,$TB_PKI/signing-ec.pem"; then
	tap_rest "lighttpd.conf substitution failed" fail
	exit 1
fi

if ! tb_out=$("$LIGHTTPD" -tt -f "$TB_TMP/conf/lighttpd.conf" 2>&1); then
	case $tb_out in
	*mod_openssl*) tap_diag "$tb_out"; tap_rest "lighttpd-mod-openssl not installed"; exit 0 ;;
	esac
	tap_diag "lighttpd -tt: $tb_out"
fi

if tb_start_server "$TB_TMP/log/token-broker-error.log" -- \
	"$LIGHTTPD" -D -f "$TB_TMP/conf/lighttpd.conf"; then
	tap_ok "lighttpd started from the shipped configuration on port $TB_PORT"
else
	tap_rest "lighttpd did not start" fail
	exit 1
fi

tb_run_cases

# ---- leak check: one FastCGI process, many requests, VmRSS before and after ---------------

# tb_burst NAME N: N token requests in one curl run (one connection, kept alive); prints how
# many were not answered 200 (a request without an answer counts).
tb_burst() {
	cfg=$TB_TMP/resp/$1.curlrc
	: >"$cfg"
	i=0
	while [ "$i" -lt "$2" ]; do
		printf 'url = "%s/token"\noutput = "/dev/null"\n' "$TB_BASE" >>"$cfg"
		i=$((i + 1))
	done
	"$CURL_BIN" --silent --max-time 60 --cacert "$TB_PKI/ca.pem" \
		--cert "$TB_PKI/client.pem" --key "$TB_PKI/client.key" \
		--data "grant_type=client_credentials" -w '%{http_code}\n' -K "$cfg" \
		>"$TB_TMP/resp/$1.codes" 2>"$TB_TMP/resp/$1.err"
	echo $(($2 - $(grep -c '^200$' "$TB_TMP/resp/$1.codes")))
}

tb_rss_all() {
	for p in $1; do
		printf '%s=%s ' "$p" "$(tb_rss "$p")"
	done
}

tb_begin
tb_bad=$(tb_burst warmup "$LEAK_WARMUP")
[ "$tb_bad" = 0 ] || tb_fail "warm-up: $tb_bad of $LEAK_WARMUP requests not answered 200"
pids=$(tb_broker_pids)
[ -n "$pids" ] || tb_fail "no token-broker process found below lighttpd (pid $TB_SERVER_PID)"
for p in $pids; do
	if grep -q libasan "/proc/$p/maps" 2>/dev/null; then
		tap_skip "leak check: a sanitizer build (ASan's quarantine grows the heap by design)"
		exit 0
	fi
done
before=$(tb_rss_all "$pids")
tb_bad=$(tb_burst measured "$LEAK_REQUESTS")
[ "$tb_bad" = 0 ] || tb_fail "$tb_bad of $LEAK_REQUESTS requests not answered 200"
after=$(tb_rss_all "$pids")
# The process that served the requests is the one that grew most (lighttpd gives each new
# request to its least loaded process, so one process serves them all here).
growth=$(printf '%s\n%s\n' "$before" "$after" | awk '
	NR == 1 { for (i = 1; i <= NF; i++) { split($i, a, "="); b[a[1]] = a[2] } }
	NR == 2 { for (i = 1; i <= NF; i++) { split($i, a, "=");
		d = a[2] - b[a[1]]; if (best == "" || d > best) { best = d; pid = a[1];
		from = b[a[1]]; to = a[2] } } }
	END { print best + 0, pid, from + 0, to + 0 }')
# shellcheck disable=SC2086
set -- $growth
tap_diag "VmRSS of token-broker pid $2: $3 kB after $LEAK_WARMUP requests, $4 kB after $LEAK_REQUESTS more (+$1 kB; bound $LEAK_BOUND_KB kB); every process before: $before; after: $after"
[ "$1" -le "$LEAK_BOUND_KB" ] || tb_fail "VmRSS grew by $1 kB over $LEAK_REQUESTS requests (bound $LEAK_BOUND_KB kB)"
tb_end "no memory growth in the FastCGI process over $LEAK_REQUESTS sequential token requests"
