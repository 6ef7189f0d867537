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
import sys
import tempfile
import time

from fcgilib import Broker, Tap, make_pki

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
WAIT = 1.2  # the broker looks at the file at most once a second


def write_registry(path, clients, raw=None):
    """Replaces the file whole (a temporary file, then rename), as an operator's tool would."""
    tmp = os.path.join(os.path.dirname(path), ".registry.tmp")
    with open(tmp, "w") as f:
        f.write(raw if raw is not None else json.dumps({"clients": clients}))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main():
    t = Tap(9)
    why = make_pki()
    if why is not None:
        return t.missing("mkpki.py failed: " + why.splitlines()[-1])
    cgi_fcgi = shutil.which("cgi-fcgi")
    if cgi_fcgi is None:
        return t.missing("cgi-fcgi (Debian libfcgi-bin) is not installed")
    tmp = tempfile.mkdtemp(prefix="tb-reload.")
    b = None
    try:
        reg = os.path.join(tmp, "clients.json")
        other = {"client_id": "other", "match": {"dnssan": "other.example.net"}}
        write_registry(reg, [other])
        b = Broker(tmp, {"WORKLOAD_IDENTITY_PROJECT_NUMBER": "123456789012",
                         "WORKLOAD_IDENTITY_POOL_ID": "pool",
                         "WORKLOAD_IDENTITY_PROVIDER_ID": "prov", "CLIENT_REGISTRY": reg,
                         "STS_ENDPOINT": "http://127.0.0.1:9", "UPSTREAM_TIMEOUT": "1"})

        st, doc, out = b.token(cgi_fcgi, "client.pem")
        t.ok(st == 401, "not registered: 401 (got %d)" % st, out)

        mine = {"client_id": "reloaded", "match": {"dnssan": "client.example.net"}}
        write_registry(reg, [other, mine])
        time.sleep(WAIT)
        st, doc, out = b.token(cgi_fcgi, "client.pem")
        t.ok(st == 200 and doc is not None and "id_token" in doc,
             "added to the file: the next request gets a token (got %d)" % st, out)
        t.ok("CLIENT_REGISTRY reloaded: 2 clients" in b.log(), "the reload is logged", b.log())

        scope_body = ("grant_type=client_credentials&scope=" +
                      SCOPE.replace(":", "%3A").replace("/", "%2F")).encode()
        st, doc, out = b.token(cgi_fcgi, "client.pem", scope_body)
        t.ok(st == 400 and (doc or {}).get("error") == "invalid_scope",
             "a scope not on its (empty) allow-list: invalid_scope (got %d)" % st, out)
        mine["scopes"] = [SCOPE]
        write_registry(reg, [other, mine])
        time.sleep(WAIT)
        st, doc, out = b.token(cgi_fcgi, "client.pem", scope_body)
        # the scope is now allowed: the request goes on to STS, which is unreachable here
        t.ok(st == 503 and (doc or {}).get("error") == "temporarily_unavailable",
             "its scopes changed: the scope is allowed and goes to STS (503 here, got %d)" % st,
             out)

        write_registry(reg, None, raw='{"clients": [ {"client_id": "reloaded", "match": ')
        time.sleep(WAIT)
        st, doc, out = b.token(cgi_fcgi, "client.pem")
        t.ok(st == 200, "a broken file changes nothing: still a token (got %d)" % st, out)
        t.ok("CLIENT_REGISTRY changed but the new version is refused" in b.log() and
             '"severity":"ERROR"' in b.log(), "and is refused with an ERROR line", b.log())

        write_registry(reg, [other])
        time.sleep(WAIT)
        st, doc, out = b.token(cgi_fcgi, "client.pem")
        t.ok(st == 401, "removed from the file: 401 again (got %d)" % st, out)
        starts = b.log().count("serving FastCGI")
        t.ok(b.proc.poll() is None and starts == 1,
             "one process throughout (started %d times)" % starts, b.log())
    finally:
        if b is not None:
            b.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return t.status()


if __name__ == "__main__":
    sys.exit(main())
