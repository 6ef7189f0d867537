#!/usr/bin/env python3
"""listen.py: token-broker --listen serves FastCGI on a socket of its own (issue 12) (TAP).

  - unix:PATH: discovery and a token; the socket's default mode 0660, and --socket-mode and
    --socket-owner; SIGTERM: exit 0 and the socket file removed;
  - HOST:PORT on 127.0.0.1; a host that is not loopback is refused without --listen-any and
    served with it (on 0.0.0.0, asked through 127.0.0.1 only);
  - a stale socket file is replaced; a live socket, and a file that is not a socket, are
    refused and left alone;
  - bad option values exit 2; a configuration that does not load stops the supervisor with
    exit 1 after one worker start (no fork loop);
  - a supervisor killed with SIGKILL takes its workers with it (PR_SET_PDEATHSIG).
"""

import os
import pwd
import grp
import shutil
import signal
import socket
import stat
import sys
import tempfile
import time

from listenlib import (TIMEOUT, Broker, Tap, basic, dump, free_port, get, make_pki, token,
                       PROGRAM)
import subprocess

t = Tap(23)
tap = t.ok


def discovery_ok(addr):
    status, doc, raw = get(addr, "/.well-known/openid-configuration")
    return status == 200 and doc is not None and doc.get("issuer") == \
        "https://broker.example.net", raw


def unix_socket(tmp):
    path = os.path.join(tmp, "fcgi.sock")
    b = Broker(tmp, ["--listen", "unix:" + path], basic(), "unix")
    try:
        served = b.await_log("serves")
        good, raw = discovery_ok(path) if served else (False, dump(b))
        tap(good, "unix: discovery answered over the socket", raw + dump(b))
        status, doc, raw = token(path)
        tap(status == 200 and doc is not None and doc.get("id_token"),
            "unix: POST /token with client.pem gives an ID token", raw)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        tap(mode == 0o660, "unix: the socket's mode is 0660 by default (got %o)" % mode)
        tap(len(b.workers()) == 1, "one worker by default (%s)" % b.workers())
    finally:
        rc = b.stop()
    tap(rc == 0 and "supervisor stopping" in b.log(), "SIGTERM: exit 0 (got %s)" % rc, dump(b))
    tap(not os.path.exists(path), "the socket file is removed at exit")


def mode_and_owner(tmp):
    path = os.path.join(tmp, "owned.sock")
    if os.getuid() == 0:
        user, group = "nobody", "nogroup"
        try:
            uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
        except KeyError:
            user, group, uid, gid = "root", "root", 0, 0
    else:
        uid, gid = os.getuid(), os.getgid()
        user, group = pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name
    b = Broker(tmp, ["--listen", "unix:" + path, "--socket-mode", "0600", "--socket-owner",
                     "%s:%s" % (user, group)], basic(), "owned")
    try:
        b.await_log("serves")
        st = os.stat(path)
        tap(stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == uid and st.st_gid == gid,
            "--socket-mode 0600 --socket-owner %s:%s: mode %o, owner %d:%d" %
            (user, group, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), dump(b))
    finally:
        b.stop()


def tcp(tmp):
    port = free_port()
    b = Broker(tmp, ["--listen", "127.0.0.1:%d" % port], basic(), "tcp")
    try:
        b.await_log("serves")
        good, raw = discovery_ok(("127.0.0.1", port))
        tap(good, "TCP 127.0.0.1:%d: discovery answered" % port, raw + dump(b))
        status, doc, raw = token(("127.0.0.1", port))
        tap(status == 200 and doc is not None and doc.get("id_token"),
            "TCP: POST /token gives an ID token", raw)
    finally:
        tap(b.stop() == 0, "TCP: SIGTERM, exit 0", dump(b))

    p = subprocess.run([PROGRAM, "--listen", "192.0.2.1:%d" % port], env=basic(),
                       capture_output=True, timeout=TIMEOUT)
    err = p.stderr.decode(errors="replace")
    tap(p.returncode == 2 and "not a loopback address" in err and "--listen-any" in err,
        "a host that is not loopback is refused without --listen-any (exit %d)" %
        p.returncode, err)

    port = free_port()
    b = Broker(tmp, ["--listen", "0.0.0.0:%d" % port, "--listen-any"], basic(), "any")
    try:
        b.await_log("serves")
        good, raw = discovery_ok(("127.0.0.1", port))
        tap(good, "--listen-any 0.0.0.0:%d serves (asked on 127.0.0.1)" % port, raw + dump(b))
    finally:
        b.stop()


def stale_and_foreign(tmp):
    path = os.path.join(tmp, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # the file stays: what a killed process leaves
    b = Broker(tmp, ["--listen", "unix:" + path], basic(), "stale")
    try:
        b.await_log("serves")
        good, raw = discovery_ok(path)
        tap(good and b.count("Removed the stale socket") == 1,
            "a stale socket file is replaced (and that is logged)", raw + dump(b))

        other = Broker(tmp, ["--listen", "unix:" + path], basic(), "second")
        rc = other.wait(TIMEOUT)
        tap(rc == 1 and "another process listens on it" in other.log(),
            "a second broker on a live socket is refused: exit %s" % rc, other.log())
        good, raw = discovery_ok(path)
        tap(good, "and the first still serves on it", raw)
    finally:
        b.stop()

    path = os.path.join(tmp, "not-a-socket")
    with open(path, "w") as f:
        f.write("precious\n")
    b = Broker(tmp, ["--listen", "unix:" + path], basic(), "foreign")
    rc = b.wait(TIMEOUT)
    with open(path) as f:
        kept = f.read()
    tap(rc == 1 and "is not a socket: not removed" in b.log() and kept == "precious\n",
        "a file that is not a socket is refused and left alone (exit %s)" % rc, b.log())


def bad_options(tmp):
    path = os.path.join(tmp, "opts.sock")
    cases = [
        (["--listen", "unix:" + path, "--workers", "0"], "--workers: a number of 1 to 128"),
        (["--listen", "unix:" + path, "--workers", "129"], "--workers: a number of 1 to 128"),
        (["--workers", "2"], "need --listen ADDRESS"),
        (["--listen", "unix:" + path, "--socket-mode", "0999"], "--socket-mode"),
        (["--listen", "127.0.0.1:9", "--socket-mode", "0600"], "are for a unix: --listen"),
        (["--listen", "unix:" + path, "--socket-owner", "no-such-user-tb"], "no user"),
        (["--check-config", "--listen", "unix:" + path], "does not serve"),
        (["--listen"], "--listen needs a value"),
    ]
    bad = []
    for args, want in cases:
        p = subprocess.run([PROGRAM] + args, env=basic(), capture_output=True, timeout=TIMEOUT)
        err = p.stderr.decode(errors="replace")
        if p.returncode != 2 or want not in err or os.path.exists(path):
            bad.append("%s: exit %d: %s" % (args, p.returncode, err))
    tap(not bad, "%d bad option sets: each exits 2 naming the option, no socket made" %
        len(cases), "\n".join(bad))


def broken_at_start(tmp):
    path = os.path.join(tmp, "broken.sock")
    b = Broker(tmp, ["--listen", "unix:" + path, "--workers", "3"],
               basic(SIGNING_KEYS=os.path.join(tmp, "no-such-key.pem")), "broken")
    rc = b.wait(TIMEOUT)
    if rc is None:
        b.kill()
    tap(rc == 1, "a key file that does not load: the supervisor exits 1 (got %s)" % rc,
        dump(b))
    tap(b.count("The first worker did not start", "CRITICAL") == 1 and
        b.count("no-such-key.pem") >= 1,
        "a CRITICAL line says so, and the worker's line names the file", dump(b))
    tap(b.count("started (configuration") <= 3,
        "no fork loop: at most the 3 first workers were started (%d)" %
        b.count("started (configuration"), dump(b))
    tap(not os.path.exists(path), "no socket file is left behind")

    b = Broker(tmp, ["--listen", "unix:" + path], basic(TOKEN_VALIDITY="9999"), "badset")
    rc = b.wait(TIMEOUT)
    if rc is None:
        b.kill()
    tap(rc == 1 and b.count("TOKEN_VALIDITY") >= 1 and b.count("started (configuration") == 0,
        "a bad setting stops the supervisor before any worker, naming it (exit %s)" % rc,
        dump(b))


def parent_killed(tmp):
    """A supervisor killed outright (SIGKILL, no chance to stop them) takes its workers."""
    path = os.path.join(tmp, "orphans.sock")
    b = Broker(tmp, ["--listen", "unix:" + path, "--workers", "2"], basic(), "orphans")
    b.await_log("serves", n=2)
    pids = b.workers()
    b.proc.kill()
    b.proc.wait()
    end = time.monotonic() + TIMEOUT
    while time.monotonic() < end and any(alive(p) for p in pids):
        time.sleep(0.05)
    tap(len(pids) == 2 and not any(alive(p) for p in pids),
        "kill -9 of the supervisor: its workers %s exit too" % pids, dump(b))
    for p in pids:
        if alive(p):
            os.kill(p, signal.SIGKILL)


def alive(pid):
    """Running (a zombie waits for init to reap it: it serves nothing)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def main():
    why = make_pki()
    if why is not None:
        print("# " + why.replace("\n", "\n# "))
        return t.missing("mkpki.py failed (python3-cryptography missing?)")
    tmp = tempfile.mkdtemp(prefix="tb-listen.")
    os.chmod(tmp, 0o755)
    try:
        unix_socket(tmp)
        mode_and_owner(tmp)
        tcp(tmp)
        stale_and_foreign(tmp)
        bad_options(tmp)
        broken_at_start(tmp)
        parent_killed(tmp)
    except (OSError, subprocess.SubprocessError) as e:
        tap(False, "the test could not run: %s" % e)
        t.missing("an earlier step failed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return t.status()


if __name__ == "__main__":
    sys.exit(main())
