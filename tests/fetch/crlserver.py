#!/usr/bin/env python3
"""crlserver.py: a loopback HTTP server for the --fetch-crls tests (tests/fetch/fetch.sh).

    python3 crlserver.py --root DIR --ready-file F [--tls CERT KEY]

listens on 127.0.0.1 on a free port and writes the port into F once listening. GET /NAME
answers the file DIR/NAME (read at each request, so a test may change it between runs) with
200, or 404 when there is none. A few paths act out what a CRL distribution point may do:

  /hang              accept the request and answer nothing for HANG_SECONDS (a client timeout
                     must end it)
  /big-length        200 announcing a Content-Length of OVER_CAP bytes (the cap plus one), and
                     then nothing: a client should give up on the header alone
  /big-stream        200 without a Content-Length, then OVER_CAP bytes of junk and close: the
                     cap must be enforced while receiving
  /redirect/NAME     302 to /NAME on this server
  /redirect-ftp      302 to ftp://127.0.0.1/ca.crl (a scheme a CRL fetch must not follow)

With --tls the server speaks https with CERT and KEY (PEM). Each request is appended to
DIR/../requests.log as "METHOD PATH". Python standard library only. Exits on SIGTERM.
"""

import argparse
import os
import signal
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CAP = 64 * 1024 * 1024   # TB_CRL_FILE_MAX (src/crl.h)
OVER_CAP = CAP + 1
HANG_SECONDS = 60        # far beyond the UPSTREAM_TIMEOUT the tests set
CHUNK = 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    server_version = "crlserver"
    root = "."

    def log_message(self, fmt, *args):  # quiet: the test reads requests.log
        pass

    def record(self):
        with open(os.path.join(self.root, "..", "requests.log"), "a") as f:
            f.write("%s %s\n" % (self.command, self.path))

    def do_GET(self):
        self.record()
        path = self.path
        if path == "/hang":
            time.sleep(HANG_SECONDS)
            return
        if path == "/big-length":
            self.send_response(200)
            self.send_header("Content-Length", str(OVER_CAP))
            self.end_headers()
            self.wfile.flush()
            time.sleep(HANG_SECONDS)
            return
        if path == "/big-stream":
            self.send_response(200)
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes
            junk = b"x" * CHUNK
            sent = 0
            try:
                while sent < OVER_CAP:
                    n = min(CHUNK, OVER_CAP - sent)
                    self.wfile.write(junk[:n])
                    sent += n
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up at the cap, as it should
            return
        if path.startswith("/redirect/"):
            return self.redirect("/" + path[len("/redirect/"):])
        if path == "/redirect-ftp":
            return self.redirect("ftp://127.0.0.1/ca.crl")
        name = path.lstrip("/")
        file = os.path.join(self.root, name)
        if "/" in name or name.startswith(".") or not os.path.isfile(file):
            return self.answer(404, b"not found\n")
        with open(file, "rb") as f:
            return self.answer(200, f.read())

    def redirect(self, to):
        self.send_response(302)
        self.send_header("Location", to)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/pkix-crl")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    a = ap.parse_args()
    Handler.root = os.path.abspath(a.root)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True  # a hanging request does not hold up the exit
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tmp = a.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(tmp, a.ready_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
