"""Downstream timeouts: a client that stops mid-head is cut off after client_header_timeout
(408 or a plain close), an idle keep-alive connection is closed after idle_timeout, and neither
disturbs other connections."""

import time

import harness as h

HEADER_TIMEOUT = 2.0
IDLE_TIMEOUT = 2.0
SLACK = 2.0


class TimeoutsTest(h.PorticoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = h.make_origin(cls, "site")
        q = h.yaml_str
        cfg = f"""server: {{ client_header_timeout: 2s, idle_timeout: 2s, shutdown_timeout: 10s }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
distributions:
  - id: web
    aliases: [localhost]
    origins: [ {{ id: site, custom_origin: {{ url: {q(cls.origin.url)} }} }} ]
    default_cache_behavior: {{ target_origin_id: site }}
"""
        cls.p = h.make_portico(cls, cfg)
        cls.port = cls.p.port("http")

    def assert_cut_off(self, conn, t0, limit):
        """The server answers 408 (or nothing) and closes within `limit` seconds of t0."""
        deadline = t0 + limit
        closed, data = conn.wait_closed(max(0.0, deadline - time.monotonic()) + 0.05)
        elapsed = time.monotonic() - t0
        self.assertTrue(closed, f"connection still open {elapsed:.1f}s after the client stalled")
        self.assertLessEqual(elapsed, limit + 0.05)
        if data:
            self.assertTrue(data.startswith(b"HTTP/1.1 408 ") or data.startswith(b"HTTP/1.0 408 "),
                            f"expected 408 or a plain close, got {data[:200]!r}")
        return elapsed

    def test_partial_head_gets_408_or_close(self):
        with h.RawConn(self.port) as c:
            c.send(b"GET /x HTTP/1.1\r\nHost: local")
            t0 = time.monotonic()
            elapsed = self.assert_cut_off(c, t0, HEADER_TIMEOUT + SLACK)
            self.assertGreaterEqual(elapsed, HEADER_TIMEOUT - 1.0, "cut off long before the timeout")

    def test_partial_request_line_gets_408_or_close(self):
        with h.RawConn(self.port) as c:
            c.send(b"GET /x")
            t0 = time.monotonic()
            elapsed = self.assert_cut_off(c, t0, HEADER_TIMEOUT + SLACK)
            self.assertGreaterEqual(elapsed, HEADER_TIMEOUT - 1.0)

    def test_silent_connection_is_closed(self):
        with h.RawConn(self.port) as c:
            t0 = time.monotonic()
            self.assert_cut_off(c, t0, max(HEADER_TIMEOUT, IDLE_TIMEOUT) + SLACK)

    def test_slowloris_does_not_block_others(self):
        stalled = [h.RawConn(self.port) for _ in range(20)]
        try:
            for c in stalled:
                c.send(b"GET /x HTTP/1.1\r\nHost: localhost\r\nX-A: ")
            t0 = time.monotonic()
            r = h.get(self.port, "/x")
            self.assertEqual(r.status, 200)
            self.assertLess(time.monotonic() - t0, 1.0, "a normal request waited on stalled ones")
            for c in stalled:
                self.assert_cut_off(c, t0, HEADER_TIMEOUT + SLACK)
        finally:
            for c in stalled:
                c.close()

    def test_idle_keep_alive_connection_closed(self):
        with h.RawConn(self.port) as c:
            c.request("GET", "/x")
            self.assertEqual(c.read_response().status, 200)
            t0 = time.monotonic()
            self.assertTrue(c.quiet_for(IDLE_TIMEOUT / 2), "closed long before idle_timeout")
            elapsed = self.assert_cut_off(c, t0, IDLE_TIMEOUT + SLACK)
            self.assertGreaterEqual(elapsed, IDLE_TIMEOUT - 0.5)

    def test_requests_reset_idle_timer(self):
        with h.RawConn(self.port) as c:
            for i in range(3):  # 3 x 1.2 s > idle_timeout in total, < idle_timeout apart
                c.request("GET", f"/x?i={i}")
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertTrue(c.quiet_for(IDLE_TIMEOUT * 0.6),
                                f"closed {IDLE_TIMEOUT * 0.6}s after request {i}")
            c.request("GET", "/x?last")
            self.assertEqual(c.read_response().status, 200)

    def test_slow_but_complete_head_within_timeout(self):
        with h.RawConn(self.port) as c:
            c.send(b"GET /x HTTP/1.1\r\n")
            self.assertTrue(c.quiet_for(0.5))
            c.send(b"Host: localhost\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 200)


if __name__ == "__main__":
    h.run_main()
