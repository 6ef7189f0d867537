#!/usr/bin/env python3
"""stop.py: a FastCGI token-broker stops on SIGTERM, also when the signal comes just before it
blocks waiting for a connection (TAP).

The broker runs as a FastCGI responder on a Unix socket handed to it as standard input, as web
servers start it. Cases:
  1. SIGTERM while it waits: it exits 0 within the bound.
  2. SIGTERM raised right before its first wait for a connection (stop-before-wait.so, an
     LD_PRELOAD shim): it must still exit, not wait for a connection that never comes.
  3. A request is answered by cgi-fcgi, then SIGTERM: exits 0, the request was answered.
"""

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
SHIM = os.path.join(BUILDDIR, "tests", "fcgi", "stop-before-wait.so")
PKI = os.path.join(BUILDDIR, "tests", "pki-out")
BOUND = 5.0  # seconds a stop may take: generous for valgrind and a loaded machine

n = 0
failed = 0


def tap(good, what, diag=""):
    global n, failed
    n += 1
    print("%sok %d - %s" % ("" if good else "not ", n, what))
    if not good:
        failed += 1
        for line in diag.splitlines():
            print("# " + line)


def start(tmp, preload=False):
    path = os.path.join(tmp, "broker.sock")
    if os.path.exists(path):
        os.unlink(path)
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(8)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SIGNING_KEYS": os.path.join(PKI, "signing-ec.pem"),
        "TOKEN_AUDIENCE": "https://example.net/aud",
        "TOKEN_ISSUER": "https://broker.example.net",
    }
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    if preload:
        env["LD_PRELOAD"] = SHIM
        # the shim is not built with ASan: let an ASan build run with it preloaded first
        env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0").lstrip(":")
    err = open(os.path.join(tmp, "stderr"), "wb")
    proc = subprocess.Popen([PROGRAM], stdin=lsock.fileno(), stdout=subprocess.DEVNULL,
                            stderr=err, env=env, close_fds=True)
    lsock.close()
    return proc, path


def exits_within(proc, seconds):
    try:
        return proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def log(tmp):
    with open(os.path.join(tmp, "stderr"), "rb") as f:
        return f.read().decode(errors="replace")


def main():
    if not os.path.exists(SHIM):
        print("1..0 # SKIP %s is not built" % SHIM)
        return 0
    subprocess.run([sys.executable, os.path.join(SRCDIR, "tests", "pki", "mkpki.py"), PKI],
                   check=True, stdout=subprocess.DEVNULL)
    print("1..4")
    tmp = tempfile.mkdtemp(prefix="tb-stop.")
    try:
        proc, _ = start(tmp)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        rc = exits_within(proc, BOUND)
        tap(rc == 0, "SIGTERM while waiting for a connection: exit 0 (got %s)" % rc, log(tmp))

        proc, _ = start(tmp, preload=True)
        rc = exits_within(proc, BOUND)
        tap(rc == 0, "SIGTERM just before the wait for a connection is not lost: exit 0 "
            "within %.0f s (got %s)" % (BOUND, rc), log(tmp))
        tap("stopping after 0 requests" in log(tmp), "it served nothing and said so", log(tmp))

        cgi_fcgi = shutil.which("cgi-fcgi")
        if cgi_fcgi is None:
            if os.environ.get("CI") == "true":
                tap(False, "cgi-fcgi (Debian libfcgi-bin) is not installed")
            else:
                print("ok %d # SKIP cgi-fcgi (Debian libfcgi-bin) is not installed" % (n + 1))
            return 1 if failed else 0
        proc, path = start(tmp)
        env = {"REQUEST_METHOD": "GET", "PATH_INFO": "/.well-known/openid-configuration",
               "REQUEST_URI": "/.well-known/openid-configuration", "SCRIPT_NAME": "",
               "HTTP_HOST": "broker.example.net", "PATH": os.environ.get("PATH", "")}
        out = subprocess.run([cgi_fcgi, "-bind", "-connect", path], env=env,
                             stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        proc.send_signal(signal.SIGTERM)
        rc = exits_within(proc, BOUND)
        body = out.stdout.decode(errors="replace")
        tap(rc == 0 and "Status: 200" in body and '"issuer"' in body,
            "a request answered, then SIGTERM: exit 0 (got %s)" % rc, body + log(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
