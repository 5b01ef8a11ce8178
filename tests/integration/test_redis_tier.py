"""The shared Redis cache tier (cache.redis) with two Portico processes ("edges") sharing a real
redis-server started here on a loopback ephemeral port, standalone and as a 3-master Redis
Cluster: a miss filled through edge A is a hit on edge B with no origin request; Vary variants of
one URL (Accept-Encoding, a custom header) are each a hit on B; an invalidation sent to A stops B
serving the old object within 100 ms; a restarted B misses nothing in the invalidation log;
concurrent misses over both edges make one origin request with the fleet lock, even when the
origin takes longer than lock_timeout; an edge given `localhost:port` resolves it off its loops;
a reload that changes cache.redis says a restart is needed; Redis killed under load costs no
failed request and little latency, and the tier recovers when it returns; resharding a cluster
under load costs no failed request."""

import hashlib
import json
import os
import signal
import threading
import time
import urllib.parse

import harness as h
import redisutil

TOKEN = "it-redis-token"


class Routes:
    """Per-path origin responses: path -> callable(rec) -> h.Response."""

    def __init__(self):
        self.table = {}
        self.lock = threading.Lock()

    def __call__(self, rec):
        path = urllib.parse.urlsplit(rec.path).path
        with self.lock:
            fn = self.table.get(path)
            if fn is None:
                for prefix, f in self.table.items():
                    if prefix.endswith("*") and path.startswith(prefix[:-1]):
                        fn = f
        return fn(rec) if fn else None

    def set(self, path, fn):
        with self.lock:
            self.table[path] = fn


def count(origin, path):
    return sum(1 for r in origin.snapshot() if urllib.parse.urlsplit(r.path).path == path)


def edge_config(origin_url, redis_block):
    # /vary/*: the origin sees X-Variant (origin request policy) but it is not in the cache key,
    # so its Vary picks variants of one primary key (a Vary secondary key); so does Accept-Encoding,
    # which a fill never forwards when the policy does not normalize it. /gz/*: the policy
    # normalizes Accept-Encoding, so each coding has its own primary key.
    return f"""server: {{ client_header_timeout: 5s, idle_timeout: 10s, shutdown_timeout: 5s }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
admin: {{ address: "127.0.0.1:0", token_env: PORTICO_ADMIN_TOKEN }}
cache_policies:
  - name: std
    default_ttl: 600
    cache_key: {{ headers: [], cookies: none, query_strings: none }}
  - name: gz
    default_ttl: 600
    cache_key: {{ headers: [], cookies: none, query_strings: none, enable_accept_encoding_gzip: true, enable_accept_encoding_brotli: true }}
origin_request_policies:
  - {{ name: fwd, headers: {{ whitelist: [accept-encoding, x-variant] }}, cookies: none, query_strings: none }}
cache: {{ memory_size: 64MiB, redis: {redis_block} }}
distributions:
  - id: web
    aliases: [localhost]
    origins:
      - {{ id: site, custom_origin: {{ url: {h.yaml_str(origin_url)}, origin_read_timeout: 5s, connection_attempts: 1 }} }}
    default_cache_behavior: {{ target_origin_id: site, cache_policy: std }}
    cache_behaviors:
      - {{ path_pattern: "/vary/*", target_origin_id: site, cache_policy: std, origin_request_policy: fwd }}
      - {{ path_pattern: "/gz/*", target_origin_id: site, cache_policy: gz }}
"""


def start_edge(owner, origin_url, redis_block, register=True):
    cfg = edge_config(origin_url, redis_block)
    env = {"PORTICO_ADMIN_TOKEN": TOKEN}
    if register:
        return h.make_portico(owner, cfg, workers=2, env=env)
    return h.start_portico(cfg, workers=2, env=env)


def stats(edge):
    r = h.admin_request(edge.admin_port, "GET", "/cache/stats")
    assert r.status == 200, r
    return json.loads(r.body)


def wait_ready(edge, timeout=20):
    h.wait_until(lambda: stats(edge)["redis"]["ready"], timeout=timeout,
                 message="the Redis tier to be ready")


def invalidate(edge, paths):
    r = h.admin_request(edge.admin_port, "POST", "/distributions/web/invalidations", token=TOKEN,
                        body=json.dumps({"paths": paths}).encode())
    assert r.status == 201, (r.status, r.body)
    return json.loads(r.body)["id"]


def invalidation_status(edge, inv_id):
    r = h.admin_request(edge.admin_port, "GET", f"/distributions/web/invalidations/{inv_id}")
    return json.loads(r.body)["status"]


class Load:
    """Viewer threads GETting through edges until stopped: each request is timed; anything but a
    200 with the expected body counts as a failure. `paths(i)` names the i-th request's path."""

    def __init__(self, edges, paths, expect, threads=6):
        self.edges = edges
        self.paths = paths
        self.expect = expect
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.n = 0
        self.failures = []
        self.latencies = []  # (time started, seconds)
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True)
                        for k in range(threads)]
        for t in self.threads:
            t.start()

    def _next(self):
        with self.lock:
            self.n += 1
            return self.n

    def _run(self, k):
        while not self.stop_flag.is_set():
            i = self._next()
            edge = self.edges[i % len(self.edges)]
            path = self.paths(i)
            t0 = time.monotonic()
            try:
                r = h.get(edge.port(), path, timeout=10)
                ok = r.status == 200 and r.body == self.expect(path)
                why = f"{r.status} {r.body[:40]!r}"
            except Exception as e:  # noqa: BLE001 - every failure counts
                ok, why = False, repr(e)
            dt = time.monotonic() - t0
            with self.lock:
                self.latencies.append((t0, dt))
                if not ok:
                    self.failures.append((path, why))

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(20)
        return self

    def between(self, t_from, t_to):
        with self.lock:
            return sorted(dt for t0, dt in self.latencies if t_from <= t0 < t_to)


def herd(case, edges, path, n, body):
    """`n` viewers released together, alternating over `edges`: every one gets 200 and `body`."""
    barrier = threading.Barrier(n)
    results = []
    lock = threading.Lock()

    def viewer(k):
        barrier.wait()
        try:
            r = h.get(edges[k % len(edges)].port(), path, timeout=15)
            out = (r.status, r.body)
        except Exception as e:  # noqa: BLE001
            out = (0, repr(e).encode())
        with lock:
            results.append(out)

    threads = [threading.Thread(target=viewer, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    case.assertEqual(len(results), n)
    case.assertEqual([r for r in results if r != (200, body)], [])


def percentile(values, p):
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(len(values) * p))]


def body_for(path):
    return f"body of {path}\n".encode()


class EdgesOnOneRedis(h.PorticoTestCase):
    """Base: `edges` edges (a, b) on a redis-server of their own, fleet lock on; no tests."""
    edges = 2
    key_prefix = "it:"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.redis = redisutil.make_server(cls)
        cls.origin = h.make_origin(cls, "site")
        cls.routes = Routes()
        cls.origin.handler = cls.routes
        cls.redis_block = (f'{{ address: "127.0.0.1:{cls.redis.port}", timeout: 100ms, '
                           f'key_prefix: "{cls.key_prefix}", fleet_lock: true, lock_timeout: 5s }}')
        started = [start_edge(cls, cls.origin.url, cls.redis_block) for _ in range(cls.edges)]
        for edge in started:
            wait_ready(edge)
        cls.a = started[0]
        cls.b = started[1] if len(started) > 1 else None

    def serve(self, path, body, headers=(), delay=0.0):
        self.routes.set(path, lambda rec: h.Response(200, body, list(headers), delay))

    def wait_written(self, edge, n):
        h.wait_until(lambda: stats(edge)["redis"]["writes"] >= n, message=f"{n} Redis writes")


class SharedTierTest(EdgesOnOneRedis):
    """Two edges on one redis-server, fleet lock on."""

    def test_miss_on_a_is_a_hit_on_b(self):
        self.serve("/shared.txt", b"shared body\n", [("Age", "7"), ("ETag", '"s1"')])
        writes = stats(self.a)["redis"]["writes"]
        r1 = h.get(self.a.port(), "/shared.txt")
        self.assertEqual(r1.header("X-Cache"), "Miss from cloudfront")
        self.wait_written(self.a, writes + 1)
        hits = stats(self.b)["redis"]["hits"]
        r2 = h.get(self.b.port(), "/shared.txt")
        self.assertEqual(r2.status, 200)
        self.assertEqual(r2.body, b"shared body\n")
        self.assertEqual(r2.header("X-Cache"), "Hit from cloudfront")
        self.assertGreaterEqual(int(r2.header("Age")), 7)  # the origin's Age and the time since
        self.assertEqual(r2.header("ETag"), '"s1"')
        self.assertEqual(stats(self.b)["redis"]["hits"], hits + 1)
        # Now in B's memory too: a plain local hit.
        r3 = h.get(self.b.port(), "/shared.txt")
        self.assertEqual(r3.header("X-Cache"), "Hit from cloudfront")
        self.assertEqual(stats(self.b)["redis"]["hits"], hits + 1)
        self.assertEqual(count(self.origin, "/shared.txt"), 1)

    def test_stale_copy_refreshed_by_another_edge_comes_from_redis(self):
        self.serve("/fresh.txt", b"v1\n", [("Cache-Control", "max-age=1")])
        writes = stats(self.a)["redis"]["writes"]
        h.get(self.a.port(), "/fresh.txt")
        self.wait_written(self.a, writes + 1)
        self.assertEqual(h.get(self.b.port(), "/fresh.txt").header("X-Cache"),
                         "Hit from cloudfront")
        time.sleep(1.1)  # both copies go stale (the behavior under test)
        self.serve("/fresh.txt", b"v2\n", [("Cache-Control", "max-age=60")])
        self.assertEqual(h.get(self.a.port(), "/fresh.txt").body, b"v2\n")  # A refetches
        self.wait_written(self.a, writes + 2)
        r = h.get(self.b.port(), "/fresh.txt")  # B's stale copy: Redis has a fresh one
        self.assertEqual(r.body, b"v2\n")
        self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")
        self.assertEqual(count(self.origin, "/fresh.txt"), 2)

    def test_large_object_in_chunks(self):
        body = h.pattern_bytes(1_500_000)  # six 256 KiB chunks
        self.serve("/large.bin", body)
        writes = stats(self.a)["redis"]["writes"]
        self.assertEqual(h.get(self.a.port(), "/large.bin").body, body)
        self.wait_written(self.a, writes + 1)
        r = h.get(self.b.port(), "/large.bin")
        self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), hashlib.sha256(body).hexdigest())
        self.assertEqual(r.header("Content-Length"), str(len(body)))
        self.assertEqual(count(self.origin, "/large.bin"), 1)

    def test_invalidation_through_a_reaches_b_within_100ms(self):
        self.serve("/inv.txt", b"old\n")
        writes = stats(self.a)["redis"]["writes"]
        h.get(self.a.port(), "/inv.txt")
        self.wait_written(self.a, writes + 1)
        self.assertEqual(h.get(self.b.port(), "/inv.txt").header("X-Cache"),
                         "Hit from cloudfront")  # B holds it in memory now
        self.serve("/inv.txt", b"new\n")
        t0 = time.monotonic()
        inv = invalidate(self.a, ["/inv.txt"])
        seen_new = None
        while time.monotonic() - t0 < 2.0:
            if h.get(self.b.port(), "/inv.txt").body == b"new\n":
                seen_new = time.monotonic() - t0
                break
        self.assertIsNotNone(seen_new, "B kept serving the invalidated object")
        print(f"\nB served the new object {seen_new * 1000:.1f} ms after the invalidation")
        self.assertLess(seen_new, 0.1)
        h.wait_until(lambda: invalidation_status(self.a, inv) == "Completed")
        self.assertEqual(h.get(self.a.port(), "/inv.txt").body, b"new\n")

    def test_restarted_edge_misses_nothing_in_the_log(self):
        self.serve("/restart.txt", b"before\n")
        writes = stats(self.a)["redis"]["writes"]
        h.get(self.a.port(), "/restart.txt")
        self.wait_written(self.a, writes + 1)
        c = start_edge(self, self.origin.url, self.redis_block, register=False)
        try:
            wait_ready(c)
            self.assertEqual(h.get(c.port(), "/restart.txt").header("X-Cache"),
                             "Hit from cloudfront")
        finally:
            c.stop()
        # While C is down: invalidated through A (the entry stays in Redis, hidden by the log).
        self.serve("/restart.txt", b"after\n")
        inv = invalidate(self.a, ["/restart*"])
        h.wait_until(lambda: invalidation_status(self.a, inv) == "Completed")
        c = start_edge(self, self.origin.url, self.redis_block)
        wait_ready(c)
        generation = stats(self.a)["redis"]["invalidation_log"]["distributions"]["web"]
        self.assertEqual(
            stats(c)["redis"]["invalidation_log"]["distributions"]["web"]["generation"],
            generation["generation"])
        r = h.get(c.port(), "/restart.txt")
        self.assertEqual(r.body, b"after\n")
        self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")
        self.assertEqual(stats(c)["redis"]["hidden"], 1)

    def test_cut_off_edge_catches_up_before_serving_its_memory(self):
        relay = redisutil.TcpForwarder(self.redis.port)
        h.add_cleanup(self, relay.close)
        block = self.redis_block.replace(f"127.0.0.1:{self.redis.port}",
                                         f"127.0.0.1:{relay.port}")
        c = start_edge(self, self.origin.url, block)
        wait_ready(c)
        self.serve("/cut.txt", b"old\n")
        writes = stats(self.a)["redis"]["writes"]
        h.get(self.a.port(), "/cut.txt")
        self.wait_written(self.a, writes + 1)
        self.assertEqual(h.get(c.port(), "/cut.txt").header("X-Cache"), "Hit from cloudfront")

        relay.cut()  # C alone loses Redis (and the log's feed)
        h.wait_until(lambda: stats(c)["redis"]["breaker"] == "open", message="C cut off")
        self.serve("/cut.txt", b"new\n")
        inv = invalidate(self.a, ["/cut.txt"])
        h.wait_until(lambda: invalidation_status(self.a, inv) == "Completed")
        # Cut off, C cannot know: its memory keeps serving (availability over a partition).
        self.assertEqual(h.get(c.port(), "/cut.txt").body, b"old\n")

        relay.restore()
        target = stats(self.a)["redis"]["invalidation_log"]["distributions"]["web"]["generation"]
        h.wait_until(lambda: stats(c)["redis"]["invalidation_log"]["distributions"]["web"]
                     ["generation"] == target, message="C to catch up")
        # Caught up: the missed invalidation was applied before its memory served again.
        self.assertEqual(h.get(c.port(), "/cut.txt").body, b"new\n")

    def test_concurrent_misses_over_both_edges_make_one_origin_request(self):
        self.serve("/herd.txt", b"one fetch\n", delay=0.3)
        herd(self, [self.a, self.b], "/herd.txt", 100, b"one fetch\n")
        self.assertEqual(count(self.origin, "/herd.txt"), 1)
        waited = stats(self.a)["redis"]["lock_wait_hits"] + stats(self.b)["redis"]["lock_wait_hits"]
        self.assertGreaterEqual(waited, 1)

    def test_vary_variants_are_each_a_hit_on_another_edge(self):
        fetches = {"n": 0}

        def numbered(rec):
            # The policy forwards no Accept-Encoding: each variant gets its own numbered body,
            # so B must answer each coding with the body A stored for it.
            with self.routes.lock:
                fetches["n"] += 1
                n = fetches["n"]
            return h.Response(200, f"fetch {n}\n".encode(), [("Vary", "Accept-Encoding")])

        def by_encoding(rec):
            ae = rec.header("Accept-Encoding", "none")
            return h.Response(200, f"encoding={ae}\n".encode(), [("Vary", "Accept-Encoding")])

        def by_variant(rec):
            v = rec.header("X-Variant", "none")
            return h.Response(200, f"variant={v}\n".encode(),
                              [("Vary", "X-Variant, Accept-Encoding")])

        self.routes.set("/vary/ae.txt", numbered)
        self.routes.set("/gz/ae.txt", by_encoding)
        self.routes.set("/vary/custom.txt", by_variant)
        encodings = ["gzip", "br", "identity"]
        variants = [{"X-Variant": "red"}, {"X-Variant": "blue"}, {}]
        writes = stats(self.a)["redis"]["writes"]
        stored = {}
        for ae in encodings:
            r = h.get(self.a.port(), "/vary/ae.txt", headers={"Accept-Encoding": ae})
            self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")
            stored[ae] = r.body
            r = h.get(self.a.port(), "/gz/ae.txt", headers={"Accept-Encoding": ae})
            self.assertEqual(r.body, f"encoding={ae}\n".encode())
            self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")
        self.assertEqual(len(set(stored.values())), 3)
        for hd in variants:
            r = h.get(self.a.port(), "/vary/custom.txt", headers=hd)
            self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")
        self.wait_written(self.a, writes + 9)
        origin_before = {p: count(self.origin, p) for p in
                         ("/vary/ae.txt", "/gz/ae.txt", "/vary/custom.txt")}
        self.assertEqual(list(origin_before.values()), [3, 3, 3])

        before = stats(self.b)["redis"]
        for ae in reversed(encodings):
            r = h.get(self.b.port(), "/vary/ae.txt", headers={"Accept-Encoding": ae})
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, stored[ae], ae)
            self.assertEqual(r.header("X-Cache"), "Hit from cloudfront", ae)
            self.assertEqual(r.header("Vary"), "Accept-Encoding")
            r = h.get(self.b.port(), "/gz/ae.txt", headers={"Accept-Encoding": ae})
            self.assertEqual(r.body, f"encoding={ae}\n".encode())
            self.assertEqual(r.header("X-Cache"), "Hit from cloudfront", ae)
        for hd in variants:
            r = h.get(self.b.port(), "/vary/custom.txt", headers=hd)
            self.assertEqual(r.body, f"variant={hd.get('X-Variant', 'none')}\n".encode())
            self.assertEqual(r.header("X-Cache"), "Hit from cloudfront", hd)
        after = stats(self.b)["redis"]
        # Every variant came from Redis; the origin saw nothing more.
        self.assertEqual(after["hits"] - before["hits"], 9)
        self.assertEqual({p: count(self.origin, p) for p in origin_before}, origin_before)
        # A variant nobody filled is a miss, fetched once and then a hit on the other edge.
        r = h.get(self.b.port(), "/vary/custom.txt", headers={"X-Variant": "green"})
        self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")
        self.assertEqual(r.body, b"variant=green\n")
        self.wait_written(self.b, before["writes"] + 1)
        r = h.get(self.a.port(), "/vary/custom.txt", headers={"X-Variant": "green"})
        self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")
        self.assertEqual(r.body, b"variant=green\n")
        self.assertEqual(count(self.origin, "/vary/custom.txt"), 4)

        # One invalidation covers every variant, on both edges and in Redis.
        inv = invalidate(self.a, ["/vary/ae.txt"])
        h.wait_until(lambda: invalidation_status(self.a, inv) == "Completed")
        h.wait_until(lambda: stats(self.b)["redis"]["invalidation_log"]["distributions"]["web"]
                     ["generation"] == stats(self.a)["redis"]["invalidation_log"]
                     ["distributions"]["web"]["generation"], message="B to apply it")
        hidden = stats(self.b)["redis"]["hidden"]
        for ae in encodings:
            r = h.get(self.b.port(), "/vary/ae.txt", headers={"Accept-Encoding": ae})
            self.assertEqual(r.header("X-Cache"), "Miss from cloudfront", ae)
            self.assertNotEqual(r.body, stored[ae])
        self.assertEqual(count(self.origin, "/vary/ae.txt"), 6)
        self.assertEqual(stats(self.b)["redis"]["hidden"] - hidden, 3)

    def test_stats_and_metrics(self):
        s = stats(self.a)
        self.assertIn("objects", s["local"])
        r = s["redis"]
        self.assertEqual(r["mode"], "standalone")
        self.assertEqual(r["breaker"], "closed")
        self.assertTrue(r["invalidation_log"]["synced"])
        self.assertEqual(r["nodes_ready"], r["nodes"])
        m = h.parse_metrics(h.admin_request(self.a.admin_port, "GET", "/metrics").body.decode())
        self.assertIsNotNone(h.metric_value(m, "portico_redis_hits_total"))
        self.assertEqual(h.metric_value(m, "portico_redis_breaker_open"), 0)


class HeldWritesTest(EdgesOnOneRedis):
    """One edge on its own redis-server, whose writes a test holds back (CLIENT PAUSE WRITE):
    apart from SharedTierTest, whose edges' log feeds that would disturb for the next test."""
    edges = 1
    key_prefix = "held:"

    def test_invalidating_edge_never_serves_the_old_object_from_redis(self):
        # Redis holds the old object and accepts reads, but its writes (the log append that
        # carries the invalidation) are held back: the edge that answered the POST must still
        # stop serving the old object at once, not from Redis in the meantime.
        self.serve("/own.txt", b"old\n")
        writes = stats(self.a)["redis"]["writes"]
        h.get(self.a.port(), "/own.txt")
        self.wait_written(self.a, writes + 1)
        self.assertEqual(h.get(self.a.port(), "/own.txt").header("X-Cache"),
                         "Hit from cloudfront")
        self.serve("/own.txt", b"new\n")
        self.assertEqual(redisutil.cli(self.redis.port, "CLIENT", "PAUSE", "3000", "WRITE"), "OK")
        try:
            inv = invalidate(self.a, ["/own.txt"])
            r = h.get(self.a.port(), "/own.txt")
            self.assertEqual(r.body, b"new\n", r.header("X-Cache"))
            self.assertEqual(invalidation_status(self.a, inv), "InProgress")  # not yet durable
        finally:
            redisutil.cli(self.redis.port, "CLIENT", "UNPAUSE")
        h.wait_until(lambda: invalidation_status(self.a, inv) == "Completed")
        self.assertEqual(h.get(self.a.port(), "/own.txt").body, b"new\n")


class FleetLockAndConfigTest(h.PorticoTestCase):
    """A short lock_timeout against a slow origin; one edge naming Redis `localhost:port`."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.redis = redisutil.make_server(cls)
        cls.origin = h.make_origin(cls, "site")
        cls.routes = Routes()
        cls.origin.handler = cls.routes
        cls.block = ('{{ address: "{host}:{port}", timeout: 100ms, key_prefix: "fl:", '
                     'fleet_lock: true, lock_timeout: 300ms }}')
        cls.a = start_edge(cls, cls.origin.url,
                           cls.block.format(host="127.0.0.1", port=cls.redis.port))
        # A host name: resolved off the workers' loops (hiredis would block them).
        cls.b = start_edge(cls, cls.origin.url,
                           cls.block.format(host="localhost", port=cls.redis.port))
        wait_ready(cls.a)
        wait_ready(cls.b)

    def test_localhost_address_works(self):
        s = stats(self.b)["redis"]
        self.assertGreaterEqual(s["resolves"], 3)  # 2 workers + the log's connection
        self.assertEqual(s["resolve_failures"], 0)
        self.assertEqual(stats(self.a)["redis"]["resolves"], 0)  # an IP needs none
        self.routes.set("/named.txt", lambda rec: h.Response(200, b"named\n", []))
        writes = stats(self.b)["redis"]["writes"]
        self.assertEqual(h.get(self.b.port(), "/named.txt").header("X-Cache"),
                         "Miss from cloudfront")
        h.wait_until(lambda: stats(self.b)["redis"]["writes"] > writes, message="a write")
        self.assertEqual(h.get(self.a.port(), "/named.txt").header("X-Cache"),
                         "Hit from cloudfront")
        self.assertEqual(count(self.origin, "/named.txt"), 1)

    def test_fill_slower_than_lock_timeout_is_fetched_once(self):
        # 1.5 s at the origin: five lock lifetimes. The holder renews its lock meanwhile, so the
        # other edge waits for its object rather than fetching after lock_timeout.
        self.routes.set("/slow.txt", lambda rec: h.Response(200, b"slow once\n", [], 1.5))
        renewed = stats(self.a)["redis"]["lock_extensions"] + \
            stats(self.b)["redis"]["lock_extensions"]
        herd(self, [self.a, self.b], "/slow.txt", 20, b"slow once\n")
        self.assertEqual(count(self.origin, "/slow.txt"), 1)
        sa, sb = stats(self.a)["redis"], stats(self.b)["redis"]
        self.assertGreaterEqual(sa["lock_extensions"] + sb["lock_extensions"] - renewed, 3)
        self.assertGreaterEqual(sa["lock_wait_hits"] + sb["lock_wait_hits"], 1)
        self.assertEqual(sa["lock_timeouts"] + sb["lock_timeouts"], 0)

    def test_reload_changing_cache_redis_needs_a_restart(self):
        c = start_edge(self, self.origin.url,
                       self.block.format(host="127.0.0.1", port=self.redis.port))
        wait_ready(c)
        self.assertFalse(stats(c)["redis"]["restart_needed"])
        mark = c.log_mark()
        changed = self.block.format(host="127.0.0.1", port=self.redis.port).replace(
            "timeout: 100ms", "timeout: 20ms").replace("lock_timeout: 300ms", "lock_timeout: 1s")
        c.write_config(edge_config(self.origin.url, changed))
        r = h.admin_request(c.admin_port, "POST", "/reload", token=TOKEN)
        self.assertEqual(r.status, 200, r.body)
        line = c.wait_for_log(r"reload: cache.redis changed: (.*); the running Redis tier keeps "
                              r"its startup settings until a restart", since=mark)
        self.assertEqual(line.group(1).split(" (")[0], "timeout, lock_timeout")
        self.assertIn("portico.yaml:", line.group(1))
        self.assertTrue(stats(c)["redis"]["restart_needed"])
        # The tier keeps working with its startup settings.
        self.routes.set("/after-reload.txt", lambda rec: h.Response(200, b"ok\n", []))
        self.assertEqual(h.get(c.port(), "/after-reload.txt").body, b"ok\n")
        # Back to the startup settings (SIGHUP this time): nothing pending any more.
        c.write_config(edge_config(self.origin.url,
                                   self.block.format(host="127.0.0.1", port=self.redis.port)))
        mark = c.log_mark()
        c.signal(signal.SIGHUP)
        c.wait_for_log(r"reload ok", since=mark)
        self.assertFalse(stats(c)["redis"]["restart_needed"])


class RedisFailureTest(h.PorticoTestCase):
    """Redis killed under load: no failed request, latency within the budget, recovery."""

    BUDGET_S = 0.05

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.redis = redisutil.make_server(cls)
        cls.origin = h.make_origin(cls, "site")
        cls.origin.handler = lambda rec: h.Response(
            200, body_for(urllib.parse.urlsplit(rec.path).path), [])
        block = (f'{{ address: "127.0.0.1:{cls.redis.port}", timeout: 50ms, key_prefix: "f:" }}')
        cls.a = start_edge(cls, cls.origin.url, block)
        cls.b = start_edge(cls, cls.origin.url, block)
        wait_ready(cls.a)
        wait_ready(cls.b)

    def test_redis_killed_under_load(self):
        # Every request is a local miss (new path), so each asks Redis first.
        load = Load([self.a, self.b], lambda i: f"/k/{i}", body_for)
        h.wait_until(lambda: load.n > 200, timeout=20, message="load to run")
        t_kill = time.monotonic()
        self.redis.kill()
        h.wait_until(lambda: stats(self.a)["redis"]["breaker"] == "open", message="breaker open")
        h.wait_until(lambda: load.n > 600, timeout=20, message="load to run without Redis")
        t_restart = time.monotonic()
        self.redis.start()
        wait_ready(self.a)
        wait_ready(self.b)
        t_ready = time.monotonic()
        h.wait_until(lambda: load.n > 1000, timeout=20, message="load after recovery")
        load.stop()
        self.assertEqual(load.failures, [], f"{len(load.failures)} failed of {load.n}")
        up = load.between(0, t_kill)
        down = load.between(t_kill, t_restart)
        self.assertGreater(len(down), 50)
        for name, v in (("redis up", up), ("redis down", down)):
            print(f"\n{name}: {len(v)} requests, p50 {percentile(v, 0.5) * 1000:.1f} ms, "
                  f"p99 {percentile(v, 0.99) * 1000:.1f} ms, max {v[-1] * 1000:.1f} ms", end="")
        print()
        # Down means not asked (breaker open): a miss costs the origin fetch and no more. Only
        # the requests in flight at the kill may wait, at most the budget.
        self.assertLess(percentile(down, 0.9), self.BUDGET_S)
        self.assertLess(down[-1], self.BUDGET_S + 1.0)
        # Recovered: a fill through A is a Redis hit on B again.
        writes = stats(self.a)["redis"]["writes"]
        h.get(self.a.port(), "/after-recovery")
        h.wait_until(lambda: stats(self.a)["redis"]["writes"] > writes, message="a write")
        r = h.get(self.b.port(), "/after-recovery")
        self.assertEqual(r.header("X-Cache"), "Hit from cloudfront", stats(self.b)["redis"])
        self.assertGreater(t_ready, t_restart)


    def test_redis_stalled_under_load(self):
        # SIGSTOP: connections stay open and nothing answers, the worst case for a client.
        load = Load([self.a, self.b], lambda i: f"/s/{i}", body_for)
        h.wait_until(lambda: load.n > 200, timeout=20, message="load to run")
        trips = stats(self.a)["redis"]["breaker_trips"]
        t_stop = time.monotonic()
        os.kill(self.redis.pid, signal.SIGSTOP)
        try:
            h.wait_until(lambda: stats(self.a)["redis"]["breaker_trips"] > trips,
                         message="the breaker to open")
            h.wait_until(lambda: load.n > 800, timeout=20, message="load while stalled")
        finally:
            t_cont = time.monotonic()
            os.kill(self.redis.pid, signal.SIGCONT)
        wait_ready(self.a)
        wait_ready(self.b)
        load.stop()
        self.assertEqual(load.failures, [], f"{len(load.failures)} failed of {load.n}")
        stalled = load.between(t_stop, t_cont)
        print(f"\nredis stalled: {len(stalled)} requests, p50 "
              f"{percentile(stalled, 0.5) * 1000:.1f} ms, p99 "
              f"{percentile(stalled, 0.99) * 1000:.1f} ms, max {stalled[-1] * 1000:.1f} ms")
        # Only the few lookups in flight before the breaker opened waited out the budget.
        self.assertLess(percentile(stalled, 0.9), self.BUDGET_S)
        self.assertLess(stalled[-1], self.BUDGET_S + 1.0)


class ClusterTest(h.PorticoTestCase):
    """Two edges on a 3-master Redis Cluster; a slot range moved under load."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cluster = redisutil.make_cluster(cls)
        cls.origin = h.make_origin(cls, "site")
        cls.origin.handler = lambda rec: h.Response(
            200, body_for(urllib.parse.urlsplit(rec.path).path), [])
        seeds = ", ".join(h.yaml_str(a) for a in cls.cluster.addresses()[:2])
        block = f'{{ cluster: [{seeds}], timeout: 100ms, key_prefix: "c:" }}'
        cls.a = start_edge(cls, cls.origin.url, block)
        cls.b = start_edge(cls, cls.origin.url, block)
        wait_ready(cls.a)
        wait_ready(cls.b)

    def test_fill_on_a_hit_on_b_across_the_cluster(self):
        for i in range(20):
            h.get(self.a.port(), f"/spread/{i}")
        h.wait_until(lambda: stats(self.a)["redis"]["writes"] >= 20, message="20 writes")
        xc = [h.get(self.b.port(), f"/spread/{i}").header("X-Cache") for i in range(20)]
        self.assertEqual(xc, ["Hit from cloudfront"] * 20)
        s = stats(self.b)["redis"]
        self.assertEqual(s["mode"], "cluster")
        self.assertEqual(s["nodes_ready"], s["nodes"])
        self.assertGreaterEqual(s["nodes"], 6)  # 3 nodes x (2 workers + the log)

    def test_resharding_under_load(self):
        # Half new paths (Redis lookups and writes), half repeated ones (hits on either tier).
        def path(i):
            return f"/re/{i}" if i % 2 else f"/hot/{i % 64}"

        load = Load([self.a, self.b], path, body_for)
        h.wait_until(lambda: load.n > 200, timeout=20, message="load to run")
        before = self.cluster.slots_of(1)
        reshard = self.cluster.start_reshard(1000, src=0, dst=1)
        rc = reshard.wait(timeout=60)
        h._forget(reshard)
        err = reshard.stderr.read().decode(errors="replace")
        reshard.stderr.close()
        n_at_end = load.n
        h.wait_until(lambda: load.n > n_at_end + 200, timeout=20, message="load after")
        load.stop()
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.cluster.slots_of(1), before + 1000)
        self.assertEqual(load.failures, [], f"{len(load.failures)} failed of {load.n}")
        # New keys in the moved slots are written to their new owner and read back.
        writes = stats(self.a)["redis"]["writes"]
        for i in range(10):
            h.get(self.a.port(), f"/post/{i}")
        h.wait_until(lambda: stats(self.a)["redis"]["writes"] >= writes + 10, message="writes")
        hits = [h.get(self.b.port(), f"/post/{i}").header("X-Cache") for i in range(10)]
        self.assertEqual(hits, ["Hit from cloudfront"] * 10)


if __name__ == "__main__":
    if not redisutil.available():
        print("redis-server not installed: skipping")
        raise SystemExit(0)
    h.run_main()
