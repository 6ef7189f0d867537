#!/usr/bin/env python3
"""pyauth.py: python3-google-auth finds Compute Engine credentials at token-broker-credential serve.

    GCE_METADATA_HOST=127.0.0.1:PORT GCE_METADATA_ROOT=... GCE_METADATA_IP=... pyauth.py AUDIENCE

google.auth.default() (no credential file) must give compute_engine.Credentials and the
project; refresh() the access token; the ID token for AUDIENCE comes from the metadata
identity endpoint: through IDTokenCredentials(use_metadata_identity_endpoint=True) where the
library has it (google-auth 1.11 and later), else, as Debian 12's google-auth 1.5.1 has no such
option, through the library's own metadata client. Prints one JSON line; exit status 0.
"""

import json
import sys
import urllib.parse

import google.auth
from google.auth import compute_engine
from google.auth.compute_engine import _metadata
from google.auth.transport.requests import Request

SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def id_token(request, audience):
    try:
        creds = compute_engine.IDTokenCredentials(request, audience,
                                                  use_metadata_identity_endpoint=True)
    except TypeError:  # google-auth before 1.11
        path = ("instance/service-accounts/default/identity?audience=%s&format=full"
                % urllib.parse.quote(audience, safe=""))
        return _metadata.get(request, path), "metadata.get"
    creds.refresh(request)
    return creds.token, "IDTokenCredentials"


def main():
    out = {"ok": False}
    try:
        request = Request()
        creds, project = google.auth.default(scopes=[SCOPE], request=request)
        creds.refresh(request)
        token, how = id_token(request, sys.argv[1])
        out = {"ok": True, "class": "%s.%s" % (type(creds).__module__, type(creds).__name__),
               "project": project, "token": creds.token,
               "email": creds.service_account_email, "valid": creds.valid,
               "idToken": token, "idVia": how}
    except Exception as e:  # the caller judges: print what went wrong
        out = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
