#!/usr/bin/env python3
"""certcache.py: a certificate answered from the cache is still refused the moment it must be (TAP).

Issue 10 item 1. One long-lived FastCGI token-broker (as web servers start it), driven with
cgi-fcgi (Debian libfcgi-bin), remembers each client certificate it parsed (src/certcache.c).
Each refusal below comes on the very next request for a certificate the process has already
answered from its cache, and the process's own count at SIGTERM shows that the cache was used:
  1. client.pem and client2.pem get tokens twice each (the second time from the cache);
  2. the CA publishes a CRL listing client.pem: its next request is 401 as revoked;
  3. the registry drops client2.pem's entry: its next request is 401 as not registered;
  4. a certificate that expires a few seconds from now gets tokens twice, then, once it has
     expired, its next request is 401 as expired (the cached entry is not trusted for time);
  5. a certificate with basicConstraints CA:TRUE is refused every time (refusals are not
     remembered, so each is parsed again);
and on SIGTERM the process says how many certificates it parsed and how many it answered
from the cache.
"""

import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from fcgilib import PKI, PYTHON3, SRCDIR, Broker, Tap, make_pki

MKCRL = os.path.join(SRCDIR, "tests", "pki", "mkcrl.py")
PAUSE = 1.1      # seconds between a file change and the request that must see it (broker: 1 s)
LIFETIME = 4     # seconds the short-lived certificate is valid from now
t = Tap(10)
tap = t.ok


def publish(crl, *args):
    subprocess.run([PYTHON3, MKCRL, "--ca", os.path.join(PKI, "ca.pem"),
                    "--key", os.path.join(PKI, "ca.key"), "--out", crl] + list(args),
                   check=True)


def write_registry(path, clients):
    tmp = os.path.join(os.path.dirname(path), ".registry.tmp")
    with open(tmp, "w") as f:
        json.dump({"clients": clients}, f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def make_cert(out, cn, not_after, ca=False):
    """A leaf (or CA) certificate for cn signed by the test CA, valid until not_after."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    with open(os.path.join(PKI, "ca.pem"), "rb") as f:
        ca_cert = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(PKI, "ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
         .issuer_name(ca_cert.subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(not_after)
         .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    with open(out, "wb") as f:
        f.write(b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


def token(b, cgi_fcgi, path):
    """POST /token with the certificate at path (absolute, or relative to PKI)."""
    return b.token(cgi_fcgi, os.path.relpath(path, PKI) if os.path.isabs(path) else path)


def messages(lines):
    return "\n".join("%s %s" % (l.get("severity"), l.get("message")) for l in lines)


def steps(b, cgi_fcgi, tmp, crl, reg, clients):
    codes = [token(b, cgi_fcgi, c)[0] for c in ("client.pem", "client2.pem") * 2]
    lines = b.new_lines()
    tap(codes == [200] * 4, "1. client.pem and client2.pem get tokens twice each (%s)" % codes,
        messages(lines))

    publish(crl, "--revoke", "@" + os.path.join(PKI, "client.pem"), "--reason", "keyCompromise")
    time.sleep(PAUSE)
    st, doc, raw = token(b, cgi_fcgi, "client.pem")
    lines = b.new_lines()
    tap(st == 401 and any("the certificate is revoked" in l.get("message", "") for l in lines),
        "2. revoked by a new CRL: the cached client.pem's next request is 401 as revoked",
        raw + messages(lines))

    write_registry(reg, [c for c in clients if c["client_id"] != "two"])
    time.sleep(PAUSE)
    st, doc, raw = token(b, cgi_fcgi, "client2.pem")
    lines = b.new_lines()
    tap(st == 401 and any("CLIENT_REGISTRY reloaded" in l.get("message", "") for l in lines),
        "3. dropped from the registry: the cached client2.pem's next request is 401",
        raw + messages(lines))
    st, doc, raw = token(b, cgi_fcgi, "client.pem")
    tap(st == 401, "   client.pem stays refused (revoked) after the registry reload", raw)

    short = os.path.join(tmp, "short.pem")
    expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=LIFETIME)
    make_cert(short, "short.example.net", expiry)
    codes = [token(b, cgi_fcgi, short)[0] for _ in range(2)]
    b.new_lines()
    tap(codes == [200, 200], "4. a certificate valid for %d more seconds gets tokens twice (%s)"
        % (LIFETIME, codes))
    left = (expiry - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    if left > -1.5:
        time.sleep(left + 1.5)  # OpenSSL's notAfter has whole seconds; the broker's clock too
    st, doc, raw = token(b, cgi_fcgi, short)
    lines = b.new_lines()
    tap(st == 401 and doc is not None and doc.get("error") == "invalid_client" and
        any("certificate expired at" in l.get("message", "") for l in lines),
        "   once it has expired, its next request is 401 as expired", raw + messages(lines))
    st, doc, raw = token(b, cgi_fcgi, short)
    tap(st == 401, "   and the one after that too", raw)

    ca_leaf = os.path.join(tmp, "ca-leaf.pem")
    make_cert(ca_leaf, "ca-leaf.example.net",
              datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1), ca=True)
    codes = [token(b, cgi_fcgi, ca_leaf)[0] for _ in range(2)]
    lines = b.new_lines()
    tap(codes == [401, 401] and
        sum("is a CA" in l.get("message", "") for l in lines) == 2,
        "5. a CA certificate is refused each time, with the reason each time (%s)" % codes,
        messages(lines))


def main():
    why = make_pki()
    if why is not None:
        print("# " + why.replace("\n", "\n# "))
        return t.missing("mkpki.py failed (python3-cryptography missing?)")
    cgi_fcgi = shutil.which("cgi-fcgi")
    if cgi_fcgi is None:
        return t.missing("cgi-fcgi (Debian libfcgi-bin) is not installed")
    tmp = tempfile.mkdtemp(prefix="tb-certcache.", dir=PKI)
    os.chmod(tmp, 0o755)
    b = None
    try:
        crldir = os.path.join(tmp, "crl")
        os.mkdir(crldir, 0o755)
        crl = os.path.join(crldir, "ca.pem")
        publish(crl)
        reg = os.path.join(tmp, "clients.json")
        clients = [{"client_id": "one", "match": {"dnssan": "client.example.net"}},
                   {"client_id": "two", "match": {"dnssan": "client2.example.net"}},
                   {"client_id": "short", "match": {"dnssan": "short.example.net"}},
                   {"client_id": "ca", "match": {"dnssan": "ca-leaf.example.net"}}]
        write_registry(reg, clients)
        b = Broker(tmp, {"CLIENT_CA_FILE": os.path.join(PKI, "ca.pem"), "CRL_FILES": crldir,
                         "CLIENT_REGISTRY": reg,
                         "WORKLOAD_IDENTITY_PROJECT_NUMBER": "123456789012",
                         "WORKLOAD_IDENTITY_POOL_ID": "pool",
                         "WORKLOAD_IDENTITY_PROVIDER_ID": "prov"})
        steps(b, cgi_fcgi, tmp, crl, reg, clients)
        tap(b.proc.poll() is None, "the process (pid %d) is still running: no restart" % b.pid,
            b.log())
        rc = b.stop()
        log = b.log()
        m = re.search(r"stopping after (\d+) requests \(client certificates: (\d+) parsed, "
                      r"(\d+) answered from the cache\)", log)
        # parsed: client, client2 and short the first time, short again after its expired entry
        # was dropped, and the CA certificate both times; the cache answered the other 7:
        # client and client2 once more each in step 1, client in 2, both in 3, short in 4 twice
        tap(rc == 0 and m is not None and m.groups() == ("13", "6", "7"),
            "on SIGTERM: 13 requests, 6 certificates parsed, 7 answered from the cache (%s)"
            % ((m.groups() if m else None),), log)
        b = None
    except (OSError, subprocess.SubprocessError, ImportError) as e:
        tap(False, "the test could not run: %s" % e, b.log() if b else "")
        t.missing("an earlier step failed")
    finally:
        if b is not None:
            b.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return t.status()


if __name__ == "__main__":
    raise SystemExit(main())
