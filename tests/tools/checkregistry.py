#!/usr/bin/env python3
"""Checks a registry (the distribution API, anonymous, plain http) holds no manifest that
points at something missing: every tag of every repository in the catalog is read, and each
blob and manifest it references is asked for with HEAD. Prints "REPO:TAG sha256:..." lines for
the tags found and problems as "MISSING ..."; exit 1 when anything is missing.

  checkregistry.py 127.0.0.1:PORT [REPO...]    (only those repositories when named)"""
import hashlib
import json
import sys
import urllib.error
import urllib.request

BASE = "http://" + sys.argv[1]
ACCEPT = ", ".join([
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json"])


def get(path, method="GET", want_link=False):
    req = urllib.request.Request(BASE + path, method=method, headers={"Accept": ACCEPT})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            if want_link:
                return r.status, r.read(), r.headers.get("Link")
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return (e.code, b"", None) if want_link else (e.code, b"")


missing = 0
repos = []
path = "/v2/_catalog?n=1000"
while path:
    code, body, link = get(path, want_link=True)
    if code != 200:
        print("MISSING catalog (HTTP %d)" % code)
        sys.exit(1)
    repos += json.loads(body).get("repositories") or []
    # the next page: Link: </v2/_catalog?last=x&n=1000>; rel="next"
    path = link.split(">")[0].lstrip("<") if link else None
if len(sys.argv) > 2:
    repos = [r for r in repos if r in sys.argv[2:]]
for repo in repos:
    code, body = get("/v2/%s/tags/list" % repo)
    tags = (json.loads(body).get("tags") or []) if code == 200 else []
    for tag in tags:
        code, body = get("/v2/%s/manifests/%s" % (repo, tag))
        print("%s:%s sha256:%s" % (repo, tag, hashlib.sha256(body).hexdigest()))
        if code != 200:
            print("MISSING manifest %s:%s (HTTP %d)" % (repo, tag, code))
            missing += 1
            continue
        doc = json.loads(body)
        refs = [("blobs", d) for d in [doc.get("config")] + doc.get("layers", []) if d]
        refs += [("manifests", d) for d in doc.get("manifests", [])]
        for kind, d in refs:
            code, _ = get("/v2/%s/%s/%s" % (repo, kind, d["digest"]), "HEAD")
            if code != 200:
                print("MISSING %s %s of %s:%s (HTTP %d)" % (kind, d["digest"], repo, tag, code))
                missing += 1
sys.exit(1 if missing else 0)
