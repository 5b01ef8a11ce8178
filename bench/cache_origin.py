#!/usr/bin/env python3
"""Loopback origin for the cache benchmark (bench/cache_compare.sh) that counts its requests.

GET/HEAD /<name> serves the file <dir>/<name> (the driver writes 1k, 100k and 1m there) from
memory with `Cache-Control: max-age=3600`, an ETag and a Last-Modified. GET /slow/<anything>
answers after exactly SLOW_DELAY_S (1 s) with a 1 KiB cacheable body: the request-collapsing
test uses a fresh /slow/<key> per proxy and round, so every key starts cold. GET /__counts returns
how many requests each path got so far as JSON (itself not counted); that is how the driver checks
that a proxy serves hits (the count stops growing) and how many fetches a collapsing batch caused.

HTTP/1.1 with keep-alive, one thread per connection, TCP_NODELAY and one send per response, so a
cache fill never waits on Nagle. Usage: cache_origin.py --port P --dir DIR
"""

import argparse
import email.utils
import hashlib
import json
import os
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SLOW_DELAY_S = 1.0
SLOW_BODY = b"s" * 1023 + b"\n"
MAX_AGE = "max-age=3600"


class Origin(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    request_queue_size = 4096  # the collapsing test opens 100 connections at once
    allow_reuse_address = True

    def __init__(self, addr, files):
        super().__init__(addr, Handler)
        self.files = files
        self.counts = {}
        self.lock = threading.Lock()
        self.started = email.utils.formatdate(time.time() - 86400, usegmt=True)

    def count(self, path):
        with self.lock:
            self.counts[path] = self.counts.get(path, 0) + 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cache-origin"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *_):  # no access log
        pass

    def send(self, status, body, head_only, extra=()):
        lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}",
                 f"Date: {self.date_time_string()}", "Server: cache-origin",
                 "Content-Type: application/octet-stream", f"Content-Length: {len(body)}"]
        lines += list(extra)
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(data if head_only else data + body)

    def answer(self, head_only):
        path = self.path.split("?", 1)[0]
        if path == "/__counts":
            with self.server.lock:
                body = json.dumps(self.server.counts).encode()
            self.send(200, body, head_only, ["Cache-Control: no-store"])
            return
        self.server.count(path)
        cacheable = [f"Cache-Control: {MAX_AGE}", f"Last-Modified: {self.server.started}"]
        if path.startswith("/slow/"):
            time.sleep(SLOW_DELAY_S)
            self.send(200, SLOW_BODY, head_only, cacheable)
            return
        body = self.server.files.get(path)
        if body is None:
            self.send(404, b"not found\n", head_only, ["Cache-Control: no-store"])
            return
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        self.send(200, body, head_only, cacheable + [f"ETag: {etag}"])

    def do_GET(self):
        self.answer(False)

    def do_HEAD(self):
        self.answer(True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True, help="files served as /<name>")
    args = ap.parse_args()
    files = {}
    for name in os.listdir(args.dir):
        with open(os.path.join(args.dir, name), "rb") as f:
            files["/" + name] = f.read()
    server = Origin(("127.0.0.1", args.port), files)
    print(f"cache_origin: listening on 127.0.0.1:{args.port}, {len(files)} files", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
