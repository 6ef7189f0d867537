#!/usr/bin/env python3
"""signcsr.py: issues a client certificate from the test PKI's CA for a CSR made in hardware.

Usage: signcsr.py PKI_DIR CSR OUT DNS_NAME

The CSR's self-signature must verify (it was made with the key inside the TPM or token, so
this shows the device signs with the key whose public half it names). The certificate is a
leaf of PKI_DIR/ca.pem, as tests/pki/mkpki.py makes them (clientAuth, the DNS SAN given),
for the key in the CSR; written to OUT.
"""

import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pki"))
import mkpki  # noqa: E402 (the test PKI's own leaf maker)


class _CsrKey:
    """What mkpki.make_leaf takes as the subject's key: something with a public_key()."""

    def __init__(self, csr):
        self._csr = csr

    def public_key(self):
        return self._csr.public_key()


def main(argv):
    if len(argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    pki, csr_file, out, dns = argv[1:5]
    with open(csr_file, "rb") as f:
        csr = x509.load_pem_x509_csr(f.read())
    if not csr.is_signature_valid:
        sys.stderr.write("signcsr.py: %s: the CSR's signature does not verify\n" % csr_file)
        return 1
    with open(os.path.join(pki, "ca.pem"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(pki, "ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    cert = mkpki.make_leaf(csr.subject, _CsrKey(csr), ca, ca_key, now,
                           sans=[x509.DNSName(dns)], eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    with open(out, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
