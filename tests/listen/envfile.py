#!/usr/bin/env python3
"""envfile.py: --env-file through the program (issue 12) (TAP). The syntax itself, case by
case, is tests/unit/test_envfile.c's.

  1. --env-file F --check-config: the settings come from F alone, the configuration is usable;
  2. --listen with F: a setting both F and the process environment hold takes the
     environment's value (TOKEN_ISSUER), those only F holds are used (the signing key, a
     single-quoted TOKEN_AUDIENCE with a comment character, the ID token's aud);
  3. without --listen (CGI here) F applies the same way;
  4. a bad line: --check-config exits 1 naming the file and the line; --listen exits 1 with a
     CRITICAL line naming them, before any worker starts;
  5. a file that others may write, and a missing file, are refused.
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

from listenlib import (PKI, PROGRAM, TIMEOUT, Broker, Tap, dump, get, make_pki, settings,
                       token)

t = Tap(10)
tap = t.ok
AUD = "https://example.net/aud#1"
FILE = """# token-broker settings
SIGNING_KEYS = %s
TOKEN_AUDIENCE='%s'
TOKEN_ISSUER="https://from-file.example.net"
""" % (os.path.join(PKI, "signing-ec.pem"), AUD)


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def run(args, env):
    p = subprocess.run([PROGRAM] + args, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=TIMEOUT)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def claims(doc):
    body = doc["id_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def main():
    why = make_pki()
    if why is not None:
        print("# " + why.replace("\n", "\n# "))
        return t.missing("mkpki.py failed (python3-cryptography missing?)")
    tmp = tempfile.mkdtemp(prefix="tb-envfile.")
    b = None
    try:
        env = os.path.join(tmp, "token-broker.env")
        write(env, FILE)
        rc, out, err = run(["--env-file", env, "--check-config"], settings())
        tap(rc == 0 and "the configuration is usable" in err,
            "--env-file F --check-config: usable with the settings of F alone", err)

        path = os.path.join(tmp, "fcgi.sock")
        b = Broker(tmp, ["--env-file", env, "--listen", "unix:" + path],
                   settings(TOKEN_ISSUER="https://from-env.example.net"))
        b.await_log("serves")
        status, doc, raw = get(path, "/.well-known/openid-configuration")
        tap(status == 200 and doc is not None and
            doc.get("issuer") == "https://from-env.example.net",
            "set in both: the process environment wins (issuer %s)" %
            (doc or {}).get("issuer"), raw + dump(b))
        status, doc, raw = token(path)
        tap(status == 200 and doc is not None and claims(doc).get("aud") == AUD,
            "set only in F: its key signs, its quoted audience is the aud (%s)" %
            (claims(doc).get("aud") if doc and "id_token" in doc else None), raw)
        tap(b.stop() == 0, "SIGTERM: exit 0", dump(b))
        b = None

        rc, out, err = run(["--env-file", env], settings(
            GATEWAY_INTERFACE="CGI/1.1", REQUEST_METHOD="GET", SCRIPT_NAME="",
            PATH_INFO="/.well-known/openid-configuration", QUERY_STRING="",
            HTTP_HOST="broker.example.net", HTTPS="on", SERVER_PROTOCOL="HTTP/1.1"))
        tap(rc == 0 and '"issuer":"https://from-file.example.net"' in out,
            "without --listen (one CGI request) F applies too", out + err)

        write(env, FILE + "TOKEN_VALIDITY=5\nSTRAY LINE\n")
        rc, out, err = run(["--env-file", env, "--check-config"], settings())
        tap(rc == 1 and (env + ": line 6: 'STRAY LINE' has no '='") in err,
            "a bad line: --check-config exits 1 naming the file and line 6", err)
        b = Broker(tmp, ["--env-file", env, "--listen", "unix:" + path], settings(), "bad")
        rc = b.wait(TIMEOUT)
        tap(rc == 1 and b.count("line 6: 'STRAY LINE'", "CRITICAL") == 1 and
            b.count("started (configuration") == 0 and not os.path.exists(path),
            "--listen: exit 1, a CRITICAL line naming it, no worker, no socket left (exit %s)" %
            rc, dump(b))
        b = None

        write(env, FILE, 0o666)
        rc, out, err = run(["--env-file", env, "--check-config"], settings())
        tap(rc == 1 and env in err and "writable" in err,
            "a file that others may write is refused", err)
        os.unlink(env)
        rc, out, err = run(["--env-file", env, "--check-config"], settings())
        tap(rc == 1 and env in err, "a missing file is refused", err)
        rc, out, err = run(["--env-file", env, "--jwks"],
                           settings(SIGNING_KEYS=os.path.join(PKI, "signing-ec.pem")))
        tap(rc == 1 and out == "", "--jwks with a missing env file prints nothing, exit 1",
            out + err)
    except (OSError, subprocess.SubprocessError) as e:
        tap(False, "the test could not run: %s" % e, dump(b) if b else "")
        t.missing("an earlier step failed")
    finally:
        if b is not None:
            b.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return t.status()


if __name__ == "__main__":
    sys.exit(main())
