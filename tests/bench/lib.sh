# lib.sh (tests/bench): what scripts/bench and tests/bench/loadgen.sh share on top of
# tests/e2e/lib.sh: the shipped lighttpd configuration in front of any FastCGI program, the
# load generator, and the server's CPU time and each responder's memory read from /proc.
#
# Sourced (POSIX sh) after tests/e2e/lib.sh and tb_setup.
# shellcheck shell=sh

TB_LOADGEN=$TB_BUILDDIR/tests/bench/loadgen
# shellcheck disable=SC2034 # for the scripts that source this file
TB_TRIVIAL_BUILT=$TB_BUILDDIR/tests/bench/trivial
TB_READY_TRIES=300          # tenths of a second for the responder to answer 2xx after start

# tb_bench_program FILE: prints a path of FILE that lighttpd's user may run (a copy in
# $TB_TMP/bin when root: the servers drop to nobody, as tb_setup explains).
tb_bench_program() {
	if [ "$(id -u)" = 0 ]; then
		tbb_dst=$TB_TMP/bin/$(basename "$1")
		[ -x "$tbb_dst" ] || { cp "$1" "$tbb_dst" && chmod 755 "$tbb_dst"; } || return 1
		echo "$tbb_dst"
	else
		echo "$1"
	fi
}

# tb_bench_start PROGRAM KEYS PROCS EXPORTCERT [NAME=VALUE...]: lighttpd from the shipped
# files with PROGRAM as its FastCGI responder (max-procs PROCS, signing keys KEYS), the
# certificate exported (EXPORTCERT "enable", as shipped) or not ("disable"), and every
# NAME=VALUE in its environment, which lighttpd hands to the responders. Returns 1 when it
# does not start.
tb_bench_start() {
	tbb_prog=$1
	tbb_keys=$2
	tbb_np=$3
	tbb_exp=$4
	shift 4
	tb_stop_server
	tb_lighttpd_conf "$tbb_keys" tb_procs="$tbb_np" tb_program="\"$tbb_prog\"" || return 1
	tbb_bconf=$TB_TMP/conf/token-broker.conf
	sed -e "s|^\\( *ssl.verifyclient.exportcert *= *\\)\"enable\"|\\1\"$tbb_exp\"|" \
		"$tbb_bconf" >"$tbb_bconf.new" && mv "$tbb_bconf.new" "$tbb_bconf"
	grep -q "exportcert *= *\"$tbb_exp\"" "$tbb_bconf" ||
		{ echo "token-broker.conf: no ssl.verifyclient.exportcert line to set" >&2; return 1; }
	for kv in "$@"; do export "${kv?}"; done
	tb_start_server "$TB_TMP/log/token-broker-error.log" -- \
		"$LIGHTTPD" -D -f "$TB_TMP/conf/lighttpd.conf" >/dev/null
	tbb_rc=$?
	for kv in "$@"; do unset "${kv%%=*}"; done
	return $tbb_rc
}

# tb_bench_load OUT URL [LOADGEN-ARGS...]: the load generator with the test CA and the client
# certificate against URL; its key=value line in OUT, its sentences in OUT.err. Returns its
# exit status.
tb_bench_load() {
	tbb_out=$1
	tbb_url=$2
	shift 2
	"$TB_LOADGEN" -C "$TB_PKI/ca.pem" -E "$TB_PKI/client.pem" -K "$TB_PKI/client.key" \
		-r "localhost:$TB_PORT:127.0.0.1" "$@" "$tbb_url" >"$tbb_out" 2>"$tbb_out.err"
}

# tb_bench_get FILE KEY: a value from a load generator's key=value line.
tb_bench_get() { tr ' ' '\n' <"$1" | sed -n "s/^$2=//p"; }

# tb_bench_ready URL [LOADGEN-ARGS...]: waits (bounded) until one request gets a 2xx answer:
# lighttpd answers 503 while a responder is still loading (a large CRL, a registry).
tb_bench_ready() {
	tbb_i=0
	while [ "$tbb_i" -lt "$TB_READY_TRIES" ]; do
		tb_bench_load "$TB_TMP/resp/ready" "$@" -c 1 -w 0 -n 1 && return 0
		sleep 0.1
		tbb_i=$((tbb_i + 1))
	done
	cat "$TB_TMP/resp/ready.err" >&2
	return 1
}

# The server's processes now: lighttpd and everything below it.
tb_bench_tree() { tb_proc_tree "$TB_SERVER_PID" | sed 's/:.*//'; }

# The pids of the FastCGI responders (every process below lighttpd), one a line.
tb_bench_responders() { tb_bench_tree | grep -vx "$TB_SERVER_PID"; }

# Clock ticks of CPU (user + system) used so far by lighttpd and its responders.
tb_bench_ticks() {
	for p in $(tb_bench_tree); do
		# after the ") " that ends the command name, utime and stime are the 12th and 13th
		sed -e 's/^.*) //' "/proc/$p/stat" 2>/dev/null
		echo
	done | awk 'NF > 13 { t += $12 + $13 } END { print t + 0 }'
}

# tb_bench_mem PID: "RSS PRIVATE" in KiB, from /proc/PID/smaps_rollup (private is
# Private_Clean + Private_Dirty: what the process alone holds).
tb_bench_mem() {
	awk '/^Rss:/ { r = $2 } /^Private_(Clean|Dirty):/ { p += $2 } END { print r + 0, p + 0 }' \
		"/proc/$1/smaps_rollup" 2>/dev/null
}

# tb_bench_libs PID: "TOTAL LIBS" KiB: the RSS of every mapping, and of the file-backed
# shared-object mappings (/proc/PID/smaps).
tb_bench_libs() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { lib = ($6 ~ /\.so(\.|$)/) }
		/^Rss:/ { t += $2; if (lib) l += $2 }
		END { print t + 0, l + 0 }' "/proc/$1/smaps" 2>/dev/null
}

# tb_bench_libnames PID: the shared objects mapped into PID, by file name, one line.
tb_bench_libnames() {
	awk '$6 ~ /\.so(\.|$)/ { n = $6; sub(/.*\//, "", n); print n }' "/proc/$1/maps" |
		sort -u | tr '\n' ' '
}
