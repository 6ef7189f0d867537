#!/bin/sh
# clients.sh: real Google client libraries against `token-broker-credential serve`, with only
# the metadata server's address in the environment (no credential file, no
# GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES): google-auth-library (npm, the version
# tests/google/gal pins, installed as tests/google/gal.sh does) and Debian's python3-google-auth.
# Each gets the broker's impersonated access token, the project, and an ID token for an
# audience. Behind serve: real lighttpd with token-broker, and the Google stand-in (TAP).

if [ ! -f "$(dirname "$0")/../e2e/lib.sh" ]; then
	echo "1..0 # SKIP tests/e2e/lib.sh is missing"
	exit 0
fi
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/../e2e/lib.sh"
# The broker's own token lifetime (5 minutes): no refresh while the clients run.
SV_LIFETIME=3600
# shellcheck source=tests/serve/setup.sh
. "$TB_SRCDIR/tests/serve/setup.sh"

AUD=https://relying.example
NODE_MIN=18 # google-auth-library 10.x: "engines": {"node": ">=18"}
GAL_SRC=$TB_SRCDIR/tests/google/gal
GAL_DIR=$TB_BUILDDIR/tests/google/gal # shared with tests/google/gal.sh

tap_plan 6
sv_setup clients
tap_ok "lighttpd with token-broker on $TB_PORT, stand-in on $SPORT, serve on $MPORT"

# What serve hands out, to compare with what the libraries got.
sv_get token computeMetadata/v1/instance/service-accounts/default/token
SERVED=$(sv_field "$TB_BODY" access_token)

# Nothing of this machine's own Google set-up may answer instead of serve: no credential file,
# no gcloud configuration (HOME), no project from the environment.
mkdir -p "$W/home"
clean_env() {
	env -u GOOGLE_APPLICATION_CREDENTIALS -u GOOGLE_CLOUD_PROJECT -u GCLOUD_PROJECT \
		-u CLOUDSDK_CONFIG -u GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES \
		HOME="$W/home" GCE_METADATA_HOST="127.0.0.1:$MPORT" "$@"
}
field() { sv_field "$@"; }
# skip N WHY: N tests skipped (failed when CI=true: a CI machine has everything installed)
skip() {
	for _ in $(seq "$1"); do
		if [ "${CI:-}" = true ]; then tap_not_ok "$2"; else tap_skip "$2"; fi
	done
}

# ---- google-auth-library ----------------------------------------------------------------------
gal_ready() {
	NODE=${NODE:-$(command -v node || true)}
	if [ -z "$NODE" ] || [ ! -x "$NODE" ]; then
		gal_why="node not installed"
		return 1
	fi
	node_major=$("$NODE" -e 'process.stdout.write(process.versions.node.split(".")[0])')
	if [ "${node_major:-0}" -lt "$NODE_MIN" ]; then
		gal_why="node $node_major is older than google-auth-library 10 needs ($NODE_MIN)"
		return 1
	fi
	if [ -d "$GAL_DIR/node_modules/google-auth-library" ] &&
		cmp -s "$GAL_SRC/package-lock.json" "$GAL_DIR/package-lock.json"; then
		return 0
	fi
	NPM=$(dirname "$NODE")/npm
	[ -x "$NPM" ] || NPM=$(command -v npm || true)
	if [ -z "$NPM" ]; then
		gal_why="npm not installed (google-auth-library is not installed either)"
		return 1
	fi
	mkdir -p "$GAL_DIR"
	[ "$GAL_SRC" = "$GAL_DIR" ] || cp "$GAL_SRC/package.json" "$GAL_SRC/package-lock.json" "$GAL_DIR/"
	if ! npm_out=$(cd "$GAL_DIR" && "$NPM" ci --no-audit --no-fund 2>&1); then
		tap_diag "npm ci: $(printf '%s' "$npm_out" | tail -n 15)"
		gal_why="npm ci failed (no registry?)"
		return 1
	fi
}

if gal_ready; then
	tb_begin
	(cd "$W" && clean_env NODE_PATH="$GAL_DIR/node_modules" \
		"$NODE" "$TB_SRCDIR/tests/serve/gal-serve.js" "$AUD") >"$W/gal.out" 2>"$W/gal.err"
	[ "$(field "$W/gal.out" ok)" = True ] || tb_fail "failed: $(cat "$W/gal.out" "$W/gal.err")"
	[ "$(field "$W/gal.out" client)" = Compute ] || tb_fail "client $(field "$W/gal.out" client), not Compute"
	[ "$(field "$W/gal.out" token)" = "$SERVED" ] || tb_fail "token '$(field "$W/gal.out" token)', serve's is '$SERVED'"
	case $SERVED in sa-*) ;; *) tb_fail "serve's token '$SERVED' is not the impersonated one" ;; esac
	tb_end "google-auth-library: getClient() is Compute, getAccessToken() the broker's impersonated token"

	tb_begin
	[ "$(field "$W/gal.out" projectId)" = test-project ] || tb_fail "projectId '$(field "$W/gal.out" projectId)'"
	field "$W/gal.out" idToken >"$W/gal-id.jwt"
	[ "$(sv_claim "$W/gal-id.jwt" aud)" = "$AUD" ] || tb_fail "ID token aud '$(sv_claim "$W/gal-id.jwt" aud)'"
	[ "$(sv_claim "$W/gal-id.jwt" iss)" = "$TB_BASE" ] || tb_fail "ID token iss '$(sv_claim "$W/gal-id.jwt" iss)'"
	tb_end "google-auth-library: getProjectId(), and getIdTokenClient($AUD) with the broker's ID token"
else
	skip 2 "$gal_why"
fi

# ---- python3-google-auth ---------------------------------------------------------------------
# Its 1.x versions (Debian 12 has 1.5.1) read GCE_METADATA_ROOT (host:port, despite the name)
# and ping GCE_METADATA_IP; later ones read GCE_METADATA_HOST too.
if "$PYTHON3" -c 'import google.auth.compute_engine, google.auth.transport.requests' 2>/dev/null; then
	tb_begin
	clean_env GCE_METADATA_ROOT="127.0.0.1:$MPORT" GCE_METADATA_IP="127.0.0.1:$MPORT" \
		"$PYTHON3" "$TB_SRCDIR/tests/serve/pyauth.py" "$AUD" >"$W/py.out" 2>"$W/py.err"
	[ "$(field "$W/py.out" ok)" = True ] || tb_fail "failed: $(cat "$W/py.out" "$W/py.err")"
	[ "$(field "$W/py.out" class)" = google.auth.compute_engine.credentials.Credentials ] ||
		tb_fail "credentials $(field "$W/py.out" class)"
	[ "$(field "$W/py.out" token)" = "$SERVED" ] || tb_fail "token '$(field "$W/py.out" token)', serve's is '$SERVED'"
	[ "$(field "$W/py.out" email)" = "$SV_SA" ] || tb_fail "email '$(field "$W/py.out" email)'"
	[ "$(field "$W/py.out" project)" = test-project ] || tb_fail "project '$(field "$W/py.out" project)'"
	tb_end "python3-google-auth: default() gives compute_engine.Credentials and the project; refresh() the broker's token"

	tb_begin
	field "$W/py.out" idToken >"$W/py-id.jwt"
	[ "$(sv_claim "$W/py-id.jwt" aud)" = "$AUD" ] || tb_fail "ID token aud '$(sv_claim "$W/py-id.jwt" aud)'"
	cmp -s "$W/py-id.jwt" "$W/gal-id.jwt" || [ ! -s "$W/gal-id.jwt" ] ||
		tb_fail "not the ID token serve gave google-auth-library (cached for the audience)"
	tb_end "python3-google-auth: the ID token for $AUD from the identity endpoint ($(field "$W/py.out" idVia))"
else
	skip 2 "python3-google-auth (and python3-requests) not installed"
fi

tb_begin
sv_stop
[ "$SV_RC" = 0 ] || tb_fail "serve exited with status $SV_RC"
grep -q 'Sanitizer\|runtime error' "$W/serve.log" && tb_fail "sanitizer report: $(grep -m 3 'Sanitizer\|runtime error' "$W/serve.log")"
[ "$(sv_calls :generateAccessToken)" = 1 ] || tb_fail "the broker was asked $(sv_calls :generateAccessToken) times for the access token, not once"
tb_end "one exchange with the broker served every client; SIGTERM: exit 0, no sanitizer report"
