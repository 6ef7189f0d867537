#!/usr/bin/env python3
"""stop.py: a FastCGI token-broker stops on SIGTERM, also when the signal comes just before it
blocks waiting for a connection (TAP).

  1. SIGTERM while it waits: it exits 0 within the bound.
  2. SIGTERM raised right before its first wait for a connection (stop-before-wait.so, an
     LD_PRELOAD shim): it must still exit, not wait for a connection that never comes; 3. and
     it says it served nothing.
  4. A request is answered through cgi-fcgi, then SIGTERM: exits 0, the request was answered.
"""

import os
import shutil
import signal
import sys
import tempfile
import time

from fcgilib import BOUND, BUILDDIR, Broker, Tap, make_pki

SHIM = os.path.join(BUILDDIR, "tests", "fcgi", "stop-before-wait.so")


def main():
    if not os.path.exists(SHIM):
        print("1..0 # SKIP %s is not built" % SHIM)
        return 0
    t = Tap(4)
    why = make_pki()
    if why is not None:
        return t.missing("mkpki.py failed: " + why.splitlines()[-1])
    tmp = tempfile.mkdtemp(prefix="tb-stop.")
    try:
        b = Broker(tmp, {})
        time.sleep(0.5)
        b.proc.send_signal(signal.SIGTERM)
        rc = b.wait()
        t.ok(rc == 0, "SIGTERM while waiting for a connection: exit 0 (got %s)" % rc, b.log())

        b = Broker(tmp, {}, preload=SHIM)
        rc = b.wait()
        t.ok(rc == 0, "SIGTERM just before the wait for a connection is not lost: exit 0 "
             "within %.0f s (got %s)" % (BOUND, rc), b.log())
        t.ok("stopping after 0 requests" in b.log(), "it served nothing and said so", b.log())

        cgi_fcgi = shutil.which("cgi-fcgi")
        if cgi_fcgi is None:
            return t.missing("cgi-fcgi (Debian libfcgi-bin) is not installed")
        b = Broker(tmp, {})
        status, doc, raw = b.request(cgi_fcgi, {
            "REQUEST_METHOD": "GET", "PATH_INFO": "/.well-known/openid-configuration",
            "REQUEST_URI": "/.well-known/openid-configuration"})
        rc = b.stop()
        t.ok(rc == 0 and status == 200 and doc is not None and "issuer" in doc,
             "a request answered, then SIGTERM: exit 0 (got %s)" % rc, raw + b.log())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return t.status()


if __name__ == "__main__":
    sys.exit(main())
