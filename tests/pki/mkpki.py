#!/usr/bin/env python3
"""mkpki.py: generates the test PKI that every test layer (CGI cases, end-to-end servers) uses.

Usage: mkpki.py OUTDIR

Writes PEM files into OUTDIR and then OUTDIR/.done. A second run finds .done and does nothing,
unless .done is older than REGENERATE_DAYS (the short-lived certificates would soon expire), so
a build tree kept for weeks still tests with valid certificates. Several test programs may call
this at once (make -j check): an exclusive lock on OUTDIR/.lock serialises them.

Files (names are an interface: other layers rely on them):
  ca.pem/ca.key                 test root CA (EC P-256)
  server.pem/server.key         CN=localhost, SAN DNS:localhost, IP:127.0.0.1, serverAuth
  client.pem/client.key         CN=client.example.net, O=Example; SAN DNS:client.example.net,
                                DNS:alt.example.net; serial 0xC977..FD (DER has a leading 00)
  spiffe.pem/.key               SAN URI:spiffe://example.org/ns/prod/sa/batch,
                                URI:https://batch.example.org/
  urifirst.pem/.key             SAN URI:https://web.example.org/, URI:spiffe://example.org/web
  nosan.pem/.key                CN only
  expired.pem/.key              valid 2020-01-01 .. 2021-01-01
  future.pem/.key               valid from 2090-01-01
  caleaf.pem/.key               basicConstraints CA:TRUE, signed by the CA
  ou60.pem/.key                 CN=ou60.example.net, O=Example and 60 OU attributes of 60
                                characters: an RFC 4514 subject of 3869 bytes (the broker takes
                                up to 4096), for the log line cap
  untrusted-ca.pem/.key         another root
  untrusted.pem/.key            client certificate signed by untrusted-ca
  signing-rsa.pem               RSA 2048 private key (PKCS#8)
  signing-ec.pem                EC P-256 private key (PKCS#8)
  signing-rsa1024.pem           RSA 1024 (the broker must refuse it)
  signing-p384.pem              EC P-384 (the broker must refuse it)
  signing-rsa-0644.pem          signing-rsa.pem readable by others (refused), and
  signing-rsa-0640.pem          readable by its group (accepted); modes set with chmod
  registry-0644.json            a registry naming client.pem (dnssan client.example.net) as
  registry-0664.json            "files-client": as it should be (0644), writable by group
  registry-0646.json            (0664) and by others (0646), both refused
  client2.pem/.key              CN=client2.example.net, O=Example; SAN DNS:client2.example.net:
                                a second client of the CA (the one a CRL does not list)
  cas.pem                       ca.pem and untrusted-ca.pem in one bundle (CLIENT_CA_FILE with
                                two CAs)
The CRLs (made with mkcrl.make_crl; "current" means thisUpdate an hour before generation and
nextUpdate CRL_DAYS after, so it stays current for the life of the PKI):
  crl/ca-empty.pem              the CA's current CRL listing nothing (CRL number 1)
  crl/ca-client.pem             the CA's current CRL listing client.pem, revoked at REVOKED_AT
                                (2024-05-06T07:08:09Z), reason keyCompromise, beside two other
                                serials (number 2)
  crl/ca-client.der             the same CRL in DER
  crl/ca-expired.pem            the CA's CRL listing nothing, thisUpdate 2020-01-01T00:00:00Z,
                                nextUpdate 2020-02-01T00:00:00Z (out of date)
  crl/ca-expired-client.pem     the same dates, listing client.pem
  crl/ca-no-next-update.pem     the CA's CRL without nextUpdate (thisUpdate 2020-01-01), empty
  crl/ca-badsig.pem             names the CA as issuer but is signed by untrusted-ca.key
  crl/ca-delta.pem              a delta CRL of the CA
  crl/ca-indirect.pem           an indirect CRL of the CA (issuing distribution point)
  crl/ca-empty-0664.pem         ca-empty.pem writable by its group (refused)
  crl/untrusted-empty.pem       untrusted-ca's current CRL listing nothing (an unknown issuer
                                when CLIENT_CA_FILE is ca.pem alone)
  crl/untrusted-client.pem      untrusted-ca's current CRL listing client.pem's serial (a CRL of
                                another issuer: it does not revoke client.pem)
  crl/garbage.pem               a PEM "X509 CRL" block whose content is not a CRL
  crl/newest-a-old-revokes.pem  the CA's CRL of thisUpdate 2 h before generation, number 100,
                                listing client.pem
  crl/newest-b-new-empty.pem    thisUpdate 1 h before (newer than a despite number 1), empty
  crl/newest-c-new-revokes.pem  the same thisUpdate as b, number 2 (newer than b), listing
                                client.pem
  crl/multi.pem                 a, b and untrusted-empty in one PEM file
  crl-dir/                      a CRL directory: 10-ca.pem (= ca-client.pem), 20-untrusted.der
                                (untrusted-empty in DER), and what the broker must skip: the
                                dot file .30-partial.tmp and the directory sub/ (garbage both)
The registry's fleet certificates (groups, CA binding) are listed in fleet()'s docstring.
Leaf certificates are valid from yesterday to +30 days unless said otherwise; the CAs from
2019-12-01 to +10 years, so that the expired and the future leaf lie inside their issuer's span
where it matters and the CAs never expire during a build tree's life.
"""

import datetime
import fcntl
import ipaddress
import os
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkcrl  # noqa: E402 (beside this file)

REGENERATE_DAYS = 14
PKI_VERSION = 5  # bumped when a file is added: a PKI of another version is made again
OU_COUNT, OU_LEN = 60, 60  # ou60.pem: a subject just under cert.c's 4096-byte cap
CLIENT_SERIAL = 0xC97771DBA8B770E1B6A73F4C9180427277B5FD  # high bit set: DER keeps a 00 byte
CRL_DAYS = 4 * REGENERATE_DAYS  # a current CRL outlives the PKI it belongs to
REVOKED_AT = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
OLD_THIS_UPDATE = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
OLD_NEXT_UPDATE = datetime.datetime(2020, 2, 1, tzinfo=datetime.timezone.utc)
GARBAGE_CRL = b"-----BEGIN X509 CRL-----\nbm90IGEgQ1JMIGF0IGFsbA==\n-----END X509 CRL-----\n"

UTC = datetime.timezone.utc


def ec_key(curve=None):
    return ec.generate_private_key(curve or ec.SECP256R1())


def key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def name(cn, org=None):
    attrs = []
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def make_ca(cn, key, now):
    subject = name(cn, "token-broker tests")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2019, 12, 1, tzinfo=UTC))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return builder.sign(key, hashes.SHA256())


def make_leaf(subject, key, ca_cert, ca_key, now, *, sans=None, eku=None, serial=None,
              not_before=None, not_after=None, is_ca=False):
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before or now - datetime.timedelta(days=1))
        .not_valid_after(not_after or now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False)
    )
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    else:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=True, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def write(outdir, fname, data, private=False):
    path = os.path.join(outdir, fname)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_mode(outdir, fname, data, mode):
    """Writes a file with exactly this mode: chmod after the write, so no umask changes it."""
    write(outdir, fname, data)
    os.chmod(os.path.join(outdir, fname), mode)


REGISTRY = b'''{"clients": [{"client_id": "files-client", "match": {"dnssan": "client.example.net"}}]}
'''


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def generate(outdir):
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    client_eku = [ExtendedKeyUsageOID.CLIENT_AUTH]

    ca_key = ec_key()
    ca = make_ca("token-broker test CA", ca_key, now)
    write(outdir, "ca.pem", cert_pem(ca))
    write(outdir, "ca.key", key_pem(ca_key), private=True)

    def leaf(fname, subject, **kw):
        issuer_cert = kw.pop("issuer_cert", ca)
        issuer_key = kw.pop("issuer_key", ca_key)
        key = ec_key()
        cert = make_leaf(subject, key, issuer_cert, issuer_key, now, **kw)
        write(outdir, fname + ".pem", cert_pem(cert))
        write(outdir, fname + ".key", key_pem(key), private=True)

    leaf("server", name("localhost"),
         sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
         eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    leaf("client", name("client.example.net", "Example"),
         sans=[x509.DNSName("client.example.net"), x509.DNSName("alt.example.net")],
         eku=client_eku, serial=CLIENT_SERIAL)
    leaf("spiffe", name("batch.example.org"),
         sans=[x509.UniformResourceIdentifier("spiffe://example.org/ns/prod/sa/batch"),
               x509.UniformResourceIdentifier("https://batch.example.org/")],
         eku=client_eku)
    leaf("urifirst", name("web.example.org"),
         sans=[x509.UniformResourceIdentifier("https://web.example.org/"),
               x509.UniformResourceIdentifier("spiffe://example.org/web")],
         eku=client_eku)
    leaf("nosan", name("nosan.example.net"), eku=client_eku)
    leaf("expired", name("expired.example.net"),
         sans=[x509.DNSName("expired.example.net")], eku=client_eku,
         not_before=datetime.datetime(2020, 1, 1, tzinfo=UTC),
         not_after=datetime.datetime(2021, 1, 1, tzinfo=UTC))
    leaf("future", name("future.example.net"),
         sans=[x509.DNSName("future.example.net")], eku=client_eku,
         not_before=datetime.datetime(2090, 1, 1, tzinfo=UTC),
         not_after=datetime.datetime(2091, 1, 1, tzinfo=UTC))
    leaf("caleaf", name("caleaf.example.net"),
         sans=[x509.DNSName("caleaf.example.net")], is_ca=True)

    ous = [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME,
                              ("unit-%02d-" % i).ljust(OU_LEN, "x")) for i in range(OU_COUNT)]
    leaf("ou60", x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example")] + ous +
                           [x509.NameAttribute(NameOID.COMMON_NAME, "ou60.example.net")]),
         sans=[x509.DNSName("ou60.example.net")], eku=client_eku)

    unt_key = ec_key()
    unt_ca = make_ca("token-broker untrusted CA", unt_key, now)
    write(outdir, "untrusted-ca.pem", cert_pem(unt_ca))
    write(outdir, "untrusted-ca.key", key_pem(unt_key), private=True)
    leaf("untrusted", name("untrusted.example.net", "Example"),
         sans=[x509.DNSName("untrusted.example.net")], eku=client_eku,
         issuer_cert=unt_ca, issuer_key=unt_key)

    signing_rsa = key_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    write(outdir, "signing-rsa.pem", signing_rsa, private=True)
    write(outdir, "signing-ec.pem", key_pem(ec_key()), private=True)
    write(outdir, "signing-rsa1024.pem",
          key_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)), private=True)
    write(outdir, "signing-p384.pem", key_pem(ec_key(ec.SECP384R1())), private=True)

    # files whose modes the broker judges at start (doc/contract.md section 7)
    write_mode(outdir, "signing-rsa-0644.pem", signing_rsa, 0o644)
    write_mode(outdir, "signing-rsa-0640.pem", signing_rsa, 0o640)
    for mode in (0o644, 0o664, 0o646):
        write_mode(outdir, "registry-%04o.json" % mode, REGISTRY, mode)

    leaf("client2", name("client2.example.net", "Example"),
         sans=[x509.DNSName("client2.example.net")], eku=client_eku)
    write(outdir, "cas.pem", cert_pem(ca) + cert_pem(unt_ca))
    crls(outdir, now, ca, ca_key, unt_ca, unt_key)
    fleet(outdir, now, ca, ca_key)


def crl_pem(crl):
    return crl.public_bytes(serialization.Encoding.PEM)


def crls(outdir, now, ca, ca_key, unt_ca, unt_key):
    """The fixed CRLs of the docstring, in OUTDIR/crl and OUTDIR/crl-dir."""
    for sub in ("crl", "crl-dir", os.path.join("crl-dir", "sub")):
        os.makedirs(os.path.join(outdir, sub), exist_ok=True)
    tu = now - datetime.timedelta(hours=1)
    nu = now + datetime.timedelta(days=CRL_DAYS)
    client = [(CLIENT_SERIAL, REVOKED_AT, x509.ReasonFlags.key_compromise)]
    others = [(0x1234, REVOKED_AT, None), (0x0ABCDEF0123456789, REVOKED_AT,
                                             x509.ReasonFlags.superseded)]

    def make(issuer, key, revoked=(), **kw):
        kw.setdefault("this_update", tu)
        kw.setdefault("next_update", nu)
        return mkcrl.make_crl(issuer.subject, key, revoked, **kw)

    def put(fname, data, mode=None):
        if mode is None:
            write(outdir, os.path.join("crl", fname), data)
        else:
            write_mode(outdir, os.path.join("crl", fname), data, mode)

    empty = crl_pem(make(ca, ca_key, number=1))
    revoking = make(ca, ca_key, client + others, number=2)
    unt_empty = make(unt_ca, unt_key, number=1)
    put("ca-empty.pem", empty)
    put("ca-empty-0664.pem", empty, 0o664)
    put("ca-client.pem", crl_pem(revoking))
    put("ca-client.der", revoking.public_bytes(serialization.Encoding.DER))
    put("ca-expired.pem", crl_pem(make(ca, ca_key, number=3, this_update=OLD_THIS_UPDATE,
                                       next_update=OLD_NEXT_UPDATE)))
    put("ca-expired-client.pem", crl_pem(make(ca, ca_key, client, number=4,
                                              this_update=OLD_THIS_UPDATE,
                                              next_update=OLD_NEXT_UPDATE)))
    put("ca-no-next-update.pem", crl_pem(make(ca, ca_key, number=5, this_update=OLD_THIS_UPDATE,
                                              no_next_update=True)))
    put("ca-badsig.pem", crl_pem(make(ca, unt_key, number=6)))
    put("ca-delta.pem", crl_pem(make(ca, ca_key, number=7, delta=True)))
    put("ca-indirect.pem", crl_pem(make(ca, ca_key, number=8, indirect=True)))
    put("untrusted-empty.pem", crl_pem(unt_empty))
    put("untrusted-client.pem", crl_pem(make(unt_ca, unt_key, client, number=2)))
    put("garbage.pem", GARBAGE_CRL)
    a = crl_pem(make(ca, ca_key, client, number=100, this_update=tu - datetime.timedelta(hours=1)))
    b = crl_pem(make(ca, ca_key, number=1))
    put("newest-a-old-revokes.pem", a)
    put("newest-b-new-empty.pem", b)
    put("newest-c-new-revokes.pem", crl_pem(make(ca, ca_key, client, number=2)))
    put("multi.pem", a + b + crl_pem(unt_empty))
    write(outdir, os.path.join("crl-dir", "10-ca.pem"), crl_pem(revoking))
    write(outdir, os.path.join("crl-dir", "20-untrusted.der"),
          unt_empty.public_bytes(serialization.Encoding.DER))
    write(outdir, os.path.join("crl-dir", ".30-partial.tmp"), GARBAGE_CRL)
    write(outdir, os.path.join("crl-dir", "sub", "garbage.pem"), GARBAGE_CRL)


def fleet(outdir, now, ca, ca_key):
    """The certificates of the registry's groups and issuer bindings (doc/contract.md section 5):

      ca2.pem/.key                  "CN=token-broker test CA 2,O=token-broker tests", a second CA
      cas-fleet.pem                 ca.pem and ca2.pem in one bundle (CLIENT_CA_FILE)
      client-ca2.pem/.key           client.pem's subject and SANs, issued by CA 2
      impostor-ca.pem/.key          a CA with CA 2's subject but a key of its own (in no bundle)
      client-impostor.pem/.key      client.pem's subject and SANs, issuer CA 2 by name, signed by
                                    impostor-ca.key
      sensor.pem/.key               C=US, O=Example Corp, OU=sensors,
                                    CN=sensor-17.sensors.example.net; SANs DNS:device-17.example.com
                                    (first: no group pattern matches it),
                                    DNS:sensor-17.sensors.example.net,
                                    URI:https://device-17.example.com/,
                                    URI:spiffe://example.net/ns/prod/sa/sensor-17; issued by the CA
      sensor-ca2.pem/.key           the same subject and SANs, issued by CA 2
      escaped.pem/.key              O=Example Corp, OU=sensors, CN=dev,ops+1 "x" \\y (a value
                                    RFC 4514 must escape); SAN DNS:escaped.sensors.example.net
    """
    ca2_key = ec_key()
    ca2 = make_ca("token-broker test CA 2", ca2_key, now)
    write(outdir, "ca2.pem", cert_pem(ca2))
    write(outdir, "ca2.key", key_pem(ca2_key), private=True)
    write(outdir, "cas-fleet.pem", cert_pem(ca) + cert_pem(ca2))
    imp_key = ec_key()
    imp = make_ca("token-broker test CA 2", imp_key, now)
    write(outdir, "impostor-ca.pem", cert_pem(imp))
    write(outdir, "impostor-ca.key", key_pem(imp_key), private=True)
    client_eku = [ExtendedKeyUsageOID.CLIENT_AUTH]

    def leaf(fname, subject, sans, issuer_cert, issuer_key):
        key = ec_key()
        cert = make_leaf(subject, key, issuer_cert, issuer_key, now, sans=sans, eku=client_eku)
        write(outdir, fname + ".pem", cert_pem(cert))
        write(outdir, fname + ".key", key_pem(key), private=True)

    client = name("client.example.net", "Example")
    client_sans = [x509.DNSName("client.example.net"), x509.DNSName("alt.example.net")]
    leaf("client-ca2", client, client_sans, ca2, ca2_key)
    leaf("client-impostor", client, client_sans, imp, imp_key)
    sensor = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "sensors"),
        x509.NameAttribute(NameOID.COMMON_NAME, "sensor-17.sensors.example.net")])
    sensor_sans = [x509.DNSName("device-17.example.com"),
                   x509.DNSName("sensor-17.sensors.example.net"),
                   x509.UniformResourceIdentifier("https://device-17.example.com/"),
                   x509.UniformResourceIdentifier("spiffe://example.net/ns/prod/sa/sensor-17")]
    leaf("sensor", sensor, sensor_sans, ca, ca_key)
    leaf("sensor-ca2", sensor, sensor_sans, ca2, ca2_key)
    leaf("escaped", x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "sensors"),
        x509.NameAttribute(NameOID.COMMON_NAME, 'dev,ops+1 "x" \\y')]),
        [x509.DNSName("escaped.sensors.example.net")], ca, ca_key)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: mkpki.py OUTDIR\n")
        return 2
    outdir = argv[1]
    os.makedirs(outdir, exist_ok=True)
    done = os.path.join(outdir, ".done")
    with open(os.path.join(outdir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = "version %d" % PKI_VERSION
        try:
            age = time.time() - os.stat(done).st_mtime
            with open(done) as f:
                same = f.readline().strip() == stamp
            if age < REGENERATE_DAYS * 86400 and same:
                return 0
            os.unlink(done)
        except FileNotFoundError:
            pass
        generate(outdir)
        with open(done, "w") as f:
            f.write(stamp + "\n" + datetime.datetime.now(UTC).isoformat() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
