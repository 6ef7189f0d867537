#!/bin/sh
# End-to-end revocation (issue 8 item 5) through a real web server: the shipped configuration
# with its commented revocation lines turned on (CLIENT_CA_FILE = the server's client CA,
# CRL_FILES = a directory holding the CA's CRL, which lists client.pem and not client2.pem),
# the Google stand-in behind the broker. client.pem is refused with 401 in both answer forms
# and its STS-scoped request never reaches the stand-in; client2.pem, from the same CA, gets
# its ID token and its access token.
#
# Not run by itself: revocation-lighttpd.sh and revocation-apache.sh set TB_REV_SERVER and
# source this file.
# shellcheck shell=sh

. "$(dirname "$0")/lib.sh"

SCOPE=https://www.googleapis.com/auth/cloud-platform
SHIPPED_CRL_DIR=/usr/local/etc/token-broker/crl # the commented CRL_FILES value
LOG_WAIT=20 # tenths of a second for a broker log line to reach the server's error log

tap_plan 7
case ${TB_REV_SERVER:-} in
lighttpd)
	LIGHTTPD=${LIGHTTPD-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
	tb_need lighttpd "$LIGHTTPD" || exit 0
	;;
apache)
	APACHE2=${APACHE2-$(command -v apache2 || echo /usr/sbin/apache2)}
	TB_MODULES=${TB_APACHE_MODULES:-/usr/lib/apache2/modules}
	tb_need apache2 "$APACHE2" || exit 0
	tb_need libapache2-mod-fcgid "$APACHE2" "$TB_MODULES/mod_fcgid.so" \
		"$TB_MODULES/mod_ssl.so" || exit 0
	;;
*)
	echo "Bail out! TB_REV_SERVER must be lighttpd or apache (run revocation-*.sh)"
	exit 1
	;;
esac
tb_setup "revocation-$TB_REV_SERVER"
ERRLOG=$TB_TMP/log/token-broker-error.log

# The CA publishes its CRL into the directory CRL_FILES names (mkpki.py's crl/ca-client.pem:
# client.pem revoked, keyCompromise). Owned by the user the broker runs as, as a fetch would
# leave it; writable by nobody else (the broker refuses a CRL that others may write).
CRLDIR=$TB_TMP/crl
mkdir -p "$CRLDIR"
cp "$TB_BUILDDIR/tests/pki-out/crl/ca-client.pem" "$CRLDIR/client-ca.pem"
chmod 755 "$CRLDIR"
chmod 644 "$CRLDIR/client-ca.pem"
[ "$(id -u)" = 0 ] && chown -R "$TB_RUN_USER:$TB_RUN_GROUP" "$CRLDIR"

# The stand-in verifies ID tokens, as STS does, against the broker's JWK Set.
W=$TB_TMP/up
mkdir -p "$W"
SIGNING_KEYS=$TB_PKI/signing-rsa.pem TOKEN_AUDIENCE=x "$TB_PROGRAM_BUILT" --jwks >"$W/jwks.json"
tb_standin "$W" "$W/jwks.json"
if [ -z "$SPORT" ]; then
	tap_diag "$(cat "$W/standin.err")"
	tap_rest "the Google stand-in did not start" fail
	exit 1
fi
STANDIN=http://127.0.0.1:$SPORT

# rev_enable STYLE FILE: uncomments the shipped CLIENT_CA_FILE and CRL_FILES lines of FILE (a
# substituted copy of the shipped token-broker.conf) and points CRL_FILES at $CRLDIR. Fails
# when either line is not there as shipped: the test must not pass on settings it added.
rev_enable() {
	case $1 in
	lighttpd)
		ca='^\( *\)# \("CLIENT_CA_FILE" *=> *var\.tb_client_ca,\)$'
		crl="^\\( *\\)# \\(\"CRL_FILES\" *=> *\\)\"$SHIPPED_CRL_DIR\",\$"
		crl_to="\\1\\2\"$CRLDIR\","
		;;
	apache)
		# shellcheck disable=SC2016 # ${TB_CLIENT_CA} is the shipped text, not ours to expand
		ca='^\( *\)# \(FcgidInitialEnv CLIENT_CA_FILE *${TB_CLIENT_CA}\)$'
		crl="^\\( *\\)# \\(FcgidInitialEnv CRL_FILES *\\)$SHIPPED_CRL_DIR\$"
		crl_to="\\1\\2$CRLDIR"
		;;
	esac
	if ! grep -q "$ca" "$2" || ! grep -q "$crl" "$2"; then
		tap_diag "$2: the shipped revocation lines (CLIENT_CA_FILE, CRL_FILES) are not there"
		return 1
	fi
	sed -e "s|$ca|\\1\\2|" -e "s|$crl|$crl_to|" "$2" >"$2.new" && mv "$2.new" "$2"
}

case $TB_REV_SERVER in
lighttpd)
	if ! tb_lighttpd_conf "$TB_PKI/signing-rsa.pem" tb_pool_id='"test-pool"' \
		tb_provider_id='"test-provider"' tb_procs=1 ||
		! rev_enable lighttpd "$TB_TMP/conf/token-broker.conf"; then
		tap_rest "lighttpd configuration substitution failed" fail
		exit 1
	fi
	# lighttpd hands its own environment to the processes it spawns (as upstream.sh does)
	if STS_ENDPOINT=$STANDIN IAMCREDENTIALS_ENDPOINT=$STANDIN GCE_METADATA_HOST=127.0.0.1:$SPORT \
		UPSTREAM_TIMEOUT=3 tb_start_server "$ERRLOG" -- \
		"$LIGHTTPD" -D -f "$TB_TMP/conf/lighttpd.conf"; then
		tap_ok "lighttpd with the shipped revocation settings on, port $TB_PORT, stand-in on $SPORT"
	else
		tap_rest "lighttpd did not start" fail
		exit 1
	fi
	;;
apache)
	if ! tb_subst apache "$TB_SRCDIR/apache/httpd.conf" "$TB_TMP/conf/httpd.conf" \
		TB_CONFDIR="$TB_TMP/conf" TB_LISTEN="127.0.0.1:$TB_PORT" TB_RUNDIR="$TB_TMP/run" \
		TB_LOGDIR="$TB_TMP/log" TB_USER="$TB_RUN_USER" TB_GROUP="$TB_RUN_GROUP" \
		TB_MODULES="$TB_MODULES" ||
		! tb_subst apache "$TB_SRCDIR/apache/token-broker.conf" \
			"$TB_TMP/conf/token-broker.conf" TB_PORT="$TB_PORT" TB_SERVER_NAME=localhost \
			TB_PROGRAM="$TB_PROGRAM" TB_SERVER_CERT="$TB_PKI/server.pem" \
			TB_SERVER_KEY="$TB_PKI/server.key" TB_CLIENT_CA="$TB_PKI/ca.pem" \
			TB_SIGNING_KEYS="$TB_PKI/signing-rsa.pem" TB_ISSUER="$TB_BASE" \
			TB_POOL_ID=test-pool TB_PROVIDER_ID=test-provider ||
		! rev_enable apache "$TB_TMP/conf/token-broker.conf"; then
		tap_rest "apache configuration substitution failed" fail
		exit 1
	fi
	# mod_fcgid passes only FcgidInitialEnv: the stand-in's address goes in beside the
	# revocation lines (test-only settings, not shipped)
	awk -v s="$STANDIN" -v m="127.0.0.1:$SPORT" '{ print }
		/^ *FcgidInitialEnv CRL_FILES / {
			print "    FcgidInitialEnv STS_ENDPOINT " s
			print "    FcgidInitialEnv IAMCREDENTIALS_ENDPOINT " s
			print "    FcgidInitialEnv GCE_METADATA_HOST " m
			print "    FcgidInitialEnv UPSTREAM_TIMEOUT 3"
		}' "$TB_TMP/conf/token-broker.conf" >"$TB_TMP/conf/token-broker.conf.new" &&
		mv "$TB_TMP/conf/token-broker.conf.new" "$TB_TMP/conf/token-broker.conf"
	if tb_start_server "$ERRLOG" -- "$APACHE2" -f "$TB_TMP/conf/httpd.conf" -DFOREGROUND; then
		tap_ok "apache2 with the shipped revocation settings on, port $TB_PORT, stand-in on $SPORT"
	else
		tap_rest "apache2 did not start" fail
		exit 1
	fi
	;;
esac

# rev_log TEXT: waits (bounded) until a broker log line with TEXT arrives: in Apache's error
# log (mod_fcgid's "stderr:" lines), or on lighttpd's standard error (lighttpd -D hands it to
# the processes it spawns) in server-output.log.
rev_log() {
	i=0
	while ! cat "$ERRLOG" "$TB_TMP/log/server-output.log" 2>/dev/null | grep -F -q -- "$1"; do
		[ "$i" -ge "$LOG_WAIT" ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
}

# How many requests the stand-in has recorded.
upstream_count() {
	if [ -f "$W/record" ]; then wc -l <"$W/record" | tr -d ' '; else echo 0; fi
}

revoked="--cert $TB_PKI/client.pem --key $TB_PKI/client.key"
good="--cert $TB_PKI/client2.pem --key $TB_PKI/client2.key"
SERIAL=00:c9:77:71:db:a8:b7:70:e1:b6:a7:3f:4c:91:80:42:72:77:b5:fd # mkpki.py's CLIENT_SERIAL

tb_begin
# shellcheck disable=SC2086
tb_curl revoked "$TB_BASE/token" --data grant_type=client_credentials $revoked
tb_expect_invalid_client
rev_log "the certificate is revoked: serial $SERIAL, revoked at 2024-05-06T07:08:09Z, reason keyCompromise" ||
	tb_fail "no broker log line says client.pem is revoked (serial $SERIAL)"
tb_end "revoked client.pem: 401 invalid_client, the broker logs it revoked with serial, time and reason"

tb_begin
# shellcheck disable=SC2086
tb_curl revoked-ext "$TB_BASE/token" --data grant_type=client_credentials \
	--data format=external_credential $revoked
tb_expect_status 401
tb_expect_json success=false version=1 code=invalid_client message?
tb_end "revoked client.pem, external_credential form: 401, success false, invalid_client"

tb_begin
# shellcheck disable=SC2086
tb_curl good "$TB_BASE/token" --data grant_type=client_credentials $good
tb_expect_status 200
if [ "$TB_STATUS" = 200 ]; then
	tb_out=$("$PYTHON3" "$TB_E2E/verify_jwt.py" --jwks "$W/jwks.json" --iss "$TB_BASE" \
		--aud "https://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/test-pool/providers/test-provider" \
		--cert "$TB_PKI/client2.pem" --alg RS256 "$TB_BODY" 2>&1) || tb_fail "$tb_out"
fi
tb_end "client2.pem of the same CA, not in its CRL: 200 and a verified ID token for it"

tb_begin
before=$(upstream_count)
# shellcheck disable=SC2086
tb_curl revoked-scope "$TB_BASE/token" --data grant_type=client_credentials \
	--data "scope=$SCOPE" $revoked
tb_expect_invalid_client
after=$(upstream_count)
[ "$after" = "$before" ] ||
	tb_fail "the stand-in received $((after - before)) requests for a revoked client: $(tail -n 2 "$W/record")"
tb_end "revoked client.pem asking for a scope: 401, and the Google stand-in receives nothing"

tb_begin
before=$(upstream_count)
# shellcheck disable=SC2086
tb_curl good-scope "$TB_BASE/token" --data grant_type=client_credentials \
	--data "scope=$SCOPE" $good
tb_expect_status 200
tb_expect_json access_token? token_type=Bearer "scope=$SCOPE"
after=$(upstream_count)
[ "$after" = $((before + 1)) ] || tb_fail "the stand-in received $((after - before)) requests, expected 1 (STS)"
tb_end "client2.pem asking for a scope: 200 with the stand-in's access token (so the path to it works)"

tb_begin
rev_log "CRL_FILES: 1 CRLs with 3 revoked serials, REVOCATION=strict" ||
	tb_fail "the broker did not log loading the CRL directory at start"
for p in $(tb_broker_pids); do
	env=$(tr '\0' '\n' 2>/dev/null <"/proc/$p/environ")
	case $env in
	*"CRL_FILES=$CRLDIR"*) ;;
	*) tb_fail "pid $p has no CRL_FILES=$CRLDIR in its environment" ;;
	esac
	case $env in
	*"CLIENT_CA_FILE=$TB_PKI/ca.pem"*) ;;
	*) tb_fail "pid $p: CLIENT_CA_FILE is not the server's client CA $TB_PKI/ca.pem" ;;
	esac
done
[ -n "$(tb_broker_pids)" ] || tb_fail "no token-broker process found below the server"
tb_end "the broker runs with the shipped lines' CLIENT_CA_FILE (the server's client CA) and CRL_FILES"
