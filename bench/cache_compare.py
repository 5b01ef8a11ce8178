#!/usr/bin/env python3
"""Cache benchmark: Portico's cache vs nginx, Varnish, HAProxy and ATS caches (h2o: files).

Portico's cache against nginx proxy_cache, Varnish, HAProxy's cache and Apache Traffic Server,
with h2o serving the same files from disk as a no-cache reference.

Every proxy caches what bench/cache_origin.py serves (1 KiB, 100 KiB and 1 MiB objects with
`Cache-Control: max-age=3600`) and runs one worker pinned to CPU 0; wrk, the origin and this driver
share CPU 1, as in compare.py. Per object size and server: the cache is filled and checked (bytes
equal to the file, the peer's hit header on the second request), then compare.py's measure() runs
a 1 s warm-up and a measured `wrk -t1 -c64 --latency` while the origin's request count shows
whether anything missed. Rounds are interleaved. Then the collapsing test: 100 concurrent GETs of a
cold /slow/<key> that the origin answers after 1 s; origin fetches and batch time per server.

Reuses compare.py: process control, readiness, /proc CPU accounting, wrk parsing, medians, the
base configs of nginx/HAProxy/h2o/Portico (edited here to add caching) and its main() with its
signal handling and cleanup. compare.py's helpers look their collaborators up as module globals
at call time (server_argv, run_wrk, parse_args, run, ALL_SERVERS); `hooked` swaps in this file's
versions for the duration of a call, so none of that code is copied. Normally started through
bench/cache_compare.sh; see bench/README.md.
"""

import argparse
import contextlib
import datetime
import http.client
import json
import os
import platform
import pwd
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (bench/compare.py)
from cache_origin import SLOW_BODY, SLOW_DELAY_S  # noqa: E402

HERE, REPO = compare.HERE, compare.REPO
log = compare.log
PEERS = ("nginx", "varnish", "haproxy", "ats", "h2o")
ALL_SERVERS = ("portico",) + PEERS
CACHING = ("portico", "nginx", "varnish", "haproxy", "ats")  # h2o: files, no cache
OBJECTS = {"1k": 1024, "100k": 100 * 1024, "1m": 1024 * 1024}
LABEL = {"1k": "1 KiB", "100k": "100 KiB", "1m": "1 MiB"}
COLLAPSE_CLIENTS = 100
CACHE_MIB = 512
_RUN_WRK = compare.run_wrk  # the originals: main() hooks compare.parse_args, and run_wrk is
_PARSE_ARGS = compare.parse_args  # wrapped per object path


@contextlib.contextmanager
def patched(owner, **attrs):
    """Temporarily replace attributes of a module (or object)."""
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


def nginx_cache_config(dir, port, origin_port):
    text = compare.nginx_config(dir, port, origin_port)
    text = edit(text, "  upstream origin {",
                f"  sendfile on;\n"
                f"  proxy_cache_path {dir}/cache levels=1:2 keys_zone=c:32m max_size={CACHE_MIB}m "
                f"inactive=1h use_temp_path=off;\n"
                f"  upstream origin {{")
    return edit(text, '      proxy_set_header Connection "";\n',
                '      proxy_set_header Connection "";\n'
                "      proxy_cache c;\n"
                "      proxy_cache_lock on;\n"
                "      proxy_cache_lock_timeout 10s;\n"
                "      proxy_cache_lock_age 10s;\n"
                "      add_header X-Cache $upstream_cache_status;\n")


def haproxy_cache_config(dir, port, origin_port):
    text = compare.haproxy_config(dir, port, origin_port)
    text = edit(text, "frontend fe\n",
                f"cache c\n  total-max-size {CACHE_MIB}\n  max-object-size {16 << 20}\n"
                f"  max-age 3600\n\nfrontend fe\n"
                "  http-response set-header X-Cache HIT if !{ srv_id -m found }\n"
                "  http-response set-header X-Cache MISS if { srv_id -m found }\n")
    return edit(text, "\nbackend be\n",
                "\nbackend be\n  http-request cache-use c\n  http-response cache-store c\n")


def h2o_files_config(dir, port, www):
    text = compare.h2o_config(dir, port, 0)
    return edit(text, "proxy.reverse.url: http://127.0.0.1:0/", f"file.dir: {www}")


def portico_cache_config(port, origin_port):
    text = compare.portico_config(port, origin_port)
    text = edit(text, "{ target_origin_id: o, ",
                "{ target_origin_id: o, cache_policy: Managed-CachingOptimized, ")
    return text + f"cache: {{ memory_size: {CACHE_MIB}MiB, max_object_size: 64MiB }}\n"


def varnish_vcl(origin_port):
    return f"""vcl 4.1;
backend origin {{ .host = "127.0.0.1"; .port = "{origin_port}"; }}
sub vcl_deliver {{
  if (obj.hits > 0) {{ set resp.http.X-Cache = "HIT"; }} else {{ set resp.http.X-Cache = "MISS"; }}
}}
"""


def ats_records(port, user):
    # One event thread (exec_thread.limit 1), no accept thread, one task thread; the RAM cache
    # holds every object (cutoff 4 MiB, no seen-filter) over a file-backed disk cache. Via level 3
    # carries the cache result code ([uScR...] = RAM hit). Read-while-writer plus open-read
    # retries (up to 5 s) are ATS's way of collapsing concurrent misses.
    settings = {
        "proxy.config.admin.user_id": ("STRING", user),
        "proxy.config.exec_thread.autoconfig": ("INT", 0),
        "proxy.config.exec_thread.limit": ("INT", 1),
        "proxy.config.exec_thread.affinity": ("INT", 0),
        "proxy.config.accept_threads": ("INT", 0),
        "proxy.config.task_threads": ("INT", 1),
        "proxy.config.cache.threads_per_disk": ("INT", 1),
        "proxy.config.http.server_ports": ("STRING", f"{port}:ipv4:ip-in=127.0.0.1"),
        "proxy.config.http.insert_request_via_str": ("INT", 0),
        "proxy.config.http.insert_response_via_str": ("INT", 3),
        "proxy.config.http.insert_client_ip": ("INT", 0),
        "proxy.config.http.insert_squid_x_forwarded_for": ("INT", 0),
        "proxy.config.http.cache.http": ("INT", 1),
        "proxy.config.http.cache.required_headers": ("INT", 2),
        "proxy.config.cache.ram_cache.size": ("INT", CACHE_MIB << 20),
        "proxy.config.cache.ram_cache_cutoff": ("INT", 4 << 20),
        "proxy.config.cache.ram_cache.use_seen_filter": ("INT", 0),
        "proxy.config.cache.enable_read_while_writer": ("INT", 1),
        "proxy.config.http.cache.max_open_read_retries": ("INT", 500),
        "proxy.config.http.cache.open_read_retry_time": ("INT", 10),
        "proxy.config.http.keep_alive_no_activity_timeout_in": ("INT", 120),
        "proxy.config.http.keep_alive_no_activity_timeout_out": ("INT", 120),
        "proxy.config.net.connections_throttle": ("INT", max(1000, compare.nofile() - 400)),
        "proxy.config.log.logging_enabled": ("INT", 0),
        "proxy.config.url_remap.remap_required": ("INT", 1),
        "proxy.config.reverse_proxy.enabled": ("INT", 1),
        "proxy.config.diags.debug.enabled": ("INT", 0),
    }
    return "".join(f"CONFIG {k} {t} {v}\n" for k, (t, v) in settings.items())


def ats_argv(binary, dir, port, origin_port):
    """A private runroot under dir: configs (Debian's /etc/trafficserver as the base), logs,
    runtime files and a 256 MiB cache file. As root, ATS refuses to serve unless it drops to a
    non-root user, so the dir goes to the package's `trafficserver` user (the driver makes the
    temp dir traversable)."""
    if not os.path.isdir("/etc/trafficserver"):
        raise LookupError("trafficserver not installed (/etc/trafficserver missing)")
    etc = os.path.join(dir, "etc")
    shutil.rmtree(etc, ignore_errors=True)
    shutil.copytree("/etc/trafficserver", etc)
    for sub in ("log", "run", "cache", "var"):
        os.makedirs(os.path.join(dir, sub), exist_ok=True)
    layout = {"prefix": dir, "exec_prefix": "/usr", "bindir": "/usr/bin", "sbindir": "/usr/sbin",
              "sysconfdir": etc, "datadir": f"{dir}/cache", "includedir": "/usr/include",
              "libdir": "/usr/lib/trafficserver", "libexecdir": "/usr/lib/trafficserver/modules",
              "localstatedir": f"{dir}/var", "runtimedir": f"{dir}/run", "logdir": f"{dir}/log",
              "cachedir": f"{dir}/cache"}
    compare.write(f"{dir}/runroot.yaml", "".join(f"{k}: {v}\n" for k, v in layout.items()))
    user = "trafficserver" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    compare.write(f"{etc}/records.config", ats_records(port, user))
    compare.write(f"{etc}/remap.config",
                  f"map http://127.0.0.1:{port}/ http://127.0.0.1:{origin_port}/\n")
    compare.write(f"{etc}/storage.config", f"{dir}/cache 256M\n")
    compare.write(f"{etc}/plugin.config", "")
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            raise LookupError("no 'trafficserver' user to run ATS as")
        for root, dirs, files in os.walk(dir):
            for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                os.lchown(name, pw.pw_uid, pw.pw_gid)
    return ["env", f"TS_RUNROOT={dir}/runroot.yaml", binary]


BINARIES = {"nginx": "nginx", "varnish": "varnishd", "haproxy": "haproxy",
            "ats": "traffic_server", "h2o": "h2o"}


def server_argv(name, dir, port, origin_port, args):
    """compare.start_server's hook: write name's caching config under dir, return its argv."""
    os.makedirs(dir, exist_ok=True)
    if name == "portico":
        if not os.access(args.portico_bin, os.X_OK):
            raise LookupError(f"binary not found or not executable: {args.portico_bin}")
        compare.write(f"{dir}/portico.yaml", portico_cache_config(port, origin_port))
        return [args.portico_bin, "-c", f"{dir}/portico.yaml", "--workers", "1"]
    binary = shutil.which(BINARIES[name]) or (
        f"/usr/sbin/{BINARIES[name]}" if os.access(f"/usr/sbin/{BINARIES[name]}", os.X_OK)
        else None)
    if binary is None:
        raise LookupError(f"{BINARIES[name]} not installed")
    if name == "nginx":
        compare.write(f"{dir}/nginx.conf", nginx_cache_config(dir, port, origin_port))
        return [binary, "-p", dir, "-e", f"{dir}/error.log", "-c", f"{dir}/nginx.conf"]
    if name == "haproxy":
        compare.write(f"{dir}/haproxy.cfg", haproxy_cache_config(dir, port, origin_port))
        return [binary, "-db", "-f", f"{dir}/haproxy.cfg"]
    if name == "h2o":
        compare.write(f"{dir}/h2o.conf", h2o_files_config(dir, port, args.www))
        return [binary, "-m", "worker", "-c", f"{dir}/h2o.conf"]
    if name == "varnish":
        compare.write(f"{dir}/default.vcl", varnish_vcl(origin_port))
        shutil.rmtree(f"{dir}/work", ignore_errors=True)
        return [binary, "-F", "-j", "none", "-n", f"{dir}/work", "-a", f"127.0.0.1:{port}",
                "-f", f"{dir}/default.vcl", "-s", f"malloc,{CACHE_MIB}m", "-p", "thread_pools=1"]
    if name == "ats":
        return ats_argv(binary, dir, port, origin_port)
    raise LookupError(name)


# ---------------------------------------------------------------- checks


def hit_status(name, headers):
    """(hit?, what the peer said) from a response's headers; (None, ...) when it has no cache."""
    if name == "h2o":
        return None, "files (no cache)"
    if name == "ats":
        m = re.search(r"\[u.c(.)", headers.get("Via", ""))
        code = m.group(1) if m else "?"
        return code in "HR", f"Via c{code}"
    value = headers.get("X-Cache", "")
    hit = value.startswith("Hit") if name == "portico" else value == "HIT"
    return hit, f"X-Cache: {value}" if value else "no X-Cache header"


def get(port, path, timeout=10.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def origin_counts(origin):
    status, _, body = get(origin.port, "/__counts")
    if status != 200:
        raise RuntimeError(f"origin /__counts: status {status}")
    return json.loads(body)


def fill_and_check(srv, obj, expected):
    """Two GETs: both must return the file's exact bytes; the second must be a hit."""
    notes = []
    for i in (1, 2):
        status, headers, body = get(srv.port, "/" + obj)
        if status != 200 or body != expected:
            bad = next((k for k, (a, b) in enumerate(zip(body, expected)) if a != b), None)
            notes.append(f"GET /{obj} #{i}: status {status}, {len(body)} bytes"
                         + (f", first wrong byte at {bad}" if bad is not None else "")
                         + f" (expected 200, {len(expected)} bytes)")
    hit, said = hit_status(srv.name, headers)
    if hit is False:
        notes.append(f"second GET /{obj} not a hit ({said})")
    return said, notes


def load_tool(args, secs):
    """None (wrk) or bench/sink_load's argv before the URL: same connections and duration, but
    bodies are discarded in the kernel instead of copied, so at 100 KiB and 1 MiB the server's
    core is the limit instead of the load generator's (bench/sink_load.cc)."""
    if args.client != "sink_load":
        return None
    return [args.sink_load_bin, "-c", str(compare.WRK_CONNECTIONS), "-d", str(secs)]


def measure_object(srv, origin, obj, args, procs):
    """compare.measure (warm-up + measured wrk run + /proc CPU) on /obj, plus origin fetches.
    A run during which other jobs took more than --noisy % of the benchmark CPUs is repeated
    (at most --retries times); the least disturbed one is kept."""
    path = "/" + obj
    runs = []
    while True:
        before = origin_counts(origin).get(path, 0)
        with hooked(run_wrk=lambda port, secs, a, p: _RUN_WRK(port, secs, a, p, path=path,
                                                              tool=load_tool(a, secs))):
            res, _ = compare.measure(srv, origin, args.duration, args, procs)
        res["origin_fetches"] = origin_counts(origin).get(path, 0) - before
        runs.append(res)
        if res["other_pct"] <= args.noisy or len(runs) > args.retries:
            break
        log(f"cache_compare: {srv.name} /{obj}: other load {res['other_pct']:.0f}% > "
            f"{args.noisy:.0f}%, repeating ({len(runs)}/{args.retries})")
    keep = min(runs, key=lambda r: r["other_pct"])
    keep["tries"] = len(runs)
    keep["origin_fetches"] = sum(r["origin_fetches"] for r in runs)
    return keep


def collapse_batch(port, path, n=COLLAPSE_CLIENTS, timeout_s=15.0):
    """n threads, one connection each, released together to GET path. Returns the batch time
    (release to last complete response) and per request (status, body length) or an error."""
    barrier = threading.Barrier(n + 1, timeout=timeout_s)
    results = [None] * n
    ends = [None] * n

    def client(i):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
            conn.connect()
            barrier.wait()
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            ends[i] = time.perf_counter()
            results[i] = (resp.status, len(body) if body == SLOW_BODY else f"wrong {len(body)} B")
            conn.close()
        except Exception as e:  # reported per request
            results[i] = ("error", type(e).__name__)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    deadline = time.monotonic() + timeout_s + 5
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    done = [e for e in ends if e is not None]
    return (max(done) - t0 if done else None), results


def collapse_test(srv, origin, rnd):
    path = f"/slow/{srv.name}-r{rnd}-{random.randrange(1 << 30):08x}"
    batch_s, results = collapse_batch(srv.port, path)
    time.sleep(0.5)  # let a late or background origin fetch show up in the count
    fetches = origin_counts(origin).get(path, 0)
    good = (200, len(SLOW_BODY))
    return {"fetches": fetches, "batch_s": batch_s, "ok": results.count(good),
            "bad": [r for r in results if r != good][:3]}


# ---------------------------------------------------------------- report


def version(name, args):
    if name in ("varnish", "ats"):
        argv = ["varnishd", "-V"] if name == "varnish" else ["traffic_server", "-V"]
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=5)
            m = re.search(r"varnish-[\d.]+|Traffic Server [\d.]+", r.stdout + r.stderr)
            if m:
                return m.group(0)
        except Exception:
            pass
        return "unknown"
    return compare.version_of(name, args)


def mbps(s, obj):
    return s["rps"] * OBJECTS[obj] / 1e6


def best(sums, names, key):
    have = [(sums[n][key], n) for n in names if n in sums]
    return max(have) if have else (None, None)


def verdict(ok):
    return "**met**" if ok else "**not met**"


def bracketed(brackets, obj, peer):
    """compare.Brackets.ratios for `obj` (brackets: object -> compare.Brackets), or None."""
    b = brackets.get(obj)
    return b.ratios(peer) if b else None


def targets(sums, coll, brackets):
    """Rows (target, measured, met?) for the issue #3 targets; None when not measurable.
    With bracketed runs (the default) the verdict uses the bracketed ratios, which a drift of
    the machine's speed over minutes does not move; the medians' ratio is shown beside them."""
    rows = []

    def ratio_row(label, obj, peer, key, need, a, b):
        br = bracketed(brackets, obj, peer)
        plain = a / b if b else 0.0
        if br:
            return (label, f"{br[key]:.2f}× bracketed ({br['n']} rounds); medians {plain:.2f}×",
                    verdict(br[key] >= need))
        return (label, f"{plain:.2f}×", verdict(plain >= need))

    p = sums.get("1k", {}).get("portico")
    if p:
        h = sums["1k"].get("haproxy")
        rows.append(ratio_row("1 KiB: req per proxy CPU-s ≥ 1.2× HAProxy", "1k", "haproxy", "eff",
                              1.2, p["req_per_cpu_s"], h["req_per_cpu_s"]) if h else
                    ("1 KiB: req per proxy CPU-s ≥ 1.2× HAProxy", "n/a", "n/a"))
        f = sums["1k"].get("h2o")
        rows.append(ratio_row("1 KiB: req/s ≥ h2o file serving", "1k", "h2o", "rps", 1.0,
                              p["rps"], f["rps"]) if f else
                    ("1 KiB: req/s ≥ h2o file serving", "n/a", "n/a"))
        for peer in ("haproxy", "h2o"):
            q = sums["1k"].get(peer)
            if not q:
                continue
            br = bracketed(brackets, "1k", peer)
            shown = f"{compare.fmt_ms(p['p99'])} vs {compare.fmt_ms(q['p99'])}"
            if br:
                shown = f"{br['p99']:.2f}× of its p99, bracketed; medians " + shown
            rows.append((f"1 KiB: p99 no worse than {peer}", shown,
                         verdict(br["p99"] <= 1.0 if br else p["p99"] <= q["p99"])))
    for obj in ("100k", "1m"):
        p = sums.get(obj, {}).get("portico")
        if not p:
            continue
        peers = [n for n in CACHING if n != "portico" and n in sums[obj]]
        b, who = best({n: {"mb": mbps(sums[obj][n], obj)} for n in peers}, peers, "mb")
        label = f"{LABEL[obj]}: MB/s ≥ 1.0× best caching peer"
        brs = {n: bracketed(brackets, obj, n) for n in peers}
        if peers and all(brs.values()):
            # Against every caching peer, each in its own bracket: the lowest ratio decides.
            low = min(peers, key=lambda n: brs[n]["rps"])
            rows.append((f"{label} (lowest bracketed: {low})",
                         f"{brs[low]['rps']:.2f}× bracketed; medians "
                         f"{compare.ratio(mbps(p, obj), b)} of {who}",
                         verdict(brs[low]["rps"] >= 1.0)))
        else:
            rows.append((f"{label} ({who or 'none'})",
                         compare.ratio(mbps(p, obj), b) if b else "n/a",
                         verdict(mbps(p, obj) >= b) if b else "n/a"))
    c = coll.get("portico")
    if c:
        worst_fetch = max(r["fetches"] for r in c)
        times = [r["batch_s"] for r in c if r["batch_s"] is not None]
        worst_t = max(times) if times else None
        all_ok = all(r["ok"] == COLLAPSE_CLIENTS for r in c)
        rows.append(("collapsing: 1 origin fetch (every round)",
                     ", ".join(str(r["fetches"]) for r in c), verdict(worst_fetch == 1)))
        rows.append(("collapsing: batch ≤ 1.1 s (every round), all 100 served",
                     (f"max {worst_t:.3f} s" if worst_t else "no response")
                     + ("" if all_ok else ", some requests failed"),
                     verdict(worst_t is not None and worst_t <= 1.1 * SLOW_DELAY_S and all_ok)))
    return rows


def report(servers, args, coll, brackets):
    L = []
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    L.append(f"# Cache hits: Portico vs caching proxies, {now}")
    L.append("")
    L.append(f"- host: {platform.node()}, {os.cpu_count()} CPUs ({compare.cpu_model()}), "
             f"Linux {platform.release()}")
    client = args.client
    pin = (f"proxy on CPU {args.proxy_cpu}; {client}, origin and driver on CPU {args.load_cpu}"
           if args.pin else "unpinned")
    load = (f"wrk -t1 -c{compare.WRK_CONNECTIONS} -d{args.duration}s --latency" if client == "wrk"
            else f"bench/sink_load -c{compare.WRK_CONNECTIONS} -d{args.duration}")
    sink = "" if client == "wrk" else " (bodies discarded in the kernel with `recv(MSG_TRUNC)`)"
    L.append(f"- load: `{load}`{sink} per "
             f"object, {args.rounds} interleaved round(s)"
             + (", Portico before the first peer and after every peer (bracketed)"
                if args.bracket else "") + ", cache filled and checked before, "
             f"1 s warm-up before each run; {pin}; a run with other load above "
             f"{args.noisy:.0f}% repeated up to {args.retries} time(s), least disturbed kept")
    L.append("- origin: bench/cache_origin.py (Python, loopback), `Cache-Control: max-age=3600`; "
             "h2o serves the same files from disk (no cache)")
    L.append("- versions: " + "; ".join(f"{n}: {version(n, args)}" for n in
                                        ("portico", "wrk", "nginx", "varnish", "haproxy", "ats",
                                         "h2o")))
    L.append(f"- command: `{args.command}`")
    L.append("")
    sums = {}
    for obj in args.objects:
        s = sums[obj] = {srv.name: compare.summarize(types.SimpleNamespace(
            runs=srv.obj_runs[obj], peak_rss_kib=srv.peak_rss_kib))
            for srv in servers if srv.obj_runs.get(obj)}
        top_rps = max((v["rps"] for v in s.values()), default=0)
        top_eff = max((v["req_per_cpu_s"] for v in s.values()), default=0)
        L.append(f"## {LABEL[obj]} hits")
        L.append("")
        L.append("| server | req/s | MB/s | ÷ best MB/s | p50 | p99 | proxy CPU % | req per CPU-s "
                 "| ÷ best per CPU-s | origin fetches in runs | cache says |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for srv in servers:
            v = s.get(srv.name)
            if not v:
                L.append(f"| {srv.name} | not measured: {srv.skip or 'no runs'} "
                         "| | | | | | | | | |")
                continue
            fetches = sum(r["origin_fetches"] for r in srv.obj_runs[obj])
            fetch_txt = "n/a (files)" if srv.name == "h2o" else (
                "0" if not fetches else f"**{fetches}** (not all hits)")
            L.append(f"| {srv.name} | {v['rps']:,.0f} | {mbps(v, obj):,.1f} | "
                     f"{compare.ratio(v['rps'], top_rps)} | {compare.fmt_ms(v['p50'])} | "
                     f"{compare.fmt_ms(v['p99'])} | {v['cpu_pct']:.0f} | "
                     f"{v['req_per_cpu_s']:,.0f} | {compare.ratio(v['req_per_cpu_s'], top_eff)} | "
                     f"{fetch_txt} | {srv.said.get(obj, '')} |")
        L.append("")
        other = ", ".join(f"{n} {v['other_pct']:.0f}%" for n, v in s.items())
        errors = [f"{n}: {v['errors']}" for n, v in s.items() if v["errors"]]
        L.append(f"Other load on the benchmark CPUs (median): {other}."
                 + (f" Socket errors / non-2xx: {', '.join(errors)}." if errors else ""))
        L.append("")
    if coll:
        L.append(f"## Request collapsing ({COLLAPSE_CLIENTS} concurrent GETs of a cold object, "
                 f"origin answers after {SLOW_DELAY_S:.0f} s)")
        L.append("")
        L.append("| server | origin fetches per round | batch time (median) | batch time (max) "
                 "| requests answered 200 + full body |")
        L.append("|---|---:|---:|---:|---:|")
        for name in ["origin"] + [srv.name for srv in servers]:
            rs = coll.get(name)
            if not rs:
                continue
            times = [r["batch_s"] for r in rs if r["batch_s"] is not None]
            shown = "origin direct (no proxy)" if name == "origin" else name
            L.append(f"| {shown} | {', '.join(str(r['fetches']) for r in rs)} | "
                     + (f"{statistics.median(times):.3f} s | {max(times):.3f} s" if times
                        else "none | none")
                     + f" | {', '.join(str(r['ok']) for r in rs)} |")
        L.append("")
        bad = [f"{n} round {i + 1}: {r['bad']}" for n, rs in coll.items()
               for i, r in enumerate(rs) if r["bad"]]
        if bad:
            L.append("Failed or short collapsing responses (first 3 per batch): "
                     + "; ".join(bad) + ".")
            L.append("")
    if any(b.trios for b in brackets.values()):
        L.append("## Bracketed ratios (Portico ÷ peer)")
        L.append("")
        L.append("Each peer run sits between two Portico runs of the same object; per round, the "
                 "mean of those two over the peer's run; the median over rounds. p99: Portico's "
                 "over the peer's (≤ 1.00× is no worse).")
        L.append("")
        L.append("| object | peer | req/s (= MB/s) | req per CPU-s | p99 | rounds |")
        L.append("|---|---|---:|---:|---:|---:|")
        for obj in args.objects:
            for srv in servers:
                br = bracketed(brackets, obj, srv.name)
                if br:
                    L.append(f"| {LABEL[obj]} | {srv.name} | {br['rps']:.2f}× | {br['eff']:.2f}× "
                             f"| {br['p99']:.2f}× | {br['n']} |")
        L.append("")
    rows = targets(sums, coll, brackets)
    if rows:
        L.append("## Issue #3 targets (Portico)")
        L.append("")
        L.append("| target | measured | |")
        L.append("|---|---|---|")
        L.extend(f"| {t} | {m} | {v} |" for t, m, v in rows)
        L.append("")
    notes = [f"{srv.name}: {srv.skip}" for srv in servers if srv.skip]
    notes += [f"{srv.name}: {n}" for srv in servers for n in srv.check_notes]
    if notes:
        L.append("Notes: " + "; ".join(notes) + ".")
        L.append("")
    L.append("<details><summary>Per-round req/s (other load %, tries, origin fetches)"
             "</summary>")
    L.append("")
    L.append("| server | object | " + " | ".join(f"round {i + 1}" for i in range(args.rounds))
             + " |")
    L.append("|---|---|" + "---:|" * args.rounds)
    for srv in servers:
        for obj in args.objects:
            runs = srv.obj_runs.get(obj)
            if runs:
                # Bracketed, Portico has several runs per round: one cell each round, " / ".
                k = max(1, len(runs) // args.rounds)
                cell = lambda r: (f"{r['rps']:,.0f} ({r['other_pct']:.0f}%, {r['tries']}x, "
                                  f"{r['origin_fetches']} fetches)")
                L.append(f"| {srv.name} | {LABEL[obj]} | " + " | ".join(
                    " / ".join(cell(r) for r in runs[i:i + k])
                    for i in range(0, len(runs), k)) + " |")
    L.append("")
    L.append("</details>")
    L.append("")
    return "\n".join(L), rows, sums


def summary(rows, sums, coll):
    out = ["", "cache_compare summary:"]
    for obj, s in sums.items():
        if "portico" not in s:
            continue
        peers = [n for n in s if n != "portico"]
        b, who = best({n: {"mb": mbps(s[n], obj)} for n in peers}, peers, "mb")
        e, ewho = best(s, peers, "req_per_cpu_s")
        out.append(f"  {LABEL[obj]:>7}: Portico {mbps(s['portico'], obj):,.1f} MB/s = "
                   f"{compare.ratio(mbps(s['portico'], obj), b)} of best peer ({who}); "
                   f"{s['portico']['req_per_cpu_s']:,.0f} req/CPU-s = "
                   f"{compare.ratio(s['portico']['req_per_cpu_s'], e)} of best peer ({ewho})")
    for name, rs in coll.items():
        times = [r["batch_s"] for r in rs if r["batch_s"] is not None]
        out.append(f"  collapse {name:8s}: fetches {[r['fetches'] for r in rs]}, batch "
                   + (f"{statistics.median(times):.3f} s" if times else "none"))
    for t, m, v in rows:
        out.append(f"  {v.strip('*'):9s} {t}: {m}")
    return "\n".join(out)


# ---------------------------------------------------------------- main


def parse_args():
    """This file's options, then compare.parse_args() (with this file's server list) for the
    options both drivers share, so they mean the same in both."""
    own = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Shared with bench/compare.sh (same meaning and defaults): --duration S "
               "(default 10), --rounds N (3), --quick (1 round of 3 s), --servers a,b "
               f"(from {','.join(ALL_SERVERS)}; default all), --portico-bin PATH (default "
               "$PORTICO_BIN, else build/release/portico), --out FILE (default "
               "bench/results/cache-compare-<date>-<time>.md), --quiet-wait S (30), "
               "--proxy-cpu N (0), --load-cpu N (1), --no-pin, --no-bracket.")
    own.add_argument("--objects", default=",".join(OBJECTS),
                     help="comma list from 1k,100k,1m (default all)")
    own.add_argument("--no-collapse", action="store_true", help="skip the collapsing test")
    own.add_argument("--noisy", type=float, default=10.0, metavar="PCT",
                     help="a run during which other jobs used more than PCT%% of the benchmark "
                          "CPUs is repeated (default 10)")
    own.add_argument("--retries", type=int, default=2, metavar="N",
                     help="repeat a noisy run at most N times, keep the least noisy (default 2; "
                          "0 = never)")
    own.add_argument("--client", choices=("wrk", "sink_load"), default="wrk",
                     help="load generator: wrk (default) or bench/sink_load, which discards "
                          "bodies in the kernel (recv MSG_TRUNC) so large hits load the server, "
                          "not the client")
    own.add_argument("--sink-load-bin", metavar="PATH",
                     help="default: $SINK_LOAD_BIN, else bench/sink_load next to the Portico "
                          "binary's build dir")
    mine, rest = own.parse_known_args()
    with hooked(ALL_SERVERS=ALL_SERVERS), patched(sys, argv=[sys.argv[0]] + rest):
        args = _PARSE_ARGS()
    if args.stall_only or args.no_stall or args.idle_conns:
        own.error("--stall-only, --no-stall and --idle-conns belong to compare.sh")
    args.objects = [o.strip() for o in mine.objects.split(",") if o.strip()]
    if not args.objects or any(o not in OBJECTS for o in args.objects):
        own.error(f"--objects: choose from {', '.join(OBJECTS)}")
    args.no_collapse, args.noisy, args.retries = mine.no_collapse, mine.noisy, mine.retries
    args.portico_bin = os.path.abspath(args.portico_bin)  # servers start in their own dirs
    args.client = mine.client
    args.sink_load_bin = os.path.abspath(
        mine.sink_load_bin or os.environ.get("SINK_LOAD_BIN") or
        os.path.join(os.path.dirname(args.portico_bin), "bench", "sink_load"))
    if args.client == "sink_load" and not os.access(args.sink_load_bin, os.X_OK):
        own.error(f"--client sink_load: no executable {args.sink_load_bin} (cmake --build "
                  "<dir> --target sink_load, or --sink-load-bin PATH)")
    if not any(a == "--out" or a.startswith("--out=") for a in rest):
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        args.out = os.path.join(HERE, "results", f"cache-compare-{stamp}.md")
    shown, skip = [], False
    for a in sys.argv[1:]:  # the command line as typed, without the wrapper's --tmpdir
        if skip or a.startswith("--tmpdir"):
            skip = a == "--tmpdir" and not skip
            continue
        shown.append(a)
    env = f"PORTICO_BIN={os.environ['PORTICO_BIN']} " if "PORTICO_BIN" in os.environ else ""
    args.command = f"{env}bench/cache_compare.sh {' '.join(shown)}".rstrip()
    return args


def start_origin(tmp, taken, args, procs):
    origin = compare.Server("origin")
    odir = os.path.join(tmp, "origin")
    os.makedirs(odir)
    for _ in (1, 2):  # a second port if the first was lost to a race
        origin.port = compare.free_port(taken)
        argv = [sys.executable, os.path.join(HERE, "cache_origin.py"), "--port",
                str(origin.port), "--dir", args.www]
        if args.pin:
            argv = ["taskset", "-c", str(args.load_cpu)] + argv
        origin.proc = procs.start(argv, f"{odir}/stdout.log", cwd=odir)
        reason = compare.wait_ready(origin.proc, origin.port, "/__counts")
        if reason is None:
            log(f"cache_compare: origin ready on 127.0.0.1:{origin.port}")
            return origin
        procs.stop(origin.proc)
    raise RuntimeError(f"origin failed: {reason} {compare.tail(odir + '/stdout.log')}")


def run(args, tmp, procs):
    taken = set()
    if args.pin:
        os.sched_setaffinity(0, {args.load_cpu})  # keep the driver off the proxy's core
    compare.raise_nofile()
    args.www = os.path.join(tmp, "www")
    os.makedirs(args.www)
    rng = random.Random(3)  # random bytes, so a cached body at a wrong offset cannot match
    files = {obj: rng.randbytes(size) for obj, size in OBJECTS.items()}
    for obj, data in files.items():
        with open(os.path.join(args.www, obj), "wb") as f:
            f.write(data)
    if "ats" in args.servers:
        os.chmod(tmp, 0o711)  # ATS runs as its own user and must reach tmp/ats
    origin = start_origin(tmp, taken, args, procs)

    servers = [compare.Server(n) for n in args.servers]
    for srv in servers:
        srv.obj_runs, srv.said, srv.check_notes = {}, {}, []
        with hooked(server_argv=server_argv):
            compare.start_server(srv, tmp, taken, origin.port, args, procs)
    live = [s for s in servers if not s.skip]

    brackets = {}  # object -> compare.Brackets
    for rnd in range(args.rounds):
        order = live[rnd % len(live):] + live[:rnd % len(live)] if live else []
        # Object-major: every server's run of one object back to back, so the runs a ratio
        # compares are seconds apart, not minutes (this VM's speed drifts by 10-20% over minutes).
        # Bracketed (the default): Portico runs before the first peer and after every peer, so
        # each peer run sits between two Portico runs seconds away, and a ratio compares it with
        # their mean; a drift that is linear over those seconds cancels out.
        if args.bracket:
            order = compare.bracket_order(order)
        for obj in args.objects:
            brackets.setdefault(obj, compare.Brackets()).restart()
            for srv in order:
                if srv.skip:
                    continue
                try:
                    said, notes = fill_and_check(srv, obj, files[obj])
                    srv.said[obj] = said
                    for n in notes:
                        if n not in srv.check_notes:
                            srv.check_notes.append(n)
                            log(f"cache_compare: {srv.name}: {n}")
                    res = measure_object(srv, origin, obj, args, procs)
                except (RuntimeError, ValueError, OSError, http.client.HTTPException) as e:
                    srv.skip = f"failed in round {rnd + 1} on /{obj}: {e}"
                    log(f"cache_compare: {srv.name} {srv.skip}")
                    continue
                srv.obj_runs.setdefault(obj, []).append(res)
                brackets[obj].record(srv.name, res)
                log(f"cache_compare: round {rnd + 1}/{args.rounds} {srv.name:8s} {obj:>4s} "
                    f"{res['rps']:10,.0f} req/s {res['rps'] * OBJECTS[obj] / 1e6:9,.1f} MB/s  "
                    f"p99 {compare.fmt_ms(res['p99_ms'])}  cpu {res['cpu_s']:.2f} s  "
                    f"origin fetches {res['origin_fetches']}  other {res['other_pct']:.0f}%"
                    + (f"  errors {res['socket_errors'] + res['non2xx']}"
                       if res['socket_errors'] + res['non2xx'] else ""))
    for srv in servers:
        if srv.obj_runs and srv.proc and srv.proc.poll() is None:
            srv.peak_rss_kib = compare.status_kib(srv.pids(), "VmHWM")
            for obj in srv.obj_runs:  # the bytes once more, after the last load run
                try:
                    srv.said[obj], notes = fill_and_check(srv, obj, files[obj])
                except (OSError, http.client.HTTPException) as e:
                    notes = [f"GET /{obj} after the load rounds: {e}"]
                srv.check_notes += [n for n in notes if n not in srv.check_notes]
        elif srv.obj_runs and not srv.skip:
            srv.skip = f"exited with status {srv.proc.returncode} after the load rounds"

    coll = {}
    if not args.no_collapse:
        for rnd in range(args.rounds):
            for srv in [origin] + servers:  # origin direct: the client's own overhead
                if srv.name not in CACHING + ("origin",) or not srv.proc \
                        or srv.proc.poll() is not None:
                    continue
                try:
                    r = collapse_test(srv, origin, rnd + 1)
                except (RuntimeError, OSError, http.client.HTTPException) as e:
                    log(f"cache_compare: collapse {srv.name}: {e}")
                    continue
                coll.setdefault(srv.name, []).append(r)
                log(f"cache_compare: collapse round {rnd + 1} {srv.name:8s} fetches "
                    f"{r['fetches']:3d}  batch "
                    + (f"{r['batch_s']:.3f} s" if r["batch_s"] is not None else "none")
                    + f"  ok {r['ok']}/{COLLAPSE_CLIENTS}")

    text, rows, sums = report(servers, args, coll, brackets)
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    compare.write(args.out, text + "\n")
    log(summary(rows, sums, coll))
    log(f"cache_compare: results written to {args.out}")
    return 0


def main():
    # compare.main: temp dir, signal handling, run(), then every process stopped by PID.
    with hooked(parse_args=parse_args, run=run):
        return compare.main()


if __name__ == "__main__":
    sys.exit(main())
