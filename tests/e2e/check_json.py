#!/usr/bin/env python3
"""check_json.py: asserts on a JSON response body for the end-to-end tests.

Usage: check_json.py FILE ASSERTION...

  path=value   the member equals value (strings as they are, other JSON values as JSON
               text: success=false, version=1)
  path?        the member is present, not null and not empty
  path!        the member is absent or null
  path#=N      the member (an array or object) has N entries

A path is dotted member names, with numbers indexing arrays (keys.0.kid). Prints one
"# ..." line a failed assertion (TAP diagnostics) and exits 0 when all hold, 1 otherwise.
"""

import json
import re
import sys

MISSING = object()


def lookup(doc, path):
    cur = doc
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return MISSING
    return cur


def show(v):
    return "missing" if v is MISSING else json.dumps(v)[:200]


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    raw = open(argv[1], "rb").read()
    try:
        doc = json.loads(raw)
    except ValueError:
        print("# check_json: body is not JSON: %r" % raw[:300])
        return 1
    bad = 0
    for a in argv[2:]:
        m = re.fullmatch(r"([^=?!#]+)(=|\?|!|#=)(.*)", a, re.S)
        if not m:
            print("# check_json: bad assertion %r" % a)
            bad += 1
            continue
        path, op, want = m.groups()
        v = lookup(doc, path)
        if op == "=":
            ok = v is not MISSING and (v == want if isinstance(v, str) else json.dumps(v) == want)
        elif op == "?":
            ok = v is not MISSING and v is not None and v != "" and v != [] and v != {}
        elif op == "!":
            ok = v is MISSING or v is None
        else:
            ok = isinstance(v, (list, dict)) and str(len(v)) == want
        if not ok:
            print("# check_json: %s: expected %s%s, got %s" % (path, op, want, show(v)))
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
