#!/bin/sh
# fetch.sh: token-broker --fetch-crls against a loopback HTTP server (crlserver.py) that serves
# CRLs made by tests/pki/mkcrl.py: what is written, what is left alone, and the exit status.
#
# Run by make check (TB_SRCDIR, TB_BUILDDIR, PYTHON3 set); by hand from a build directory:
#   sh ../../tests/fetch/fetch.sh        (TB_KEEP_TMP=1 keeps the temporary tree; TB_VERBOSE=1
#                                          shows each failure line; TB_WRAPPER="valgrind -q
#                                          --error-exitcode=99 --leak-check=full" wraps the
#                                          command, whose exit 99 then fails the case)
# shellcheck shell=sh

TB_SRCDIR=$(cd "${TB_SRCDIR:-$(dirname "$0")/../..}" && pwd)
. "$TB_SRCDIR/tests/e2e/lib.sh"

PROG=$TB_PROGRAM_BUILT
MKCRL=$TB_SRCDIR/tests/pki/mkcrl.py
NTESTS=23

tap_plan "$NTESTS"
if ! "$PYTHON3" -c 'import cryptography' 2>/dev/null; then
	tap_rest "python3-cryptography not installed (mkcrl.py needs it)"
	exit 0
fi
tb_need "python3" "$(command -v "$PYTHON3")" || exit 0

SERVERS=
fetch_cleanup() {
	for p in $SERVERS; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	tb_cleanup
}
TB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tb-fetch.XXXXXX") || { tap_rest "mktemp failed" fail; exit 1; }
trap fetch_cleanup EXIT
trap 'exit 130' INT TERM HUP
T=$TB_TMP
mkdir -p "$T/www" "$T/https" "$T/crls" "$T/keep"

PKI=$TB_BUILDDIR/tests/pki-out
if ! out=$("$PYTHON3" "$TB_SRCDIR/tests/pki/mkpki.py" "$PKI" 2>&1); then
	tap_diag "mkpki.py: $out"
	tap_rest "test PKI could not be made" fail
	exit 1
fi
# umask 0 from here on: the command must set the mode of what it writes itself
umask 000

# start_server DIR [--tls CERT KEY]: sets PORT (empty when it did not start)
start_server() {
	d=$1
	shift
	rm -f "$d.ready"
	"$PYTHON3" "$TB_SRCDIR/tests/fetch/crlserver.py" --root "$d" --ready-file "$d.ready" "$@" \
		2>"$d.err" &
	SERVERS="$SERVERS $!"
	i=0
	while [ ! -s "$d.ready" ] && [ "$i" -lt 100 ] && kill -0 "$!" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	PORT=$(cat "$d.ready" 2>/dev/null)
}
start_server "$T/www"
if [ -z "$PORT" ]; then
	tap_diag "crlserver.py did not start: $(cat "$T/www.err")"
	tap_rest "the CRL server did not start" fail
	exit 1
fi
BASE=http://127.0.0.1:$PORT

# mkcrl OUT [mkcrl.py options]: a CRL of the test CA (unless the options say otherwise)
mkcrl() {
	o=$1
	shift
	"$PYTHON3" "$MKCRL" --ca "$PKI/ca.pem" --key "$PKI/ca.key" --out "$o" "$@" 2>>"$T/mkcrl.err" ||
		tb_fail "mkcrl.py $*: $(tail -n 3 "$T/mkcrl.err")"
}

# fetch URLS [NAME=VALUE...]: runs the command with a clean environment; sets RC, OUT (stderr
# text), STDOUT (its standard output, which must stay empty)
fetch() {
	urls=$1
	shift
	# shellcheck disable=SC2086 # TB_WRAPPER is words (valgrind and its options), or nothing
	env -i PATH="$PATH" CLIENT_CA_FILE="$PKI/ca.pem" CRL_FILES="$T/crls" CRL_URLS="$urls" \
		UPSTREAM_TIMEOUT=5 "$@" ${TB_WRAPPER:-} "$PROG" --fetch-crls >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/err")
	STDOUT=$(cat "$T/out")
}

expect_rc() {
	[ "$RC" = "$1" ] || tb_fail "exit $RC, expected $1; it said: $OUT"
	[ -z "$STDOUT" ] || tb_fail "standard output is not empty: $STDOUT"
}

# expect_line PATTERN: a line of the output matches the grep -E pattern
expect_line() {
	printf '%s\n' "$OUT" | grep -Eq -- "$1" || tb_fail "no line matches '$1' in: $OUT"
}

expect_lines() {
	n=$(printf '%s\n' "$OUT" | grep -c '^token-broker: CRL_URLS: ')
	[ "$n" = "$1" ] || tb_fail "$n report lines, expected $1: $OUT"
}

# fingerprint FILE: inode, size and content hash (changes whenever the file is replaced)
fingerprint() { echo "$(stat -c '%i %s' "$1" 2>/dev/null) $(sha256sum <"$1" 2>/dev/null)"; }

# expect_untouched FILE FINGERPRINT
expect_untouched() {
	[ "$(fingerprint "$1")" = "$2" ] || tb_fail "$1 was changed"
}

expect_mode() {
	m=$(stat -c '%a' "$1" 2>/dev/null)
	[ "$m" = 644 ] || tb_fail "$1: mode $m, expected 644"
}

expect_no_temp() {
	left=$(find "$T/crls" -name '.*' -type f)
	[ -z "$left" ] || tb_fail "temporary files left: $left"
}

CA_NAME="CN=token-broker test CA,O=token-broker tests"

# ---- success, then nothing newer --------------------------------------------------------

tb_begin
mkcrl "$T/www/ca.crl" --number 10 --revoke "@$PKI/client.pem"
fetch "$BASE/ca.crl"
expect_rc 0
expect_lines 1
expect_line "^token-broker: CRL_URLS: $BASE/ca.crl: updated $T/crls/ca.crl: CRL of '$CA_NAME': thisUpdate [0-9-]+T[0-9:]+Z, nextUpdate [0-9-]+T[0-9:]+Z, 1 entries$"
cmp -s "$T/www/ca.crl" "$T/crls/ca.crl" || tb_fail "the file written is not what was served"
expect_mode "$T/crls/ca.crl"
expect_no_temp
tb_end "a new CRL is downloaded, verified and written as ca.crl (mode 0644, umask 0)"

tb_begin
out=$(env -i PATH="$PATH" CLIENT_CA_FILE="$PKI/ca.pem" CRL_FILES="$T/crls" \
	SIGNING_KEYS="$PKI/signing-ec.pem" TOKEN_ISSUER=https://broker.example.net \
	TOKEN_AUDIENCE=https://broker.example.net/aud "$PROG" --check-config 2>&1)
rc=$?
[ "$rc" = 0 ] || tb_fail "--check-config exit $rc: $out"
printf '%s\n' "$out" | grep -q "CRL of '$CA_NAME':.*1 entries ($T/crls/ca.crl)" ||
	tb_fail "--check-config does not list the CRL: $out"
tb_end "--check-config then loads it and lists it"

tb_begin
before=$(fingerprint "$T/crls/ca.crl")
fetch "$BASE/ca.crl"
expect_rc 0
expect_line "^token-broker: CRL_URLS: $BASE/ca.crl: already current: the download is not newer than $T/crls/ca.crl: CRL of '$CA_NAME'"
expect_untouched "$T/crls/ca.crl" "$before"
tb_end "the same CRL again: already current, exit 0, the file not rewritten"

tb_begin
mkcrl "$T/www/ca.crl" --number 5 --this-update-hours 3
fetch "$BASE/ca.crl"
expect_rc 0
expect_line ": already current: the download is older than $T/crls/ca.crl: CRL of '$CA_NAME'.*1 entries"
expect_untouched "$T/crls/ca.crl" "$before"
tb_end "an older CRL than the one in place: file untouched, exit 0 (the one in place is current)"

tb_begin
mkcrl "$T/www/ca.crl" --number 20 --this-update-hours 0.5
fetch "$BASE/ca.crl"
expect_rc 0
expect_line ": updated $T/crls/ca.crl: CRL of '$CA_NAME'.* 0 entries$"
cmp -s "$T/www/ca.crl" "$T/crls/ca.crl" || tb_fail "the newer CRL was not written"
[ "$(fingerprint "$T/crls/ca.crl")" != "$before" ] || tb_fail "not replaced"
expect_mode "$T/crls/ca.crl"
expect_no_temp
tb_end "a newer CRL replaces the copy in place"
cp -p "$T/crls/ca.crl" "$T/keep/ca.crl"
good=$(fingerprint "$T/crls/ca.crl")

# ---- failures leave the file in place alone ---------------------------------------------

# fail_case DESCRIPTION URL PATTERN [NAME=VALUE...]: exit 1, one line matching PATTERN, the
# copy in place untouched, no temporary file
fail_case() {
	d=$1
	u=$2
	p=$3
	shift 3
	tb_begin
	fetch "$u" "$@"
	expect_rc 1
	expect_lines 1
	expect_line "^token-broker: CRL_URLS: $u: failed: (.*[^a-z])?$p"
	expect_untouched "$T/crls/ca.crl" "$good"
	expect_no_temp
	[ "$(ls -A "$T/crls")" = ca.crl ] || tb_fail "files written: $(ls -A "$T/crls")"
	[ -n "${TB_VERBOSE:-}" ] && tap_diag "$OUT"
	tb_end "$d"
}

rm -f "$T/www/gone.crl"
cp "$T/www/ca.crl" "$T/www/saved.crl"
mv "$T/www/ca.crl" "$T/www/gone.crl"
fail_case "404: exit 1, the copy in place untouched" "$BASE/ca.crl" \
	"HTTP status 404 \\($T/crls/ca.crl left as it was\\)$"
mv "$T/www/gone.crl" "$T/www/ca.crl"

printf 'this is not a CRL\n' >"$T/www/ca.crl"
fail_case "a garbage body: refused as not a CRL" "$BASE/ca.crl" "not a CRL \\(PEM or DER\\)"

printf -- '-----BEGIN X509 CRL-----\nnot base64 at all\n-----END X509 CRL-----\n' >"$T/www/ca.crl"
fail_case "a broken PEM block: refused" "$BASE/ca.crl" "(holds no PEM CRL|cannot be parsed)"

: >"$T/www/ca.crl"
fail_case "an empty body: refused" "$BASE/ca.crl" "the body is empty"

"$PYTHON3" "$MKCRL" --ca "$PKI/untrusted-ca.pem" --key "$PKI/untrusted-ca.key" \
	--out "$T/www/ca.crl" --number 99 --this-update-hours 0.1
fail_case "a CRL of another CA (not in CLIENT_CA_FILE): unknown issuer" "$BASE/ca.crl" \
	"the CRL of '[^']*' is issued by a CA that is not in CLIENT_CA_FILE \\(unknown issuer\\)"

"$PYTHON3" "$MKCRL" --ca "$PKI/untrusted-ca.pem" --key "$PKI/untrusted-ca.key" \
	--issuer-from "$PKI/ca.pem" --out "$T/www/ca.crl" --number 99 --this-update-hours 0.1
fail_case "the CA's name signed with another key: bad signature" "$BASE/ca.crl" \
	"the CRL of '$CA_NAME' is not signed by the key of its issuer in CLIENT_CA_FILE \\(bad signature\\)"

mkcrl "$T/www/ca.crl" --number 99 --this-update-hours 0.1 --delta
fail_case "a delta CRL: refused" "$BASE/ca.crl" "the CRL of '$CA_NAME' is a delta CRL"
cp "$T/www/saved.crl" "$T/www/ca.crl"

tb_begin
t0=$(date +%s)
fetch "$BASE/hang" UPSTREAM_TIMEOUT=1
t1=$(date +%s)
expect_rc 1
expect_line ": failed: Timeout was reached"
expect_untouched "$T/crls/ca.crl" "$good"
tap_diag "a hanging server: the command took $((t1 - t0)) s with UPSTREAM_TIMEOUT=1"
tb_end "a server that hangs, UPSTREAM_TIMEOUT=1: failed with a timeout"

fail_case "a Content-Length over the 64 MiB cap: abandoned at the header" "$BASE/big-length" \
	"the body is larger than 67108864 bytes"
fail_case "a body streamed past the 64 MiB cap: abandoned while receiving" "$BASE/big-stream" \
	"the body is larger than 67108864 bytes"
fail_case "a redirect to ftp://: not followed" "$BASE/redirect-ftp" "(Unsupported protocol|disabled)"

# https with a certificate of the test CA, which the default CA store does not hold
start_server "$T/https" --tls "$PKI/server.pem" "$PKI/server.key"
cp "$T/www/saved.crl" "$T/https/ca.crl"
if [ -n "$PORT" ]; then
	fail_case "https: the server's certificate is verified (the test CA is not trusted)" \
		"https://localhost:$PORT/ca.crl" "(SSL|certificate)"
else
	tap_not_ok "the https CRL server did not start: $(cat "$T/https.err")"
fi

# ---- redirects, several URLs, a copy that does not load, out of date ---------------------

tb_begin
mkcrl "$T/www/moved.crl" --number 30 --this-update-hours 0.2
fetch "$BASE/redirect/moved.crl"
expect_rc 0
expect_line ": updated $T/crls/moved.crl: "
cmp -s "$T/www/moved.crl" "$T/crls/moved.crl" || tb_fail "moved.crl not written"
expect_untouched "$T/crls/ca.crl" "$good"
tb_end "an http redirect is followed; the file is named after the URL asked for"
rm -f "$T/crls/moved.crl"

tb_begin
mkcrl "$T/www/other.crl" --number 40 --this-update-hours 0.1
fetch "$BASE/missing.crl,$BASE/other.crl"
expect_rc 1
expect_lines 2
expect_line "^token-broker: CRL_URLS: $BASE/missing.crl: failed: HTTP status 404"
expect_line "^token-broker: CRL_URLS: $BASE/other.crl: updated $T/crls/other.crl: "
cmp -s "$T/www/other.crl" "$T/crls/other.crl" || tb_fail "other.crl not written"
expect_mode "$T/crls/other.crl"
expect_no_temp
tb_end "two URLs, one failing: exit 1, one line each, the good one still written"
rm -f "$T/crls/other.crl"

tb_begin
printf 'garbage\n' >"$T/crls/broken.crl"
chmod 644 "$T/crls/broken.crl"
cp "$T/www/saved.crl" "$T/www/broken.crl"
fetch "$BASE/broken.crl"
expect_rc 0
expect_line ": updated $T/crls/broken.crl \\(replacing a copy that did not load: .*\\): CRL of "
cmp -s "$T/www/broken.crl" "$T/crls/broken.crl" || tb_fail "broken.crl not replaced"
tb_end "a copy in place that does not load is replaced by a verified download"
rm -f "$T/crls/broken.crl"

tb_begin
mkcrl "$T/www/stale.crl" --number 50 --next-update-hours -1
fetch "$BASE/stale.crl"
expect_rc 1
expect_line ": failed: wrote $T/crls/stale.crl, but it is out of date: CRL of "
[ -f "$T/crls/stale.crl" ] || tb_fail "stale.crl not written (it is still the newest there is)"
fetch "$BASE/stale.crl"
expect_rc 1
expect_line ": failed: the download is not newer than $T/crls/stale.crl, which is out of date: "
tb_end "a CRL past its nextUpdate: written (newest known) but exit 1, and 1 again next time"
rm -f "$T/crls/stale.crl"

# ---- settings ----------------------------------------------------------------------------

tb_begin
env -i PATH="$PATH" CLIENT_CA_FILE="$PKI/ca.pem" CRL_FILES="$T/crls" "$PROG" --fetch-crls \
	>"$T/out" 2>"$T/err"
RC=$?
OUT=$(cat "$T/err")
STDOUT=$(cat "$T/out")
expect_rc 1
expect_line "^token-broker: CRL_URLS: unset"
fetch "$BASE/ca.crl" CRL_FILES="$T/crls/ca.crl"
expect_rc 1
expect_line "^token-broker: CRL_FILES: names no directory"
expect_untouched "$T/crls/ca.crl" "$good"
fetch "ftp://127.0.0.1/ca.crl"
expect_rc 1
expect_line "^token-broker: CRL_URLS: "
fetch "$BASE/ca.crl" CRL_FILES="$T/crls/ca.crl,$T/keep"
expect_rc 0
expect_line ": already current: the download is not newer than $T/keep/ca.crl"
tb_end "no CRL_URLS, no directory in CRL_FILES, a bad URL: exit 1; the first directory is used"

tb_begin
fetch "$BASE/ca.crl" SIGNING_KEYS=/nonexistent TOKEN_VALIDITY=banana
expect_rc 0
expect_line ": already current: "
tb_end "settings that --fetch-crls does not use do not stop it"

tap_rest "not reached"
