#!/bin/sh
# Keys that stay in a TPM (issue 11): a software TPM (swtpm, socket mode on loopback ports)
# makes the keys inside itself (tpm2-tools: an EC and an RSA key made persistent at
# 0x81000001 and 0x81000002; the tpm2 provider: an EC key wrapped in a TSS2 key file), signs
# their CSRs, and the test CA certifies them. Then credget and token-broker-credential present
# each key through the tpm2 provider to real lighttpd with the broker, whose ID token must
# name the TPM key's certificate (x5_sha256, cnf). And the refusals: a handle with no key, a
# key that does not match the certificate, no TPM at all: exit 1 with one line, no crash.

. "$(dirname "$0")/lib.sh"

PERSISTENT_EC=0x81000001
PERSISTENT_RSA=0x81000002
EMPTY_HANDLE=0x81000003
SWTPM_WAIT=50 # tenths of a second for swtpm to answer

tap_plan 12
LIGHTTPD=${LIGHTTPD-$(command -v lighttpd || echo /usr/sbin/lighttpd)}
tb_need lighttpd "$LIGHTTPD" || exit 0
hw_need_tools swtpm tpm2_createprimary tpm2_create tpm2_load tpm2_evictcontrol \
	tpm2_flushcontext "$OPENSSL" || exit 0
modules=$("$OPENSSL" version -m | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')
if [ ! -e "$modules/tpm2.so" ]; then
	tap_rest "the tpm2 provider ($modules/tpm2.so, tpm2-openssl) not installed"
	exit 0
fi
tb_setup hwkey-tpm

SWTPM_PID=
hw_cleanup() {
	hw_rc=$?
	if [ -n "$SWTPM_PID" ]; then
		kill -TERM "$SWTPM_PID" 2>/dev/null
		wait "$SWTPM_PID" 2>/dev/null
	fi
	(exit "$hw_rc")
	tb_cleanup
}
trap hw_cleanup EXIT

# Without a resource manager, objects a client loaded stay in the TPM (it has room for three):
# flushing them after each tpm2-tools command and each case keeps one failure from the next.
flush() { tpm2_flushcontext -t >/dev/null 2>&1; }

# start_swtpm: a fresh TPM in $TB_TMP/tpm on two free loopback ports (tries three pairs).
start_swtpm() {
	mkdir -p "$TB_TMP/tpm"
	for _ in 1 2 3; do
		port=$("$PYTHON3" -c 'import socket
for _ in range(50):
    a, b = socket.socket(), socket.socket()
    try:
        a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]; b.bind(("127.0.0.1", p + 1))
        print(p); break
    except OSError:
        pass
    finally:
        a.close(); b.close()')
		swtpm socket --tpm2 --tpmstate dir="$TB_TMP/tpm" \
			--server type=tcp,port="$port",bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
			--flags not-need-init,startup-clear >"$TB_TMP/log/swtpm.log" 2>&1 &
		SWTPM_PID=$!
		TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=$port
		TPM2OPENSSL_TCTI=$TPM2TOOLS_TCTI
		export TPM2TOOLS_TCTI TPM2OPENSSL_TCTI
		i=0
		while [ "$i" -lt "$SWTPM_WAIT" ] && kill -0 "$SWTPM_PID" 2>/dev/null; do
			tpm2_getrandom 8 >/dev/null 2>&1 && return 0
			sleep 0.1
			i=$((i + 1))
		done
		kill -TERM "$SWTPM_PID" 2>/dev/null
		wait "$SWTPM_PID" 2>/dev/null
		SWTPM_PID=
	done
	return 1
}

# persistent ALG HANDLE: a key made inside the TPM under the owner's primary key and made
# persistent at HANDLE; its private part never leaves the TPM (tpm2_create's key.priv is
# wrapped by the TPM's own storage key).
persistent() {
	d=$TB_TMP/tpm-$2
	mkdir -p "$d" &&
		tpm2_createprimary -C o -g sha256 -G ecc256 -c "$d/primary.ctx" >/dev/null && flush &&
		tpm2_create -C "$d/primary.ctx" -G "$1" -u "$d/key.pub" -r "$d/key.priv" >/dev/null &&
		flush &&
		tpm2_load -C "$d/primary.ctx" -u "$d/key.pub" -r "$d/key.priv" -c "$d/key.ctx" \
			>/dev/null &&
		tpm2_evictcontrol -C o -c "$d/key.ctx" "$2" >/dev/null
	r=$?
	flush
	return $r
}

# certify NAME KEY_REF DNS: a CSR signed in the TPM with KEY_REF, and the CA's NAME.pem for it.
certify() {
	"$OPENSSL" req -provider tpm2 -provider default -new -key "$2" -subj "/CN=$3" \
		-out "$TB_TMP/pki/$1.csr" 2>&1 && hw_issue "$TB_TMP/pki/$1.csr" "$TB_PKI/$1.pem" "$3"
	r=$?
	flush
	return $r
}

hw_start_broker

tb_begin
if ! start_swtpm; then
	tb_fail "swtpm did not start: $(tail -n 5 "$TB_TMP/log/swtpm.log")"
else
	out=$(persistent ecc256:ecdsa "$PERSISTENT_EC" 2>&1) ||
		tb_fail "EC key at $PERSISTENT_EC: $out"
	out=$(persistent rsa2048 "$PERSISTENT_RSA" 2>&1) ||
		tb_fail "RSA key at $PERSISTENT_RSA: $out"
	out=$("$OPENSSL" genpkey -provider tpm2 -provider default -algorithm EC \
		-pkeyopt group:P-256 -out "$TB_PKI/tss2.key" 2>&1) || tb_fail "TSS2 key file: $out"
	flush
	grep -q -- '-----BEGIN TSS2 PRIVATE KEY-----' "$TB_PKI/tss2.key" 2>/dev/null ||
		tb_fail "tss2.key is not a TSS2 key file"
	chmod 600 "$TB_PKI/tss2.key"
	out=$(certify tpm-ec "handle:$PERSISTENT_EC" tpm-ec.example.net) || tb_fail "$out"
	out=$(certify tpm-rsa "handle:$PERSISTENT_RSA" tpm-rsa.example.net) || tb_fail "$out"
	out=$(certify tpm-tss2 "$TB_PKI/tss2.key" tpm-tss2.example.net) || tb_fail "$out"
fi
tb_end "swtpm on 127.0.0.1 made an EC and an RSA key (persistent) and a TSS2 key inside itself; their CSRs, signed in the TPM, verify; the test CA certified them"
if [ "$tb_case_bad" = 1 ]; then
	tap_rest "no TPM keys" fail
	exit 1
fi

tb_begin
hw_get ec "$TB_PKI/tpm-ec.pem" "handle:$PERSISTENT_EC"
hw_expect_token "$TB_PKI/tpm-ec.pem"
flush
tb_end "credget --key handle:$PERSISTENT_EC (EC P-256 in the TPM): the broker's ID token names that certificate"

tb_begin
hw_get rsa "$TB_PKI/tpm-rsa.pem" "handle:$PERSISTENT_RSA"
hw_expect_token "$TB_PKI/tpm-rsa.pem"
flush
tb_end "credget --key handle:$PERSISTENT_RSA (RSA 2048 in the TPM, RSA-PSS in TLS 1.3): an ID token for it"

tb_begin
hw_get tss2 "$TB_PKI/tpm-tss2.pem" "$TB_PKI/tss2.key"
hw_expect_token "$TB_PKI/tpm-tss2.pem"
flush
tb_end "credget with a TSS2 key file (the key wrapped by the TPM): an ID token for it"

tb_begin
hw_helper helper-ec "$TB_PKI/tpm-ec.pem" "handle:$PERSISTENT_EC"
hw_expect_token "$TB_PKI/tpm-ec.pem" --external
flush
tb_end "token-broker-credential --key handle:$PERSISTENT_EC: an executable-sourced credential with the ID token"

tb_begin
hw_helper helper-tss2 "$TB_PKI/tpm-tss2.pem" "$TB_PKI/tss2.key"
hw_expect_token "$TB_PKI/tpm-tss2.pem" --external
flush
tb_end "token-broker-credential --key with the TSS2 key file: the same"

tb_begin
hw_get empty "$TB_PKI/tpm-ec.pem" "handle:$EMPTY_HANDLE"
hw_expect_refusal "handle:$EMPTY_HANDLE: no private key in the TPM there"
[ -s "$TB_TMP/resp/empty.out" ] && tb_fail "something on standard output"
flush
tb_end "a handle with no key behind it: exit 1, one line naming the handle"

tb_begin
hw_get mismatch "$TB_PKI/client.pem" "handle:$PERSISTENT_EC"
hw_expect_refusal "the key handle:$PERSISTENT_EC does not match the certificate"
grep -q "malformed input" "$hw_err" || tb_fail "not TB_ERR_INVALID: $(cat "$hw_err")"
hw_get mismatch-tss2 "$TB_PKI/tpm-ec.pem" "$TB_PKI/tss2.key"
hw_expect_refusal "does not match the certificate"
flush
tb_end "a TPM key that is not the certificate's (a handle, a TSS2 file): TB_ERR_INVALID, one line"

tb_begin
hw_helper helper-mismatch "$TB_PKI/client.pem" "handle:$PERSISTENT_EC"
hw_expect_helper_refusal "does not match the certificate"
flush
tb_end "token-broker-credential with a TPM key that is not the certificate's: success:false, exit 1"

# No TPM: the same keys with the TPM gone (swtpm stopped; its ports refuse).
kill -TERM "$SWTPM_PID" 2>/dev/null
wait "$SWTPM_PID" 2>/dev/null
SWTPM_PID=

tb_begin
hw_get notpm "$TB_PKI/tpm-ec.pem" "handle:$PERSISTENT_EC"
hw_expect_refusal "the tpm2 provider did not start"
hw_get notpm-tss2 "$TB_PKI/tpm-tss2.pem" "$TB_PKI/tss2.key"
hw_expect_refusal "the tpm2 provider did not start"
[ "$(wc -l <"$hw_err")" = 1 ] || tb_fail "more than the one line on standard error: $(cat "$hw_err")"
tb_end "no TPM reachable through TPM2OPENSSL_TCTI: exit 1, one line saying so (the TSS's own log kept quiet)"

tb_begin
hw_helper helper-notpm "$TB_PKI/tpm-ec.pem" "handle:$PERSISTENT_EC"
hw_expect_helper_refusal "the tpm2 provider did not start"
tb_end "token-broker-credential without the TPM: success:false naming the reason, exit 1"
