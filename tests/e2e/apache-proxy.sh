#!/bin/sh
# End-to-end through real Apache httpd 2.4 with mod_proxy_fcgi: mod_ssl with client
# certificates, every request forwarded to token-broker on its own socket (token-broker
# --listen), configured from the shipped apache/httpd.conf and apache/token-broker-proxy.conf
# and systemd/token-broker.env with only paths and the port substituted, driven with curl
# --cert as a client would; then what the proxy passes or keeps back, and revocation.

. "$(dirname "$0")/lib.sh"

APACHE2=${APACHE2-$(command -v apache2 || echo /usr/sbin/apache2)}
TB_MODULES=${TB_APACHE_MODULES:-/usr/lib/apache2/modules}

tap_plan $((2 + TB_NCASES + TB_NSOCKET_CASES + 1))
tb_need apache2 "$APACHE2" || exit 0
# httpd.conf loads mod_fcgid for either site (it is the one server-wide file of both).
tb_need "apache2 modules" "$APACHE2" "$TB_MODULES/mod_ssl.so" "$TB_MODULES/mod_proxy_fcgi.so" \
	"$TB_MODULES/mod_fcgid.so" || exit 0
tb_setup_broker apache-proxy

# RS256 signs (the shipped env file's defaults in tb_broker_env); both keys are published.
TB_ALG=RS256
TB_NKEYS=2
# SSLVerifyClient optional_no_ca passes an unknown CA on to the broker, but an expired
# certificate fails the handshake itself.
TB_EXPIRED_TLS_OK=1

if ! tb_subst apache "$TB_SRCDIR/apache/httpd.conf" "$TB_TMP/conf/httpd.conf" \
	TB_CONFDIR="$TB_TMP/conf" \
	TB_LISTEN="127.0.0.1:$TB_PORT" \
	TB_RUNDIR="$TB_TMP/run" \
	TB_LOGDIR="$TB_TMP/log" \
	TB_USER="$TB_RUN_USER" \
	TB_GROUP="$TB_RUN_GROUP" \
	TB_MODULES="$TB_MODULES" \
	TB_SITE=token-broker-proxy.conf ||
	! tb_subst apache "$TB_SRCDIR/apache/token-broker-proxy.conf" \
		"$TB_TMP/conf/token-broker-proxy.conf" \
		TB_PORT="$TB_PORT" \
		TB_SERVER_NAME=localhost \
		TB_SOCKET="$TB_TMP/run/fcgi.sock" \
		TB_SERVER_CERT="$TB_PKI/server.pem" \
		TB_SERVER_KEY="$TB_PKI/server.key" \
		TB_CLIENT_CA="$TB_PKI/ca.pem" ||
	! tb_broker_env "$TB_TMP/conf/env"; then
	tap_rest "apache or env file substitution failed" fail
	exit 1
fi

if tb_start_broker "$TB_TMP/conf/env"; then
	tap_ok "token-broker --listen unix:$TB_SOCKET --workers $TB_BROKER_WORKERS from the shipped env file"
else
	tap_rest "the broker did not start" fail
	exit 1
fi

if ! tb_out=$("$APACHE2" -t -f "$TB_TMP/conf/httpd.conf" 2>&1); then
	tap_diag "apache2 -t: $tb_out"
fi
if tb_start_server "$TB_TMP/log/token-broker-error.log" -- \
	"$APACHE2" -f "$TB_TMP/conf/httpd.conf" -DFOREGROUND; then
	tap_ok "apache2 with mod_proxy_fcgi started from the shipped configuration on port $TB_PORT"
else
	tap_rest "apache2 did not start" fail
	exit 1
fi

tb_run_cases

# Apache starts no broker here: mod_fcgid stays idle, the socket's broker answers.
tb_begin
pids=$(tb_broker_pids)
[ -z "$pids" ] || tb_fail "token-broker processes below apache2: $pids"
grep -q '"message":"Issued ID token' "$TB_TMP/log/broker.log" ||
	tb_fail "the broker on the socket logged no ID token"
tb_end "the broker on the socket served the requests; Apache started none of its own"

tb_run_socket_cases
