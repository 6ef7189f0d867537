#!/usr/bin/env python3
"""run-cases.py: runs token-broker as a CGI program once per tests/cgi/cases/*.case; speaks TAP.

Each case file is one TAP test. The format is described in tests/cgi/README.md. Environment:
  TB_SRCDIR, TB_BUILDDIR  source and build roots (make check sets them; defaults: from here, cwd)
  PYTHON3                 interpreter for mkpki.py and the Google stand-in (default: this one)
  TB_PROGRAM              the program under test (default: $TB_BUILDDIR/src/token-broker)
  TB_WRAPPER              a command prefix, e.g. "valgrind -q --error-exitcode=99 --log-file=vg.%p"
  TB_TIMEOUT              seconds a run may take (default 10; 120 with TB_WRAPPER)
  TB_CASEDIR              where the cases are (default: tests/cgi/cases beside this script)
  TB_EXEC_ENV             the exec wrapper for dup: cases (default: $TB_BUILDDIR/tests/cgi/exec-env)
  TB_JOBS                 cases run at once (default: the CPUs this process may use)
  TB_VERBOSE=1            show the program's output for passing cases too
  CI=true                 a missing test tool fails instead of skipping
Arguments, if any, select cases whose file name contains one of them.
"""

import base64
import concurrent.futures
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("TB_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
# absolute: every run has its own temporary working directory
BUILDDIR = os.path.abspath(os.environ.get("TB_BUILDDIR") or os.getcwd())
PYTHON3 = os.environ.get("PYTHON3") or sys.executable
PROGRAM = os.path.abspath(os.environ.get("TB_PROGRAM")
                          or os.path.join(BUILDDIR, "src", "token-broker"))
EXEC_ENV = os.path.abspath(os.environ.get("TB_EXEC_ENV")
                           or os.path.join(BUILDDIR, "tests", "cgi", "exec-env"))
WRAPPER = shlex.split(os.environ.get("TB_WRAPPER", ""))
# valgrind makes a run 20 to 50 times slower, and cases run side by side compete for the CPUs:
# a wrapped run gets what scripts/test gives its valgrind pass
TIMEOUT = float(os.environ.get("TB_TIMEOUT") or (120 if WRAPPER else 10))
IN_CI = os.environ.get("CI") == "true"
CASEDIR = os.environ.get("TB_CASEDIR") or os.path.join(SRCDIR, "tests", "cgi", "cases")
PKIDIR = os.path.join(BUILDDIR, "tests", "pki-out")
STANDIN = os.path.join(SRCDIR, "tests", "google", "standin.py")
BODY_LINE_MIN = 16  # a PEM body line shorter than this could match by chance
DUP_PROBE = "TB_DUP_PROBE"  # the name exec-env's self-check repeats (see dup_check)

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    HAVE_CRYPTO = True
except ImportError:  # the test tool is missing: skip (or fail in CI)
    HAVE_CRYPTO = False


class CaseError(Exception):
    """The case file itself is wrong (not the program)."""


# ---------------------------------------------------------------------------------------------
# Derived values, computed here independently of the program

def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def pki_path(fname):
    return fname if os.path.isabs(fname) else os.path.join(PKIDIR, fname)


def read_text(fname):
    try:
        with open(pki_path(fname), encoding="ascii") as f:
            return f.read()
    except OSError as e:
        raise CaseError("cannot read %s: %s" % (fname, e))


def load_cert(fname):
    return x509.load_pem_x509_certificate(read_text(fname).encode())


def cert_der(fname):
    return load_cert(fname).public_bytes(serialization.Encoding.DER)


def serial_hex(cert):
    """Lower-case colon hex of the DER INTEGER's content octets (keeps a leading 00)."""
    n = cert.serial_number
    length = n.bit_length() // 8 + 1  # two's complement: room for the sign bit
    return ":".join("%02x" % b for b in n.to_bytes(length, "big"))


def jwk_of_public(pub):
    if isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
        e = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
        return {"kty": "RSA", "n": b64u(n), "e": b64u(e)}
    if isinstance(pub, ec.EllipticCurvePublicKey):
        nums = pub.public_numbers()
        size = (pub.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}.get(pub.curve.name, pub.curve.name)
        return {"kty": "EC", "crv": crv, "x": b64u(nums.x.to_bytes(size, "big")),
                "y": b64u(nums.y.to_bytes(size, "big"))}
    raise CaseError("unsupported key type")


def jwk_thumbprint(jwk):
    """RFC 7638: SHA-256 over the required members, sorted, no whitespace; base64url."""
    if jwk.get("kty") == "RSA":
        req = {k: jwk[k] for k in ("e", "kty", "n")}
    elif jwk.get("kty") == "EC":
        req = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    else:
        raise ValueError("kty %r" % jwk.get("kty"))
    text = json.dumps(req, sort_keys=True, separators=(",", ":"))
    return b64u(hashlib.sha256(text.encode()).digest())


def key_kid(fname):
    key = serialization.load_pem_private_key(read_text(fname).encode(), password=None)
    return jwk_thumbprint(jwk_of_public(key.public_key()))


def public_key_of_jwk(jwk):
    if jwk.get("kty") == "RSA":
        n = int.from_bytes(b64u_decode(jwk["n"]), "big")
        e = int.from_bytes(b64u_decode(jwk["e"]), "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        x = int.from_bytes(b64u_decode(jwk["x"]), "big")
        y = int.from_bytes(b64u_decode(jwk["y"]), "big")
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    raise ValueError("unsupported JWK kty=%r crv=%r" % (jwk.get("kty"), jwk.get("crv")))


# ---------------------------------------------------------------------------------------------
# Substitutions: @NAME@ and @NAME:ARG@ (the names below only; any other @...@ stays as it is)

SUBST_RE = re.compile(r"@(PKI|TMP|CASES|STANDIN|PEM|PEM-SPACES|PEM-URL|SHA256|X5T|SERIAL|SUBJECT|KID"
                      r"|BASE64|REPEAT|CLAIM|RESP)(?::([^@|]*))?((?:\|[a-z0-9]+)*)@")
FILTERS = {
    "url": lambda s: urllib.parse.quote(s, safe=""),  # all but unreserved characters as %XX
    "b64": lambda s: base64.b64encode(s.encode()).decode(),
}


class Ctx:
    """What substitutions and the automatic checks need to know about one run."""

    def __init__(self, tmpdir):
        self.tmpdir = tmpdir
        self.standin = None   # http://127.0.0.1:PORT once started
        self.claims = None    # the ID token's payload once decoded
        self.resp = None      # the response's JSON body once parsed
        self.secret_files = set()  # PEM files passed to the program (their body lines never logged)


def substitute(text, ctx, lineno):
    def one(m):
        value = value_of(m.group(1), m.group(2))
        for f in m.group(3).split("|")[1:]:
            if f not in FILTERS:
                raise CaseError("line %d: unknown filter |%s" % (lineno, f))
            value = FILTERS[f](value)
        return value

    def value_of(name, arg):
        if name == "PKI":
            return PKIDIR
        if name == "TMP":
            return ctx.tmpdir
        if name == "CASES":
            return CASEDIR
        if name == "STANDIN":
            if ctx.standin is None:
                raise CaseError("line %d: @STANDIN@ without a standin: line" % lineno)
            return ctx.standin
        if arg is None:
            raise CaseError("line %d: @%s@ needs an argument" % (lineno, name))
        if name.startswith("PEM"):
            ctx.secret_files.add(pki_path(arg))
            pem = read_text(arg)
            if name == "PEM":
                return pem
            if name == "PEM-SPACES":
                return pem.strip().replace("\n", " ")
            return urllib.parse.quote(pem, safe="")  # all but unreserved characters as %XX
        if name == "SHA256":
            return base64.b64encode(hashlib.sha256(cert_der(arg)).digest()).decode().rstrip("=")
        if name == "X5T":
            return b64u(hashlib.sha256(cert_der(arg)).digest())
        if name == "SERIAL":
            return serial_hex(load_cert(arg))
        if name == "SUBJECT":
            return load_cert(arg).subject.rfc4514_string()
        if name == "KID":
            return key_kid(arg)
        if name == "BASE64":
            return base64.b64encode(arg.encode()).decode()
        if name == "REPEAT":
            count, _, what = arg.partition(":")
            if not count.isdigit():
                raise CaseError("line %d: @REPEAT:COUNT:TEXT@" % lineno)
            return what * int(count)
        if name in ("CLAIM", "RESP"):
            doc = ctx.claims if name == "CLAIM" else ctx.resp
            if doc is None:
                return "<no %s to take %s from>" % (
                    "ID token" if name == "CLAIM" else "JSON response", arg)
            found, v = resolve(doc, parse_path(arg, lineno))
            if not found:
                return "<absent %s>" % arg
            return json.dumps(v)
        raise AssertionError(name)

    return SUBST_RE.sub(one, text)


# ---------------------------------------------------------------------------------------------
# JSON paths: $ (root), a.b, a[0], a[-1] (the last), a["x.y"], [0].path

PATH_TOKEN = re.compile(r'\.?([^.\[\]"]+)|\[(-?\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


def parse_path(text, lineno):
    if text in ("$", "."):
        return []
    s = text[1:] if text.startswith("$") else text
    out, pos = [], 0
    while pos < len(s):
        m = PATH_TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise CaseError("line %d: bad path %r" % (lineno, text))
        if m.group(1) is not None:
            out.append(m.group(1))
        elif m.group(2) is not None:
            out.append(int(m.group(2)))
        else:
            out.append(json.loads('"%s"' % m.group(3)))
        pos = m.end()
    return out


def resolve(doc, path):
    cur = doc
    for p in path:
        if isinstance(p, int):
            if not isinstance(cur, list) or not -len(cur) <= p < len(cur):
                return False, None
            cur = cur[p]
        else:
            if not isinstance(cur, dict) or p not in cur:
                return False, None
            cur = cur[p]
    return True, cur


def strict_eq(a, b):
    """JSON equality in which true is not 1 and "1" is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strict_eq(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(strict_eq(x, y) for x, y in zip(a, b))
    return a == b


JSON_TYPES = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def parse_json_arg(arg, lineno):
    try:
        return json.loads(arg)
    except ValueError:
        raise CaseError("line %d: %r is not a JSON value (strings need quotes)" % (lineno, arg))


def json_check(doc, expr, ctx, lineno):
    """Evaluates 'PATH OP [ARG]' on doc. Returns None when it holds, else a reason."""
    parts = expr.split(None, 2)
    if len(parts) < 2:
        raise CaseError("line %d: expected PATH OP [VALUE]: %r" % (lineno, expr))
    path_text, op = parts[0], parts[1]
    arg = substitute(parts[2], ctx, lineno) if len(parts) > 2 else None
    found, v = resolve(doc, parse_path(path_text, lineno))
    shown = json.dumps(v) if found else "absent"
    if len(shown) > 300:
        shown = shown[:300] + "..."
    if op == "absent":
        return None if not found else "%s is present: %s" % (path_text, shown)
    if not found:
        return "%s is absent (wanted %s %s)" % (path_text, op, arg or "")
    if op == "exists":
        return None
    if arg is None:
        raise CaseError("line %d: %s needs a value" % (lineno, op))
    if op in ("==", "!="):
        want = parse_json_arg(arg, lineno)
        same = strict_eq(v, want)
        if same == (op == "=="):
            return None
        return "%s is %s, wanted %s %s" % (path_text, shown, op, json.dumps(want))
    if op in ("~", "!~"):
        subject = v if isinstance(v, str) else json.dumps(v)
        hit = re.search(arg, subject) is not None
        if hit == (op == "~"):
            return None
        return "%s is %s, wanted %s /%s/" % (path_text, shown, op, arg)
    if op == "type":
        if arg not in JSON_TYPES:
            raise CaseError("line %d: unknown type %r" % (lineno, arg))
        return None if JSON_TYPES[arg](v) else "%s is %s, not of type %s" % (path_text, shown, arg)
    if op == "len":
        if not isinstance(v, (str, list, dict)):
            return "%s is %s, has no length" % (path_text, shown)
        return None if len(v) == int(arg) else "%s has length %d, wanted %s" % (
            path_text, len(v), arg)
    if op == "keys":
        want = set(arg.split())
        if not isinstance(v, dict):
            return "%s is %s, not an object" % (path_text, shown)
        if set(v) == want:
            return None
        return "%s has members %s, wanted exactly %s (extra %s, missing %s)" % (
            path_text, sorted(v), sorted(want), sorted(set(v) - want), sorted(want - set(v)))
    if op == "contains":
        want = parse_json_arg(arg, lineno)
        if isinstance(v, list):
            ok = any(strict_eq(x, want) for x in v)
        elif isinstance(v, dict):
            ok = any(strict_eq(x, want) for x in v.values())
        elif isinstance(v, str) and isinstance(want, str):
            ok = want in v
        else:
            return "%s is %s: contains needs an array, object or string" % (path_text, shown)
        return None if ok else "%s is %s, does not contain %s" % (path_text, shown, arg)
    if op == "near-now":
        if not JSON_TYPES["number"](v):
            return "%s is %s, not a number" % (path_text, shown)
        off = abs(time.time() - v)
        return None if off <= float(arg) else "%s is %s, %.0f s from now (allowed %s)" % (
            path_text, shown, off, arg)
    raise CaseError("line %d: unknown operator %r" % (lineno, op))


# ---------------------------------------------------------------------------------------------
# Case files

KEYWORDS = {
    "desc", "include", "skip", "args", "env", "unset", "body", "exit", "status", "stdout",
    "stdout~", "header", "header~", "no-header", "json", "token-member", "claim", "jose", "verify",
    "lifetime", "stderr", "stderr~", "stderr!~", "stderr-lines", "log", "log!", "standin",
    "expect-upstream", "log-file", "dup", "setup",
}


def read_case(path, depth=0):
    if depth > 4:
        raise CaseError("include nesting too deep at %s" % path)
    lines = []
    try:
        with open(path, encoding="utf-8") as f:
            raw = f.read().split("\n")
    except OSError as e:
        raise CaseError("cannot read %s: %s" % (path, e))
    for i, line in enumerate(raw, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or key not in KEYWORDS:
            raise CaseError("%s:%d: unknown line %r" % (os.path.basename(path), i, line))
        value = value[1:] if value.startswith(" ") else value
        if key == "include":
            lines.extend(read_case(os.path.join(CASEDIR, value.strip()), depth + 1))
        else:
            lines.append((key, value, i))
    return lines


def wrapper_for_exec_env():
    """TB_WRAPPER, to run exec-env (which then execs the program). The wrapper comes first because
    a wrapper may not pass repeated names on (Debian's valgrind is a shell script, and a shell
    keeps one copy of each); valgrind must then follow exec-env's execve into the program."""
    out = list(WRAPPER)
    for i, word in enumerate(out):
        if os.path.basename(word).startswith("valgrind"):
            if not any(w.startswith("--trace-children") for w in out[i + 1:]):
                out.insert(i + 1, "--trace-children=yes")
            break
    return out


def exec_env_argv(argv, env, dups):
    """The command that gives argv exactly env's variables and then the repeated ones, in order."""
    items = []
    for name, value in list(env.items()) + list(dups):
        items += ["-e", "%s=%s" % (name, value)]
    return wrapper_for_exec_env() + [EXEC_ENV] + items + ["--"] + argv


_dup_checked = None
_dup_lock = threading.Lock()


def dup_check():
    """None when exec-env, under TB_WRAPPER as the cases use it, hands a program both copies of a
    repeated name (checked once, with env(1) as the program), else why not: a dup: case must not
    pass because its repeated variable was lost on the way."""
    global _dup_checked
    with _dup_lock:
        if _dup_checked is None:
            _dup_checked = dup_probe()
        return _dup_checked or None


def dup_probe():
    if not os.access(EXEC_ENV, os.X_OK):
        return "%s is not built (make check builds it; or make tests/cgi/exec-env)" % EXEC_ENV
    env_bin = shutil.which("env")
    if env_bin is None:
        return "no env(1) to check exec-env with"
    want = ["%s=first" % DUP_PROBE, "%s=second" % DUP_PROBE]
    with tempfile.TemporaryDirectory(prefix="tb-dup-") as tmp:
        try:
            p = subprocess.run(exec_env_argv([env_bin], {"PATH": os.environ.get("PATH", "")},
                                             [(DUP_PROBE, "first"), (DUP_PROBE, "second")]),
                               cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as e:
            return "exec-env check failed: %s" % e
    got = [l for l in p.stdout.decode(errors="replace").split("\n")
           if l.startswith(DUP_PROBE + "=")]
    if p.returncode != 0 or got != want:
        return ("exec-env under TB_WRAPPER does not pass a repeated name on (exit %s, saw %s): %s"
                % (p.returncode, got, p.stderr.decode(errors="replace")[-500:]))
    return ""


class Run:
    def __init__(self, argv, env, stdin, cwd, dups=()):
        self.argv, self.env = argv, env
        self.timed_out = False
        cmd = exec_env_argv(argv, env, dups) if dups else WRAPPER + argv
        try:
            p = subprocess.run(cmd, env=env, input=stdin, cwd=cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
            self.rc, self.stdout, self.stderr = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            self.timed_out = True
            self.rc, self.stdout, self.stderr = None, e.stdout or b"", e.stderr or b""


def parse_cgi(stdout):
    """Returns (status, [(name, value)], body) or raises ValueError."""
    head, sep, body = stdout.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("no CRLF CRLF between headers and body")
    headers = []
    for line in head.split(b"\r\n"):
        if b"\n" in line or b"\r" in line:
            raise ValueError("bare CR or LF in header line %r" % line)
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise ValueError("malformed header line %r" % line)
        headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
    status = 200
    st = [v for n, v in headers if n.lower() == "status"]
    if len(st) > 1:
        raise ValueError("several Status headers")
    if st:
        m = re.match(r"(\d{3})( |$)", st[0])
        if not m:
            raise ValueError("bad Status header %r" % st[0])
        status = int(m.group(1))
    return status, headers, body


def split_jwt(token):
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS (%d parts)" % len(parts))
    header = json.loads(b64u_decode(parts[0]))
    claims = json.loads(b64u_decode(parts[1]))
    return header, claims, parts


def verify_jws(parts, header, jwks, thumbprint_kids=True):
    """None when the signature verifies with the key whose kid the header names, else why.
    thumbprint_kids: the broker's own kids are RFC 7638 thumbprints (Google's are not)."""
    kid = header.get("kid")
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        return "JWK Set has no keys array"
    match = [k for k in keys if isinstance(k, dict) and k.get("kid") == kid]
    if len(match) != 1:
        return "%d keys in the JWK Set have kid %r (kids: %s)" % (
            len(match), kid, [k.get("kid") for k in keys if isinstance(k, dict)])
    jwk = match[0]
    try:
        thumb = jwk_thumbprint(jwk)
    except (KeyError, ValueError) as e:
        return "JWK %r: %s" % (kid, e)
    if thumbprint_kids and thumb != kid:
        return "kid %r is not the RFC 7638 thumbprint of its key (%s)" % (kid, thumb)
    alg = header.get("alg")
    if jwk.get("alg") not in (None, alg):
        return "JWK alg %r but JOSE header alg %r" % (jwk.get("alg"), alg)
    signed = (parts[0] + "." + parts[1]).encode()
    sig = b64u_decode(parts[2])
    try:
        pub = public_key_of_jwk(jwk)
        if alg == "RS256":
            if jwk.get("kty") != "RSA":
                return "RS256 with a %s key" % jwk.get("kty")
            pub.verify(sig, signed, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "ES256":
            if jwk.get("kty") != "EC" or len(sig) != 64:
                return "ES256 needs a P-256 key and a 64-byte r||s signature (got %d bytes)" % len(sig)
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                       int.from_bytes(sig[32:], "big"))
            pub.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        else:
            return "unexpected alg %r" % alg
    except InvalidSignature:
        return "signature does not verify with key %r" % kid
    except (KeyError, ValueError) as e:
        return "bad JWK %r: %s" % (kid, e)
    return None


LOG_FIELDS = ("severity", "message", "logging.googleapis.com/labels", "logging.googleapis.com/trace")


def pem_body_lines(path):
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        line = line.strip()
        if len(line) >= BODY_LINE_MIN and not line.startswith("-----"):
            out.append(line)
            out.append(urllib.parse.quote(line, safe=""))
    return out


class Case:
    def __init__(self, path):
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.lines = read_case(path)
        descs = [v for k, v, _ in self.lines if k == "desc"]
        self.desc = descs[0].strip() if descs else ""
        self.skip = next((v for k, v, _ in self.lines if k == "skip"), None)
        self.standin_mode = next((v.split() for k, v, _ in self.lines if k == "standin"), None)
        self.fail = []   # reasons
        self.notes = []  # extra diagnostics
        self.check_rules()

    def check_rules(self):
        """Rules every case file keeps, so that a case proves what its name says."""
        statuses = [v.strip() for k, v, _ in self.lines if k == "status"]
        reasons = [v for k, v, _ in self.lines
                   if k == "log" and v.split(None, 1)[:1] == ["message"]]
        if "401" in statuses and not reasons:
            raise CaseError("status: 401 needs a 'log: message ~ REASON' line: several checks "
                            "refuse with 401 invalid_client, and only the logged reason shows "
                            "which one did (tests/cgi/README.md)")

    def title(self):
        t = self.name + (": " + self.desc if self.desc else "")
        return t.replace("#", "no.")

    def check(self, ok, why):
        if not ok:
            self.fail.append(why)

    # ---- running -----------------------------------------------------------------------------

    def build_env(self, ctx):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "VALGRIND_OPTS"):
            if var in os.environ:  # sanitizer and valgrind runs keep their settings
                env[var] = os.environ[var]
        for key, value, lineno in self.lines:
            if key == "env":
                name, sep, val = value.partition("=")
                if not sep or not name:
                    raise CaseError("line %d: env: NAME=VALUE" % lineno)
                env[name] = substitute(val, ctx, lineno)
            elif key == "unset":
                env.pop(value.strip(), None)
        return env

    def build_dups(self, ctx, env):
        """The dup: lines as (name, value), each a further copy of a variable env already has."""
        dups = []
        for key, value, lineno in self.lines:
            if key == "dup":
                name, sep, val = value.partition("=")
                if not sep or not name:
                    raise CaseError("line %d: dup: NAME=VALUE" % lineno)
                if name not in env:
                    raise CaseError("line %d: dup: %s repeats nothing: set it with env: first" % (
                        lineno, name))
                dups.append((name, substitute(val, ctx, lineno)))
        return dups

    def run(self):
        with tempfile.TemporaryDirectory(prefix="tb-case-") as tmp:
            ctx = Ctx(tmp)
            standin = None
            try:
                if not self.run_setup(ctx):
                    return
                if self.standin_mode is not None:
                    standin = self.start_standin(ctx)
                    if standin is None:
                        return
                self.run_in(ctx, standin)
            finally:
                if standin is not None:
                    self.stop_standin(standin)

    def run_setup(self, ctx):
        """Runs the setup: lines in file order, in the case's temporary directory, before the
        stand-in and the program (a file they read must exist by then). The words are split as a
        shell would, then substituted one by one, so a substituted path may hold spaces; a
        COMMAND ending in .py runs with $PYTHON3. True when every command exited 0; else the case
        fails with the command's output, since a case must not pass on a file never made."""
        for key, value, lineno in self.lines:
            if key != "setup":
                continue
            try:
                words = [substitute(w, ctx, lineno) for w in shlex.split(value)]
            except ValueError as e:
                raise CaseError("line %d: setup: %s" % (lineno, e))
            if not words:
                raise CaseError("line %d: setup: COMMAND ARGS..." % lineno)
            argv = ([PYTHON3] if words[0].endswith(".py") else []) + words
            try:
                p = subprocess.run(argv, cwd=ctx.tmpdir, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.fail.append("setup (line %d) timed out after %g s: %s" % (
                    lineno, TIMEOUT, " ".join(words)))
                return False
            except OSError as e:
                self.fail.append("setup (line %d) did not run: %s: %s" % (
                    lineno, " ".join(words), e))
                return False
            if p.returncode != 0:
                self.fail.append("setup (line %d) exited %s: %s: %s" % (
                    lineno, p.returncode, " ".join(words),
                    p.stdout.decode(errors="replace")[-1000:]))
                return False
        return True

    def start_standin(self, ctx):
        ctx.standin = "http://127.0.0.1:0"  # a placeholder: --jwks does not call Google
        env = self.build_env(ctx)
        ctx.standin = None
        jwks_run = Run([PROGRAM, "--jwks"], env, b"", ctx.tmpdir)
        jwks_file = os.path.join(ctx.tmpdir, "standin-jwks.json")
        with open(jwks_file, "wb") as f:
            # with SIGNING_SERVICE_ACCOUNT there are no local keys: the stand-in gets an empty set
            f.write(jwks_run.stdout if jwks_run.rc == 0 else b'{"keys": []}')
        if jwks_run.rc != 0:
            self.notes.append("token-broker --jwks exited %s: %s" % (
                jwks_run.rc, jwks_run.stderr.decode(errors="replace")[:300]))
        ready = os.path.join(ctx.tmpdir, "standin.ready")
        self.record = os.path.join(ctx.tmpdir, "standin.record")
        log = open(os.path.join(ctx.tmpdir, "standin.log"), "wb")
        proc = subprocess.Popen(
            [PYTHON3, STANDIN, "--port", "0", "--ready-file", ready, "--record", self.record,
             "--jwks", jwks_file, "--mode", ",".join(self.standin_mode)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=ctx.tmpdir,
            start_new_session=True)
        log.close()
        deadline = time.time() + 10
        port = None
        while time.time() < deadline and proc.poll() is None:
            try:
                with open(ready) as f:
                    text = f.read().strip()
                if text.isdigit():
                    port = int(text)
                    break
            except OSError:
                pass
            time.sleep(0.05)
        if port is None:
            self.fail.append("the Google stand-in did not become ready (exit %s): %s" % (
                proc.poll(), self.standin_log(ctx)))
            self.stop_standin(proc)
            return None
        ctx.standin = "http://127.0.0.1:%d" % port
        self.standin_env = {
            "STS_ENDPOINT": ctx.standin,
            "IAMCREDENTIALS_ENDPOINT": ctx.standin,
            "GCE_METADATA_HOST": "127.0.0.1:%d" % port,
        }
        return proc

    @staticmethod
    def standin_log(ctx):
        try:
            with open(os.path.join(ctx.tmpdir, "standin.log"), "rb") as f:
                return f.read()[-1000:].decode(errors="replace")
        except OSError:
            return ""

    @staticmethod
    def stop_standin(proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def route_env(self, env, case_env, route, issuer_path):
        """env for GET route, in the same mount style as the case's own request."""
        e = dict(env)
        for k in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            e.pop(k, None)
        e["REQUEST_METHOD"] = "GET"
        e["QUERY_STRING"] = ""
        if "PATH_INFO" in case_env:
            e["PATH_INFO"] = route
            e["REQUEST_URI"] = case_env.get("SCRIPT_NAME", "") + route
        else:
            old_uri = case_env.get("REQUEST_URI", "").split("?")[0]
            e["REQUEST_URI"] = issuer_path + route
            if case_env.get("SCRIPT_NAME") and case_env["SCRIPT_NAME"] == old_uri:
                e["SCRIPT_NAME"] = e["REQUEST_URI"]  # lighttpd's root mount: SCRIPT_NAME = path
        return e

    def run_in(self, ctx, standin):
        env = self.build_env(ctx)
        if standin is not None:
            env.update(self.standin_env)
        case_env = dict(env)
        args = None
        body = None
        for key, value, lineno in self.lines:
            if key == "args":
                args = substitute(value, ctx, lineno).split()
            elif key == "body":
                body = substitute(value, ctx, lineno).encode()
        if body is not None and "CONTENT_LENGTH" not in env:
            env["CONTENT_LENGTH"] = str(len(body))
        for v in env.values():  # key files named in settings are secrets too
            for piece in v.split(","):
                if piece.startswith("/") and os.path.isfile(piece) and piece.endswith((".pem", ".key")):
                    ctx.secret_files.add(piece)

        dups = self.build_dups(ctx, env)
        if dups:
            why = dup_check()
            if why:
                self.fail.append(why)
                return
        r = Run([PROGRAM] + (args or []), env, body or b"", ctx.tmpdir, dups)
        self.result = r
        records = self.read_records() if standin is not None else None
        if r.timed_out:
            self.fail.append("timed out after %g s" % TIMEOUT)
            return

        want_exit = 0
        for key, value, lineno in self.lines:
            if key == "exit":
                want_exit = int(value)
        self.check(r.rc == want_exit, "exit status %s, wanted %d" % (r.rc, want_exit))

        # stdout: a CGI response, or (with args:) plain output
        doc = None
        status = headers = None
        resp_body = b""
        cgi_mode = args is None
        want_empty = any(k == "stdout" and v.strip() == "empty" for k, v, _ in self.lines)
        if want_empty:
            self.check(r.stdout == b"", "stdout should be empty, has %d bytes: %r" % (
                len(r.stdout), r.stdout[:200]))
        elif cgi_mode and r.stdout:
            try:
                status, headers, resp_body = parse_cgi(r.stdout)
            except ValueError as e:
                self.fail.append("stdout is not a CGI response: %s; stdout starts %r" % (
                    e, r.stdout[:300]))
        elif not cgi_mode:
            resp_body = r.stdout
        if cgi_mode and not want_empty and want_exit == 0 and headers is None and not self.fail:
            self.fail.append("no CGI response on stdout")
        if headers is not None:
            ctypes = [v for n, v in headers if n.lower() == "content-type"]
            self.check(len(ctypes) == 1 and re.match(r"application/json\s*(;|$)", ctypes[0]),
                       "every response has one Content-Type: application/json; got %s" % ctypes)
        wants_json = any(k in ("json", "claim", "jose", "verify", "lifetime")
                         for k, _, _ in self.lines)
        if resp_body.strip() and (headers is not None or wants_json):
            try:
                doc = json.loads(resp_body)
                ctx.resp = doc
            except ValueError as e:
                self.fail.append("body is not JSON (%s): %r" % (e, resp_body[:300]))

        # the ID token, if the response has one
        token_member = next((v.strip() for k, v, _ in self.lines if k == "token-member"), "id_token")
        token = doc.get(token_member) if isinstance(doc, dict) else None
        jose = claims = parts = None
        if isinstance(token, str):
            try:
                jose, claims, parts = split_jwt(token)
                ctx.claims = claims
            except ValueError as e:
                self.fail.append("%s is not a JWT: %s" % (token_member, e))

        # stderr, and the log file when the case names one (LOG_FILE)
        err_text = r.stderr.decode("utf-8", errors="replace")
        err_lines = [l for l in err_text.split("\n") if l.strip()]
        log_lines = list(err_lines)
        for key, value, lineno in self.lines:
            if key == "log-file":
                fname = substitute(value.strip(), ctx, lineno)
                try:
                    with open(fname, encoding="utf-8", errors="replace") as f:
                        log_lines += [l for l in f.read().split("\n") if l.strip()]
                except OSError as e:
                    self.fail.append("log file: %s" % e)
        log_docs = []
        for l in log_lines:
            try:
                d = json.loads(l)
                log_docs.append(d if isinstance(d, dict) else None)
            except ValueError:
                log_docs.append(None)
        stderr_mode = next((v.strip() for k, v, _ in self.lines if k == "stderr"),
                           "json" if (want_exit == 0 and cgi_mode) else "any")
        if stderr_mode == "json":
            for l, d in zip(log_lines, log_docs):
                if d is None:
                    self.fail.append("stderr line is not a JSON object: %r" % l[:300])
                    continue
                missing = [f for f in LOG_FIELDS if f not in d]
                labels = d.get("logging.googleapis.com/labels")
                if missing:
                    self.fail.append("log line lacks %s: %s" % (missing, l[:300]))
                elif not isinstance(labels, dict) or not isinstance(labels.get("event"), str):
                    self.fail.append("log line labels lack an event: %s" % l[:300])
        elif stderr_mode != "any":
            raise CaseError("stderr: json or any")

        # automatic: nothing secret in the logs
        secrets = []
        for v in (token, doc.get("access_token") if isinstance(doc, dict) else None):
            if isinstance(v, str) and len(v) >= BODY_LINE_MIN:
                secrets.append(("a token", v))
        if parts and len(parts[2]) >= BODY_LINE_MIN:
            secrets.append(("the ID token's signature", parts[2]))
        for f in sorted(ctx.secret_files):
            for line in pem_body_lines(f):
                secrets.append(("a PEM line of " + os.path.basename(f), line))
        for what, s in secrets:
            for l in log_lines:
                if s in l:
                    self.fail.append("stderr holds %s: %s" % (what, l[:200]))
                    break

        # automatic: every response is logged (a log line per request outcome)
        if cgi_mode and headers is not None and not log_lines:
            self.fail.append("the response (status %s) was not logged: no log line" % status)

        # explicit checks, in file order; when there is no response at all, one reason is enough
        if cgi_mode and headers is None and not want_empty:
            needs = [k for k, _, _ in self.lines if k in (
                "status", "header", "header~", "no-header", "json", "claim", "jose", "lifetime",
                "verify")]
            if needs:
                self.fail.append("%d response checks not run: no response" % len(needs))
        for key, value, lineno in self.lines:
            if cgi_mode and headers is None and key in (
                    "status", "header", "header~", "no-header", "json", "claim", "jose",
                    "lifetime", "verify"):
                continue
            if key == "stdout~":
                pat = substitute(value, ctx, lineno)
                self.check(re.search(pat, r.stdout.decode(errors="replace"), re.M),
                           "stdout does not match /%s/" % pat)
            elif key == "status":
                self.check(status == int(value), "HTTP status %s, wanted %s" % (status, value))
            elif key in ("header", "header~", "no-header"):
                if headers is None:
                    self.fail.append("line %d: no headers to check" % lineno)
                    continue
                if key == "no-header":
                    name = value.strip()
                    got = [v for n, v in headers if n.lower() == name.lower()]
                    self.check(not got, "header %s should be absent, is %s" % (name, got))
                    continue
                name, sep, want = value.partition(":")
                if not sep:
                    raise CaseError("line %d: %s NAME: VALUE" % (lineno, key))
                want = substitute(want.strip(), ctx, lineno)
                got = [v for n, v in headers if n.lower() == name.strip().lower()]
                if key == "header":
                    ok = want in got
                else:
                    ok = any(re.search(want, v) for v in got)
                self.check(ok, "header %s is %s, wanted %s %r" % (
                    name.strip(), got or "absent", "==" if key == "header" else "~", want))
            elif key == "json":
                if doc is None:
                    self.fail.append("line %d: no JSON body to check %r" % (lineno, value))
                    continue
                why = json_check(doc, value, ctx, lineno)
                if why:
                    self.fail.append("json: " + why)
            elif key in ("claim", "jose"):
                target = claims if key == "claim" else jose
                if target is None:
                    self.fail.append("line %d: no ID token in %s to check %r" % (
                        lineno, token_member, value))
                    continue
                why = json_check(target, value, ctx, lineno)
                if why:
                    self.fail.append(key + ": " + why)
            elif key == "lifetime":
                if claims is None:
                    self.fail.append("line %d: no ID token for lifetime" % lineno)
                    continue
                iat, exp = claims.get("iat"), claims.get("exp")
                ok = JSON_TYPES["integer"](iat) and JSON_TYPES["integer"](exp) and \
                    exp - iat == int(value)
                self.check(ok, "exp - iat: iat=%r exp=%r, wanted a difference of %s" % (
                    iat, exp, value))
            elif key == "verify":
                if value.strip() not in ("jwks", "standin"):
                    raise CaseError("line %d: verify: jwks or verify: standin" % lineno)
                if value.strip() == "standin" and ctx.standin is None:
                    raise CaseError("line %d: verify: standin needs a standin: line" % lineno)
                if parts is None:
                    self.fail.append("line %d: no ID token to verify" % lineno)
                    continue
                self.verify_with_served_jwks(env, case_env, ctx, jose, claims, parts,
                                             value.strip() == "standin")
            elif key == "stderr~":
                pat = substitute(value, ctx, lineno)
                self.check(re.search(pat, err_text, re.M),
                           "stderr does not match /%s/" % pat)
            elif key == "stderr!~":
                pat = substitute(value, ctx, lineno)
                m = re.search(pat, err_text, re.M)
                self.check(not m, "stderr matches /%s/: %r" % (pat, m and m.group(0)))
            elif key == "stderr-lines":
                self.check(len(err_lines) == int(value),
                           "stderr has %d lines, wanted %s" % (len(err_lines), value))
            elif key in ("log", "log!"):
                docs = [d for d in log_docs if d is not None]
                hits = [d for d in docs if json_check(d, value, ctx, lineno) is None]
                if key == "log":
                    self.check(hits, "no log line has %s" % value)
                else:
                    self.check(not hits, "a log line has %s: %s" % (
                        value, json.dumps(hits[0])[:300] if hits else ""))
        if records is not None:
            self.check_upstream(records, ctx)

    def verify_with_served_jwks(self, env, case_env, ctx, jose, claims, parts, at_standin):
        iss = claims.get("iss")
        if not isinstance(iss, str):
            self.fail.append("verify: the ID token has no iss")
            return
        ipath = urllib.parse.urlsplit(iss).path.rstrip("/")
        disc_run = Run([PROGRAM], self.route_env(env, case_env, "/.well-known/openid-configuration",
                                                 ipath), b"", ctx.tmpdir)
        try:
            st, _, body = parse_cgi(disc_run.stdout)
            disc = json.loads(body)
            jwks_uri = disc["jwks_uri"]
        except (ValueError, KeyError, TypeError) as e:
            self.fail.append("verify: discovery failed (exit %s, %s): %r" % (
                disc_run.rc, e, disc_run.stdout[:300]))
            return
        self.check(st == 200, "verify: discovery status %s" % st)
        self.check(disc.get("issuer") == iss, "verify: discovery issuer %r, token iss %r" % (
            disc.get("issuer"), iss))
        jpath = urllib.parse.urlsplit(jwks_uri).path
        if at_standin:  # jwks_uri names Google's key set: fetch that path from the stand-in
            try:
                with urllib.request.urlopen(ctx.standin + jpath, timeout=TIMEOUT) as resp:
                    jwks = json.loads(resp.read())
            except (OSError, ValueError) as e:
                self.fail.append("verify: GET %s from the stand-in: %s" % (jpath, e))
                return
            why = verify_jws(parts, jose, jwks, thumbprint_kids=False)
            if why:
                self.fail.append("verify: " + why)
            return
        if not jwks_uri.startswith(iss + "/") or not jpath.startswith(ipath + "/"):
            self.fail.append("verify: jwks_uri %r is not under the issuer %r" % (jwks_uri, iss))
            return
        jwks_run = Run([PROGRAM], self.route_env(env, case_env, jpath[len(ipath):], ipath), b"",
                       ctx.tmpdir)
        try:
            st, _, body = parse_cgi(jwks_run.stdout)
            jwks = json.loads(body)
        except ValueError as e:
            self.fail.append("verify: GET %s failed (exit %s, %s): %r" % (
                jpath, jwks_run.rc, e, jwks_run.stdout[:300]))
            return
        self.check(st == 200, "verify: GET %s status %s" % (jpath, st))
        why = verify_jws(parts, jose, jwks)
        if why:
            self.fail.append("verify: " + why)

    def read_records(self):
        """The stand-in's record of the requests it got, taken right after the program's run."""
        records = []
        try:
            with open(self.record, encoding="utf-8") as f:
                for l in f:
                    if l.strip():
                        records.append(json.loads(l))
        except FileNotFoundError:
            pass
        except ValueError as e:
            self.fail.append("stand-in record is not JSON lines: %s" % e)
        return records

    def check_upstream(self, records, ctx):
        self.notes.append("upstream requests: %s" % [
            "%s %s" % (r.get("method"), r.get("path")) for r in records])
        for key, value, lineno in self.lines:
            if key == "expect-upstream":
                why = json_check(records, value, ctx, lineno)
                if why:
                    self.fail.append("upstream: " + why)

    def diagnostics(self):
        out = list(self.fail) + self.notes
        r = getattr(self, "result", None)
        if r is not None and (self.fail or os.environ.get("TB_VERBOSE") == "1"):
            out.append("exit status: %s" % r.rc)
            out.append("stdout: %r" % r.stdout[:1500])
            out.append("stderr: %s" % r.stderr.decode(errors="replace")[:2000])
        return out


def tap_diag(lines):
    """TAP comment lines for diagnostics (one per line of text)."""
    return ["# " + piece for line in lines for piece in str(line).split("\n")]


def prepare():
    """None when everything is ready, else (reason, is_tool_missing)."""
    if not HAVE_CRYPTO:
        return "python3-cryptography is not installed", True
    # mkpki.py is idempotent (and regenerates a PKI that is getting old)
    p = subprocess.run([PYTHON3, os.path.join(SRCDIR, "tests", "pki", "mkpki.py"), PKIDIR],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        return "mkpki.py failed: %s" % p.stdout.decode(errors="replace")[-1000:], False
    if not os.access(PROGRAM, os.X_OK):
        return "%s is not built" % PROGRAM, False
    return None


def run_one(n, fname, problem):
    """Runs one case; returns its TAP lines (the runner prints them in case order)."""
    path = os.path.join(CASEDIR, fname)
    if problem is not None:
        reason, tool = problem
        if tool and not IN_CI:
            return ["ok %d - %s # SKIP %s" % (n, fname, reason)]
        return ["not ok %d - %s" % (n, fname)] + tap_diag([reason])
    try:
        case = Case(path)
        if case.skip is not None:
            return ["ok %d - %s # SKIP %s" % (n, case.title(), case.skip.strip())]
        if case.standin_mode is not None and not os.path.isfile(STANDIN):
            return ["ok %d - %s # SKIP stand-in not written yet" % (n, case.title())]
        case.run()
    except CaseError as e:
        return ["not ok %d - %s" % (n, fname)] + tap_diag(["the case file is wrong: %s" % e])
    except Exception:  # a fault of the runner: this case fails, the others still run
        return ["not ok %d - %s" % (n, fname)] + tap_diag(
            ["the runner failed:", traceback.format_exc()])
    if case.fail:
        return ["not ok %d - %s" % (n, case.title())] + tap_diag(case.diagnostics())
    out = ["ok %d - %s" % (n, case.title())]
    if os.environ.get("TB_VERBOSE") == "1":
        out += tap_diag(case.diagnostics())
    return out


def jobs():
    """TB_JOBS, else the CPUs this process may run on. Each case has its own temporary directory
    and its stand-in listens on a port the kernel picks (--port 0), so cases cannot collide."""
    text = os.environ.get("TB_JOBS", "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            sys.exit("run-cases.py: TB_JOBS=%r is not a positive number" % text)
        return int(text)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


def main(argv):
    cases = sorted(f for f in os.listdir(CASEDIR) if f.endswith(".case"))
    if argv[1:]:
        cases = [c for c in cases if any(a in c for a in argv[1:])]
    print("1..%d" % len(cases))
    sys.stdout.flush()
    problem = prepare()
    # cases run in a pool of threads (each spends its time waiting for the program); their
    # results are printed in case order, each as soon as it and all before it are done
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs())
    try:
        results = [pool.submit(run_one, n, fname, problem) for n, fname in enumerate(cases, 1)]
        for fut in results:
            for line in fut.result():
                print(line)
            sys.stdout.flush()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: the running cases finish, no more start
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
