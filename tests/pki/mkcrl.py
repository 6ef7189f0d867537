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
  --der                      write DER instead of PEM
  --append                   append to FILE (PEM: several CRLs in one file)

The module's make_crl() is what mkpki.py uses for the fixed CRLs of the test PKI.
"""

import argparse
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
             delta=False, no_next_update=False):
    """A signed x509.CertificateRevocationList. revoked: (serial, when, reason or None)."""
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    this_update = this_update or now - datetime.timedelta(hours=1)
    b = x509.CertificateRevocationListBuilder().issuer_name(issuer_name)
    b = b.last_update(this_update)
    if not no_next_update:
        b = b.next_update(next_update or now + datetime.timedelta(days=7))
    b = b.add_extension(x509.CRLNumber(number if number is not None else int(now.timestamp())),
                        critical=False)
    if delta:
        b = b.add_extension(x509.DeltaCRLIndicator(1), critical=True)
    for serial, when, reason in revoked:
        rb = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
        if reason is not None:
            rb = rb.add_extension(x509.CRLReason(reason), critical=False)
        b = b.add_revoked_certificate(rb.build())
    return b.sign(key, hashes.SHA256())


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
                   number=a.number, delta=a.delta, no_next_update=a.no_next_update)
    data = crl.public_bytes(serialization.Encoding.DER if a.der else serialization.Encoding.PEM)
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
