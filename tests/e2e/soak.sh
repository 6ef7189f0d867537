#!/bin/sh
# soak.sh: 100,000 requests through ONE lighttpd-spawned token-broker FastCGI process (the
# shipped configuration, max-procs 1, mutual TLS on loopback, keep-alive connections), with a
# client registry and the Google stand-in acting out a fault per request: successes, refusals of
# every kind and Google refusing, failing, hanging past UPSTREAM_TIMEOUT and dropping the
# connection, mixed. Checks that every answer is right, that the process's VmRSS and open
# descriptors stay flat, that no request waits past its timeout, and that the process is never
# restarted and logs no crash. Too long for make check: scripts/test runs it ("soak" run).
#
#   TB_SOAK_REQUESTS (100000), TB_SOAK_THREADS (6), TB_SOAK_MARGIN (2 s) change the run.

. "$(dirname "$0")/lib.sh"

SOAK_REQUESTS=${TB_SOAK_REQUESTS:-100000}
SOAK_THREADS=${TB_SOAK_THREADS:-6}
# Every request that meets a hang waits for it: the one process serves one request at a time,
# so a request queued behind a hanging one (the client lets only one hang run at a time) takes
# UPSTREAM_TIMEOUT plus its own time and that of the few queued with it. The margin covers
# that and a busy 2-core machine; a timeout not applied (the stand-in hangs for 120 s, the
# client gives up after 30 s), or the default 10 s, is far beyond it.
SOAK_TIMEOUT=1
SOAK_MARGIN=${TB_SOAK_MARGIN:-2}
# VmRSS growth allowed after warm-up (the first 10,000 requests, every kind among them). By
# then the allocator holds the most that any request needs (warm-up grows VmRSS by about
# 250 KiB, the 90,000 requests after it by a few KiB at most), while a leak of 12 bytes on
# every request, or of 1.2 KiB on one request in a hundred, passes 1 MiB over those 90,000.
# Smaller leaks are valgrind's to find (scripts/test's valgrind run).
SOAK_RSS_BOUND_KB=1024
SOAK_SAMPLE_EVERY=10000

SCOPE=https://www.googleapis.com/auth/cloud-platform
SA=sa@test-project.iam.gserviceaccount.com

tap_plan 8
LIGHTTPD=${LIGHTTPD-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
tb_need lighttpd "$LIGHTTPD" || exit 0
tb_setup soak

W=$TB_TMP/soak
mkdir -p "$W"

# The registry: the PKI's client certificate is the one client, allowed the cloud-platform
# scope, one service account, and the stand-in's fault scopes and accounts; spiffe.pem (signed
# by the same CA) is verified but unknown.
if ! "$PYTHON3" - "$W/clients.json" "$SCOPE" "$SA" <<'PY'
import json, sys
modes = ["refuse", "error500", "hang", "drop"]
json.dump({"clients": [{
    "client_id": "soak-client",
    "match": {"dnssan": "client.example.net"},
    "scopes": [sys.argv[2]] + ["https://standin.test/fault/" + m for m in modes],
    "service_accounts": [sys.argv[3]] +
                        ["fault-%s@test-project.iam.gserviceaccount.com" % m for m in modes],
}]}, open(sys.argv[1], "w"), indent=1)
PY
then
	tap_rest "registry not written" fail
	exit 1
fi
chmod 644 "$W/clients.json"

# The stand-in verifies ID tokens, as STS does, against the broker's JWK Set; each request
# picks its own fault (--fault-by-request), since the client's threads want different ones.
SIGNING_KEYS=$TB_PKI/signing-rsa.pem TOKEN_AUDIENCE=x "$TB_PROGRAM_BUILT" --jwks >"$W/jwks.json"
"$PYTHON3" "$TB_SRCDIR/tests/google/standin.py" --port 0 --ready-file "$W/ready" \
	--jwks "$W/jwks.json" --mode sts=ok,iam=ok,meta=ok --fault-by-request \
	2>"$W/standin.err" &
TB_STANDIN_PID=$!
i=0
while [ ! -s "$W/ready" ] && [ "$i" -lt 100 ] && kill -0 "$TB_STANDIN_PID" 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
SPORT=$(cat "$W/ready" 2>/dev/null)
if [ -z "$SPORT" ]; then
	tap_diag "$(cat "$W/standin.err")"
	tap_rest "the Google stand-in did not start" fail
	exit 1
fi

tb_lighttpd_conf "$TB_PKI/signing-rsa.pem" tb_pool_id='"test-pool"' \
	tb_provider_id='"test-provider"' tb_procs=1 ||
	{ tap_rest "lighttpd.conf substitution failed" fail; exit 1; }
if ! tb_out=$("$LIGHTTPD" -tt -f "$TB_TMP/conf/lighttpd.conf" 2>&1); then
	case $tb_out in
	*mod_openssl*) tap_diag "$tb_out"; tap_rest "lighttpd-mod-openssl not installed"; exit 0 ;;
	esac
	tap_diag "lighttpd -tt: $tb_out"
fi

# lighttpd hands its own environment to the process it spawns, and its standard error (the
# server's output, lighttpd being in the foreground), where the broker logs.
LIGHTTPD_LOG=$TB_TMP/log/token-broker-error.log
BROKER_OUT=$TB_TMP/log/server-output.log
if CLIENT_REGISTRY=$W/clients.json STS_ENDPOINT=http://127.0.0.1:$SPORT \
	IAMCREDENTIALS_ENDPOINT=http://127.0.0.1:$SPORT GCE_METADATA_HOST=127.0.0.1:$SPORT \
	UPSTREAM_TIMEOUT=$SOAK_TIMEOUT \
	tb_start_server "$LIGHTTPD_LOG" -- "$LIGHTTPD" -D -f "$TB_TMP/conf/lighttpd.conf"; then
	:
else
	tap_rest "lighttpd did not start" fail
	exit 1
fi

# Prints "pid:starttime" of the one token-broker process (starttime: /proc/PID/stat field 22,
# so a restarted process with a recycled pid still differs).
broker() {
	for p in $(tb_broker_pids); do
		printf '%s:%s\n' "$p" "$(sed -e 's/^.*) //' "/proc/$p/stat" | awk '{ print $20 }')"
	done
}
BROKER=$(broker)
case $BROKER in
[0-9]*:[0-9]*)
	tap_ok "lighttpd on port $TB_PORT with one token-broker process" \
		"(pid ${BROKER%%:*}), stand-in on $SPORT"
	;;
*)
	tap_not_ok "lighttpd with exactly one token-broker process" \
		"(found: $(echo "$BROKER" | tr "\n" " "))"
	tap_rest "no single FastCGI process to watch" fail
	exit 1
	;;
esac
BROKER_PID=${BROKER%%:*}

# CPU seconds (user + system) that a process has used so far, from /proc/PID/stat.
cpu() {
	sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null |
		awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($12 + $13) / hz }'
	[ -e "/proc/$1/stat" ] || printf '(gone)'
}

start=$(date +%s)
"$PYTHON3" "$TB_E2E/soak_client.py" --port "$TB_PORT" --pki "$TB_PKI" --pid "$BROKER_PID" \
	--timeout "$SOAK_TIMEOUT" --margin "$SOAK_MARGIN" --requests "$SOAK_REQUESTS" \
	--threads "$SOAK_THREADS" --sample-every "$SOAK_SAMPLE_EVERY" \
	--rss-bound "$SOAK_RSS_BOUND_KB" >"$W/client.out" 2>"$W/client.err"
rc=$?
elapsed=$(($(date +%s) - start))
tap_diag "CPU seconds: token-broker $(cpu "$BROKER_PID"), lighttpd $(cpu "$TB_SERVER_PID"),\
 stand-in $(cpu "$TB_STANDIN_PID"), $(sed -n 's/^CPU //p' "$W/client.err")"

# The client's four checks (answers, VmRSS, descriptors, latency) and its figures.
nchecks=0
while IFS= read -r line; do
	case $line in
	"PASS "*) tap_ok "${line#PASS }"; nchecks=$((nchecks + 1)) ;;
	"FAIL "*) tap_not_ok "${line#FAIL }"; nchecks=$((nchecks + 1)) ;;
	*) tap_diag "$line" ;;
	esac
done <"$W/client.out"
if [ "$rc" = 0 ] && [ "$nchecks" = 4 ]; then
	tap_ok "the client ran to the end in $elapsed s"
else
	tap_diag "$(tail -n 20 "$W/client.err")"
	while [ "$nchecks" -lt 4 ]; do
		tap_not_ok "client check $((nchecks + 1)) not reported"
		nchecks=$((nchecks + 1))
	done
	tap_not_ok "the client ran to the end (exit $rc after $elapsed s)"
fi

tb_begin
now=$(broker)
[ "$now" = "$BROKER" ] ||
	tb_fail "token-broker processes now: '$(echo "$now" | tr "\n" " ")', at the start: '$BROKER'"
tb_end "the same token-broker process served every request (pid $BROKER_PID, never restarted)"

# The broker's standard error (lighttpd's, in the foreground): JSON lines only, none CRITICAL or
# worse, one startup. Anything else there (glibc's "free(): invalid pointer", a sanitizer's
# report) is a crash. lighttpd's own log says when a backend died, was respawned or overloaded.
tb_begin
if ! tb_out=$("$PYTHON3" - "$BROKER_OUT" <<'PY' 2>&1
import json, sys
n = starts = 0
bad = []
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    n += 1
    try:
        o = json.loads(line)
        sev, event = o["severity"], o["logging.googleapis.com/labels"]["event"]
    except (ValueError, KeyError, TypeError):
        bad.append("not a JSON log line: " + line[:300].rstrip())
        continue
    starts += event == "runtime.startup"
    if sev in ("CRITICAL", "ALERT", "EMERGENCY"):
        bad.append(line[:300].rstrip())
if starts != 1:
    bad.append("%d runtime.startup lines, expected 1" % starts)
print("%d lines" % n)
if bad:
    print("%d problems, the first:\n%s" % (len(bad), "\n".join(bad[:5])))
    sys.exit(1)
PY
); then
	tb_fail "$tb_out"
fi
if tb_bad=$(grep -m 5 -i -e 'died' -e 'child exited' -e 'child signalled' -e 'respawn' \
	-e 'overload' -e 'out-of-fds' -e 'connection limit' -e 'idle-timeout' "$LIGHTTPD_LOG"); then
	tb_fail "lighttpd reports a backend problem:" "$tb_bad"
fi
tb_end "the broker's log ($(echo "$tb_out" | head -n 1)) has one startup, no CRITICAL line,\
 no crash; lighttpd's reports no backend problem"
