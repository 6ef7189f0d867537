#!/usr/bin/env python3
"""activation.py: systemd socket activation in place of --listen (issue 12) (TAP).

The test plays systemd's part as sd_listen_fds(3) describes it: it opens the listening socket,
and a small launcher (python3, below) moves it to file descriptor 3, sets LISTEN_FDS=1 and
LISTEN_PID to its own pid, and executes token-broker in its place (same pid, as systemd's
service process does).
  1. a unix socket passed so (no --listen): two workers serve it, a token is issued;
  2. at SIGTERM the broker exits 0 and leaves the socket file alone (systemd owns it);
  3. a TCP socket passed the same way is served;
  4. with --listen as well, the passed socket is used (logged), the --listen path not made;
  5. LISTEN_FDS=2 is refused with a line saying why (exit 1);
  6. LISTEN_PID naming another process: the variables are not for us, and the broker does
     what it does without them (here: answers one CGI request).
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile

from listenlib import (PROGRAM, TIMEOUT, Broker, Tap, basic, dump, get, make_pki, token)

LAUNCH = """
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = sys.argv[2]
os.execv(sys.argv[3], sys.argv[3:])
"""
t = Tap(8)
tap = t.ok


def activated(tmp, sock, args, name, fds="1"):
    """token-broker started with sock as systemd passes one."""
    return Broker(tmp, [str(sock.fileno()), fds, PROGRAM] + args, basic(), name,
                  argv0=[sys.executable, "-c", LAUNCH], pass_fds=(sock.fileno(),))


def unix_socket(tmp):
    path = os.path.join(tmp, "systemd.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(16)
    b = activated(tmp, sock, ["--workers", "2"], "unix")
    sock.close()
    try:
        b.await_log("serves", n=2)
        status, doc, raw = token(path)
        tap(status == 200 and doc is not None and doc.get("id_token") and
            len(b.workers()) == 2,
            "a unix socket passed as fd 3: two workers serve it, a token is issued",
            raw + dump(b))
    finally:
        rc = b.stop()
    tap(rc == 0 and os.path.exists(path),
        "SIGTERM: exit 0 (got %s), the socket file (systemd's) is left alone" % rc, dump(b))


def tcp_socket(tmp):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    b = activated(tmp, sock, [], "tcp")
    sock.close()
    try:
        b.await_log("serves")
        status, doc, raw = get(("127.0.0.1", port), "/.well-known/jwks.json")
        tap(status == 200 and doc is not None and doc.get("keys"),
            "a TCP socket passed as fd 3 is served", raw + dump(b))
    finally:
        b.stop()


def with_listen(tmp):
    path = os.path.join(tmp, "passed.sock")
    other = os.path.join(tmp, "not-made.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(16)
    b = activated(tmp, sock, ["--listen", "unix:" + other], "both")
    sock.close()
    try:
        b.await_log("serves")
        status, doc, raw = get(path, "/.well-known/jwks.json")
        tap(status == 200 and not os.path.exists(other) and
            b.count("Serving the socket systemd passed") == 1,
            "with --listen too: the passed socket is served, and that is logged", raw + dump(b))
    finally:
        b.stop()


def refused(tmp):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(os.path.join(tmp, "two.sock"))
    sock.listen(1)
    b = activated(tmp, sock, [], "two", fds="2")
    sock.close()
    rc = b.wait(TIMEOUT)
    tap(rc == 1 and b.count("token-broker serves one", "CRITICAL") == 1,
        "LISTEN_FDS=2 is refused (exit %s) with a line saying why" % rc, dump(b))

    p = subprocess.run([PROGRAM], env=basic(
        LISTEN_PID="1", LISTEN_FDS="1", GATEWAY_INTERFACE="CGI/1.1", REQUEST_METHOD="GET",
        SCRIPT_NAME="", PATH_INFO="/.well-known/jwks.json", QUERY_STRING="",
        HTTP_HOST="broker.example.net", HTTPS="on", SERVER_PROTOCOL="HTTP/1.1"),
        stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
    out = p.stdout.decode(errors="replace")
    tap(p.returncode == 0 and '"keys"' in out,
        "LISTEN_PID of another process: ignored, one CGI request answered", out +
        p.stderr.decode(errors="replace"))


def not_a_listener(tmp):
    """fd 3 that is a socket but not listening (a mistake in a unit) is refused."""
    a, c = socket.socketpair()
    b = activated(tmp, a, [], "pair")
    a.close()
    c.close()
    rc = b.wait(TIMEOUT)
    tap(rc == 1 and b.count("not a listening stream socket", "CRITICAL") == 1,
        "fd 3 that is not a listening socket is refused (exit %s)" % rc, dump(b))
    tap(b.count("started (configuration") == 0, "   and no worker is started", dump(b))


def main():
    why = make_pki()
    if why is not None:
        print("# " + why.replace("\n", "\n# "))
        return t.missing("mkpki.py failed (python3-cryptography missing?)")
    tmp = tempfile.mkdtemp(prefix="tb-activation.")
    try:
        unix_socket(tmp)
        tcp_socket(tmp)
        with_listen(tmp)
        refused(tmp)
        not_a_listener(tmp)
    except (OSError, subprocess.SubprocessError) as e:
        tap(False, "the test could not run: %s" % e)
        t.missing("an earlier step failed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return t.status()


if __name__ == "__main__":
    sys.exit(main())
