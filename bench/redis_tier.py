#!/usr/bin/env python3
"""Shared Redis tier benchmark (issue #7): Redis hits against local-memory hits, and origin
requests a two-edge fleet saves against two independent edges on one Zipf workload.

1. Throughput. A Portico edge with a large memory store serves N objects (1 KiB) from memory;
   a second edge whose memory holds almost nothing serves the same objects from Redis (every
   request a local miss + Redis hit). `wrk -t1 -c32 --latency` with a Lua script picking paths
   uniformly among the N, one worker each, Portico pinned to CPU 0, wrk + redis-server + the
   origin on CPU 1. Reported: req/s, p50/p99, Portico and Redis CPU per request.
2. Fleet. The same seeded Zipf sequence (s = 1.0 over K objects) sent alternately to edge A and
   edge B, first with both on a shared (flushed) Redis, then without Redis; the origin counts
   fetches. Memory per edge is small against the key space, as at a real edge.

Stdlib only; needs redis-server, wrk and a Portico build (default build/release/portico).
Usage: bench/redis_tier.py [--portico-bin PATH] [--duration 10] [--objects 10000]
"""

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BODY = b"x" * 1023 + b"\n"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Origin(ThreadingMixIn, HTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.count = 0
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def do_GET(self):
        with self.server.lock:
            self.server.count += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(BODY)))
        self.send_header("Cache-Control", "max-age=3600")
        self.end_headers()
        self.wfile.write(BODY)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listening on {port}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def request(port, path, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        return r.status, r.getheader("X-Cache"), body
    finally:
        c.close()


class Edge:
    def __init__(self, binary, tmp, name, origin_port, memory, redis_port=None, cpu=None,
                 fleet_lock=False):
        self.port = free_port()
        self.admin = free_port()
        redis = ""
        if redis_port:
            redis = (f', redis: {{ address: "127.0.0.1:{redis_port}", timeout: 5ms, '
                     f'key_prefix: "b:", fleet_lock: {"true" if fleet_lock else "false"} }}')
        cfg = f"""listeners:
  - {{ name: http, address: "127.0.0.1:{self.port}", protocol: HTTP }}
admin: {{ address: "127.0.0.1:{self.admin}" }}
cache_policies:
  - {{ name: p, default_ttl: 3600, cache_key: {{ headers: [], cookies: none, query_strings: none }} }}
cache: {{ memory_size: {memory}, max_object_size: {memory}{redis} }}
distributions:
  - id: bench
    origins:
      - {{ id: o, custom_origin: {{ url: "http://127.0.0.1:{origin_port}" }} }}
    default_cache_behavior: {{ target_origin_id: o, cache_policy: p }}
"""
        path = os.path.join(tmp, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(cfg)
        argv = [binary, "-c", path, "--workers", "1"]
        if cpu is not None and shutil.which("taskset"):
            argv = ["taskset", "-c", str(cpu)] + argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)
        wait_port(self.admin)
        if redis_port:
            deadline = time.monotonic() + 10
            while not self.stats()["redis"]["ready"]:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis tier not ready")
                time.sleep(0.05)

    def stats(self):
        c = http.client.HTTPConnection("127.0.0.1", self.admin, timeout=5)
        c.request("GET", "/cache/stats")
        out = json.loads(c.getresponse().read())
        c.close()
        return out

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Redis:
    def __init__(self, tmp, cpu=None):
        self.port = free_port()
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", tmp, "--daemonize", "no", "--loglevel", "warning"]
        if cpu is not None and shutil.which("taskset"):
            argv = ["taskset", "-c", str(cpu)] + argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def flush(self):
        subprocess.run(["redis-cli", "-p", str(self.port), "FLUSHALL"], check=True,
                       capture_output=True)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def fill(port, n, threads=8):
    def work(k):
        for i in range(k, n, threads):
            status, _, _ = request(port, f"/o/{i}")
            assert status == 200

    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def wrk(port, seconds, script, cpu):
    argv = ["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", "-s", script,
            f"http://127.0.0.1:{port}"]
    if cpu is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", str(cpu)] + argv
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: .*", out)
    return {"rps": rps, "requests": total, "p50": pct(50), "p99": pct(99),
            "non2xx": int(errors.group(1)) if errors else 0, "socket": sock.group(0) if sock else ""}


def measure(edge, redis, seconds, script, load_cpu):
    wrk(edge.port, 1, script, load_cpu)  # warm-up
    before = edge.stats()
    p0, r0 = cpu_seconds(edge.proc.pid), cpu_seconds(redis.proc.pid)
    res = wrk(edge.port, seconds, script, load_cpu)
    p1, r1 = cpu_seconds(edge.proc.pid), cpu_seconds(redis.proc.pid)
    after = edge.stats()
    res["portico_cpu_us"] = (p1 - p0) / res["requests"] * 1e6
    res["redis_cpu_us"] = (r1 - r0) / res["requests"] * 1e6
    for k in ("hits", "errors", "unavailable", "timeouts", "breaker_trips"):
        res[f"redis_{k}"] = after["redis"][k] - before["redis"][k]
    return res


def zipf_sequence(n_requests, n_objects, s, seed):
    rng = random.Random(seed)
    weights = [1.0 / (k ** s) for k in range(1, n_objects + 1)]
    cum = []
    total = 0.0
    for w in weights:
        total += w
        cum.append(total)
    import bisect
    return [bisect.bisect_left(cum, rng.random() * total) for _ in range(n_requests)]


def run_sequence(edges, seq, threads=8):
    """Sends seq[i] to edges[i % 2] from `threads` clients (each takes every threads-th item)."""
    failures = []

    def work(k):
        for i in range(k, len(seq), threads):
            status, _, _ = request(edges[i % len(edges)].port, f"/z/{seq[i]}")
            if status != 200:
                failures.append(status)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--portico-bin", default=os.path.join(REPO, "build", "release", "portico"))
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--objects", type=int, default=10000)
    ap.add_argument("--zipf-requests", type=int, default=40000)
    ap.add_argument("--zipf-objects", type=int, default=20000)
    ap.add_argument("--zipf-s", type=float, default=1.0)
    ap.add_argument("--edge-memory", default="2MiB", help="memory_size per edge in part 2")
    ap.add_argument("--proxy-cpu", type=int, default=0)
    ap.add_argument("--load-cpu", type=int, default=1)
    ap.add_argument("--redis-cpu", type=int, default=None,
                    help="CPU for redis-server (default: the load CPU)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="portico-redis-bench-")
    origin = Origin()
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    oport = origin.server_address[1]
    redis = Redis(tmp, args.load_cpu if args.redis_cpu is None else args.redis_cpu)
    script = os.path.join(tmp, "paths.lua")
    with open(script, "w") as f:
        f.write(f"math.randomseed(42)\nrequest = function()\n"
                f"  return wrk.format(\"GET\", \"/o/\" .. math.random(0, {args.objects - 1}))\n"
                f"end\n")
    out = {}
    try:
        # 1. Throughput: local-memory hits on A, Redis hits on B.
        a = Edge(args.portico_bin, tmp, "a", oport, "256MiB", redis.port, args.proxy_cpu)
        fill(a.port, args.objects)
        deadline = time.monotonic() + 30
        while a.stats()["redis"]["writes"] < args.objects and time.monotonic() < deadline:
            time.sleep(0.05)
        b = Edge(args.portico_bin, tmp, "b", oport, "64KiB", redis.port, args.proxy_cpu)
        fetched = origin.count
        out["local"] = measure(a, redis, args.duration, script, args.load_cpu)
        a.stop()
        out["redis"] = measure(b, redis, args.duration, script, args.load_cpu)
        out["redis"]["origin_fetches"] = origin.count - fetched
        b.stop()

        # 2. Fleet vs independent edges on one Zipf sequence.
        seq = zipf_sequence(args.zipf_requests, args.zipf_objects, args.zipf_s, 7)
        out["zipf"] = {"requests": len(seq), "distinct": len(set(seq))}
        for mode in ("fleet", "independent"):
            redis.flush()
            rp = redis.port if mode == "fleet" else None
            edges = [Edge(args.portico_bin, tmp, f"{mode}{i}", oport, args.edge_memory, rp)
                     for i in range(2)]
            start = origin.count
            failures = run_sequence(edges, seq)
            out["zipf"][mode] = {"origin_requests": origin.count - start,
                                 "failures": len(failures)}
            if rp:
                out["zipf"][mode]["redis_hits"] = sum(e.stats()["redis"]["hits"] for e in edges)
            for e in edges:
                e.stop()
    finally:
        redis.stop()
        origin.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=2))
    z = out["zipf"]
    saved = 1 - z["fleet"]["origin_requests"] / max(1, z["independent"]["origin_requests"])
    print(f"\nlocal hits: {out['local']['rps']:.0f} req/s p50 {out['local']['p50']:.2f} ms "
          f"p99 {out['local']['p99']:.2f} ms, {out['local']['portico_cpu_us']:.1f} us CPU/req")
    print(f"redis hits: {out['redis']['rps']:.0f} req/s p50 {out['redis']['p50']:.2f} ms "
          f"p99 {out['redis']['p99']:.2f} ms, {out['redis']['portico_cpu_us']:.1f} us Portico + "
          f"{out['redis']['redis_cpu_us']:.1f} us Redis CPU/req, "
          f"{out['redis']['redis_hits']} of {out['redis']['requests']} from Redis "
          f"({out['redis']['redis_errors']} timeouts/errors, "
          f"{out['redis']['redis_unavailable']} with the breaker open)")
    print(f"zipf: {z['requests']} requests over {z['distinct']} distinct objects; origin "
          f"requests fleet {z['fleet']['origin_requests']} vs independent "
          f"{z['independent']['origin_requests']} ({saved * 100:.1f}% saved)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
