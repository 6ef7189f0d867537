#!/usr/bin/env python3
"""reload.py: one long-lived FastCGI token-broker picks up changed CRL files (TAP).

SPEC.md section 9 and issue 8 item 3. The broker runs as a FastCGI responder on a Unix socket
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

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILDDIR = os.environ.get("TB_BUILDDIR", ".")
SRCDIR = os.environ.get("TB_SRCDIR", ".")
PYTHON3 = os.environ.get("PYTHON3") or sys.executable
PROGRAM = os.path.join(BUILDDIR, "src", "token-broker")
PKI = os.path.join(BUILDDIR, "tests", "pki-out")
MKPKI = os.path.join(SRCDIR, "tests", "pki", "mkpki.py")
MKCRL = os.path.join(SRCDIR, "tests", "pki", "mkcrl.py")
PAUSE = 1.1    # seconds between a change and the request that must see it (the broker: 1 s)
BOUND = 5.0    # seconds a stop may take
TIMEOUT = 30   # seconds for one cgi-fcgi run (generous for valgrind and a loaded machine)
PLAN = 12
CORRUPT = b"-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n"

n = 0
failed = 0


def tap(good, what, diag=""):
    global n, failed
    n += 1
    print("%sok %d - %s" % ("" if good else "not ", n, what))
    if not good:
        failed += 1
        for line in diag.splitlines()[-40:]:
            print("# " + line)
    sys.stdout.flush()


def missing(what):
    """A test tool is not there: skip the rest, or fail them under CI=true."""
    for _ in range(n, PLAN):
        if os.environ.get("CI") == "true":
            tap(False, what)
        else:
            print("ok %d # SKIP %s" % (n + 1, what))
            globals()["n"] += 1
    return 1 if failed else 0


class Broker:
    def __init__(self, tmp, crldir):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "broker.sock")
        self.errpath = os.path.join(tmp, "stderr")
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(self.sock)
        lsock.listen(8)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "SIGNING_KEYS": os.path.join(PKI, "signing-ec.pem"),
            "TOKEN_AUDIENCE": "https://example.net/aud",
            "TOKEN_ISSUER": "https://broker.example.net",
            "CLIENT_CA_FILE": os.path.join(PKI, "ca.pem"),
            "CRL_FILES": crldir,
        }
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        with open(self.errpath, "wb") as err:
            self.proc = subprocess.Popen([PROGRAM], stdin=lsock.fileno(),
                                         stdout=subprocess.DEVNULL, stderr=err, env=env,
                                         close_fds=True)
        lsock.close()
        self.pid = self.proc.pid
        self.seen = 0  # log lines already looked at

    def log(self):
        with open(self.errpath, "rb") as f:
            return f.read().decode(errors="replace")

    def new_lines(self):
        """The JSON log lines written since the last call (unparsable ones as messages)."""
        lines = self.log().splitlines()
        fresh, self.seen = lines[self.seen:], len(lines)
        out = []
        for line in fresh:
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"severity": "?", "message": line})
        return out

    def token(self, cgi_fcgi, cert):
        """POST /token with cert verified: (status, JSON body or None, raw output)."""
        with open(os.path.join(PKI, cert)) as f:
            pem = f.read()
        body = b"grant_type=client_credentials"
        env = {"PATH": os.environ.get("PATH", ""), "GATEWAY_INTERFACE": "CGI/1.1",
               "REQUEST_METHOD": "POST", "REQUEST_URI": "/token", "SCRIPT_NAME": "",
               "PATH_INFO": "/token", "QUERY_STRING": "", "HTTP_HOST": "broker.example.net",
               "HTTPS": "on", "SERVER_PROTOCOL": "HTTP/1.1",
               "CONTENT_TYPE": "application/x-www-form-urlencoded",
               "CONTENT_LENGTH": str(len(body)), "SSL_CLIENT_VERIFY": "SUCCESS",
               "SSL_CLIENT_CERT": pem}
        out = subprocess.run([cgi_fcgi, "-bind", "-connect", self.sock], env=env, input=body,
                             capture_output=True, timeout=TIMEOUT)
        raw = out.stdout.decode(errors="replace")
        head, _, text = raw.partition("\r\n\r\n")
        status = 200
        for line in head.split("\r\n"):
            if line.lower().startswith("status:"):
                status = int(line.split()[1])
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        return status, doc, raw + out.stderr.decode(errors="replace")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=BOUND)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


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
    print("1..%d" % PLAN)
    p = subprocess.run([PYTHON3, MKPKI, PKI], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        print("# " + p.stdout.decode(errors="replace")[-500:].replace("\n", "\n# "))
        return missing("mkpki.py failed (python3-cryptography missing?)")
    cgi_fcgi = shutil.which("cgi-fcgi")
    if cgi_fcgi is None:
        return missing("cgi-fcgi (Debian libfcgi-bin) is not installed")
    tmp = tempfile.mkdtemp(prefix="tb-reload.")
    b = None
    try:
        crldir = os.path.join(tmp, "crl")
        os.mkdir(crldir, 0o755)
        crl = os.path.join(crldir, "ca.pem")
        publish(crl)
        b = Broker(tmp, crldir)
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
        missing("an earlier step failed")
    finally:
        if b is not None:
            b.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
