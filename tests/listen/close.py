#!/usr/bin/env python3
"""close.py: how a worker ends a FastCGI connection once it has answered (issue 10) (TAP).

libfcgi's own close shuts down its sending side and then waits for the web server to close
(up to 2 s a read), so that input left unread cannot turn the close into a TCP reset that
loses the answer. The broker closes at once when the request's input was read to its end
(src/fcgi.c, finish), and keeps libfcgi's close otherwise. Over TCP on 127.0.0.1 (where a
reset would lose data) with one worker:
  1. 40 token requests in a row: every answer complete, up to END_REQUEST;
  2. bytes sent after the answer meet a closed socket (a reset), not a worker still reading
     to the end (libfcgi's close reads whatever comes, until the client stops for 2 s);
  3. a few bytes of input past CONTENT_LENGTH are read and the answer is complete;
  4. a request whose input does not end with the answer (the empty STDIN record comes only
     after the client has read the answer) still gets its whole answer, then libfcgi's
     close (the orderly end);
  5. more input past CONTENT_LENGTH than the broker reads at the end (the 64 KiB cap): the
     whole answer, then libfcgi's close;
and the worker serves a token after each case.
"""

import errno
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

from listenlib import (BEGIN, END, PARAMS, PKI, RECORD_MAX, RESPONDER, STDIN, STDOUT, TIMEOUT,
                       Broker, RequestFailed, Tap, _pair, _record, basic, dump, free_port,
                       make_pki, token)

BODY = b"grant_type=client_credentials"
t = Tap(10)
tap = t.ok


def begin(addr, extra=b"", end=True):
    """A token request with its body (and extra input after it), in one write, as web servers
    send it; with end=False, without the empty STDIN record that ends the input."""
    with open(os.path.join(PKI, "client.pem")) as f:
        pem = f.read()
    params = {"GATEWAY_INTERFACE": "CGI/1.1", "SCRIPT_NAME": "", "QUERY_STRING": "",
              "HTTP_HOST": "broker.example.net", "HTTPS": "on",
              "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_METHOD": "POST",
              "REQUEST_URI": "/token", "PATH_INFO": "/token",
              "CONTENT_TYPE": "application/x-www-form-urlencoded",
              "CONTENT_LENGTH": str(len(BODY)), "SSL_CLIENT_VERIFY": "SUCCESS",
              "SSL_CLIENT_CERT": pem}
    data = b"".join(_pair(k, v) for k, v in params.items())
    out = _record(BEGIN, struct.pack(">HB5x", RESPONDER, 0))
    for i in range(0, len(data), RECORD_MAX):
        out += _record(PARAMS, data[i:i + RECORD_MAX])
    out += _record(PARAMS, b"")
    body = BODY + extra
    for i in range(0, len(body), RECORD_MAX):
        out += _record(STDIN, body[i:i + RECORD_MAX])
    if end:
        out += _record(STDIN, b"")
    s = socket.create_connection(addr, timeout=TIMEOUT)
    s.sendall(out)
    return s


def answer(s):
    """Reads records up to END_REQUEST: the status of the answer, or raises RequestFailed."""
    buf, out = b"", b""
    while True:
        while len(buf) < 8:
            chunk = s.recv(65536)
            if not chunk:
                raise RequestFailed("the connection ended before END_REQUEST")
            buf += chunk
        _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", buf[:8])
        while len(buf) < 8 + clen + plen:
            chunk = s.recv(65536)
            if not chunk:
                raise RequestFailed("the connection ended inside a record")
            buf += chunk
        content, buf = buf[8:8 + clen], buf[8 + clen + plen:]
        if rtype == STDOUT:
            out += content
        elif rtype == END:
            head = out.decode(errors="replace").split("\r\n", 1)[0]
            return int(head.split()[1]) if head.lower().startswith("status:") else 200


def after_answer(s):
    """What the client sees sending a byte every 50 ms for a second after the answer: 'reset'
    when a send fails (the worker's socket is closed: the first byte drew a reset), 'read'
    when every byte was taken (a worker still reading to the end, as libfcgi's close does
    while bytes keep coming)."""
    try:
        for _ in range(20):
            s.sendall(_record(STDIN, b"x"))
            time.sleep(0.05)
        return "read"
    except OSError as e:
        return "reset" if e.errno in (errno.EPIPE, errno.ECONNRESET) else str(e)
    finally:
        s.close()


def still_serves(addr):
    status, doc, raw = token(addr)
    return status == 200 and doc is not None and "id_token" in doc


def cases(b, addr):
    codes = [token(addr)[0] for _ in range(40)]
    tap(codes == [200] * 40, "1. 40 token requests in a row over TCP: every answer complete",
        dump(b))

    s = begin(addr)
    status = answer(s)
    seen = after_answer(s)
    tap(status == 200 and seen == "reset",
        "2. input read to its end: the worker closed at once (bytes sent after the answer "
        "meet a reset: %s)" % seen, dump(b))
    tap(still_serves(addr), "   the worker serves the next request", dump(b))

    s = begin(addr, extra=b"extra input")
    status = answer(s)
    s.close()
    tap(status == 200, "3. a few bytes past CONTENT_LENGTH: the answer is complete", dump(b))
    tap(still_serves(addr), "   the worker serves the next request", dump(b))

    s = begin(addr, end=False)
    status = answer(s)  # the empty STDIN record is not sent yet
    s.sendall(_record(STDIN, b""))
    s.shutdown(socket.SHUT_WR)
    seen = s.recv(1)
    s.close()
    tap(status == 200 and seen == b"",
        "4. input not at its end when answered: the whole answer, then an orderly end",
        dump(b))
    tap(still_serves(addr), "   the worker serves the next request", dump(b))

    s = begin(addr, extra=b"y" * (100 * 1024))
    status = answer(s)
    s.shutdown(socket.SHUT_WR)
    seen = s.recv(1)
    s.close()
    tap(status == 200 and seen == b"",
        "5. 100 KiB past CONTENT_LENGTH (more than the 64 KiB read at the end): the whole "
        "answer, then an orderly end", dump(b))
    tap(still_serves(addr), "   the worker serves the next request", dump(b))


def main():
    why = make_pki()
    if why is not None:
        print("# " + why.replace("\n", "\n# "))
        return t.missing("mkpki.py failed (python3-cryptography missing?)")
    tmp = tempfile.mkdtemp(prefix="tb-close.")
    b = None
    try:
        port = free_port()
        addr = ("127.0.0.1", port)
        b = Broker(tmp, ["--listen", "127.0.0.1:%d" % port, "--workers", "1"], basic())
        if not b.await_log("serves", n=1):
            tap(False, "a worker serves", dump(b))
            return t.missing("the broker did not start")
        cases(b, addr)
        tap(b.proc.poll() is None and "ERROR" not in [l.get("severity") for l in b.lines()],
            "the broker is still running, with no ERROR line", dump(b))
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
