#!/usr/bin/env python3
"""sighup.py: SIGHUP re-reads --env-file and the files it names by replacing the workers one
at a time; a configuration that does not load is refused (issue 12) (TAP).

The settings come from an env file only (the process environment holds none of them).
  1. key rotation: the env file's SIGNING_KEYS changes from the EC key to "RSA key, EC key";
     SIGHUP while a client sends requests in a loop (JWK Set and tokens, one after another):
     no request fails, the JWK Set gains the RSA key, every worker is new, and new tokens are
     signed with RS256;
  2. SIGHUP with a key file that does not exist: the new worker cannot start, the supervisor
     logs the refusal, the old workers (same pids) go on serving the old keys;
  3. SIGHUP with an env file holding a bad line: refused in the supervisor, naming the line;
  4. SIGHUP with a bad setting (TOKEN_VALIDITY=0): refused in the supervisor, naming it;
  5. after all that, a good SIGHUP still replaces the workers.
A refused configuration leaves its number used: the log names configurations by the order
in which they were read.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

from listenlib import (PKI, TIMEOUT, Broker, RequestFailed, Tap, dump, get, make_pki,
                       settings, token)

t = Tap(15)
tap = t.ok
EC = os.path.join(PKI, "signing-ec.pem")
RSA = os.path.join(PKI, "signing-rsa.pem")


def write_env(path, keys, extra=""):
    with open(path + ".tmp", "w") as f:
        f.write("# token-broker settings (the test's)\n"
                "SIGNING_KEYS=%s\n"
                "TOKEN_AUDIENCE=\"https://example.net/aud\"\n"
                "TOKEN_ISSUER='https://broker.example.net'\n%s" % (keys, extra))
    os.chmod(path + ".tmp", 0o644)
    os.rename(path + ".tmp", path)


def kids(path):
    status, doc, raw = get(path, "/.well-known/jwks.json")
    if status != 200 or doc is None:
        return None
    return sorted((k.get("kty"), k.get("kid")) for k in doc.get("keys", []))


def alg_of(doc):
    head = doc["id_token"].split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["alg"]


class Loop(threading.Thread):
    """A client sending requests one after another until stopped, counting failures."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.stop, self.sent, self.failures = path, threading.Event(), 0, []

    def run(self):
        while not self.stop.is_set():
            try:
                if self.sent % 2:
                    status, doc, raw = token(self.path)
                    good = status == 200 and doc is not None and "id_token" in doc
                else:
                    status, doc, raw = get(self.path, "/.well-known/jwks.json")
                    good = status == 200 and doc is not None and doc.get("keys")
            except (RequestFailed, OSError) as e:
                good, raw = False, str(e)
            self.sent += 1
            if not good:
                self.failures.append(raw)


def rotation(b, path, env):
    before = kids(path)
    pids = b.workers()
    loop = Loop(path)
    loop.start()
    write_env(env, RSA + "," + EC)
    b.proc.send_signal(signal.SIGHUP)
    done = b.await_log("every worker now serves configuration 2")
    loop.stop.set()
    loop.join(TIMEOUT)
    tap(done, "SIGHUP: the workers are replaced by configuration 2", dump(b))
    tap(loop.sent > 0 and not loop.failures,
        "no request failed during the reload (%d sent, %d failed)" %
        (loop.sent, len(loop.failures)), "\n".join(loop.failures[:3]))
    after = kids(path)
    tap(before is not None and after is not None and len(before) == 1 and len(after) == 2 and
        set(before) < set(after) and any(k[0] == "RSA" for k in after),
        "the JWK Set gains the RSA key: %s -> %s" % (before, after))
    now = b.workers()
    tap(len(now) == 2 and not set(now) & set(pids), "every worker is new: %s -> %s" %
        (pids, now), dump(b))
    status, doc, raw = token(path)
    tap(status == 200 and doc is not None and alg_of(doc) == "RS256",
        "tokens are now signed by the first key, RS256", raw)
    tap(b.count("Stopping worker") == 2 and b.count("exited with status 0 while stopping") == 2,
        "each old worker was stopped after its request, and exited 0", dump(b))


def refused(b, path, env, what, content, want):
    """SIGHUP with a configuration that must be refused: same workers, same keys."""
    pids, keys = b.workers(), kids(path)
    n = b.count("refused")
    with open(env + ".tmp", "w") as f:
        f.write(content)
    os.chmod(env + ".tmp", 0o644)
    os.rename(env + ".tmp", env)
    b.proc.send_signal(signal.SIGHUP)
    got = b.await_log("refused", n=n + 1)
    tap(got and b.count(want) >= 1, "SIGHUP with %s: refused, the log names it (%s)" %
        (what, want), dump(b))
    tap(b.workers() == pids and kids(path) == keys,
        "   the old workers go on serving (pids %s, the same keys)" % pids, dump(b))


def main():
    why = make_pki()
    if why is not None:
        print("# " + why.replace("\n", "\n# "))
        return t.missing("mkpki.py failed (python3-cryptography missing?)")
    tmp = tempfile.mkdtemp(prefix="tb-sighup.")
    b = None
    try:
        env = os.path.join(tmp, "token-broker.env")
        write_env(env, EC)
        path = os.path.join(tmp, "fcgi.sock")
        b = Broker(tmp, ["--listen", "unix:" + path, "--workers", "2", "--env-file", env],
                   settings())
        if not b.await_log("serves", n=2):
            tap(False, "two workers serve", dump(b))
            return t.missing("the broker did not start")
        rotation(b, path, env)
        missing = os.path.join(tmp, "no-such-key.pem")
        with open(env) as f:
            good = f.read()
        refused(b, path, env, "a key file that does not exist",
                good.replace(RSA + "," + EC, missing), "no-such-key.pem")
        tap(b.count("the new configuration does not load") == 1,
            "   because its first worker could not start", dump(b))
        refused(b, path, env, "a bad line in the env file", good + "NOT A SETTING\n",
                "line 5: 'NOT A SETTING' has no '='")
        refused(b, path, env, "a bad setting", good + "TOKEN_VALIDITY=0\n", "TOKEN_VALIDITY")
        write_env(env, EC)
        served = b.count("serves")
        b.proc.send_signal(signal.SIGHUP)
        tap(b.await_log("every worker now serves configuration", n=2) and
            b.count("serves") >= served + 2 and kids(path) is not None and
            len(kids(path)) == 1,
            "a good SIGHUP after the refusals replaces the workers: the EC key alone", dump(b))
        rc = b.stop()
        tap(rc == 0, "SIGTERM: exit 0 (got %s)" % rc, dump(b))
        b = None
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
