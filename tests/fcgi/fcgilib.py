"""fcgilib.py: what the FastCGI tests share (stop.py, reload.py, reload-registry.py): TAP
output, a token-broker started as a FastCGI responder on a Unix socket (standard input, as web
servers start it), and requests sent to it with cgi-fcgi (Debian libfcgi-bin)."""

import json
import os
import signal
import socket
import subprocess
import sys

BUILDDIR = os.environ.get("TB_BUILDDIR", ".")
SRCDIR = os.environ.get("TB_SRCDIR", ".")
PYTHON3 = os.environ.get("PYTHON3") or sys.executable
PROGRAM = os.path.join(BUILDDIR, "src", "token-broker")
PKI = os.path.join(BUILDDIR, "tests", "pki-out")
MKPKI = os.path.join(SRCDIR, "tests", "pki", "mkpki.py")
BOUND = 5.0   # seconds a stop may take: generous for a loaded machine
TIMEOUT = 30  # seconds for one cgi-fcgi run


class Tap:
    """TAP lines with a plan; missing() skips the rest, or fails them under CI=true."""

    def __init__(self, plan):
        self.plan, self.n, self.failed = plan, 0, 0
        print("1..%d" % plan)

    def ok(self, good, what, diag=""):
        self.n += 1
        print("%sok %d - %s" % ("" if good else "not ", self.n, what))
        if not good:
            self.failed += 1
            for line in str(diag).splitlines()[-40:]:
                print("# " + line)
        sys.stdout.flush()

    def missing(self, what):
        while self.n < self.plan:
            if os.environ.get("CI") == "true":
                self.ok(False, what)
            else:
                self.n += 1
                print("ok %d # SKIP %s" % (self.n, what))
        return self.status()

    def status(self):
        return 1 if self.failed else 0


def make_pki():
    """The test PKI in PKI (mkpki.py reuses one already made): None, or why it failed."""
    p = subprocess.run([PYTHON3, MKPKI, PKI], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return None if p.returncode == 0 else p.stdout.decode(errors="replace")[-500:]


class Broker:
    """One token-broker FastCGI process on tmp/broker.sock with the settings of env."""

    def __init__(self, tmp, settings, preload=None):
        self.sock = os.path.join(tmp, "broker.sock")
        self.errpath = os.path.join(tmp, "stderr")
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(self.sock)
        lsock.listen(8)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "SIGNING_KEYS": os.path.join(PKI, "signing-ec.pem"),
               "TOKEN_AUDIENCE": "https://example.net/aud",
               "TOKEN_ISSUER": "https://broker.example.net"}
        env.update(settings)
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        if preload is not None:
            env["LD_PRELOAD"] = preload
            # a preloaded library without ASan would otherwise stop an ASan build at start
            env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                                   ":verify_asan_link_order=0").lstrip(":")
        with open(self.errpath, "wb") as err:
            self.proc = subprocess.Popen([PROGRAM], stdin=lsock.fileno(),
                                         stdout=subprocess.DEVNULL, stderr=err, env=env,
                                         close_fds=True)
        lsock.close()
        self.pid = self.proc.pid
        self.seen = 0  # log lines already looked at

    def log(self):
        with open(self.errpath, "rb") as f:
            return f.read().decode(errors="replace")

    def new_lines(self):
        """The JSON log lines written since the last call (unparsable ones as messages)."""
        lines = self.log().splitlines()
        fresh, self.seen = lines[self.seen:], len(lines)
        out = []
        for line in fresh:
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"severity": "?", "message": line})
        return out

    def request(self, cgi_fcgi, params, body=b""):
        """One request with these CGI parameters: (status, JSON body or None, raw output)."""
        env = {"PATH": os.environ.get("PATH", ""), "GATEWAY_INTERFACE": "CGI/1.1",
               "SCRIPT_NAME": "", "QUERY_STRING": "", "HTTP_HOST": "broker.example.net",
               "HTTPS": "on", "SERVER_PROTOCOL": "HTTP/1.1"}
        env.update(params)
        out = subprocess.run([cgi_fcgi, "-bind", "-connect", self.sock], env=env, input=body,
                             capture_output=True, timeout=TIMEOUT)
        raw = out.stdout.decode(errors="replace")
        head, _, text = raw.partition("\r\n\r\n")
        status = 200
        for line in head.split("\r\n"):
            if line.lower().startswith("status:"):
                status = int(line.split()[1])
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        return status, doc, raw + out.stderr.decode(errors="replace")

    def token(self, cgi_fcgi, cert, body=b"grant_type=client_credentials"):
        """POST /token with the PKI's certificate cert, verified."""
        with open(os.path.join(PKI, cert)) as f:
            pem = f.read()
        return self.request(cgi_fcgi, {
            "REQUEST_METHOD": "POST", "REQUEST_URI": "/token", "PATH_INFO": "/token",
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": str(len(body)), "SSL_CLIENT_VERIFY": "SUCCESS",
            "SSL_CLIENT_CERT": pem}, body)

    def wait(self, seconds=BOUND):
        """The exit status within seconds, or None (then it is killed)."""
        try:
            return self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stop(self):
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        return self.wait()
