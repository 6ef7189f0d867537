#!/usr/bin/env python3
"""record.py: checks the requests tests/google/standin.py recorded against what Google documents.

    record.py ok RECORD DIR PORT     after `test_google ok`: shapes, connection reuse, caching,
                                     and the signJwt result verified with the stand-in's keys
    record.py fail RECORD MODE       after `test_google fail MODE`: every API was reached
    record.py none RECORD            nothing was recorded (the TLS handshake failed first)

Prints TAP (google.sh renumbers it into its own stream).
"""

import base64
import json
import sys
import urllib.request

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

AUDIENCE = ("//iam.googleapis.com/projects/123456789012/locations/global/"
            "workloadIdentityPools/test-pool/providers/test-provider")
SCOPES = ["https://www.googleapis.com/auth/cloud-platform",
          "https://www.googleapis.com/auth/userinfo.email"]
SA_PATH = ("/v1/projects/-/serviceAccounts/sa@test-project.iam.gserviceaccount.com:"
           "generateAccessToken")
META_SA = "broker@test-project.iam.gserviceaccount.com"
SIGN_PATH = "/v1/projects/-/serviceAccounts/%s:signJwt" % META_SA
EMAIL_PATH = "/computeMetadata/v1/instance/service-accounts/default/email"
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
STS_FIELDS = {"grant_type", "audience", "scope", "requested_token_type", "subject_token",
              "subject_token_type"}

n = 0
failed = 0


def ok(cond, name, diag=None):
    global n, failed
    n += 1
    print("%sok %d - %s" % ("" if cond else "not ", n, name))
    if not cond:
        failed += 1
        if diag is not None:
            for line in str(diag).splitlines():
                print("#   " + line)


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def check_ok(records, directory, port):
    ok(len(records) > 0, "the stand-in recorded %d requests" % len(records))
    conns = {r["conn"] for r in records}
    ok(len(conns) == 1, "every call on one struct tb_google used ONE TCP connection", conns)
    ok(all(r["headers"].get("user-agent", "").startswith("token-broker") for r in records),
       "every request says User-Agent: token-broker")
    ok(all("expect" not in r["headers"] for r in records),
       "no request waits on Expect: 100-continue")

    sts = [r for r in records if r["path"] == "/v1/token"]
    ok(len(sts) == 6, "six STS requests (the invalid inputs sent none)", len(sts))
    ok(all(r["method"] == "POST" for r in sts), "STS: POST")
    ok(all(r["headers"].get("content-type") == "application/x-www-form-urlencoded" for r in sts),
       "STS: Content-Type application/x-www-form-urlencoded")
    ok(all("authorization" not in r["headers"] for r in sts), "STS: no Authorization header")
    ok(all(set(r.get("form") or {}) == STS_FIELDS for r in sts),
       "STS: exactly the six RFC 8693 fields", [sorted(r.get("form") or {}) for r in sts])
    first = sts[0].get("form") or {}
    ok(first.get("grant_type") == "urn:ietf:params:oauth:grant-type:token-exchange",
       "STS: grant_type token-exchange")
    ok(first.get("requested_token_type") == "urn:ietf:params:oauth:token-type:access_token",
       "STS: requested_token_type access_token")
    ok(first.get("subject_token_type") == "urn:ietf:params:oauth:token-type:id_token",
       "STS: subject_token_type id_token")
    ok(first.get("audience") == AUDIENCE, "STS: audience as given", first.get("audience"))
    ok(first.get("scope") == " ".join(SCOPES), "STS: scope as given, space-separated")
    ok(first.get("subject_token", "").count(".") == 2, "STS: subject_token is the JWT")
    ok("%20" in sts[0]["body"] and "+" not in sts[0]["body"],
       "STS: the body is percent-encoded (space as %20)")

    gat = [r for r in records if r["path"].endswith(":generateAccessToken")]
    ok(len(gat) == 4, "four generateAccessToken requests (invalid inputs sent none)", len(gat))
    ok(all(r["path"] == SA_PATH and r["method"] == "POST" for r in gat),
       "generateAccessToken: POST to the account's path", [r["path"] for r in gat])
    ok(all(r["headers"].get("content-type") == "application/json" for r in gat),
       "generateAccessToken: Content-Type application/json")
    ok(gat[0].get("json") == {"scope": SCOPES, "lifetime": "300s"},
       "generateAccessToken: body {\"scope\": [split scopes], \"lifetime\": \"300s\"}",
       gat[0].get("json"))
    ok(all(r["headers"].get("authorization", "").startswith("Bearer sts-") for r in gat),
       "generateAccessToken: Authorization: Bearer <STS token>")
    ok(gat[3].get("json", {}).get("lifetime") == "7200s", "the lifetime is passed as given")

    meta = [r for r in records if r["path"].startswith("/computeMetadata/")]
    ok(all(r["headers"].get("metadata-flavor") == "Google" for r in meta),
       "metadata: every request carries Metadata-Flavor: Google")
    ok(all("authorization" not in r["headers"] and r["method"] == "GET" for r in meta),
       "metadata: GET without Authorization")
    ok(sum(r["path"] == EMAIL_PATH for r in meta) == 1,
       "metadata: the email is asked for once (cached)")

    # the order of metadata-token and signJwt requests shows the token cache
    seq = ["token" if r["path"] == TOKEN_PATH else "sign" for r in records
           if r["path"] == TOKEN_PATH or r["path"].endswith(":signJwt")]
    want = ["token", "sign", "sign", "token", "sign", "sign", "sign", "token", "sign", "sign"]
    ok(seq == want, "metadata token: one request for two signJwt calls; renewed 60 s before "
       "expiry; renewed once after a 401", " ".join(seq))
    sign = [r for r in records if r["path"].endswith(":signJwt")]
    ok(all(r["headers"].get("authorization", "").startswith("Bearer meta-") for r in sign),
       "signJwt: Authorization: Bearer <metadata token>")
    ok(sign[0]["path"] == SIGN_PATH, "signJwt: \"default\" resolved to the metadata account",
       sign[0]["path"])
    ok(sign[3]["path"] == SIGN_PATH.replace("broker@", "other@"),
       "signJwt: a named account in the path", sign[3]["path"])
    with open(directory + "/payload.json", encoding="utf-8") as f:
        payload = f.read()
    ok(sign[0].get("json") == {"payload": payload},
       "signJwt: body {\"payload\": <claims JSON as a string>}", sign[0].get("json"))
    ok(sign[0]["headers"].get("content-type") == "application/json",
       "signJwt: Content-Type application/json")
    same_bearer = (sign[0]["headers"].get("authorization") ==
                   sign[1]["headers"].get("authorization"))
    ok(same_bearer, "signJwt: the cached token is the one reused")

    # the JWT signJwt gave back verifies with the key set Google publishes for the account
    try:
        with open(directory + "/signed.jwt", encoding="ascii") as f:
            jwt = f.read().strip()
        url = "http://127.0.0.1:%s/service_accounts/v1/metadata/jwk/%s" % (port, META_SA)
        with urllib.request.urlopen(url, timeout=5) as resp:
            jwks = json.load(resp)
        h, c, s = jwt.split(".")
        header = json.loads(b64u_decode(h))
        key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
        pub = rsa.RSAPublicNumbers(int.from_bytes(b64u_decode(key["e"]), "big"),
                                   int.from_bytes(b64u_decode(key["n"]), "big")).public_key()
        pub.verify(b64u_decode(s), (h + "." + c).encode(), padding.PKCS1v15(), hashes.SHA256())
        good = header.get("alg") == "RS256" and json.loads(b64u_decode(c)) == json.loads(payload)
        ok(good, "the signed JWT verifies with the account's JWK Set and carries the claims")
    except Exception as e:  # any failure is the test's failure
        ok(False, "the signed JWT verifies with the account's JWK Set", repr(e))


def check_fail(records, mode):
    paths = [r["path"] for r in records]
    ok(any(p == "/v1/token" for p in paths), "%s: STS was reached" % mode)
    ok(any(p.endswith(":generateAccessToken") for p in paths),
       "%s: generateAccessToken was reached" % mode)
    ok(any(p.endswith(":signJwt") for p in paths), "%s: signJwt was reached" % mode)
    ok(any(p == EMAIL_PATH for p in paths), "%s: the metadata email was reached" % mode)
    ok(any(p == TOKEN_PATH for p in paths), "%s: the metadata token was reached" % mode)


def main(argv):
    what = argv[1]
    records = load(argv[2])
    if what == "ok":
        check_ok(records, argv[3], argv[4])
    elif what == "fail":
        check_fail(records, argv[3])
    elif what == "none":
        ok(records == [], "no request reached the server", records)
    else:
        ok(False, "unknown check %s" % what)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
