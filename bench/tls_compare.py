#!/usr/bin/env python3
"""TLS benchmark: Portico's HTTPS listeners vs nginx, HAProxy and h2o (h2 hits, handshakes).

Issue #6's bench. Every server terminates TLS on 127.0.0.1 with the same two self-signed
certificates (RSA-2048 and ECDSA P-256, made with openssl in the temp dir; one port per key type)
and serves a 1 KiB object: Portico, nginx and HAProxy from their caches, filled from
bench/cache_origin.py; h2o from the same file on disk (Debian's h2o 2.2 has no proxy cache: the
no-cache mark to reach). One worker each, pinned to CPU 0; the clients, the origin and this driver
share CPU 1. Per round and server (interleaved), up to five measured runs, each after compare.py's
quiet wait and a 1 s warm-up, with the proxy's CPU seconds from /proc:

  h2             HTTP/2 over TLS cache hits: h2load -t1 -c32 -m16 -D<duration> (ALPN h2)
  full-rsa       full handshakes, RSA-2048 certificate: N parallel `openssl s_time -new -www /1k`
  full-ec        the same with the ECDSA P-256 certificate
  resumed-wrk    resumed handshakes: wrk -t1 -c64 -H 'Connection: close' (wrk keeps its TLS
                 session across reconnects), ECDSA port
  resumed-stime  resumed handshakes: N parallel `openssl s_time -reuse -www /1k`, ECDSA port

Every client offers the same TLS parameters (TLS 1.3, TLS_AES_128_GCM_SHA256, X25519; a private
OPENSSL_CONF for wrk, which has no TLS options), so no server's cipher or group preference changes
the work.
s_time prints one character per connection ('*' full handshake, 'r' resumed): the driver counts
them, so the handshake tables say exactly how many of each happened.

Reuses compare.py (process control, readiness, /proc CPU accounting, quiet wait, measure(), wrk
parsing, main() with its signal handling and cleanup) and cache_compare.py (the caching configs of
nginx, HAProxy, h2o and Portico, edited here for TLS; the origin; the hit-header check), with the
same `hooked` swaps. Normally started through bench/tls_compare.sh; method in docs/benchmarks.md
("TLS and HTTP/2").
"""

import argparse
import datetime
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (bench/compare.py)
import cache_compare as cc  # noqa: E402  (bench/cache_compare.py)

HERE, REPO = compare.HERE, compare.REPO
log = compare.log
hooked = cc.hooked
PEERS = ("nginx", "haproxy", "h2o")
ALL_SERVERS = ("portico",) + PEERS
TESTS = ("h2", "full-rsa", "full-ec", "resumed-wrk", "resumed-stime")
LABEL = {
    "h2": "HTTP/2 over TLS, 1 KiB cache hits",
    "full-rsa": "Full handshakes, RSA-2048",
    "full-ec": "Full handshakes, ECDSA P-256",
    "resumed-wrk": "Resumed handshakes, wrk `Connection: close`",
    "resumed-stime": "Resumed handshakes, `openssl s_time -reuse`",
}
KEYS = ("ec", "rsa")          # one HTTPS port per key type; the first is the server's main port
PORT_OF = {"h2": "ec", "full-rsa": "rsa", "full-ec": "ec", "resumed-wrk": "ec",
           "resumed-stime": "ec"}
OBJ = "1k"
BODY_LEN = 1024
H2_CLIENTS, H2_STREAMS = 32, 16
WRK_CONNS = 64
SUITE = "TLS_AES_128_GCM_SHA256"
GROUP = "X25519"
# wrk has no TLS options, so the clients' TLS defaults come from this OpenSSL config; s_time and
# h2load also get SUITE on their command lines. MinProtocol binds wrk only (s_time and h2load set
# their own version bounds); every server here offers TLS 1.3, which OpenSSL clients prefer, and
# h2load's report of what it negotiated ends up in the results.
CLIENT_OPENSSL_CNF = f"""# Written by bench/tls_compare.py: the clients' TLS parameters (servers keep their own).
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1.3
Ciphersuites = {SUITE}
Groups = {GROUP}
"""
_PARSE_ARGS = compare.parse_args


# ---------------------------------------------------------------- certificates


def make_certs(dir):
    """Self-signed RSA-2048 and ECDSA P-256 certificates for localhost and 127.0.0.1, each as
    KIND.pem with its key in KIND.pem.key (HAProxy loads `<crt>.key` by itself, so all four
    servers read the very same two files)."""
    os.makedirs(dir)
    newkey = {"rsa": ["-newkey", "rsa:2048"],
              "ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]}
    certs = {}
    for kind in KEYS:
        pem, key = os.path.join(dir, f"{kind}.pem"), os.path.join(dir, f"{kind}.pem.key")
        r = subprocess.run(["openssl", "req", "-x509", *newkey[kind], "-nodes", "-sha256",
                            "-days", "30", "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                            "-keyout", key, "-out", pem],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"openssl req ({kind}) failed: {r.stderr.strip()[-300:]}")
        os.chmod(key, 0o600)
        certs[kind] = (pem, key)
    return certs


# ---------------------------------------------------------------- configs


def nginx_tls_config(dir, ports, origin_port, certs):
    """cache_compare's proxy_cache config with its server block once per key type, each
    `listen ... ssl http2`; TLS 1.2-1.3 and a shared session cache like Portico's."""
    text = cc.nginx_cache_config(dir, ports["ec"], origin_port)
    start, end = text.index("  server {\n"), text.rindex("}")
    block = text[start:end]
    listen = f"    listen 127.0.0.1:{ports['ec']} backlog=4096;\n"
    blocks = "".join(cc.edit(block, listen,
                             f"    listen 127.0.0.1:{ports[k]} ssl http2 backlog=4096;\n"
                             f"    ssl_certificate {certs[k][0]};\n"
                             f"    ssl_certificate_key {certs[k][1]};\n") for k in KEYS)
    tls = ("  ssl_protocols TLSv1.2 TLSv1.3;\n"
           "  ssl_session_cache shared:SSL:10m;\n"
           "  ssl_session_timeout 1h;\n")
    return text[:start] + tls + blocks + text[end:]


def haproxy_tls_config(dir, ports, origin_port, certs):
    text = cc.haproxy_cache_config(dir, ports["ec"], origin_port)
    return cc.edit(text, f"  bind 127.0.0.1:{ports['ec']}\n", "".join(
        f"  bind 127.0.0.1:{ports[k]} ssl crt {certs[k][0]} alpn h2,http/1.1\n" for k in KEYS))


def h2o_tls_config(dir, ports, www, certs):
    """cache_compare's file-serving h2o, one host per key type with its own TLS listener."""
    text = cc.h2o_files_config(dir, ports["ec"], www)
    head = text[:text.index("listen:\n")]
    hosts = "hosts:\n" + "".join(f"""  "127.0.0.1:{ports[k]}":
    listen:
      host: 127.0.0.1
      port: {ports[k]}
      ssl:
        certificate-file: {certs[k][0]}
        key-file: {certs[k][1]}
        minimum-version: TLSv1.2
    paths:
      /:
        file.dir: {www}
""" for k in KEYS)
    return head + hosts


def portico_tls_config(dir, ports, origin_port, certs):
    """cache_compare's caching Portico with two HTTPS listeners, each with one imported
    certificate, default TLSv1.2_2021 policy and http2 (on by default)."""
    text = cc.portico_cache_config(ports["ec"], origin_port)
    text = cc.edit(text,
                   f"  - {{ name: http, address: 127.0.0.1:{ports['ec']}, protocol: HTTP }}\n",
                   "".join(f"  - {{ name: {k}, address: 127.0.0.1:{ports[k]}, protocol: HTTPS, "
                           f"certificates: [{k}], ssl_policy: TLSv1.2_2021 }}\n" for k in KEYS))
    return text + f"state_dir: {dir}/state\ncertificates:\n" + "".join(
        f"  - {{ name: {k}, certificate_file: {certs[k][0]}, private_key_file: {certs[k][1]} }}\n"
        for k in KEYS)


BINARIES = {"nginx": "nginx", "haproxy": "haproxy", "h2o": "h2o"}


def server_argv(name, dir, port, origin_port, args):
    """compare.start_server's hook. `port` is the ECDSA port; the RSA port is picked here and
    remembered in args.rsa_port[port]."""
    os.makedirs(dir, exist_ok=True)
    ports = {"ec": port, "rsa": compare.free_port(args.taken)}
    args.rsa_port[port] = ports["rsa"]
    certs = args.certs
    if name == "portico":
        if not os.access(args.portico_bin, os.X_OK):
            raise LookupError(f"binary not found or not executable: {args.portico_bin}")
        compare.write(f"{dir}/portico.yaml", portico_tls_config(dir, ports, origin_port, certs))
        return [args.portico_bin, "-c", f"{dir}/portico.yaml", "--workers", "1"]
    binary = shutil.which(BINARIES[name]) or (
        f"/usr/sbin/{BINARIES[name]}" if os.access(f"/usr/sbin/{BINARIES[name]}", os.X_OK)
        else None)
    if binary is None:
        raise LookupError(f"{BINARIES[name]} not installed")
    if name == "nginx":
        compare.write(f"{dir}/nginx.conf", nginx_tls_config(dir, ports, origin_port, certs))
        return [binary, "-p", dir, "-e", f"{dir}/error.log", "-c", f"{dir}/nginx.conf"]
    if name == "haproxy":
        compare.write(f"{dir}/haproxy.cfg", haproxy_tls_config(dir, ports, origin_port, certs))
        return [binary, "-db", "-f", f"{dir}/haproxy.cfg"]
    if name == "h2o":
        compare.write(f"{dir}/h2o.conf", h2o_tls_config(dir, ports, args.www, certs))
        return [binary, "-m", "worker", "-c", f"{dir}/h2o.conf"]
    raise LookupError(name)


def https_code(port, path):
    """compare.wait_ready's hook: the status of an h2 GET over TLS (certificate not checked)."""
    r = subprocess.run(["curl", "-sk", "--http2", "-o", "/dev/null", "-w", "%{http_code}",
                        "--max-time", "1", f"https://127.0.0.1:{port}{path}"],
                       capture_output=True, text=True)
    return r.stdout.strip()


# ---------------------------------------------------------------- checks


class Headers(dict):
    """Case-insensitive enough for cache_compare.hit_status (h2 sends lower-case names)."""

    def get(self, key, default=None):
        return super().get(key.lower(), default)


def h2_get(port, cafile, tmp):
    """One GET /1k with curl over h2, verifying the certificate against `cafile` (the
    self-signed certificate itself). Returns (http version, status, headers, body)."""
    out = os.path.join(tmp, "check.body")
    r = subprocess.run(["curl", "-sS", "--http2", "--cacert", cafile, "--max-time", "10",
                        "-D", "-", "-o", out, "-w", "\n%{http_version}",
                        f"https://127.0.0.1:{port}/{OBJ}"], capture_output=True, timeout=15)
    if r.returncode != 0:
        raise RuntimeError(f"curl https://127.0.0.1:{port}/{OBJ}: exit {r.returncode}: "
                           f"{r.stderr.decode(errors='replace').strip()[-200:]}")
    with open(out, "rb") as f:
        body = f.read()
    text = r.stdout.decode("latin-1")
    head, _, version = text.rpartition("\n")
    lines = [l.strip() for l in head.splitlines() if l.strip()]
    status = int(lines[0].split()[1]) if lines else 0
    headers = Headers()
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return version.strip(), status, headers, body


def fill_and_check(srv, expected, args):
    """On each port: two h2 GETs verified against that port's certificate; both must be HTTP/2
    with the file's exact bytes, the second a hit by the peer's own header."""
    notes, said = [], ""
    for kind in KEYS:
        for i in (1, 2):
            version, status, headers, body = h2_get(srv.ports[kind], args.certs[kind][0],
                                                    args.tmpdir)
            if version != "2" or status != 200 or body != expected:
                notes.append(f"GET /{OBJ} #{i} on the {kind} port: HTTP/{version} {status}, "
                             f"{len(body)} bytes (expected HTTP/2 200, {len(expected)} "
                             f"bytes{', other bytes' if len(body) == len(expected) else ''})")
        hit, said = cc.hit_status(srv.name, headers)
        if hit is False:
            notes.append(f"second GET /{OBJ} on the {kind} port not a hit ({said})")
    return said, notes


# ---------------------------------------------------------------- clients


def client_env(args):
    return dict(os.environ, OPENSSL_CONF=args.client_cnf)


def pinned(argv, args):
    return ["taskset", "-c", str(args.load_cpu)] + argv if args.pin else argv


def run_bounded(argvs, secs, args, procs, tag):
    """Start the client commands together (pinned, own session, output to files in the temp dir,
    PIDs recorded), wait at most secs + 20 s, stop them by PID. Returns (outputs, wall seconds)."""
    started, files = [], []
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the clients are reaped here: their CPU
    t0 = time.monotonic()
    try:
        for i, argv in enumerate(argvs):
            f = open(os.path.join(args.tmpdir, f"{tag}.{i}.out"), "w+")
            files.append(f)
            p = subprocess.Popen(pinned(argv, args), stdin=subprocess.DEVNULL, stdout=f,
                                 stderr=subprocess.STDOUT, env=client_env(args),
                                 start_new_session=True)
            procs.procs.append(p)
            procs.record([p.pid])
            started.append(p)
        deadline = t0 + secs + 20
        for p in started:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"{argvs[0][0]} did not finish in time")
        wall = time.monotonic() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        args.last_client_cpu_s = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
        outs = []
        for f in files:
            f.seek(0)
            outs.append(f.read())
    finally:  # also on Ctrl-C or an error: stop (a no-op once exited) and reap here
        for p in started:
            procs.stop(p)
            procs.procs.remove(p)
        for f in files:
            f.close()
    for p, out in zip(started, outs):
        if p.returncode != 0:
            raise RuntimeError(f"{argvs[0][0]} exited {p.returncode}: {out.strip()[-300:]}")
    return outs, wall


def to_secs(num, unit):
    return float(num) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def parse_h2load(out):
    res = {}
    m = re.search(r"^finished in ([\d.]+)(us|ms|s|m),", out, re.M)
    if not m:
        raise ValueError(f"h2load: no 'finished in' line: {out.strip()[-300:]}")
    res["secs"] = to_secs(*m.groups())
    m = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out, re.M)
    if not m:
        raise ValueError("h2load: no 'requests:' line")
    total, started, done, ok, failed, errored, timeout = (int(x) for x in m.groups())
    if ok == 0:
        raise ValueError(f"h2load: no request succeeded: {out.strip()[-300:]}")
    res["requests"] = ok
    res["rps"] = ok / res["secs"] if res["secs"] else 0.0
    m = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out, re.M)
    res["non2xx"] = sum(int(x) for x in m.groups()[1:]) if m else 0
    res["socket_errors"] = failed + errored + timeout
    m = re.search(r"^traffic: .*?, ([\d.]+\w*) \((\d+)\) data", out, re.M)
    res["body_per_req"] = int(m.group(2)) / ok if m and ok else 0.0
    m = re.search(r"^time for request:\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
    if m:
        t = re.fullmatch(r"([\d.]+)(us|ms|s)", m.group(3))
        res["mean_ms"] = to_secs(*t.groups()) * 1000.0 if t else None
    else:
        res["mean_ms"] = None
    for key, pat in (("alpn", r"^Application protocol: (\S+)"), ("tls", r"^TLS Protocol: (\S+)"),
                     ("cipher", r"^Cipher: (\S+)"), ("kx", r"^Server Temp Key: (.+)$")):
        m = re.search(pat, out, re.M)
        res[key] = m.group(1).strip() if m else None
    if res["alpn"] != "h2":
        raise ValueError(f"h2load negotiated {res['alpn'] or 'no application protocol'}, not h2")
    return res


def run_h2load(port, secs, args, procs):
    argv = ["h2load", "-t1", f"-c{H2_CLIENTS}", f"-m{H2_STREAMS}", f"-D{secs}",
            f"--tls13-ciphers={SUITE}",
            f"https://127.0.0.1:{port}/{OBJ}"]
    outs, _ = run_bounded([argv], secs, args, procs, "h2load")
    res = parse_h2load(outs[0])
    res["client_cpu_s"] = args.last_client_cpu_s
    return res, outs[0]


def parse_stime(out):
    """Counts of full ('*', 't', '3') and resumed ('r') connections from s_time's progress
    characters, plus its own totals."""
    m = re.search(r"^(\d+) connections in ([\d.]+)s; [\d.]+ connections/user sec, "
                  r"bytes read (\d+)", out, re.M)
    if not m:
        raise ValueError(f"s_time: no summary line: {out.strip()[-300:]}")
    conns, nbytes = int(m.group(1)), int(m.group(3))
    progress = "".join(line for line in out[:m.start()].splitlines()
                       if line and re.fullmatch(r"[*rt3]+", line))
    resumed = progress.count("r")
    return {"conns": conns, "bytes": nbytes, "resumed": resumed, "full": len(progress) - resumed}


def run_stime(port, secs, args, procs, mode):
    argv = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", mode, "-time", str(secs),
            "-www", f"/{OBJ}", "-ciphersuites", SUITE,
            "-no-CAfile", "-no-CApath", "-no-CAstore"]  # no trust store: nothing is verified
    outs, wall = run_bounded([argv] * args.stime_procs, secs, args, procs, "s_time")
    parts = [parse_stime(o) for o in outs]
    n = sum(p["conns"] for p in parts)
    res = {"requests": n, "secs": wall, "rps": n / wall,
           "full": sum(p["full"] for p in parts), "resumed": sum(p["resumed"] for p in parts),
           "bytes_per_conn": sum(p["bytes"] for p in parts) / n if n else 0.0,
           "socket_errors": 0, "non2xx": 0, "client_cpu_s": args.last_client_cpu_s}
    if res["full"] + res["resumed"] != n:
        raise ValueError(f"s_time: {n} connections but {res['full']} + {res['resumed']} "
                         "progress marks")
    if n and res["bytes_per_conn"] < BODY_LEN:
        raise ValueError(f"s_time read {res['bytes_per_conn']:.0f} bytes per connection, "
                         f"less than the {BODY_LEN} B body")
    return res, "\n".join(outs)


def run_wrk_close(port, secs, args, procs):
    argv = ["wrk", "-t1", f"-c{WRK_CONNS}", f"-d{secs}s", "--latency", "-H", "Connection: close",
            f"https://127.0.0.1:{port}/{OBJ}"]
    outs, _ = run_bounded([argv], secs, args, procs, "wrk")
    res = compare.parse_wrk(outs[0])
    if res["requests"] == 0:
        raise RuntimeError(f"wrk completed no request: {outs[0].strip()[-300:]}")
    res["client_cpu_s"] = args.last_client_cpu_s
    return res, outs[0]


def runner(test, port, args, procs):
    if test == "h2":
        return lambda _port, secs, a, p: run_h2load(port, secs, a, p)
    if test in ("full-rsa", "full-ec"):
        return lambda _port, secs, a, p: run_stime(port, secs, a, p, "-new")
    if test == "resumed-stime":
        return lambda _port, secs, a, p: run_stime(port, secs, a, p, "-reuse")
    if test == "resumed-wrk":
        return lambda _port, secs, a, p: run_wrk_close(port, secs, a, p)
    raise ValueError(test)


def measure_test(srv, origin, test, args, procs):
    """compare.measure (quiet wait, 1 s warm-up, measured run, proxy CPU from /proc, other
    load) with this test's client, plus origin fetches. A run with other load above --noisy %
    is repeated (at most --retries times); the least disturbed is kept."""
    port = srv.ports[PORT_OF[test]]
    runs = []
    while True:
        before = cc.origin_counts(origin).get(f"/{OBJ}", 0)
        with hooked(run_wrk=runner(test, port, args, procs)):
            res, _ = compare.measure(srv, origin, args.duration, args, procs)
        res["origin_fetches"] = cc.origin_counts(origin).get(f"/{OBJ}", 0) - before
        runs.append(res)
        if res["other_pct"] <= args.noisy or len(runs) > args.retries:
            break
        log(f"tls_compare: {srv.name} {test}: other load {res['other_pct']:.0f}% > "
            f"{args.noisy:.0f}%, repeating ({len(runs)}/{args.retries})")
    keep = min(runs, key=lambda r: r["other_pct"])
    keep["tries"] = len(runs)
    keep["origin_fetches"] = sum(r["origin_fetches"] for r in runs)
    return keep


# ---------------------------------------------------------------- report


def summarize(runs):
    med = lambda f: statistics.median(f(r) for r in runs)
    s = {
        "rps": med(lambda r: r["rps"]),
        "cpu_pct": med(lambda r: 100.0 * r["cpu_s"] / r["secs"]),
        "client_pct": med(lambda r: 100.0 * r["client_cpu_s"] / r["secs"]),
        "per_cpu_s": med(lambda r: r["requests"] / r["cpu_s"] if r["cpu_s"] else 0.0),
        "other_pct": med(lambda r: r["other_pct"]),
        "errors": sum(r.get("socket_errors", 0) + r.get("non2xx", 0) for r in runs),
        "fetches": sum(r["origin_fetches"] for r in runs),
    }
    s["us_per"] = 1e6 / s["per_cpu_s"] if s["per_cpu_s"] else 0.0
    for key in ("p50_ms", "p99_ms", "mean_ms", "body_per_req", "bytes_per_conn"):
        vals = [r[key] for r in runs if r.get(key) is not None]
        s[key] = statistics.median(vals) if vals else None
    if "full" in runs[0]:
        s["full"] = sum(r["full"] for r in runs)
        s["resumed"] = sum(r["resumed"] for r in runs)
    return s


def best_peer(sums, key):
    have = [(sums[n][key], n) for n in PEERS if n in sums and sums[n][key]]
    return max(have) if have else (None, None)


def verdict(ok):
    return "**met**" if ok else "**not met**"


def targets(sums):
    rows = []
    s = sums.get("h2", {})
    if "portico" in s:
        b, who = best_peer(s, "per_cpu_s")
        h = s.get("h2o")
        rows.append(("HTTP/2-over-TLS 1 KiB hits: req per proxy CPU-s ≥ 1.0× the best peer"
                     + (" (h2o files is the mark)" if h else ""),
                     f"{s['portico']['per_cpu_s']:,.0f} vs {who} {b:,.0f}: "
                     f"**{compare.ratio(s['portico']['per_cpu_s'], b)}**" if b else "n/a",
                     verdict(s["portico"]["per_cpu_s"] >= b) if b else "n/a"))
    for test, kind in (("full-rsa", "RSA-2048"), ("full-ec", "ECDSA P-256")):
        s = sums.get(test, {})
        if "portico" not in s:
            continue
        b, who = best_peer(s, "rps")
        e, ewho = best_peer(s, "per_cpu_s")
        p = s["portico"]
        # One client core cannot saturate the proxy's core with full handshakes (see the
        # client CPU % column), so the measured rate is the clients'; handshakes per proxy
        # CPU-second is the rate one proxy core sustains, and the one the target is judged by.
        rows.append((f"full handshakes per second per proxy core, {kind}: ≥ 1.0× the best peer",
                     (f"{p['per_cpu_s']:,.0f} vs {ewho} {e:,.0f} per proxy CPU-s: "
                      f"**{compare.ratio(p['per_cpu_s'], e)}** (measured rate {p['rps']:,.0f}/s "
                      f"vs {who} {b:,.0f}/s: {compare.ratio(p['rps'], b)})")
                     if e else "n/a",
                     verdict(p["per_cpu_s"] >= e) if e else "n/a"))
    return rows


def fmt(v, spec=",.0f", none=""):
    return none if v is None else format(v, spec)


def versions(args):
    def first_line(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=5)
            lines = (r.stdout + r.stderr).strip().splitlines()
            return lines[0] if lines else "unknown"
        except Exception:
            return "unknown"
    out = [f"{n}: {compare.version_of(n, args)}" for n in ("portico", "nginx", "haproxy", "h2o",
                                                           "wrk")]
    out.append(f"h2load: {first_line(['h2load', '--version'])}")
    out.append(f"openssl: {first_line(['openssl', 'version'])}")
    return "; ".join(out)


def report(servers, args):
    L = []
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    L.append(f"# TLS and HTTP/2: Portico vs nginx, HAProxy, h2o, {now}")
    L.append("")
    L.append(f"- host: {platform.node()}, {os.cpu_count()} CPUs ({compare.cpu_model()}), "
             f"Linux {platform.release()}")
    pin = (f"proxy on CPU {args.proxy_cpu}; clients, origin and driver on CPU {args.load_cpu}"
           if args.pin else "unpinned")
    L.append(f"- {args.rounds} interleaved round(s) of {args.duration} s per test, quiet wait and "
             f"1 s warm-up before each run; {pin}; a run with other load above "
             f"{args.noisy:.0f}% repeated up to {args.retries} time(s), least disturbed kept")
    L.append("- certificates: self-signed RSA-2048 and ECDSA P-256 (openssl req, CN and SAN "
             "localhost + 127.0.0.1), the same files for every server (Portico: imported "
             "certificates), one port per key type")
    L.append(f"- clients: TLS 1.3, {SUITE}, {GROUP} (a private OPENSSL_CONF); h2load "
             "negotiated " + ("; ".join(f"{v} ({', '.join(k)})" for v, k in
                                        args.negotiated.items()) or "n/a"))
    L.append(f"- h2: `h2load -t1 -c{H2_CLIENTS} -m{H2_STREAMS} -D{args.duration}` "
             f"https://127.0.0.1:PORT/{OBJ} (ALPN h2), cache filled and checked before; full: "
             f"{args.stime_procs}× `openssl s_time -new -www /{OBJ}` in parallel; resumed: "
             f"`wrk -t1 -c{WRK_CONNS} --latency -H 'Connection: close'` and "
             f"{args.stime_procs}× `openssl s_time -reuse -www /{OBJ}`")
    L.append("- origin: bench/cache_origin.py; Portico, nginx and HAProxy serve cache hits, "
             "h2o serves the same file from disk (no cache)")
    L.append(f"- versions: {versions(args)}")
    L.append(f"- command: `{args.command}`")
    L.append("")
    sums = {}
    for test in args.tests:
        s = sums[test] = {srv.name: summarize(srv.test_runs[test]) for srv in servers
                          if srv.test_runs.get(test)}
        b_rps, _ = best_peer(s, "rps")
        b_eff, _ = best_peer(s, "per_cpu_s")
        L.append(f"## {LABEL[test]}")
        L.append("")
        if test == "h2":
            L.append("| server | req/s | mean request time | proxy CPU % | client CPU % "
                     "| req per CPU-s | ÷ best peer req/s | ÷ best peer per CPU-s | body B/req "
                     "| origin fetches in runs | cache says |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        elif test.startswith("full") or test == "resumed-stime":
            L.append("| server | handshakes/s | proxy CPU % | client CPU % | handshakes per "
                     "CPU-s | proxy CPU µs each | ÷ best peer /s | ÷ best peer per CPU-s "
                     "| full / resumed (all runs) | bytes read per conn |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
        else:
            L.append("| server | connections/s | p50 | p99 | proxy CPU % | client CPU % "
                     "| connections per CPU-s | proxy CPU µs each | ÷ best peer /s "
                     "| ÷ best peer per CPU-s |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for srv in servers:
            v = s.get(srv.name)
            shown = "h2o (files)" if srv.name == "h2o" else srv.name
            if not v:
                L.append(f"| {shown} | not measured: {srv.skip or 'no runs'} |")
                continue
            common = (f"{compare.ratio(v['rps'], b_rps)} | "
                      f"{compare.ratio(v['per_cpu_s'], b_eff)}")
            if test == "h2":
                fetches = "n/a (files)" if srv.name == "h2o" else (
                    "0" if not v["fetches"] else f"**{v['fetches']}** (not all hits)")
                L.append(f"| {shown} | {v['rps']:,.0f} | "
                         f"{compare.fmt_ms(v['mean_ms']) if v['mean_ms'] is not None else ''} | "
                         f"{v['cpu_pct']:.0f} | {v['client_pct']:.0f} | {v['per_cpu_s']:,.0f} | "
                         f"{common} | {fmt(v['body_per_req'])} | {fetches} | {srv.said} |")
            elif "full" in v:
                L.append(f"| {shown} | {v['rps']:,.0f} | {v['cpu_pct']:.0f} | "
                         f"{v['client_pct']:.0f} | {v['per_cpu_s']:,.0f} | {v['us_per']:,.0f} | "
                         f"{common} | "
                         f"{v['full']:,} / {v['resumed']:,} | {fmt(v['bytes_per_conn'])} |")
            else:
                L.append(f"| {shown} | {v['rps']:,.0f} | {compare.fmt_ms(v['p50_ms'])} | "
                         f"{compare.fmt_ms(v['p99_ms'])} | {v['cpu_pct']:.0f} | "
                         f"{v['client_pct']:.0f} | {v['per_cpu_s']:,.0f} | {v['us_per']:,.0f} | "
                         f"{common} |")
        L.append("")
        if s:
            other = ", ".join(f"{n} {v['other_pct']:.0f}%" for n, v in s.items())
            errors = [f"{n}: {v['errors']}" for n, v in s.items() if v["errors"]]
            L.append(f"Other load on the benchmark CPUs (median): {other}."
                     + (f" Client-side errors / non-2xx: {', '.join(errors)}." if errors else ""))
            L.append("")
    rows = targets(sums)
    if rows:
        L.append("## Issue #6 targets (Portico)")
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
    L.append("<details><summary>Per-round rate (other load %, tries, proxy CPU s)</summary>")
    L.append("")
    L.append("| server | test | " + " | ".join(f"round {i + 1}" for i in range(args.rounds))
             + " |")
    L.append("|---|---|" + "---:|" * args.rounds)
    for srv in servers:
        for test in args.tests:
            runs = srv.test_runs.get(test)
            if runs:
                L.append(f"| {srv.name} | {test} | " + " | ".join(
                    f"{r['rps']:,.0f} ({r['other_pct']:.0f}%, {r['tries']}x, "
                    f"{r['cpu_s']:.2f} s)" for r in runs) + " |")
    L.append("")
    L.append("</details>")
    L.append("")
    return "\n".join(L), rows, sums


def summary(rows, sums):
    out = ["", "tls_compare summary:"]
    for test, s in sums.items():
        if "portico" not in s:
            continue
        b, who = best_peer(s, "rps")
        e, ewho = best_peer(s, "per_cpu_s")
        p = s["portico"]
        out.append(f"  {test:13s}: Portico {p['rps']:,.0f}/s = {compare.ratio(p['rps'], b)} of "
                   f"best peer ({who}); {p['per_cpu_s']:,.0f} per CPU-s = "
                   f"{compare.ratio(p['per_cpu_s'], e)} of best peer ({ewho})")
    for t, m, v in rows:
        out.append(f"  {v.strip('*'):9s} {t}: {m.replace('**', '')}")
    return "\n".join(out)


# ---------------------------------------------------------------- main


def parse_args():
    """This file's options, then compare.parse_args() (with this file's server list) for the
    options the drivers share, so they mean the same everywhere."""
    own = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Shared with bench/compare.sh (same meaning and defaults): --duration S "
               "(default 10), --rounds N (3), --quick (1 round of 3 s), --servers a,b "
               f"(from {','.join(ALL_SERVERS)}; default all), --portico-bin PATH (default "
               "$PORTICO_BIN, else build/release/portico), --out FILE (default "
               "bench/results/tls-compare-<date>-<time>.md), --quiet-wait S (30), "
               "--proxy-cpu N (0), --load-cpu N (1), --no-pin.")
    own.add_argument("--tests", default=",".join(TESTS),
                     help=f"comma list from {','.join(TESTS)} (default all)")
    own.add_argument("--stime-procs", type=int, default=8, metavar="N",
                     help="parallel openssl s_time processes per handshake run (default 8)")
    own.add_argument("--noisy", type=float, default=10.0, metavar="PCT",
                     help="a run during which other jobs used more than PCT%% of the benchmark "
                          "CPUs is repeated (default 10)")
    own.add_argument("--retries", type=int, default=2, metavar="N",
                     help="repeat a noisy run at most N times, keep the least noisy (default 2; "
                          "0 = never)")
    mine, rest = own.parse_known_args()
    with hooked(ALL_SERVERS=ALL_SERVERS), cc.patched(sys, argv=[sys.argv[0]] + rest):
        args = _PARSE_ARGS()
    if args.stall_only or args.no_stall or args.idle_conns:
        own.error("--stall-only, --no-stall and --idle-conns belong to compare.sh")
    args.tests = [t.strip() for t in mine.tests.split(",") if t.strip()]
    if not args.tests or any(t not in TESTS for t in args.tests):
        own.error(f"--tests: choose from {', '.join(TESTS)}")
    if mine.stime_procs < 1:
        own.error("--stime-procs must be >= 1")
    args.stime_procs, args.noisy, args.retries = mine.stime_procs, mine.noisy, mine.retries
    args.portico_bin = os.path.abspath(args.portico_bin)
    if not any(a == "--out" or a.startswith("--out=") for a in rest):
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        args.out = os.path.join(HERE, "results", f"tls-compare-{stamp}.md")
    shown, skip = [], False
    for a in sys.argv[1:]:  # the command line as typed, without the wrapper's --tmpdir
        if skip or a.startswith("--tmpdir"):
            skip = a == "--tmpdir" and not skip
            continue
        shown.append(a)
    env = f"PORTICO_BIN={os.environ['PORTICO_BIN']} " if "PORTICO_BIN" in os.environ else ""
    args.command = f"{env}bench/tls_compare.sh {' '.join(shown)}".rstrip()
    return args


def run(args, tmp, procs):
    missing = [c for c in ("curl", "openssl", "h2load", "wrk") if not shutil.which(c)]
    if missing:
        raise RuntimeError(f"missing {', '.join(missing)} (apt-get install -y curl openssl "
                           "nghttp2-client wrk)")
    args.tmpdir, args.taken, args.rsa_port, args.negotiated = tmp, set(), {}, {}
    if args.pin:
        os.sched_setaffinity(0, {args.load_cpu})  # keep the driver off the proxy's core
    compare.raise_nofile()
    args.certs = make_certs(os.path.join(tmp, "certs"))
    args.client_cnf = os.path.join(tmp, "client-openssl.cnf")
    compare.write(args.client_cnf, CLIENT_OPENSSL_CNF)
    args.www = os.path.join(tmp, "www")
    os.makedirs(args.www)
    body = random.Random(6).randbytes(BODY_LEN)  # random: a wrong offset cannot match
    with open(os.path.join(args.www, OBJ), "wb") as f:
        f.write(body)
    origin = cc.start_origin(tmp, args.taken, args, procs)

    servers = [compare.Server(n) for n in args.servers]
    for srv in servers:
        srv.test_runs, srv.said, srv.check_notes = {}, "", []
        with hooked(server_argv=server_argv, http_code=https_code):
            compare.start_server(srv, tmp, args.taken, origin.port, args, procs)
        if not srv.skip:
            srv.ports = {"ec": srv.port, "rsa": args.rsa_port[srv.port]}
            log(f"tls_compare: {srv.name} ECDSA port {srv.ports['ec']}, RSA port "
                f"{srv.ports['rsa']}")
    live = [s for s in servers if not s.skip]

    for rnd in range(args.rounds):
        order = live[rnd % len(live):] + live[:rnd % len(live)] if live else []
        for srv in order:
            if srv.skip:
                continue
            try:
                srv.said, notes = fill_and_check(srv, body, args)
            except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as e:
                srv.skip = f"failed its check in round {rnd + 1}: {e}"
                log(f"tls_compare: {srv.name} {srv.skip}")
                continue
            for n in notes:
                if n not in srv.check_notes:
                    srv.check_notes.append(n)
                    log(f"tls_compare: {srv.name}: {n}")
            for test in args.tests:
                try:
                    res = measure_test(srv, origin, test, args, procs)
                except (RuntimeError, ValueError, OSError) as e:
                    srv.skip = f"failed in round {rnd + 1} on {test}: {e}"
                    log(f"tls_compare: {srv.name} {srv.skip}")
                    break
                srv.test_runs.setdefault(test, []).append(res)
                if test == "h2":  # what h2load reports, per distinct value
                    seen = args.negotiated.setdefault(
                        f"{res['tls']}, {res['cipher']}, {res['kx']}, ALPN {res['alpn']}", [])
                    if srv.name not in seen:
                        seen.append(srv.name)
                extra = (f"  full {res['full']} resumed {res['resumed']}" if "full" in res
                         else f"  origin fetches {res['origin_fetches']}" if test == "h2" else "")
                errs = res.get("socket_errors", 0) + res.get("non2xx", 0)
                log(f"tls_compare: round {rnd + 1}/{args.rounds} {srv.name:8s} {test:13s} "
                    f"{res['rps']:10,.0f}/s  cpu {res['cpu_s']:.2f} s  "
                    f"client {res['client_cpu_s']:.2f} s  "
                    f"{res['requests'] / res['cpu_s'] if res['cpu_s'] else 0:10,.0f} per CPU-s"
                    f"{extra}  other {res['other_pct']:.0f}%"
                    + (f"  errors {errs}" if errs else ""))
    for srv in servers:  # the bytes once more, after the last load run
        if srv.test_runs and srv.proc and srv.proc.poll() is None:
            try:
                srv.said, notes = fill_and_check(srv, body, args)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                notes = [f"GET /{OBJ} after the load rounds: {e}"]
            srv.check_notes += [n for n in notes if n not in srv.check_notes]
        elif srv.test_runs and not srv.skip:
            srv.skip = f"exited with status {srv.proc.returncode} after the load rounds"

    text, rows, sums = report(servers, args)
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    compare.write(args.out, text + "\n")
    log(summary(rows, sums))
    log(f"tls_compare: results written to {args.out}")
    return 0


def main():
    # compare.main: temp dir, signal handling, run(), then every process stopped by PID.
    with hooked(parse_args=parse_args, run=run):
        return compare.main()


if __name__ == "__main__":
    sys.exit(main())
