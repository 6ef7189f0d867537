#!/bin/sh
# End-to-end through real nginx: TLS with client certificates in nginx, token-broker on its own
# socket (token-broker --listen) behind fastcgi_pass, configured from the shipped nginx/ files
# and systemd/token-broker.env with only paths and the port substituted, driven with curl
# --cert as a client would. Then what is nginx's own: a client's forged SSL_CLIENT_* and load
# balancer headers never reach the broker, and a revoked certificate is refused.

. "$(dirname "$0")/lib.sh"

NGINX=${NGINX-$(command -v nginx || echo /usr/sbin/nginx)}

tap_plan $((2 + TB_NCASES + 1 + TB_NSOCKET_CASES))
tb_need nginx "$NGINX" || exit 0
tb_setup_broker nginx

# RS256 signs; the EC key is published too.
TB_ALG=RS256
TB_NKEYS=2
# error_page 495 hands nginx's own verification failures (expired) to the broker: 401.
TB_EXPIRED_TLS_OK=0

# nginx's pid file, logs and temporary files go to the test tree.
R=$TB_TMP/run
L=$TB_TMP/log
if ! tb_subst_nginx "$TB_SRCDIR/nginx/nginx.conf" "$TB_TMP/conf/nginx.conf" \
	user="$TB_RUN_USER $TB_RUN_GROUP" \
	pid="$R/nginx.pid" \
	error_log="$L/nginx-error.log warn" \
	access_log="$L/nginx-access.log tb" \
	client_body_temp_path="$R/nginx-body" \
	fastcgi_temp_path="$R/nginx-fastcgi" \
	proxy_temp_path="$R/nginx-proxy" \
	scgi_temp_path="$R/nginx-scgi" \
	uwsgi_temp_path="$R/nginx-uwsgi" ||
	! tb_subst_nginx "$TB_SRCDIR/nginx/token-broker.conf" "$TB_TMP/conf/token-broker.conf" \
		listen="127.0.0.1:$TB_PORT ssl http2" \
		server_name=localhost \
		ssl_certificate="$TB_PKI/server.pem" \
		ssl_certificate_key="$TB_PKI/server.key" \
		ssl_client_certificate="$TB_PKI/ca.pem" \
		fastcgi_pass="unix:$TB_TMP/run/fcgi.sock" ||
	! tb_broker_env "$TB_TMP/conf/env"; then
	tap_rest "nginx or env file substitution failed" fail
	exit 1
fi

if tb_start_broker "$TB_TMP/conf/env"; then
	tap_ok "token-broker --listen unix:$TB_SOCKET --workers $TB_BROKER_WORKERS from the shipped env file"
else
	tap_rest "the broker did not start" fail
	exit 1
fi

if ! tb_out=$("$NGINX" -t -c "$TB_TMP/conf/nginx.conf" 2>&1); then
	tap_diag "nginx -t: $tb_out"
fi
if tb_start_server "$L/nginx-error.log" -- \
	"$NGINX" -c "$TB_TMP/conf/nginx.conf" -g 'daemon off;'; then
	tap_ok "nginx started from the shipped configuration on port $TB_PORT"
else
	tap_rest "nginx did not start" fail
	exit 1
fi

tb_run_cases

# error_page 495 passes the request whole, its form body too: the expired certificate's
# answer comes in the form the body asks for.
tb_begin
tb_curl expired-external "$TB_BASE/token" --data format=external_credential \
	--data grant_type=client_credentials \
	--cert "$TB_PKI/expired.pem" --key "$TB_PKI/expired.key"
tb_expect_status 401
tb_expect_json success=false version=1 code=invalid_client message?
tb_broker_log 'SSL_CLIENT_VERIFY=FAILED:certificate has expired' ||
	tb_fail "no broker log line shows SSL_CLIENT_VERIFY=FAILED:certificate has expired"
tb_end "expired certificate: nginx passes it on (error_page 495), 401 in the external_credential form"

tb_run_socket_cases
