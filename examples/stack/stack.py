#!/usr/bin/env python3
"""The whole seed architecture on one machine: the launcher behind scripts/serve.sh, also used by
tests/integration/test_stack.py and bench/stack_load.sh (so the test proves the serve path).

  python3 examples/stack/stack.py [up] [--portico BIN] [--quiet]   start, print URLs, wait
  python3 examples/stack/stack.py deploy [--site DIR]              upload the site again

`up` starts, in order and all on 127.0.0.1: the S3-compatible server (tests/s3/s3rver.js, which
verifies SigV4) with a private bucket "site", then uploads examples/stack/site/ into it (hashed
assets with a one-year Cache-Control, the rest one minute); redis-server; the two demo backends
(examples/stack/backend.py, zones us-east-1a and us-east-1b); and Portico on
examples/stack/portico.yaml, rendered into the stack folder with the ports below. It then writes
STACK_DIR/stack.json (ports, PIDs, URLs, the admin token), prints the URLs and how to trust the
local CA, and waits. Ctrl-C, SIGTERM or SIGHUP stops every process it started, by PID, Portico
first (graceful drain); so does Portico exiting on its own. A backend, Redis or s3rver that dies
(killed to see the stack cope) is reported and left dead. Children also die with this process
(PR_SET_PDEATHSIG), even on SIGKILL.

Environment (all optional):
  PORTICO_STACK_HTTP_PORT (8080), _HTTPS_PORT (8443), _ADMIN_PORT (9901), _S3_PORT (9000),
  _REDIS_PORT (6380), _ZONE_A_PORT (9101), _ZONE_B_PORT (9102): 0 picks a free port.
  PORTICO_STACK_DIR      run folder (default var/stack): rendered config, CA (state/), logs/
  PORTICO_BIN            the binary when --portico is not given (default build/release/portico)
  PORTICO_ADMIN_TOKEN    admin API bearer token (default: a random one, printed)
  STACK_S3_KEY_ID, STACK_S3_SECRET   the bucket's key pair (default: random for this run)
  PORTICO_STACK_WORKERS  Portico's --workers (default: the config's 2)
Standard library only; the SigV4 client is tests/integration/s3util.py's.
"""

import argparse
import datetime
import errno
import http.client
import json
import mimetypes
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.dont_write_bytecode = True
import s3util  # noqa: E402  (SigV4 S3 client shared with the S3 integration tests)

CONFIG = os.path.join(HERE, "portico.yaml")
SITE = os.path.join(HERE, "site")
BACKEND = os.path.join(HERE, "backend.py")
S3RVER = os.path.join(REPO, "tests", "s3", "s3rver.js")
BUCKET = "site"
DISTRIBUTION = "web"
TARGET_GROUP = "api-tasks"

# Name -> (default port, environment variable). The defaults are the ports written in
# examples/stack/portico.yaml; render_config() maps each to the port actually used.
PORTS = {
    "http": (8080, "PORTICO_STACK_HTTP_PORT"),
    "https": (8443, "PORTICO_STACK_HTTPS_PORT"),
    "admin": (9901, "PORTICO_STACK_ADMIN_PORT"),
    "s3": (9000, "PORTICO_STACK_S3_PORT"),
    "redis": (6380, "PORTICO_STACK_REDIS_PORT"),
    "zone_a": (9101, "PORTICO_STACK_ZONE_A_PORT"),
    "zone_b": (9102, "PORTICO_STACK_ZONE_B_PORT"),
}
# The two "ECS tasks": process name, availability zone, port name.
ZONES = (("zone-a", "us-east-1a", "zone_a"), ("zone-b", "us-east-1b", "zone_b"))

ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
PAGE_CACHE_CONTROL = "public, max-age=60"

START_TIMEOUT = 30.0   # per component; the whole stack is up in a few seconds once built
STOP_TIMEOUT = 10.0    # SIGTERM, then SIGKILL


class StackError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Small helpers

def _rel(path):
    """`path` relative to the working directory when it is inside it (shorter to print)."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port):
    """True when nothing listens on 127.0.0.1:port (a listener, even SO_REUSEPORT, blocks bind)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
            raise
        return True


def _accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.25):
            return True
    except OSError:
        return False


def _http_get(port, path, host=None, timeout=2.0):
    """(status, body) of a GET to 127.0.0.1:port, or (None, error text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host or f"127.0.0.1:{port}"})
        r = conn.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException) as e:
        return None, str(e).encode()
    finally:
        conn.close()


def _redis_pong(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def resolve_ports(environ):
    """Port name -> port from the environment (0 = a free one), defaults otherwise."""
    ports = {}
    for name, (default, var) in PORTS.items():
        raw = environ.get(var, "").strip()
        if not raw:
            ports[name] = default
            continue
        try:
            value = int(raw)
        except ValueError:
            raise StackError(f"{var}={raw!r}: not a port number") from None
        if not 0 <= value <= 65535:
            raise StackError(f"{var}={raw}: not a port number")
        ports[name] = value
    taken = set(p for p in ports.values() if p)
    for name, port in ports.items():
        if port == 0:
            while port == 0 or port in taken:
                port = _free_port()
            taken.add(port)
            ports[name] = port
    if len(set(ports.values())) != len(ports):
        raise StackError(f"two components were given the same port: {ports}")
    return ports


def render_config(text, ports, state_dir, access_log):
    """examples/stack/portico.yaml with 127.0.0.1 ports, state_dir and access_log replaced."""
    mapping = {str(default): str(ports[name]) for name, (default, _) in PORTS.items()}
    seen = set()

    def port_sub(m):
        seen.add(m.group(1))
        return "127.0.0.1:" + mapping[m.group(1)]

    alternatives = "|".join(sorted(mapping))
    out = re.sub(r"127\.0\.0\.1:(" + alternatives + r")\b", port_sub, text)  # one pass
    missing = set(mapping) - seen
    if missing:
        raise StackError(f"{CONFIG}: no 127.0.0.1:PORT for default port(s) {sorted(missing)}")
    for key, value in (("state_dir", json.dumps(state_dir)),
                       ("access_log", f"{{ path: {json.dumps(access_log)} }}")):
        rx = re.compile(r"^" + key + r":.*$", re.M)
        if len(rx.findall(out)) != 1:
            raise StackError(f"{CONFIG}: expected exactly one top-level '{key}:' line")
        out = rx.sub(lambda _, key=key, value=value: f"{key}: {value}", out)
    return out


def _child_setup():
    # Own session: a Ctrl-C in the terminal reaches only the launcher, which stops the children
    # in order. PR_SET_PDEATHSIG: they die with the launcher even when it is SIGKILLed.
    os.setsid()
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Proc:
    """One child process, its log file and what it is for."""

    def __init__(self, name, args, log_path, env=None, what="", echo=None):
        self.name = name
        self.what = what
        self.log_path = log_path
        self.log = open(log_path, "ab", buffering=0)
        self.reported_exit = False
        out = subprocess.PIPE if echo else self.log
        self.popen = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, env=env, cwd=REPO,
                                      preexec_fn=_child_setup)
        self.pid = self.popen.pid
        self._tee_thread = None
        if echo:
            self._tee_thread = threading.Thread(target=self._tee, args=(echo,), daemon=True)
            self._tee_thread.start()

    def _tee(self, echo):
        for line in iter(self.popen.stdout.readline, b""):
            self.log.write(line)
            echo(self.name, line.decode(errors="replace").rstrip("\n"))
        self.popen.stdout.close()

    def alive(self):
        return self.popen.poll() is None

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM by PID, then SIGKILL after `timeout`; returns the exit code."""
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=timeout)
            except ProcessLookupError:
                pass
        rc = self.popen.wait()
        if self._tee_thread:
            self._tee_thread.join(2)
        self.log.close()
        return rc

    def tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


def _wait(what, pred, proc=None, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    while not pred():
        if proc is not None and not proc.alive():
            raise StackError(f"{what}: exited with code {proc.popen.returncode}; "
                             f"last lines of {_rel(proc.log_path)}:\n{proc.tail()}")
        if time.monotonic() >= deadline:
            tail = f"; last lines of {_rel(proc.log_path)}:\n{proc.tail()}" if proc else ""
            raise StackError(f"{what}: not ready within {timeout:.0f} s{tail}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# The stack

class Stack:
    """The processes of one stack and where they keep their files. start() brings them up in
    order (stopping what it started when a step fails), stop() takes them down by PID. Runs on
    the thread that created it (children's PR_SET_PDEATHSIG follows that thread)."""

    def __init__(self, portico_bin, stack_dir, ports, admin_token, s3_key_id, s3_secret,
                 workers=None, echo=None, out=print):
        self.portico_bin = os.path.abspath(portico_bin)
        self.dir = os.path.abspath(stack_dir)
        self.state_dir = os.path.join(self.dir, "state")
        self.logs = os.path.join(self.dir, "logs")
        self.config_path = os.path.join(self.dir, "portico.yaml")
        self.ca_path = os.path.join(self.dir, "portico-ca.pem")
        self.state_path = os.path.join(self.dir, "stack.json")
        self.ports = ports
        self.admin_token = admin_token
        self.s3_key_id, self.s3_secret = s3_key_id, s3_secret
        self.workers = workers
        self.echo = echo
        self.out = out
        self.procs = {}  # name -> Proc, in start order
        self.started_at = None
        self.ready_seconds = None

    # -- start ---------------------------------------------------------------------------------
    def start(self):
        self.started_at = time.monotonic()
        try:
            self._preflight()
            self._start_s3()
            self.upload_site(SITE)
            self._start_redis()
            self._start_backends()
            self._export_ca()
            self._start_portico()
        except BaseException:
            self.stop()
            raise
        self.ready_seconds = time.monotonic() - self.started_at
        self._write_state()

    def _preflight(self):
        if not os.access(self.portico_bin, os.X_OK):
            raise StackError(f"no Portico binary at {self.portico_bin} (build it: cmake --preset "
                             "release && cmake --build --preset release --target portico)")
        for tool, hint in (("node", "scripts/install-deps.sh installs nodejs"),
                           ("redis-server", "scripts/install-deps.sh installs redis-server")):
            if not shutil.which(tool):
                raise StackError(f"{tool} not found ({hint})")
        ok, why = s3util.node_s3rver_available()
        if not ok:
            raise StackError(f"S3-compatible server unavailable: {why}")
        busy = [f"{name} {port} ({PORTS[name][1]})" for name, port in self.ports.items()
                if not _port_free(port)]
        if busy:
            raise StackError("port(s) already in use: " + ", ".join(busy) +
                             ". Another stack running? Stop it, or set those variables "
                             "(0 picks a free port).")
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)  # the CA: kept across runs
        for d in ("s3", "redis", "logs"):  # the previous run's data and logs: start empty
            shutil.rmtree(os.path.join(self.dir, d), ignore_errors=True)
            os.makedirs(os.path.join(self.dir, d))
        for stale in (self.state_path,):
            if os.path.exists(stale):
                os.remove(stale)
        with open(CONFIG) as f:
            text = render_config(f.read(), self.ports, self.state_dir,
                                 os.path.join(self.logs, "access.log"))
        header = (f"# Rendered by examples/stack/stack.py from examples/stack/portico.yaml at "
                  f"{datetime.datetime.now().isoformat(timespec='seconds')}; edit that file.\n")
        with open(self.config_path, "w") as f:
            f.write(header + text)

    def _spawn(self, name, args, what, env=None, echo=None):
        p = Proc(name, args, os.path.join(self.logs, f"{name}.log"), env=env, what=what,
                 echo=echo)
        self.procs[name] = p
        return p

    def _start_s3(self):
        port = self.ports["s3"]
        env = dict(os.environ, S3RVER_ACCESS_KEY_ID=self.s3_key_id,
                   S3RVER_SECRET_ACCESS_KEY=self.s3_secret)
        p = self._spawn("s3rver", ["node", S3RVER, "--dir", os.path.join(self.dir, "s3"),
                                   "--port", str(port), BUCKET],
                        f"S3 (s3rver) http://127.0.0.1:{port}, bucket \"{BUCKET}\"", env=env)
        _wait("s3rver", lambda: _accepts(port), p)

    def s3_client(self):
        return s3util.S3Client("127.0.0.1", self.ports["s3"], self.s3_key_id, self.s3_secret)

    def upload_site(self, site_dir):
        """Puts every file under `site_dir` into the bucket (SigV4), hashed assets with a one-year
        Cache-Control and everything else with one minute. Returns the keys."""
        return upload_site(self.s3_client(), site_dir)

    def _start_redis(self):
        port = self.ports["redis"]
        p = self._spawn("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--daemonize", "no",
                                  "--dir", os.path.join(self.dir, "redis"),
                                  "--loglevel", "warning"],
                        f"ElastiCache (redis-server) 127.0.0.1:{port}")
        _wait("redis-server", lambda: _redis_pong(port), p)

    def _start_backends(self):
        for name, zone, port_name in ZONES:
            port = self.ports[port_name]
            self._spawn(name, [sys.executable, BACKEND, "--zone", zone, "--port", str(port)],
                        f"ECS task in {zone}, http://127.0.0.1:{port}")
        for name, zone, port_name in ZONES:
            port = self.ports[port_name]
            _wait(f"backend {name}", lambda port=port: _http_get(port, "/health")[0] == 200,
                  self.procs[name])

    def _export_ca(self):
        # `portico ca export` creates the local CA when the state folder has none, so this also
        # fixes the root before Portico issues the listener's certificate with it.
        r = subprocess.run([self.portico_bin, "ca", "export", "--state-dir", self.state_dir],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        if r.returncode != 0 or b"BEGIN CERTIFICATE" not in r.stdout:
            raise StackError("portico ca export failed: " + r.stderr.decode(errors="replace"))
        with open(self.ca_path, "wb") as f:
            f.write(r.stdout)

    def _start_portico(self):
        env = dict(os.environ, PORTICO_ADMIN_TOKEN=self.admin_token,
                   STACK_S3_KEY_ID=self.s3_key_id, STACK_S3_SECRET=self.s3_secret)
        args = [self.portico_bin, "-c", self.config_path]
        if self.workers:
            args += ["--workers", str(self.workers)]
        p = self._spawn("portico", args, "CloudFront + ALB + ACM (Portico)", env=env,
                        echo=self.echo)
        admin, https = self.ports["admin"], self.ports["https"]
        _wait("portico", lambda: _http_get(admin, "/healthz")[0] == 200 and _accepts(https), p)
        # The shared tier is optional for serving, but the demo should start with it connected.
        try:
            _wait("portico's Redis tier", lambda: self._redis_ready(), p, timeout=10)
        except StackError as e:
            self.out(f"warning: {e}")

    def _redis_ready(self):
        status, body = _http_get(self.ports["admin"], "/cache/stats")
        if status != 200:
            return False
        try:
            return bool((json.loads(body).get("redis") or {}).get("ready"))
        except ValueError:
            return False

    def _write_state(self):
        https = self.ports["https"]
        state = {
            "dir": self.dir,
            "config": self.config_path,
            "state_dir": self.state_dir,
            "ca": self.ca_path,
            "ports": self.ports,
            "pids": {name: p.pid for name, p in self.procs.items()},
            "launcher_pid": os.getpid(),
            "zones": {name: {"zone": zone, "port": self.ports[port_name]}
                      for name, zone, port_name in ZONES},
            "distribution": DISTRIBUTION,
            "target_group": TARGET_GROUP,
            "bucket": BUCKET,
            "admin_token": self.admin_token,
            "s3": {"endpoint": f"http://127.0.0.1:{self.ports['s3']}",
                   "access_key_id": self.s3_key_id, "secret_access_key": self.s3_secret},
            "urls": {"site": f"https://localhost:{https}/",
                     "http": f"http://localhost:{self.ports['http']}/",
                     "api": f"https://localhost:{https}/api/whoami",
                     "admin": f"http://127.0.0.1:{self.ports['admin']}/"},
            "ready_seconds": round(self.ready_seconds, 3),
        }
        tmp = self.state_path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds secrets
        with os.fdopen(fd, "w") as f:
            json.dump(state, f, indent=2)
        os.replace(tmp, self.state_path)

    # -- run and stop ----------------------------------------------------------------------------
    def check_children(self):
        """Reports children that exited since the last call; True while Portico runs."""
        for name, p in self.procs.items():
            if not p.alive() and not p.reported_exit:
                p.reported_exit = True
                self.out(f"[stack] {name} (pid {p.pid}) exited with code {p.popen.returncode}")
        portico = self.procs.get("portico")
        return portico is not None and portico.alive()

    def stop(self):
        """Stops every process this stack started, by PID, Portico first. Idempotent."""
        for name in reversed(list(self.procs)):
            p = self.procs[name]
            p.stop(STOP_TIMEOUT if name == "portico" else 5.0)
        self.procs.clear()
        if os.path.exists(self.state_path):
            os.remove(self.state_path)

    # -- what to tell the user -----------------------------------------------------------------
    def summary(self):
        https, http_port, admin = self.ports["https"], self.ports["http"], self.ports["admin"]
        ca = _rel(self.ca_path)
        binary = _rel(self.portico_bin)
        token = self.admin_token
        lines = [
            f"The stack is up ({self.ready_seconds:.1f} s). On this machine:",
            "",
            f"  site       https://localhost:{https}/              HTTP/2 + TLS, from S3",
            f"  deep link  https://localhost:{https}/orders/42     SPA rewrite: index.html, 200",
            f"  API        https://localhost:{https}/api/whoami    ALB -> us-east-1a | us-east-1b",
            f"  HTTP       http://localhost:{http_port}/               301 to https://",
            f"  admin      http://127.0.0.1:{admin}/metrics  /cache/stats  "
            f"/target-groups/{TARGET_GROUP}/health",
            "",
            "Trust the local CA's root (ACM stand-in), written to " + ca + ":",
            f"  curl --cacert {ca} https://localhost:{https}/",
            f"  {binary} ca export --state-dir {_rel(self.state_dir)} > portico-ca.pem   "
            "(the same root, any time)",
            "  Browsers: import it as a certificate authority (Firefox: Settings > Certificates;",
            "  Chrome/Linux: certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n portico -i " + ca + ")",
            "  Other names (Route 53): add '127.0.0.1 example.test www.example.test' to /etc/hosts",
            "",
            "Processes (stop one by PID and watch the stack cope):",
        ]
        for name, p in self.procs.items():
            lines.append(f"  {name:<8} pid {p.pid:<8} {p.what}")
        zone_b = self.ports["zone_b"]
        lines += [
            "",
            "Try:",
            f"  for i in 1 2 3 4; do curl -s --cacert {ca} https://localhost:{https}/api/whoami "
            "| grep '\"zone\"'; done",
            f"  kill {self.procs['zone-b'].pid}     # or make it sick: curl -X POST "
            f"'http://127.0.0.1:{zone_b}/control?sick=true'",
            f"  curl -s http://127.0.0.1:{admin}/target-groups/{TARGET_GROUP}/health",
            f"  python3 {_rel(os.path.join(HERE, 'stack.py'))} deploy    "
            "# upload examples/stack/site/ again after editing it",
            f"  curl -H 'Authorization: Bearer {token}' -d '{{\"paths\": [\"/index.html\"]}}' "
            f"http://127.0.0.1:{admin}/distributions/{DISTRIBUTION}/invalidations",
            "",
            f"Logs: {_rel(self.logs)}/ (portico.log, access.log, ...). "
            f"Admin token: {token}",
            "Ctrl-C stops everything this command started.",
        ]
        return "\n".join(lines)


def upload_site(client, site_dir):
    keys = []
    for root, dirs, files in os.walk(site_dir):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            key = os.path.relpath(path, site_dir).replace(os.sep, "/")
            ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if ctype.startswith("text/") or ctype == "application/javascript":
                ctype += "; charset=utf-8"
            cache = ASSET_CACHE_CONTROL if key.startswith("assets/") else PAGE_CACHE_CONTROL
            with open(path, "rb") as f:
                client.put_object(BUCKET, key, f.read(), content_type=ctype,
                                  headers={"Cache-Control": cache})
            keys.append(key)
    return keys


# ---------------------------------------------------------------------------------------------
# Command line

def _stop_signals(event):
    def handler(signum, frame):
        event.set()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def cmd_up(args):
    env = os.environ
    stack_dir = env.get("PORTICO_STACK_DIR") or os.path.join(REPO, "var", "stack")
    portico_bin = args.portico or env.get("PORTICO_BIN") or os.path.join(
        REPO, "build", "release", "portico")
    workers = env.get("PORTICO_STACK_WORKERS") or None
    stop_event = threading.Event()
    _stop_signals(stop_event)
    lock = threading.Lock()

    def echo(name, line):
        with lock:
            sys.stdout.write(f"{name} | {line}\n")
            sys.stdout.flush()

    def out(text):
        with lock:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    try:
        ports = resolve_ports(env)
    except StackError as e:
        out(f"[stack] error: {e}")
        return 2
    stack = Stack(portico_bin, stack_dir, ports,
                  admin_token=env.get("PORTICO_ADMIN_TOKEN") or secrets.token_urlsafe(18),
                  s3_key_id=env.get("STACK_S3_KEY_ID") or "AKIA" + secrets.token_hex(8).upper(),
                  s3_secret=env.get("STACK_S3_SECRET") or secrets.token_urlsafe(30),
                  workers=workers, echo=None if args.quiet else echo, out=out)
    out(f"[stack] starting in {_rel(stack.dir)}/ with {_rel(stack.portico_bin)}")
    try:
        stack.start()
        out(stack.summary())
        while not stop_event.wait(0.25):
            if not stack.check_children():
                out("[stack] Portico exited: stopping the rest")
                return 1
        out("[stack] stopping")
        return 0
    except StackError as e:
        out(f"[stack] error: {e}")
        return 1
    finally:
        stack.stop()
        out("[stack] stopped: every process it started has exited")


def cmd_deploy(args):
    stack_dir = os.environ.get("PORTICO_STACK_DIR") or os.path.join(REPO, "var", "stack")
    state_path = os.path.join(stack_dir, "stack.json")
    try:
        with open(state_path) as f:
            state = json.load(f)
    except OSError:
        print(f"no running stack ({_rel(state_path)} is missing): start one with scripts/serve.sh")
        return 1
    s3 = state["s3"]
    client = s3util.S3Client("127.0.0.1", state["ports"]["s3"], s3["access_key_id"],
                             s3["secret_access_key"])
    keys = upload_site(client, args.site)
    admin = state["ports"]["admin"]
    print(f"uploaded {len(keys)} objects to s3://{state['bucket']}/ ({', '.join(keys)}).")
    print("The edge keeps serving its cached copies until they expire; to see the new ones now:")
    print(f"  curl -H 'Authorization: Bearer {state['admin_token']}' "
          f"-d '{{\"paths\": [\"/index.html\"]}}' "
          f"http://127.0.0.1:{admin}/distributions/{state['distribution']}/invalidations")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="The seed architecture locally: S3 site + API behind a load balancer + "
                    "Redis tier + HTTPS (see docs/walkthrough.md).")
    sub = ap.add_subparsers(dest="command")
    up = sub.add_parser("up", help="start the stack and wait for Ctrl-C (the default)")
    deploy = sub.add_parser("deploy", help="upload the site to the running stack's bucket")
    for p in (ap, up):
        p.add_argument("--portico", help="the portico binary (default: $PORTICO_BIN, else "
                                         "build/release/portico)")
        p.add_argument("--quiet", action="store_true", help="do not echo Portico's log lines")
    deploy.add_argument("--site", default=SITE, help="folder to upload (default: %(default)s)")
    args = ap.parse_args(argv)
    if args.command == "deploy":
        return cmd_deploy(args)
    return cmd_up(args)


if __name__ == "__main__":
    sys.exit(main())
