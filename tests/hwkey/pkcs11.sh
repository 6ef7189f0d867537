#!/bin/sh
# Keys that stay in a PKCS#11 token (issue 11): a software HSM (SoftHSM2, its token store in
# a private SOFTHSM2_CONF) makes an EC and an RSA key pair inside the token (pkcs11-tool
# --keypairgen), their CSRs are signed in the token through libp11's engine, and the test CA
# certifies them. Then credget and token-broker-credential present each key by its PKCS#11
# URI to real lighttpd with the broker, whose ID token must name the token key's certificate.
# The PIN comes from the URI (pin-value, pin-source) or TOKEN_BROKER_PKCS11_PIN, the module
# from TOKEN_BROKER_PKCS11_MODULE or the URI's module-path. And the refusals: a wrong PIN, no
# PIN (never a prompt), no such object, a key that does not match, no module: exit 1, one line
# of our own, the PIN in none of it.

. "$(dirname "$0")/lib.sh"

PIN=48151623
SO_PIN=87654321
WRONG_PIN=11112222
TOKEN=hwkey-test

tap_plan 12
LIGHTTPD=${LIGHTTPD-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
tb_need lighttpd "$LIGHTTPD" || exit 0
hw_need_tools softhsm2-util pkcs11-tool "$OPENSSL" || exit 0
MODULE=
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so; do
	[ -e "$m" ] && MODULE=$m && break
done
engines=$("$OPENSSL" version -e | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')
if [ -z "$MODULE" ]; then
	tap_rest "libsofthsm2.so (softhsm2) not installed"
	exit 0
fi
if [ ! -e "$engines/pkcs11.so" ]; then
	tap_rest "the pkcs11 engine ($engines/pkcs11.so, libengine-pkcs11-openssl) not installed"
	exit 0
fi
tb_setup hwkey-pkcs11

# The token lives in the test tree, never in the system's SoftHSM store.
mkdir -p "$TB_TMP/softhsm/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$TB_TMP/softhsm/tokens" >"$TB_TMP/softhsm/softhsm2.conf"
SOFTHSM2_CONF=$TB_TMP/softhsm/softhsm2.conf
export SOFTHSM2_CONF
unset TOKEN_BROKER_PKCS11_MODULE TOKEN_BROKER_PKCS11_PIN

EC_URI="pkcs11:token=$TOKEN;object=ec-key;type=private"
RSA_URI="pkcs11:token=$TOKEN;object=rsa-key;type=private"

# keypair TYPE ID LABEL: a key pair generated inside the token.
keypair() {
	pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login --pin "$PIN" \
		--keypairgen --key-type "$1" --id "$2" --label "$3" 2>&1
}

# certify NAME URI DNS: a CSR signed in the token through the engine, and the CA's NAME.pem.
certify() {
	PKCS11_MODULE_PATH=$MODULE "$OPENSSL" req -engine pkcs11 -keyform engine \
		-key "$2;pin-value=$PIN" -new -subj "/CN=$3" -out "$TB_TMP/pki/$1.csr" 2>&1 &&
		hw_issue "$TB_TMP/pki/$1.csr" "$TB_PKI/$1.pem" "$3"
}

hw_start_broker

tb_begin
out=$(softhsm2-util --init-token --free --label "$TOKEN" --pin "$PIN" --so-pin "$SO_PIN" 2>&1) ||
	tb_fail "softhsm2-util --init-token: $out"
out=$(keypair EC:prime256v1 01 ec-key) || tb_fail "EC key pair: $out"
out=$(keypair rsa:2048 02 rsa-key) || tb_fail "RSA key pair: $out"
out=$(certify hsm-ec "$EC_URI" hsm-ec.example.net) || tb_fail "$out"
out=$(certify hsm-rsa "$RSA_URI" hsm-rsa.example.net) || tb_fail "$out"
tb_end "SoftHSM2 made an EC and an RSA key pair inside its token; their CSRs, signed in the token, verify; the test CA certified them"
if [ "$tb_case_bad" = 1 ]; then
	tap_rest "no token keys" fail
	exit 1
fi

tb_begin
HW_ENV="TOKEN_BROKER_PKCS11_MODULE=$MODULE"
hw_get ec "$TB_PKI/hsm-ec.pem" "$EC_URI;pin-value=$PIN"
hw_expect_token "$TB_PKI/hsm-ec.pem"
tb_end "credget with the EC key's URI (pin-value; module from TOKEN_BROKER_PKCS11_MODULE): the broker's ID token names that certificate"

tb_begin
HW_ENV="TOKEN_BROKER_PKCS11_MODULE=$MODULE TOKEN_BROKER_PKCS11_PIN=$PIN"
hw_get rsa "$TB_PKI/hsm-rsa.pem" "$RSA_URI"
hw_expect_token "$TB_PKI/hsm-rsa.pem"
tb_end "credget with the RSA key's URI, the PIN from TOKEN_BROKER_PKCS11_PIN: an ID token for it"

tb_begin
HW_ENV=
printf '%s' "$PIN" >"$TB_TMP/softhsm/pin"
chmod 600 "$TB_TMP/softhsm/pin"
hw_get source "$TB_PKI/hsm-ec.pem" \
	"$EC_URI?pin-source=file:$TB_TMP/softhsm/pin&module-path=$MODULE"
hw_expect_token "$TB_PKI/hsm-ec.pem"
tb_end "credget with pin-source and module-path in the URI (no environment): an ID token"

tb_begin
HW_ENV="TOKEN_BROKER_PKCS11_MODULE=$MODULE TOKEN_BROKER_PKCS11_PIN=$PIN"
hw_helper helper-ec "$TB_PKI/hsm-ec.pem" "$EC_URI"
hw_expect_token "$TB_PKI/hsm-ec.pem" --external
tb_end "token-broker-credential --key pkcs11:...: an executable-sourced credential with the ID token"

tb_begin
HW_ENV="TOKEN_BROKER_PKCS11_MODULE=$MODULE"
hw_helper helper-rsa "$TB_PKI/hsm-rsa.pem" \
	"$RSA_URI;pin-value=$PIN"
hw_expect_token "$TB_PKI/hsm-rsa.pem" --external
tb_end "token-broker-credential with the RSA key's URI: the same"

tb_begin
HW_ENV="TOKEN_BROKER_PKCS11_MODULE=$MODULE"
hw_get wrongpin "$TB_PKI/hsm-ec.pem" \
	"$EC_URI;pin-value=$WRONG_PIN"
hw_expect_refusal "$EC_URI: the token gave no private key"
grep -q -- "$WRONG_PIN" "$hw_err" && tb_fail "the PIN is in the reason: $(cat "$hw_err")"
HW_ENV="TOKEN_BROKER_PKCS11_MODULE=$MODULE"
hw_helper helper-wrongpin "$TB_PKI/hsm-ec.pem" \
	"$EC_URI;pin-value=$WRONG_PIN"
hw_expect_helper_refusal "the token gave no private key"
grep -q -- "$WRONG_PIN" "$hw_out" && tb_fail "the helper's message holds the PIN"
tb_end "a wrong PIN: exit 1, one line naming the token and object, not the PIN (credget and the helper)"

tb_begin
HW_ENV="TOKEN_BROKER_PKCS11_MODULE=$MODULE"
hw_get nopin "$TB_PKI/hsm-ec.pem" "$EC_URI"
hw_expect_refusal "the token gave no private key"
tb_end "no PIN anywhere: exit 1 at once (no prompt, standard input is not read)"

tb_begin
HW_ENV="TOKEN_BROKER_PKCS11_MODULE=$MODULE"
hw_get noobject "$TB_PKI/hsm-ec.pem" \
	"pkcs11:token=$TOKEN;object=no-such-key;type=private;pin-value=$PIN"
hw_expect_refusal "object=no-such-key"
tb_end "an object the token does not hold: exit 1, one line naming it"

tb_begin
HW_ENV="TOKEN_BROKER_PKCS11_MODULE=$MODULE"
hw_get mismatch "$TB_PKI/hsm-rsa.pem" \
	"$EC_URI;pin-value=$PIN"
hw_expect_refusal "does not match the certificate"
grep -q "malformed input" "$hw_err" || tb_fail "not TB_ERR_INVALID: $(cat "$hw_err")"
grep -q -- "$PIN" "$hw_err" && tb_fail "the PIN is in the reason"
tb_end "a token key that is not the certificate's: TB_ERR_INVALID, one line, no PIN in it"

tb_begin
HW_ENV="TOKEN_BROKER_PKCS11_MODULE=$TB_TMP/softhsm/missing.so"
hw_get nomodule "$TB_PKI/hsm-ec.pem" \
	"$EC_URI;pin-value=$PIN"
hw_expect_refusal "the PKCS#11 module $TB_TMP/softhsm/missing.so"
HW_ENV="TOKEN_BROKER_PKCS11_MODULE=$TB_TMP/softhsm/missing.so"
hw_helper helper-nomodule \
	"$TB_PKI/hsm-ec.pem" "$EC_URI;pin-value=$PIN"
hw_expect_helper_refusal "missing.so"
tb_end "a PKCS#11 module that is not there: exit 1, one line naming it (credget and the helper)"
