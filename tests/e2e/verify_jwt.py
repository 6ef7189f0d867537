#!/usr/bin/env python3
"""verify_jwt.py: checks a token response from the broker the way a relying party would.

Usage: verify_jwt.py --jwks JWKS.json --iss ISSUER --aud AUDIENCE --cert CLIENT.pem
                     [--alg RS256|ES256] [--validity SECONDS] [--external] RESPONSE.json

Reads the broker's JSON answer, takes its id_token, finds the JWK whose kid the header names
in the JWK Set the server published, checks that kid is the key's RFC 7638 thumbprint, and
verifies the signature (RS256: RSASSA-PKCS1-v1_5 with SHA-256; ES256: ECDSA P-256 with the
raw r||s signature of RFC 7518 3.4). Then the claims: iss, aud, sub = client_id =
client.x5_sha256 = the unpadded base64 SHA-256 of the certificate's DER, client.x5_serial,
client.x5_dnssan, cnf.x5t#S256, exp - iat, and a random-looking jti. With --external the
response must be in the executable-sourced credential form, its expiration_time the
token's exp.

Prints one "# ..." line a finding (TAP diagnostics) and exits 0 when all hold, 1 otherwise.
Needs python3-cryptography.
"""

import argparse
import base64
import hashlib
import json
import re
import sys
import time

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

CLOCK_SKEW = 60  # seconds a test host's clock may differ from itself between steps


def b64url_decode(s):
    if not re.fullmatch(r"[A-Za-z0-9_-]*", s):
        raise ValueError("not unpadded base64url: %r" % s[:40])
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64int(s):
    return int.from_bytes(b64url_decode(s), "big")


def thumbprint(jwk):
    """RFC 7638: SHA-256 of the required members, sorted, no spaces."""
    if jwk["kty"] == "RSA":
        members = {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}
    elif jwk["kty"] == "EC":
        members = {"crv": jwk["crv"], "kty": "EC", "x": jwk["x"], "y": jwk["y"]}
    else:
        raise ValueError("unexpected kty %r" % jwk["kty"])
    canon = json.dumps(members, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return b64url(hashlib.sha256(canon).digest())


def public_key(jwk):
    if jwk["kty"] == "RSA":
        return rsa.RSAPublicNumbers(b64int(jwk["e"]), b64int(jwk["n"])).public_key()
    if jwk.get("crv") != "P-256":
        raise ValueError("unexpected curve %r" % jwk.get("crv"))
    return ec.EllipticCurvePublicNumbers(
        b64int(jwk["x"]), b64int(jwk["y"]), ec.SECP256R1()).public_key()


def verify_signature(alg, key, signing_input, sig):
    if alg == "RS256":
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("RS256 token but the JWK is not RSA")
        key.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValueError("ES256 token but the JWK is not EC")
        if len(sig) != 64:
            raise ValueError("ES256 signature is %d bytes, not 64 (r||s)" % len(sig))
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                   int.from_bytes(sig[32:], "big"))
        key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    else:
        raise ValueError("unexpected alg %r" % alg)


def serial_hex(cert):
    """x5_serial as doc/contract.md section 7: the DER INTEGER's content octets, lower-case, colon-separated
    (a leading 00 kept when the high bit of the first byte is set)."""
    n = cert.serial_number
    raw = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    if raw[0] & 0x80:
        raw = b"\x00" + raw
    return ":".join("%02x" % b for b in raw)


def first_dns_san(cert):
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ""
    names = san.get_values_for_type(x509.DNSName)
    return names[0] if names else ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jwks", required=True)
    ap.add_argument("--iss", required=True)
    ap.add_argument("--aud", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--alg")
    ap.add_argument("--validity", type=int, default=300)
    ap.add_argument("--external", action="store_true")
    ap.add_argument("response")
    a = ap.parse_args()

    problems = []

    def check(cond, what):
        if not cond:
            problems.append(what)
        return cond

    try:
        with open(a.response, "rb") as f:
            resp = json.load(f)
        with open(a.jwks, "rb") as f:
            jwks = json.load(f)
        with open(a.cert, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
    except (OSError, ValueError) as e:
        print("# verify_jwt: cannot read the response, the JWK Set or the certificate: %s" % e)
        return 1

    if a.external:
        check(resp.get("success") is True, "success is not true")
        check(resp.get("version") == 1, "version is not 1")
        check(resp.get("token_type") == "urn:ietf:params:oauth:token-type:id_token",
              "token_type is %r" % resp.get("token_type"))
    token = resp.get("id_token")
    if not isinstance(token, str):
        print("# no id_token in the response")
        return 1

    parts = token.split(".")
    if len(parts) != 3:
        print("# id_token has %d parts, not 3" % len(parts))
        return 1
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        sig = b64url_decode(parts[2])
    except ValueError as e:
        print("# verify_jwt: id_token does not decode: %s" % e)
        return 1

    alg, kid = header.get("alg"), header.get("kid")
    check(header.get("typ") in (None, "JWT"), "typ is %r" % header.get("typ"))
    if a.alg:
        check(alg == a.alg, "alg is %r, expected %r" % (alg, a.alg))
    matches = [k for k in jwks.get("keys", []) if k.get("kid") == kid]
    if check(len(matches) == 1, "kid %r matches %d keys of the JWK Set" % (kid, len(matches))):
        jwk = matches[0]
        check(thumbprint(jwk) == kid, "kid is not the RFC 7638 thumbprint of its key")
        check(jwk.get("alg") in (None, alg), "JWK alg %r, token alg %r" % (jwk.get("alg"), alg))
        try:
            verify_signature(alg, public_key(jwk), (parts[0] + "." + parts[1]).encode("ascii"),
                             sig)
        except InvalidSignature:
            problems.append("signature does not verify")
        except ValueError as e:
            problems.append(str(e))

    der = cert.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).digest()
    x5_sha256 = base64.b64encode(digest).rstrip(b"=").decode("ascii")
    client = claims.get("client") or {}
    now = int(time.time())

    check(claims.get("iss") == a.iss, "iss %r, expected %r" % (claims.get("iss"), a.iss))
    check(claims.get("aud") == a.aud, "aud %r, expected %r" % (claims.get("aud"), a.aud))
    check(client.get("x5_sha256") == x5_sha256,
          "client.x5_sha256 %r, expected %r" % (client.get("x5_sha256"), x5_sha256))
    check(claims.get("client_id") == x5_sha256, "client_id is not x5_sha256")
    check(claims.get("sub") == claims.get("client_id"), "sub is not client_id")
    check(client.get("x5_serial") == serial_hex(cert),
          "client.x5_serial %r, expected %r" % (client.get("x5_serial"), serial_hex(cert)))
    check(client.get("x5_dnssan") == first_dns_san(cert),
          "client.x5_dnssan %r, expected %r" % (client.get("x5_dnssan"), first_dns_san(cert)))
    cnf = claims.get("cnf") or {}
    check(cnf.get("x5t#S256") == b64url(digest), "cnf.x5t#S256 is not the certificate's")
    check(claims.get("amr") == ["mtls-client-credentials"], "amr is %r" % claims.get("amr"))
    iat, exp = claims.get("iat"), claims.get("exp")
    if check(isinstance(iat, int) and isinstance(exp, int), "iat/exp are not integers"):
        check(abs(iat - now) <= CLOCK_SKEW, "iat %d is not now (%d)" % (iat, now))
        check(exp - iat == a.validity, "exp - iat is %d, expected %d" % (exp - iat, a.validity))
        if a.external:
            check(resp.get("expiration_time") == exp,
                  "expiration_time %r is not exp %r" % (resp.get("expiration_time"), exp))
    check(isinstance(claims.get("jti"), str) and len(claims["jti"]) >= 16, "jti missing")

    for p in problems:
        print("# verify_jwt: " + p)
    if not problems:
        print("# verify_jwt: %s kid=%s sub=%s verified" % (alg, kid, claims.get("sub")))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
