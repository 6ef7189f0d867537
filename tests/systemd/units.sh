#!/bin/sh
# The shipped systemd units (systemd/token-broker.socket, token-broker.service): clean under
# `systemd-analyze verify`, and the service's own ExecStart line, given a socket the way
# systemd passes it (systemd-socket-activate: LISTEN_FDS, LISTEN_PID), serves FastCGI on it and
# stops on the unit's KillSignal. The paths are filled in as `make install` fills them, with
# the built program and a test env file in place of the installed ones.

. "$(dirname "$0")/../e2e/lib.sh"

SYSTEMD_ANALYZE=${SYSTEMD_ANALYZE-$(command -v systemd-analyze || echo /usr/bin/systemd-analyze)}
SOCKET_ACTIVATE=${SOCKET_ACTIVATE-$(command -v systemd-socket-activate || echo /usr/bin/systemd-socket-activate)}
CGI_FCGI=${CGI_FCGI-$(command -v cgi-fcgi || echo /usr/bin/cgi-fcgi)}
SHIPPED_PROGRAM=/usr/local/libexec/token-broker
SHIPPED_CONFDIR=/usr/local/etc/token-broker
SHIPPED_SOCKET=/run/token-broker/fcgi.sock

tap_plan 5
tb_need systemd-analyze "$SYSTEMD_ANALYZE" || exit 0
tb_setup systemd
U=$TB_TMP/units
mkdir -p "$U"

# unit_value UNIT KEY: the value of KEY= in a unit file (the last one).
unit_value() { sed -n "s/^$2=//p" "$1" | tail -n 1; }

tb_begin
for u in token-broker.socket token-broker.service; do
	sed -e "s|$SHIPPED_PROGRAM|$TB_PROGRAM_BUILT|g" -e "s|$SHIPPED_CONFDIR|$TB_TMP/conf|g" \
		"$TB_SRCDIR/systemd/$u" >"$U/$u"
done
grep -q "$SHIPPED_PROGRAM" "$TB_SRCDIR/systemd/token-broker.service" ||
	tb_fail "token-broker.service does not name $SHIPPED_PROGRAM (make install fills it in)"
# Documentation= names the manual page, which is installed only by make install.
out=$(cd "$U" && "$SYSTEMD_ANALYZE" verify --man=no ./token-broker.socket ./token-broker.service 2>&1)
rc=$?
[ "$rc" = 0 ] || tb_fail "systemd-analyze verify exited $rc"
[ -z "$out" ] || tb_fail "systemd-analyze verify: $out"
tb_end "systemd-analyze verify: token-broker.socket and token-broker.service clean"

tb_begin
for kv in ListenStream=$SHIPPED_SOCKET SocketMode=0660 Accept=no; do
	[ "$(unit_value "$U/token-broker.socket" "${kv%%=*}")" = "${kv#*=}" ] ||
		tb_fail "token-broker.socket: ${kv%%=*} is not ${kv#*=}"
done
# shellcheck disable=SC2016 # $MAINPID is the unit's text, for systemd to expand
for kv in ProtectSystem=strict PrivateTmp=yes NoNewPrivileges=yes ProtectHome=yes \
	CapabilityBoundingSet= "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
	KillSignal=SIGTERM 'ExecReload=/bin/kill -HUP $MAINPID' User=token-broker; do
	[ "$(unit_value "$U/token-broker.service" "${kv%%=*}")" = "${kv#*=}" ] ||
		tb_fail "token-broker.service: ${kv%%=*} is not '${kv#*=}'"
done
# systemd's own score of the sandbox: "OK" or better (lower exposure).
exposure=$("$SYSTEMD_ANALYZE" security --offline=true "$U/token-broker.service" 2>/dev/null |
	sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')
case $exposure in
*" OK" | *" SAFE") ;;
"") tap_diag "systemd-analyze security --offline is not available here" ;;
*) tb_fail "systemd-analyze security: exposure $exposure, expected OK or SAFE" ;;
esac
tb_end "the socket's address and mode, the service's hardening (exposure ${exposure:-not measured})"

# The service's ExecStart as systemd would run it, on a socket passed by socket activation.
if [ ! -x "$SOCKET_ACTIVATE" ] || [ ! -x "$CGI_FCGI" ]; then
	tap_rest "systemd-socket-activate or cgi-fcgi not installed"
	exit 0
fi
tb_subst_env "$TB_SRCDIR/systemd/token-broker.env" "$TB_TMP/conf/env" \
	SIGNING_KEYS="$TB_PKI/signing-ec.pem" TOKEN_ISSUER=https://broker.example.net ||
	{ tap_rest "env file substitution failed" fail; exit 1; }
exec_start=$(unit_value "$U/token-broker.service" ExecStart)
sock=$TB_TMP/run/fcgi.sock
# shellcheck disable=SC2086 # the unit's command line, split as systemd splits it (no quotes)
"$SOCKET_ACTIVATE" -l "$sock" $exec_start 2>"$TB_TMP/log/broker.log" &
pid=$!
TB_SERVER_PID=$pid # tb_cleanup stops it
i=0
while [ ! -S "$sock" ] && [ "$i" -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done

tb_begin
# cgi-fcgi -bind: one FastCGI request with its own environment, the answer on standard output
out=$(env -i REQUEST_METHOD=GET SCRIPT_NAME= PATH_INFO=/.well-known/openid-configuration \
	HTTP_HOST=broker.example.net SERVER_PROTOCOL=HTTP/1.1 \
	"$CGI_FCGI" -bind -connect "$sock" 2>&1 </dev/null)
case $out in
*'"issuer":"https://broker.example.net"'*) ;;
*) tb_fail "no discovery document from the socket: $(printf '%s' "$out" | head -c 300)" ;;
esac
# Without --listen, only a socket from systemd makes it a supervisor of --workers N.
workers=$(printf '%s\n' "$exec_start" | sed -n 's/.*--workers \([0-9]*\).*/\1/p')
grep -q "supervisor (pid [0-9]*) starts ${workers:-?} workers" "$TB_TMP/log/broker.log" ||
	tb_fail "the broker did not log starting ${workers:-?} workers: $(tail -n 3 "$TB_TMP/log/broker.log")"
tb_end "ExecStart ($exec_start) serves FastCGI on the socket systemd passes"

tb_begin
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ "$i" -lt "$TB_STOP_TIMEOUT" ]; do
	sleep 0.1
	i=$((i + 1))
done
if kill -0 "$pid" 2>/dev/null; then
	tb_fail "still running $((TB_STOP_TIMEOUT / 10)) s after SIGTERM"
else
	wait "$pid"
	rc=$?
	[ "$rc" = 0 ] || tb_fail "exit status $rc after SIGTERM"
	TB_SERVER_PID=
fi
tb_end "KillSignal=SIGTERM to the main process: it stops, exit status 0"

tb_begin
kill_mode=$(unit_value "$U/token-broker.service" KillMode)
timeout=$(unit_value "$U/token-broker.service" TimeoutStopSec)
[ "$kill_mode" = mixed ] || tb_fail "KillMode=$kill_mode: SIGTERM would reach the workers first"
[ "${timeout:-0}" -ge 45 ] || tb_fail "TimeoutStopSec=$timeout is shorter than a token request may take (45 s)"
tb_end "KillMode=mixed and TimeoutStopSec=$timeout: workers finish their requests before SIGKILL"
