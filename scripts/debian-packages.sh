# debian-packages.sh: installs the Debian packages that scripts/demo and scripts/test need,
# only those that are missing. Sourced by them (bash).
# shellcheck shell=bash disable=SC2034 # the TB_PKGS_* lists are for the scripts that source this

# Building token-broker.
TB_PKGS_BUILD="build-essential autoconf automake pkg-config libfcgi-dev libssl-dev
	libjson-c-dev libcurl4-openssl-dev"
# token-broker-credential serve's HTTP server (the package that runs it needs libmicrohttpd12).
TB_PKGS_BUILD="$TB_PKGS_BUILD libmicrohttpd-dev"
# Running the demo: lighttpd with its TLS module (a separate package since Debian 12).
TB_PKGS_DEMO="lighttpd lighttpd-mod-openssl openssl curl jq"
# Everything make check uses.
TB_PKGS_TEST="time apache2 libapache2-mod-fcgid python3 python3-cryptography valgrind nodejs npm
	ca-certificates"
# tests/serve/clients.sh: Debian's Google client library for Python, against serve.
TB_PKGS_TEST="$TB_PKGS_TEST python3-google-auth python3-requests"
# scripts/lint's gates (scripts/test runs it first).
TB_PKGS_TEST="$TB_PKGS_TEST clang clang-tidy clang-format cppcheck shellcheck"
# cgi-fcgi, which tests/fcgi/*.py drive a long-lived FastCGI process with.
TB_PKGS_TEST="$TB_PKGS_TEST libfcgi-bin"
# tests/e2e/nginx.sh (nginx in front of token-broker --listen); tests/systemd/units.sh
# (systemd-analyze verify, systemd-socket-activate); pkg-config's systemd unit directory.
TB_PKGS_TEST="$TB_PKGS_TEST nginx systemd"
# tests/hwkey/: keys made inside a software TPM (swtpm, tpm2-tools, used through the tpm2
# provider and its swtpm TCTI) and a software HSM (SoftHSM2, opensc's pkcs11-tool, used
# through libp11's PKCS#11 engine).
TB_PKGS_TEST="$TB_PKGS_TEST swtpm swtpm-tools tpm2-tools tpm2-openssl libtss2-tcti-swtpm0
	softhsm2 opensc libengine-pkcs11-openssl"
# make bench (scripts/bench): ss counts the Google row's upstream connections; perf records
# the responders for scripts/bench --perf.
TB_PKGS_TEST="$TB_PKGS_TEST iproute2 linux-perf"

tb_pkg_missing() {
	local p missing=
	for p in "$@"; do
		# Node.js from another source (NodeSource's nodejs bundles npm, and conflicts with
		# Debian's npm package): the commands are what the tests need.
		case $p in
		nodejs) command -v node >/dev/null 2>&1 && continue ;;
		npm) command -v npm >/dev/null 2>&1 && continue ;;
		esac
		if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
			missing="$missing $p"
		fi
	done
	printf '%s' "${missing# }"
}

# tb_install_missing PKG...: apt-get installs the missing ones when run as root; otherwise,
# or with TB_INSTALL=no, it only says what is missing.
tb_install_missing() {
	local missing
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "Not a Debian system: make sure these (or their equivalents) are installed: $*" >&2
		return 0
	fi
	missing=$(tb_pkg_missing "$@")
	[ -n "$missing" ] || return 0
	if [ "${TB_INSTALL:-yes}" = no ] || [ "$(id -u)" != 0 ]; then
		# Go on: what needs them fails or skips, and says so.
		echo "Not installed: $missing (as root: apt-get install $missing)" >&2
		return 0
	fi
	echo "Installing: $missing"
	# The packages' own services (lighttpd and apache2 on port 80) are not started: we run
	# our own servers on other ports, and two of them on port 80 would fail the install.
	# policy-rc.d is Debian's switch for that (invoke-rc.d(8)); ours lives only during it.
	(
		policy=/usr/sbin/policy-rc.d
		if [ ! -e "$policy" ]; then
			trap 'rm -f "$policy"' EXIT
			trap 'exit 130' INT TERM HUP
			printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
		fi
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q || exit
		# shellcheck disable=SC2086
		apt-get install -q -y --no-install-recommends $missing
	)
}
