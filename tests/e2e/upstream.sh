#!/bin/sh
# End-to-end with Google's part: real lighttpd spawning one token-broker FastCGI process
# (the shipped configuration, paths and ports substituted), the Google stand-in behind it.
# A scope + service_account request goes to STS and IAM; a second request to the same
# process reuses the same upstream connection (one libcurl handle a process); Google
# refusing is 403 access_denied with Google's text, Google failing is 503 with Retry-After.

. "$(dirname "$0")/lib.sh"

SCOPE=https://www.googleapis.com/auth/cloud-platform
SA=sa@test-project.iam.gserviceaccount.com

tap_plan 7
LIGHTTPD=${LIGHTTPD-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
tb_need lighttpd "$LIGHTTPD" || exit 0
tb_setup upstream


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

tb_lighttpd_conf "$TB_PKI/signing-rsa.pem" tb_pool_id='"test-pool"' \
	tb_provider_id='"test-provider"' tb_procs=1 ||
	{ tap_rest "lighttpd.conf substitution failed" fail; exit 1; }

# lighttpd hands its own environment to the processes it spawns, so the Google endpoints
# need no change to the shipped files.
if STS_ENDPOINT=http://127.0.0.1:$SPORT IAMCREDENTIALS_ENDPOINT=http://127.0.0.1:$SPORT \
	GCE_METADATA_HOST=127.0.0.1:$SPORT UPSTREAM_TIMEOUT=3 \
	tb_start_server "$TB_TMP/log/token-broker-error.log" -- \
	"$LIGHTTPD" -D -f "$TB_TMP/conf/lighttpd.conf"; then
	tap_ok "lighttpd with one token-broker process on port $TB_PORT, stand-in on $SPORT"
else
	tap_rest "lighttpd did not start" fail
	exit 1
fi

client="--cert $TB_PKI/client.pem --key $TB_PKI/client.key"
token() {
	# shellcheck disable=SC2086
	tb_curl "$1" $client "$TB_BASE/token" --data grant_type=client_credentials \
		--data "scope=$SCOPE" --data "service_account=$SA"
}

for n in 1 2; do
	tb_begin
	token "sa$n"
	tb_expect_status 200
	tb_expect_header Cache-Control 'no-store*'
	tb_expect_json id_token? token_type=Bearer "scope=$SCOPE" expires_in?
	case $(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$TB_BODY") in
	sa-*) ;;
	*) tb_fail "access_token is not the stand-in's impersonated token: $(head -c 300 "$TB_BODY")" ;;
	esac
	tb_end "request $n with scope and service_account: the service account's access token"
done

tb_begin
tb_out=$("$PYTHON3" - "$W/record" "$SA" <<'PY' 2>&1
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
paths = [r["path"] for r in reqs]
want = ["/v1/token", "/v1/projects/-/serviceAccounts/%s:generateAccessToken" % sys.argv[2]] * 2
if paths != want:
    sys.exit("requests %s, expected %s" % (paths, want))
conns = {r["conn"] for r in reqs}
if len(conns) != 1:
    sys.exit("%d upstream connections for 4 calls from one process: %s" % (len(conns), sorted(conns)))
print("4 calls on one connection %s" % conns.pop())
PY
) || tb_fail "$tb_out"
tb_end "two requests to one FastCGI process: STS and IAM calls share one upstream connection ($tb_out)"

control() {
	"$CURL_BIN" --silent --max-time 5 -o /dev/null "http://127.0.0.1:$SPORT/_control" \
		-H 'Content-Type: application/json' --data "$1"
}

tb_begin
control '{"sts":"refuse"}' || tb_fail "the stand-in's control endpoint did not answer"
token refused
tb_expect_status 403
tb_expect_json error=access_denied error_description?
grep -q 'Token exchange failed with code invalid_target' "$TB_BODY" ||
	tb_fail "Google's own text is not in the description: $(head -c 300 "$TB_BODY")"
tb_end "STS refusing: 403 access_denied with Google's text"

tb_begin
control '{"sts":"error500"}'
token failing
tb_expect_status 503
tb_expect_header Retry-After '[0-9]*'
tb_expect_json error=temporarily_unavailable
tb_end "STS failing with 500: 503 temporarily_unavailable with Retry-After"

tb_begin
control '{"sts":"hang"}'
start=$(date +%s)
token hanging
tb_expect_status 503
elapsed=$(($(date +%s) - start))
[ "$elapsed" -le 12 ] || tb_fail "the request took $elapsed s with UPSTREAM_TIMEOUT=3"
tb_end "STS hanging: 503 after UPSTREAM_TIMEOUT ($elapsed s)"
