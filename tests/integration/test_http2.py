"""HTTP/2 on cleartext listeners (h2c with prior knowledge, RFC 9113 §3.3) with real clients (curl,
h2load) and a raw frame client for abuse: the same pipeline as HTTP/1.1 (custom origin, cache,
load balancer), request bodies with and without Content-Length, 100 multiplexed streams with
correct bodies, and the protections: rapid reset (CVE-2023-44487), CONTINUATION flood, PING
flood, oversized header lists, zero-window stalls; each cut off with GOAWAY while a normal client
on another connection keeps working."""

import hashlib
import json
import os
import re
import subprocess
import time

import h2util as h2
import harness as h

CURL = ["curl", "-s", "--http2-prior-knowledge", "--max-time", "20"]


def curl(args, check=True):
    out = subprocess.run(CURL + args, capture_output=True, timeout=60)
    if check and out.returncode != 0:
        raise AssertionError(f"curl {args} failed: {out.returncode} {out.stderr!r}")
    return out


def curl_head_body(url, extra=()):
    """(status, headers dict lower-case, body, http_version) over h2c."""
    out = curl(["-i", "-w", "\n%{http_version}", *extra, url])
    raw, _, version = out.stdout.rpartition(b"\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body, version.decode()


class Http2Test(h.PorticoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = h.make_origin(cls, "site")
        cls.backend = h.make_origin(cls, "backend")
        cls.tmp = h.make_tmpdir(cls)
        q = h.yaml_str
        cfg = f"""server: {{ client_header_timeout: 5s, idle_timeout: 10s, shutdown_timeout: 5s, max_header_bytes: 8192 }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
  - {{ name: plain, address: "127.0.0.1:0", protocol: HTTP, http2: false }}
target_groups:
  - name: tg
    targets: ["127.0.0.1:{cls.backend.port}"]
    health_check: {{ enabled: false }}
load_balancers:
  - name: api
    default_actions: [ {{ forward: {{ target_group: tg }} }} ]
distributions:
  - id: web
    listeners: [http, plain]
    aliases: [localhost]
    origins:
      - {{ id: site, custom_origin: {{ url: {q(cls.origin.url)}, origin_read_timeout: 10s, connection_attempts: 1 }} }}
      - {{ id: alb, load_balancer: api }}
    default_cache_behavior: {{ target_origin_id: site, allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE] }}
    cache_behaviors:
      - {{ path_pattern: "/cached/*", target_origin_id: site, cache_policy: Managed-CachingOptimized }}
      - {{ path_pattern: "/lb/*", target_origin_id: alb, allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE] }}
"""
        cls.p = h.make_portico(cls, cfg, workers=2)
        cls.port = cls.p.port("http")
        cls.base = f"http://127.0.0.1:{cls.port}"

    def test_get_matches_http1(self):
        status, headers, body, version = curl_head_body(self.base + "/hello")
        self.assertEqual(version, "2")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"hello from site\n")
        self.assertEqual(headers["x-cache"], "Miss from cloudfront")
        self.assertIn("(CloudFront)", headers["via"])
        self.assertNotIn("connection", headers)
        self.assertNotIn("transfer-encoding", headers)
        r1 = h.get(self.port, "/hello")
        self.assertEqual(r1.status, 200)
        self.assertEqual(r1.body, body)

    def test_request_headers_reach_origin_as_http11(self):
        _, _, body, _ = curl_head_body(
            self.base + "/echo?x=1",
            ["-H", "X-Test: yes", "-H", "Cookie: a=1", "-H", "Cookie: b=2"])
        seen = json.loads(body)
        self.assertEqual(seen["method"], "GET")
        self.assertEqual(seen["path"], "/echo?x=1")
        hdrs = {k.lower(): v for k, v in seen["headers"].items()} \
            if isinstance(seen["headers"], dict) else {k.lower(): v for k, v in seen["headers"]}
        self.assertEqual(hdrs.get("x-test"), "yes")
        # RFC 9113 §8.2.3: cookie crumbs joined for HTTP/1.1.
        self.assertEqual(hdrs.get("cookie"), "a=1; b=2")

    def test_response_field_names_lower_case_and_connection_fields_dropped(self):
        # RFC 9113 §8.2: names are lower case on the wire (curl's nghttp2 refuses a stream with
        # an upper-case one); §8.2.2: connection-specific fields never appear. Known names take
        # a static lower-case form, unknown ones are lower-cased by nghttp2's copy.
        fields = [("X-Mixed-Case-Field", "Keep This"), ("Cache-Control", "max-age=5"),
                  ("Content-Language", "en"), ("Upgrade", "websocket"),
                  ("Keep-Alive", "timeout=5"), ("ETag", '"v1"'), ("Link", "</a>; rel=x")]
        self.origin.handler = lambda rec: h.Response(200, b"fields", headers=fields) \
            if "fields" in rec.path else None
        try:
            status, headers, body, version = curl_head_body(self.base + "/fields")
        finally:
            self.origin.handler = None
        self.assertEqual((status, body, version), (200, b"fields", "2"))
        self.assertEqual(headers["x-mixed-case-field"], "Keep This")
        self.assertEqual(headers["cache-control"], "max-age=5")
        self.assertEqual(headers["content-language"], "en")
        self.assertEqual(headers["etag"], '"v1"')
        self.assertEqual(headers["link"], "</a>; rel=x")
        self.assertNotIn("upgrade", headers)
        self.assertNotIn("keep-alive", headers)
        self.assertEqual(headers["content-length"], "6")

    def test_empty_origin_body_has_content_length_zero(self):
        self.origin.handler = lambda rec: h.Response(200, b"") if "empty" in rec.path else None
        try:
            with h.RawConn(self.port) as c:
                for _ in range(2):  # keep-alive: the second request on the same connection
                    c.send(h.build_request("GET", "/empty"))
                    r = c.read_response()
                    self.assertEqual(r.status, 200)
                    self.assertEqual(r.header("content-length"), "0")
            status, headers, body, _ = curl_head_body(self.base + "/empty")
            self.assertEqual((status, body, headers.get("content-length")), (200, b"", "0"))
        finally:
            self.origin.handler = None

    def test_head_has_no_body(self):
        out = curl(["-I", self.base + "/100k"])
        text = out.stdout.decode("latin-1").lower()
        self.assertIn("content-length: 102400", text)
        self.assertTrue(text.startswith("http/2 200"))

    def test_chunked_origin_response(self):
        _, headers, body, _ = curl_head_body(self.base + "/chunked?bytes=300000&piece=7000")
        self.assertEqual(body, h.pattern_bytes(300000))
        self.assertNotIn("transfer-encoding", headers)

    def test_large_body_streams(self):
        out = curl(["-o", "-", self.base + "/big?mib=8"])
        self.assertEqual(hashlib.sha256(out.stdout).hexdigest(), h.big_body_sha256(8))

    def test_upload_with_and_without_content_length(self):
        data = os.urandom(700_000)
        path = os.path.join(self.tmp, "up.bin")
        with open(path, "wb") as f:
            f.write(data)
        out = curl(["--data-binary", "@" + path, self.base + "/upload"])
        got = json.loads(out.stdout)
        self.assertEqual(got["bytes"], len(data))
        self.assertEqual(got["sha256"], hashlib.sha256(data).hexdigest())
        # -T - sends no Content-Length: the body ends with END_STREAM and goes on chunked.
        with open(path, "rb") as f:
            out = subprocess.run(CURL + ["-T", "-", self.base + "/upload"], stdin=f,
                                 capture_output=True, timeout=60)
        got = json.loads(out.stdout)
        self.assertEqual(got["bytes"], len(data))
        self.assertEqual(got["sha256"], hashlib.sha256(data).hexdigest())
        self.assertTrue(got["chunked"])

    def test_cache_hit_over_h2(self):
        self.origin.handler = None
        url = self.base + "/cached/obj"
        _, h1, b1, _ = curl_head_body(url)
        _, h2_, b2, _ = curl_head_body(url)
        self.assertEqual(b1, b2)
        self.assertEqual(h1["x-cache"], "Miss from cloudfront")
        self.assertEqual(h2_["x-cache"], "Hit from cloudfront")
        self.assertIn("age", h2_)

    def test_load_balancer_over_h2(self):
        status, headers, body, version = curl_head_body(self.base + "/lb/echo")
        self.assertEqual((status, version), (200, "2"))
        seen = json.loads(body)
        hdrs = {k.lower(): v for k, v in seen["headers"].items()} \
            if isinstance(seen["headers"], dict) else {k.lower(): v for k, v in seen["headers"]}
        self.assertEqual(hdrs.get("x-forwarded-proto"), "http")
        self.assertEqual(headers.get("x-origin-name"), "backend")

    def test_100_multiplexed_streams_correct_bodies(self):
        urls, outs = [], []
        for i in range(100):
            n = 1000 + i * 997
            urls += [self.base + f"/chunked?bytes={n}&piece=4096&i={i}", "-o",
                     os.path.join(self.tmp, f"s{i}")]
            outs.append((n, os.path.join(self.tmp, f"s{i}")))
        out = curl(["--parallel", "--parallel-immediate", "--parallel-max", "100",
                    "-w", "%{num_connects}\n"] + urls)
        for n, path in outs:
            with open(path, "rb") as f:
                self.assertEqual(f.read(), h.pattern_bytes(n), path)
        # h2load: one connection, 100 concurrent streams.
        res = subprocess.run(["h2load", "-n", "100", "-c", "1", "-m", "100",
                              self.base + "/hello"], capture_output=True, text=True, timeout=60)
        self.assertIn("100 succeeded", res.stdout, res.stdout)

    def test_h2c_off_gets_http1_error(self):
        conn = h.RawConn(self.p.port("plain"))
        try:
            conn.send(h2.PREFACE)
            resp = conn.read_response()
            self.assertGreaterEqual(resp.status, 400)
        finally:
            conn.close()

    def assert_other_client_fine(self):
        status, _, body, _ = curl_head_body(self.base + "/hello")
        self.assertEqual((status, body), (200, b"hello from site\n"))

    def test_rapid_reset_is_cut_off(self):
        c = h2.RawH2(self.port)
        try:
            burst = b""
            for i in range(2500):
                sid = 1 + 2 * i
                burst += h2.frame(h2.HEADERS, h2.END_HEADERS | h2.END_STREAM, sid,
                                  h2.hpack(h2.request_fields("/slow?delay=2")))
                burst += h2.frame(h2.RST_STREAM, 0, sid, h2.CANCEL.to_bytes(4, "big"))
            c.try_send(burst)
            frames = c.frames_until_close(timeout=20)
            self.assertIsNotNone(h2.goaway_code(frames), "no GOAWAY")
        finally:
            c.close()
        self.assert_other_client_fine()

    def test_continuation_flood_is_cut_off(self):
        c = h2.RawH2(self.port)
        try:
            block = h2.hpack(h2.request_fields("/hello"))
            data = h2.frame(h2.HEADERS, 0, 1, block)
            for i in range(200):
                data += h2.frame(h2.CONTINUATION, 0, 1, h2.hpack([(f"x-f{i}", "v" * 10)]))
            c.try_send(data)
            frames = c.frames_until_close(timeout=10)
            self.assertIsNotNone(h2.goaway_code(frames), "no GOAWAY")
            self.assertNotIn(h2.HEADERS, [f[0] for f in frames])
        finally:
            c.close()
        self.assert_other_client_fine()

    def test_ping_flood_is_cut_off(self):
        c = h2.RawH2(self.port)
        try:
            ping = h2.frame(h2.PING, 0, 0, b"12345678")
            # Never read: the acks pile up until nghttp2 calls it a flood.
            sent = 0
            while sent < 3_000_000 and c.try_send(ping * 10000):
                sent += 10000
            frames = c.frames_until_close(timeout=10)
            self.assertLess(sent, 3_000_000, "the server never closed the connection")
            code = h2.goaway_code(frames)
            self.assertIn(code, (None, h2.ENHANCE_YOUR_CALM))
        finally:
            c.close()
        self.assert_other_client_fine()

    def test_oversized_header_list_resets_only_that_stream(self):
        c = h2.RawH2(self.port)
        try:
            # > max_header_bytes (8 KiB), < one frame (16 KiB)
            big = [(f"x-big{i}", "b" * 1000) for i in range(12)]
            c.send(h2.frame(h2.HEADERS, h2.END_HEADERS | h2.END_STREAM, 1,
                            h2.hpack(h2.request_fields("/hello", extra=big))))
            c.send(h2.frame(h2.HEADERS, h2.END_HEADERS | h2.END_STREAM, 3,
                            h2.hpack(h2.request_fields("/hello"))))
            deadline = time.monotonic() + 10
            reset1 = False
            ok3 = False
            while not (reset1 and ok3):
                f = c.read_frame(deadline)
                self.assertIsNotNone(f, "connection closed")
                ftype, flags, sid, _ = f
                if ftype == h2.RST_STREAM and sid == 1:
                    reset1 = True
                if ftype == h2.DATA and sid == 3 and flags & h2.END_STREAM:
                    ok3 = True
                self.assertNotEqual(ftype, h2.GOAWAY)
        finally:
            c.close()


class Http2StallTest(h.PorticoTestCase):
    """A client that holds its flow-control window at zero is closed after idle_timeout."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = h.make_origin(cls, "site")
        cfg = h.simple_config(cls.origin.url, extra_server="  max_header_bytes: 65536\n")
        cfg = cfg.replace("idle_timeout: 10s", "idle_timeout: 1500ms")
        cls.p = h.make_portico(cls, cfg, workers=1)
        cls.port = cls.p.port("http")

    def test_zero_window_stall_closed_with_goaway(self):
        c = h2.RawH2(self.port, settings_pairs=[(h2.SETTINGS_INITIAL_WINDOW_SIZE, 0)])
        try:
            start = time.monotonic()
            c.send(h2.frame(h2.HEADERS, h2.END_HEADERS | h2.END_STREAM, 1,
                            h2.hpack(h2.request_fields("/100k"))))
            frames = c.frames_until_close(timeout=15)
            elapsed = time.monotonic() - start
            self.assertEqual(h2.goaway_code(frames), h2.NO_ERROR)
            self.assertNotIn(h2.DATA, [f[0] for f in frames])
            self.assertGreater(elapsed, 1.0)
            self.assertLess(elapsed, 8.0)
        finally:
            c.close()


if __name__ == "__main__":
    h.run_main()
