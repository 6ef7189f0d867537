#!/bin/sh
# End-to-end revocation through real lighttpd: see revocation.sh.
# shellcheck disable=SC2034 # read by revocation.sh
TB_REV_SERVER=lighttpd
. "$(dirname "$0")/revocation.sh"
