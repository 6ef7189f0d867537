#!/usr/bin/env python3
"""reload.py: one long-lived FastCGI token-broker picks up changed CRL files (TAP).

doc/contract.md section 9 and issue 8 item 3. The broker runs as a FastCGI responder on a Unix socket
handed to it as standard input (as web servers start it, and as stop.py does), with
CRL_FILES naming a directory that holds the test CA's CRL. cgi-fcgi (Debian libfcgi-bin)
sends each request. Steps, each after more than a second (the broker looks at the files at
most once a second):
  1. the CRL lists nothing: client.pem gets a token;
  2. the CA publishes a CRL listing client.pem (mkcrl.py writes a dot file, then renames):
     the next request is refused, and the reload is logged;
  3. a corrupt file is written over it (in place): nothing changes, the request is still
     refused, and an ERROR line says the new set is refused;
  4. an empty CRL replaces it: client.pem is good again;
  5. a half-written dot file appears beside it (what a fetch leaves while it writes): it is not
     read (no ERROR line), client.pem stays good;
and the one process answered all of them: it never exited, and on SIGTERM it says it served
them all. Under CI=true a missing cgi-fcgi or python3-cryptography fails instead of skipping.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

from fcgilib import PKI, PYTHON3, SRCDIR, Broker, Tap, make_pki

MKCRL = os.path.join(SRCDIR, "tests", "pki", "mkcrl.py")
PAUSE = 1.1    # seconds between a change and the request that must see it (the broker: 1 s)
PLAN = 12
CORRUPT = b"-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n"
t = Tap(PLAN)
tap = t.ok


def publish(crl, *args):
    """The CA publishes a CRL (mkcrl.py: a dot temp file renamed over crl)."""
    subprocess.run([PYTHON3, MKCRL, "--ca", os.path.join(PKI, "ca.pem"),
                    "--key", os.path.join(PKI, "ca.key"), "--out", crl] + list(args),
                   check=True)


def has(lines, severity, text):
    return any(l.get("severity") == severity and text in l.get("message", "") for l in lines)


def dump(lines):
    return "\n".join("%s %s" % (l.get("severity"), l.get("message")) for l in lines)


def steps(b, cgi_fcgi, crl):
    status, doc, raw = b.token(cgi_fcgi, "client.pem")
    lines = b.new_lines()
    tap(status == 200 and doc is not None and "id_token" in doc,
        "1. the CA's CRL lists nothing: client.pem gets an ID token", raw + dump(lines))

    publish(crl, "--revoke", "@" + os.path.join(PKI, "client.pem"), "--reason",
            "keyCompromise")
    time.sleep(PAUSE)
    status, doc, raw = b.token(cgi_fcgi, "client.pem")
    lines = b.new_lines()
    tap(status == 401 and doc is not None and doc.get("error") == "invalid_client",
        "2. the CA publishes a CRL listing client.pem: the next request (%.1f s later) is 401 "
        "invalid_client" % PAUSE, raw + dump(lines))
    tap(has(lines, "INFO", "CRL_FILES reloaded: 1 CRLs with 1 revoked serials") and
        has(lines, "WARNING", "the certificate is revoked: serial 00:c9:77:71:db"),
        "   the reload is logged, and the refusal as revoked with the serial", dump(lines))

    with open(crl, "wb") as f:  # in place, not atomically: the worst a hand can do
        f.write(CORRUPT)
    time.sleep(PAUSE)
    status, doc, raw = b.token(cgi_fcgi, "client.pem")
    lines = b.new_lines()
    tap(status == 401, "3. a corrupt file written over the CRL: client.pem is still refused",
        raw + dump(lines))
    tap(has(lines, "ERROR", "the new set is refused, the last good set stays in force") and
        any(crl in l.get("message", "") for l in lines if l.get("severity") == "ERROR"),
        "   an ERROR line says the new set is refused and names the file", dump(lines))
    tap(has(lines, "WARNING", "the certificate is revoked") and
        not has(lines, "INFO", "CRL_FILES reloaded"),
        "   the last good set (listing client.pem) is what refused it", dump(lines))

    publish(crl)
    time.sleep(PAUSE)
    status, doc, raw = b.token(cgi_fcgi, "client.pem")
    lines = b.new_lines()
    tap(status == 200 and doc is not None and "id_token" in doc,
        "4. an empty CRL replaces it: client.pem gets its token again", raw + dump(lines))
    tap(has(lines, "INFO", "CRL_FILES reloaded: 1 CRLs with 0 revoked serials"),
        "   the reload is logged", dump(lines))

    dot = os.path.join(os.path.dirname(crl), ".ca.pem.partial")
    with open(dot, "wb") as f:
        f.write(CORRUPT[:20])
    time.sleep(PAUSE)
    status, doc, raw = b.token(cgi_fcgi, "client.pem")
    lines = b.new_lines()
    # The directory changed, so the broker may load the set again; what it must not do is read
    # the dot file (the load would fail with an ERROR line) or refuse the client.
    tap(status == 200 and not any(l.get("severity") in ("ERROR", "WARNING") for l in lines) and
        not any("reloaded" in l.get("message", "") and "0 revoked" not in l.get("message", "")
                for l in lines),
        "5. a half-written dot file beside it is not read: still 200, no ERROR", raw + dump(lines))


def main():
    why = make_pki()
    if why is not None:
        print("# " + why.replace("\n", "\n# "))
        return t.missing("mkpki.py failed (python3-cryptography missing?)")
    cgi_fcgi = shutil.which("cgi-fcgi")
    if cgi_fcgi is None:
        return t.missing("cgi-fcgi (Debian libfcgi-bin) is not installed")
    tmp = tempfile.mkdtemp(prefix="tb-reload.")
    b = None
    try:
        crldir = os.path.join(tmp, "crl")
        os.mkdir(crldir, 0o755)
        crl = os.path.join(crldir, "ca.pem")
        publish(crl)
        b = Broker(tmp, {"CLIENT_CA_FILE": os.path.join(PKI, "ca.pem"), "CRL_FILES": crldir})
        steps(b, cgi_fcgi, crl)
        tap(b.proc.poll() is None, "the process (pid %d) is still running: no restart" % b.pid,
            b.log())
        rc = b.stop()
        log = b.log()
        tap(rc == 0 and "stopping after 5 requests" in log,
            "on SIGTERM it exits 0 having served all 5 requests itself (got %s)" % rc, log)
        b = None
        tap(not os.path.exists(os.path.join(crldir, ".ca.pem.tmp")),
            "mkcrl.py left no temporary file behind")
    except (OSError, subprocess.SubprocessError) as e:
        tap(False, "the test could not run: %s" % e, b.log() if b else "")
        t.missing("an earlier step failed")
    finally:
        if b is not None:
            b.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return t.status()


if __name__ == "__main__":
    sys.exit(main())
