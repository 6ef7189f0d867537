#!/usr/bin/env python3
"""mkcrl.py: makes CRLs for the tests (python3-cryptography, which signs with OpenSSL).

Usage: mkcrl.py --ca CA.pem --key CA.key --out FILE [options]

  --revoke SERIAL            list a serial (hex, colons allowed), or @FILE: that certificate's
  --reason NAME              the CRLReason of the listed serials (keyCompromise, ...)
  --count N                  list N more random 16-octet serials (large CRLs for benchmarks)
  --this-update-hours H      thisUpdate H hours ago (default 1)
  --next-update-hours H      nextUpdate H hours from now (default 168; negative: in the past)
  --no-next-update           no nextUpdate at all
  --number N                 the CRL number (default: seconds since the epoch)
  --issuer-from FILE         put this certificate's subject as the issuer (with another CA's
                             key: a CRL whose signature does not verify)
  --delta                    add a delta CRL indicator
  --indirect                 add an issuing distribution point marking it an indirect CRL
  --der                      write DER instead of PEM
  --append                   append to FILE (PEM: several CRLs in one file)

The module's make_crl() is what mkpki.py uses for the fixed CRLs of the test PKI.
"""

import argparse
import base64
import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID  # noqa: F401 (re-exported for mkpki.py)

UTC = datetime.timezone.utc
REASONS = {r.name: r for r in x509.ReasonFlags}
REASONS.update({"keyCompromise": x509.ReasonFlags.key_compromise,
                "cACompromise": x509.ReasonFlags.ca_compromise,
                "affiliationChanged": x509.ReasonFlags.affiliation_changed,
                "superseded": x509.ReasonFlags.superseded,
                "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
                "certificateHold": x509.ReasonFlags.certificate_hold,
                "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn})


def make_crl(issuer_name, key, revoked=(), this_update=None, next_update=None, number=None,
             delta=False, no_next_update=False, indirect=False):
    """A signed x509.CertificateRevocationList. revoked: (serial, when, reason or None)."""
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    this_update = this_update or now - datetime.timedelta(hours=1)
    b = x509.CertificateRevocationListBuilder().issuer_name(issuer_name)
    b = b.last_update(this_update)
    # cryptography insists on a nextUpdate: a CRL without one is signed first with one, which
    # without_next_update() then takes out
    b = b.next_update(next_update or now + datetime.timedelta(days=7))
    b = b.add_extension(x509.CRLNumber(number if number is not None else int(now.timestamp())),
                        critical=False)
    if delta:
        b = b.add_extension(x509.DeltaCRLIndicator(1), critical=True)
    if indirect:  # RFC 5280 section 5.2.5: the IDP is critical
        b = b.add_extension(x509.IssuingDistributionPoint(
            full_name=None, relative_name=None, only_contains_user_certs=False,
            only_contains_ca_certs=False, only_some_reasons=None, indirect_crl=True,
            only_contains_attribute_certs=False), critical=True)
    for serial, when, reason in revoked:
        rb = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
        if reason is not None:
            rb = rb.add_extension(x509.CRLReason(reason), critical=False)
        b = b.add_revoked_certificate(rb.build())
    crl = b.sign(key, hashes.SHA256())
    return without_next_update(crl, key) if no_next_update else crl


def _tlv(data, i):
    """The DER element at data[i:]: (its end, where its content starts)."""
    n = data[i + 1]
    if n < 0x80:
        return i + 2 + n, i + 2
    k = n & 0x7F
    n = int.from_bytes(data[i + 2:i + 2 + k], "big")
    return i + 2 + k + n, i + 2 + k


def without_next_update(crl, key):
    """crl re-signed with key after taking its nextUpdate out (RFC 5280 makes it optional)."""
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    tbs = crl.tbs_certlist_bytes
    end, i = _tlv(tbs, 0)
    fields = []
    while i < end:
        nxt, _ = _tlv(tbs, i)
        fields.append(tbs[i:nxt])
        i = nxt
    # version, signature, issuer, thisUpdate, nextUpdate (UTCTime or GeneralizedTime), ...
    assert fields[4][0] in (0x17, 0x18)
    tbs = _der(0x30, b"".join(fields[:4] + fields[5:]))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        sig = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    else:
        sig = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    der = crl.public_bytes(serialization.Encoding.DER)
    _, i = _tlv(der, 0)
    i, _ = _tlv(der, i)  # past the old tbsCertList: the signatureAlgorithm follows
    alg_end, _ = _tlv(der, i)
    return x509.load_der_x509_crl(_der(0x30, tbs + der[i:alg_end] + _der(0x03, b"\x00" + sig)))


def _der(tag, body):
    n = len(body)
    if n < 0x80:
        head = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + head + body


def _int(v):
    return _der(0x02, v.to_bytes(v.bit_length() // 8 + 1, "big"))


def _utc(t):
    return _der(0x17, t.strftime("%y%m%d%H%M%SZ").encode())


def big_crl_der(ca, key, count, this_update, next_update, number):
    """A CRL of count random serials, DER-encoded by hand: cryptography's builder takes minutes
    for a million entries, this takes seconds. EC CA keys only (ecdsa-with-SHA256)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    alg = bytes.fromhex("300a06082a8648ce3d040302")
    when = _utc(this_update)
    entries = b"".join(_der(0x30, _int(int.from_bytes(os.urandom(16), "big") >> 1 | 1) + when)
                       for _ in range(count))
    crl_number = _der(0x30, bytes.fromhex("0603551d14") + _der(0x04, _int(number)))
    tbs = _der(0x30, _int(1) + alg + ca.subject.public_bytes() + _utc(this_update) +
               _utc(next_update) + (_der(0x30, entries) if count else b"") +
               _der(0xA0, _der(0x30, crl_number)))
    sig = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return _der(0x30, tbs + alg + _der(0x03, b"\x00" + sig))


def serial_of(text):
    if text.startswith("@"):
        with open(text[1:], "rb") as f:
            return x509.load_pem_x509_certificate(f.read()).serial_number
    return int(text.replace(":", ""), 16)


def main(argv):
    ap = argparse.ArgumentParser(description="makes a CRL for the tests")
    ap.add_argument("--ca", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--revoke", action="append", default=[])
    ap.add_argument("--reason")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--this-update-hours", type=float)
    ap.add_argument("--next-update-hours", type=float, default=168)
    ap.add_argument("--no-next-update", action="store_true")
    ap.add_argument("--number", type=int)
    ap.add_argument("--issuer-from")
    ap.add_argument("--delta", action="store_true")
    ap.add_argument("--indirect", action="store_true")
    ap.add_argument("--der", action="store_true")
    ap.add_argument("--append", action="store_true")
    a = ap.parse_args(argv)
    with open(a.ca, "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(a.key, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    issuer = ca.subject
    if a.issuer_from:
        with open(a.issuer_from, "rb") as f:
            issuer = x509.load_pem_x509_certificate(f.read()).subject
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    when = now - datetime.timedelta(minutes=30)
    if a.count > 1000 and not (a.revoke or a.issuer_from or a.delta or a.no_next_update or
                                 a.indirect):
        this_update = now - datetime.timedelta(hours=a.this_update_hours or 1)
        der = big_crl_der(ca, key, a.count, this_update,
                          now + datetime.timedelta(hours=a.next_update_hours),
                          a.number if a.number is not None else int(now.timestamp()))
        data = der if a.der else (b"-----BEGIN X509 CRL-----\n" + base64.encodebytes(der) +
                                  b"-----END X509 CRL-----\n")
        return write_out(a, data)
    revoked = []
    for item in a.revoke:
        revoked.append((serial_of(item), when, REASONS[a.reason] if a.reason else None))
    for _ in range(a.count):
        revoked.append((int.from_bytes(os.urandom(16), "big") >> 1 | 1, when, None))
    if a.this_update_hours is None:  # an hour ago, or a day before a nextUpdate in the past
        a.this_update_hours = max(1, 24 - a.next_update_hours)
    crl = make_crl(issuer, key, revoked,
                   this_update=now - datetime.timedelta(hours=a.this_update_hours),
                   next_update=now + datetime.timedelta(hours=a.next_update_hours),
                   number=a.number, delta=a.delta, no_next_update=a.no_next_update,
                   indirect=a.indirect)
    data = crl.public_bytes(serialization.Encoding.DER if a.der else serialization.Encoding.PEM)
    return write_out(a, data)


def write_out(a, data):
    # a dot file: the broker skips those in a CRL directory, and never reads half a CRL
    tmp = os.path.join(os.path.dirname(a.out) or ".", "." + os.path.basename(a.out) + ".tmp")
    if a.append:
        with open(a.out, "ab") as f:
            f.write(data)
    else:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
