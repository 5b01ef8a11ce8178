#!/usr/bin/env python3
"""Demo API backend for examples/portico.yaml: a small real HTTP/1.1 server (stdlib only).

GET  /api/hello          -> JSON greeting with what the edge forwarded (Via, X-Amz-Cf-Id, XFF)
GET  /api/time           -> the server time
POST /api/echo           -> echoes the request body
GET  /health             -> "ok"
"""
import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "demo-backend/1.0"

    def _send(self, status, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/health":
            return self._send(200, "ok\n", "text/plain")
        if path.endswith("/hello"):
            return self._send(200, json.dumps({
                "message": "hello from the demo backend",
                "path": self.path,
                "via": self.headers.get("Via"),
                "x_amz_cf_id": self.headers.get("X-Amz-Cf-Id"),
                "x_forwarded_for": self.headers.get("X-Forwarded-For"),
            }, indent=2) + "\n")
        if path.endswith("/time"):
            return self._send(200, json.dumps({"epoch": time.time()}) + "\n")
        return self._send(404, json.dumps({"error": "not found", "path": self.path}) + "\n")

    do_HEAD = do_GET

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        return self._send(200, body, self.headers.get("Content-Type", "application/octet-stream"))

    def log_message(self, fmt, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=9001)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
