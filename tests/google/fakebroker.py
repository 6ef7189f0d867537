#!/usr/bin/env python3
"""fakebroker.py: a scripted https stand-in for token-broker's /token, to test the credential helper.

    python3 fakebroker.py --ready-file F --record R --cert server.pem --key server.key
                          --ca ca.pem --script ok,503,...

Requires a client certificate that ca.pem verifies (the TLS handshake fails otherwise, as with
Apache's SSLVerifyClient require). Each request takes the next step of the script; the last step
repeats. Steps: ok (200, an executable-sourced credential response valid for 300 s), 503 (a
temporarily_unavailable failure with Retry-After: 1), 503ra:VALUE (the same with Retry-After:
VALUE, as it is), fail401 (invalid_client, external form),
oauth400 (invalid_request in the standard OAuth form), garbage (200, not JSON), huge (200,
1 MiB), hang (no answer for 120 s), drop (close without answering). POST /_script {"script":
"..."} replaces the script and the step counter. Appends one JSON line per request to the
record: {"method","path","content_type","body","client_subject","step"}. Exits on SIGTERM.
"""

import argparse
import json
import os
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TT_ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
FAKE_JWT = ("eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2UiLCJ0eXAiOiJKV1QifQ."
            "eyJzdWIiOiJmYWtlIn0.c2lnbmF0dXJl")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def handle(self):
        try:
            super().handle()
        except OSError:
            self.close_connection = True

    def send(self, status, body, extra=None):
        if not isinstance(body, bytes):
            body = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace")
        st = self.server.st
        if self.path == "/_script":
            with st["lock"]:
                st["script"] = json.loads(body)["script"].split(",")
                st["i"] = 0
            self.send(200, {"ok": True})
            return
        with st["lock"]:
            step = st["script"][min(st["i"], len(st["script"]) - 1)]
            st["i"] += 1
        cert = self.connection.getpeercert() or {}
        subject = ",".join("%s=%s" % kv for rdn in cert.get("subject", ()) for kv in rdn)
        with st["lock"], open(st["record"], "a", encoding="utf-8") as f:
            f.write(json.dumps({"method": "POST", "path": self.path, "step": step,
                                "content_type": self.headers.get("Content-Type"),
                                "body": body, "client_subject": subject,
                                "user_agent": self.headers.get("User-Agent")}) + "\n")
        if step == "ok":
            self.send(200, {"success": True, "version": 1, "token_type": TT_ID_TOKEN,
                            "id_token": FAKE_JWT, "expiration_time": int(time.time()) + 300})
        elif step == "503":
            self.send(503, {"success": False, "version": 1, "code": "temporarily_unavailable",
                            "message": "Google is unreachable; try again"},
                      {"Retry-After": "1"})
        elif step.startswith("503ra:"):
            self.send(503, {"success": False, "version": 1, "code": "temporarily_unavailable",
                            "message": "Google is unreachable; try again"},
                      {"Retry-After": step[len("503ra:"):]})
        elif step == "fail401":
            self.send(401, {"success": False, "version": 1, "code": "invalid_client",
                            "message": "The client or its credentials are invalid"})
        elif step == "oauth400":
            self.send(400, {"error": "invalid_request", "error_description": "bad body"})
        elif step == "garbage":
            self.send(200, b"<html>not json</html>")
        elif step == "huge":
            self.send(200, b"{\"x\":\"" + b"h" * (1 << 20) + b"\"}")
        elif step == "hang":
            st["stop"].wait(120)
            self.close_connection = True
        elif step == "drop":
            self.close_connection = True
        else:
            self.send(500, {"error": "bad script step %s" % step})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--script", default="ok")
    args = ap.parse_args()

    server = Server(("127.0.0.1", 0), Handler)
    server.st = {"lock": threading.Lock(), "script": args.script.split(","), "i": 0,
                 "record": args.record, "stop": threading.Event()}
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.load_verify_locations(args.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                    do_handshake_on_connect=False)

    def on_term(signum, frame):
        server.st["stop"].set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % server.server_address[1])
    os.replace(tmp, args.ready_file)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
