# lib.sh: what the key-storage tests share (tests/hwkey/tpm.sh, pkcs11.sh): the broker behind
# real lighttpd (tests/e2e/lib.sh), certificates from the test CA for keys made in a device,
# one token request presenting a key reference, and the checks on what comes back.
#
# Each request is made twice over: by tests/hwkey/credget (the smallest client of
# src/credkey.c: load the pair once, one POST) and by token-broker-credential itself.
# shellcheck shell=sh

. "$(dirname "$0")/../e2e/lib.sh"

HW_CREDGET=$TB_BUILDDIR/tests/hwkey/credget
HW_HELPER=$TB_BUILDDIR/src/token-broker-credential
HW_LIMIT=60 # seconds for one client run: a hang (a PIN prompt, say) is a failure
TB_ALG=RS256

# tool NAME...: every command is on PATH (or under /usr/sbin); else reports every test as
# skipped (failed under CI=true) and returns 1.
hw_need_tools() {
	for t in "$@"; do
		if ! command -v "$t" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$t" ]; then
			tap_rest "$t not installed"
			return 1
		fi
	done
	for f in "$HW_CREDGET" "$HW_HELPER"; do
		if [ ! -x "$f" ]; then
			tap_rest "$f not built" fail
			return 1
		fi
	done
	return 0
}

# hw_start_broker: lighttpd from the shipped configuration, spawning the broker, which
# signs with signing-rsa.pem and takes any client certificate of the test CA.
hw_start_broker() {
	if ! tb_lighttpd_conf "$TB_PKI/signing-rsa.pem" tb_procs=1; then
		tap_rest "lighttpd.conf substitution failed" fail
		exit 1
	fi
	if ! tb_start_server "$TB_TMP/log/token-broker-error.log" -- \
		"$LIGHTTPD" -D -f "$TB_TMP/conf/lighttpd.conf"; then
		tap_rest "lighttpd did not start" fail
		exit 1
	fi
	tap_ok "lighttpd with the broker on port $TB_PORT"
	tb_curl discovery "$TB_BASE/.well-known/openid-configuration"
	hw_jwks_uri=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1]))["jwks_uri"])' \
		"$TB_BODY" 2>/dev/null)
	tb_curl jwks "$hw_jwks_uri"
	HW_JWKS=$TB_BODY
}

# hw_issue CSR CERT DNS: the test CA's certificate for the key in CSR (whose signature, made in
# the device, must verify), with DNS as its DNS SAN.
hw_issue() {
	"$PYTHON3" "$TB_SRCDIR/tests/hwkey/signcsr.py" "$TB_PKI" "$1" "$2" "$3" 2>&1
}

# HW_ENV: NAME=VALUE words (no spaces in them) for the next client runs' environment only.
HW_ENV=

# hw_get NAME CERT KEY_REF: credget's POST to the broker; $rc, $TB_TMP/resp/NAME.{out,err}.
hw_get() {
	hw_out=$TB_TMP/resp/$1.out
	hw_err=$TB_TMP/resp/$1.err
	# shellcheck disable=SC2086 # HW_ENV is a list of words
	env $HW_ENV timeout "$HW_LIMIT" "$HW_CREDGET" "$TB_BASE/token" "$2" "$3" "$TB_PKI/ca.pem" \
		</dev/null >"$hw_out" 2>"$hw_err"
	rc=$?
}

# hw_helper NAME CERT KEY_REF: token-broker-credential (executable mode) the same way.
hw_helper() {
	hw_out=$TB_TMP/resp/$1.out
	hw_err=$TB_TMP/resp/$1.err
	# shellcheck disable=SC2086 # HW_ENV is a list of words
	env $HW_ENV timeout "$HW_LIMIT" "$HW_HELPER" --url "$TB_BASE/token" --cert "$2" --key "$3" \
		--cacert "$TB_PKI/ca.pem" </dev/null >"$hw_out" 2>"$hw_err"
	rc=$?
}

# hw_expect_token CERT [--external]: the last run exited 0 with an ID token that verifies
# with the broker's JWK Set and names CERT (x5_sha256, cnf, serial, DNS SAN).
hw_expect_token() {
	if [ "$rc" != 0 ]; then
		tb_fail "exit status $rc: $(head -c 600 "$hw_err") $(head -c 300 "$hw_out")"
		return
	fi
	tb_out=$("$PYTHON3" "$TB_E2E/verify_jwt.py" --jwks "$HW_JWKS" --iss "$TB_BASE" \
		--aud "$TB_AUD" --cert "$1" --alg "$TB_ALG" ${2:+"$2"} "$hw_out" 2>&1) ||
		tb_fail "$tb_out"
}

# hw_expect_refusal TEXT: credget's last run exited 1 (not a signal, not a hang) with one
# line of its own on standard error that holds TEXT.
hw_expect_refusal() {
	[ "$rc" = 1 ] || tb_fail "exit status $rc, expected 1: $(head -c 600 "$hw_err")"
	hw_lines=$(grep -c '^credget: ' "$hw_err")
	[ "$hw_lines" = 1 ] || tb_fail "$hw_lines lines of credget's own, expected one: $(cat "$hw_err")"
	grep -F -q -- "$1" "$hw_err" || tb_fail "no '$1' in: $(cat "$hw_err")"
}

# hw_expect_helper_refusal TEXT: token-broker-credential's last run failed as it documents
# (exit 1, success:false) with TEXT in its message.
hw_expect_helper_refusal() {
	[ "$rc" = 1 ] || tb_fail "exit status $rc, expected 1: $(head -c 600 "$hw_out")"
	tb_out=$("$PYTHON3" - "$hw_out" "$1" <<'EOF' 2>&1
import json, sys
doc = json.load(open(sys.argv[1]))
if doc.get("success") is not False or sys.argv[2] not in doc.get("message", ""):
    sys.exit("not a refusal naming %r: %r" % (sys.argv[2], doc))
EOF
	) || tb_fail "$tb_out"
}
