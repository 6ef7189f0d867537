#!/usr/bin/env python3
"""workers.py: --workers N processes share the socket under a supervisor (issue 12) (TAP).

The slow request is a slow client: a POST /token whose body is held half-sent (as a client on
a slow link, with nginx's fastcgi_request_buffering off, sends it), so the worker that took it
is busy reading until the test sends the rest. The busy worker is the one holding the accepted
connection (/proc/net/unix).

  1. two workers serve at the same time: a request is answered while the other worker holds
     the slow one, which then completes;
  2. kill -9 of the worker inside a request: that request fails, the next succeeds, the
     supervisor logs the death and starts a new worker (new pid), two serve again;
  3. a worker that cannot start (its key file gone) is restarted after a growing pause, not in
     a loop; once the file is back the restart succeeds;
  4. SIGTERM during a slow request: the request completes, then the whole tree exits 0.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from listenlib import (BOUND, PKI, TIMEOUT, Broker, RequestFailed, Tap, basic, busy_worker,
                       dump, get, make_pki, server_conns, token, token_request)

BODY = b"grant_type=client_credentials"
BACKOFF_WINDOW = 3.0  # seconds of failing restarts looked at; backoff allows about 5 in that
t = Tap(16)
tap = t.ok


def jwks_ok(path):
    status, doc, raw = get(path, "/.well-known/jwks.json")
    return status == 200 and doc is not None and len(doc.get("keys", [])) == 1, raw


def concurrent(b, path):
    pids = b.workers()
    tap(len(pids) == 2, "two workers under the supervisor: %s" % pids, dump(b))
    before = server_conns(path)
    slow = token_request(path, body=BODY)
    slow.send(BODY[:10])
    busy = busy_worker(pids, path, before)
    good, raw = jwks_ok(path)
    tap(busy is not None and good,
        "while worker %s holds a half-sent request, another answers at once" % busy, raw)
    slow.send(BODY[10:])
    status, doc, raw = slow.finish()
    tap(status == 200 and doc is not None and doc.get("id_token"),
        "the slow request then completes with an ID token", raw)


def kill_mid_request(b, path):
    pids = b.workers()
    before = server_conns(path)
    slow = token_request(path, body=BODY)
    slow.send(BODY[:10])
    busy = busy_worker(pids, path, before)
    if busy is None:
        tap(False, "a worker took the slow request", dump(b))
        return
    os.kill(busy, signal.SIGKILL)
    try:
        slow.send(BODY[10:])
        slow.finish()
        failed = False
    except RequestFailed:
        failed = True
    tap(failed, "kill -9 of worker %d inside a request: that request fails" % busy)
    status, doc, raw = token(path)
    tap(status == 200 and doc is not None and doc.get("id_token"),
        "the next request succeeds", raw)
    tap(b.await_log("Worker %d was killed by signal 9 while serving" % busy),
        "the supervisor logs the death", dump(b))
    tap(b.await_log("serves", n=3), "a new worker started and serves", dump(b))
    now = b.workers()
    tap(len(now) == 2 and busy not in now and len(set(now) - set(pids)) == 1,
        "two workers again, one of them new: %s -> %s" % (pids, now), dump(b))
    good, raw = jwks_ok(path)
    tap(good, "and they serve", raw)


def backoff(b, path, key, aside):
    pids = b.workers()
    starts = b.count("started (configuration")
    os.rename(key, aside)
    os.kill(pids[0], signal.SIGKILL)
    time.sleep(BACKOFF_WINDOW)
    tries = b.count("started (configuration") - starts
    tap(2 <= tries <= 8,
        "a worker that cannot start (key file gone) is retried %d times in %.0f s: a "
        "growing pause, no fork loop" % (tries, BACKOFF_WINDOW), dump(b))
    tap(b.count("Restarting a worker in 200 ms") >= 1 and
        b.count("Restarting a worker in 400 ms") >= 1, "the pause doubles", dump(b))
    good, raw = jwks_ok(path)
    tap(good, "meanwhile the other worker serves", raw)
    served = b.count("serves")
    os.rename(aside, key)
    tap(b.await_log("serves", n=served + 1), "with the key file back the next restart serves",
        dump(b))
    tap(len(b.workers()) == 2, "two workers again: %s" % b.workers(), dump(b))


def sigterm_mid_request(b, path):
    pids = b.workers()
    before = server_conns(path)
    slow = token_request(path, body=BODY)
    slow.send(BODY[:10])
    busy = busy_worker(pids, path, before)
    b.proc.send_signal(signal.SIGTERM)
    b.await_log("token-broker stopping after", n=1)  # the idle worker goes at once
    time.sleep(0.3)
    alive = b.proc.poll() is None and busy in b.workers()
    slow.send(BODY[10:])
    try:
        status, doc, raw = slow.finish()
    except RequestFailed as e:
        status, doc, raw = None, None, str(e)
    tap(busy is not None and alive and status == 200 and doc is not None and
        doc.get("id_token"),
        "SIGTERM during a slow request: worker %s finishes it (an ID token)" % busy,
        raw + dump(b))
    rc = b.wait(BOUND)
    left = [p for p in pids if os.path.exists("/proc/%d" % p)]
    tap(rc == 0 and not left, "then the supervisor and every worker exit (exit %s)" % rc,
        dump(b))


def main():
    why = make_pki()
    if why is not None:
        print("# " + why.replace("\n", "\n# "))
        return t.missing("mkpki.py failed (python3-cryptography missing?)")
    tmp = tempfile.mkdtemp(prefix="tb-workers.")
    b = None
    try:
        key = os.path.join(tmp, "signing.pem")
        shutil.copy(os.path.join(PKI, "signing-ec.pem"), key)
        os.chmod(key, 0o600)
        path = os.path.join(tmp, "fcgi.sock")
        b = Broker(tmp, ["--listen", "unix:" + path, "--workers", "2"],
                   basic(SIGNING_KEYS=key))
        if not b.await_log("serves", n=2):
            tap(False, "two workers serve", dump(b))
            return t.missing("the broker did not start")
        concurrent(b, path)
        kill_mid_request(b, path)
        backoff(b, path, key, key + ".aside")
        sigterm_mid_request(b, path)
    except (OSError, subprocess.SubprocessError, RequestFailed) as e:
        tap(False, "the test could not run: %s" % e, dump(b) if b else "")
        t.missing("an earlier step failed")
    finally:
        if b is not None:
            b.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return t.status()


if __name__ == "__main__":
    sys.exit(main())
