"""Load balancer dynamics, end to end: what target groups do over time and under load, beyond
test_load_balancer.py's static checks.

  WeightedSplitTest     10,000 requests over a 70/30/0 weighted forward: each group within 3
                        points of its weight, the weight-0 group gets nothing.
  LeastOutstandingTest  least_outstanding_requests avoids a target with requests in flight.
  HealthCycleTest       a SIGKILLed backend goes unhealthy within interval x unhealthy_threshold
                        and no request fails after that; restarted, it is healthy again after
                        healthy_threshold checks (not one sooner) and takes traffic.
  DrainingTest          deregistering a target with a 5 s request in flight: the request finishes
                        whole, new requests go elsewhere, `draining` until that request ends
                        (ALB completes early when nothing is in flight), not the full delay.
  ChurnTest             targets registered and deregistered through the admin API while client
                        threads run: every request answered 200 by the backend it names.

Backends run in their own processes (this file with --backend), so killing one closes its
sockets the way a crashed server does. Nothing sleeps to synchronise: waits poll observable state
(the admin API's /target-groups/{name}/health, recorded responses) against deadlines. Timing
bounds use ALB's minimum health check settings (interval 5 s, thresholds 2); HealthCycleTest
places its kill and restart half-way between two probes, so that a state change one probe early
or late misses its bound by half an interval. About 45 s under ASan on a busy 2-core machine.
"""

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness as h

TOKEN_ENV = "PORTICO_IT_LBDYN_TOKEN"
TOKEN = "lb-dynamics-token"
INTERVAL = 5        # health_check.interval (ALB's minimum), seconds
TIMEOUT = 2         # health_check.timeout (ALB's minimum)
HEALTHY = 2         # healthy_threshold
UNHEALTHY = 2       # unhealthy_threshold
SLACK = 2.0         # probe scheduling, polling and a loaded machine, seconds
HEALTH_CHECK = (f"{{ path: /health, interval: {INTERVAL}s, timeout: {TIMEOUT}s, "
                f"healthy_threshold: {HEALTHY}, unhealthy_threshold: {UNHEALTHY} }}")
BACKEND_START_TIMEOUT = 10.0


# ---------------------------------------------------------------------------------------------
# Backend process (python3 test_lb_dynamics.py --backend NAME PORT SLOW_WORK_S)

def serve_backend(name, port, slow_work):
    """Answers GET with `NAME\\n` and X-Origin-Name: NAME. /health: 200. .../slow?delay=S: after S
    seconds. .../drip?delay=S&bytes=N&pieces=K&over=T: head after S seconds, then N bytes of
    harness.pattern_bytes in K pieces spread over T seconds. .../work: after `slow_work` seconds.
    Prints `READY <port>` once listening."""
    plain = name.encode() + b"\n"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        timeout = 120

        def log_message(self, fmt, *args):
            pass

        def _send(self, body, length=None):
            n = len(body) if length is None else length
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d"
                             b"\r\nX-Origin-Name: %s\r\n\r\n%s" % (n, name.encode(), body))

        def do_GET(self):
            path, _, query = self.path.partition("?")
            q = dict(urllib.parse.parse_qsl(query))
            if path == "/health":
                self._send(b"ok\n")
            elif path.endswith("/slow"):
                time.sleep(float(q.get("delay", "1")))  # the latency under test, not a sync
                self._send(plain)
            elif path.endswith("/drip"):
                n, pieces = int(q["bytes"]), int(q.get("pieces", "1"))
                data, step = h.pattern_bytes(n), -(-n // pieces)
                time.sleep(float(q.get("delay", "0")))  # the latency under test
                self._send(b"", length=n)
                for i in range(0, n, step):
                    self.wfile.write(data[i:i + step])
                    if i + step < n:
                        time.sleep(float(q.get("over", "0")) / max(1, pieces - 1))
            elif path.endswith("/work") and slow_work > 0:
                time.sleep(slow_work)  # this backend is the slow one under test
                self._send(plain)
            else:
                self._send(plain)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 256

    server = Server(("127.0.0.1", port), Handler)
    sys.stdout.write(f"READY {server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever(poll_interval=0.5)


class Backend:
    """A backend process; kill() is a SIGKILL, start() again binds the same port. Spawned only
    from the main thread: children get PR_SET_PDEATHSIG, which fires when the spawning thread
    ends."""

    def __init__(self, owner, name, slow_work=0.0, wait=True):
        self.name = name
        self.slow_work = slow_work
        self.port = 0
        self.proc = None
        h.add_cleanup(owner, self.kill)
        self._spawn()
        if wait:
            self._wait_ready(time.monotonic() + BACKEND_START_TIMEOUT, raise_error=True)

    @property
    def key(self):
        return f"127.0.0.1:{self.port}"

    @property
    def yaml(self):
        return f'"{self.key}"'

    def _spawn(self):
        argv = [sys.executable, os.path.abspath(__file__), "--backend", self.name,
                str(self.port), str(self.slow_work)]
        self.proc = h.spawn(argv, stdout=subprocess.PIPE, stderr=None)

    def _wait_ready(self, deadline, raise_error=False):
        line = b""
        fd = self.proc.stdout.fileno()
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 256) if ready else b""
            if not chunk:
                break
            line += chunk
        self.proc.stdout.close()
        if line.startswith(b"READY "):
            self.port = int(line.split()[1])
            return True
        self.kill()
        if raise_error:
            raise AssertionError(f"backend {self.name} did not start (port {self.port})")
        return False

    def start(self):
        """Starts the process again on the same port. A port something else took meanwhile is
        retried until the deadline."""
        deadline = time.monotonic() + BACKEND_START_TIMEOUT
        while True:
            self._spawn()
            if self._wait_ready(deadline, raise_error=time.monotonic() >= deadline):
                return

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)


def start_backends(owner, *names, slow_work=None):
    """Backends named `names`, started in parallel; slow_work maps a name to its /work delay."""
    bs = [Backend(owner, n, (slow_work or {}).get(n, 0.0), wait=False) for n in names]
    deadline = time.monotonic() + BACKEND_START_TIMEOUT
    for b in bs:
        b._wait_ready(deadline, raise_error=True)
    return bs


# ---------------------------------------------------------------------------------------------
# Clients

class Result:
    __slots__ = ("sent", "done", "status", "backend", "body", "error")

    def __init__(self, sent, done, status, backend, body, error):
        self.sent, self.done, self.status = sent, done, status
        self.backend, self.body, self.error = backend, body, error

    def __repr__(self):
        return (f"<{self.status} from {self.backend} at {self.sent:.3f}"
                + (f": {self.error}" if self.error else "") + ">")


class Client:
    """One keep-alive connection, reopened after an error. Never retries: a failed request is a
    Result with status 0 and the error."""

    def __init__(self, port, timeout=20.0):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def get(self, path):
        sent = time.monotonic()
        try:
            if self.conn is None:
                self.conn = h.RawConn(self.port, timeout=self.timeout)
            self.conn.request("GET", path, host="lb.test")
            r = self.conn.read_response(timeout=self.timeout)
        except (OSError, AssertionError, ValueError) as e:
            self.close()
            return Result(sent, time.monotonic(), 0, None, b"", f"{type(e).__name__}: {e}")
        if (r.header("Connection") or "").lower() == "close":
            self.close()
        return Result(sent, time.monotonic(), r.status, r.header("X-Origin-Name"), r.body, None)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def get_once(port, path):
    """One request on its own connection."""
    c = Client(port)
    try:
        return c.get(path)
    finally:
        c.close()


def ok(r):
    """200 with the body of the backend the response names (catches crossed responses)."""
    return r.status == 200 and r.backend is not None and r.body == r.backend.encode() + b"\n"


class Load:
    """`threads` clients requesting `path` in a loop until stop(), every result recorded. `pace`
    seconds between one client's requests (0 = as fast as it goes)."""

    def __init__(self, owner, port, path, threads, pace=0.0):
        self.port, self.path, self.pace = port, path, pace
        self.records = []
        self.counts = {}
        self.last_seen = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self._threads:
            t.start()
        h.add_cleanup(owner, self.stop)

    def _run(self):
        c = Client(self.port)
        try:
            while not self._stop.is_set():
                r = c.get(self.path)
                with self._lock:
                    self.records.append(r)
                    if ok(r):
                        self.counts[r.backend] = self.counts.get(r.backend, 0) + 1
                        self.last_seen[r.backend] = r.sent
                if self.pace:
                    self._stop.wait(self.pace)  # pacing the load, not synchronising
        finally:
            c.close()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def count(self, name):
        with self._lock:
            return self.counts.get(name, 0)

    def seen_since(self, name, since):
        with self._lock:
            return self.last_seen.get(name, -1.0) >= since

    def answered_since(self, since):
        with self._lock:
            return sum(1 for r in self.records if r.sent >= since)

    def failures(self, since=0.0):
        with self._lock:
            return [r for r in self.records if r.sent >= since and not ok(r)]

    def total(self):
        with self._lock:
            return len(self.records)

    def snapshot(self):
        with self._lock:
            return list(self.records)


# ---------------------------------------------------------------------------------------------
# Portico and its admin API

def lb_config(groups, default_action):
    """One load balancer `lb` with its own listener `alb` (the traffic port), the admin API, and a
    distribution in front of it (required by the config, unused here)."""
    return f"""server: {{ client_header_timeout: 5s, idle_timeout: 60s, shutdown_timeout: 5s }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
admin: {{ address: "127.0.0.1:0", token_env: {TOKEN_ENV} }}
target_groups:
{groups}
load_balancers:
  - name: lb
    listeners: [ {{ name: alb, address: "127.0.0.1:0", protocol: HTTP }} ]
    default_actions: [ {default_action} ]
distributions:
  - id: web
    aliases: [localhost]
    origins: [ {{ id: alb, load_balancer: lb }} ]
    default_cache_behavior: {{ target_origin_id: alb }}
"""


def group_yaml(name, backends, extra=""):
    targets = ", ".join(b.yaml for b in backends)
    return (f"  - {{ name: {name}, targets: [{targets}], health_check: {HEALTH_CHECK}"
            f"{', ' + extra if extra else ''} }}")


class LbCase(h.PorticoTestCase):
    def start(self, groups, default_action):
        self.p = h.make_portico(self, lb_config(groups, default_action), workers=2,
                                env={TOKEN_ENV: TOKEN})
        self.port = self.p.port("alb")
        self.admin = self.p.admin_port
        self._t0 = time.monotonic()

    def tearDown(self):
        if hasattr(self, "_t0"):
            sys.stderr.write(f"  [{self._testMethodName}: {time.monotonic() - self._t0:.1f} s "
                             f"after Portico started] ")

    def health(self, group):
        r = h.admin_request(self.admin, "GET", f"/target-groups/{group}/health")
        self.assertEqual(r.status, 200, r.body)
        return {f'{t["id"]}:{t["port"]}': t for t in json.loads(r.body)["targets"]}

    def state(self, group, backend):
        t = self.health(group).get(backend.key)
        return t["state"] if t else None

    def change(self, method, group, backends):
        body = json.dumps({"targets": [{"id": "127.0.0.1", "port": b.port} for b in backends]})
        r = h.admin_request(self.admin, method, f"/target-groups/{group}/targets", token=TOKEN,
                            body=body)
        self.assertEqual(r.status, 200, r.body)

    def assert_nothing_outstanding(self, group):
        """With every client answered, no target has a request counted in flight (the counts
        least_outstanding_requests compares; a leak would skew it for good)."""
        h.wait_until(lambda: all(t["outstanding"] == 0 for t in self.health(group).values()),
                     timeout=3, message=f"outstanding 0 in {group}: {self.health(group)}")

    def wait_state(self, group, backends, state, timeout=10.0):
        h.wait_until(lambda: all(self.state(group, b) == state for b in backends),
                     timeout=timeout, interval=0.05,
                     message=f"{[b.name for b in backends]} {state} in {group}")
        return time.monotonic()


# ---------------------------------------------------------------------------------------------

class WeightedSplitTest(LbCase):
    REQUESTS = 10_000
    THREADS = 4
    WEIGHTS = {"heavy": 70, "light": 30, "zero": 0}

    def test_weighted_split_10000(self):
        h1, h2, l1, z1 = start_backends(self, "heavy1", "heavy2", "light1", "zero1")
        members = {"heavy": [h1, h2], "light": [l1], "zero": [z1]}
        groups = "\n".join(group_yaml(g, bs) for g, bs in members.items())
        split = ", ".join(f"{{ name: {g}, weight: {w} }}" for g, w in self.WEIGHTS.items())
        self.start(groups, f"{{ forward: {{ target_groups: [ {split} ] }} }}")
        for g, bs in members.items():
            self.wait_state(g, bs, "healthy")

        per_thread = self.REQUESTS // self.THREADS
        results = [[] for _ in range(self.THREADS)]

        def run(out):
            c = Client(self.port)
            try:
                for _ in range(per_thread):
                    out.append(c.get("/split"))
            finally:
                c.close()

        threads = [threading.Thread(target=run, args=(out,), daemon=True) for out in results]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        took = time.monotonic() - started
        rs = [r for out in results for r in out]
        self.assertEqual(len(rs), self.REQUESTS, "a client thread did not finish")
        bad = [r for r in rs if not ok(r)]
        self.assertEqual(bad, [], f"{len(bad)} failed requests")
        by_backend = {}
        for r in rs:
            by_backend[r.backend] = by_backend.get(r.backend, 0) + 1
        shares = {g: sum(by_backend.get(b.name, 0) for b in bs) / len(rs)
                  for g, bs in members.items()}
        sys.stderr.write(f"  [{len(rs)} requests in {took:.1f} s: {by_backend}] ")
        for g, w in self.WEIGHTS.items():
            self.assertLessEqual(abs(shares[g] - w / 100), 0.03, (g, shares, by_backend))
        self.assertEqual(by_backend.get("zero1", 0), 0, by_backend)
        # Inside `heavy`, round robin over one shared sequence (both workers): an even split.
        n1, n2 = by_backend.get("heavy1", 0), by_backend.get("heavy2", 0)
        self.assertLessEqual(abs(n1 - n2) / (n1 + n2), 0.03, by_backend)


class LeastOutstandingTest(LbCase):
    SLOW_WORK = 1.5  # seconds the slow backend takes for /work
    THREADS = 4
    QUICK_REQUESTS = 150

    def test_idle_target_preferred(self):
        slow, quick = start_backends(self, "slow", "quick", slow_work={"slow": self.SLOW_WORK})
        names = {b.key: b.name for b in (slow, quick)}
        self.start(group_yaml("lor", [slow, quick], "load_balancing_algorithm: "
                              "least_outstanding_requests"),
                   "{ forward: { target_group: lor } }")
        self.wait_state("lor", [slow, quick], "healthy")

        # One request held open on whichever target gets it: while it is in flight, sequential
        # requests all go to the other target (round robin would alternate).
        held = []
        holder = threading.Thread(target=lambda: held.append(get_once(self.port,
                                                                      "/slow?delay=3")),
                                  daemon=True)
        holder.start()
        busy = h.wait_until(
            lambda: next((k for k, t in self.health("lor").items() if t["outstanding"] == 1),
                         None), timeout=5, interval=0.02, message="a target with 1 outstanding")
        idle = next(k for k in names if k != busy)
        c = Client(self.port)
        seq = [c.get("/x") for _ in range(30)]
        self.assertEqual(self.health("lor")[busy]["outstanding"], 1,
                         "the held request ended before the 30 requests did: test too slow")
        self.assertTrue(all(ok(r) for r in seq), seq)
        self.assertEqual({r.backend for r in seq}, {names[idle]}, seq)
        holder.join(15)
        self.assertEqual(len(held), 1)
        self.assertTrue(ok(held[0]) and held[0].backend == names[busy], held)
        # Nothing in flight: ties rotate, both targets serve.
        seq = [c.get("/x") for _ in range(10)]
        c.close()
        self.assertEqual({r.backend for r in seq}, {"slow", "quick"}, seq)

        # Concurrent clients on /work, which `slow` answers after 1.5 s: `slow` only gets a
        # request when it has no more in flight than `quick`, so at most THREADS at a time.
        started = time.monotonic()
        load = Load(self, self.port, "/work", self.THREADS)
        h.wait_until(lambda: load.count("quick") >= self.QUICK_REQUESTS, timeout=30,
                     interval=0.05, message=f"{self.QUICK_REQUESTS} requests served by quick")
        load.stop()
        took = time.monotonic() - started
        self.assertEqual(load.failures(), [])
        n_slow, n_quick = load.count("slow"), load.count("quick")
        sys.stderr.write(f"  [/work in {took:.1f} s: slow {n_slow}, quick {n_quick}] ")
        self.assertLessEqual(n_slow, self.THREADS * (took / self.SLOW_WORK + 1), load.counts)
        self.assertGreaterEqual(n_quick, 5 * n_slow, load.counts)


class HealthCycleTest(LbCase):
    def test_kill_and_restart(self):
        a, b = start_backends(self, "a", "b")
        self.start(group_yaml("hc", [a, b]), "{ forward: { target_group: hc } }")
        # Every target is probed at startup, then every INTERVAL: `phase` is (just after) that.
        phase = self.wait_state("hc", [a, b], "healthy")
        load = Load(self, self.port, "/x", threads=2, pace=0.01)

        # Kill b half-way between two probes, so that a state change one probe early or late is
        # INTERVAL/2 off the expected time, far outside the tolerance. (Waiting for a point in
        # time, not for an event: nothing happens meanwhile but the load.)
        h.wait_until(lambda: time.monotonic() >= phase + INTERVAL / 2 and load.count("b"),
                     message="traffic to b")
        killed = time.monotonic()
        b.kill()
        unhealthy = self.wait_state("hc", [b], "unhealthy",
                                    timeout=INTERVAL * UNHEALTHY + SLACK + 5)
        took = unhealthy - killed
        sys.stderr.write(f"  [unhealthy {took:.1f} s after the kill] ")
        # The first failed probe comes within one interval, the threshold-th one (threshold-1)
        # intervals after it.
        self.assertGreaterEqual(took, (UNHEALTHY - 1) * INTERVAL)
        self.assertLessEqual(took, UNHEALTHY * INTERVAL + SLACK)
        self.assertEqual(self.health("hc")[b.key]["reason"], "Target.FailedHealthChecks")

        # Restart b (same port) half-way between probes too: passing probes count from the next
        # one, and until healthy_threshold of them b stays unhealthy and gets nothing.
        h.wait_until(lambda: time.monotonic() >= unhealthy + INTERVAL / 2, message="mid-interval")
        restarted = time.monotonic()
        b.start()
        up = time.monotonic()
        healthy = self.wait_state("hc", [b], "healthy", timeout=HEALTHY * INTERVAL + SLACK + 5)
        took = healthy - restarted
        sys.stderr.write(f"  [healthy {took:.1f} s after the restart] ")
        self.assertGreaterEqual(took, (HEALTHY - 1) * INTERVAL)
        self.assertLessEqual(took, HEALTHY * INTERVAL + SLACK)
        h.wait_until(lambda: load.seen_since("b", healthy), timeout=5,
                     message="traffic to b after it is healthy again")
        load.stop()
        self.assert_nothing_outstanding("hc")

        self.assertEqual(load.failures(since=unhealthy), [])
        records = load.snapshot()
        between = [r for r in records if up <= r.sent and r.done < healthy - 0.2]
        self.assertTrue(between, "no requests while b was restarting")
        self.assertEqual({r.backend for r in between}, {"a"}, "unhealthy b got traffic")
        early = load.failures()
        sys.stderr.write(f"  [{len(records)} requests, {len(early)} failed between kill and "
                         f"unhealthy] ")


class DrainingTest(LbCase):
    DELAY = 6       # deregistration_delay, seconds
    BYTES = 300_000  # the in-flight response: head after 1 s, body over 4 s

    def test_deregister_with_request_in_flight(self):
        a, b = start_backends(self, "a", "b")
        by_key = {x.key: x for x in (a, b)}
        self.start(group_yaml("drain", [a, b], f"deregistration_delay: {self.DELAY}s"),
                   "{ forward: { target_group: drain } }")
        self.wait_state("drain", [a, b], "healthy")

        held = []
        path = f"/drip?delay=1&bytes={self.BYTES}&pieces=8&over=4"
        holder = threading.Thread(target=lambda: held.append(get_once(self.port, path)),
                                  daemon=True)
        holder.start()
        key = h.wait_until(
            lambda: next((k for k, t in self.health("drain").items() if t["outstanding"] == 1),
                         None), timeout=5, interval=0.02, message="the request in flight")
        gone, kept = by_key[key], next(x for x in (a, b) if x.key != key)

        deregistered = time.monotonic()
        self.change("DELETE", "drain", [gone])
        t = self.health("drain")[gone.key]
        self.assertEqual((t["state"], t["reason"], t["outstanding"]),
                         ("draining", "Target.DeregistrationInProgress", 1), t)
        c = Client(self.port)
        seq = [c.get("/x") for _ in range(20)]
        self.assertTrue(all(ok(r) for r in seq), seq)
        self.assertEqual({r.backend for r in seq}, {kept.name}, seq)

        holder.join(20)
        self.assertEqual(len(held), 1)
        r = held[0]
        self.assertEqual((r.status, r.backend, r.error), (200, gone.name, None), r)
        self.assertEqual(len(r.body), self.BYTES)
        self.assertTrue(r.body == h.pattern_bytes(self.BYTES), "body differs")
        finished_at = time.monotonic()

        # ALB: with no request in flight any more the deregistration completes without waiting
        # for the delay; the target is gone or listed as `unused` (Target.NotRegistered).
        def finished():
            t = self.health("drain").get(gone.key)
            return t is None or t["state"] == "unused"

        h.wait_until(finished, timeout=self.DELAY + SLACK + 5, interval=0.05,
                     message="the draining target gone")
        took = time.monotonic() - deregistered
        sys.stderr.write(f"  [drained {took:.1f} s after the DELETE, "
                         f"{time.monotonic() - finished_at:.2f} s after its last request] ")
        self.assertLess(took, self.DELAY - 0.5)  # the request took about 5 s of the 6
        self.assertLess(time.monotonic() - finished_at, 1.0)
        t = self.health("drain").get(gone.key)
        if t is not None:
            self.assertEqual(t["reason"], "Target.NotRegistered", t)
        seq = [c.get("/x") for _ in range(10)]
        c.close()
        self.assertEqual({r.backend for r in seq}, {kept.name}, seq)


class ChurnTest(LbCase):
    THREADS = 4
    MIN_SECONDS = 5.0
    MIN_CYCLES = 6

    def test_register_deregister_under_load(self):
        stable, *extras = start_backends(self, "stable", "extra0", "extra1", "extra2")
        self.start(group_yaml("dyn", [stable], "deregistration_delay: 1s"),
                   "{ forward: { target_group: dyn } }")
        self.wait_state("dyn", [stable], "healthy")
        load = Load(self, self.port, "/x", self.THREADS)

        started = time.monotonic()
        cycles = 0
        previous = None
        while time.monotonic() - started < self.MIN_SECONDS or cycles < self.MIN_CYCLES:
            e = extras[cycles % len(extras)]
            since = time.monotonic()
            self.change("POST", "dyn", [e])
            self.wait_state("dyn", [e], "healthy", timeout=5)
            h.wait_until(lambda: load.seen_since(e.name, since), timeout=5,
                         message=f"traffic to {e.name} (cycle {cycles})")
            if cycles % 3 == 2:
                # Flap: deregister and register again at once (draining -> initial -> healthy).
                self.change("DELETE", "dyn", [e])
                self.change("POST", "dyn", [e])
                self.wait_state("dyn", [e], "healthy", timeout=5)
            if previous is not None:
                self.change("DELETE", "dyn", [previous])
                self.assertIn(self.state("dyn", previous), ("draining", "unused"))
            previous = e
            cycles += 1
        self.change("DELETE", "dyn", extras)
        stop = time.monotonic()
        # New requests after the last DELETE go to `stable` only.
        h.wait_until(lambda: load.answered_since(stop + 0.2) >= 20, message="requests after")
        load.stop()
        self.assert_nothing_outstanding("dyn")

        failures = load.failures()
        sys.stderr.write(f"  [{cycles} cycles, {load.total()} requests, {load.counts}] ")
        self.assertEqual(failures[:5], [], f"{len(failures)} failed requests")
        late = {r.backend for r in load.snapshot() if r.sent > stop + 0.2}
        self.assertEqual(late, {"stable"})
        for e in extras:
            self.assertGreater(load.count(e.name), 0, load.counts)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--backend"]:
        serve_backend(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        h.run_main()
