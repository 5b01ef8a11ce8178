#!/usr/bin/env python3
"""Side-by-side load benchmark: Portico vs nginx, HAProxy and h2o as reverse proxies.

Every proxy forwards to the same origin (a separate nginx serving static 1 KiB and 100 KiB bodies)
with upstream keep-alive, runs one worker pinned to CPU 0, and is loaded by wrk pinned to CPU 1
(the origin shares the load generator's core). Rounds are interleaved (round 1: every server,
round 2: every server, ...). Prints a Markdown table of medians plus Portico/peer ratios and
writes it to a results file. Normally started through bench/compare.sh; see bench/README.md.

Everything but the results file lives in one temp dir; every process started here is stopped
by PID on exit (normal, error, SIGINT/SIGTERM/SIGHUP).
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PEERS = ("nginx", "haproxy", "h2o")
ALL_SERVERS = ("portico",) + PEERS
NOFILE = 65536            # fd limit we try for; without CAP_SYS_RESOURCE the hard limit caps it
READY_TIMEOUT_S = 5.0
WRK_CONNECTIONS = 64
BODY_1K = 1024
BODY_100K = 100 * 1024
STALL_REQUESTS = 200
STALL_THRESHOLD_MS = 30.0  # a Nagle/delayed-ACK stall costs ~40 ms on Linux


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- signals


class Interrupted(BaseException):
    """Raised from a signal handler so `finally` blocks run the cleanup."""


def on_signal(signum, _frame):
    # Ignore any further signal (compare.sh forwards SIGTERM after a Ctrl-C) so the
    # cleanup that follows is not itself interrupted.
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    raise Interrupted(signum)


# ---------------------------------------------------------------- /proc helpers


def process_tree(root, same_exe=True):
    """root plus its live descendants (nginx: master + workers). With same_exe, only those
    running root's binary: h2o forks a perl crash-handler helper that is not the proxy."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    if not os.path.exists(f"/proc/{root}"):
        return []
    tree, todo = [root], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            tree.append(child)
            todo.append(child)
    if same_exe:
        exe = exe_of(root)
        tree = [root] + [pid for pid in tree[1:] if exe_of(pid) == exe]
    return tree


def exe_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def cpu_busy(cpus):
    """(total, busy) jiffies summed over the given CPUs from /proc/stat; busy is everything but
    idle and iowait, so it includes hypervisor steal and interrupts."""
    total = busy = 0
    with open("/proc/stat") as f:
        for line in f:
            name, *vals = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                vals = [int(v) for v in vals[:8]]
                total += sum(vals)
                busy += sum(vals) - vals[3] - vals[4]
    return total, busy


def cpu_ticks(pids):
    """utime + stime (all threads) summed over pids, in clock ticks."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # fields[0] is field 3 (state)
        total += int(fields[11]) + int(fields[12])   # fields 14 utime, 15 stime
    return total


def status_kib(pids, key):
    """Sum of a /proc/<pid>/status field such as VmHWM or VmRSS, in KiB."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


# ---------------------------------------------------------------- processes


class Processes:
    """Every process this script starts; stopped by PID, never by name."""

    def __init__(self, tmp):
        self.procs = []
        self.pidfile = os.path.join(tmp, "pids")  # read by compare.sh's EXIT trap as a backstop

    def start(self, argv, logpath, cwd):
        with open(logpath, "ab") as out:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
        self.procs.append(p)
        self.record([p.pid])
        return p

    def record(self, pids):
        with open(self.pidfile, "a") as f:
            for pid in pids:
                f.write(f"{pid}\n")

    def stop(self, p, grace_s=3.0):
        if p.poll() is not None:
            return
        tree = process_tree(p.pid, same_exe=False)
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=grace_s)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace_s
        for pid in tree[1:]:  # children (nginx workers) normally exit with their master
            while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
                time.sleep(0.05)
            if os.path.exists(f"/proc/{pid}"):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def stop_all(self):
        for p in reversed(self.procs):
            try:
                self.stop(p)
            except Exception as e:  # keep stopping the others
                log(f"compare: could not stop pid {p.pid}: {e}")
        self.procs = []


def free_port(taken):
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in taken:
            taken.add(port)
            return port


def http_code(port, path):
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "1",
                        f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True)
    return r.stdout.strip()


def wait_ready(p, port, path="/1k", timeout_s=READY_TIMEOUT_S):
    """Poll with curl until 200. Returns None when ready, else a reason."""
    deadline = time.monotonic() + timeout_s
    code = ""
    while time.monotonic() < deadline:
        if p.poll() is not None:
            return f"exited with status {p.returncode}"
        code = http_code(port, path)
        if code == "200":
            return None
        time.sleep(0.1)
    return f"no 200 on {path} within {timeout_s:.0f} s (last status {code or 'none'})"


def tail(path, n=2, width=240):
    """Last lines of a log, joined, for a one-line skip reason."""
    try:
        with open(path, errors="replace") as f:
            text = " | ".join(line.strip() for line in f.readlines()[-n:] if line.strip())
    except OSError:
        return ""
    return text if len(text) <= width else "..." + text[-width:]


# ---------------------------------------------------------------- configs

NGINX_COMMON = """daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile {nofile};
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections {conns}; }}
"""

NGINX_TEMPS = """  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
"""


def origin_config(dir, port, www):
    return NGINX_COMMON.format(nofile=nofile(), conns=nofile() - 100, dir=dir) + f"""http {{
  access_log off;
  tcp_nopush off;
  sendfile on;
  keepalive_requests 100000000;
  default_type application/octet-stream;
{NGINX_TEMPS.format(dir=dir)}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    root {www};
    location / {{ }}
  }}
}}
"""


def nginx_config(dir, port, origin_port):
    # keepalive_requests raised on both sides: nginx's default of 1000 would make it (alone)
    # reopen client and upstream connections during the run.
    return NGINX_COMMON.format(nofile=nofile(), conns=nofile() - 100, dir=dir) + f"""http {{
  access_log off;
  tcp_nopush off;
  keepalive_requests 100000000;
{NGINX_TEMPS.format(dir=dir)}
  upstream origin {{
    server 127.0.0.1:{origin_port};
    keepalive 64;
    keepalive_requests 100000000;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""


def haproxy_config(dir, port, origin_port):
    return f"""global
  nbthread 1
  maxconn {(nofile() - 64) // 2}
  pidfile {dir}/haproxy.pid

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s

frontend fe
  bind 127.0.0.1:{port}
  default_backend be

backend be
  server origin 127.0.0.1:{origin_port}
"""


def h2o_config(dir, port, origin_port):
    # No access-log directive = no access log. `user: root` because h2o refuses to start as
    # root without a `user`, and switching to Debian's debian-h2o would be no different here.
    return f"""user: root
num-threads: 1
max-connections: {nofile() - 100}
error-log: {dir}/error.log
pid-file: {dir}/h2o.pid
listen:
  host: 127.0.0.1
  port: {port}
hosts:
  default:
    paths:
      /:
        proxy.reverse.url: http://127.0.0.1:{origin_port}/
"""


def portico_config(port, origin_port):
    return f"""server: {{ max_connections: {nofile() - 100} }}
listeners:
  - {{ name: http, address: 127.0.0.1:{port}, protocol: HTTP }}
distributions:
  - id: bench
    origins:
      - {{ id: o, custom_origin: {{ url: "http://127.0.0.1:{origin_port}" }} }}
    default_cache_behavior: {{ target_origin_id: o, allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE] }}
"""


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def server_argv(name, dir, port, origin_port, args):
    """Write name's config under dir and return (argv without pinning) or raise LookupError."""
    os.makedirs(dir, exist_ok=True)
    if name in ("nginx", "origin"):
        binary = shutil.which("nginx")
    elif name == "portico":
        binary = args.portico_bin if os.access(args.portico_bin, os.X_OK) else None
        if binary is None:
            raise LookupError(f"binary not found or not executable: {args.portico_bin}")
    else:
        binary = shutil.which(name)
    if binary is None:
        raise LookupError(f"{name} not installed")
    if name == "nginx":
        write(f"{dir}/nginx.conf", nginx_config(dir, port, origin_port))
        return [binary, "-p", dir, "-e", f"{dir}/error.log", "-c", f"{dir}/nginx.conf"]
    if name == "haproxy":
        write(f"{dir}/haproxy.cfg", haproxy_config(dir, port, origin_port))
        return [binary, "-db", "-f", f"{dir}/haproxy.cfg"]
    if name == "h2o":
        write(f"{dir}/h2o.conf", h2o_config(dir, port, origin_port))
        return [binary, "-m", "worker", "-c", f"{dir}/h2o.conf"]
    if name == "portico":
        write(f"{dir}/portico.yaml", portico_config(port, origin_port))
        return [binary, "-c", f"{dir}/portico.yaml", "--workers", "1"]
    raise LookupError(name)


class Server:
    def __init__(self, name):
        self.name = name
        self.port = None
        self.proc = None
        self.skip = None      # reason it is not (or no longer) measured
        self.runs = []        # dicts from run_wrk plus cpu_s
        self.peak_rss_kib = 0
        self.stall = None
        self.idle = None

    def pids(self):
        return process_tree(self.proc.pid) if self.proc else []


def start_server(srv, tmp, taken, origin_port, args, procs):
    dir = os.path.join(tmp, srv.name)
    for attempt in (1, 2):  # a second try on a fresh port covers a lost port race
        srv.port = free_port(taken)
        try:
            argv = server_argv(srv.name, dir, srv.port, origin_port, args)
        except LookupError as e:
            srv.skip = str(e)
            return
        pinned = ["taskset", "-c", str(args.proxy_cpu)] + argv if args.pin else argv
        srv.proc = procs.start(pinned, f"{dir}/stdout.log", cwd=dir)
        reason = wait_ready(srv.proc, srv.port)
        if reason is None:
            procs.record(srv.pids()[1:])
            log(f"compare: {srv.name} ready on 127.0.0.1:{srv.port} (pids {srv.pids()})")
            return
        procs.stop(srv.proc)
        srv.proc = None
        detail = tail(f"{dir}/stdout.log") or tail(f"{dir}/error.log")
        srv.skip = f"failed readiness check: {reason}" + (f" [{detail}]" if detail else "")
        if not reason.startswith("exited"):
            break  # running but not answering: a port race would have made it exit
        if attempt == 1:
            log(f"compare: {srv.name} {srv.skip}; retrying on another port")
    log(f"compare: SKIPPING {srv.name}: {srv.skip}")


# ---------------------------------------------------------------- wrk

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"bad latency {text!r}")
    return float(m.group(1)) * UNIT_MS[m.group(2)]


def parse_wrk(out):
    res = {}
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", out, re.M)
    if not m:
        raise ValueError("no 'requests in' line")
    res["requests"] = int(m.group(1))
    res["secs"] = to_ms(m.group(2) + m.group(3)) / 1000.0
    m = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    res["rps"] = float(m.group(1)) if m else res["requests"] / res["secs"]
    for pct in ("50", "99"):
        m = re.search(rf"^\s*{pct}%\s+(\S+)", out, re.M)
        if not m:
            raise ValueError(f"no {pct}% latency line (wrk --latency)")
        res[f"p{pct}_ms"] = to_ms(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non2xx"] = int(m.group(1)) if m else 0
    return res


def run_wrk(port, secs, args, procs, path="/1k", tool=None):
    """One bounded load run. `tool`: another load generator's argv before the URL, one that prints
    wrk's summary (cache_compare.py --client sink_load); default wrk -t1 -cN -dS --latency."""
    argv = (tool or ["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{secs}s", "--latency"]) + [
        f"http://127.0.0.1:{port}{path}"]
    name = os.path.basename(argv[0])
    if args.pin:
        argv = ["taskset", "-c", str(args.load_cpu)] + argv
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    procs.procs.append(p)
    procs.record([p.pid])
    try:
        out, _ = p.communicate(timeout=secs + 20)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{name} did not finish in time")
    finally:  # also on Ctrl-C: stop (a no-op once it exited) and reap it here
        procs.stop(p)
        procs.procs.remove(p)
    if p.returncode != 0:
        raise RuntimeError(f"{name} exited {p.returncode}: {out.strip()[-300:]}")
    return parse_wrk(out), out


def wait_quiet(cpus, limit_s, busy_pct=10.0):
    """Before a run nothing of ours is busy, so busy CPUs mean other jobs (a compile on a shared
    machine). Wait up to limit_s for them to calm down; run anyway after that."""
    start = time.monotonic()
    while True:
        t0, b0 = cpu_busy(cpus)
        time.sleep(0.5)
        t1, b1 = cpu_busy(cpus)
        pct = 100.0 * (b1 - b0) / max(1, t1 - t0)
        waited = time.monotonic() - start
        if pct <= busy_pct:
            if waited > 1:
                log(f"compare: benchmark CPUs quiet after {waited:.0f} s")
            return
        if waited >= limit_s:
            log(f"compare: benchmark CPUs still {pct:.0f}% busy with other work after "
                f"{waited:.0f} s; running anyway")
            return
        if waited < 1:
            log(f"compare: benchmark CPUs {pct:.0f}% busy with other work; waiting up to "
                f"{limit_s:.0f} s")
        time.sleep(2.0)


def measure(srv, origin, secs, args, procs):
    """One warm-up and one measured wrk run. Besides wrk's numbers, records the proxy's CPU
    seconds and `other_pct`: the share of the benchmark CPUs used by anything but the proxy,
    the origin and wrk (other jobs on a shared machine, steal, interrupts), a noise gauge."""
    cpus = {args.proxy_cpu, args.load_cpu} if args.pin else set(range(os.cpu_count()))
    wait_quiet(cpus, args.quiet_wait)
    run_wrk(srv.port, 1, args, procs)  # 1 s warm-up, discarded
    pids, opids = srv.pids(), origin.pids()
    t0, b0 = cpu_busy(cpus)
    p0, o0 = cpu_ticks(pids), cpu_ticks(opids)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is reaped by us: its CPU lands here
    res, raw = run_wrk(srv.port, secs, args, procs)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p1, o1 = cpu_ticks(pids), cpu_ticks(opids)
    t1, b1 = cpu_busy(cpus)
    res["cpu_s"] = (p1 - p0) / CLK_TCK
    wrk_s = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    ours = res["cpu_s"] + (o1 - o0) / CLK_TCK + wrk_s
    res["other_pct"] = max(0.0, 100.0 * ((b1 - b0) / CLK_TCK - ours) / max(1e-9, (t1 - t0) / CLK_TCK))
    if srv.proc.poll() is not None:
        raise RuntimeError(f"exited with status {srv.proc.returncode} during the run")
    return res, raw


# ---------------------------------------------------------------- stall check


def stall_check(port, n=STALL_REQUESTS, path="/100k"):
    """n sequential GETs on one keep-alive connection; per-request wall time in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for i in range(n + 1):
        t0 = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        dt = (time.perf_counter() - t0) * 1000.0
        if resp.status != 200 or len(body) != BODY_100K:
            raise RuntimeError(f"GET {path}: status {resp.status}, {len(body)} bytes")
        if resp.will_close:
            raise RuntimeError("server closed the keep-alive connection")
        if i > 0:  # the first request warms the upstream connection
            times.append(dt)
    conn.close()
    times.sort()
    return {"median_ms": statistics.median(times), "p90_ms": times[int(0.9 * len(times)) - 1],
            "max_ms": times[-1], "slow": sum(t >= STALL_THRESHOLD_MS for t in times), "n": n}


# ---------------------------------------------------------------- idle connections


def idle_check(srv, count, procs):
    argv = [sys.executable, os.path.join(HERE, "idle_conns.py"), "--port", str(srv.port),
            "--pid", str(srv.proc.pid), "--count", str(count), "--json"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    procs.procs.append(p)
    procs.record([p.pid])
    try:
        out, err = p.communicate(timeout=120)
    finally:
        procs.stop(p)
        procs.procs.remove(p)
    if p.returncode != 0:
        raise RuntimeError(err.strip()[-300:])
    return json.loads(out)


# ---------------------------------------------------------------- report


def fmt_ms(ms):
    return f"{ms * 1000:.0f} µs" if ms < 1 else f"{ms:.2f} ms"


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "n/a"


def version_of(name, args):
    cmds = {"nginx": ["nginx", "-v"], "haproxy": ["haproxy", "-v"], "h2o": ["h2o", "--version"],
            "wrk": ["wrk", "-v"], "portico": [args.portico_bin, "--version"]}
    try:
        r = subprocess.run(cmds[name], capture_output=True, text=True, timeout=5)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except Exception:
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def summarize(srv):
    runs = srv.runs
    med = lambda key: statistics.median(r[key] for r in runs)
    cpu_s = med("cpu_s")
    return {
        "rps": med("rps"), "p50": med("p50_ms"), "p99": med("p99_ms"),
        "cpu_pct": statistics.median(100.0 * r["cpu_s"] / r["secs"] for r in runs),
        "req_per_cpu_s": statistics.median(r["requests"] / r["cpu_s"] if r["cpu_s"] else 0.0
                                           for r in runs),
        "rss_mib": srv.peak_rss_kib / 1024.0,
        "errors": sum(r["socket_errors"] + r["non2xx"] for r in runs),
        "cpu_s": cpu_s,
        "other_pct": med("other_pct"),
    }


# ---------------------------------------------------------------- bracketed runs


def bracket_order(order):
    """`order` with Portico run before the first peer and again after every peer: each peer run
    then sits between two Portico runs seconds away (bench/README.md, "Bracketed ratios")."""
    portico = next((s for s in order if s.name == "portico"), None)
    if portico is None:
        return order
    peers = [s for s in order if s is not portico]
    return [portico] + [x for peer in peers for x in (peer, portico)]


class Brackets:
    """Collects (Portico before, peer run, Portico after) trios as runs complete, in the order
    bracket_order gives; restart() at the start of each group (round, or object and round)."""

    def __init__(self):
        self.trios = {}  # peer name -> [(before, run, after)]
        self.restart()

    def restart(self):
        self.last, self.pending = None, None

    def record(self, name, res):
        if name == "portico":
            if self.pending:
                peer, run, before = self.pending
                self.trios.setdefault(peer, []).append((before, run, res))
            self.last, self.pending = res, None
        elif self.last is not None:
            self.pending = (name, res, self.last)

    def ratios(self, peer):
        """Portico ÷ `peer`: per trio, the mean of the two Portico runs over the peer's run; the
        median over trios. rps, eff (req per CPU-s), p99 (Portico's p99 ÷ the peer's); None
        without trios."""
        trios = self.trios.get(peer)
        if not trios:
            return None
        pick = {"rps": lambda r: r["rps"], "p99": lambda r: r["p99_ms"],
                "eff": lambda r: r["requests"] / r["cpu_s"] if r["cpu_s"] else 0.0}
        out = {k: statistics.median((f(b) + f(a)) / 2.0 / f(run) if f(run) else 0.0
                                    for b, run, a in trios) for k, f in pick.items()}
        out["n"] = len(trios)
        return out


def report(servers, args, stall_rows, brackets=None):
    lines = []
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    load = not args.stall_only
    lines.append(f"# Portico vs peers, {now}")
    lines.append("")
    lines.append(f"- host: {platform.node()}, {os.cpu_count()} CPUs ({cpu_model()}), "
                 f"Linux {platform.release()}")
    pin = (f"proxy on CPU {args.proxy_cpu}, wrk + origin on CPU {args.load_cpu}" if args.pin
           else "unpinned")
    if load:
        lines.append(f"- load: `wrk -t1 -c{WRK_CONNECTIONS} -d{args.duration}s --latency` GET /1k "
                     f"(1 KiB body), {args.rounds} interleaved round(s)"
                     + (", Portico before the first peer and after every peer (bracketed)"
                        if args.bracket else "") + f", 1 s warm-up before each run; {pin}")
    lines.append("- origin: nginx, 1 worker, static files; every proxy keeps upstream "
                 "connections alive")
    lines.append("- versions: " + "; ".join(
        f"{n}: {version_of(n, args)}" for n in ("wrk", "nginx", "haproxy", "h2o")))
    lines.append("")
    if load:
        lines.append("| server | req/s (median) | p50 | p99 | proxy CPU % | req per CPU-s "
                     "| peak RSS MiB |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        sums = {}
        for srv in servers:
            if not srv.runs:
                lines.append(f"| {srv.name} | pending: {srv.skip or 'not run'} | | | | | |")
                continue
            s = sums[srv.name] = summarize(srv)
            lines.append(f"| {srv.name} | {s['rps']:,.0f} | {fmt_ms(s['p50'])} | "
                         f"{fmt_ms(s['p99'])} | {s['cpu_pct']:.0f} | {s['req_per_cpu_s']:,.0f} | "
                         f"{s['rss_mib']:.1f} |")
        lines.append("")
        if "portico" in sums:
            lines.append("| Portico ÷ peer | req/s | req per CPU-s |")
            lines.append("|---|---:|---:|")
            for peer in PEERS:
                if peer in sums:
                    lines.append(f"| {peer} | {ratio(sums['portico']['rps'], sums[peer]['rps'])} "
                                 f"| {ratio(sums['portico']['req_per_cpu_s'], sums[peer]['req_per_cpu_s'])} |")
        else:
            lines.append("Ratios Portico ÷ peer: n/a (Portico was not measured).")
        lines.append("")
        if brackets and brackets.trios:
            lines.append("Bracketed (each peer run between two Portico runs; the mean of those "
                         "two over the peer's run, median over rounds; p99 ≤ 1.00× is no worse):")
            lines.append("")
            lines.append("| Portico ÷ peer, bracketed | req/s | req per CPU-s | p99 | rounds |")
            lines.append("|---|---:|---:|---:|---:|")
            for peer in PEERS:
                b = brackets.ratios(peer)
                if b:
                    lines.append(f"| {peer} | {b['rps']:.2f}× | {b['eff']:.2f}× | "
                                 f"{b['p99']:.2f}× | {b['n']} |")
            lines.append("")
        if sums:
            lines.append("Other load on the benchmark CPUs during the runs (median; anything but "
                         "proxy, origin and wrk): " + ", ".join(
                             f"{n} {s['other_pct']:.0f}%" for n, s in sums.items())
                         + ". Above ~10% another job competed and the numbers are suspect.")
            lines.append("")
        notes = [f"{n}: {s['errors']} socket errors / non-2xx responses"
                 for n, s in sums.items() if s["errors"]]
        notes += [f"{srv.name}: {srv.skip}" for srv in servers if srv.skip]
        if notes:
            lines.append("Notes: " + "; ".join(notes) + ".")
            lines.append("")
        lines.append("<details><summary>Per-round req/s (other load: % of the benchmark CPUs "
                     "used by anything but proxy, origin and wrk)</summary>")
        lines.append("")
        lines.append("| server | " + " | ".join(f"round {i + 1}" for i in range(args.rounds)) + " |")
        lines.append("|---|" + "---:|" * args.rounds)
        for srv in servers:
            if srv.runs:
                k = max(1, len(srv.runs) // args.rounds)  # bracketed: Portico's runs, " / "
                lines.append(f"| {srv.name} | " + " | ".join(
                    " / ".join(f"{r['rps']:,.0f} ({r['other_pct']:.0f}%)"
                               for r in srv.runs[i:i + k])
                    for i in range(0, len(srv.runs), k)) + " |")
        lines.append("")
        lines.append("</details>")
        lines.append("")
    if stall_rows:
        lines.append(f"Stall check: {STALL_REQUESTS} sequential keep-alive GETs of a 100 KiB body "
                     f"(one connection; a Nagle/delayed-ACK stall shows as ~40 ms):")
        lines.append("")
        lines.append("| server | median | p90 | max | requests ≥ 30 ms | verdict |")
        lines.append("|---|---:|---:|---:|---:|---|")
        for name, st, err in stall_rows:
            if err:
                lines.append(f"| {name} | | | | | error: {err} |")
            else:
                verdict = "STALL" if st["slow"] else "ok"
                lines.append(f"| {name} | {fmt_ms(st['median_ms'])} | {fmt_ms(st['p90_ms'])} | "
                             f"{fmt_ms(st['max_ms'])} | {st['slow']} | {verdict} |")
        lines.append("")
    idle = [srv for srv in servers if srv.idle]
    if idle:
        lines.append(f"Idle keep-alive connections (bench/idle_conns.py, RSS of the proxy's "
                     f"processes):")
        lines.append("")
        lines.append("| server | connections held | RSS before MiB | RSS after MiB | KiB per conn |")
        lines.append("|---|---:|---:|---:|---:|")
        for srv in idle:
            i = srv.idle
            lines.append(f"| {srv.name} | {i['held']} | {i['rss_before_kib'] / 1024:.1f} | "
                         f"{i['rss_after_kib'] / 1024:.1f} | {i['kib_per_conn']:.2f} |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=lambda s: int(s.rstrip("s")), default=10,
                    help="seconds per measured run (default 10)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--quick", action="store_true", help="1 round of 3 s (smoke test)")
    ap.add_argument("--servers", default=",".join(ALL_SERVERS),
                    help="comma list from portico,nginx,haproxy,h2o (default all)")
    ap.add_argument("--portico-bin", help="default: $PORTICO_BIN, else build/release/portico",
                    default=os.environ.get(
        "PORTICO_BIN", os.path.join(REPO, "build/release/portico")))
    ap.add_argument("--out", help="results file (default bench/results/compare-<date>.md)")
    ap.add_argument("--no-stall", action="store_true", help="skip the 100 KiB stall check")
    ap.add_argument("--stall-only", action="store_true", help="only run the stall check")
    ap.add_argument("--idle-conns", type=int, default=0, metavar="N",
                    help="also hold N idle connections to each proxy and report RSS (default off)")
    ap.add_argument("--quiet-wait", type=float, default=30.0, metavar="S",
                    help="before each run wait up to S seconds for other jobs to leave the "
                         "benchmark CPUs idle (default 30, 0 = do not wait)")
    ap.add_argument("--proxy-cpu", type=int, default=0)
    ap.add_argument("--load-cpu", type=int, default=1)
    ap.add_argument("--no-pin", dest="pin", action="store_false",
                    help="do not pin (for machines with one CPU)")
    ap.add_argument("--no-bracket", dest="bracket", action="store_false",
                    help="one Portico run per round, not one before the first peer and after "
                         "every peer (bench/README.md)")
    ap.add_argument("--tmpdir", help="work dir (compare.sh passes its mktemp -d)")
    args = ap.parse_args()
    # Servers run with their own config dir as working directory: a relative path would break.
    args.portico_bin = os.path.abspath(args.portico_bin)
    if args.quick:
        args.rounds, args.duration = 1, 3
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    bad = [n for n in names if n not in ALL_SERVERS]
    if bad or not names:
        ap.error(f"unknown server(s) {bad}; choose from {', '.join(ALL_SERVERS)}")
    args.servers = names
    if args.rounds < 1 or args.duration < 1:
        ap.error("--rounds and --duration must be >= 1")
    if args.pin and os.cpu_count() < 2:
        log("compare: fewer than 2 CPUs, running unpinned")
        args.pin = False
    if not args.out:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        suffix = "-stall" if args.stall_only else ""
        args.out = os.path.join(HERE, "results", f"compare-{stamp}{suffix}.md")
    return args


def raise_nofile():
    """Raise our fd limit (inherited by every server) as far as allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(NOFILE, soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def nofile():
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def run(args, tmp, procs):
    taken = set()
    if args.pin:
        os.sched_setaffinity(0, {args.load_cpu})  # keep this driver off the proxy's core
    raise_nofile()

    www = os.path.join(tmp, "www")
    os.makedirs(www)
    write(os.path.join(www, "1k"), "a" * (BODY_1K - 1) + "\n")
    write(os.path.join(www, "100k"), "b" * (BODY_100K - 1) + "\n")

    origin = Server("origin")
    odir = os.path.join(tmp, "origin")
    os.makedirs(odir)
    for _ in (1, 2):
        origin.port = free_port(taken)
        write(f"{odir}/nginx.conf", origin_config(odir, origin.port, www))
        argv = [shutil.which("nginx") or "nginx", "-p", odir, "-e", f"{odir}/error.log",
                "-c", f"{odir}/nginx.conf"]
        if args.pin:
            argv = ["taskset", "-c", str(args.load_cpu)] + argv
        origin.proc = procs.start(argv, f"{odir}/stdout.log", cwd=odir)
        reason = wait_ready(origin.proc, origin.port)
        if reason is None:
            procs.record(origin.pids()[1:])
            break
        procs.stop(origin.proc)
        origin.proc = None
    if origin.proc is None:
        raise RuntimeError(f"origin nginx failed: {reason} {tail(odir + '/error.log')}")
    log(f"compare: origin ready on 127.0.0.1:{origin.port}")

    servers = [Server(n) for n in args.servers]
    for srv in servers:
        start_server(srv, tmp, taken, origin.port, args, procs)
    live = [s for s in servers if not s.skip]
    if not live:
        log("compare: no server could be started")

    brackets = Brackets()
    if not args.stall_only:
        for rnd in range(args.rounds):
            order = live[rnd % len(live):] + live[:rnd % len(live)] if live else []
            if args.bracket:
                order = bracket_order(order)
            brackets.restart()
            for srv in order:
                if srv.skip:
                    continue
                try:
                    res, _ = measure(srv, origin, args.duration, args, procs)
                except (RuntimeError, ValueError) as e:
                    srv.skip = f"failed in round {rnd + 1}: {e}"
                    log(f"compare: {srv.name} {srv.skip}")
                    continue
                srv.runs.append(res)
                brackets.record(srv.name, res)
                log(f"compare: round {rnd + 1}/{args.rounds} {srv.name:8s} "
                    f"{res['rps']:10,.0f} req/s  p50 {fmt_ms(res['p50_ms'])}  "
                    f"p99 {fmt_ms(res['p99_ms'])}  cpu {res['cpu_s']:.2f} s  "
                    f"other load {res['other_pct']:.0f}%"
                    + (f"  errors {res['socket_errors'] + res['non2xx']}"
                       if res['socket_errors'] + res['non2xx'] else ""))
        for srv in servers:  # read peaks before the stall and idle checks add to them
            if srv.runs and srv.proc and srv.proc.poll() is None:
                srv.peak_rss_kib = status_kib(srv.pids(), "VmHWM")

    stall_rows = []
    if not args.no_stall:
        targets = [("origin (direct)", origin.port)] + [(s.name, s.port) for s in servers
                                                        if s.proc and s.proc.poll() is None]
        for name, port in targets:
            try:
                st, err = stall_check(port), None
                log(f"compare: stall {name:16s} median {fmt_ms(st['median_ms'])} "
                    f"max {fmt_ms(st['max_ms'])} slow {st['slow']}/{st['n']}")
            except (OSError, RuntimeError, http.client.HTTPException) as e:
                st, err = None, str(e)
                log(f"compare: stall {name}: {err}")
            stall_rows.append((name, st, err))

    if args.idle_conns:
        for srv in servers:
            if srv.proc and srv.proc.poll() is None:
                try:
                    srv.idle = idle_check(srv, args.idle_conns, procs)
                    log(f"compare: idle {srv.name}: {srv.idle}")
                except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
                    log(f"compare: idle {srv.name}: {e}")

    text = report(servers, args, stall_rows, brackets)
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write(args.out, text + "\n")
    log(f"compare: results written to {args.out}")
    return 0


def main():
    args = parse_args()
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    own_tmp = args.tmpdir is None
    tmp = tempfile.mkdtemp(prefix="portico-bench.") if own_tmp else args.tmpdir
    procs = Processes(tmp)
    rc = 1
    try:
        rc = run(args, tmp, procs)
    except Interrupted as e:
        log(f"compare: interrupted by signal {e.args[0]}, cleaning up")
        rc = 128 + e.args[0]
    except Exception:
        traceback.print_exc()
        rc = 1
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        procs.stop_all()
        if own_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
