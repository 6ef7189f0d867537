#!/usr/bin/env python3
"""standin.py: a loopback stand-in for Google's STS, IAM Credentials and metadata server APIs.

One HTTP/1.1 server (keep-alive, so connection reuse shows) serves all three APIs, checks what it
receives as Google would, and appends one JSON line per request to the record file:
{"method", "path", "headers" (lower-case names), "form" or "json" (the parsed body), "body",
"conn" (client address:port, the same for every request on one TCP connection), "status"}.
Requests to /_control are not recorded.

    python3 standin.py --port 0 --ready-file F --record R --jwks J --mode sts=ok,iam=ok,meta=ok

writes the bound port into F once listening. Point STS_ENDPOINT and IAMCREDENTIALS_ENDPOINT at
http://127.0.0.1:PORT and GCE_METADATA_HOST at 127.0.0.1:PORT.

Endpoints:
  POST /v1/token                                                STS token exchange (RFC 8693)
  POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken IAM Credentials
  POST /v1/projects/-/serviceAccounts/EMAIL:signJwt             IAM Credentials
  GET  /computeMetadata/v1/instance/service-accounts/default/{email,token}   metadata server
  GET  /service_accounts/v1/metadata/jwk/EMAIL                  the key set signJwt signs with
  POST /_control {"sts": MODE, "iam": MODE, "meta": MODE}       change modes; answers the modes
                 {"forget": true}                               also forget the tokens issued,
                                                                so their bearers get 401
  GET  /_control                                                the modes

The ID tokens that STS accepts are JWTs signed (RS256 or ES256, with a kid) by a key in the JWK
Set file given with --jwks (read again on every exchange, so a test may write it late), with aud
"https:" + the STS audience and exp in the future.

Modes (per API: sts, iam, meta): ok, refuse (Google's 4xx), error500, hang (answer nothing for
longer than any client timeout, then close), drop (close without answering), garbage (200 with a
body that is not JSON), huge (200 with a 1 MiB JSON body).

With --fault-by-request each request may also pick its own mode, whatever its API's mode is: an
STS exchange whose scope lists FAULT_SCOPE + MODE (https://standin.test/fault/hang), and an IAM
call for the service account FAULT_ACCOUNT % MODE (fault-hang@test-project.iam...), act out MODE.
For a soak test, whose concurrent requests each want a different fault.

With --delay MS every STS, IAM and metadata request waits MS milliseconds before it is answered
(Google's own latency, for scripts/bench: the broker's overhead is what it adds to that).

With --sa-lifetime S generateAccessToken's tokens expire after S seconds at most, whatever
lifetime was asked for (tests/serve: a cache's refresh shows within seconds).

python3 standard library, plus python3-cryptography for the signatures. Exits cleanly on SIGTERM.
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

MODES = ("ok", "refuse", "error500", "hang", "drop", "garbage", "huge")
APIS = ("sts", "iam", "meta")
HANG_SECONDS = 120
HUGE_BYTES = 1024 * 1024
BODY_MAX = 1024 * 1024
SA_EMAIL = "broker@test-project.iam.gserviceaccount.com"
FAULT_SCOPE = "https://standin.test/fault/"
FAULT_ACCOUNT = "fault-%s@test-project.iam.gserviceaccount.com"

AUDIENCE_RE = re.compile(
    r"^//iam\.googleapis\.com/projects/[0-9]+/locations/global/"
    r"workloadIdentityPools/[a-z0-9-]{4,32}/providers/[a-z0-9-]{4,32}$")
SA_PATH_RE = re.compile(r"^/v1/projects/-/serviceAccounts/([^/:]+):(generateAccessToken|signJwt)$")
META_RE = re.compile(r"^/computeMetadata/v1/instance/service-accounts/([^/]+)/(email|token)$")
JWK_RE = re.compile(r"^/service_accounts/v1/metadata/jwk/([^/]+)$")
LIFETIME_RE = re.compile(r"^[0-9]+s$")

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
SUBJECT_TOKEN_TYPES = ("urn:ietf:params:oauth:token-type:id_token",
                       "urn:ietf:params:oauth:token-type:jwt")

STS_REFUSE = {
    "error": "invalid_target",
    "error_description": "The target service indicated by the \"audience\" parameters is invalid.",
}
IAM_REFUSE = {
    "error": {
        "code": 403,
        "message": "Permission 'iam.serviceAccounts.getAccessToken' denied on resource "
                   "(or it may not exist).",
        "status": "PERMISSION_DENIED",
        "details": [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "IAM_PERMISSION_DENIED",
            "domain": "iam.googleapis.com",
            "metadata": {"permission": "iam.serviceAccounts.getAccessToken"},
        }],
    }
}
IAM_SIGN_REFUSE = {
    "error": {
        "code": 403,
        "message": "Permission 'iam.serviceAccounts.signJwt' denied on resource "
                   "(or it may not exist).",
        "status": "PERMISSION_DENIED",
    }
}
UNAUTHENTICATED = {
    "error": {
        "code": 401,
        "message": "Request had invalid authentication credentials. Expected OAuth 2 access "
                   "token, login cookie or other valid authentication credential. See "
                   "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "status": "UNAUTHENTICATED",
    }
}
INTERNAL = {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text):
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def int_to_b64u(n):
    return b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def b64u_to_int(s):
    return int.from_bytes(b64u_decode(s), "big")


def jwk_public_key(jwk):
    if jwk.get("kty") == "RSA":
        return rsa.RSAPublicNumbers(b64u_to_int(jwk["e"]), b64u_to_int(jwk["n"])).public_key()
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        return ec.EllipticCurvePublicNumbers(b64u_to_int(jwk["x"]), b64u_to_int(jwk["y"]),
                                             ec.SECP256R1()).public_key()
    raise ValueError("unsupported key type")


def verify_jwt(token, jwks_path, audience):
    """Checks an ID token as STS does; returns its claims or raises ValueError(description)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("The subject token is not a valid JWT.")
    try:
        header = json.loads(b64u_decode(parts[0]))
        claims = json.loads(b64u_decode(parts[1]))
        sig = b64u_decode(parts[2])
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError("The subject token could not be decoded: %s" % e)
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("The subject token is not a valid JWT.")
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ("RS256", "ES256"):
        raise ValueError("The subject token's algorithm %r is not supported." % (alg,))
    if not isinstance(kid, str) or not kid:
        raise ValueError("The subject token has no kid.")
    try:
        with open(jwks_path, encoding="utf-8") as f:
            keys = json.load(f).get("keys", [])
    except (OSError, ValueError) as e:
        raise ValueError("The provider's JWK Set could not be read: %s" % e)
    jwk = next((k for k in keys if k.get("kid") == kid), None)
    if jwk is None:
        raise ValueError("No key with kid %s in the provider's JWK Set." % kid)
    key = jwk_public_key(jwk)
    signed = (parts[0] + "." + parts[1]).encode("ascii")
    try:
        if alg == "RS256":
            if not isinstance(key, rsa.RSAPublicKey):
                raise InvalidSignature()
            key.verify(sig, signed, padding.PKCS1v15(), hashes.SHA256())
        else:
            if not isinstance(key, ec.EllipticCurvePublicKey) or len(sig) != 64:
                raise InvalidSignature()
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                       int.from_bytes(sig[32:], "big"))
            key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("The subject token's signature is invalid.")
    want = "https:" + audience
    aud = claims.get("aud")
    if not (aud == want or (isinstance(aud, list) and want in aud)):
        raise ValueError("The audience in ID Token [%s] does not match the expected audience %s."
                         % (aud, want))
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool) or exp <= time.time():
        raise ValueError("ID Token issued at %s is stale to sign-in." % claims.get("iat"))
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise ValueError("The ID token has no sub claim.")
    return claims


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.modes = {api: "ok" for api in APIS}
        for item in filter(None, (args.mode or "").split(",")):
            api, _, mode = item.partition("=")
            if api not in APIS or mode not in MODES:
                raise SystemExit("standin.py: bad --mode item %r" % item)
            self.modes[api] = mode
        self.record = args.record
        self.jwks = args.jwks
        self.fault_by_request = args.fault_by_request
        self.sa_lifetime = args.sa_lifetime
        self.delay = args.delay / 1000.0
        self.sts_tokens = set()
        self.meta_tokens = set()
        self.stop = threading.Event()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pub = self.key.public_key().public_numbers()
        der = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = hashlib.sha1(der).hexdigest()
        self.jwk = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                    "n": int_to_b64u(pub.n), "e": int_to_b64u(pub.e)}

    def mode(self, api):
        with self.lock:
            return self.modes[api]

    def write_record(self, entry):
        if not self.record:
            return
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self.lock:
            with open(self.record, "a", encoding="utf-8") as f:
                f.write(line)

    def sign(self, claims_text):
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        signing_input = (b64u(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64u(claims_text.encode("utf-8")))
        sig = self.key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64u(sig)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client that reuses its connection shows it
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server_version = "ESF"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet: the record file is the log
        pass

    def handle(self):
        try:
            super().handle()
        except OSError:  # a client that went away, or failed the TLS handshake
            self.close_connection = True

    # ---- plumbing --------------------------------------------------------------------------
    def read_body(self):
        n = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        if n is None:
            return b""
        n = int(n)
        if n < 0 or n > BODY_MAX:
            raise ValueError("body too large")
        return self.rfile.read(n)

    def send(self, status, body, content_type="application/json; charset=UTF-8", extra=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def bearer(self):
        auth = self.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else None

    def failure_mode(self, api, mode):
        """Acts out a failure mode; True when it answered (or chose not to)."""
        if mode == "ok" or mode == "refuse":
            return False
        if mode == "hang":
            self.server.state.stop.wait(HANG_SECONDS)
            self.close_connection = True
        elif mode == "drop":
            self.close_connection = True
        elif mode == "error500":
            if api == "meta":
                self.send(500, "Internal Server Error\n", "text/plain; charset=utf-8",
                          {"Metadata-Flavor": "Google"})
            else:
                self.send(500, INTERNAL)
        elif mode == "garbage":
            self.send(200, "<html><body>Service temporarily not JSON</body></html>\n",
                      "text/html")
        elif mode == "huge":
            pad = HUGE_BYTES - 64
            self.send(200, '{"access_token":"%s","accessToken":"x","expires_in":3599}'
                      % ("h" * pad))
        return True

    # ---- dispatch --------------------------------------------------------------------------
    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        self.status = None
        try:
            raw = self.read_body()
        except ValueError:
            self.send(413, {"error": {"code": 413, "message": "Request too large",
                                      "status": "INVALID_ARGUMENT"}})
            return
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        if path == "/_control":
            self.control(method, raw)
            return
        entry = {
            "method": method,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": raw.decode("utf-8", "replace"),
            "conn": "%s:%d" % self.client_address[:2],
            "time": time.time(),
        }
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        form = parsed_json = None
        if ctype == "application/x-www-form-urlencoded":
            try:
                form = urllib.parse.parse_qs(raw.decode("utf-8"), keep_blank_values=True,
                                             strict_parsing=bool(raw))
                entry["form"] = {k: v[0] if len(v) == 1 else v for k, v in form.items()}
            except (ValueError, UnicodeDecodeError):
                entry["form"] = None
        elif ctype == "application/json":
            try:
                parsed_json = json.loads(raw)
                entry["json"] = parsed_json
            except (ValueError, UnicodeDecodeError):
                entry["json"] = None
        # record on arrival: a hanging or dropped request is recorded too
        self.server.state.write_record(entry)

        if path == "/v1/token":
            handler = lambda: self.sts(method, ctype, form, parsed_json)
            api = "sts"
        elif SA_PATH_RE.match(path):
            m = SA_PATH_RE.match(path)
            handler = lambda: self.iam(method, ctype, parsed_json, m.group(1), m.group(2))
            api = "iam"
        elif META_RE.match(path):
            m = META_RE.match(path)
            handler = lambda: self.metadata(method, m.group(1), m.group(2))
            api = "meta"
        elif JWK_RE.match(path):
            self.send(200, {"keys": [self.server.state.jwk]})
            return
        else:
            self.send(404, {"error": {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}})
            return
        mode = self.server.state.mode(api)
        if self.server.state.fault_by_request:
            mode = request_fault(api, form, path) or mode
        self.mode_now = mode  # read once: sts(), iam() and metadata() act on the same mode
        if api == "meta" and self.headers.get("Metadata-Flavor") != "Google":
            # the real metadata server refuses before anything else
            self.send(403, "Missing required header: Metadata-Flavor\n", "text/plain")
            return
        if self.server.state.delay > 0:
            time.sleep(self.server.state.delay)
        if self.failure_mode(api, mode):
            return
        handler()

    def control(self, method, raw):
        state = self.server.state
        if method == "POST":
            try:
                change = json.loads(raw)
                if not isinstance(change, dict):
                    raise ValueError("not an object")
                forget = change.pop("forget", False) is True
                for api, mode in change.items():
                    if api not in APIS or mode not in MODES:
                        raise ValueError("bad mode %s=%s" % (api, mode))
            except ValueError as e:
                self.send(400, {"error": str(e)})
                return
            with state.lock:
                state.modes.update(change)
                if forget:
                    state.sts_tokens.clear()
                    state.meta_tokens.clear()
        elif method != "GET":
            self.send(405, {"error": "method"})
            return
        with state.lock:
            self.send(200, dict(state.modes))

    # ---- STS -------------------------------------------------------------------------------
    def sts_error(self, error, description, status=400):
        self.send(status, {"error": error, "error_description": description})

    def sts(self, method, ctype, form, parsed_json):
        if method != "POST":
            self.send(405, {"error": "invalid_request", "error_description": "POST only"})
            return
        if self.headers.get("Authorization") is not None:
            # a workload identity pool exchange carries no client authentication
            self.sts_error("invalid_client", "Client authentication is not supported here.",
                           401)
            return
        if form is not None:
            if any(isinstance(v, list) and len(v) > 1 for v in form.values()):
                self.sts_error("invalid_request", "A parameter is repeated.")
                return
            fields = {k: v[0] for k, v in form.items()}
        elif isinstance(parsed_json, dict):
            # the JSON form takes camelCase or snake_case names
            alias = {"grantType": "grant_type", "requestedTokenType": "requested_token_type",
                     "subjectToken": "subject_token", "subjectTokenType": "subject_token_type"}
            fields = {alias.get(k, k): v for k, v in parsed_json.items()}
        else:
            self.sts_error("invalid_request", "Invalid request: expected a form-encoded body.")
            return
        if self.mode_now == "refuse":
            self.send(400, STS_REFUSE)
            return
        if fields.get("grant_type") != GRANT_TYPE:
            self.sts_error("unsupported_grant_type",
                           "Invalid value for \"grant_type\": %s" % fields.get("grant_type"))
            return
        if fields.get("requested_token_type") != ACCESS_TOKEN_TYPE:
            self.sts_error("invalid_request", "Invalid value for \"requested_token_type\".")
            return
        if fields.get("subject_token_type") not in SUBJECT_TOKEN_TYPES:
            self.sts_error("invalid_request", "Invalid value for \"subject_token_type\".")
            return
        audience = fields.get("audience")
        if not isinstance(audience, str) or not AUDIENCE_RE.match(audience):
            self.sts_error("invalid_request",
                           "Invalid value for \"audience\". This value should be the full "
                           "resource name of the Identity Provider.")
            return
        scope = fields.get("scope")
        if not isinstance(scope, str) or not scope.strip():
            self.sts_error("invalid_scope", "The \"scope\" parameter is required.")
            return
        token = fields.get("subject_token")
        if not isinstance(token, str) or not token:
            self.sts_error("invalid_request", "The \"subject_token\" parameter is required.")
            return
        try:
            verify_jwt(token, self.server.state.jwks, audience)
        except (ValueError, KeyError) as e:
            self.sts_error("invalid_grant", str(e))
            return
        access = "sts-" + secrets.token_urlsafe(24)
        with self.server.state.lock:
            self.server.state.sts_tokens.add(access)
        self.send(200, {"access_token": access, "issued_token_type": ACCESS_TOKEN_TYPE,
                        "token_type": "Bearer", "expires_in": 3599})

    # ---- IAM Credentials -------------------------------------------------------------------
    def iam_error(self, status, code, message):
        self.send(status, {"error": {"code": status, "message": message, "status": code}})

    def iam(self, method, ctype, body, account, what):
        state = self.server.state
        if method != "POST":
            self.iam_error(404, "NOT_FOUND", "Method not found.")
            return
        bearer = self.bearer()
        issued = state.sts_tokens if what == "generateAccessToken" else state.meta_tokens
        with state.lock:
            known = bearer in issued
        if not known:
            self.send(401, UNAUTHENTICATED, extra={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
            return
        if self.mode_now == "refuse":
            self.send(403, IAM_REFUSE if what == "generateAccessToken" else IAM_SIGN_REFUSE)
            return
        if ctype != "application/json" or not isinstance(body, dict):
            self.iam_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
            return
        if "@" not in account and not account.isdigit():
            self.iam_error(400, "INVALID_ARGUMENT", "Invalid form of account ID %s. Should be "
                           "[Gaia ID |Email |Unique ID |] of the account" % account)
            return
        if what == "generateAccessToken":
            self.generate_access_token(body)
        else:
            self.sign_jwt(body, account)

    def generate_access_token(self, body):
        for k in body:
            if k not in ("scope", "lifetime", "delegates"):
                self.iam_error(400, "INVALID_ARGUMENT",
                               "Invalid JSON payload received. Unknown name \"%s\": Cannot find "
                               "field." % k)
                return
        scope = body.get("scope")
        if (not isinstance(scope, list) or not scope or
                not all(isinstance(s, str) and s for s in scope)):
            self.iam_error(400, "INVALID_ARGUMENT", "Scope required.")
            return
        lifetime = body.get("lifetime", "3600s")
        if not isinstance(lifetime, str) or not LIFETIME_RE.match(lifetime):
            self.iam_error(400, "INVALID_ARGUMENT",
                           "Invalid value at 'lifetime' (type.googleapis.com/google.protobuf."
                           "Duration), Field 'lifetime', Illegal duration format; duration must "
                           "end with 's'")
            return
        seconds = int(lifetime[:-1])
        if seconds < 1 or seconds > 3600:
            self.iam_error(400, "INVALID_ARGUMENT",
                           "Lifetime must be between 1 and 3600 seconds.")
            return
        cap = self.server.state.sa_lifetime
        if cap:  # --sa-lifetime: shorter tokens than asked for, as a test of refreshing needs
            seconds = min(seconds, cap)
        self.send(200, {"accessToken": "sa-" + secrets.token_urlsafe(24),
                        "expireTime": rfc3339(time.time() + seconds)})

    def sign_jwt(self, body, account):
        for k in body:
            if k not in ("payload", "delegates"):
                self.iam_error(400, "INVALID_ARGUMENT",
                               "Invalid JSON payload received. Unknown name \"%s\": Cannot find "
                               "field." % k)
                return
        payload = body.get("payload")
        try:
            if not isinstance(payload, str):
                raise ValueError()
            claims = json.loads(payload)
            if not isinstance(claims, dict):
                raise ValueError()
        except ValueError:
            self.iam_error(400, "INVALID_ARGUMENT", "Payload must be a JSON object.")
            return
        exp = claims.get("exp")
        if exp is not None:
            if not isinstance(exp, int) or isinstance(exp, bool):
                self.iam_error(400, "INVALID_ARGUMENT", "exp must be an integer.")
                return
            if exp < time.time():
                self.iam_error(400, "INVALID_ARGUMENT", "JWT has expired.")
                return
            if exp > time.time() + 12 * 3600:
                self.iam_error(400, "INVALID_ARGUMENT",
                               "JWT validity cannot exceed 12 hours.")
                return
        state = self.server.state
        self.send(200, {"keyId": state.kid, "signedJwt": state.sign(payload)})

    # ---- metadata server -------------------------------------------------------------------
    def metadata(self, method, account, what):
        state = self.server.state
        flavor = {"Metadata-Flavor": "Google"}
        if method != "GET":
            self.send(405, "Method Not Allowed\n", "text/plain", flavor)
            return
        if self.mode_now == "refuse":
            self.send(403, "Your client does not have permission to get URL %s from this server.\n"
                      % self.path, "text/html", flavor)
            return
        if account not in ("default", SA_EMAIL):
            self.send(404, "Not Found\n", "text/html", flavor)
            return
        if what == "email":
            self.send(200, SA_EMAIL, "application/text", flavor)
            return
        token = "meta-" + secrets.token_urlsafe(24)
        with state.lock:
            state.meta_tokens.add(token)
        self.send(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"},
                  "application/json", flavor)


def request_fault(api, form, path):
    """The mode a request picks for itself under --fault-by-request, or None."""
    if api == "sts" and form is not None:
        for item in " ".join(form.get("scope", [])).split():
            if item.startswith(FAULT_SCOPE) and item[len(FAULT_SCOPE):] in MODES:
                return item[len(FAULT_SCOPE):]
    m = SA_PATH_RE.match(path)
    if api == "iam" and m:
        for mode in MODES:
            if m.group(1) == FAULT_ACCOUNT % mode:
                return mode
    return None


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging handler does not hold the process at exit
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--ready-file", required=True, help="the bound port is written here")
    ap.add_argument("--record", help="append one JSON line per request here")
    ap.add_argument("--jwks", help="the JWK Set that verifies subject tokens")
    ap.add_argument("--mode", default="", help="sts=MODE,iam=MODE,meta=MODE")
    ap.add_argument("--tls-cert", help="serve https with this certificate (PEM, chain first)")
    ap.add_argument("--tls-key", help="the certificate's private key (PEM)")
    ap.add_argument("--sa-lifetime", type=int, default=0,
                    help="generateAccessToken tokens live at most this many seconds")
    ap.add_argument("--fault-by-request", action="store_true",
                    help="a request may pick its own mode (FAULT_SCOPE, FAULT_ACCOUNT)")
    ap.add_argument("--delay", type=float, default=0.0,
                    help="milliseconds to wait before answering an API request (default 0)")
    args = ap.parse_args()

    state = State(args)
    server = Server((args.host, args.port), Handler)
    server.state = state
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        # the handshake happens on first read, in the handler thread, not in accept()
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)

    def on_term(signum, frame):
        state.stop.set()
        # shutdown() waits for serve_forever, which runs in this thread: do it from another
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
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
