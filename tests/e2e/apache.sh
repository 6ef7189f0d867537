#!/bin/sh
# End-to-end through real Apache httpd 2.4: mod_ssl with client certificates and mod_fcgid
# running token-broker, configured from the shipped apache/ files with only paths and the
# port substituted, driven with curl --cert as a client would.

. "$(dirname "$0")/lib.sh"

APACHE2=${APACHE2-$(command -v apache2 || echo /usr/sbin/apache2)}
TB_MODULES=${TB_APACHE_MODULES:-/usr/lib/apache2/modules}

tap_plan $((1 + TB_NCASES + 1))
tb_need apache2 "$APACHE2" || exit 0
tb_need libapache2-mod-fcgid "$APACHE2" "$TB_MODULES/mod_fcgid.so" "$TB_MODULES/mod_ssl.so" ||
	exit 0
tb_setup apache

# ES256 signs here (RS256 through lighttpd); both keys are published.
TB_ALG=ES256
TB_NKEYS=2
# SSLVerifyClient optional_no_ca passes an unknown CA on to the broker (GENEROUS/FAILED),
# but an expired certificate fails the handshake itself.
TB_EXPIRED_TLS_OK=1

if ! tb_subst apache "$TB_SRCDIR/apache/httpd.conf" "$TB_TMP/conf/httpd.conf" \
	TB_CONFDIR="$TB_TMP/conf" \
	TB_LISTEN="127.0.0.1:$TB_PORT" \
	TB_RUNDIR="$TB_TMP/run" \
	TB_LOGDIR="$TB_TMP/log" \
	TB_USER="$TB_RUN_USER" \
	TB_GROUP="$TB_RUN_GROUP" \
	TB_MODULES="$TB_MODULES" ||
	! tb_subst apache "$TB_SRCDIR/apache/token-broker.conf" "$TB_TMP/conf/token-broker.conf" \
		TB_PORT="$TB_PORT" \
		TB_SERVER_NAME=localhost \
		TB_PROGRAM="$TB_PROGRAM" \
		TB_SERVER_CERT="$TB_PKI/server.pem" \
		TB_SERVER_KEY="$TB_PKI/server.key" \
		TB_CLIENT_CA="$TB_PKI/ca.pem" \
		TB_SIGNING_KEYS="$TB_PKI/signing-ec.pem,$TB_PKI/signing-rsa.pem" \
		TB_ISSUER="$TB_BASE"; then
	tap_rest "apache configuration substitution failed" fail
	exit 1
fi

if ! tb_out=$("$APACHE2" -t -f "$TB_TMP/conf/httpd.conf" 2>&1); then
	tap_diag "apache2 -t: $tb_out"
fi

if tb_start_server "$TB_TMP/log/token-broker-error.log" -- \
	"$APACHE2" -f "$TB_TMP/conf/httpd.conf" -DFOREGROUND; then
	tap_ok "apache2 started from the shipped configuration on port $TB_PORT"
else
	tap_rest "apache2 did not start" fail
	exit 1
fi

tb_run_cases

# mod_fcgid runs the broker as its own process class: check it is ours, with the settings
# of the shipped FcgidInitialEnv lines, and that it logged through Apache's error log.
tb_begin
pids=$(tb_broker_pids)
[ -n "$pids" ] || tb_fail "no token-broker process found below apache2 (pid $TB_SERVER_PID)"
for p in $pids; do
	env=$(tr '\0' '\n' 2>/dev/null <"/proc/$p/environ")
	case $env in
	*"TOKEN_ISSUER=$TB_BASE"*) ;;
	*) tb_fail "pid $p has no TOKEN_ISSUER=$TB_BASE in its environment" ;;
	esac
done
grep -q '"severity"' "$TB_TMP/log/token-broker-error.log" ||
	tb_fail "no JSON log line from token-broker in Apache's error log"
tb_end "mod_fcgid runs token-broker with the FcgidInitialEnv settings; its log reaches the error log"
