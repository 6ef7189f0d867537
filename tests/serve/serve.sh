#!/bin/sh
# serve.sh: `token-broker-credential serve` in front of real lighttpd + token-broker + the
# Google stand-in, driven with curl as the metadata server's clients drive it: the refusals
# (no Metadata-Flavor, X-Forwarded-For, a DNS name in Host), every path the libraries read, the
# token cache and its refresh ahead of expiry (30 s tokens, so it shows in seconds), a renewed
# certificate and a mismatched one, and the failures: broker refusal, Google failing behind the
# broker (the old token serves while valid, then 503), broker down. Then a clean stop (TAP).

if [ ! -f "$(dirname "$0")/../e2e/lib.sh" ]; then
	echo "1..0 # SKIP tests/e2e/lib.sh is missing"
	exit 0
fi
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/../e2e/lib.sh"
# shellcheck source=tests/serve/setup.sh
. "$TB_SRCDIR/tests/serve/setup.sh"

tap_plan 16
sv_setup serve
tap_ok "lighttpd with token-broker on $TB_PORT, stand-in on $SPORT, serve on $MPORT"

# ---- refusals ---------------------------------------------------------------------------------
tb_begin
sv_get root ""
tb_expect_status 200
tb_expect_header Metadata-Flavor Google
[ "$(cat "$TB_BODY")" = "computeMetadata/" ] || tb_fail "body '$(cat "$TB_BODY")'"
tb_end "/ (the libraries' availability probe): 200 with Metadata-Flavor: Google"

tb_begin
tb_curl noflavor "$MBASE/computeMetadata/v1/instance/service-accounts/default/token"
tb_expect_status 403
tb_expect_header Metadata-Flavor Google
tb_curl wrongflavor -H 'Metadata-Flavor: google' \
	"$MBASE/computeMetadata/v1/instance/service-accounts/default/token"
tb_expect_status 403
tb_curl noflavor-root "$MBASE/"
tb_expect_status 403
[ "$(sv_calls :generateAccessToken)" = 0 ] || tb_fail "the broker was asked"
tb_end "no Metadata-Flavor: Google (absent, or another spelling of the value): 403, nothing asked"

tb_begin
sv_get xff computeMetadata/v1/instance/service-accounts/default/token -H 'X-Forwarded-For: 10.1.2.3'
tb_expect_status 403
tb_expect_header Metadata-Flavor Google
sv_get rebind computeMetadata/v1/instance/service-accounts/default/token -H "Host: attacker.example:$MPORT"
tb_expect_status 403
[ "$(sv_calls :generateAccessToken)" = 0 ] || tb_fail "the broker was asked"
tb_end "X-Forwarded-For (a proxied request), and a DNS name in Host (DNS rebinding): 403"

# ---- the access token ------------------------------------------------------------------------
tb_begin
sv_get token1 computeMetadata/v1/instance/service-accounts/default/token
tb_expect_status 200
tb_expect_header Content-Type 'application/json'
tb_expect_header Metadata-Flavor Google
tb_expect_json access_token? token_type=Bearer expires_in?
TOKEN1=$(sv_field "$TB_BODY" access_token)
EXP1=$(sv_field "$TB_BODY" expires_in)
case $TOKEN1 in sa-*) ;; *) tb_fail "access_token '$TOKEN1' is not the stand-in's service-account token" ;; esac
if [ "${EXP1:-0}" -le 0 ] || [ "$EXP1" -gt "$SV_LIFETIME" ]; then
	tb_fail "expires_in $EXP1, not 1..$SV_LIFETIME"
fi
if [ "$(sv_calls /v1/token)" != 1 ] || [ "$(sv_calls :generateAccessToken)" != 1 ]; then
	tb_fail "STS/IAM calls: $(sv_calls /v1/token) / $(sv_calls :generateAccessToken)"
fi
tb_out=$("$PYTHON3" - "$W/record" "$SV_SA" "$SV_SCOPE" <<'EOF'
import json, sys
rec = [json.loads(l) for l in open(sys.argv[1])]
gat = [r for r in rec if r["path"].endswith(":generateAccessToken")]
if gat[0]["path"] != "/v1/projects/-/serviceAccounts/%s:generateAccessToken" % sys.argv[2]:
    sys.exit("generateAccessToken for %s" % gat[0]["path"])
if (gat[0].get("json") or {}).get("scope") != [sys.argv[3]]:
    sys.exit("scope %r" % (gat[0].get("json") or {}).get("scope"))
EOF
) || tb_fail "$tb_out"
tb_end "token: the broker's impersonated token (sa-...), {access_token, expires_in=$EXP1, token_type} as application/json"

tb_begin
sv_get token2 computeMetadata/v1/instance/service-accounts/default/token
tb_expect_status 200
[ "$(sv_field "$TB_BODY" access_token)" = "$TOKEN1" ] || tb_fail "a different token"
sv_get token2b "computeMetadata/v1/instance/service-accounts/$SV_SA/token?scopes=$SV_SCOPE"
[ "$(sv_field "$TB_BODY" access_token)" = "$TOKEN1" ] || tb_fail "by e-mail: a different token"
[ "$(sv_calls :generateAccessToken)" = 1 ] || tb_fail "the broker was asked again"
tb_end "token again (by default and by e-mail, with ?scopes=): the cached token, the broker not asked"

# ---- the other paths -------------------------------------------------------------------------
tb_begin
sv_get email computeMetadata/v1/instance/service-accounts/default/email
tb_expect_status 200
[ "$(cat "$TB_BODY")" = "$SV_SA" ] || tb_fail "email '$(cat "$TB_BODY")'"
sv_get scopes computeMetadata/v1/instance/service-accounts/default/scopes
[ "$(cat "$TB_BODY")" = "$SV_SCOPE" ] || tb_fail "scopes '$(cat "$TB_BODY")'"
sv_get all 'computeMetadata/v1/instance/service-accounts/?recursive=true'
tb_expect_header Content-Type 'application/json'
tb_expect_json "default.email=$SV_SA" "default.scopes.0=$SV_SCOPE" default.aliases.0=default
sv_get one 'computeMetadata/v1/instance/service-accounts/default/?recursive=true'
tb_expect_json "email=$SV_SA" "scopes.0=$SV_SCOPE"
sv_get pid computeMetadata/v1/project/project-id
[ "$TB_STATUS:$(cat "$TB_BODY")" = "200:test-project" ] || tb_fail "project-id $TB_STATUS '$(cat "$TB_BODY")'"
sv_get pnum computeMetadata/v1/project/numeric-project-id
[ "$TB_STATUS:$(cat "$TB_BODY")" = "200:$SV_PROJECT_NUMBER" ] || tb_fail "numeric-project-id $TB_STATUS '$(cat "$TB_BODY")'"
sv_get unknown computeMetadata/v1/instance/hostname
tb_expect_status 404
tb_expect_header Metadata-Flavor Google
sv_get other computeMetadata/v1/instance/service-accounts/other@test-project.iam.gserviceaccount.com/token
tb_expect_status 404
sv_get post computeMetadata/v1/instance/service-accounts/default/token -X POST
tb_expect_status 405
tb_end "email, scopes, service-accounts/?recursive=true, default/?recursive=true, project-id (from the account), numeric-project-id; 404 elsewhere, 405 for POST"

# ---- ID tokens -------------------------------------------------------------------------------
tb_begin
sv_get id1 'computeMetadata/v1/instance/service-accounts/default/identity?audience=https://relying.example&format=full'
tb_expect_status 200
cp "$TB_BODY" "$W/id1.jwt"
[ "$(sv_claim "$W/id1.jwt" aud)" = https://relying.example ] || tb_fail "aud '$(sv_claim "$W/id1.jwt" aud)': $(head -c 200 "$W/id1.jwt")"
[ "$(sv_claim "$W/id1.jwt" iss)" = "$TB_BASE" ] || tb_fail "iss '$(sv_claim "$W/id1.jwt" iss)'"
sv_get id2 'computeMetadata/v1/instance/service-accounts/default/identity?audience=https://relying.example'
cmp -s "$TB_BODY" "$W/id1.jwt" || tb_fail "a second request got another token"
sv_get noaud 'computeMetadata/v1/instance/service-accounts/default/identity'
tb_expect_status 400
tb_end "identity?audience=...&format=full: the broker's ID token for that audience (aud, iss), cached"

tb_begin
sv_get refused 'computeMetadata/v1/instance/service-accounts/default/identity?audience=https://not-allowed.example'
tb_expect_status 403
tb_expect_header Metadata-Flavor Google
grep -q invalid_target "$TB_BODY" || tb_fail "body: $(cat "$TB_BODY")"
tb_end "an audience the broker refuses: 403 with the broker's error (invalid_target)"

# ---- a renewed certificate, then one whose key does not match ------------------------------
fingerprint() {
	"$OPENSSL" x509 -in "$1" -outform DER | "$OPENSSL" dgst -sha256 -binary | "$OPENSSL" base64 -A | tr -d '='
}
# token requests the broker logged for certificate fingerprint $1 (its standard error reaches
# lighttpd's server-output.log; it writes each line before it answers)
broker_saw() {
	bs_n=$(cat "$TB_TMP"/log/server-output.log "$TB_TMP"/log/token-broker-error.log 2>/dev/null |
		grep '"api.token"' | grep -c -- "\"x5_sha256\":\"$1\"")
	echo "${bs_n:-0}"
}
FP1=$(fingerprint "$TB_PKI/client.pem")
FP2=$(fingerprint "$TB_PKI/client2.pem")

tb_begin
# a PKI agent's renewal: the new key, then the new certificate, each replaced atomically
sleep 1.1 # a file time the loader can tell from the first one on any file system
cp "$TB_PKI/client2.key" "$W/cred/key.new" && chmod 600 "$W/cred/key.new" && mv "$W/cred/key.new" "$W/cred/key.pem"
cp "$TB_PKI/client2.pem" "$W/cred/cert.new" && mv "$W/cred/cert.new" "$W/cred/cert.pem"
sleep 1.1 # serve looks at the files at most once a second
before=$(broker_saw "$FP2")
sv_get renew1 'computeMetadata/v1/instance/service-accounts/default/identity?audience=https://renew-1.example'
tb_expect_status 200
[ "$(broker_saw "$FP2")" -gt "$before" ] || tb_fail "the broker did not see the renewed certificate ($FP2)"
grep -q '"serve.credentials".*renewed\|renewed.*"serve.credentials"' "$W/serve.log" ||
	grep -q 'renewed certificate' "$W/serve.log" || tb_fail "no log line about the renewal"
tb_end "a renewed certificate and key on disk: the next exchange presents the new pair"

tb_begin
sleep 1.1
cp "$TB_PKI/client.pem" "$W/cred/cert.new" && mv "$W/cred/cert.new" "$W/cred/cert.pem" # key: client2's
sleep 1.1
before1=$(broker_saw "$FP1")
before2=$(broker_saw "$FP2")
sv_get renew2 'computeMetadata/v1/instance/service-accounts/default/identity?audience=https://renew-2.example'
tb_expect_status 200
[ "$(broker_saw "$FP2")" -gt "$before2" ] || tb_fail "the exchange did not use the old (client2) pair"
[ "$(broker_saw "$FP1")" = "$before1" ] || tb_fail "the mismatched certificate reached the broker"
grep -q 'refused' "$W/serve.log" || tb_fail "no log line refusing the pair"
refusals=$(grep -c 'refused, the old pair' "$W/serve.log")
sv_get renew3 'computeMetadata/v1/instance/service-accounts/default/identity?audience=https://renew-3.example'
tb_expect_status 200
sleep 1.1
[ "$(grep -c 'refused, the old pair' "$W/serve.log")" = "$refusals" ] || tb_fail "the same refused pair was logged again"
tb_end "a certificate that does not match the key: refused with a log line (once), the old pair kept"

# ---- refresh ahead of expiry ----------------------------------------------------------------
tb_begin
# 30 s tokens, --refresh-margin 20: refreshed once less than 20 s are left
sv_get early computeMetadata/v1/instance/service-accounts/default/token
left=$(sv_field "$TB_BODY" expires_in)
if [ "$(sv_field "$TB_BODY" access_token)" = "$TOKEN1" ] && [ "${left:-0}" -gt "$SV_MARGIN" ]; then
	sleep $((left - SV_MARGIN + 1))
fi
sv_get refreshed computeMetadata/v1/instance/service-accounts/default/token
tb_expect_status 200
TOKEN2=$(sv_field "$TB_BODY" access_token)
EXP2=$(sv_field "$TB_BODY" expires_in)
if [ -z "$TOKEN2" ] || [ "$TOKEN2" = "$TOKEN1" ]; then tb_fail "still the first token"; fi
[ "${EXP2:-0}" -gt "$SV_MARGIN" ] || tb_fail "expires_in $EXP2: not a fresh token"
[ "$(sv_calls :generateAccessToken)" = 2 ] || tb_fail "generateAccessToken calls: $(sv_calls :generateAccessToken)"
grep -q '"serve.refresh"' "$W/serve.log" || tb_fail "no serve.refresh log line"
tb_end "less than the margin left: a new token from the broker (expires_in $EXP2), before the old one expired"

# ---- Google failing behind the broker: the old token serves while it is valid ----------------
tb_begin
"$CURL_BIN" --silent -o /dev/null -X POST --data '{"iam": "error500"}' "http://127.0.0.1:$SPORT/_control"
calls=$(sv_calls :generateAccessToken)
sleep $((EXP2 - SV_MARGIN + 1)) # into the refresh window, more than 10 s before expiry
sv_get stale computeMetadata/v1/instance/service-accounts/default/token
tb_expect_status 200
[ "$(sv_field "$TB_BODY" access_token)" = "$TOKEN2" ] || tb_fail "not the last good token: $(head -c 200 "$TB_BODY")"
EXP3=$(sv_field "$TB_BODY" expires_in)
[ "$(sv_calls :generateAccessToken)" -gt "$calls" ] || tb_fail "no refresh attempt reached the stand-in"
grep -q '"serve.refresh_failed"' "$W/serve.log" || tb_fail "no serve.refresh_failed log line"
tb_end "the broker answers 503 (Google failing): the last good token, still valid for $EXP3 s, is served"

tb_begin
sleep $((EXP3 - 5))
sv_get expired computeMetadata/v1/instance/service-accounts/default/token
tb_expect_status 503
tb_expect_header Metadata-Flavor Google
tb_expect_header Retry-After '[0-9]*'
grep -q "sa-" "$TB_BODY" && tb_fail "a token in the body"
tb_end "no valid token left and the broker still failing: 503 with Retry-After, no token"

# ---- the broker down -------------------------------------------------------------------------
tb_begin
tb_stop_server
sv_get down 'computeMetadata/v1/instance/service-accounts/default/identity?audience=https://down.example'
tb_expect_status 503
sv_get cached 'computeMetadata/v1/instance/service-accounts/default/identity?audience=https://relying.example'
tb_expect_status 200
cmp -s "$TB_BODY" "$W/id1.jwt" || tb_fail "the cached ID token was not served"
tb_end "the broker down: 503 for a token it never gave; a cached ID token still valid is served"

# ---- stop ------------------------------------------------------------------------------------
tb_begin
sv_stop
[ "$SV_RC" = 0 ] || tb_fail "serve exited with status $SV_RC"
grep -q 'Sanitizer\|runtime error' "$W/serve.log" && tb_fail "sanitizer report: $(grep -m 3 'Sanitizer\|runtime error' "$W/serve.log")"
for t in "$TOKEN1" "$TOKEN2"; do
	grep -qF -- "$t" "$W/serve.log" && tb_fail "a token in the log"
done
"$PYTHON3" -c 'import json, sys
for l in open(sys.argv[1]):
    if l.startswith("{"):
        json.loads(l)' "$W/serve.log" 2>/dev/null || tb_fail "a log line that is not JSON"
tb_end "SIGTERM: exit 0, no sanitizer report, JSON log lines without tokens"
