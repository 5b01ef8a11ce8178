#!/usr/bin/env python3
"""Shared Redis tier benchmark (issue #7): Redis hits against local-memory hits, and origin
requests a two-edge fleet saves against two independent edges on one Zipf workload.

1. Throughput. A Portico edge with a large memory store serves N objects (1 KiB) from memory;
   a second edge whose memory holds almost nothing serves the same objects from Redis (every
   request a local miss + Redis hit). `wrk -t1 -c32 --latency` with a Lua script picking paths
   uniformly among the N, one worker each, Portico pinned to CPU 0, wrk + redis-server + the
   origin on CPU 1. Both edges stay up, and the two configurations run in interleaved rounds
   (local, redis | redis, local | ...: the first of each pair alternates, so neither always
   follows the other), so a noisy neighbour on a shared machine hits both alike. Reported per
   configuration: the median over rounds of req/s, p50/p99, Portico and Redis CPU per request,
   with the spread (min-max) of req/s.
2. Fleet. Per round, one seeded Zipf sequence (s = 1.0 over K objects; a new seed each round)
   sent alternately to edge A and edge B, once with both on a shared (flushed) Redis and once
   without Redis, the two in alternating order; fresh edges each time; the origin counts fetches.
   Memory per edge is small against the key space, as at a real edge. Reported: the median
   origin requests of each mode and the median of the per-round savings.

Stdlib only; needs redis-server, wrk and a Portico build (default build/release/portico).
Usage: bench/redis_tier.py [--portico-bin PATH] [--rounds 5] [--duration 5] [--objects 10000]
A smoke run (about 20 s with a release build): --rounds 2 --duration 1 --objects 300
  --zipf-requests 1000 --zipf-objects 500
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
import statistics
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


def interleaved(rounds, names):
    """The order of each round: names as given, then reversed, and so on."""
    for r in range(rounds):
        yield r, (list(names) if r % 2 == 0 else list(reversed(names)))


def summarize(runs):
    """Median over rounds of every numeric field, with the req/s spread and the raw rounds."""
    out = {}
    for k in runs[0]:
        values = [r[k] for r in runs]
        if all(isinstance(v, (int, float)) for v in values):
            out[k] = statistics.median(values)
    out["rps_min"] = min(r["rps"] for r in runs)
    out["rps_max"] = max(r["rps"] for r in runs)
    out["rounds"] = runs
    return out


def throughput(args, tmp, oport, origin, redis, script):
    a = Edge(args.portico_bin, tmp, "a", oport, "256MiB", redis.port, args.proxy_cpu)
    b = None
    try:
        fill(a.port, args.objects)
        deadline = time.monotonic() + 30
        while a.stats()["redis"]["writes"] < args.objects and time.monotonic() < deadline:
            time.sleep(0.05)
        b = Edge(args.portico_bin, tmp, "b", oport, "64KiB", redis.port, args.proxy_cpu)
        edges = {"local": a, "redis": b}
        for e in edges.values():
            wrk(e.port, 1, script, args.load_cpu)  # warm-up
        fetched = origin.count
        runs = {"local": [], "redis": []}
        for r, order in interleaved(args.rounds, ("local", "redis")):
            for name in order:
                res = measure(edges[name], redis, args.duration, script, args.load_cpu)
                runs[name].append(res)
                print(f"round {r + 1}/{args.rounds} {name}: {res['rps']:.0f} req/s "
                      f"p50 {res['p50']:.2f} ms p99 {res['p99']:.2f} ms", file=sys.stderr)
        out = {name: summarize(v) for name, v in runs.items()}
        out["redis"]["origin_fetches"] = origin.count - fetched
        return out
    finally:
        a.stop()
        if b:
            b.stop()


def fleet(args, tmp, oport, origin, redis):
    runs = {"fleet": [], "independent": []}
    for r, order in interleaved(args.rounds, ("fleet", "independent")):
        seq = zipf_sequence(args.zipf_requests, args.zipf_objects, args.zipf_s, 7 + r)
        for mode in order:
            redis.flush()
            rp = redis.port if mode == "fleet" else None
            edges = [Edge(args.portico_bin, tmp, f"{mode}{r}-{i}", oport, args.edge_memory, rp)
                     for i in range(2)]
            try:
                start = origin.count
                failures = run_sequence(edges, seq)
                res = {"origin_requests": origin.count - start, "failures": len(failures),
                       "distinct": len(set(seq))}
                if rp:
                    res["redis_hits"] = sum(e.stats()["redis"]["hits"] for e in edges)
            finally:
                for e in edges:
                    e.stop()
            runs[mode].append(res)
            print(f"round {r + 1}/{args.rounds} {mode}: {res['origin_requests']} origin requests",
                  file=sys.stderr)
    saved = [1 - f["origin_requests"] / max(1, i["origin_requests"])
             for f, i in zip(runs["fleet"], runs["independent"])]
    return {"requests": args.zipf_requests,
            "fleet": {"origin_requests": statistics.median(
                r["origin_requests"] for r in runs["fleet"]),
                "failures": sum(r["failures"] for r in runs["fleet"]),
                "redis_hits": statistics.median(r["redis_hits"] for r in runs["fleet"]),
                "rounds": runs["fleet"]},
            "independent": {"origin_requests": statistics.median(
                r["origin_requests"] for r in runs["independent"]),
                "failures": sum(r["failures"] for r in runs["independent"]),
                "rounds": runs["independent"]},
            "saved_median": statistics.median(saved),
            "saved_rounds": saved}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--portico-bin", default=os.path.join(REPO, "build", "release", "portico"))
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds per comparison")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--objects", type=int, default=10000)
    ap.add_argument("--zipf-requests", type=int, default=40000)
    ap.add_argument("--zipf-objects", type=int, default=20000)
    ap.add_argument("--zipf-s", type=float, default=1.0)
    ap.add_argument("--edge-memory", default="2MiB", help="memory_size per edge in part 2")
    ap.add_argument("--proxy-cpu", type=int, default=0)
    ap.add_argument("--load-cpu", type=int, default=1)
    ap.add_argument("--redis-cpu", type=int, default=None,
                    help="CPU for redis-server (default: the load CPU)")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-fleet", action="store_true")
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
    out = {"rounds": args.rounds, "duration": args.duration}
    try:
        if not args.skip_throughput:
            out.update(throughput(args, tmp, oport, origin, redis, script))
        if not args.skip_fleet:
            out["zipf"] = fleet(args, tmp, oport, origin, redis)
    finally:
        redis.stop()
        origin.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=2))
    print(f"\nmedians of {args.rounds} interleaved rounds")
    if "local" in out:
        loc, red = out["local"], out["redis"]
        print(f"local hits: {loc['rps']:.0f} req/s ({loc['rps_min']:.0f}-{loc['rps_max']:.0f}) "
              f"p50 {loc['p50']:.2f} ms p99 {loc['p99']:.2f} ms, "
              f"{loc['portico_cpu_us']:.1f} us CPU/req")
        print(f"redis hits: {red['rps']:.0f} req/s ({red['rps_min']:.0f}-{red['rps_max']:.0f}) "
              f"p50 {red['p50']:.2f} ms p99 {red['p99']:.2f} ms, {red['portico_cpu_us']:.1f} us "
              f"Portico + {red['redis_cpu_us']:.1f} us Redis CPU/req, "
              f"{red['redis_hits']:.0f} of {red['requests']:.0f} from Redis "
              f"({red['redis_errors']:.0f} timeouts/errors, "
              f"{red['redis_unavailable']:.0f} with the breaker open)")
    if "zipf" in out:
        z = out["zipf"]
        print(f"zipf: {z['requests']} requests per round; origin requests fleet "
              f"{z['fleet']['origin_requests']:.0f} vs independent "
              f"{z['independent']['origin_requests']:.0f} "
              f"({z['saved_median'] * 100:.1f}% saved; rounds "
              f"{', '.join(f'{x * 100:.1f}%' for x in z['saved_rounds'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
