#!/bin/sh
# End-to-end registry groups (issue 9) through real lighttpd: the shipped configuration, with
# CLIENT_REGISTRY (tests/cgi/cases/registry/fleet-lighttpd.json: a group of sensors bound to the
# test CA, a group of *.example.net hosts bound to CA 2) and CLIENT_CA_FILE (both CAs) in
# lighttpd's environment, which it hands to the broker it spawns. lighttpd trusts a third CA,
# impostor-ca.pem, which has CA 2's name but a key of its own, so that its certificate reaches
# the broker verified and only CLIENT_CA_FILE can tell it from CA 2's. sensor.pem gets an ID
# token whose client_id is its DNS SAN from the group; the wrong CA's certificate for a bound
# group is refused with 401 and the logged reason; without CLIENT_CA_FILE the impostor passes
# the binding by name alone, which shows what the signature check adds.

. "$(dirname "$0")/lib.sh"

LOG_WAIT=20 # tenths of a second for a broker log line to reach lighttpd's standard error
REGISTRY_SRC=$TB_SRCDIR/tests/cgi/cases/registry/fleet-lighttpd.json
SENSOR_ID=sensor-17.sensors.example.net # sensor.pem's DNS SAN that the group's pattern matches
CA1="CN=token-broker test CA,O=token-broker tests"
CA2="CN=token-broker test CA 2,O=token-broker tests"

tap_plan 10
LIGHTTPD=${LIGHTTPD-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
tb_need lighttpd "$LIGHTTPD" || exit 0
tb_setup fleet
OUT=$TB_TMP/log/server-output.log # lighttpd -D hands its standard error to the broker

# The registry is the broker's to read, writable by nobody else (it refuses one that is).
REGISTRY=$TB_TMP/conf/fleet.json
if ! cp "$REGISTRY_SRC" "$REGISTRY" || ! chmod 644 "$REGISTRY"; then
	tap_rest "cannot copy $REGISTRY_SRC" fail
	exit 1
fi
# What lighttpd verifies client certificates against: the two CAs and the impostor.
cat "$TB_PKI/ca.pem" "$TB_PKI/ca2.pem" "$TB_PKI/impostor-ca.pem" >"$TB_PKI/lighttpd-cas.pem"

if ! tb_lighttpd_conf "$TB_PKI/signing-rsa.pem" tb_procs=1 \
	tb_client_ca="\"$TB_PKI/lighttpd-cas.pem\""; then
	tap_rest "lighttpd.conf substitution failed" fail
	exit 1
fi

# start WHAT [CA_FILE]: lighttpd with CLIENT_REGISTRY, and CLIENT_CA_FILE when CA_FILE is
# given, in its environment (exported: lighttpd hands its environment to the broker).
start() {
	tb_what=$1
	export CLIENT_REGISTRY="$REGISTRY"
	if [ -n "${2:-}" ]; then
		export CLIENT_CA_FILE="$2"
	else
		unset CLIENT_CA_FILE
	fi
	if tb_start_server "$TB_TMP/log/token-broker-error.log" -- \
		"$LIGHTTPD" -D -f "$TB_TMP/conf/lighttpd.conf"; then
		tap_ok "lighttpd on port $TB_PORT, CLIENT_REGISTRY with two bound groups, $tb_what"
		return 0
	fi
	tap_rest "lighttpd did not start" fail
	exit 1
}

# broker_log TEXT: waits (bounded) until a broker log line holding TEXT arrives.
broker_log() {
	i=0
	while ! grep -F -q -- "$1" "$OUT" 2>/dev/null; do
		[ "$i" -ge "$LOG_WAIT" ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
}

# expect_refused NAME REASON: the request was 401 invalid_client and the broker logged REASON.
expect_refused() {
	tb_expect_invalid_client
	broker_log "Client authentication failed: $2" ||
		tb_fail "no broker log line says: Client authentication failed: $2"
}

# token NAME CERT [CURL-ARGS...]: a token request with PKI's CERT.pem and its key.
token() {
	tb_name=$1
	tb_cert=$2
	shift 2
	tb_curl "$tb_name" "$TB_BASE/token" --data grant_type=client_credentials \
		--cert "$TB_PKI/$tb_cert.pem" --key "$TB_PKI/$tb_cert.key" "$@"
}

# The served JWK Set, found through discovery as a relying party finds it.
jwks() {
	tb_curl discovery "$TB_BASE/.well-known/openid-configuration"
	tb_jwks_uri=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1]))["jwks_uri"])' \
		"$TB_BODY" 2>/dev/null)
	tb_curl jwks "$tb_jwks_uri"
	JWKS=$TB_BODY
}

# claims CERT CLIENT_ID AUD VALIDITY: the last response's ID token verifies with the served JWK
# Set (verify_jwt.py's own functions), and its claims are those of a registry client: client_id
# (= sub) as the registry decides, the certificate's own x5_sha256 and cnf, aud, lifetime.
claims() {
	tb_out=$("$PYTHON3" - "$TB_E2E" "$TB_BODY" "$JWKS" "$TB_PKI/$1.pem" "$2" "$3" "$4" "$TB_BASE" \
		<<'PY' 2>&1
import base64, hashlib, json, sys
sys.path.insert(0, sys.argv[1])
import verify_jwt as v
from cryptography import x509
from cryptography.hazmat.primitives import serialization
resp, jwks = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
cert = x509.load_pem_x509_certificate(open(sys.argv[4], "rb").read())
client_id, aud, validity, iss = sys.argv[5], sys.argv[6], int(sys.argv[7]), sys.argv[8]
head, body, sig = resp["id_token"].split(".")
header, claims = json.loads(v.b64url_decode(head)), json.loads(v.b64url_decode(body))
keys = [k for k in jwks["keys"] if k.get("kid") == header.get("kid")]
bad = []
if len(keys) != 1 or v.thumbprint(keys[0]) != header.get("kid"):
    bad.append("kid %r is not one served key's thumbprint" % header.get("kid"))
else:
    try:
        v.verify_signature(header["alg"], v.public_key(keys[0]), (head + "." + body).encode(),
                           v.b64url_decode(sig))
    except Exception as e:
        bad.append("signature does not verify: %r" % e)
digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
want = {"iss": iss, "aud": aud, "client_id": client_id, "sub": client_id,
        "amr": ["mtls-client-credentials"]}
for k, w in want.items():
    if claims.get(k) != w:
        bad.append("%s is %r, expected %r" % (k, claims.get(k), w))
if claims.get("client", {}).get("x5_sha256") != base64.b64encode(digest).decode().rstrip("="):
    bad.append("client.x5_sha256 is not the certificate's")
if claims.get("cnf", {}).get("x5t#S256") != v.b64url(digest):
    bad.append("cnf.x5t#S256 is not the certificate's")
if claims.get("exp", 0) - claims.get("iat", 0) != validity:
    bad.append("exp - iat is %r, expected %d" % (claims.get("exp", 0) - claims.get("iat", 0),
                                                 validity))
if bad:
    sys.exit("\n".join(bad))
PY
	) || tb_fail "$tb_out"
}

start "CLIENT_CA_FILE with both CAs (not the impostor)" "$TB_PKI/cas-fleet.pem"
jwks

tb_begin
token sensor sensor
tb_expect_status 200
[ "$TB_STATUS" = 200 ] && claims sensor "$SENSOR_ID" "$TB_AUD" 240
tb_end "sensor.pem, a member of group 'sensors': an ID token whose client_id is its DNS SAN $SENSOR_ID, 4 minutes, signature verified"

tb_begin
token sensor-aws sensor --data audience=sts.amazonaws.com
tb_expect_status 200
[ "$TB_STATUS" = 200 ] && claims sensor "$SENSOR_ID" sts.amazonaws.com 240
tb_end "sensor.pem asking for the group's audience sts.amazonaws.com: aud is that audience"

tb_begin
token sensor-vault sensor --data audience=https://vault.example.net
tb_expect_status 400
tb_expect_json error=invalid_target
tb_end "sensor.pem asking for an audience neither the group nor TOKEN_AUDIENCES allows: 400 invalid_target"

tb_begin
token sensor-ca2 sensor-ca2
expect_refused sensor-ca2 "the certificate's issuer '$CA2' is not '$CA1', which group 'sensors' is bound to"
tb_end "sensor-ca2.pem (the sensor's subject and SANs, from CA 2): 401, the group's CA binding logged"

tb_begin
token client client
expect_refused client "the certificate's issuer '$CA1' is not '$CA2', which group 'ca2-hosts' is bound to"
token client-ext client --data format=external_credential
tb_expect_status 401
tb_expect_json success=false version=1 code=invalid_client message?
tb_end "client.pem (CA 1, not in the CA 2 fleet its DNS SAN matches): 401 in both answer forms, the binding logged"

tb_begin
token client-ca2 client-ca2
tb_expect_status 200
[ "$TB_STATUS" = 200 ] && claims client-ca2 client.example.net "$TB_AUD" 360
tb_end "client-ca2.pem, from CA 2: a member of group 'ca2-hosts', client_id client.example.net, 6 minutes"

tb_begin
token impostor client-impostor
expect_refused impostor "the certificate names the issuer '$CA2' of group 'ca2-hosts', but no CA of that name in CLIENT_CA_FILE signed it"
tb_end "client-impostor.pem (verified by lighttpd, issuer named CA 2, not signed by CA 2's key): 401 with CLIENT_CA_FILE"

tb_stop_server
start "no CLIENT_CA_FILE (issuer bindings by name only)"

tb_begin
token impostor-by-name client-impostor
tb_expect_status 200
[ "$TB_STATUS" = 200 ] && claims client-impostor client.example.net "$TB_AUD" 360
tb_end "without CLIENT_CA_FILE the same impostor passes the binding by name: the 401 above was the signature check"
