#!/usr/bin/env python3
"""make-fleet.py: writes a CLIENT_REGISTRY file of a fleet's size for the CGI cases (460-469).

    make-fleet.py OUT --clients N [--at INDEX JSON]... [--group JSON]...

OUT gets N clients. The filler entries, fleet-000000 onwards, alternate between a DNS SAN
(dev-NNNNNN.fleet.example.net) and a SHA-256 (of "fleet NNNNNN", a digest no test certificate
has), so every value is distinct and the duplicate and conflict checks have a full table to
work through. Each --at puts the client entry JSON at clients[INDEX] (0-based, so a message of
the broker names the same index) instead of a filler; --group appends a group in order. The
file is written with mode 0600: the broker refuses a registry its group or others can write,
and the runner's umask is not ours to trust.
"""

import argparse
import base64
import hashlib
import json
import os
import sys


def filler(i):
    """The i-th filler client: distinct from every other filler and from every test PKI value."""
    entry = {"client_id": "fleet-%06d" % i}
    if i % 2 == 0:
        entry["match"] = {"dnssan": "dev-%06d.fleet.example.net" % i}
    else:
        digest = hashlib.sha256(b"fleet %06d" % i).digest()
        entry["match"] = {"sha256": base64.b64encode(digest).decode().rstrip("=")}
    return entry


def json_object(text):
    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError("not JSON: %s" % e)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("not a JSON object: %r" % text)
    return value


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--clients", type=int, required=True, help="how many clients in all")
    ap.add_argument("--at", nargs=2, action="append", default=[], metavar=("INDEX", "JSON"),
                    help="this client entry at clients[INDEX]")
    ap.add_argument("--group", type=json_object, action="append", default=[],
                    help="a group, appended in order")
    args = ap.parse_args(argv[1:])

    placed = {}
    for index, text in args.at:
        if not index.isdigit() or int(index) >= args.clients:
            ap.error("--at %s: not an index below --clients %d" % (index, args.clients))
        if int(index) in placed:
            ap.error("--at %s given twice" % index)
        try:
            placed[int(index)] = json_object(text)
        except argparse.ArgumentTypeError as e:
            ap.error("--at %s: %s" % (index, e))
    clients = [placed[i] if i in placed else filler(i) for i in range(args.clients)]

    # one entry a line: a message's context and a reader's diff stay short
    text = '{\n  "clients": [\n    %s\n  ]' % ",\n    ".join(
        json.dumps(c, separators=(", ", ": ")) for c in clients)
    if args.group:
        text += ',\n  "groups": [\n    %s\n  ]' % ",\n    ".join(
            json.dumps(g, separators=(", ", ": ")) for g in args.group)
    text += "\n}\n"
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(args.out, 0o600)  # O_CREAT's mode does not apply to a file that already existed
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
