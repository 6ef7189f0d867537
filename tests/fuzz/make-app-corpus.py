#!/usr/bin/env python3
"""Writes tests/fuzz/corpus/app: named requests for fuzz_app.c, built from tests/fixtures.

Run from the source tree: python3 tests/fuzz/make-app-corpus.py. The input format is
fuzz_app.c's: NAME=VALUE lines (a line starting with a space continues the value after a line
break), an empty line, the body.
"""
import base64
import hashlib
import os
import ssl
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
OUT = os.path.join(HERE, "corpus", "app")


def pem(name):
    with open(os.path.join(FIX, name)) as f:
        return f.read().strip()


def sha256(name):
    der = ssl.PEM_cert_to_DER_cert(pem(name))
    return base64.b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


def folded(value):
    return value.replace("\n", "\n ")


CGI = ["GATEWAY_INTERFACE=CGI/1.1", "SERVER_PROTOCOL=HTTP/1.1", "HTTP_HOST=broker.example.net"]


def token(cert="dns.pem", verify="SUCCESS", ctype="application/x-www-form-urlencoded",
          uri="/idp/token", encoding="newlines"):
    env = CGI + ["REQUEST_METHOD=POST", "REQUEST_URI=" + uri, "SCRIPT_NAME=",
                 "CONTENT_TYPE=" + ctype]
    if verify is not None:
        env.append("SSL_CLIENT_VERIFY=" + verify)
    if cert is not None:
        text = pem(cert)
        if encoding == "spaces":
            text = text.replace("\n", " ")
        elif encoding == "urlencoded":
            text = urllib.parse.quote(text + "\n", safe="")
        env.append("SSL_CLIENT_CERT=" + folded(text))
    return env


def xlb(extra=(), hash_=None, verified="true"):
    env = CGI + ["REQUEST_METHOD=POST", "REQUEST_URI=/idp/token",
                 "CONTENT_TYPE=application/x-www-form-urlencoded",
                 "HTTP_X_CLIENT_CERT_PRESENT=true", "HTTP_X_CLIENT_CERT_CHAIN_VERIFIED=" + verified,
                 "HTTP_X_CLIENT_CERT_HASH=" + (hash_ or sha256("dns.pem")),
                 "HTTP_X_CLIENT_CERT_DNSNAME_SANS=" +
                 base64.b64encode(b"client.example.net").decode(),
                 "HTTP_X_CLIENT_CERT_SERIAL_NUMBER=00c97771dba8b770e1b6a73f4c9180427277b5fd",
                 "HTTP_X_CLIENT_CERT_VALID_NOT_BEFORE=2024-01-01T00:00:00+00:00",
                 "HTTP_X_CLIENT_CERT_VALID_NOT_AFTER=2124-01-01T00:00:00+00:00"]
    return env + list(extra)


def write(name, env, body=""):
    with open(os.path.join(OUT, name), "w") as f:
        f.write("\n".join(env) + "\n\n" + body)


def main():
    os.makedirs(OUT, exist_ok=True)
    form = "grant_type=client_credentials"
    get = CGI + ["REQUEST_METHOD=GET", "SCRIPT_NAME="]
    write("get-root.req", get + ["REQUEST_URI=/idp/"])
    write("get-discovery.req", get + ["REQUEST_URI=/idp/.well-known/openid-configuration"])
    write("get-discovery-alias.req", get + ["REQUEST_URI=/idp/.well-known/openid-metadata"])
    write("get-jwks.req", get + ["REQUEST_URI=/idp/.well-known/jwks.json"])
    write("head-discovery.req", CGI + ["REQUEST_METHOD=HEAD",
          "REQUEST_URI=/idp/.well-known/openid-configuration"])
    write("get-token-405.req", get + ["REQUEST_URI=/idp/token"])
    write("get-unknown-404.req", get + ["REQUEST_URI=/idp/nope?x=1"])
    write("delete-token.req", CGI + ["REQUEST_METHOD=DELETE", "REQUEST_URI=/idp/token"])
    write("token-pem-newlines.req", token(), form)
    write("token-pem-spaces.req", token(encoding="spaces"), form)
    write("token-pem-urlencoded.req", token(encoding="urlencoded"), form)
    write("token-content-length.req", token() + ["CONTENT_LENGTH=%d" % len(form)], form)
    write("token-content-length-short.req", token() + ["CONTENT_LENGTH=100"], form)
    write("token-content-length-negative.req", token() + ["CONTENT_LENGTH=-5"], form)
    write("token-content-length-exponent.req", token() + ["CONTENT_LENGTH=1e3"], form)
    write("token-content-length-over.req", token() + ["CONTENT_LENGTH=70000"], form)
    write("token-extcred.req", token(), form + "&format=external_credential")
    write("token-client-id.req", token(), form + "&client_id=batch")
    write("token-client-id-mismatch.req", token(), form + "&client_id=other")
    write("token-audience.req", token(), form + "&audience=sts.amazonaws.com")
    write("token-audience-global.req", token(), form + "&audience=api%3A%2F%2FAzureADTokenExchange")
    write("token-audience-refused.req", token(), form + "&audience=https%3A%2F%2Fevil.example")
    write("token-audience-with-scope.req", token(),
          form + "&audience=sts.amazonaws.com&scope=https://www.googleapis.com/auth/cloud-platform")
    write("token-scope-sts-down.req", token(),
          form + "&scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform")
    write("token-scope-refused.req", token(), form + "&scope=https://example.net/other")
    write("token-service-account.req", token(), form +
          "&scope=https://www.googleapis.com/auth/cloud-platform"
          "&service_account=batch%40example-project.iam.gserviceaccount.com")
    write("token-service-account-localhost.req", token(), form +
          "&scope=https://www.googleapis.com/auth/cloud-platform&service_account=sa@localhost")
    write("token-service-account-refused.req", token(), form +
          "&scope=https://www.googleapis.com/auth/cloud-platform"
          "&service_account=other%40example-project.iam.gserviceaccount.com")
    write("token-spiffe-client.req", token(cert="uri-spiffe-first.pem"), form)
    write("token-unregistered.req", token(cert="uri-https-first.pem"), form)
    write("token-nosan-unregistered.req", token(cert="nosan.pem"), form)
    write("token-expired.req", token(cert="expired.pem"), form)
    write("token-future.req", token(cert="future.pem"), form)
    write("token-san-nul.req", token(cert="san-nul.pem"), form)
    write("token-verify-failed.req", token(verify="FAILED:unable to get issuer"), form)
    write("token-no-certificate.req", token(cert=None, verify=None), form)
    write("token-content-type-json.req", token(ctype="application/json"), "{}")
    write("token-content-type-params.req",
          token(ctype="Application/X-WWW-Form-Urlencoded; charset=UTF-8"), form)
    write("token-grant-missing.req", token(), "scope=a")
    write("token-grant-unsupported.req", token(), "grant_type=password")
    write("token-grant-repeated.req", token(), form + "&" + form)
    write("token-bad-escape.req", token(), "grant_type=client_%zzcredentials")
    write("token-repeated-verify.req", token() + ["SSL_CLIENT_VERIFY=SUCCESS"], form)
    write("token-repeated-cert.req",
          token() + ["SSL_CLIENT_CERT=" + folded(pem("nosan.pem"))], form)
    write("xlb-ok.req", xlb(), form)
    write("xlb-smuggled-hash.req",
          CGI + ["HTTP_X_CLIENT_CERT_PRESENT=true", "HTTP_X_CLIENT_CERT_CHAIN_VERIFIED=true",
                 "HTTP_X_CLIENT_CERT_HASH=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] +
          xlb()[len(CGI):], form)
    write("xlb-not-verified.req", xlb(verified="false"), form)
    write("xlb-error.req", xlb(["HTTP_X_CLIENT_CERT_ERROR=client_cert_chain_invalid_eku"]), form)
    write("xlb-bad-san.req", xlb(["HTTP_X_CLIENT_CERT_URI_SANS=!!!notbase64"]), form)
    write("xlb-unregistered.req", xlb(hash_="B" * 43), form)
    write("trace-cloud.req", get + ["REQUEST_URI=/idp/.well-known/openid-configuration",
          "HTTP_X_CLOUD_TRACE_CONTEXT=105445aa7843bc8bf206b12000100000/1;o=1"])
    write("trace-w3c.req", token() +
          ["HTTP_TRACEPARENT=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"], form)
    write("path-info.req", CGI + ["REQUEST_METHOD=GET", "SCRIPT_NAME=/idp",
          "PATH_INFO=/.well-known/openid-configuration"])
    write("host-bad.req", CGI[:2] + ["HTTP_HOST=evil.example\r\nX: y", "REQUEST_METHOD=GET",
          "REQUEST_URI=/idp/.well-known/openid-configuration"])


main()
