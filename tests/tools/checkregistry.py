#!/usr/bin/env python3
"""Checks a registry (the distribution API, anonymous, plain http) holds no manifest that
points at something missing: every tag of every repository in the catalog is read, and each
blob and manifest it references is asked for with HEAD. Prints "REPO:TAG" lines for the tags
found and problems as "MISSING ..."; exit 1 when anything is missing.

  checkregistry.py 127.0.0.1:PORT"""
import json
import sys
import urllib.error
import urllib.request

BASE = "http://" + sys.argv[1]
ACCEPT = ", ".join([
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json"])


def get(path, method="GET"):
    req = urllib.request.Request(BASE + path, method=method, headers={"Accept": ACCEPT})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


missing = 0
code, body = get("/v2/_catalog")
repos = json.loads(body)["repositories"] if code == 200 else []
for repo in repos:
    code, body = get("/v2/%s/tags/list" % repo)
    tags = (json.loads(body).get("tags") or []) if code == 200 else []
    for tag in tags:
        print("%s:%s" % (repo, tag))
        code, body = get("/v2/%s/manifests/%s" % (repo, tag))
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
