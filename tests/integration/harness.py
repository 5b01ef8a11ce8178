"""Integration-test harness for Portico: runs the real binary against in-process origins.

Standard library only (Debian's /usr/bin/python3). Pieces:
  start_portico(yaml)  -> Portico: the binary on a temp config, ports parsed from its stderr.
  Origin()             -> a ThreadingHTTPServer on 127.0.0.1:0 that records every request and answers
                          by the last path segment (echo, slow, chunked, big, upload, close, hop, ...).
  down_origin_port()   -> a port with nothing listening (bound, then closed).
  RawConn              -> a socket client that sends exact bytes and parses responses itself, so
                          malformed input and pipelining can be tested without a client library.
  PorticoTestCase      -> unittest base class that cleans up processes, origins and temp dirs and
                          fails a test whose Portico printed a sanitizer report.
Every process started here is killed by PID in cleanup, at exit, and (PR_SET_PDEATHSIG) when this
interpreter dies. Nothing sleeps to synchronise: waits poll a condition against a deadline.
"""

import atexit
import ctypes
import hashlib
import http.client
import http.server
import json
import os
import re
import select
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.dont_write_bytecode = True

# Generous: tests run under ASan.
DEFAULT_TIMEOUT = 10.0
STARTUP_TIMEOUT = 30.0

SANITIZER_PATTERNS = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|ERROR: ThreadSanitizer|"
    r"WARNING: ThreadSanitizer|UndefinedBehaviorSanitizer")


def source_dir():
    d = os.environ.get("PORTICO_SOURCE_DIR")
    if d:
        return d
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def portico_bin():
    b = os.environ.get("PORTICO_BIN")
    if not b:
        b = os.path.join(source_dir(), "build", "dev", "portico")
    if not os.access(b, os.X_OK):
        raise RuntimeError(f"Portico binary not found or not executable: {b} (set PORTICO_BIN)")
    return b


# ---------------------------------------------------------------------------------------------
# Process bookkeeping

_live_procs = {}  # pid -> Popen
_live_lock = threading.Lock()


def _kill_all_live():
    with _live_lock:
        procs = list(_live_procs.values())
        _live_procs.clear()
    for p in procs:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


atexit.register(_kill_all_live)


def _on_sigterm(signum, frame):  # ctest timeout: run atexit handlers, then die
    raise SystemExit(128 + signum)


if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _on_sigterm)

_PR_SET_PDEATHSIG = 1
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover
    _libc = None


def _child_preexec():
    # Die with the test process even when it is SIGKILLed (no atexit then).
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(args, env=None, **kw):
    """Popen registered for cleanup; stdin closed, stdout/stderr piped unless given."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    p = subprocess.Popen(args, env=env, preexec_fn=_child_preexec, **kw)
    with _live_lock:
        _live_procs[p.pid] = p
    return p


def _forget(p):
    with _live_lock:
        _live_procs.pop(p.pid, None)


def child_env(env=None):
    """Environment for a Portico child: ours minus PORTICO_ADMIN_TOKEN, plus `env`, plus
    sanitizer defaults unless already set."""
    e = dict(os.environ)
    e.pop("PORTICO_ADMIN_TOKEN", None)
    if env:
        for k, v in env.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:quarantine_size_mb=16:abort_on_error=0")
    e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    return e


def run_portico(args, env=None, timeout=30.0):
    """Runs the binary to completion (e.g. `check`, `--help`); returns CompletedProcess (text)."""
    p = spawn([portico_bin()] + list(args), env=child_env(env))
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        _forget(p)
        raise AssertionError(f"portico {args} did not exit within {timeout}s; stderr:\n"
                             f"{err.decode(errors='replace')}")
    _forget(p)
    return subprocess.CompletedProcess(args, p.returncode, out.decode(errors="replace"),
                                       err.decode(errors="replace"))


def wait_until(pred, timeout=DEFAULT_TIMEOUT, interval=0.02, message="condition"):
    """Polls pred() until truthy; returns its value or raises AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# Portico process

class _LineCollector:
    def __init__(self, stream, echo_prefix=None):
        self.lines = []
        self.cond = threading.Condition()
        self.closed = False
        self._echo = echo_prefix if os.environ.get("PORTICO_TEST_ECHO") else None
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\r\n")
            if self._echo:
                sys.stderr.write(f"{self._echo}{line}\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        stream.close()

    def snapshot(self):
        with self.cond:
            return list(self.lines)


class PorticoStartError(AssertionError):
    pass


class Portico:
    LISTEN_RE = re.compile(r"listening name=(\S+) address=(\S+):(\d+)")
    READY_RE = re.compile(r"ready pid=(\d+)")

    def __init__(self, config_text, workers=2, env=None, extra_args=(), tmpdir=None,
                 startup_timeout=STARTUP_TIMEOUT):
        self._own_tmpdir = tmpdir is None
        self.tmpdir = tmpdir or tempfile.mkdtemp(prefix="portico-it-")
        self.config_path = os.path.join(self.tmpdir, "portico.yaml")
        self.write_config(config_text)
        self.args = [portico_bin(), "-c", self.config_path, "--workers", str(workers)] + list(
            extra_args)
        self.env = child_env(env)
        self.proc = spawn(self.args, env=self.env)
        self._err = _LineCollector(self.proc.stderr, "[portico] ")
        self._out = _LineCollector(self.proc.stdout, "[portico stdout] ")
        self.ports = {}
        self.pid = self.proc.pid
        self.returncode = None
        try:
            self._wait_ready(startup_timeout)
        except BaseException:
            self.kill()
            self._cleanup_tmp()
            raise

    # -- startup -----------------------------------------------------------------------------
    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        with self._err.cond:
            while True:
                for line in self._err.lines:
                    m = self.READY_RE.search(line)
                    if m:
                        self.pid = int(m.group(1))
                        self._parse_ports()
                        return
                if self._err.closed or self.proc.poll() is not None:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._err.cond.wait(min(left, 0.1))
        try:
            rc = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            rc = None
        raise PorticoStartError(
            f"portico did not log 'ready pid=' within {timeout}s (exit code {rc}); stderr:\n"
            + "\n".join(self._err.snapshot()[-60:]))

    def _parse_ports(self):
        for line in self._err.snapshot():
            m = self.LISTEN_RE.search(line)
            if m:
                self.ports[m.group(1)] = int(m.group(3))

    # -- accessors -----------------------------------------------------------------------------
    def port(self, name="http"):
        if name not in self.ports:
            raise AssertionError(f"no 'listening name={name}' line; saw {self.ports}")
        return self.ports[name]

    @property
    def admin_port(self):
        return self.port("admin")

    def url(self, path, listener="http"):
        return f"http://127.0.0.1:{self.port(listener)}{path}"

    @property
    def stderr_lines(self):
        return self._err.snapshot()

    @property
    def stdout_lines(self):
        return self._out.snapshot()

    def log_mark(self):
        """Index to pass as wait_for_log(since=...) to only consider later lines."""
        return len(self._err.snapshot())

    def wait_for_log(self, regex, timeout=DEFAULT_TIMEOUT, since=0):
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self._err.cond:
            while True:
                for line in self._err.lines[since:]:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or self._err.closed:
                    break
                self._err.cond.wait(min(left, 0.1))
        raise AssertionError(f"no stderr line matching {regex!r} within {timeout}s; last lines:\n"
                             + "\n".join(self._err.snapshot()[-30:]))

    def sanitizer_report(self):
        lines = self._err.snapshot()
        for i, line in enumerate(lines):
            if SANITIZER_PATTERNS.search(line):
                return "\n".join(lines[max(0, i - 2):i + 60])
        return None

    def write_config(self, text):
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)  # atomic: a reload never sees half a file

    def rss_kib(self):
        return read_rss_kib(self.pid)

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    # -- teardown ------------------------------------------------------------------------------
    def wait(self, timeout):
        """Waits for exit; returns the exit code or None on timeout."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        _forget(self.proc)
        self._err.thread.join(5)
        self._out.thread.join(5)
        return self.returncode

    def stop(self, timeout=15.0):
        """SIGTERM, then SIGKILL after `timeout`. Returns the exit code."""
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self.wait(timeout) is None:
                self.kill()
        else:
            self.wait(5)
        self._cleanup_tmp()
        return self.returncode

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.returncode = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        _forget(self.proc)
        self._err.thread.join(5)
        self._out.thread.join(5)

    def _cleanup_tmp(self):
        if self._own_tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def start_portico(config_yaml_text, workers=2, env=None, extra_args=(), tmpdir=None):
    return Portico(config_yaml_text, workers=workers, env=env, extra_args=extra_args,
                   tmpdir=tmpdir)


def read_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


class RssSampler:
    """Samples a process's VmRSS in a thread until stop(); .peak_kib is the maximum seen."""

    def __init__(self, pid, interval=0.02):
        self.pid = pid
        self.interval = interval
        self.peak_kib = read_rss_kib(pid)
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                v = read_rss_kib(self.pid)
            except (OSError, AssertionError):
                return
            self.peak_kib = max(self.peak_kib, v)
            self.samples += 1
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._t.join(5)
        try:
            self.peak_kib = max(self.peak_kib, read_rss_kib(self.pid))
        except (OSError, AssertionError):
            pass
        return self.peak_kib


# ---------------------------------------------------------------------------------------------
# Body patterns shared by origins and tests

def pattern_bytes(n, offset=0):
    """Deterministic bytes: byte i is (offset + i) % 251 (a prime, so misplaced pieces show)."""
    base = bytes(range(251))
    start = offset % 251
    reps = (start + n) // 251 + 1
    return (base * reps)[start:start + n]


MIB = 1024 * 1024
_BIG_BLOCK = pattern_bytes(MIB)


def big_block():
    return _BIG_BLOCK


def big_body_sha256(mib):
    h = hashlib.sha256()
    for _ in range(mib):
        h.update(_BIG_BLOCK)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Origins

class RecordedRequest:
    def __init__(self, method, path, version, headers, body, client_port):
        self.method = method
        self.path = path
        self.version = version
        self.headers = headers  # list of (name, value) in arrival order
        self.body = body        # bytes, or None for streamed sinks (upload)
        self.client_port = client_port
        self.time = time.monotonic()

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return f"<RecordedRequest {self.method} {self.path} from :{self.client_port}>"


class _OriginHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # the origin must not add write stalls of its own
    timeout = 60  # idle keep-alive connections from the proxy end eventually
    server_version = "TestOrigin/1.0"
    sys_version = ""

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        self.server.origin._on_connection(self.client_address[1])

    # -- body reading --------------------------------------------------------------------------
    def _body_chunks(self):
        """Yields the request body in pieces, decoding chunked framing."""
        te = self.headers.get("Transfer-Encoding")
        if te is not None and te.strip().lower() == "chunked":
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("eof in chunk size")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            return
                left = size
                while left:
                    piece = self.rfile.read(min(left, 256 * 1024))
                    if not piece:
                        raise ConnectionError("eof in chunk data")
                    left -= len(piece)
                    yield piece
                crlf = self.rfile.read(2)
                if crlf != b"\r\n":
                    raise ConnectionError("chunk data not followed by CRLF")
        else:
            cl = self.headers.get("Content-Length")
            left = int(cl) if cl else 0
            while left:
                piece = self.rfile.read(min(left, 256 * 1024))
                if not piece:
                    raise ConnectionError("eof in body")
                left -= len(piece)
                yield piece

    def _read_body(self):
        return b"".join(self._body_chunks())

    # -- responses -----------------------------------------------------------------------------
    def _send(self, status, body, ctype="text/plain", headers=(), head_only=False):
        no_body = status in (204, 304) or 100 <= status < 200
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if no_body:
            body = b""
        else:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Origin-Name", self.server.origin.name)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def _send_dripped(self, r, head_only):
        """Chunked response in r.pieces pieces with r.drip seconds between them."""
        self.send_response(r.status)
        self.send_header("Content-Type", r.ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Origin-Name", self.server.origin.name)
        for k, v in r.headers:
            self.send_header(k, v)
        self.end_headers()
        if head_only:
            return
        n = max(1, len(r.body) // r.pieces)
        for i in range(0, len(r.body), n):
            part = r.body[i:i + n]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
            time.sleep(r.drip)  # the origin's pace under test, not a sync
        self.wfile.write(b"0\r\n\r\n")

    def _dispatch(self):
        origin = self.server.origin
        split = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(split.query))
        name = split.path.rstrip("/").rsplit("/", 1)[-1]
        head_only = self.command == "HEAD"
        streamed = name == "upload"
        body = None if streamed else self._read_body()
        rec = RecordedRequest(self.command, self.path, self.request_version,
                              list(self.headers.items()), body, self.client_address[1])
        origin._record(rec)

        if origin.handler is not None:
            # A test's own responder: returns None to fall through, or a Response.
            r = origin.handler(rec)
            if r is not None:
                if r.delay:
                    time.sleep(r.delay)  # the origin's latency under test, not a sync
                if r.pieces > 1:
                    self._send_dripped(r, head_only)
                else:
                    self._send(r.status, r.body, r.ctype, headers=r.headers, head_only=head_only)
                return

        if name == "echo":
            payload = {
                "method": self.command,
                "path": self.path,
                "version": self.request_version,
                "headers": list(self.headers.items()),
                "body": body.decode("latin-1"),
                "body_len": len(body),
                "client_port": self.client_address[1],
                "origin": origin.name,
            }
            self._send(200, json.dumps(payload).encode(), "application/json", head_only=head_only)
        elif name == "slow":
            time.sleep(float(q.get("delay", "1")))  # the behaviour under test, not a sync
            self._send(200, b"slow done\n", head_only=head_only)
        elif name == "chunked":
            n = int(q.get("bytes", "10000"))
            piece = int(q.get("piece", "1000"))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("X-Origin-Name", origin.name)
            self.end_headers()
            if not head_only:
                data = pattern_bytes(n)
                for i in range(0, n, piece):
                    part = data[i:i + piece]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
        elif name == "big":
            mib = int(q.get("mib", "1"))
            chunked = q.get("chunked") == "1"
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(mib * MIB))
            self.send_header("X-Origin-Name", origin.name)
            self.end_headers()
            if not head_only:
                block = _BIG_BLOCK
                for _ in range(mib):
                    if chunked:
                        self.wfile.write(b"%x\r\n" % len(block))
                    self.wfile.write(block)
                    if chunked:
                        self.wfile.write(b"\r\n")
                    origin._add_big_sent(len(block))
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
        elif name == "upload":
            h = hashlib.sha256()
            n = 0
            for piece in self._body_chunks():
                h.update(piece)
                n += len(piece)
                origin._add_upload_received(len(piece))
            te = self.headers.get("Transfer-Encoding")
            payload = {"bytes": n, "sha256": h.hexdigest(),
                       "chunked": bool(te and te.lower() == "chunked"),
                       "content_length": self.headers.get("Content-Length")}
            rec.body_len = n
            self._send(200, json.dumps(payload).encode(), "application/json", head_only=head_only)
        elif name == "close":
            self.close_connection = True
            self._send(200, b"closing\n", headers=[("Connection", "close")], head_only=head_only)
        elif name == "hop":
            self._send(200, b"hop\n", headers=[("Connection", "X-Foo"), ("X-Foo", "1"),
                                                ("Keep-Alive", "timeout=5"), ("X-Keep", "yes")],
                       head_only=head_only)
        elif name == "100k":
            self._send(200, pattern_bytes(100 * 1024), "application/octet-stream",
                       head_only=head_only)
        elif name == "status":
            code = int(q.get("code", "200"))
            extra = []
            if "location" in q:
                extra.append(("Location", q["location"]))
            self._send(code, f"status {code}\n".encode(), headers=extra, head_only=head_only)
        else:
            self._send(origin.status, origin.body, headers=origin.extra_headers,
                       head_only=head_only)

    def _guarded(self):
        try:
            self._dispatch()
        except (ConnectionError, BrokenPipeError, ValueError, socket.timeout):
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _guarded


class _OriginServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128


class Response:
    """What a test's origin handler answers (see Origin.handler)."""

    def __init__(self, status=200, body=b"", headers=(), delay=0.0, ctype="text/plain",
                 pieces=1, drip=0.0):
        self.pieces = pieces  # > 1: chunked, in this many pieces ...
        self.drip = drip      # ... with this many seconds between them
        self.status = status
        self.body = body
        self.headers = list(headers)
        self.delay = delay
        self.ctype = ctype


class Origin:
    """A recording HTTP/1.1 origin on 127.0.0.1:0. Responses carry X-Origin-Name: <name>.

    Paths dispatch on their last segment (so an origin_path prefix does not matter):
      echo                       JSON of method, path, headers, body
      slow?delay=S               answers after S seconds
      chunked?bytes=N&piece=M    chunked response of pattern_bytes(N)
      big?mib=N[&chunked=1]      N MiB generated on the fly (sha256: big_body_sha256(N))
      upload                     streams the body; JSON {bytes, sha256, chunked, content_length}
      close                      response with Connection: close, then closes
      hop                        response with Connection: X-Foo, X-Foo, Keep-Alive, X-Keep: yes
      100k                       100 KiB body (pattern_bytes(102400))
      status?code=N[&location=L] that status
      anything else              self.status / self.body / self.extra_headers
    """

    def __init__(self, name="origin", body=None, status=200, extra_headers=()):
        self.name = name
        self.body = body if body is not None else f"hello from {name}\n".encode()
        self.status = status
        self.extra_headers = list(extra_headers)
        self.handler = None  # optional callable(RecordedRequest) -> Response or None
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.requests = []
        self.client_ports = []  # one per accepted TCP connection
        self.big_sent = 0
        self.upload_received = 0
        self.server = _OriginServer(("127.0.0.1", 0), _OriginHandler)
        self.server.origin = self
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _on_connection(self, port):
        with self._cond:
            self.client_ports.append(port)
            self._cond.notify_all()

    def _record(self, rec):
        with self._cond:
            self.requests.append(rec)
            self._cond.notify_all()

    def _add_big_sent(self, n):
        with self._lock:
            self.big_sent += n

    def _add_upload_received(self, n):
        with self._lock:
            self.upload_received += n

    @property
    def connection_count(self):
        with self._lock:
            return len(self.client_ports)

    @property
    def request_count(self):
        with self._lock:
            return len(self.requests)

    def snapshot(self):
        with self._lock:
            return list(self.requests)

    def wait_for_requests(self, n, timeout=DEFAULT_TIMEOUT):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"origin {self.name}: {len(self.requests)} requests, wanted {n}")
                self._cond.wait(left)
            return list(self.requests)

    def last_request(self):
        with self._lock:
            return self.requests[-1] if self.requests else None

    def clear(self):
        with self._lock:
            self.requests.clear()
            self.client_ports.clear()
            self.big_sent = 0
            self.upload_received = 0

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


def down_origin_port():
    """A loopback port with nothing listening: bound, then closed."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ConnTrackingServer:
    """A bare TCP listener that accepts and counts connections and never answers (for tests that
    need an origin which holds connections open)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            c.close()


class ScriptedServer:
    """A bare TCP origin whose answers are scripted: for each connection, in its own thread, reads
    one request head and calls answer(conn, head); the connection closes when answer returns.
    For origins that misbehave in ways an HTTP server library will not (no answer, bytes that are
    not HTTP, a head without its body)."""

    def __init__(self, answer):
        self.answer = answer
        self.accepted = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        with c:
            c.settimeout(10)
            try:
                head = b""
                while b"\r\n\r\n" not in head:
                    piece = c.recv(65536)
                    if not piece:
                        return
                    head += piece
                self.answer(c, head)
            except OSError:
                pass

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._t.join(5)


# ---------------------------------------------------------------------------------------------
# Raw-socket client

class RawResponse:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value)
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return f"<RawResponse {self.status} {self.reason} body={len(self.body)}B>"


class ConnectionClosed(ConnectionError):
    pass


class RawConn:
    """A client socket that sends exactly the bytes given and parses responses by hand."""

    def __init__(self, port, host="127.0.0.1", timeout=DEFAULT_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        self.timeout = timeout

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method, path, host="localhost", headers=(), body=None, version="HTTP/1.1"):
        """Sends a well-formed request (Content-Length added when body is given)."""
        self.send(build_request(method, path, host, headers, body, version))

    def _fill(self, deadline):
        if self.eof:
            raise ConnectionClosed("connection closed by peer")
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out reading response")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(256 * 1024)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise ConnectionClosed("connection closed by peer")
        self.buf += data

    def _read_line(self, deadline):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill(deadline)

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_head(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head, self.buf = self.buf[:i], self.buf[i + 4:]
                break
            self._fill(deadline)
        lines = head.split(b"\r\n")
        parts = lines[0].decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise AssertionError(f"bad status line: {lines[0]!r}")
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for l in lines[1:]:
            k, _, v = l.decode("latin-1").partition(":")
            headers.append((k, v.strip()))
        return version, status, reason, headers, head

    def read_response(self, method="GET", timeout=None):
        """Reads one response (a 1xx counts as one). HEAD/1xx/204/304 have no body."""
        timeout = timeout or self.timeout
        deadline = time.monotonic() + timeout
        version, status, reason, headers, head = self.read_head(timeout)
        r = RawResponse(version, status, reason, headers, b"", head)
        if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
            return r
        te = r.header("Transfer-Encoding")
        cl = r.header("Content-Length")
        if te and "chunked" in te.lower():
            body = []
            while True:
                size = int(self._read_line(deadline).split(b";")[0].strip(), 16)
                if size == 0:
                    while self._read_line(deadline) != b"":
                        pass
                    break
                body.append(self._read_exact(size, deadline))
                if self._read_exact(2, deadline) != b"\r\n":
                    raise AssertionError("chunk not followed by CRLF")
            r.body = b"".join(body)
        elif cl is not None:
            r.body = self._read_exact(int(cl), deadline)
        else:
            while True:
                try:
                    self._fill(deadline)
                except ConnectionClosed:
                    break
            r.body, self.buf = self.buf, b""
        return r

    def read_final_response(self, method="GET", timeout=None):
        """Like read_response but skips 1xx interim responses."""
        while True:
            r = self.read_response(method, timeout)
            if r.status >= 200:
                return r

    def wait_closed(self, timeout=DEFAULT_TIMEOUT):
        """Reads until EOF/reset. Returns (closed, extra_bytes): closed is False on timeout."""
        deadline = time.monotonic() + timeout
        extra = self.buf
        self.buf = b""
        if self.eof:
            return True, extra
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False, extra
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return False, extra
            except ConnectionResetError:
                self.eof = True
                return True, extra
            if not data:
                self.eof = True
                return True, extra
            extra += data

    def quiet_for(self, seconds):
        """True when nothing arrives (no data, no close) for `seconds`."""
        if self.buf or self.eof:
            return False
        r, _, _ = select.select([self.sock], [], [], seconds)
        return not r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def build_request(method, path, host="localhost", headers=(), body=None, version="HTTP/1.1"):
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    names = set()
    for k, v in headers:
        lines.append(f"{k}: {v}")
        names.add(k.lower())
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if body is not None:
        data += body
    return data


def send_and_read_all(port, data, timeout=DEFAULT_TIMEOUT):
    """Sends `data` on a fresh connection; returns (everything received, closed) once the server
    closes or `timeout` passes."""
    with RawConn(port, timeout=timeout) as c:
        c.send(data)
        closed, got = c.wait_closed(timeout)
        return got, closed


def parse_responses(data, methods=()):
    """Parses every complete response in `data` (e.g. from pipelined requests). `methods` gives
    the request method per response where it matters (HEAD has no body)."""
    p = RawConn.__new__(RawConn)
    p.sock, p.buf, p.eof, p.timeout = None, data, True, 0.0
    out = []
    methods = list(methods)
    while p.buf:
        m = methods[len(out)] if len(out) < len(methods) else "GET"
        try:
            out.append(p.read_response(m, timeout=1.0))
        except ConnectionClosed:
            break
    return out


def raw_exchange(port, data, timeout=DEFAULT_TIMEOUT):
    """Sends `data` on a fresh connection and returns (first response, closed, extra bytes)."""
    with RawConn(port, timeout=timeout) as c:
        c.send(data)
        r = c.read_response(timeout=timeout)
        closed, extra = c.wait_closed(timeout)
        return r, closed, extra


# ---------------------------------------------------------------------------------------------
# http.client helpers

class Resp:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage (case-insensitive get)
        self.body = body

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def __repr__(self):
        return f"<Resp {self.status} body={len(self.body)}B>"


def http_request(port, method, path, host="localhost", headers=None, body=None,
                 timeout=DEFAULT_TIMEOUT, conn=None):
    """One request with http.client (a fresh connection unless `conn` is given)."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = dict(headers or {})
        if host is not None:
            h.setdefault("Host", host)
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, r.reason, r.headers, data)
    finally:
        if own:
            conn.close()


def get(port, path, host="localhost", headers=None, timeout=DEFAULT_TIMEOUT):
    return http_request(port, "GET", path, host=host, headers=headers, timeout=timeout)


def admin_request(port, method, path, token=None, body=None, timeout=DEFAULT_TIMEOUT):
    h = {}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return http_request(port, method, path, host=f"127.0.0.1:{port}", headers=h, body=body,
                        timeout=timeout)


def parse_metrics(text):
    """Prometheus text -> list of (name, {labels}, float value)."""
    out = []
    rx = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
    lrx = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = rx.match(line.strip())
        if not m:
            continue
        labels = dict(lrx.findall(m.group(3) or ""))
        try:
            value = float(m.group(4))
        except ValueError:
            continue
        out.append((m.group(1), labels, value))
    return out


def metric_value(samples, name, **labels):
    """Sum of samples named `name` whose labels include `labels`; None when there are none."""
    found = [v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in labels.items())]
    return sum(found) if found else None


def yaml_str(s):
    return json.dumps(s)  # JSON strings are valid YAML double-quoted scalars


# ---------------------------------------------------------------------------------------------
# unittest base

class PorticoTestCase(unittest.TestCase):
    """Base class: resources made with make_origin/make_portico/make_tmpdir/add_cleanup are
    released through unittest's (class) cleanups, which run even when setUp/setUpClass fails
    part-way. A Portico that printed a sanitizer report fails the test (or class) that owned it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()


def _release(kind, obj, where):
    if kind == "portico":
        obj.stop()
        report = obj.sanitizer_report()
        if report:
            raise AssertionError(f"sanitizer report from portico ({where}):\n{report}")
    elif kind == "origin":
        obj.close()
    elif kind == "dir":
        shutil.rmtree(obj, ignore_errors=True)
    elif kind == "call":
        obj()


def _add(owner, kind, obj):
    """Registers `obj` for release when `owner` (a TestCase, or a TestCase class inside
    setUpClass) is done; later registrations are released first."""
    if isinstance(owner, type):
        owner.addClassCleanup(_release, kind, obj, owner.__name__)
    else:
        owner.addCleanup(_release, kind, obj, owner.id())
    return obj


def make_origin(owner, name="origin", **kw):
    return _add(owner, "origin", Origin(name, **kw))


def make_portico(owner, config_text, **kw):
    return _add(owner, "portico", start_portico(config_text, **kw))


def make_tmpdir(owner):
    return _add(owner, "dir", tempfile.mkdtemp(prefix="portico-it-"))


def add_cleanup(owner, fn):
    return _add(owner, "call", fn)


def simple_config(default_origin_url, extra_server="", extra_top="", api_origin_url=None,
                  api_origin_path="", read_timeout="5s", aliases=("localhost",)):
    """One listener, one distribution `web`: default behavior -> origin `site` (custom),
    optional `/api/*` -> origin `api` with every method allowed."""
    alias_list = ", ".join(yaml_str(a) for a in aliases)
    origins = [f"""      - id: site
        custom_origin: {{ url: {yaml_str(default_origin_url)}, origin_read_timeout: {read_timeout}, connection_timeout: 2s, connection_attempts: 1 }}"""]
    behaviors = ""
    if api_origin_url:
        op = f"origin_path: {yaml_str(api_origin_path)}, " if api_origin_path else ""
        origins.append(f"""      - id: api
        custom_origin: {{ url: {yaml_str(api_origin_url)}, {op}origin_read_timeout: {read_timeout}, connection_timeout: 2s, connection_attempts: 1 }}""")
        behaviors = """    cache_behaviors:
      - { path_pattern: "/api/*", target_origin_id: api, allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE] }
"""
    origins_text = "\n".join(origins)
    return f"""server:
  client_header_timeout: 5s
  idle_timeout: 10s
  shutdown_timeout: 10s
{extra_server}listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
distributions:
  - id: web
    aliases: [{alias_list}]
    origins:
{origins_text}
    default_cache_behavior: {{ target_origin_id: site }}
{behaviors}{extra_top}"""


def run_main():
    unittest.main(verbosity=int(os.environ.get("PORTICO_TEST_VERBOSITY", "2")))
