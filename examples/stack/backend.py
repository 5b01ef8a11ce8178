#!/usr/bin/env python3
"""The stack's demo API backend: one "ECS task" in one availability zone (standard library only).

  python3 examples/stack/backend.py --zone us-east-1a --port 9101

Through the edge (the load balancer forwards /api/* here, never cached):
  GET  /api/whoami   JSON: which zone and target answered, and what the edge forwarded
  GET  /api/hello    a greeting naming the zone
  GET  /api/time     the server time
  POST /api/echo     the request body back
Only on the backend's own port (the load balancer forwards nothing outside /api/):
  GET  /health       200 "ok", or 503 while sick (the target group's health check)
  GET  /control      this backend's state as JSON
  POST /control?sick=true|false&delay_ms=N
                     sick: /health and /api/* answer 503; delay_ms: every answer waits that long
                     (over the health check's timeout, the target fails its checks too)
Every answer carries X-Backend-Zone. SIGTERM or SIGINT stops the server.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, zone, port):
        self.zone = zone
        self.port = port
        self.lock = threading.Lock()
        self.sick = False
        self.delay_ms = 0
        self.served = 0

    def snapshot(self):
        with self.lock:
            return {"zone": self.zone, "target": f"127.0.0.1:{self.port}", "pid": os.getpid(),
                    "sick": self.sick, "delay_ms": self.delay_ms, "served": self.served}


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "stack-backend/1.0"
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args):
            pass

        def _send(self, status, body, ctype="application/json"):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Backend-Zone", state.zone)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _json(self, status, obj):
            self._send(status, json.dumps(obj, indent=2) + "\n")

        def _split(self):
            path, _, query = self.path.partition("?")
            return path, dict(urllib.parse.parse_qsl(query))

        def _pause(self):
            with state.lock:
                delay = state.delay_ms
            if delay > 0:
                time.sleep(delay / 1000.0)  # the latency this backend was told to add

        def do_GET(self):
            path, _ = self._split()
            if path == "/control":
                return self._json(200, state.snapshot())
            self._pause()
            with state.lock:
                sick = state.sick
                if path != "/health":
                    state.served += 1
            if path == "/health":
                if sick:
                    return self._send(503, f"sick zone={state.zone}\n", "text/plain")
                return self._send(200, f"ok zone={state.zone}\n", "text/plain")
            if not path.startswith("/api/"):
                return self._json(404, {"error": "not found", "path": path})
            if sick:
                return self._json(503, {"error": "this backend is sick", "zone": state.zone})
            if path == "/api/whoami":
                info = state.snapshot()
                info["request"] = {
                    "path": self.path,
                    "host": self.headers.get("Host"),
                    "via": self.headers.get("Via"),
                    "x_amz_cf_id": self.headers.get("X-Amz-Cf-Id"),
                    "x_forwarded_for": self.headers.get("X-Forwarded-For"),
                    "x_forwarded_proto": self.headers.get("X-Forwarded-Proto"),
                    "x_amzn_trace_id": self.headers.get("X-Amzn-Trace-Id"),
                }
                return self._json(200, info)
            if path == "/api/hello":
                return self._json(200, {"message": f"hello from {state.zone}",
                                        "zone": state.zone})
            if path == "/api/time":
                return self._json(200, {"epoch": time.time(), "zone": state.zone})
            return self._json(404, {"error": "not found", "path": path, "zone": state.zone})

        do_HEAD = do_GET

        def do_POST(self):
            path, query = self._split()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if path == "/control":
                try:
                    with state.lock:
                        if "sick" in query:
                            state.sick = query["sick"].lower() in ("1", "true", "yes", "on")
                        if "delay_ms" in query:
                            state.delay_ms = max(0, int(query["delay_ms"]))
                except ValueError:
                    return self._json(400, {"error": "delay_ms must be an integer"})
                return self._json(200, state.snapshot())
            self._pause()
            with state.lock:
                sick = state.sick
                state.served += 1
            if sick:
                return self._json(503, {"error": "this backend is sick", "zone": state.zone})
            if path == "/api/echo":
                return self._send(200, body,
                                  self.headers.get("Content-Type", "application/octet-stream"))
            return self._json(404, {"error": "not found", "path": path, "zone": state.zone})

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zone", required=True, help="availability zone label, e.g. us-east-1a")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    state = State(args.zone, args.port)
    server = Server((args.host, args.port), make_handler(state))

    def stop(signum, frame):
        # shutdown() waits for serve_forever, which runs on this (the main) thread: stop it
        # from another one.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stdout.write(f"backend zone={args.zone} listening {args.host}:{args.port}\n")
    sys.stdout.flush()
    server.serve_forever(poll_interval=0.25)
    server.server_close()


if __name__ == "__main__":
    main()
