#!/usr/bin/env python3
"""Memory cost of idle keep-alive connections on a running HTTP server.

Opens --count TCP connections to host:port; on each sends one complete GET and reads the whole
response, then leaves the connection idle (open, keep-alive). Reports the server's RSS (VmRSS of
--pid plus its descendants running the same binary, e.g. nginx master + worker) before and after, and how many connections
the server still holds at the end. Stdlib only; raises its own fd limit.

Usage: python3 bench/idle_conns.py --port P --pid PID [--count 10000] [--hold SECONDS] [--json]
"""

import argparse
import json
import os
import resource
import select
import socket
import sys
import time

BATCH = 256  # connections opened, then sent to, then read from, at a time


def process_tree(root):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rfind(")") + 2:].split()[1]), []).append(int(entry))
    tree, todo = [root], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            tree.append(child)
            todo.append(child)
    exe = exe_of(root)  # only the server's own binary: h2o forks a perl crash-handler helper
    return [root] + [pid for pid in tree[1:] if exe_of(pid) == exe]


def exe_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    try:  # root may raise the hard limit too
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(need, hard)))
    except (ValueError, OSError):
        if hard < need:
            sys.exit(f"idle_conns: need {need} fds, hard limit is {hard} (run as root or raise it)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def read_response(sock):
    """Read one HTTP/1.1 response; return (status, keep_alive)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before response head")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        remaining = int(headers["content-length"]) - len(body)
        while remaining > 0:
            chunk = sock.recv(min(remaining, 65536))
            if not chunk:
                raise ConnectionError("closed mid-body")
            remaining -= len(chunk)
    elif "chunked" in headers.get("transfer-encoding", ""):
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed mid-body")
            body += chunk
    else:
        raise ConnectionError("response without length cannot be kept alive")
    return status, headers.get("connection") != "close"


def still_open(socks):
    """Connections the server has not closed (an idle one must not be readable)."""
    poller = select.poll()
    for s in socks:
        poller.register(s.fileno(), select.POLLIN | select.POLLRDHUP)
    closed = {fd for fd, _ in poller.poll(0)}
    return sum(1 for s in socks if s.fileno() not in closed)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="server PID (descendants included)")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--path", default="/1k")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds before measuring after")
    ap.add_argument("--hold", type=float, default=0.0, help="keep connections this long at the end")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds to read the responses of one batch")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    if not os.path.exists(f"/proc/{args.pid}"):
        sys.exit(f"idle_conns: no process {args.pid}")
    raise_nofile(args.count + 256)

    pids = process_tree(args.pid)
    before = rss_kib(pids)
    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
               "User-Agent: idle_conns.py\r\n\r\n").encode()
    socks, failed, errors = [], 0, {}
    t0 = time.monotonic()
    try:
        for start in range(0, args.count, BATCH):
            batch = []
            for _ in range(min(BATCH, args.count - start)):
                try:
                    s = socket.create_connection((args.host, args.port), timeout=args.timeout)
                    s.sendall(request)
                    batch.append(s)
                except OSError as e:
                    failed += 1
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
            deadline = time.monotonic() + args.timeout  # one budget per batch: a server at
            for s in batch:                             # its connection cap must not cost 10 s each
                try:
                    s.settimeout(max(0.05, deadline - time.monotonic()))
                    status, keep = read_response(s)
                    if status != 200 or not keep:
                        raise ConnectionError(f"status {status}, keep-alive {keep}")
                    socks.append(s)
                except (OSError, ConnectionError, ValueError, IndexError) as e:
                    failed += 1
                    errors[str(e)[:60]] = errors.get(str(e)[:60], 0) + 1
                    s.close()
            if failed > max(100, args.count // 10):
                print(f"idle_conns: too many failures ({failed}), stopping early", file=sys.stderr)
                break
        open_secs = time.monotonic() - t0
        time.sleep(args.settle)
        pids = process_tree(args.pid)
        after = rss_kib(pids)
        held = still_open(socks)
        result = {
            "requested": args.count, "opened": len(socks), "failed": failed, "held": held,
            "open_secs": round(open_secs, 2), "rss_before_kib": before, "rss_after_kib": after,
            "kib_per_conn": (after - before) / held if held else 0.0, "pids": pids,
            "errors": errors,
        }
        if args.json:
            print(json.dumps(result))
        else:
            print(f"connections: {args.count} requested, {len(socks)} opened, {failed} failed, "
                  f"{held} still held after {args.settle:.1f} s (opened in {open_secs:.1f} s)")
            print(f"server RSS (pids {pids}): {before / 1024:.1f} MiB before, "
                  f"{after / 1024:.1f} MiB after, {result['kib_per_conn']:.2f} KiB per connection")
            if errors:
                print(f"errors: {errors}")
        if args.hold > 0:
            time.sleep(args.hold)
    finally:
        for s in socks:
            s.close()
    return 0 if socks else 1


if __name__ == "__main__":
    sys.exit(main())
