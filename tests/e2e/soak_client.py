#!/usr/bin/env python3
"""soak_client.py: the load client of tests/e2e/soak.sh, which drives one FastCGI responder.

Sends a fixed, shuffled mix of request kinds (successes, every kind of refusal, Google faults
that the stand-in acts out per request) over mutual-TLS keep-alive connections from several
threads; checks every answer's status and OAuth error code; pauses every --sample-every
requests to sample the responder's VmRSS and open descriptors from /proc; times every request.

    soak_client.py --port P --pki DIR --pid PID --timeout UPSTREAM_TIMEOUT [options]

Prints one line per check, "PASS text" or "FAIL text", which soak.sh turns into TAP lines, and
"# ..." lines with the figures (samples, requests/s, the slowest request of each kind).
Exits 0 when it ran to the end (whatever the checks said), 2 on a usage or setup error.
"""

import argparse
import collections
import http.client
import json
import os
import random
import resource
import ssl
import sys
import threading
import time

CLOUD = "https://www.googleapis.com/auth/cloud-platform"
DENIED_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
SA = "sa@test-project.iam.gserviceaccount.com"
DENIED_SA = "other@test-project.iam.gserviceaccount.com"
# The stand-in's per-request faults (tests/google/standin.py --fault-by-request).
FAULT_SCOPE = "https://standin.test/fault/"
FAULT_ACCOUNT = "fault-%s@test-project.iam.gserviceaccount.com"
BODY_LIMIT = 64 * 1024           # the broker's body limit (413 above it)
CONNECT_TIMEOUT = 30             # seconds a socket waits: far above any bound checked here
SHOW_MAX = 8                     # mismatches shown in the diagnostics
FORM = "application/x-www-form-urlencoded"

# The mix of one soak, per 100,000 requests: kind -> count. The remainder of --requests after
# these (scaled) counts is "idtoken". Hangs are few (1 in 4,000): each holds the one responder
# for the whole UPSTREAM_TIMEOUT, and everything else queues behind it, so 25 of them add 25 s;
# the 1,500 drops and 2,000 500s exercise the same teardown of the upstream connection.
MIX = {
    "extcred": 5000, "sts": 8000, "sa": 6000, "discovery": 2000, "jwks": 2000,
    "nocert": 4000, "unverified": 4000, "unknown": 4000,
    "grant": 3000, "repeated": 3000, "ctype": 3000, "toolarge": 1000,
    "notfound": 3000, "method": 3000, "scope_denied": 3000, "account_denied": 1000,
    "sts_refuse": 1500, "iam_refuse": 1000, "sts_500": 1500, "iam_500": 500,
    "sts_drop": 1000, "iam_drop": 500, "sts_hang": 15, "iam_hang": 10,
}
HANGS = ("sts_hang", "iam_hang")


def form(*pairs):
    return "&".join("%s=%s" % (k, v.replace(" ", "+")) for k, v in pairs).encode()


def token(*pairs):
    return form(("grant_type", "client_credentials"), *pairs)


def kinds_table(jwks_path):
    """kind -> (identity, method, path, body, content type, status, check of the JSON)."""
    err = lambda code: (lambda j: j.get("error") == code)
    has_id = lambda j: isinstance(j.get("id_token"), str) and j["id_token"].count(".") == 2
    at = lambda prefix: (lambda j: has_id(j) and str(j.get("access_token")).startswith(prefix))
    big = token(("pad", "a" * (BODY_LIMIT + 1)))
    fault = lambda m: CLOUD + " " + FAULT_SCOPE + m
    t = {
        "idtoken": ("client", "POST", "/token", token(), FORM, 200,
                    lambda j: has_id(j) and j.get("access_token") is None),
        "extcred": ("client", "POST", "/token", token(("format", "external_credential")), FORM,
                    200, lambda j: j.get("success") is True and isinstance(j.get("id_token"), str)),
        "sts": ("client", "POST", "/token", token(("scope", CLOUD)), FORM, 200, at("sts-")),
        "sa": ("client", "POST", "/token", token(("scope", CLOUD), ("service_account", SA)),
               FORM, 200, at("sa-")),
        "discovery": ("none", "GET", "/.well-known/openid-configuration", None, None, 200,
                      lambda j: "token_endpoint" in j),
        "jwks": ("none", "GET", jwks_path, None, None, 200, lambda j: len(j.get("keys", [])) > 0),
        "nocert": ("none", "POST", "/token", token(), FORM, 401, err("invalid_client")),
        "unverified": ("untrusted", "POST", "/token", token(), FORM, 401, err("invalid_client")),
        "unknown": ("unknown", "POST", "/token", token(), FORM, 401, err("invalid_client")),
        "grant": ("client", "POST", "/token", form(("grant_type", "password")), FORM, 400,
                  err("unsupported_grant_type")),
        "repeated": ("client", "POST", "/token", token(("grant_type", "client_credentials")),
                     FORM, 400, err("invalid_request")),
        "ctype": ("client", "POST", "/token", b'{"grant_type":"client_credentials"}',
                  "application/json", 415, err("invalid_request")),
        "toolarge": ("client", "POST", "/token", big, FORM, 413, err("invalid_request")),
        "notfound": ("client", "GET", "/no/such/path", None, None, 404, lambda j: "error" in j),
        "method": ("client", "PUT", "/token", token(), FORM, 405, lambda j: "error" in j),
        "scope_denied": ("client", "POST", "/token", token(("scope", DENIED_SCOPE)), FORM, 400,
                         err("invalid_scope")),
        "account_denied": ("client", "POST", "/token",
                           token(("scope", CLOUD), ("service_account", DENIED_SA)), FORM, 400,
                           err("unauthorized_client")),
    }
    for mode, status, code in (("refuse", 403, "access_denied"),
                               ("500", 503, "temporarily_unavailable"),
                               ("drop", 503, "temporarily_unavailable"),
                               ("hang", 503, "temporarily_unavailable")):
        m = "error500" if mode == "500" else mode
        t["sts_" + mode] = ("client", "POST", "/token", token(("scope", fault(m))), FORM,
                            status, err(code))
        t["iam_" + mode] = ("client", "POST", "/token",
                            token(("scope", CLOUD), ("service_account", FAULT_ACCOUNT % m)),
                            FORM, status, err(code))
    return t


def headers_ok(kind, status, resp):
    """Headers the contract requires for some answers; None or what is wrong."""
    if status == 405 and not resp.getheader("Allow"):
        return "405 without Allow"
    if status == 503 and not (resp.getheader("Retry-After") or "").isdigit():
        return "503 without a numeric Retry-After"
    if not (resp.getheader("Content-Type") or "").startswith("application/json"):
        return "Content-Type %r" % resp.getheader("Content-Type")
    return None


class Soak:
    def __init__(self, args):
        self.args = args
        self.contexts = {}
        pki = args.pki
        for ident, pair in (("client", "client"), ("unknown", "spiffe"),
                            ("untrusted", "untrusted"), ("none", None)):
            ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))
            if pair:
                ctx.load_cert_chain(os.path.join(pki, pair + ".pem"),
                                    os.path.join(pki, pair + ".key"))
            self.contexts[ident] = ctx
        self.lock = threading.Lock()
        self.hang_lock = threading.Lock()  # one hang at a time: see the latency bound
        self.stats = {}        # kind -> [count, max seconds]
        self.bad = []          # (index, kind, what)
        self.nbad = 0
        self.reconnects = 0
        self.fd_names = {}     # fd count -> what the descriptors were, for the diagnostics

    def connect(self, ident):
        return http.client.HTTPSConnection(self.args.host, self.args.port,
                                           context=self.contexts[ident],
                                           timeout=CONNECT_TIMEOUT)

    def one(self, conns, spec):
        """Sends one request on the thread's kept-alive connection for its identity."""
        ident, method, path, body, ctype, _, _ = spec
        hdrs = {"Content-Type": ctype} if ctype else {}
        for attempt in (0, 1):
            conn = conns.get(ident)
            reused = conn is not None and conn.sock is not None
            if conn is None:
                conn = conns[ident] = self.connect(ident)
            try:
                conn.request(method, path, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    conn.close()
                return resp, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    ssl.SSLEOFError) as e:
                conn.close()
                # lighttpd ends idle or used-up keep-alive connections: retry once on a new one
                if attempt == 0 and reused:
                    with self.lock:
                        self.reconnects += 1
                    continue
                return None, repr(e).encode()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                return None, repr(e).encode()
        return None, b"unreachable"

    def run_one(self, conns, i, kind):
        spec = self.table[kind]
        hang = kind in HANGS
        if hang:
            self.hang_lock.acquire()
        try:
            t0 = time.monotonic()
            resp, data = self.one(conns, spec)
            dt = time.monotonic() - t0
        finally:
            if hang:
                self.hang_lock.release()
        what = None
        if resp is None:
            what = "no answer: %s" % data.decode("utf-8", "replace")[:200]
        elif resp.status != spec[5]:
            what = "status %d, expected %d: %s" % (resp.status, spec[5],
                                                   data[:200].decode("utf-8", "replace"))
        else:
            what = headers_ok(kind, resp.status, resp)
            if what is None:
                try:
                    if not spec[6](json.loads(data)):
                        what = "unexpected body: %s" % data[:200].decode("utf-8", "replace")
                except ValueError:
                    what = "body is not JSON: %r" % data[:200]
        with self.lock:
            st = self.stats.setdefault(kind, [0, 0.0])
            st[0] += 1
            st[1] = max(st[1], dt)
            if what is not None:
                self.nbad += 1
                if len(self.bad) < SHOW_MAX:
                    self.bad.append((i, kind, what))

    def segment(self, plan, start, end, slots):
        it = iter(range(start, end))
        it_lock = threading.Lock()

        def worker(conns):
            while True:
                with it_lock:
                    i = next(it, None)
                if i is None:
                    return
                self.run_one(conns, i, plan[i])

        threads = [threading.Thread(target=worker, args=(c,)) for c in slots]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def sample(self, conns):
        """VmRSS (KiB) and open descriptors of the responder, quiescent, in a set state: the
        last request before it was a successful STS exchange, so its upstream connection is
        open (a hang or a drop closes it), and nothing is in flight. (None, None) when the
        process is gone."""
        self.run_one(conns, -1, "sts")
        fds = rss = None
        try:
            for _ in range(3):
                time.sleep(0.1)  # the responder closes lighttpd's connection after answering
                d = "/proc/%d/fd" % self.args.pid
                names = sorted(os.readlink(os.path.join(d, f)) for f in os.listdir(d))
                self.fd_names.setdefault(len(names), names)
                fds = len(names) if fds is None else min(fds, len(names))
                with open("/proc/%d/status" % self.args.pid, encoding="ascii") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss = int(line.split()[1])
        except OSError:
            return None, None
        return rss, fds


def make_plan(n, seed, warmup):
    """The kinds in the order sent: shuffled, with every kind among the first warmup."""
    plan = []
    for kind, count in MIX.items():
        plan += [kind] * max(1, round(count * n / 100000))
    if len(plan) > n or warmup < len(MIX) + 1:
        raise SystemExit("soak_client.py: --requests %d is too few for the mix" % n)
    plan += ["idtoken"] * (n - len(plan))
    rng = random.Random(seed)
    rng.shuffle(plan)
    head = collections.Counter(plan[:warmup])
    for kind in sorted(set(plan) - set(head)):
        j = rng.randrange(warmup)
        while head[plan[j]] < 2:  # never take away a kind's only warm-up request
            j = rng.randrange(warmup)
        i = plan.index(kind)
        head[plan[j]] -= 1
        head[kind] += 1
        plan[i], plan[j] = plan[j], plan[i]
    return plan


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pki", required=True, help="the test PKI (tests/pki/mkpki.py)")
    ap.add_argument("--pid", type=int, required=True, help="the FastCGI responder")
    ap.add_argument("--timeout", type=float, required=True, help="UPSTREAM_TIMEOUT, seconds")
    ap.add_argument("--margin", type=float, default=2.0,
                    help="seconds a request may take beyond UPSTREAM_TIMEOUT")
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--threads", type=int, default=6)
    ap.add_argument("--sample-every", type=int, default=10000)
    ap.add_argument("--rss-bound", type=int, default=1024, help="KiB of growth after warm-up")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    soak = Soak(args)
    slots = [{} for _ in range(args.threads)]
    probe = {}
    # The JWK Set's path, from discovery (an issuer may carry a path prefix).
    soak.table = kinds_table("/")
    r, d = soak.one(probe, soak.table["discovery"])
    if r is None or r.status != 200:
        print("soak_client.py: discovery failed: %s" % d[:200], file=sys.stderr)
        return 2
    jwks_uri = json.loads(d)["jwks_uri"]
    soak.table = kinds_table("/" + jwks_uri.split("://", 1)[1].split("/", 1)[1])

    plan = make_plan(args.requests, args.seed, min(args.sample_every, args.requests))
    counts = {}
    for k in plan:
        counts[k] = counts.get(k, 0) + 1
    print("# %d requests from %d threads, mix: %s" % (
        len(plan), args.threads, ", ".join("%s %d" % kv for kv in sorted(counts.items()))))

    samples = [(0,) + soak.sample(probe)]
    print("# before the soak: VmRSS %s KiB, %s fds" % samples[0][1:])
    t0 = time.monotonic()
    for start in range(0, len(plan), args.sample_every):
        end = min(len(plan), start + args.sample_every)
        soak.segment(plan, start, end, slots)
        samples.append((end,) + soak.sample(probe))
        print("# after %6d requests: VmRSS %s KiB, %s fds" % samples[-1])
        sys.stdout.flush()
    elapsed = time.monotonic() - t0

    print("# %d requests in %.1f s: %.0f requests/s (%d keep-alive reconnects)" % (
        len(plan), elapsed, len(plan) / elapsed, soak.reconnects))
    for kind in sorted(soak.stats, key=lambda k: -soak.stats[k][1]):
        n, mx = soak.stats[kind]
        print("# %-14s %6d requests, slowest %.3f s" % (kind, n, mx))

    # Statuses: every request, the probes included.
    total = sum(s[0] for s in soak.stats.values())
    line = "every answer has its kind's status and error code (%d requests, %d kinds)" % (
        total, len(soak.stats))
    if soak.nbad == 0 and total == len(plan) + len(samples):
        print("PASS " + line)
    else:
        print("FAIL " + line)
        print("# %d wrong answers; the first:" % soak.nbad)
        for i, kind, what in soak.bad:
            print("#   request %d (%s): %s" % (i, kind, what))

    # Flat after warm-up: the first sample after the first segment is the baseline.
    base = samples[1] if len(samples) > 2 else samples[0]
    later = [s for s in samples if s[0] > base[0]]
    gone = [s[0] for s in samples if s[1] is None]
    if gone:
        for what in ("VmRSS", "open descriptors"):
            print("FAIL %s flat: the responder (pid %d) was gone after %d requests" % (
                what, args.pid, gone[0]))
    else:
        drss = max(s[1] for s in later) - base[1]
        dfds = max(s[2] for s in later) - base[2]
        fmt = "VmRSS flat after %d warm-up requests: %d KiB then at most %+d KiB (bound +%d KiB)"
        print("%s %s" % ("PASS" if drss <= args.rss_bound else "FAIL",
                         fmt % (base[0], base[1], drss, args.rss_bound)))
        fmt = "open descriptors flat after %d warm-up requests: %d then at most %+d (bound +0)"
        print("%s %s" % ("PASS" if dfds <= 0 else "FAIL", fmt % (base[0], base[2], dfds)))
        for n in sorted({base[2], base[2] + dfds}):
            print("#   %d descriptors: %s" % (n, " ".join(soak.fd_names.get(n, ["?"]))))

    bound = args.timeout + args.margin
    slowest = max(soak.stats.items(), key=lambda kv: kv[1][1])
    line = ("no request took longer than UPSTREAM_TIMEOUT + %.1f s = %.1f s "
            "(slowest: %s, %.3f s)" % (args.margin, bound, slowest[0], slowest[1][1]))
    print("%s %s" % ("PASS" if slowest[1][1] <= bound else "FAIL", line))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print("CPU client %.1f" % (ru.ru_utime + ru.ru_stime), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
