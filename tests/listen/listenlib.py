"""listenlib.py: what the tests of token-broker's own socket share (listen.py, workers.py,
sighup.py, envfile.py, activation.py): a FastCGI client written here (so a test can hold a
request half-sent, or send hundreds quickly), a broker started with --listen and its
supervisor's log, and the worker processes found in /proc.

The FastCGI client speaks the protocol as nginx and Apache mod_proxy_fcgi do: BEGIN_REQUEST
(responder, no keep-alive), PARAMS, STDIN; it reads STDOUT until END_REQUEST. A connection that
ends before END_REQUEST is a failed request (RequestFailed)."""

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

SRCDIR = os.environ.get("TB_SRCDIR", ".")
sys.path.insert(0, os.path.join(SRCDIR, "tests", "fcgi"))

from fcgilib import BOUND, PKI, PROGRAM, Tap, make_pki  # noqa: E402,F401

TIMEOUT = 30   # seconds for one request or one awaited log line, on a loaded machine
FCGI_VERSION, BEGIN, END, PARAMS, STDIN, STDOUT, STDERR = 1, 1, 3, 4, 5, 6, 7
RESPONDER = 1
RECORD_MAX = 65535


class RequestFailed(Exception):
    """The connection ended (or failed) before the broker's END_REQUEST."""


def _record(rtype, content, rid=1):
    return struct.pack(">BBHHBB", FCGI_VERSION, rtype, rid, len(content), 0, 0) + content


def _pair(name, value):
    def length(n):
        return struct.pack(">B", n) if n < 128 else struct.pack(">I", n | 0x80000000)
    n, v = name.encode(), value.encode()
    return length(len(n)) + length(len(v)) + n + v


def _connect(addr):
    if isinstance(addr, tuple):
        s = socket.create_connection(addr, timeout=TIMEOUT)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(addr)
    return s


class Request:
    """One FastCGI request on its own connection: addr is a unix path or (host, port)."""

    def __init__(self, addr, params, body_length=0):
        self.sock = _connect(addr)
        p = {"GATEWAY_INTERFACE": "CGI/1.1", "SCRIPT_NAME": "", "QUERY_STRING": "",
             "HTTP_HOST": "broker.example.net", "HTTPS": "on", "SERVER_PROTOCOL": "HTTP/1.1"}
        p.update(params)
        if body_length:
            p["CONTENT_LENGTH"] = str(body_length)
        data = b"".join(_pair(k, v) for k, v in p.items())
        out = _record(BEGIN, struct.pack(">HB5x", RESPONDER, 0))
        for i in range(0, len(data), RECORD_MAX):
            out += _record(PARAMS, data[i:i + RECORD_MAX])
        out += _record(PARAMS, b"")
        self.sock.sendall(out)

    def send(self, body):
        """Part of the body (a request held half-sent is a slow client)."""
        try:
            for i in range(0, len(body), RECORD_MAX):
                self.sock.sendall(_record(STDIN, body[i:i + RECORD_MAX]))
        except OSError as e:
            raise RequestFailed(str(e))

    def finish(self):
        """Ends the body and reads the answer: (status, JSON body or None, raw text)."""
        try:
            self.sock.sendall(_record(STDIN, b""))
            out, buf = b"", b""
            while True:
                while len(buf) < 8:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        raise RequestFailed("the connection ended before END_REQUEST")
                    buf += chunk
                _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", buf[:8])
                while len(buf) < 8 + clen + plen:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        raise RequestFailed("the connection ended inside a record")
                    buf += chunk
                content, buf = buf[8:8 + clen], buf[8 + clen + plen:]
                if rtype == STDOUT:
                    out += content
                elif rtype == END:
                    break
        except OSError as e:
            raise RequestFailed(str(e))
        finally:
            self.sock.close()
        raw = out.decode(errors="replace")
        head, _, text = raw.partition("\r\n\r\n")
        status = 200
        for line in head.split("\r\n"):
            if line.lower().startswith("status:"):
                status = int(line.split()[1])
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        return status, doc, raw


def get(addr, path):
    """GET path: (status, JSON body or None, raw)."""
    return Request(addr, {"REQUEST_METHOD": "GET", "REQUEST_URI": path,
                          "PATH_INFO": path}).finish()


def token_request(addr, cert="client.pem", body=b"grant_type=client_credentials"):
    """A POST /token with the PKI's certificate, not yet sent beyond its parameters."""
    with open(os.path.join(PKI, cert)) as f:
        pem = f.read()
    return Request(addr, {"REQUEST_METHOD": "POST", "REQUEST_URI": "/token",
                          "PATH_INFO": "/token",
                          "CONTENT_TYPE": "application/x-www-form-urlencoded",
                          "SSL_CLIENT_VERIFY": "SUCCESS", "SSL_CLIENT_CERT": pem},
                   body_length=len(body))


def token(addr, cert="client.pem"):
    body = b"grant_type=client_credentials"
    r = token_request(addr, cert, body)
    r.send(body)
    return r.finish()


def settings(**extra):
    """The environment of a broker: PATH, the sanitizers' options, and extra."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    env.update(extra)
    return env


def basic(**extra):
    """settings() with a working configuration (the PKI's EC key)."""
    s = {"SIGNING_KEYS": os.path.join(PKI, "signing-ec.pem"),
         "TOKEN_AUDIENCE": "https://example.net/aud",
         "TOKEN_ISSUER": "https://broker.example.net"}
    s.update(extra)
    return settings(**s)


class Broker:
    """token-broker with these arguments and environment; its log in tmp/NAME.log."""

    def __init__(self, tmp, args, env, name="broker", argv0=None, **popen):
        self.errpath = os.path.join(tmp, name + ".log")
        with open(self.errpath, "wb") as err:
            self.proc = subprocess.Popen((argv0 or [PROGRAM]) + list(args),
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err, env=env, **popen)
        self.pid = self.proc.pid

    def log(self):
        with open(self.errpath, "rb") as f:
            return f.read().decode(errors="replace")

    def lines(self):
        out = []
        for line in self.log().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"severity": "?", "message": line})
        return out

    def count(self, text, severity=None):
        return sum(1 for l in self.lines() if text in l.get("message", "") and
                   (severity is None or l.get("severity") == severity))

    def await_log(self, text, n=1, seconds=TIMEOUT):
        """Waits until n lines hold text (or the process exits): True when they do."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.count(text) >= n:
                return True
            if self.proc.poll() is not None:
                return self.count(text) >= n
            time.sleep(0.05)
        return False

    def workers(self):
        """The pids of the supervisor's children, from /proc."""
        return children(self.pid)

    def wait(self, seconds=BOUND):
        try:
            return self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        """The end of a test that went wrong: the supervisor and its workers, by pid."""
        for pid in self.workers():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        rc = self.wait(TIMEOUT)
        if rc is None:
            self.kill()
        return rc


def children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        # the command may hold spaces and parentheses: the fields after the last ')'
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == ppid and fields[0] != "Z":
            out.append(int(d))
    return sorted(out)


def server_conns(path):
    """The inodes of the connected sockets on the accepting side of the unix socket path."""
    inodes = set()
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            # Num RefCount Protocol Flags Type St Inode Path; St 03: connected
            if len(parts) >= 8 and parts[7] == path and parts[5] == "03":
                inodes.add(parts[6])
    return inodes


def busy_worker(pids, path, before, seconds=TIMEOUT):
    """The worker holding the connection accepted on the unix socket path since before (the
    server_conns taken before the request connected): the request in progress; None if none
    in time. A worker may still hold an earlier connection for a moment (libfcgi's close waits
    for the client's end when a request's input did not end with it), hence before."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        inodes = server_conns(path) - before
        for pid in pids:
            try:
                for fd in os.listdir("/proc/%d/fd" % pid):
                    link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        return pid
            except OSError:
                continue
        time.sleep(0.05)
    return None


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on just now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def dump(b):
    return "\n".join("%s %s" % (l.get("severity"), l.get("message")) for l in b.lines())
