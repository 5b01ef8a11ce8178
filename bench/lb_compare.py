#!/usr/bin/env python3
"""Load balancer benchmark: Portico's ALB vs HAProxy and nginx, round robin over two backends.

Every proxy forwards GET /1k (a 1 KiB static file) round robin across the same two backends (two
nginx instances, 1 worker each, `access_log off`) with upstream keep-alive and an appended
X-Forwarded-For. Portico serves on a load balancer's own listener: one target group with both
backends, `load_balancing_algorithm: round_robin`, ALB's default health checks (30 s interval).
HAProxy: `balance roundrobin`, `http-reuse always`, `option forwardfor`. nginx: an `upstream` with
both servers (round robin is its default), `keepalive 64`, `$proxy_add_x_forwarded_for`.

Each proxy runs one worker pinned to CPU 0; wrk, both backends and this driver share CPU 1, as in
compare.py. Before its runs each proxy must return the file's exact bytes from both backends
(their X-Backend header); during each run the backends' request counters (nginx stub_status) give
the split between them. Per run: compare.py's measure() (quiet wait, 1 s warm-up, measured `wrk
-t1 -c64 --latency`, proxy CPU seconds from /proc). Rounds are interleaved; medians reported, with
ratios against HAProxy.

Reuses compare.py like cache_compare.py does: process control, readiness, /proc CPU accounting,
wrk parsing, medians, the nginx base configs and main() (signals, cleanup of every process by
PID); `hooked` swaps this file's server_argv, parse_args and run in while they are called.
Normally started through bench/lb_compare.sh; method in docs/benchmarks.md ("Load balancing").
"""

import argparse
import contextlib
import datetime
import http.client
import os
import platform
import re
import shutil
import statistics
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (bench/compare.py)

HERE, REPO = compare.HERE, compare.REPO
log = compare.log
PEERS = ("haproxy", "nginx")
ALL_SERVERS = ("portico",) + PEERS
BASELINE = "haproxy"
BODY = compare.BODY_1K
CHECK_REQUESTS = 8
_PARSE_ARGS = compare.parse_args


@contextlib.contextmanager
def patched(owner, **attrs):
    saved = {name: getattr(owner, name) for name in attrs}
    for name, value in attrs.items():
        setattr(owner, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(owner, name, value)


def hooked(**attrs):
    """Temporarily replace compare.py module globals (functions its helpers call by name)."""
    return patched(compare, **attrs)


def edit(text, old, new):
    """Replace exactly one occurrence, so a change to compare.py's base configs fails loudly."""
    if text.count(old) != 1:
        raise RuntimeError(f"base config changed: {old!r} found {text.count(old)} times")
    return text.replace(old, new)


# ---------------------------------------------------------------- configs


def backend_config(dir, port, www, name):
    """compare.py's origin nginx, plus X-Backend: NAME and a stub_status counter."""
    text = compare.origin_config(dir, port, www)
    return edit(text, "    location / { }\n",
                f"    location / {{ add_header X-Backend {name}; }}\n"
                "    location = /__status { stub_status; }\n")


def nginx_lb_config(dir, port, backends):
    text = compare.nginx_config(dir, port, backends[0])
    text = edit(text, f"    server 127.0.0.1:{backends[0]};\n",
                "".join(f"    server 127.0.0.1:{b};\n" for b in backends))
    return edit(text, '      proxy_set_header Connection "";\n',
                '      proxy_set_header Connection "";\n'
                "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n")


def haproxy_lb_config(dir, port, backends):
    text = compare.haproxy_config(dir, port, backends[0])
    text = edit(text, "  timeout http-keep-alive 60s\n",
                "  timeout http-keep-alive 60s\n  option forwardfor\n")
    return edit(text, f"  server origin 127.0.0.1:{backends[0]}\n",
                "  balance roundrobin\n"
                + "".join(f"  server b{i + 1} 127.0.0.1:{b}\n" for i, b in enumerate(backends)))


def portico_lb_config(port, backends):
    # The traffic port is the load balancer's own listener (no distribution on the path, like
    # the peers); the top-level listener and distribution are required by the config.
    targets = ", ".join(f'"127.0.0.1:{b}"' for b in backends)
    return f"""server: {{ max_connections: {compare.nofile() - 100} }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
target_groups:
  - {{ name: backends, targets: [{targets}], load_balancing_algorithm: round_robin }}
load_balancers:
  - name: lb
    listeners: [ {{ name: alb, address: "127.0.0.1:{port}", protocol: HTTP }} ]
    default_actions: [ {{ forward: {{ target_group: backends }} }} ]
distributions:
  - id: bench
    origins: [ {{ id: alb, load_balancer: lb }} ]
    default_cache_behavior: {{ target_origin_id: alb }}
"""


def server_argv(name, dir, port, backends, args):
    """compare.start_server's hook (its origin_port is the list of backend ports here)."""
    os.makedirs(dir, exist_ok=True)
    if name == "portico":
        if not os.access(args.portico_bin, os.X_OK):
            raise LookupError(f"binary not found or not executable: {args.portico_bin}")
        compare.write(f"{dir}/portico.yaml", portico_lb_config(port, backends))
        return [args.portico_bin, "-c", f"{dir}/portico.yaml", "--workers", "1"]
    binary = shutil.which(name) or (f"/usr/sbin/{name}"
                                    if os.access(f"/usr/sbin/{name}", os.X_OK) else None)
    if binary is None:
        raise LookupError(f"{name} not installed")
    if name == "nginx":
        compare.write(f"{dir}/nginx.conf", nginx_lb_config(dir, port, backends))
        return [binary, "-p", dir, "-e", f"{dir}/error.log", "-c", f"{dir}/nginx.conf"]
    if name == "haproxy":
        compare.write(f"{dir}/haproxy.cfg", haproxy_lb_config(dir, port, backends))
        return [binary, "-db", "-f", f"{dir}/haproxy.cfg"]
    raise LookupError(name)


# ---------------------------------------------------------------- backends and checks


class Backends:
    """Both backend nginx instances; pids() is what measure() counts as "origin" CPU."""

    def __init__(self, servers):
        self.servers = servers

    def pids(self):
        return [pid for s in self.servers for pid in s.pids()]

    def counts(self):
        """Requests each backend has served so far (stub_status)."""
        out = []
        for s in self.servers:
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
            try:
                conn.request("GET", "/__status")
                text = conn.getresponse().read().decode()
            finally:
                conn.close()
            m = re.search(r"^\s*\d+\s+\d+\s+(\d+)\s*$", text, re.M)
            if not m:
                raise RuntimeError(f"backend {s.name}: no stub_status counters in {text!r}")
            out.append(int(m.group(1)))
        return out


def start_backends(tmp, taken, args, procs, www):
    servers = []
    for i in (1, 2):
        b = compare.Server(f"b{i}")
        bdir = os.path.join(tmp, b.name)
        os.makedirs(bdir)
        for _ in (1, 2):  # a second port if the first was lost to a race
            b.port = compare.free_port(taken)
            compare.write(f"{bdir}/nginx.conf", backend_config(bdir, b.port, www, b.name))
            argv = [shutil.which("nginx") or "nginx", "-p", bdir, "-e", f"{bdir}/error.log",
                    "-c", f"{bdir}/nginx.conf"]
            if args.pin:
                argv = ["taskset", "-c", str(args.load_cpu)] + argv
            b.proc = procs.start(argv, f"{bdir}/stdout.log", cwd=bdir)
            reason = compare.wait_ready(b.proc, b.port)
            if reason is None:
                procs.record(b.pids()[1:])
                break
            procs.stop(b.proc)
            b.proc = None
        if b.proc is None:
            raise RuntimeError(f"backend nginx {b.name} failed: {reason} "
                               f"{compare.tail(bdir + '/error.log')}")
        log(f"lb_compare: backend {b.name} ready on 127.0.0.1:{b.port}")
        servers.append(b)
    return Backends(servers)


def check_both(srv, expected):
    """CHECK_REQUESTS GETs of /1k, each on a fresh connection: every body must be the file and
    both backends must answer. Returns a short note, or raises RuntimeError."""
    seen = {}
    for _ in range(CHECK_REQUESTS):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        try:
            conn.request("GET", "/1k")
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status != 200 or body != expected:
            raise RuntimeError(f"GET /1k: status {resp.status}, {len(body)} bytes")
        name = resp.headers.get("X-Backend", "?")
        seen[name] = seen.get(name, 0) + 1
    if sorted(seen) != ["b1", "b2"]:
        raise RuntimeError(f"not balanced over both backends: {seen}")
    return " / ".join(f"{k} {v}" for k, v in sorted(seen.items()))


# ---------------------------------------------------------------- report


def summarize(srv):
    s = compare.summarize(types.SimpleNamespace(runs=srv.runs, peak_rss_kib=srv.peak_rss_kib))
    s["split"] = statistics.median(r["b1_share"] for r in srv.runs)
    return s


def report(servers, args):
    L = []
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    L.append(f"# Load balancing: Portico vs HAProxy and nginx, {now}")
    L.append("")
    L.append(f"- host: {platform.node()}, {os.cpu_count()} CPUs ({compare.cpu_model()}), "
             f"Linux {platform.release()}")
    pin = (f"proxy on CPU {args.proxy_cpu}; wrk, both backends and driver on CPU {args.load_cpu}"
           if args.pin else "unpinned")
    L.append(f"- load: `wrk -t1 -c{compare.WRK_CONNECTIONS} -d{args.duration}s --latency` GET /1k "
             f"(1 KiB body), {args.rounds} interleaved round(s), 1 s warm-up before each run; "
             f"{pin}")
    L.append("- backends: two nginx (1 worker each, static file, `access_log off`); each proxy "
             "balances round robin across both with upstream keep-alive and X-Forwarded-For")
    L.append("- versions: " + "; ".join(f"{n}: {compare.version_of(n, args)}"
                                        for n in ("portico", "wrk", "nginx", "haproxy")))
    L.append(f"- command: `{args.command}`")
    L.append("")
    sums = {srv.name: summarize(srv) for srv in servers if srv.runs}
    base = sums.get(BASELINE)
    L.append(f"| server | req/s | p50 | p99 | proxy CPU-s per run | proxy CPU % | req per CPU-s "
             f"| peak RSS MiB | b1 share | ÷ {BASELINE} req/s | ÷ {BASELINE} req per CPU-s "
             f"| ÷ {BASELINE} p99 |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for srv in servers:
        s = sums.get(srv.name)
        if not s:
            L.append(f"| {srv.name} | not measured: {srv.skip or 'no runs'} "
                     "| | | | | | | | | | |")
            continue
        ratios = ([compare.ratio(s["rps"], base["rps"]),
                   compare.ratio(s["req_per_cpu_s"], base["req_per_cpu_s"]),
                   compare.ratio(s["p99"], base["p99"])] if base else ["n/a"] * 3)
        L.append(f"| {srv.name} | {s['rps']:,.0f} | {compare.fmt_ms(s['p50'])} | "
                 f"{compare.fmt_ms(s['p99'])} | {s['cpu_s']:.2f} | {s['cpu_pct']:.0f} | "
                 f"{s['req_per_cpu_s']:,.0f} | {s['rss_mib']:.1f} | {100 * s['split']:.1f}% | "
                 + " | ".join(ratios) + " |")
    L.append("")
    L.append("Medians over rounds. \"b1 share\": backend 1's part of the requests the two "
             "backends served during the warm-up and measured run (50% = an even round robin). "
             f"÷ {BASELINE} p99 below 1 is better.")
    L.append("")
    if sums:
        L.append("Other load on the benchmark CPUs (median; anything but proxy, backends and "
                 "wrk): " + ", ".join(f"{n} {s['other_pct']:.0f}%" for n, s in sums.items())
                 + ". Above ~10% another job competed and the numbers are suspect.")
        L.append("")
    notes = [f"{n}: {s['errors']} socket errors / non-2xx responses"
             for n, s in sums.items() if s["errors"]]
    notes += [f"{srv.name}: {srv.skip}" for srv in servers if srv.skip]
    notes += [f"{srv.name}: check before the runs: {srv.check}" for srv in servers
              if getattr(srv, "check", None)]
    if notes:
        L.append("Notes: " + "; ".join(notes) + ".")
        L.append("")
    L.append("<details><summary>Per-round req/s (other load %, b1 share)</summary>")
    L.append("")
    L.append("| server | " + " | ".join(f"round {i + 1}" for i in range(args.rounds)) + " |")
    L.append("|---|" + "---:|" * args.rounds)
    for srv in servers:
        if srv.runs:
            L.append(f"| {srv.name} | " + " | ".join(
                f"{r['rps']:,.0f} ({r['other_pct']:.0f}%, {100 * r['b1_share']:.1f}%)"
                for r in srv.runs) + " |")
    L.append("")
    L.append("</details>")
    L.append("")
    return "\n".join(L), sums


def summary(sums):
    out = ["", "lb_compare summary:"]
    base = sums.get(BASELINE)
    for name, s in sums.items():
        rel = (f" = {compare.ratio(s['rps'], base['rps'])} req/s, "
               f"{compare.ratio(s['req_per_cpu_s'], base['req_per_cpu_s'])} req/CPU-s, "
               f"{compare.ratio(s['p99'], base['p99'])} p99 of {BASELINE}") if base else ""
        out.append(f"  {name:8s} {s['rps']:10,.0f} req/s  p99 {compare.fmt_ms(s['p99'])}  "
                   f"{s['cpu_s']:.2f} CPU-s  {s['req_per_cpu_s']:,.0f} req/CPU-s{rel}")
    return "\n".join(out)


# ---------------------------------------------------------------- main


def parse_args():
    """compare.parse_args() with this file's server list; the stall and idle options belong to
    compare.sh."""
    own = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Options (compare.sh's, same meaning and defaults): --duration S (default 10), "
               "--rounds N (3), --quick (1 round of 3 s), --servers a,b (from "
               f"{','.join(ALL_SERVERS)}; default all), --portico-bin PATH (default "
               "$PORTICO_BIN, else build/release/portico), --out FILE (default "
               "bench/results/lb-compare-<date>-<time>.md), --quiet-wait S (30), "
               "--proxy-cpu N (0), --load-cpu N (1), --no-pin.")
    _, rest = own.parse_known_args()
    with hooked(ALL_SERVERS=ALL_SERVERS), patched(sys, argv=[sys.argv[0]] + rest):
        args = _PARSE_ARGS()
    if args.stall_only or args.no_stall or args.idle_conns:
        own.error("--stall-only, --no-stall and --idle-conns belong to compare.sh")
    if not any(a == "--out" or a.startswith("--out=") for a in rest):
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        args.out = os.path.join(HERE, "results", f"lb-compare-{stamp}.md")
    shown, skip = [], False
    for a in sys.argv[1:]:  # the command line as typed, without the wrapper's --tmpdir
        if skip or a.startswith("--tmpdir"):
            skip = a == "--tmpdir" and not skip
            continue
        shown.append(a)
    env = f"PORTICO_BIN={os.environ['PORTICO_BIN']} " if "PORTICO_BIN" in os.environ else ""
    args.command = f"{env}bench/lb_compare.sh {' '.join(shown)}".rstrip()
    return args


def run(args, tmp, procs):
    taken = set()
    if args.pin:
        os.sched_setaffinity(0, {args.load_cpu})  # keep the driver off the proxy's core
    compare.raise_nofile()
    www = os.path.join(tmp, "www")
    os.makedirs(www)
    expected = b"a" * (BODY - 1) + b"\n"
    with open(os.path.join(www, "1k"), "wb") as f:
        f.write(expected)
    backends = start_backends(tmp, taken, args, procs, www)
    ports = [b.port for b in backends.servers]

    servers = [compare.Server(n) for n in args.servers]
    for srv in servers:
        srv.check = None
        with hooked(server_argv=server_argv):
            compare.start_server(srv, tmp, taken, ports, args, procs)
        if not srv.skip:
            try:
                seen = check_both(srv, expected)
                log(f"lb_compare: {srv.name} balances: {seen}")
            except (RuntimeError, OSError, http.client.HTTPException) as e:
                srv.skip = f"check failed: {e}"
                log(f"lb_compare: SKIPPING {srv.name}: {srv.skip}")
    live = [s for s in servers if not s.skip]

    for rnd in range(args.rounds):
        order = live[rnd % len(live):] + live[:rnd % len(live)] if live else []
        for srv in order:
            if srv.skip:
                continue
            try:
                before = backends.counts()
                res, _ = compare.measure(srv, backends, args.duration, args, procs)
                after = backends.counts()
            except (RuntimeError, ValueError, OSError, http.client.HTTPException) as e:
                srv.skip = f"failed in round {rnd + 1}: {e}"
                log(f"lb_compare: {srv.name} {srv.skip}")
                continue
            served = [a - b for a, b in zip(after, before)]
            res["b1_share"] = served[0] / max(1, sum(served))
            srv.runs.append(res)
            log(f"lb_compare: round {rnd + 1}/{args.rounds} {srv.name:8s} "
                f"{res['rps']:10,.0f} req/s  p99 {compare.fmt_ms(res['p99_ms'])}  "
                f"cpu {res['cpu_s']:.2f} s  backends {served[0]}/{served[1]}  "
                f"other load {res['other_pct']:.0f}%"
                + (f"  errors {res['socket_errors'] + res['non2xx']}"
                   if res['socket_errors'] + res['non2xx'] else ""))
    for srv in servers:
        if srv.runs and srv.proc and srv.proc.poll() is None:
            srv.peak_rss_kib = compare.status_kib(srv.pids(), "VmHWM")
            try:
                check_both(srv, expected)  # still whole bodies from both after the load
            except (RuntimeError, OSError, http.client.HTTPException) as e:
                srv.check = f"after the load rounds: {e}"
        elif srv.runs and not srv.skip:
            srv.skip = f"exited with status {srv.proc.returncode} after the load rounds"

    text, sums = report(servers, args)
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    compare.write(args.out, text + "\n")
    log(summary(sums))
    log(f"lb_compare: results written to {args.out}")
    return 0


def main():
    # compare.main: temp dir, signal handling, run(), then every process stopped by PID.
    with hooked(parse_args=parse_args, run=run):
        return compare.main()


if __name__ == "__main__":
    sys.exit(main())
