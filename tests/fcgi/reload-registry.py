#!/usr/bin/env python3
"""reload-registry.py: a running FastCGI token-broker picks up CLIENT_REGISTRY changes (TAP).

One long-lived broker on a Unix socket (as a web server starts it), driven with cgi-fcgi
(Debian libfcgi-bin): a client is added, its scopes changed, it is removed, and a broken file
is written; each takes effect (or, for the broken file, not) on the next request after the
broker's once-a-second look, and the process is the same one throughout.
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
PROGRAM = os.path.join(BUILDDIR, "src", "token-broker")
PKI = os.path.join(BUILDDIR, "tests", "pki-out")
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
WAIT = 1.2  # the broker looks at the file at most once a second

n = 0
failed = 0


def tap(good, what, diag=""):
    global n, failed
    n += 1
    print("%sok %d - %s" % ("" if good else "not ", n, what))
    if not good:
        failed += 1
        for line in str(diag).splitlines():
            print("# " + line)


def write_registry(path, clients, raw=None):
    """Replaces the file whole (a temporary file, then rename), as an operator's tool would."""
    tmp = os.path.join(os.path.dirname(path), ".registry.tmp")
    with open(tmp, "w") as f:
        f.write(raw if raw is not None else json.dumps({"clients": clients}))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def request(sock, cgi_fcgi, body):
    with open(os.path.join(PKI, "client.pem")) as f:
        cert = f.read()
    env = {"PATH": os.environ.get("PATH", ""), "REQUEST_METHOD": "POST", "PATH_INFO": "/token",
           "REQUEST_URI": "/token", "SCRIPT_NAME": "", "HTTP_HOST": "broker.example.net",
           "CONTENT_TYPE": "application/x-www-form-urlencoded",
           "CONTENT_LENGTH": str(len(body)), "SSL_CLIENT_VERIFY": "SUCCESS",
           "SSL_CLIENT_CERT": cert}
    out = subprocess.run([cgi_fcgi, "-bind", "-connect", sock], env=env, input=body.encode(),
                         capture_output=True, timeout=30).stdout.decode(errors="replace")
    status = 200
    for line in out.split("\r\n"):
        if line.startswith("Status: "):
            status = int(line.split()[1])
        if line == "":
            break
    try:
        doc = json.loads(out.split("\r\n\r\n", 1)[1])
    except (IndexError, ValueError):
        doc = {}
    return status, doc, out


def main():
    cgi_fcgi = shutil.which("cgi-fcgi")
    if cgi_fcgi is None:
        if os.environ.get("CI") == "true":
            print("1..1\nnot ok 1 - cgi-fcgi (Debian libfcgi-bin) is not installed")
            return 1
        print("1..0 # SKIP cgi-fcgi (Debian libfcgi-bin) is not installed")
        return 0
    subprocess.run([sys.executable, os.path.join(SRCDIR, "tests", "pki", "mkpki.py"), PKI],
                   check=True, stdout=subprocess.DEVNULL)
    print("1..9")
    tmp = tempfile.mkdtemp(prefix="tb-reload.")
    proc = None
    try:
        reg = os.path.join(tmp, "clients.json")
        other = {"client_id": "other", "match": {"dnssan": "other.example.net"}}
        write_registry(reg, [other])
        path = os.path.join(tmp, "broker.sock")
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(path)
        lsock.listen(8)
        env = {"PATH": os.environ.get("PATH", ""),
               "SIGNING_KEYS": os.path.join(PKI, "signing-ec.pem"),
               "WORKLOAD_IDENTITY_PROJECT_NUMBER": "123456789012",
               "WORKLOAD_IDENTITY_POOL_ID": "pool", "WORKLOAD_IDENTITY_PROVIDER_ID": "prov",
               "TOKEN_ISSUER": "https://broker.example.net", "CLIENT_REGISTRY": reg,
               "STS_ENDPOINT": "http://127.0.0.1:9", "UPSTREAM_TIMEOUT": "1"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        errlog = open(os.path.join(tmp, "stderr"), "wb")
        proc = subprocess.Popen([PROGRAM], stdin=lsock.fileno(), stdout=subprocess.DEVNULL,
                                stderr=errlog, env=env, close_fds=True)
        lsock.close()

        def log():
            with open(os.path.join(tmp, "stderr"), "rb") as f:
                return f.read().decode(errors="replace")

        st, doc, out = request(path, cgi_fcgi, "grant_type=client_credentials")
        tap(st == 401, "not registered: 401 (got %d)" % st, out)

        mine = {"client_id": "reloaded", "match": {"dnssan": "client.example.net"}}
        write_registry(reg, [other, mine])
        time.sleep(WAIT)
        st, doc, out = request(path, cgi_fcgi, "grant_type=client_credentials")
        tap(st == 200 and "id_token" in doc, "added to the file: the next request gets a token "
            "(got %d)" % st, out)
        tap("CLIENT_REGISTRY reloaded: 2 clients" in log(), "the reload is logged", log())

        scope_body = "grant_type=client_credentials&scope=" + SCOPE.replace(":", "%3A").replace(
            "/", "%2F")
        st, doc, out = request(path, cgi_fcgi, scope_body)
        tap(st == 400 and doc.get("error") == "invalid_scope",
            "a scope not on its (empty) allow-list: invalid_scope (got %d %s)" %
            (st, doc.get("error")), out)
        mine["scopes"] = [SCOPE]
        write_registry(reg, [other, mine])
        time.sleep(WAIT)
        st, doc, out = request(path, cgi_fcgi, scope_body)
        # the scope is now allowed: the request goes on to STS, which is unreachable here
        tap(st == 503 and doc.get("error") == "temporarily_unavailable",
            "its scopes changed: the scope is allowed and goes to STS (503 here, got %d %s)" %
            (st, doc.get("error")), out)

        write_registry(reg, None, raw='{"clients": [ {"client_id": "reloaded", "match": ')
        time.sleep(WAIT)
        st, doc, out = request(path, cgi_fcgi, "grant_type=client_credentials")
        tap(st == 200, "a broken file changes nothing: still a token (got %d)" % st, out)
        tap("CLIENT_REGISTRY changed but the new version is refused" in log() and
            '"severity":"ERROR"' in log(), "and is refused with an ERROR line", log())

        write_registry(reg, [other])
        time.sleep(WAIT)
        st, doc, out = request(path, cgi_fcgi, "grant_type=client_credentials")
        tap(st == 401, "removed from the file: 401 again (got %d)" % st, out)
        starts = log().count("serving FastCGI")
        tap(proc.poll() is None and starts == 1,
            "one process throughout (alive: %s, started %d times)" % (proc.poll() is None,
                                                                      starts), log())
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
