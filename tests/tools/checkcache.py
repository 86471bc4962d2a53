#!/usr/bin/env python3
"""Checks an OCI-layout cache: every blob's name is its sha256, none is empty (unless it is
the empty blob), and no temp file is left. Prints problems, one a line; exit 1 if any."""
import hashlib
import os
import sys

EMPTY = hashlib.sha256(b"").hexdigest()
d = os.path.join(sys.argv[1], "blobs", "sha256")
bad = []
for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
    path = os.path.join(d, name)
    if name.startswith(".tmp-") and "--allow-tmp" not in sys.argv:
        bad.append("temp file " + name)
        continue
    if name.startswith("."):
        continue
    with open(path, "rb") as f:
        data = f.read()
    if not data and name != EMPTY:
        bad.append("empty " + name)
    elif hashlib.sha256(data).hexdigest() != name:
        bad.append("mismatched " + name)
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
