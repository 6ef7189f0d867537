#!/bin/sh
# gal.sh: the real google-auth-library (npm, pinned in tests/google/gal/package-lock.json) with an
# external_account credential whose executable is token-broker-credential, which gets its ID
# token from token-broker behind real lighttpd with mutual TLS; STS and IAM Credentials are the
# loopback stand-in (tests/google/standin.py). getAccessToken() must give the stand-in's
# service-account token. Skipped without node and npm (failed when CI=true).
#
# google-auth-library 10.x takes a plain-http token_url and service_account_impersonation_url
# (it checks neither scheme nor host), so the stand-in serves plain http on 127.0.0.1.

if [ ! -f "$(dirname "$0")/../e2e/lib.sh" ]; then
	echo "1..0 # SKIP tests/e2e/lib.sh is missing"
	exit 0
fi
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/../e2e/lib.sh"

AUDIENCE=//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/test-pool/providers/test-provider
SA=sa@test-project.iam.gserviceaccount.com
NODE_MIN=18 # google-auth-library 10.x: "engines": {"node": ">=18"}
HELPER=$TB_BUILDDIR/src/token-broker-credential
GAL_SRC=$TB_SRCDIR/tests/google/gal
GAL_DIR=$TB_BUILDDIR/tests/google/gal # node_modules lives in the build tree (srcdir may be read-only)

tap_plan 9

# ---- node, npm, and the pinned google-auth-library ------------------------------------------
NODE=${NODE:-$(command -v node || true)}
if [ -z "$NODE" ] || [ ! -x "$NODE" ]; then
	tap_rest "node not installed"
	exit 0
fi
NPM=$(dirname "$NODE")/npm
[ -x "$NPM" ] || NPM=$(command -v npm || true)
node_major=$("$NODE" -e 'process.stdout.write(process.versions.node.split(".")[0])')
if [ "${node_major:-0}" -lt "$NODE_MIN" ]; then
	tap_rest "node $node_major is older than google-auth-library 10 needs ($NODE_MIN)"
	exit 0
fi
mkdir -p "$GAL_DIR"
if [ ! -d "$GAL_DIR/node_modules/google-auth-library" ] ||
	! cmp -s "$GAL_SRC/package-lock.json" "$GAL_DIR/package-lock.json"; then
	if [ -z "$NPM" ]; then
		tap_rest "npm not installed (google-auth-library is not installed either)"
		exit 0
	fi
	if [ "$GAL_SRC" != "$GAL_DIR" ]; then
		cp "$GAL_SRC/package.json" "$GAL_SRC/package-lock.json" "$GAL_DIR/"
	fi
	if ! npm_out=$(cd "$GAL_DIR" && "$NPM" ci --no-audit --no-fund 2>&1); then
		tap_diag "npm ci: $(printf '%s' "$npm_out" | tail -n 15)"
		tap_rest "npm ci failed (no registry?)"
		exit 0
	fi
fi
gal_version=$("$NODE" -e 'process.stdout.write(require(process.argv[1] + "/node_modules/google-auth-library/package.json").version)' "$GAL_DIR")
tap_ok "google-auth-library $gal_version installed for node $("$NODE" --version)"

# ---- lighttpd and token-broker, from the shipped configuration -------------------------------
LIGHTTPD=${LIGHTTPD-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
tb_need lighttpd "$LIGHTTPD" || exit 0
if [ ! -x "$HELPER" ]; then
	tap_rest "$HELPER not built" fail
	exit 1
fi
tb_setup gal


tb_lighttpd_conf "$TB_PKI/signing-rsa.pem" tb_pool_id='"test-pool"' \
	tb_provider_id='"test-provider"' ||
	{ tap_rest "lighttpd.conf substitution failed" fail; exit 1; }

if tb_start_server "$TB_TMP/log/token-broker-error.log" -- \
	"$LIGHTTPD" -D -f "$TB_TMP/conf/lighttpd.conf"; then
	tap_ok "lighttpd with token-broker on port $TB_PORT"
else
	tap_rest "lighttpd did not start" fail
	exit 1
fi

# ---- the Google stand-in, trusting the broker's published keys -------------------------------
W=$TB_TMP/gal
mkdir -p "$W"
tb_begin
tb_curl discovery "$TB_BASE/.well-known/openid-configuration"
jwks_uri=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1]))["jwks_uri"])' \
	"$TB_BODY" 2>/dev/null) || tb_fail "no jwks_uri in discovery"
tb_curl jwks "$jwks_uri"
tb_expect_status 200
cp "$TB_BODY" "$W/jwks.json"
tb_standin "$W" "$W/jwks.json"
[ -n "$SPORT" ] || tb_fail "the stand-in did not start: $(cat "$W/standin.err")"
tb_end "the Google stand-in on port $SPORT, trusting the broker's JWK Set"
[ -n "$SPORT" ] || { tap_rest "no stand-in" fail; exit 1; }

# config NAME CERT KEY [OUTPUT_FILE]: a credential configuration as gcloud
# create-cred-config --executable-command writes it
config() {
	"$PYTHON3" - "$W/$1.json" "$SPORT" "$HELPER --url $TB_BASE/token --cert $2 --key $3 --cacert $TB_PKI/ca.pem" "${4:-}" "$AUDIENCE" "$SA" <<'EOF'
import json, sys
path, port, command, output, audience, sa = sys.argv[1:7]
executable = {"command": command, "timeout_millis": 30000}
if output:
    executable["output_file"] = output
base = "http://127.0.0.1:%s" % port
json.dump({
    "type": "external_account",
    "audience": audience,
    "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
    "token_url": base + "/v1/token",
    "service_account_impersonation_url":
        base + "/v1/projects/-/serviceAccounts/%s:generateAccessToken" % sa,
    "credential_source": {"executable": executable},
}, open(path, "w"), indent=2)
EOF
}

# gal NAME [CONFIG]: runs getAccessToken() in a new node process with the configuration
# CONFIG (default NAME); the result is in $W/NAME.out
gal() {
	(cd "$GAL_DIR" && GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1 \
		NODE_PATH="$GAL_DIR/node_modules" "$NODE" "$GAL_SRC/gal-test.js" "$W/${2:-$1}.json") \
		>"$W/$1.out" 2>"$W/$1.err"
}
field() { "$PYTHON3" -c 'import json, sys; v = json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2" 2>/dev/null; }
# The token requests the broker answered, from its own log (one "api.token" line each, in
# whichever file its standard error or LOG_FILE is): it writes the line with one write(2) before
# it answers, so the count is complete once the helper has its answer. lighttpd's access log is
# not: lighttpd buffers it and writes it out up to a second later (test 4 failed 2 runs of 4).
token_requests() {
	tr_n=$(for f in "$TB_TMP"/log/*; do
		case $f in
		*access*) ;;
		*) cat "$f" ;;
		esac
	done 2>/dev/null | grep -c '"event": *"api\.token"')
	echo "${tr_n:-0}"
}

# ---- 1: getAccessToken() through the helper, STS and impersonation -------------------------
OUT=$W/executable-output.json
config good "$TB_PKI/client.pem" "$TB_PKI/client.key" "$OUT"
before=$(token_requests)
tb_begin
gal good
[ "$(field "$W/good.out" ok)" = True ] || tb_fail "getAccessToken failed: $(cat "$W/good.out" "$W/good.err")"
case $(field "$W/good.out" token) in
sa-*) ;;
*) tb_fail "token '$(field "$W/good.out" token)' is not the stand-in's service-account token" ;;
esac
[ "$(token_requests)" -eq $((before + 1)) ] || tb_fail "the broker saw $(($(token_requests) - before)) token requests, not 1"
tb_end "getAccessToken() gives the impersonated service-account token (sa-...)"

tb_begin
tb_out=$("$PYTHON3" - "$W/record" "$AUDIENCE" "$SA" <<'EOF'
import json, sys
rec = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
audience, sa = sys.argv[2], sys.argv[3]
problems = []
sts = [r for r in rec if r["path"] == "/v1/token"]
gat = [r for r in rec if r["path"].endswith(":generateAccessToken")]
if len(sts) != 1 or len(gat) != 1:
    problems.append("requests: %s" % [r["path"] for r in rec])
else:
    f = sts[0].get("form") or {}
    want = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "audience": audience,
            "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            "scope": "https://www.googleapis.com/auth/cloud-platform"}
    for k, v in want.items():
        if f.get(k) != v:
            problems.append("STS %s: %r, expected %r" % (k, f.get(k), v))
    if not f.get("subject_token", "").startswith("eyJ"):
        problems.append("STS subject_token is not the broker's JWT")
    if "authorization" in sts[0]["headers"]:
        problems.append("STS request carries Authorization")
    if gat[0]["path"] != "/v1/projects/-/serviceAccounts/%s:generateAccessToken" % sa:
        problems.append("generateAccessToken path %s" % gat[0]["path"])
    if not gat[0]["headers"].get("authorization", "").startswith("Bearer sts-"):
        problems.append("generateAccessToken without the STS token as bearer")
    body = gat[0].get("json") or {}
    if body.get("scope") != ["https://www.googleapis.com/auth/cloud-platform"]:
        problems.append("generateAccessToken scope %r" % body.get("scope"))
print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF
) || tb_fail "$tb_out"
tb_end "the stand-in verified the broker's ID token at STS (form fields as Google documents), then saw generateAccessToken with the STS token"

# ---- 2: the output file: written by the helper, then read by the library --------------------
tb_begin
if [ ! -f "$OUT" ]; then
	tb_fail "the helper did not write $OUT"
else
	mode=$(stat -c %a "$OUT")
	[ "$mode" = 600 ] || tb_fail "$OUT has mode $mode, not 600"
	tb_out=$("$PYTHON3" "$TB_E2E/check_json.py" "$OUT" success=true version=1 \
		token_type=urn:ietf:params:oauth:token-type:id_token id_token? expiration_time?) ||
		tb_fail "$tb_out"
fi
tb_end "the helper saved the response in GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE (mode 600)"

before=$(token_requests)
tb_begin
gal again good
[ "$(field "$W/again.out" ok)" = True ] || tb_fail "getAccessToken failed: $(cat "$W/again.out" "$W/again.err")"
[ "$(token_requests)" -eq "$before" ] || tb_fail "the broker was asked again ($(($(token_requests) - before)) requests)"
# and the library exchanged the saved ID token (the broker would have minted a new one)
tb_out=$("$PYTHON3" - "$W/record" "$OUT" <<'EOF'
import json, sys
sts = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sts = [r for r in sts if r["path"] == "/v1/token"]
saved = json.load(open(sys.argv[2]))["id_token"]
if len(sts) != 2 or (sts[-1].get("form") or {}).get("subject_token") != saved:
    sys.exit("STS calls: %d; the last one did not carry the saved ID token" % len(sts))
EOF
) || tb_fail "$tb_out"
tb_end "a new process answers from the output file without asking the broker"

tb_begin
"$HELPER" --url "$TB_BASE/token" --cert "$TB_PKI/client.pem" --key "$TB_PKI/client.key" \
	--cacert "$TB_PKI/ca.pem" >"$W/direct.out" 2>"$W/direct.err"
rc=$?
[ "$rc" = 0 ] || tb_fail "exit $rc: $(cat "$W/direct.out")"
[ -s "$W/direct.err" ] && tb_fail "standard error: $(cat "$W/direct.err")"
tb_out=$("$PYTHON3" "$TB_E2E/verify_jwt.py" --jwks "$W/jwks.json" --iss "$TB_BASE" \
	--aud "https:$AUDIENCE" --cert "$TB_PKI/client.pem" --alg RS256 --external \
	"$W/direct.out" 2>&1) || tb_fail "$tb_out"
tb_end "the helper alone: exit 0, nothing on standard error, an executable response whose ID token verifies"

# ---- 3: a refused certificate reaches the library as the broker's error ----------------------
tb_begin
config refused "$TB_PKI/untrusted.pem" "$TB_PKI/untrusted.key"
gal refused
[ "$(field "$W/refused.out" ok)" = False ] || tb_fail "getAccessToken did not fail: $(cat "$W/refused.out")"
case $(field "$W/refused.out" error)$(field "$W/refused.out" code) in
*invalid_client*) ;;
*) tb_fail "the error does not carry the broker's invalid_client: $(cat "$W/refused.out" "$W/refused.err")" ;;
esac
case $(field "$W/refused.out" error) in
*"invalid response"*) tb_fail "the library could not parse the helper's output: $(cat "$W/refused.out")" ;;
esac
grep -q '"path": "/v1/token".*untrusted' "$W/record" 2>/dev/null && tb_fail "STS was called"
tb_end "an untrusted client certificate: getAccessToken() fails with the broker's invalid_client"

# shellcheck disable=SC2154 # tb_failed is lib.sh's
if [ "$tb_failed" = 1 ]; then
	for f in "$W"/*.out "$W"/*.err "$W/standin.err"; do
		[ -s "$f" ] && tap_diag "---- $(basename "$f") ----" "$(head -c 2000 "$f")"
	done
fi
