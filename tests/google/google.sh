#!/bin/sh
# google.sh: src/google.c against the loopback Google stand-in, one stand-in per mode (TAP).
#
# Run by make check with TB_SRCDIR, TB_BUILDDIR and PYTHON3 (OPENSSL optional). The driver
# tests/google/test_google makes the calls and checks what comes back; record.py then checks the
# requests the stand-in recorded: exact shapes, one TCP connection, the metadata token cache.
set -u

: "${TB_SRCDIR:?TB_SRCDIR must name the source tree}"
: "${TB_BUILDDIR:?TB_BUILDDIR must name the build tree}"
PYTHON3=${PYTHON3:-python3}
OPENSSL=${OPENSSL:-openssl}
here=$TB_SRCDIR/tests/google
driver=$TB_BUILDDIR/tests/google/test_google
MODES="refuse error500 hang drop garbage huge"

work=$(mktemp -d "${TMPDIR:-/tmp}/tb-google.XXXXXX") || exit 99
spid=
cleanup() {
	if [ -n "$spid" ]; then
		kill -TERM "$spid" 2>/dev/null
		wait "$spid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

n=0
failed=0

ok() { # ok COND-STATUS NAME: one test line of our own
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		failed=$((failed + 1))
		echo "not ok $n - $2"
	fi
}

diag() {
	sed 's/^/#   /' "$1"
}

# merge FILE STATUS NAME: renumbers a TAP stream into ours; a producer that exits non-zero, or
# whose plan does not match its count, adds a failure of its own.
merge() {
	count=0
	plan=
	while IFS= read -r line; do
		case $line in
		"ok "* | "not ok "*)
			n=$((n + 1))
			count=$((count + 1))
			case $line in
			"not ok "*)
				failed=$((failed + 1))
				st="not ok"
				rest=${line#not ok }
				;;
			*)
				st=ok
				rest=${line#ok }
				;;
			esac
			rest=${rest#"${rest%%[!0-9]*}"}
			echo "$st $n$rest"
			;;
		1..*) plan=${line#1..} ;;
		"#"*) echo "$line" ;;
		*) echo "# $line" ;;
		esac
	done <"$1"
	if [ "$2" -ne 0 ] || [ "$plan" != "$count" ]; then
		ok 1 "$3 finished (exit $2, plan ${plan:-none}, ran $count)"
	fi
}

start_standin() { # start_standin MODES [ARGS...]
	modes=$1
	shift
	rm -f "$work/ready"
	: >"$work/record"
	"$PYTHON3" "$here/standin.py" --port 0 --ready-file "$work/ready" --record "$work/record" \
		--jwks "$work/jwks.json" --mode "$modes" "$@" 2>"$work/standin.err" &
	spid=$!
	i=0
	while [ ! -s "$work/ready" ]; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$spid" 2>/dev/null; then
			diag "$work/standin.err"
			return 1
		fi
		sleep 0.1
	done
	port=$(cat "$work/ready")
}

stop_standin() { # sets stopped to the stand-in's exit status
	kill -TERM "$spid" 2>/dev/null
	wait "$spid"
	stopped=$?
	spid=
}

# the logs the driver wrote: JSON lines that must never hold a token
check_log() { # check_log FILE NAME
	if grep -Eq '(sts|meta|sa)-[A-Za-z0-9_-]{20}|eyJ[A-Za-z0-9_-]{10}' "$1"; then
		ok 1 "$2: the log carries no token"
		diag "$1"
	else
		ok 0 "$2: the log carries no token"
	fi
}

if [ ! -x "$driver" ]; then
	echo "1..0 # SKIP $driver is not built"
	exit 0
fi

# ---- keys for the subject tokens: the test PKI when there is one, else fresh ones ----------------
mkdir -p "$work/pki"
if [ -f "$TB_SRCDIR/tests/pki/mkpki.py" ] &&
	"$PYTHON3" "$TB_SRCDIR/tests/pki/mkpki.py" "$work/pki" >/dev/null 2>&1 &&
	[ -f "$work/pki/signing-rsa.pem" ]; then
	cp "$work/pki/signing-rsa.pem" "$work/"
	[ -f "$work/pki/signing-ec.pem" ] && cp "$work/pki/signing-ec.pem" "$work/"
	echo "# keys from tests/pki/mkpki.py"
else
	"$OPENSSL" genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
		-out "$work/signing-rsa.pem" 2>/dev/null &&
		"$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
			-out "$work/signing-ec.pem" 2>/dev/null
	echo "# keys from openssl genpkey"
fi

# ---- settings checks: no server ---------------------------------------------------------------
"$driver" config >"$work/out" 2>"$work/log"
merge "$work/out" $? "test_google config"

# ---- everything answers -----------------------------------------------------------------------
if start_standin sts=ok,iam=ok,meta=ok; then
	ok 0 "the stand-in starts and writes its port ($port)"
	"$driver" ok "$port" "$work" >"$work/out" 2>"$work/log"
	merge "$work/out" $? "test_google ok"
	check_log "$work/log" "ok"
	"$PYTHON3" "$here/record.py" ok "$work/record" "$work" "$port" >"$work/out" 2>&1
	merge "$work/out" $? "record.py ok"
	stop_standin
	ok $stopped "the stand-in exits cleanly on SIGTERM"
else
	ok 1 "the stand-in starts and writes its port"
fi

# ---- each failure mode, on every API ------------------------------------------------------------
for mode in $MODES; do
	if ! start_standin "sts=$mode,iam=$mode,meta=$mode"; then
		ok 1 "$mode: the stand-in starts"
		continue
	fi
	"$driver" fail "$mode" "$port" "$work" >"$work/out" 2>"$work/log"
	merge "$work/out" $? "test_google fail $mode"
	check_log "$work/log" "$mode"
	"$PYTHON3" "$here/record.py" fail "$work/record" "$mode" >"$work/out" 2>&1
	merge "$work/out" $? "record.py fail $mode"
	stop_standin
	ok $stopped "$mode: the stand-in exits cleanly on SIGTERM, hanging requests and all"
done

# ---- https with a certificate nobody trusts: TLS verification is on ----------------------------
if "$OPENSSL" req -x509 -newkey rsa:2048 -nodes -keyout "$work/tls.key" -out "$work/tls.crt" \
	-subj /CN=127.0.0.1 -days 1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1; then
	if start_standin sts=ok,iam=ok,meta=ok --tls-cert "$work/tls.crt" --tls-key "$work/tls.key"; then
		"$driver" tls "$port" >"$work/out" 2>"$work/log"
		merge "$work/out" $? "test_google tls"
		"$PYTHON3" "$here/record.py" none "$work/record" >"$work/out" 2>&1
		merge "$work/out" $? "record.py none"
		stop_standin
	else
		ok 1 "tls: the stand-in starts with TLS"
	fi
else
	n=$((n + 1))
	echo "ok $n # SKIP no openssl to make a certificate"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
