#!/bin/sh
# credential.sh: token-broker-credential against a scripted https broker that requires a client
# certificate (tests/google/fakebroker.py): what it prints, its exit status, that standard error
# stays empty, the output-file cache, and retries within the time budget (TAP).
#
# Run by make check with TB_SRCDIR, TB_BUILDDIR and PYTHON3.
set -u

: "${TB_SRCDIR:?TB_SRCDIR must name the source tree}"
: "${TB_BUILDDIR:?TB_BUILDDIR must name the build tree}"
PYTHON3=${PYTHON3:-python3}
HELPER=$TB_BUILDDIR/src/token-broker-credential
here=$TB_SRCDIR/tests/google

n=0
failed=0
bpid=
work=$(mktemp -d "${TMPDIR:-/tmp}/tb-credential.XXXXXX") || exit 99
cleanup() {
	[ -n "$bpid" ] && kill -TERM "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

ok() { # ok STATUS NAME [DIAG...]
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		failed=$((failed + 1))
		echo "not ok $n - $2"
		shift 2
		for d in "$@"; do printf '%s\n' "$d" | sed 's/^/#   /'; done
	fi
}

if [ ! -x "$HELPER" ]; then
	echo "1..0 # SKIP $HELPER is not built"
	exit 0
fi

PKI=$TB_BUILDDIR/tests/pki-out
if ! out=$("$PYTHON3" "$TB_SRCDIR/tests/pki/mkpki.py" "$PKI" 2>&1); then
	echo "not ok 1 - the test PKI: $out"
	echo "1..1"
	exit 1
fi
CERT=$PKI/client.pem
KEY=$PKI/client.key
CA=$PKI/ca.pem

now_ms() {
	t=$(date +%s%N 2>/dev/null)
	case $t in
	"" | *N) "$PYTHON3" -c 'import time; print(int(time.time() * 1000))' ;;
	*) echo $((t / 1000000)) ;;
	esac
}

# run NAME ARGS...: runs the helper; $rc, $work/NAME.out, $work/NAME.err, $ms (elapsed)
run() {
	name=$1
	shift
	t0=$(now_ms)
	"$HELPER" "$@" >"$work/$name.out" 2>"$work/$name.err"
	rc=$?
	ms=$(($(now_ms) - t0))
	cat "$work/$name.err" >>"$work/all.err"
}

# json FILE ASSERTION...: prints what does not hold of "name=value" (strings as they are,
# other JSON values as JSON text) and "name?" (present, not empty), about the top-level object
json() {
	"$PYTHON3" - "$@" <<'EOF' 2>&1
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except Exception as e:
    sys.exit("%s is not JSON: %s" % (sys.argv[1], e))
for a in sys.argv[2:]:
    if a.endswith("?"):
        if doc.get(a[:-1]) in (None, "", [], {}):
            print("%s: missing" % a[:-1])
        continue
    k, _, want = a.partition("=")
    got = doc.get(k)
    if (got if isinstance(got, str) else json.dumps(got)) != want:
        print("%s: %r, expected %s" % (k, got, want))
EOF
}

no_temporary() { # no_temporary DIR: nothing but output.json there
	for f in "$1"/* "$1"/.[!.]*; do
		case $f in
		*/output.json | */'*' | */'.[!.]*') ;;
		*) return 1 ;;
		esac
	done
	return 0
}

requests() {
	c=$(grep -c . "$work/record" 2>/dev/null)
	echo "${c:-0}"
}

start_broker() { # start_broker SCRIPT
	rm -f "$work/ready"
	: >"$work/record"
	"$PYTHON3" "$here/fakebroker.py" --ready-file "$work/ready" --record "$work/record" \
		--cert "$PKI/server.pem" --key "$PKI/server.key" --ca "$CA" --script "$1" \
		2>"$work/broker.err" &
	bpid=$!
	i=0
	while [ ! -s "$work/ready" ] && [ $i -lt 100 ] && kill -0 "$bpid" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	port=$(cat "$work/ready" 2>/dev/null)
	URL=https://127.0.0.1:$port/token
}

script() { # script STEPS: the broker's next answers; the request counter starts again
	"$PYTHON3" - "$port" "$1" "$CA" "$CERT" "$KEY" <<'EOF'
import json, ssl, sys, http.client
port, steps, ca, cert, key = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
c = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx, timeout=5)
c.request("POST", "/_script", json.dumps({"script": steps}))
assert c.getresponse().status == 200
EOF
	: >"$work/record"
}

: >"$work/all.err"

# ---- the command line --------------------------------------------------------------------
run version --version
[ $rc -eq 0 ] && grep -q '^token-broker-credential [0-9]' "$work/version.out"
ok $? "--version: exit 0, prints the version" "$(cat "$work/version.out")"
run help --help
[ $rc -eq 0 ] && grep -q 'Usage: token-broker-credential' "$work/help.out"
ok $? "--help: exit 0, prints the usage"

run nourl --cert "$CERT" --key "$KEY"
out=$(json "$work/nourl.out" success=false version=1 code=invalid_configuration message?)
[ $rc -eq 1 ] && [ -z "$out" ]
ok $? "no URL: exit 1 with a success:false invalid_configuration response" "$out"
run http --url http://127.0.0.1:1/token --cert "$CERT" --key "$KEY"
out=$(json "$work/http.out" success=false code=invalid_configuration)
[ $rc -eq 1 ] && [ -z "$out" ]
ok $? "a plain-http URL is refused" "$out"
run nocert --url https://127.0.0.1:1/token --cert "$work/missing.pem" --key "$KEY"
out=$(json "$work/nocert.out" success=false code=invalid_configuration)
[ $rc -eq 1 ] && [ -z "$out" ] && grep -q missing.pem "$work/nocert.out"
ok $? "an unreadable certificate is named in the message" "$out"
run badopt --frobnicate 1
[ $rc -eq 1 ] && grep -q '"success":false' "$work/badopt.out"
ok $? "an unknown option: exit 1 with a success:false response"
run badtimeout --timeout 0 --url https://x/ --cert "$CERT"
[ $rc -eq 1 ] && grep -q 'timeout' "$work/badtimeout.out"
ok $? "--timeout 0 is refused"

start_broker ok
if [ -z "$port" ]; then
	ok 1 "the scripted broker starts" "$(cat "$work/broker.err")"
	echo "1..$n"
	exit 1
fi

# ---- success, and what the broker received ------------------------------------------------
run ok --url "$URL" --cert "$CERT" --key "$KEY" --cacert "$CA"
out=$(json "$work/ok.out" success=true version=1 \
	token_type=urn:ietf:params:oauth:token-type:id_token id_token? expiration_time?)
[ $rc -eq 0 ] && [ -z "$out" ]
ok $? "success: exit 0, the broker's executable-sourced response on standard output" "$out"
out=$("$PYTHON3" - "$work/record" <<'EOF'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
p = []
if len(r) != 1:
    p.append("%d requests" % len(r))
else:
    r = r[0]
    if r["path"] != "/token":
        p.append("path %s" % r["path"])
    if r["body"] != "grant_type=client_credentials&format=external_credential":
        p.append("body %r" % r["body"])
    if r["content_type"] != "application/x-www-form-urlencoded":
        p.append("content type %r" % r["content_type"])
    if "commonName=client.example.net" not in r["client_subject"]:
        p.append("client certificate %r" % r["client_subject"])
    if not (r["user_agent"] or "").startswith("token-broker-credential/"):
        p.append("user agent %r" % r["user_agent"])
print("; ".join(p))
EOF
)
[ -z "$out" ]
ok $? "one POST /token, form grant_type=client_credentials&format=external_credential, with the client certificate" "$out"

script ok
TOKEN_BROKER_URL=$URL TOKEN_BROKER_CERT=$CERT TOKEN_BROKER_KEY=$KEY TOKEN_BROKER_CACERT=$CA \
	run env
[ $rc -eq 0 ] && [ "$(requests)" = 1 ]
ok $? "the TOKEN_BROKER_* variables stand in for the options" "$(cat "$work/env.out")"

script ok
run nocacert --url "$URL" --cert "$CERT" --key "$KEY"
out=$(json "$work/nocacert.out" success=false code=invalid_configuration)
[ $rc -eq 1 ] && [ -z "$out" ] && [ "$(requests)" = 0 ]
ok $? "a broker certificate that does not verify: exit 1, not retried" "$out" "$(cat "$work/nocacert.out")"

script ok
run untrusted --url "$URL" --cert "$PKI/untrusted.pem" --key "$PKI/untrusted.key" --cacert "$CA" \
	--timeout 10
[ $rc -eq 1 ] && [ $ms -lt 3000 ] && grep -q '"success":false' "$work/untrusted.out"
ok $? "a client certificate the server refuses in the handshake: exit 1 soon (${ms} ms), not retried for long" \
	"$(cat "$work/untrusted.out")"

# ---- the output file ------------------------------------------------------------------------
OUT=$work/cache/output.json
mkdir -p "$work/cache"
script ok
GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE=$OUT run save --url "$URL" --cert "$CERT" --key "$KEY" --cacert "$CA"
[ $rc -eq 0 ] && [ -f "$OUT" ] && [ "$(stat -c %a "$OUT")" = 600 ] &&
	[ "$(cat "$OUT")" = "$(cat "$work/save.out")" ] && no_temporary "$work/cache"
ok $? "the response is saved in GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE (mode 600, no temporary left)"

script ok
GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE=$OUT run cached --url "$URL" --cert "$CERT" --key "$KEY" --cacert "$CA"
[ $rc -eq 0 ] && [ "$(requests)" = 0 ] && [ "$(cat "$work/cached.out")" = "$(cat "$OUT")" ]
ok $? "a saved response valid for more than 60 s is printed without asking the broker"

"$PYTHON3" - "$OUT" <<'EOF'
import json, sys, time
d = json.load(open(sys.argv[1]))
d["expiration_time"] = int(time.time()) + 30
d["id_token"] = "old"
json.dump(d, open(sys.argv[1], "w"))
EOF
GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE=$OUT run expiring --url "$URL" --cert "$CERT" --key "$KEY" --cacert "$CA"
[ $rc -eq 0 ] && [ "$(requests)" = 1 ] && ! grep -q '"old"' "$OUT" && ! grep -q '"old"' "$work/expiring.out"
ok $? "a saved response valid for 30 s more: the broker is asked and the file replaced"

script ok
echo '{"broken' >"$OUT"
GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE=$OUT run broken --url "$URL" --cert "$CERT" --key "$KEY" --cacert "$CA"
out=$(json "$OUT" success=true)
[ $rc -eq 0 ] && [ "$(requests)" = 1 ] && [ -z "$out" ]
ok $? "a broken output file: the broker is asked and the file replaced" "$out"

script fail401
GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE=$work/cache/none.json run nosave --url "$URL" --cert "$CERT" --key "$KEY" --cacert "$CA"
[ $rc -eq 1 ] && [ ! -e "$work/cache/none.json" ]
ok $? "a failure is not saved"

# ---- the broker's failures, and ours ---------------------------------------------------------
script fail401
run fail401 --url "$URL" --cert "$CERT" --key "$KEY" --cacert "$CA"
out=$(json "$work/fail401.out" success=false version=1 code=invalid_client message?)
[ $rc -eq 1 ] && [ -z "$out" ] && [ "$(requests)" = 1 ]
ok $? "the broker's 401 failure response is passed on, exit 1, not retried" "$out"

script oauth400
run oauth400 --url "$URL" --cert "$CERT" --key "$KEY" --cacert "$CA"
out=$(json "$work/oauth400.out" success=false version=1 code=invalid_request message="bad body")
[ $rc -eq 1 ] && [ -z "$out" ]
ok $? "an OAuth error body becomes a success:false response with its code" "$out"

script garbage
run garbage --url "$URL" --cert "$CERT" --key "$KEY" --cacert "$CA"
out=$(json "$work/garbage.out" success=false version=1 code=invalid_response message?)
[ $rc -eq 1 ] && [ -z "$out" ]
ok $? "200 with a body that is not JSON: invalid_response" "$out"

script huge
run huge --url "$URL" --cert "$CERT" --key "$KEY" --cacert "$CA"
out=$(json "$work/huge.out" success=false version=1 code=invalid_response)
[ $rc -eq 1 ] && [ -z "$out" ]
ok $? "a 1 MiB response: invalid_response" "$out"

# ---- retries within the budget ----------------------------------------------------------------
script 503,503,ok
run retry --url "$URL" --cert "$CERT" --key "$KEY" --cacert "$CA"
[ $rc -eq 0 ] && [ "$(requests)" = 3 ] && [ $ms -ge 1400 ]
ok $? "503, 503, then 200: exit 0 after three requests and backing off (${ms} ms)" "$(cat "$work/retry.out")"

script 503
run busy --url "$URL" --cert "$CERT" --key "$KEY" --cacert "$CA" --timeout 3
out=$(json "$work/busy.out" success=false version=1 code=temporarily_unavailable)
[ $rc -eq 1 ] && [ -z "$out" ] && [ $ms -lt 3500 ] && [ "$(requests)" -ge 2 ]
ok $? "503 for good: gives up within --timeout 3 (${ms} ms, $(requests) requests) with the broker's failure" "$out"

script drop,ok
run drop --url "$URL" --cert "$CERT" --key "$KEY" --cacert "$CA"
[ $rc -eq 0 ]
ok $? "a dropped connection is retried" "$(cat "$work/drop.out")"

script hang
run hang --url "$URL" --cert "$CERT" --key "$KEY" --cacert "$CA" --timeout 2
out=$(json "$work/hang.out" success=false version=1 code=temporarily_unavailable)
[ $rc -eq 1 ] && [ -z "$out" ] && [ $ms -lt 3000 ]
ok $? "a broker that never answers: temporarily_unavailable within --timeout 2 (${ms} ms)" "$out"

kill -TERM "$bpid" 2>/dev/null
wait "$bpid" 2>/dev/null
bpid=
run refused --url "$URL" --cert "$CERT" --key "$KEY" --cacert "$CA" --timeout 2
out=$(json "$work/refused.out" success=false version=1 code=temporarily_unavailable message?)
[ $rc -eq 1 ] && [ -z "$out" ] && [ $ms -lt 3000 ] && [ $ms -ge 1000 ]
ok $? "connection refused: retried until --timeout 2, then temporarily_unavailable (${ms} ms)" "$out"

[ ! -s "$work/all.err" ]
ok $? "nothing on standard error in any run" "$(head -c 1000 "$work/all.err")"

echo "1..$n"
[ "$failed" -eq 0 ]
