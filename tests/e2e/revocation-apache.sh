#!/bin/sh
# End-to-end revocation through real Apache httpd 2.4 with mod_fcgid: see revocation.sh.
# shellcheck disable=SC2034 # read by revocation.sh
TB_REV_SERVER=apache
. "$(dirname "$0")/revocation.sh"
