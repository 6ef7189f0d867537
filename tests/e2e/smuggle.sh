#!/bin/sh
# End-to-end through real lighttpd: a client may not smuggle its own copy of a request variable
# the broker reads. lighttpd maps every spelling of a header (X.Client.Cert.Hash,
# X_Client_Cert_Hash, X-Client-Cert-Hash) onto one HTTP_X_CLIENT_CERT_HASH and passes each copy,
# so with AUTH_FLOWS=xlb-mtls-client-credentials a client that sends its own X.Client.Cert.*
# headers ahead of the load balancer's X-Client-Cert-* ones would otherwise pick its identity.
# Each repeated variable must be 400 invalid_request, logged with its name, and never a token.

. "$(dirname "$0")/lib.sh"

# The load balancer's headers (the shipped defaults) and the variables they arrive in.
XLB_HEADERS="Present Chain-Verified Error Hash Spiffe URI-SANs DNSName-SANs Serial-Number
Valid-Not-Before Valid-Not-After"
N_XLB=10

tap_plan $((1 + 2 + N_XLB + 2))
LIGHTTPD=${LIGHTTPD-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
tb_need lighttpd "$LIGHTTPD" || exit 0
tb_setup smuggle

tb_lighttpd_conf "$TB_PKI/signing-ec.pem" tb_procs=1 ||
	{ tap_rest "lighttpd.conf substitution failed" fail; exit 1; }
# lighttpd hands its environment to the broker it spawns: only the flow differs from the
# shipped files.
if AUTH_FLOWS=xlb-mtls-client-credentials \
	tb_start_server "$TB_TMP/log/token-broker-error.log" -- \
	"$LIGHTTPD" -D -f "$TB_TMP/conf/lighttpd.conf"; then
	tap_ok "lighttpd with AUTH_FLOWS=xlb-mtls-client-credentials on port $TB_PORT"
else
	tap_rest "lighttpd did not start" fail
	exit 1
fi
LOG=$TB_TMP/log/server-output.log # the broker's standard error

# What the load balancer would add for the client's certificate.
real_hash=$("$OPENSSL" x509 -in "$TB_PKI/client.pem" -outform DER |
	"$OPENSSL" dgst -sha256 -binary | "$OPENSSL" base64 -A | tr -d '=')
forged_hash=$(printf 'attacker' | "$OPENSSL" dgst -sha256 -binary | "$OPENSSL" base64 -A |
	tr -d '=')

# rfc3339 WHICH: the certificate's notBefore or notAfter as the load balancer writes it.
rfc3339() {
	date -u -d "$("$OPENSSL" x509 -in "$TB_PKI/client.pem" -noout "-$1" | cut -d= -f2)" \
		+%Y-%m-%dT%H:%M:%SZ
}
not_before=$(rfc3339 startdate)
not_after=$(rfc3339 enddate)
serial=$("$OPENSSL" x509 -in "$TB_PKI/client.pem" -noout -serial | cut -d= -f2)
dns_sans=$(printf 'client.example.net' | "$OPENSSL" base64 -A)
uri_sans=$(printf 'spiffe://example.net/client' | "$OPENSSL" base64 -A)

# value NAME: the load balancer's value of one header for client.pem. Every one is set: lighttpd
# drops a header whose value is empty, so an empty one could not be repeated (see the README on
# the xlb flow: the load balancer must send every header it is configured with).
value() {
	case $1 in
	Present | Chain-Verified) echo true ;;
	Error) echo none ;;
	Hash) echo "$real_hash" ;;
	Spiffe) echo spiffe://example.net/client ;;
	URI-SANs) echo "$uri_sans" ;;
	DNSName-SANs) echo "$dns_sans" ;;
	Serial-Number) echo "$serial" ;;
	Valid-Not-Before) echo "$not_before" ;;
	Valid-Not-After) echo "$not_after" ;;
	esac
}

# A header with an empty value needs curl's "Name;" form to be sent at all.
header_arg() {
	if [ -n "$2" ]; then printf '%s: %s' "$1" "$2"; else printf '%s;' "$1"; fi
}

# request NAME [CURL-ARGS...]: a token request carrying the load balancer's headers last,
# after whatever the client put in front of them.
request() {
	tb_name=$1
	shift
	for tb_h in $XLB_HEADERS; do
		set -- "$@" -H "$(header_arg "X-Client-Cert-$tb_h" "$(value "$tb_h")")"
	done
	tb_curl "$tb_name" "$@" --data grant_type=client_credentials "$TB_BASE/token"
}

# The load balancer's headers alone: the flow works, so the refusals below are the check's.
tb_begin
request single
tb_expect_status 200
tb_expect_json id_token? error!
tb_end "the load balancer's headers alone give a token (the control case)"

# The bypass of the issue: the client's own Present, Chain-Verified and Hash in front.
tb_begin
request bypass -H "X.Client.Cert.Present: true" -H "X.Client.Cert.Chain.Verified: true" \
	-H "X.Client.Cert.Hash: $forged_hash"
tb_expect_status 400
tb_expect_json error=invalid_request
grep -q "$forged_hash" "$TB_BODY" && tb_fail "the forged digest is in the answer"
grep -q '"id_token"' "$TB_BODY" && tb_fail "an ID token was issued"
grep -q 'HTTP_X_CLIENT_CERT_PRESENT occurs more than once' "$LOG" ||
	tb_fail "no log line names HTTP_X_CLIENT_CERT_PRESENT"
tb_end "a client's X.Client.Cert.* copies ahead of the load balancer's: 400, no token"

# Every header of the flow, smuggled alone, in the dotted spelling.
for h in $XLB_HEADERS; do
	var=HTTP_X_CLIENT_CERT_$(echo "$h" | tr 'a-z-' 'A-Z_')
	dotted=X.Client.Cert.$(echo "$h" | tr '-' '.')
	case $h in
	Present | Chain-Verified) forged=true ;;
	Hash) forged=$forged_hash ;;
	*) forged=forged ;;
	esac
	tb_begin
	request "dup-$h" -H "$(header_arg "$dotted" "$forged")"
	tb_expect_status 400
	tb_expect_json error=invalid_request
	grep -q '"id_token"' "$TB_BODY" && tb_fail "an ID token was issued"
	grep -q "$var occurs more than once" "$LOG" || tb_fail "no log line names $var"
	tb_end "$dotted before X-Client-Cert-$h: 400 invalid_request, $var logged"
done

# The answer form an executable asked for, and another spelling (underscores).
tb_begin
request ext -H "X_Client_Cert_Hash: $forged_hash" --data format=external_credential
tb_expect_status 400
tb_expect_json success=false code=invalid_request
tb_end "with format=external_credential the refusal comes in the executable's form"

# A header the broker does not read may repeat: nothing changes.
tb_begin
request unrelated -H "X.Unrelated: a" -H "X-Unrelated: b"
tb_expect_status 200
tb_end "a repeated header the broker does not read changes nothing"
