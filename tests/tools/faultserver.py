#!/usr/bin/env python3
"""A fault-injecting registry front for tests (stdlib only).

  faultserver.py --port-file F --log LOG [--upstream http://127.0.0.1:PORT] [--faults F.json]
                 [--auth] [--token-ttl S] [--expires-in S] [--bind 127.0.0.1]
                 [--tls-cert CERT --tls-key KEY]   (https instead of http)

Proxies /v2/ requests to --upstream (a real registry), applying the first matching rule of
the faults file, which is re-read whenever it changes (rule counters start again then):

  [{"path": "REGEX", "times": 1, "action": "...", ...}, ...]

times: how many matching requests the rule applies to (-1 = all), after the first "after"
(default 0) matching requests, which it lets through. With --auth, rules see only
requests that carry a valid token, unless "before_auth" is true. Actions:
  status        reply "code" with "headers" and "body" (e.g. 500, 429 + Retry-After)
  serve         reply 200 with "body" (or "body_file"), "content_type", extra "headers"
  truncate      full Content-Length, then only the first "bytes" (default half), then close
  short         Content-Length and body both cut to half: a complete, too short reply
  flip          the body with one byte changed
  reset         first half of the body, then a TCP reset
  ignore-range  answer a Range request with 200 and the whole body
  redirect      307 to "location" + the request path (another host or port)
  delay         sleep "seconds", then proxy normally
  big-headers   a reply carrying "bytes" of junk headers (90-byte lines)
  huge-header   a reply carrying one header line of "bytes" (default 1 MiB)
  trickle       the reply (proxied, or "body") at one byte every "interval" s (default 0.8)
  endless       status "code" (default 500) with "headers" and a body that never ends
  hang          read the request, then say nothing until the client goes
  cut           (uploads) read "bytes" of the request body (default half), then close
  lose-reply    proxy the request, then close without a reply (the registry did the work)
  add-headers   proxy the request, and add "headers" to the registry's reply
Requests with a body (POST, PUT, PATCH) are proxied too, with the Host header kept so the
registry's upload Locations point back here. A rule with "method" applies to that method only.
With --auth, /v2/ needs "Authorization: Bearer <token>" from GET /token (answered with
"expires_in" = --expires-in; tokens really die after --token-ttl). Repositories listed in the
faults file's first element may be settings instead of a rule: {"deny": ["name"],
"forbid": ["name"]} give 401 or 403 for those repositories even with a token; "token_ttl" and
"expires_in" override the options; "basic": true asks for Basic credentials
(any user) on /v2/ instead. Rules also apply to /token (e.g. an oversized reply).
A "delay" rule on /token delays the token reply. Every request is logged as one JSON line: time, method, path, range, authorization (present or
not, never the value), the user name of Basic credentials, status.
"""
import argparse
import base64
import http.client
import json
import os
import re
import secrets
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"mtime": None, "rules": [], "counts": {}, "special": {}, "tokens": {}}
LOCK = threading.Lock()
ARGS = None


def load_rules():
    path = ARGS.faults
    if not path or not os.path.exists(path):
        return [], {}
    st = os.stat(path)
    key = (st.st_mtime_ns, st.st_size)
    if STATE["mtime"] != key:
        with open(path) as f:
            rules = json.load(f)
        special = {}
        if rules and "path" not in rules[0]:
            special = rules.pop(0)
        STATE.update(mtime=key, rules=rules, counts={}, special=special)
    return STATE["rules"], STATE["special"]


def pick_rule(path, has_range, before_auth, method="GET"):
    with LOCK:
        rules, special = load_rules()
        for i, r in enumerate(rules):
            if not re.search(r["path"], path):
                continue
            if r.get("method") and r["method"] != method:
                continue
            if r.get("range_only") and not has_range:
                continue
            if before_auth is not None and bool(r.get("before_auth")) != before_auth:
                continue
            n = STATE["counts"].get(i, 0)
            STATE["counts"][i] = n + 1
            n -= r.get("after", 0)
            if n < 0 or (r.get("times", 1) != -1 and n >= r.get("times", 1)):
                continue
            return r, special
        return None, special


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def record(self, status):
        entry = {"time": time.time(), "method": self.command, "path": self.path,
                 "range": self.headers.get("Range"), "host": self.headers.get("Host"),
                 "authorization": self.headers.get("Authorization") is not None,
                 "basic_user": self.basic_user(),
                 "agent": self.headers.get("User-Agent"),
                 "status": status}
        with LOCK, open(ARGS.log, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def basic_user(self):
        # the user name of Basic credentials (never the password), for the credential tests
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None
        try:
            return base64.b64decode(auth[6:]).decode().split(":", 1)[0]
        except ValueError:
            return "(malformed)"

    def reply(self, code, body=b"", headers=None, content_type="application/json"):
        self.record(code)
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        if content_type:
            self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        self.do_GET()

    def do_PUT(self):
        self.do_GET()

    def do_PATCH(self):
        self.do_GET()

    def do_DELETE(self):
        self.do_GET()

    def request_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def token_ok(self, special):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return False
        with LOCK:
            born = STATE["tokens"].get(auth[7:])
        return born is not None and time.time() - born < special.get("token_ttl", ARGS.token_ttl)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        with LOCK:
            special = load_rules()[1]
        rule = None
        if url.path == "/token" or not ARGS.auth or self.token_ok(special):
            rule, special = pick_rule(self.path, "Range" in self.headers, None, self.command)
        else:
            rule, special = pick_rule(self.path, "Range" in self.headers, True, self.command)
        if rule and rule["action"] == "cut":
            n = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(rule.get("bytes", n // 2))
            self.record(0)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.body = self.request_body() if self.command in ("POST", "PUT", "PATCH") else b""
        if url.path == "/token" and rule and rule["action"] == "delay":
            time.sleep(rule.get("seconds", 1))
            rule = None
        if url.path == "/token" and not rule:
            tok = secrets.token_hex(16)
            with LOCK:
                STATE["tokens"][tok] = time.time()
            body = {"token": tok}
            expires = special.get("expires_in", ARGS.expires_in)
            if expires is not None:
                body["expires_in"] = expires
            return self.reply(200, json.dumps(body).encode())
        m = re.match(r"^/v2/(.+?)/(manifests|blobs|referrers)/", url.path)
        repo = m.group(1) if m else ""
        if special.get("basic") and url.path.startswith("/v2/") and not self.basic_user():
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":'
                              b'"authentication required"}]}',
                              {"WWW-Authenticate": 'Basic realm="faults"'})
        if ARGS.auth and url.path.startswith("/v2/"):
            realm = "http://%s/token" % self.headers.get("Host")
            challenge = 'Bearer realm="%s",service="faults",scope="repository:%s:pull"' % (
                realm, repo)
            if not self.token_ok(special) and not rule:
                err = ',error="invalid_token"' if self.headers.get("Authorization") else ""
                return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":'
                                  b'"authentication required"}]}',
                                  {"WWW-Authenticate": challenge + err})
            if repo in special.get("deny", []):
                return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":'
                                  b'"authentication required"}]}',
                                  {"WWW-Authenticate": challenge})
            if repo in special.get("forbid", []):
                return self.reply(403, b'{"errors":[{"code":"DENIED","message":'
                                  b'"requested access to the resource is denied"}]}')
        action = rule["action"] if rule else None
        if action == "status":
            body = rule.get("body", "").encode()
            return self.reply(rule["code"], body, rule.get("headers"))
        if action == "serve":
            if "body_file" in rule:
                with open(rule["body_file"], "rb") as f:
                    body = f.read()
            else:
                body = rule.get("body", "").encode()
            return self.reply(rule.get("code", 200), body, rule.get("headers"),
                              rule.get("content_type", "application/json"))
        if action == "redirect":
            self.record(307)
            self.send_response(307)
            self.send_header("Location", rule["location"] + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if action == "big-headers":
            self.record(200)
            self.send_response(200)
            for i in range(rule.get("bytes", 70000) // 100):
                self.send_header("X-Junk-%d" % i, "x" * 90)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if action == "huge-header":
            self.record(200)
            self.send_response(200)
            self.send_header("X-Huge", "x" * rule.get("bytes", 1 << 20))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if action == "endless":
            return self.endless(rule)
        if action == "hang":
            self.record(0)
            while True:
                time.sleep(1)
                try:
                    if self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                        return
                except BlockingIOError:
                    pass
                except OSError:
                    return
        if action == "delay":
            time.sleep(rule.get("seconds", 1))
        code, headers, body = self.upstream(action == "ignore-range")
        if action == "lose-reply":
            self.record(0)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if action == "add-headers":
            headers.update(rule.get("headers", {}))
            return self.reply(code, body, headers, None)
        if code >= 300 or action in (None, "delay"):
            return self.reply(code, body, headers, None)
        if action == "ignore-range":
            return self.reply(200, body, headers, None)
        if action == "trickle":
            return self.trickle(rule, code, headers, body)
        if action == "flip":
            pos = rule.get("offset", len(body) // 2)
            body = body[:pos] + bytes([body[pos] ^ 0xff]) + body[pos + 1:]
            return self.reply(code, body, headers, None)
        if action == "short":
            return self.reply(code, body[:len(body) // 2], headers, None)
        if action in ("truncate", "reset"):
            cut = rule.get("bytes", len(body) // 2)
            self.head(code, headers, len(body))
            self.wfile.write(body[:cut])
            self.wfile.flush()
            if action == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        return self.reply(code, body, headers, None)

    def head(self, code, headers, length=None):
        """Logs the reply and sends its status and headers (with Content-Length if given)."""
        self.record(code)
        self.send_response(code)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def endless(self, rule):
        headers = dict(rule.get("headers", {}))
        headers.update({"Content-Type": "application/json", "Connection": "close"})
        self.head(rule.get("code", 500), headers)
        chunk = b'{"errors":[' + b" " * 65536
        self.close_connection = True
        try:
            while True:
                self.wfile.write(chunk)
        except OSError:
            return

    def trickle(self, rule, code, headers, body):
        if "body" in rule:
            body = rule["body"].encode()
        self.head(code, headers, len(body))
        self.close_connection = True
        try:
            for i in range(len(body)):
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(rule.get("interval", 0.8))
        except OSError:
            return

    def upstream(self, drop_range):
        u = urllib.parse.urlsplit(ARGS.upstream)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        headers = {}
        for k in ("Accept", "Range", "Content-Type", "Content-Range", "Host"):
            if k in self.headers and not (drop_range and k == "Range"):
                headers[k] = self.headers[k]
        body = getattr(self, "body", b"")
        if self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body or None, headers=headers)
        r = conn.getresponse()
        body = r.read()
        keep = {}
        for k in ("Content-Type", "Docker-Content-Digest", "Content-Range", "Location", "Range",
                  "Docker-Upload-UUID", "OCI-Subject"):
            if r.getheader(k):
                keep[k] = r.getheader(k)
        conn.close()
        return r.status, keep, body


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--upstream", default="http://127.0.0.1:1")
    ap.add_argument("--faults")
    ap.add_argument("--auth", action="store_true")
    ap.add_argument("--token-ttl", type=float, default=3600)
    ap.add_argument("--expires-in", type=int)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ARGS = ap.parse_args()
    srv = ThreadingHTTPServer((ARGS.bind, 0), Handler)
    srv.daemon_threads = True
    if ARGS.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.tls_cert, ARGS.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
