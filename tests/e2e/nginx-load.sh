#!/bin/sh
# A short load run (a benchmark, not a test: nothing is asserted about time): token requests
# through nginx in front of `token-broker --listen --workers N`, and the same load through
# lighttpd with the broker as its bin-path responder (max-procs N), both from the shipped files.
# Prints requests/s, latency, and the CPU time of the servers (web server and broker processes)
# per request, for the README's claim that nginx costs no more per request than lighttpd.
#
#   tests/e2e/nginx-load.sh               (from a build tree: TB_BUILDDIR=... for another)
#   TB_LOAD_SECONDS=10 TB_LOAD_CONNS=16 TB_LOAD_WORKERS=4 tests/e2e/nginx-load.sh
#
# Needs the bench's load generator (make check builds tests/bench/loadgen), nginx, lighttpd.
# The load generator runs on the same machine, so the rates are the machine's, shared; the CPU
# per request is the servers' own and compares better.

. "$(dirname "$0")/lib.sh"
. "$TB_SRCDIR/tests/bench/lib.sh"

SECONDS_RUN=${TB_LOAD_SECONDS:-5}
CONNS=${TB_LOAD_CONNS:-8}
WORKERS=${TB_LOAD_WORKERS:-4}
NGINX=${NGINX-$(command -v nginx || echo /usr/sbin/nginx)}
LIGHTTPD=${LIGHTTPD-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
HZ=$(getconf CLK_TCK)
BODY=grant_type=client_credentials

for b in "$NGINX" "$LIGHTTPD" "$TB_LOADGEN" "$TB_PROGRAM_BUILT"; do
	[ -x "$b" ] || { echo "nginx-load.sh: $b is missing" >&2; exit 1; }
done
tap_plan 0 >/dev/null
tb_setup_broker nginx-load

# ticks PID...: clock ticks of CPU (user + system) used so far by the PIDs and their trees.
ticks() {
	for root in "$@"; do
		tb_proc_tree "$root" | sed 's/:.*//'
	done | sort -u | while read -r p; do
		sed -e 's/^.*) //' "/proc/$p/stat" 2>/dev/null
		echo
	done | awk 'NF > 13 { t += $12 + $13 } END { print t + 0 }'
}

# run NAME PID...: the load against $TB_BASE/token; prints one result line.
run() {
	name=$1
	shift
	tb_bench_ready "$TB_BASE/token" -D "$BODY" || { echo "$name: no 2xx answer" >&2; return 1; }
	t0=$(ticks "$@")
	tb_bench_load "$TB_TMP/resp/$name" "$TB_BASE/token" -D "$BODY" -c "$CONNS" \
		-d "$SECONDS_RUN" -w 1
	rc=$?
	t1=$(ticks "$@")
	f=$TB_TMP/resp/$name
	# the CPU also covers the warm-up second's requests, which loadgen does not count: per
	# request it is an upper bound for both servers alike
	awk -v n="$name" -v req="$(tb_bench_get "$f" requests)" -v rps="$(tb_bench_get "$f" rps)" \
		-v p50="$(tb_bench_get "$f" p50_ms)" -v p99="$(tb_bench_get "$f" p99_ms)" \
		-v err="$(tb_bench_get "$f" errors)" -v dt=$((t1 - t0)) -v hz="$HZ" -v rc="$rc" 'BEGIN {
		printf "%-26s %8d req %8.1f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %s  CPU %6.2f s  %7.1f us/req%s\n",
			n, req, rps, p50, p99, err, dt / hz, (req > 0 ? dt / hz * 1e6 / req : 0),
			(rc == 0 ? "" : "  (loadgen exit " rc ")") }'
}

echo "# $CONNS connections, ${SECONDS_RUN} s after 1 s of warm-up, $WORKERS broker processes, POST /token with client.pem; $(nproc) CPUs"

# lighttpd, bin-path (the broker as its FastCGI child)
tb_bench_start "$(tb_bench_program "$TB_PROGRAM_BUILT")" "$TB_PKI/signing-ec.pem" "$WORKERS" \
	enable || { echo "lighttpd did not start" >&2; exit 1; }
run "lighttpd bin-path" "$TB_SERVER_PID"
tb_stop_server

# nginx, the broker on its own socket
R=$TB_TMP/run
L=$TB_TMP/log
if ! tb_subst_nginx "$TB_SRCDIR/nginx/nginx.conf" "$TB_TMP/conf/nginx.conf" \
	user="$TB_RUN_USER $TB_RUN_GROUP" pid="$R/nginx.pid" error_log="$L/nginx-error.log warn" \
	access_log="$L/nginx-access.log tb" client_body_temp_path="$R/nginx-body" \
	fastcgi_temp_path="$R/nginx-fastcgi" proxy_temp_path="$R/nginx-proxy" \
	scgi_temp_path="$R/nginx-scgi" uwsgi_temp_path="$R/nginx-uwsgi" ||
	! tb_subst_nginx "$TB_SRCDIR/nginx/token-broker.conf" "$TB_TMP/conf/token-broker.conf" \
		listen="127.0.0.1:$TB_PORT ssl http2" server_name=localhost \
		ssl_certificate="$TB_PKI/server.pem" ssl_certificate_key="$TB_PKI/server.key" \
		ssl_client_certificate="$TB_PKI/ca.pem" fastcgi_pass="unix:$R/fcgi.sock" ||
	! tb_subst_env "$TB_SRCDIR/systemd/token-broker.env" "$TB_TMP/conf/env" \
		SIGNING_KEYS="$TB_PKI/signing-ec.pem" TOKEN_ISSUER="$TB_BASE"; then
	echo "substitution failed" >&2
	exit 1
fi
TB_BROKER_WORKERS=$WORKERS
tb_start_broker "$TB_TMP/conf/env" || { echo "the broker did not start" >&2; exit 1; }
tb_start_server "$L/nginx-error.log" -- "$NGINX" -c "$TB_TMP/conf/nginx.conf" -g 'daemon off;' ||
	{ echo "nginx did not start" >&2; exit 1; }
run "nginx + --listen" "$TB_SERVER_PID" "$TB_BROKER_PID"
