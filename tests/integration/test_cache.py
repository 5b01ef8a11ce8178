"""The CloudFront cache: policies and keys, RFC 9111 freshness and validation, viewer conditionals
and ranges from the stored object, request collapsing, stale serving, compression, custom error
responses, invalidations and unsafe-method invalidation, against a real origin that counts its
requests and answers per path from each test's own table."""

import gzip
import hashlib
import http.client
import json
import threading
import time
import urllib.parse

import harness as h

TOKEN = "it-cache-token"


class Routes:
    """Per-path responses for the origin: path (without query) -> callable(rec) -> h.Response."""

    def __init__(self):
        self.table = {}
        self.lock = threading.Lock()

    def __call__(self, rec):
        path = urllib.parse.urlsplit(rec.path).path
        with self.lock:
            fn = self.table.get(path)
        return fn(rec) if fn else None

    def set(self, path, fn):
        with self.lock:
            self.table[path] = fn


def count(origin, path):
    return sum(1 for r in origin.snapshot() if urllib.parse.urlsplit(r.path).path == path)


class CacheTest(h.PorticoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = h.make_origin(cls, "site")
        cls.routes = Routes()
        cls.origin.handler = cls.routes
        q = h.yaml_str
        url = q(cls.origin.url)
        cfg = f"""server: {{ client_header_timeout: 5s, idle_timeout: 10s, shutdown_timeout: 10s }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
admin: {{ address: "127.0.0.1:0", token_env: PORTICO_ADMIN_TOKEN }}
cache_policies:
  - name: std
    default_ttl: 86400
    cache_key: {{ headers: [], cookies: none, query_strings: {{ whitelist: [v] }}, enable_accept_encoding_gzip: true, enable_accept_encoding_brotli: true }}
  - name: keep30
    min_ttl: 30
    default_ttl: 60
    cache_key: {{ headers: [], cookies: none, query_strings: none }}
  - name: plain
    default_ttl: 60
    cache_key: {{ headers: [x-variant], cookies: {{ whitelist: [session] }}, query_strings: all }}
  - name: sie600
    default_ttl: 60
    stale_if_error: 600
  - name: cors
    default_ttl: 60
    cache_key: {{ headers: [origin, access-control-request-method, access-control-request-headers] }}
cache: {{ memory_size: 64MiB, max_object_size: 16MiB }}
distributions:
  - id: web
    aliases: [localhost]
    default_root_object: index.html
    origins:
      - {{ id: site, custom_origin: {{ url: {url}, origin_read_timeout: 5s, connection_attempts: 1 }} }}
    default_cache_behavior: {{ target_origin_id: site, cache_policy: std, compress: true }}
    cache_behaviors:
      - {{ path_pattern: "/api/*", target_origin_id: site, cache_policy: Managed-CachingDisabled, origin_request_policy: Managed-AllViewer, allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE] }}
      - {{ path_pattern: "/min/*", target_origin_id: site, cache_policy: keep30 }}
      - {{ path_pattern: "/plain/*", target_origin_id: site, cache_policy: plain }}
      - {{ path_pattern: "/rw/*", target_origin_id: site, cache_policy: std, allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE] }}
      - {{ path_pattern: "/sie-policy/*", target_origin_id: site, cache_policy: sie600 }}
      - {{ path_pattern: "/sie-beh/*", target_origin_id: site, cache_policy: sie600, stale_if_error: 2 }}
      - {{ path_pattern: "/sie-off/*", target_origin_id: site, cache_policy: std, stale_if_error: 0 }}
      - {{ path_pattern: "/cors/*", target_origin_id: site, cache_policy: cors, allowed_methods: [GET, HEAD, OPTIONS], cached_methods: [GET, HEAD, OPTIONS] }}
      - {{ path_pattern: "/nocors/*", target_origin_id: site, cache_policy: cors, allowed_methods: [GET, HEAD, OPTIONS] }}
      - {{ path_pattern: "/rwo/*", target_origin_id: site, cache_policy: std, allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE], cached_methods: [GET, HEAD, OPTIONS] }}
  - id: spa
    aliases: [spa.test]
    origins:
      - {{ id: site, custom_origin: {{ url: {url}, origin_read_timeout: 5s, connection_attempts: 1 }} }}
    default_cache_behavior: {{ target_origin_id: site, cache_policy: std }}
    custom_error_responses:
      - {{ error_code: 404, response_code: 200, response_page_path: /spa/index.html, error_caching_min_ttl: 10 }}
"""
        cls.p = h.make_portico(cls, cfg, workers=2, env={"PORTICO_ADMIN_TOKEN": TOKEN})
        cls.port = cls.p.port("http")

    def serve(self, path, body=b"payload\n", headers=(), status=200, delay=0.0,
              ctype="text/plain"):
        self.routes.set(path, lambda rec: h.Response(status, body, headers, delay, ctype))

    def get(self, path, headers=None, host="localhost", method="GET"):
        return h.http_request(self.port, method, path, host=host, headers=headers)

    # ---- hits, misses, keys ----

    def test_miss_then_hit_with_cloudfront_headers(self):
        self.serve("/hm.txt", b"hello cache\n", [("ETag", '"e1"')])
        r1 = self.get("/hm.txt")
        r2 = self.get("/hm.txt")
        self.assertEqual((r1.status, r2.status), (200, 200))
        self.assertEqual(r1.header("X-Cache"), "Miss from cloudfront")
        self.assertEqual(r2.header("X-Cache"), "Hit from cloudfront")
        self.assertEqual(r2.body, b"hello cache\n")
        self.assertIsNotNone(r2.header("Age"))
        self.assertGreaterEqual(int(r2.header("Age")), 0)
        self.assertRegex(r2.header("Via"), r"^1\.1 [0-9a-f]{16}\.cloudfront\.net \(CloudFront\)$")
        self.assertNotEqual(r1.header("X-Amz-Cf-Id"), r2.header("X-Amz-Cf-Id"))
        self.assertEqual(r2.header("Content-Length"), str(len(b"hello cache\n")))
        self.assertEqual(count(self.origin, "/hm.txt"), 1)

    def test_age_counts_origin_age_and_residence(self):
        self.serve("/aged.txt", b"aged\n", [("Age", "100"), ("Cache-Control", "max-age=1000")])
        self.get("/aged.txt")
        r = self.get("/aged.txt")
        self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")
        self.assertGreaterEqual(int(r.header("Age")), 100)

    def test_query_whitelist_key_and_forwarding(self):
        self.serve("/q.txt", b"q\n")
        self.get("/q.txt?v=1&x=2")
        r = self.get("/q.txt?v=1&x=3")
        self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")
        r = self.get("/q.txt?v=2")
        self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")
        paths = [rec.path for rec in self.origin.snapshot() if rec.path.startswith("/q.txt")]
        # Only the whitelisted parameter reaches the origin (cache key + origin request policy).
        self.assertEqual(paths, ["/q.txt?v=1", "/q.txt?v=2"])

    def test_header_and_cookie_key(self):
        self.serve("/plain/hc", b"hc\n")
        a = {"X-Variant": "a", "Cookie": "session=1; other=zzz"}
        self.get("/plain/hc", a)
        self.assertEqual(self.get("/plain/hc", {"X-Variant": "a", "Cookie": "other=q; session=1"})
                         .header("X-Cache"), "Hit from cloudfront")
        self.assertEqual(self.get("/plain/hc", {"X-Variant": "b", "Cookie": "session=1"})
                         .header("X-Cache"), "Miss from cloudfront")
        self.assertEqual(self.get("/plain/hc", {"X-Variant": "a", "Cookie": "session=2"})
                         .header("X-Cache"), "Miss from cloudfront")
        first = [r for r in self.origin.snapshot() if r.path == "/plain/hc"][0]
        self.assertEqual(first.header("Cookie"), "session=1")  # not-selected cookies dropped
        self.assertEqual(first.header("X-Variant"), "a")

    def test_set_cookie_removed_when_no_cookies_are_forwarded(self):
        self.serve("/sc.txt", b"sc\n", [("Set-Cookie", "a=1")])
        self.assertIsNone(self.get("/sc.txt").header("Set-Cookie"))
        self.assertIsNone(self.get("/sc.txt").header("Set-Cookie"))
        self.serve("/api/sc", b"sc\n", [("Set-Cookie", "a=1")])  # Managed-AllViewer: cookies go
        self.assertEqual(self.get("/api/sc").header("Set-Cookie"), "a=1")

    def test_qualified_no_cache_field_not_stored(self):
        self.serve("/qnc.txt", b"q\n", [("Cache-Control", 'max-age=60, no-cache="X-Secret"'),
                                         ("X-Secret", "s"), ("X-Public", "p")])
        self.get("/qnc.txt")
        r = self.get("/qnc.txt")
        self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")
        self.assertIsNone(r.header("X-Secret"))
        self.assertEqual(r.header("X-Public"), "p")

    def test_no_store_and_private_pass_through(self):
        for cc in ("no-store", "private", "no-cache"):
            path = f"/ns-{cc}.txt"
            self.serve(path, b"x\n", [("Cache-Control", cc)])
            self.assertEqual(self.get(path).header("X-Cache"), "Miss from cloudfront")
            self.assertEqual(self.get(path).header("X-Cache"), "Miss from cloudfront")
            self.assertEqual(count(self.origin, path), 2, cc)

    def test_min_ttl_overrides_no_cache(self):
        self.serve("/min/nc", b"kept\n", [("Cache-Control", "no-cache, max-age=0")])
        self.get("/min/nc")
        r = self.get("/min/nc")
        self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")
        self.assertEqual(count(self.origin, "/min/nc"), 1)

    def test_caching_disabled_behavior_forwards_everything(self):
        self.serve("/api/dyn", b"dyn\n", [("Cache-Control", "max-age=600")])
        self.get("/api/dyn?a=1", {"Cookie": "c=1", "X-Any": "1"})
        r = self.get("/api/dyn?a=1")
        self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")
        recs = [x for x in self.origin.snapshot() if x.path.startswith("/api/dyn")]
        self.assertEqual(len(recs), 2)
        self.assertEqual(recs[0].path, "/api/dyn?a=1")
        self.assertEqual(recs[0].header("Cookie"), "c=1")
        self.assertEqual(recs[0].header("X-Any"), "1")

    def test_head_answered_from_stored_get(self):
        self.serve("/head.txt", b"0123456789")
        r = self.get("/head.txt", method="HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")
        r = self.get("/head.txt", method="HEAD")
        self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")
        self.assertEqual(r.header("Content-Length"), "10")
        r = self.get("/head.txt")
        self.assertEqual(r.body, b"0123456789")
        recs = [x for x in self.origin.snapshot() if x.path == "/head.txt"]
        self.assertEqual([x.method for x in recs], ["GET"])  # the fill fetched with GET

    def test_vary_keeps_variants(self):
        def by_lang(rec):
            lang = rec.header("Accept-Language", "none")
            return h.Response(200, f"lang={lang}\n".encode(), [("Vary", "Accept-Language")])
        self.routes.set("/vary.txt", by_lang)
        self.assertEqual(self.get("/vary.txt", {"Accept-Language": "en"}).body, b"lang=none\n")
        # The std policy forwards no headers: the origin varies on a header it never sees, so
        # both variants hold "none"; what matters is that they are stored apart.
        r = self.get("/vary.txt", {"Accept-Language": "fr"})
        self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")
        r = self.get("/vary.txt", {"Accept-Language": "en"})
        self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")
        self.assertEqual(count(self.origin, "/vary.txt"), 2)

    def test_vary_star_not_stored(self):
        self.serve("/vstar", b"v\n", [("Vary", "*")])
        self.get("/vstar")
        self.get("/vstar")
        self.assertEqual(count(self.origin, "/vstar"), 2)

    # ---- validation ----

    def test_stale_revalidated_with_304_is_refresh_hit(self):
        def conditional(rec):
            if rec.header("If-None-Match") == '"r1"':
                return h.Response(304, b"", [("ETag", '"r1"'), ("Cache-Control", "max-age=1"),
                                             ("X-Refreshed", "yes")])
            return h.Response(200, b"original\n", [("ETag", '"r1"'), ("Cache-Control", "max-age=1")])
        self.routes.set("/reval.txt", conditional)
        self.get("/reval.txt")
        time.sleep(2.1)  # the object's freshness lifetime running out is the behavior under test
        r = self.get("/reval.txt")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Cache"), "RefreshHit from cloudfront")
        self.assertEqual(r.body, b"original\n")
        self.assertEqual(r.header("X-Refreshed"), "yes")  # stored head updated from the 304
        recs = [x for x in self.origin.snapshot() if x.path == "/reval.txt"]
        self.assertEqual(len(recs), 2)
        self.assertEqual(recs[1].header("If-None-Match"), '"r1"')
        r = self.get("/reval.txt")
        self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")

    def test_viewer_conditionals_from_cache(self):
        lm = "Wed, 21 Oct 2015 07:28:00 GMT"
        self.serve("/cond.txt", b"conditional body\n", [("ETag", '"c1"'), ("Last-Modified", lm)])
        self.get("/cond.txt")
        r = self.get("/cond.txt", {"If-None-Match": '"c1"'})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("ETag"), '"c1"')
        self.assertEqual(self.get("/cond.txt", {"If-None-Match": '"zz"'}).status, 200)
        self.assertEqual(self.get("/cond.txt", {"If-Modified-Since": lm}).status, 304)
        self.assertEqual(self.get("/cond.txt", {"If-Match": '"zz"'}).status, 412)
        self.assertEqual(self.get("/cond.txt", {"If-Unmodified-Since":
                                                "Tue, 20 Oct 2015 07:28:00 GMT"}).status, 412)
        self.assertEqual(count(self.origin, "/cond.txt"), 1)
        # The fill never forwards the viewer's conditionals (it fetches the full object).
        self.serve("/cond2.txt", b"c2\n", [("ETag", '"c2"')])
        r = self.get("/cond2.txt", {"If-None-Match": '"c2"'})
        self.assertEqual(r.status, 304)
        rec = [x for x in self.origin.snapshot() if x.path == "/cond2.txt"][0]
        self.assertIsNone(rec.header("If-None-Match"))

    def test_ranges_from_stored_object(self):
        data = bytes(range(256)) * 4
        self.serve("/range.bin", data, [("ETag", '"g1"')], ctype="application/octet-stream")
        r = self.get("/range.bin", {"Range": "bytes=10-19"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, data[10:20])
        self.assertEqual(r.header("Content-Range"), f"bytes 10-19/{len(data)}")
        r = self.get("/range.bin", {"Range": "bytes=-5"})
        self.assertEqual((r.status, r.body), (206, data[-5:]))
        r = self.get("/range.bin", {"Range": "bytes=0-1,100-101"})
        self.assertEqual(r.status, 206)
        self.assertIn("multipart/byteranges", r.header("Content-Type"))
        self.assertIn(data[0:2], r.body)
        self.assertIn(data[100:102], r.body)
        r = self.get("/range.bin", {"Range": "bytes=5000-"})
        self.assertEqual(r.status, 416)
        self.assertEqual(r.header("Content-Range"), f"bytes */{len(data)}")
        r = self.get("/range.bin", {"Range": "bytes=0-3", "If-Range": '"g1"'})
        self.assertEqual((r.status, r.body), (206, data[0:4]))
        r = self.get("/range.bin", {"Range": "bytes=0-3", "If-Range": '"other"'})
        self.assertEqual((r.status, len(r.body)), (200, len(data)))
        self.assertEqual(count(self.origin, "/range.bin"), 1)
        rec = [x for x in self.origin.snapshot() if x.path == "/range.bin"][0]
        self.assertIsNone(rec.header("Range"))

    # ---- collapsing ----

    def test_collapsing_100_concurrent_misses(self):
        body = b"x" * 200_000
        self.serve("/slow-collapse.bin", body, delay=1.0, ctype="application/octet-stream")
        results = [None] * 100
        barrier = threading.Barrier(100)

        def fetch(i):
            barrier.wait()
            results[i] = self.get("/slow-collapse.bin")

        t0 = time.monotonic()
        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        self.assertEqual(count(self.origin, "/slow-collapse.bin"), 1)
        for r in results:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, body)
        self.assertLess(elapsed, 5.0)

    def test_uncacheable_response_releases_waiters(self):
        self.serve("/slow-nostore", b"fresh each time\n", [("Cache-Control", "no-store")],
                   delay=0.5)
        results = [None] * 5
        barrier = threading.Barrier(5)

        def fetch(i):
            barrier.wait()
            results[i] = self.get("/slow-nostore")

        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in results:
            self.assertEqual((r.status, r.body), (200, b"fresh each time\n"))
        self.assertEqual(count(self.origin, "/slow-nostore"), 5)

    def test_joined_viewer_streams_and_survives_the_filler_leaving(self):
        # The origin drips a chunked body over ~1 s. Viewer A starts the fill, B joins; B gets
        # bytes before the fill completes; A then hangs up, and B still gets every byte from the
        # one origin request (the fill goes on without its first viewer).
        body = bytes(range(256)) * 400  # 100 KiB
        self.routes.set("/drip.bin", lambda rec: h.Response(
            200, body, [("Cache-Control", "max-age=60")], ctype="application/octet-stream",
            pieces=20, drip=0.05))
        a = h.RawConn(self.port)
        a.send(b"GET /drip.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        h.wait_until(lambda: count(self.origin, "/drip.bin") == 1, message="fill started")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", "/drip.bin")
        resp = conn.getresponse()
        self.assertEqual(resp.getheader("X-Cache"), "Hit from cloudfront")
        first = resp.read(1000)  # arrives while the origin is still dripping
        a.close()
        rest = resp.read()
        conn.close()
        self.assertEqual(first + rest, body)
        self.assertEqual(count(self.origin, "/drip.bin"), 1)
        r = self.get("/drip.bin")
        self.assertEqual((r.header("X-Cache"), r.body), ("Hit from cloudfront", body))

    # ---- stale serving ----

    def test_stale_while_revalidate(self):
        n = {"v": 0}

        def versioned(rec):
            n["v"] += 1
            return h.Response(200, f"version {n['v']}\n".encode(),
                              [("Cache-Control", "max-age=1, stale-while-revalidate=60")])
        self.routes.set("/swr.txt", versioned)
        self.assertEqual(self.get("/swr.txt").body, b"version 1\n")
        time.sleep(2.1)  # let the object go stale (the behavior under test)
        r = self.get("/swr.txt")
        self.assertEqual(r.body, b"version 1\n")  # stale, served at once
        self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")
        h.wait_until(lambda: count(self.origin, "/swr.txt") >= 2, message="background refresh")
        # The refreshed copy replaces the stale one: version 2, unless that refresh was lost on
        # its way back (a pooled connection the origin closed after counting it) or the refreshed
        # copy went stale in turn on a slow (sanitizer) run; then a later stale hit refreshes
        # again. Never version 1 for ever, and never more refreshes than stale episodes.
        seen = {}

        def refreshed():
            seen["body"] = self.get("/swr.txt").body
            return seen["body"] != b"version 1\n"
        h.wait_until(refreshed, message="refreshed")
        version = int(seen["body"].split()[1])
        self.assertGreaterEqual(version, 2)
        self.assertLessEqual(version, count(self.origin, "/swr.txt"))
        self.assertLessEqual(count(self.origin, "/swr.txt"), version + 1)

    def test_stale_if_error(self):
        state = {"fail": False}

        def maybe(rec):
            if state["fail"]:
                return h.Response(503, b"down\n")
            return h.Response(200, b"good copy\n",
                              [("Cache-Control", "max-age=1, stale-if-error=60")])
        self.routes.set("/sie.txt", maybe)
        self.get("/sie.txt")
        state["fail"] = True
        time.sleep(2.1)  # stale now (the behavior under test)
        r = self.get("/sie.txt")
        self.assertEqual((r.status, r.body), (200, b"good copy\n"))
        self.assertEqual(count(self.origin, "/sie.txt"), 2)

    def failing(self, path, cache_control, state):
        """`path` answers 200 with `cache_control` until state["down"]; then the origin is
        down: it drops each connection without answering (Portico answers 502)."""
        def handler(rec):
            if state["down"]:
                raise ConnectionResetError("origin down")
            return h.Response(200, f"copy of {path}\n".encode(), [("Cache-Control", cache_control)])
        self.routes.set(path, handler)

    def test_stale_if_error_behavior_overrides_policy(self):
        # Both behaviors use the policy with stale_if_error: 600; /sie-beh/* sets its own 2 s.
        state = {"down": False}
        for p in ("/sie-policy/x", "/sie-beh/x"):
            self.failing(p, "max-age=1", state)
            self.assertEqual(self.get(p).header("X-Cache"), "Miss from cloudfront")
        t0 = time.monotonic()
        state["down"] = True
        time.sleep(1.6)  # both expired, inside both windows (the behavior under test)
        for p in ("/sie-policy/x", "/sie-beh/x"):
            r = self.get(p)
            self.assertEqual((r.status, r.body), (200, f"copy of {p}\n".encode()), p)
            self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")
            self.assertGreaterEqual(int(r.header("Age")), 1)
            self.assertIsNone(r.header("Warning"))  # RFC 9111 obsoletes Warning
        # CloudFront keeps serving the stale copy for the error caching minimum TTL (10 s by
        # default) before it asks the origin again.
        before = count(self.origin, "/sie-policy/x")
        r = self.get("/sie-policy/x")
        self.assertEqual((r.status, r.header("X-Cache")), (200, "Hit from cloudfront"))
        self.assertEqual(count(self.origin, "/sie-policy/x"), before)
        # Past the behavior's window (expiry + 2 s): its copy is gone, the policy's is not.
        time.sleep(max(0.0, 3.5 - (time.monotonic() - t0)))
        r = self.get("/sie-beh/x")
        self.assertEqual(r.status, 502)
        self.assertEqual(r.header("X-Cache"), "Error from cloudfront")
        self.assertEqual(self.get("/sie-policy/x").status, 200)

    def test_stale_on_origin_error_is_cloudfronts_default(self):
        # No stale_if_error anywhere and no stale-if-error from the origin: CloudFront serves the
        # expired object when the origin fails. stale-if-error=0 from the origin, or the
        # behavior's stale_if_error: 0, opts out.
        state = {"down": False}
        self.failing("/dflt.txt", "max-age=1", state)
        self.failing("/optout.txt", "max-age=1, stale-if-error=0", state)
        self.failing("/sie-off/x", "max-age=1", state)
        for p in ("/dflt.txt", "/optout.txt", "/sie-off/x"):
            self.assertEqual(self.get(p).status, 200)
        state["down"] = True
        time.sleep(1.6)  # expired (the behavior under test)
        r = self.get("/dflt.txt")
        self.assertEqual((r.status, r.body), (200, b"copy of /dflt.txt\n"))
        self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")
        self.assertEqual(self.get("/optout.txt").status, 502)
        self.assertEqual(self.get("/sie-off/x").status, 502)

    def test_stale_on_origin_5xx_past_window_passes_the_error(self):
        state = {"fail": False}

        def maybe(rec):
            if state["fail"]:
                return h.Response(503, b"down\n")
            return h.Response(200, b"good\n", [("Cache-Control", "max-age=1")])
        self.routes.set("/sie-beh/five", maybe)
        self.get("/sie-beh/five")
        state["fail"] = True
        time.sleep(3.2)  # past expiry + the behavior's 2 s (the behavior under test)
        r = self.get("/sie-beh/five")
        self.assertEqual((r.status, r.body), (503, b"down\n"))
        self.assertEqual(r.header("X-Cache"), "Error from cloudfront")

    # ---- OPTIONS ----

    def cors_routes(self, path):
        def handler(rec):
            if rec.method == "OPTIONS":
                return h.Response(204, b"", [
                    ("Access-Control-Allow-Origin", rec.header("Origin", "none")),
                    ("Access-Control-Allow-Methods", "GET, PUT"),
                    ("X-Answered", "options")])
            return h.Response(200, b"representation\n", [("X-Answered", "get")])
        self.routes.set(path, handler)

    def options(self, path, origin="https://a.example", method="PUT"):
        return self.get(path, {"Origin": origin, "Access-Control-Request-Method": method},
                        method="OPTIONS")

    def methods(self, path):
        return [r.method for r in self.origin.snapshot() if r.path == path]

    def test_options_cached_when_in_cached_methods(self):
        self.cors_routes("/cors/res")
        r1 = self.options("/cors/res")
        r2 = self.options("/cors/res")
        self.assertEqual((r1.status, r2.status), (204, 204))
        self.assertEqual(r1.header("X-Cache"), "Miss from cloudfront")
        self.assertEqual(r2.header("X-Cache"), "Hit from cloudfront")
        self.assertEqual(r2.header("Access-Control-Allow-Origin"), "https://a.example")
        self.assertEqual(self.methods("/cors/res"), ["OPTIONS"])
        first = [r for r in self.origin.snapshot() if r.path == "/cors/res"][0]
        self.assertEqual(first.header("Origin"), "https://a.example")  # keyed, so forwarded
        self.assertEqual(first.header("Access-Control-Request-Method"), "PUT")
        # Another Origin (in the key): its own entry.
        r = self.options("/cors/res", origin="https://b.example")
        self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "https://b.example")
        self.assertEqual(self.options("/cors/res", origin="https://b.example").header("X-Cache"),
                         "Hit from cloudfront")
        # GET on the same path is not answered with the OPTIONS entry, nor the reverse.
        r = self.get("/cors/res")
        self.assertEqual((r.status, r.body, r.header("X-Answered")),
                         (200, b"representation\n", "get"))
        self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")
        self.assertEqual(self.get("/cors/res").header("X-Cache"), "Hit from cloudfront")
        r = self.options("/cors/res")
        self.assertEqual((r.status, r.header("X-Answered")), (204, "options"))
        self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")
        self.assertEqual(self.methods("/cors/res"), ["OPTIONS", "OPTIONS", "GET"])

    def test_options_not_cached_without_it_in_cached_methods(self):
        self.cors_routes("/nocors/res")
        for _ in range(2):
            r = self.options("/nocors/res")
            self.assertEqual((r.status, r.header("Access-Control-Allow-Origin")),
                             (204, "https://a.example"))
            self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")
        self.assertEqual(self.methods("/nocors/res"), ["OPTIONS", "OPTIONS"])
        # GET is still cached there.
        self.get("/nocors/res")
        self.assertEqual(self.get("/nocors/res").header("X-Cache"), "Hit from cloudfront")

    def test_invalidation_covers_options_entries(self):
        self.cors_routes("/cors/inv")
        for _ in range(2):
            self.options("/cors/inv")
            self.get("/cors/inv")
        self.assertEqual(self.options("/cors/inv").header("X-Cache"), "Hit from cloudfront")
        r = h.admin_request(self.p.admin_port, "POST", "/distributions/web/invalidations",
                            token=TOKEN, body=json.dumps({"paths": ["/cors/inv"]}).encode())
        self.assertEqual(r.status, 201, r.body)
        inv = json.loads(r.body)

        def completed():
            g = h.admin_request(self.p.admin_port, "GET",
                                f"/distributions/web/invalidations/{inv['id']}")
            return json.loads(g.body)["status"] == "Completed"
        h.wait_until(completed, message="invalidation completed")
        self.assertEqual(self.options("/cors/inv").header("X-Cache"), "Miss from cloudfront")
        self.assertEqual(self.get("/cors/inv").header("X-Cache"), "Miss from cloudfront")
        self.assertEqual(self.methods("/cors/inv"), ["OPTIONS", "GET", "OPTIONS", "GET"])

    def test_unsafe_method_invalidates_options_entries(self):
        self.cors_routes("/rwo/item")
        for _ in range(2):
            self.options("/rwo/item")
            self.get("/rwo/item")
        self.assertEqual(self.options("/rwo/item").header("X-Cache"), "Hit from cloudfront")
        r = h.http_request(self.port, "POST", "/rwo/item", body=b"update",
                           headers={"Content-Type": "text/plain"})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.options("/rwo/item").header("X-Cache"), "Miss from cloudfront")
        self.assertEqual(self.get("/rwo/item").header("X-Cache"), "Miss from cloudfront")

    # ---- compression ----

    def test_compression_negotiation(self):
        text = (b"<html>" + b"compress me please " * 200 + b"</html>")
        self.serve("/page.html", text, [("ETag", '"p1"')], ctype="text/html")
        r = self.get("/page.html", {"Accept-Encoding": "gzip"})
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(r.body), text)
        self.assertIn("Accept-Encoding", r.header("Vary"))
        self.assertEqual(r.header("ETag"), 'W/"p1"')
        r = self.get("/page.html", {"Accept-Encoding": "gzip"})
        self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")
        self.assertEqual(gzip.decompress(r.body), text)
        r = self.get("/page.html", {"Accept-Encoding": "br"})
        self.assertEqual(r.header("Content-Encoding"), "br")
        self.assertLess(len(r.body), len(text))
        r = self.get("/page.html")
        self.assertIsNone(r.header("Content-Encoding"))
        self.assertEqual(r.body, text)
        # Three variants, three fills; the origin saw CloudFront's normalized Accept-Encoding.
        recs = [x for x in self.origin.snapshot() if x.path == "/page.html"]
        self.assertEqual(sorted(x.header("Accept-Encoding") for x in recs),
                         ["br", "gzip", "identity"])

    def test_no_compression_for_small_encoded_or_ranged(self):
        self.serve("/small.html", b"<p>tiny</p>", ctype="text/html")
        self.assertIsNone(self.get("/small.html", {"Accept-Encoding": "gzip"})
                          .header("Content-Encoding"))
        pre = gzip.compress(b"a" * 5000)
        self.serve("/pre.js", pre, [("Content-Encoding", "gzip")], ctype="application/javascript")
        r = self.get("/pre.js", {"Accept-Encoding": "gzip"})
        self.assertEqual(r.body, pre)  # passed as is, not compressed twice
        self.serve("/img.png", b"\x89PNG" + b"\0" * 5000, ctype="image/png")
        self.assertIsNone(self.get("/img.png", {"Accept-Encoding": "gzip"})
                          .header("Content-Encoding"))
        self.serve("/ranged.css", b"body{}" * 1000, ctype="text/css")
        r = self.get("/ranged.css", {"Accept-Encoding": "gzip", "Range": "bytes=0-5"})
        self.assertEqual((r.status, r.body), (206, b"body{}"))
        self.assertIsNone(r.header("Content-Encoding"))

    # ---- errors ----

    def test_error_responses_cached_for_error_ttl(self):
        self.serve("/gone", b"nope\n", status=404)
        r1 = self.get("/gone")
        r2 = self.get("/gone")
        self.assertEqual((r1.status, r2.status), (404, 404))
        self.assertEqual(r2.header("X-Cache"), "Error from cloudfront")
        self.assertEqual(count(self.origin, "/gone"), 1)

    def test_custom_error_response_spa_rewrite(self):
        self.serve("/spa/index.html", b"<app/>", ctype="text/html")
        self.serve("/deep/link", b"not found\n", status=404)
        r = self.get("/deep/link", host="spa.test")
        self.assertEqual((r.status, r.body), (200, b"<app/>"))
        r = self.get("/deep/link", host="spa.test")
        self.assertEqual((r.status, r.body), (200, b"<app/>"))

    def test_default_root_object(self):
        self.serve("/index.html", b"root page\n", ctype="text/html")
        r = self.get("/")
        self.assertEqual((r.status, r.body), (200, b"root page\n"))
        self.assertEqual(count(self.origin, "/index.html"), 1)

    # ---- invalidation ----

    def test_unsafe_method_invalidates(self):
        self.serve("/rw/item", b"v1\n", [("Cache-Control", "max-age=600")])
        self.get("/rw/item")
        self.assertEqual(self.get("/rw/item").header("X-Cache"), "Hit from cloudfront")
        r = h.http_request(self.port, "POST", "/rw/item", body=b"update",
                           headers={"Content-Type": "text/plain"})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.get("/rw/item").header("X-Cache"), "Miss from cloudfront")

    def test_unsafe_method_invalidates_before_the_body_is_relayed(self):
        # RFC 9111 §4.4: the entry goes when the non-error status arrives. A GET on another
        # connection (perhaps another worker) while the POST's body is still on its way misses.
        def handler(rec):
            if rec.method == "POST":
                return h.Response(200, b"a" * 10 + b"b" * 10, pieces=2, drip=1.5)
            return h.Response(200, b"v1\n", [("Cache-Control", "max-age=600")])
        self.routes.set("/rw/drip", handler)
        self.get("/rw/drip")
        self.assertEqual(self.get("/rw/drip").header("X-Cache"), "Hit from cloudfront")
        with h.RawConn(self.port) as c:
            c.request("POST", "/rw/drip", headers=[("Content-Type", "text/plain")],
                      body=b"update")
            _, status, _, _, _ = c.read_head()
            self.assertEqual(status, 200)
            # The body's second piece is still on its way (drip).
            self.assertEqual(self.get("/rw/drip").header("X-Cache"), "Miss from cloudfront")

    def test_invalidation_api_wildcard(self):
        for p in ("/inv/a", "/inv/b", "/keep/c"):
            self.serve(p, p.encode())
            self.get(p)
            self.assertEqual(self.get(p).header("X-Cache"), "Hit from cloudfront")
        admin = self.p.admin_port
        r = h.admin_request(admin, "POST", "/distributions/web/invalidations", token=TOKEN,
                            body=json.dumps({"paths": ["/inv/*"]}).encode())
        self.assertEqual(r.status, 201, r.body)
        inv = json.loads(r.body)
        self.assertRegex(inv["id"], r"^I[A-Z0-9]{13}$")
        self.assertEqual(inv["status"], "InProgress")  # as CloudFront answers
        # Swept before the answer: the next request misses at once, Completed or not.
        self.assertEqual(self.get("/inv/a").header("X-Cache"), "Miss from cloudfront")

        def completed():
            g = h.admin_request(admin, "GET", f"/distributions/web/invalidations/{inv['id']}")
            return json.loads(g.body)["status"] == "Completed"
        h.wait_until(completed, message="invalidation completed")
        # The store is shared by both workers: whichever one takes these connections misses.
        self.assertEqual(self.get("/inv/b").header("X-Cache"), "Miss from cloudfront")
        self.assertEqual(self.get("/keep/c").header("X-Cache"), "Hit from cloudfront")
        # Errors: no token, bad paths, unknown distribution.
        self.assertEqual(h.admin_request(admin, "POST", "/distributions/web/invalidations",
                                         body=b'{"paths":["/x"]}').status, 401)
        self.assertEqual(h.admin_request(admin, "POST", "/distributions/web/invalidations",
                                         token=TOKEN, body=b'{"paths":["x"]}').status, 400)
        self.assertEqual(h.admin_request(admin, "POST", "/distributions/nope/invalidations",
                                         token=TOKEN, body=b'{"paths":["/x"]}').status, 404)

    # ---- large objects ----

    def test_large_object_through_the_cache(self):
        for chunked in ("0", "1"):
            path = f"/plain/big?mib=6&chunked={chunked}"
            r = self.get(path)
            self.assertEqual(r.status, 200)
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), h.big_body_sha256(6))
            r = self.get(path)
            self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), h.big_body_sha256(6))

    def test_over_max_object_size_passes_through(self):
        for chunked in ("0", "1"):
            path = f"/plain/big?mib=20&chunked={chunked}"
            r = self.get(path)
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), h.big_body_sha256(20))
            r = self.get(path)
            self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), h.big_body_sha256(20))


if __name__ == "__main__":
    h.run_main()
