"""Origin failures become CloudFront-style error responses: connection refused -> 502, an origin
that closes without answering -> 502, an origin slower than origin_read_timeout -> 504."""

import threading
import time

import harness as h

ERROR_TEXT = b"The request could not be satisfied"


class SplitHeadOrigin:
    """Answers each request with its head first, then the 5-byte body once `release` is set, or,
    for paths under /cut/, closes right after the head (a body that never comes)."""

    def __init__(self):
        self.head_sent = threading.Event()
        self.release = threading.Event()
        self.server = h.ScriptedServer(self.answer)
        self.port = self.server.port

    def answer(self, c, head):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n")
        self.head_sent.set()
        if b" /cut/" in head.split(b"\r\n", 1)[0]:
            return
        if self.release.wait(10):
            c.sendall(b"hello")
            c.recv(1)  # until Portico closes or drops the pooled connection

    def close(self):
        self.server.close()


class OriginErrorsTest(h.PorticoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.good = h.make_origin(cls, "good")
        cls.slow = h.make_origin(cls, "slow")
        cls.hang = h.ConnTrackingServer()
        h.add_cleanup(cls, cls.hang.close)
        # Reads the request head, then closes without answering.
        cls.closing = h.ScriptedServer(lambda c, head: None)
        h.add_cleanup(cls, cls.closing.close)
        cls.split = SplitHeadOrigin()
        h.add_cleanup(cls, cls.split.close)
        down = f"http://127.0.0.1:{h.down_origin_port()}"
        q = h.yaml_str
        opts = "connection_timeout: 2s, connection_attempts: 1"
        cfg = f"""server: {{ client_header_timeout: 5s, idle_timeout: 10s, shutdown_timeout: 10s }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
distributions:
  - id: web
    aliases: [localhost]
    origins:
      - {{ id: good, custom_origin: {{ url: {q(cls.good.url)}, {opts} }} }}
      - {{ id: down, custom_origin: {{ url: {q(down)}, {opts} }} }}
      - {{ id: slow, custom_origin: {{ url: {q(cls.slow.url)}, origin_read_timeout: 1s, {opts} }} }}
      - {{ id: hang, custom_origin: {{ url: "http://127.0.0.1:{cls.hang.port}", origin_read_timeout: 1s, {opts} }} }}
      - {{ id: closing, custom_origin: {{ url: "http://127.0.0.1:{cls.closing.port}", {opts} }} }}
      - {{ id: split, custom_origin: {{ url: "http://127.0.0.1:{cls.split.port}", {opts} }} }}
    default_cache_behavior: {{ target_origin_id: good }}
    cache_behaviors:
      - {{ path_pattern: "/down/*", target_origin_id: down }}
      - {{ path_pattern: "/slow/*", target_origin_id: slow }}
      - {{ path_pattern: "/hang/*", target_origin_id: hang }}
      - {{ path_pattern: "/closing/*", target_origin_id: closing }}
      - {{ path_pattern: "/split/*", target_origin_id: split }}
      - {{ path_pattern: "/cut/*", target_origin_id: split }}
"""
        cls.p = h.make_portico(cls, cfg)
        cls.port = cls.p.port("http")

    def assert_error_page(self, r, status):
        self.assertEqual(r.status, status, r.body[:300])
        self.assertIn(ERROR_TEXT, r.body)
        self.assertTrue(r.header("Content-Type", "").startswith("text/html"), r.header("Content-Type"))
        self.assertEqual(r.header("X-Cache"), "Error from cloudfront")
        self.assertTrue(r.header("X-Amz-Cf-Id"))
        self.assertEqual(r.header("X-Amz-Cf-Pop"), "LOCAL1-P1")
        self.assertEqual(int(r.header("Content-Length", "-1")), len(r.body))

    def test_connection_refused_is_502(self):
        t0 = time.monotonic()
        r = h.get(self.port, "/down/x")
        self.assert_error_page(r, 502)
        self.assertLess(time.monotonic() - t0, 3.0, "a refused connection should fail fast")

    def test_origin_closing_without_response_is_502(self):
        r = h.get(self.port, "/closing/x")
        self.assert_error_page(r, 502)

    def test_slow_origin_is_504(self):
        t0 = time.monotonic()
        r = h.get(self.port, "/slow/slow?delay=4")
        elapsed = time.monotonic() - t0
        self.assert_error_page(r, 504)
        self.assertGreaterEqual(elapsed, 0.9, "504 before origin_read_timeout (1s) elapsed")
        self.assertLess(elapsed, 3.5, "504 long after origin_read_timeout (1s)")

    def test_silent_origin_is_504(self):
        t0 = time.monotonic()
        r = h.get(self.port, "/hang/x")
        elapsed = time.monotonic() - t0
        self.assert_error_page(r, 504)
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 3.5)

    def test_timed_out_origin_connection_is_not_reused(self):
        # After a 504 the late answer ("slow done") must never be handed to a later request.
        r = h.get(self.port, "/slow/slow?delay=1.8")
        self.assertEqual(r.status, 504)
        deadline = time.monotonic() + 1.5  # past the moment the origin sends its late answer
        i = 0
        with h.RawConn(self.port) as c:
            while time.monotonic() < deadline:
                c.request("GET", f"/slow/echo?i={i}")
                r = c.read_response()
                self.assertEqual(r.status, 200, r.body[:200])
                self.assertNotIn(b"slow done", r.body)
                self.assertIn(f'"/slow/echo?i={i}"'.encode(), r.body)
                i += 1

    def test_slow_origin_within_timeout_is_fine(self):
        r = h.get(self.port, "/slow/slow?delay=0.3")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"slow done\n")

    def test_head_and_body_sent_apart_arrive_as_one_response(self):
        # The origin writes its head, then its body later (as nginx's writev + sendfile do):
        # Portico holds the small head for the body and the viewer gets one whole response.
        self.split.head_sent.clear()
        self.split.release.clear()
        with h.RawConn(self.port) as c:
            c.request("GET", "/split/a")
            self.assertTrue(self.split.head_sent.wait(5))
            self.assertTrue(c.quiet_for(0.3), "the head went out without its body")
            self.split.release.set()
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"hello")
            self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")
            # The connection stays usable.
            c.request("GET", "/x")
            self.assertEqual(c.read_response().body, b"hello from good\n")

    def test_head_whose_body_never_comes_is_a_closed_connection(self):
        # The origin closes after the head: no 200 head followed by an error page, just a close
        # (RFC 9112 §9.6: the response cannot be completed).
        with h.RawConn(self.port) as c:
            c.request("GET", "/cut/a")
            closed, data = c.wait_closed(5)
            self.assertTrue(closed)
            self.assertLessEqual(data.count(b"HTTP/1.1 "), 1, data[:300])
            self.assertNotIn(ERROR_TEXT, data)

    def test_head_error_has_no_body(self):
        with h.RawConn(self.port) as c:
            c.request("HEAD", "/down/x")
            r = c.read_response("HEAD")
            self.assertEqual(r.status, 502)
            # Whatever follows must be a clean close or nothing, never an error page body.
            self.assertTrue(c.quiet_for(0.3) or c.wait_closed(1) == (True, b""))

    def test_errors_do_not_affect_other_requests(self):
        with h.RawConn(self.port) as c:
            c.request("GET", "/x")
            self.assertEqual(c.read_response().status, 200)
            r = h.get(self.port, "/down/x")
            self.assertEqual(r.status, 502)
            c.request("GET", "/x")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"hello from good\n")


if __name__ == "__main__":
    h.run_main()
