"""HTTP/1.1 connection behaviour through Portico: keep-alive and origin connection reuse,
pipelining, chunked bodies both ways, HEAD, Expect: 100-continue, HTTP/1.0 clients."""

import hashlib
import json
import threading
import time

import harness as h


class Http1Test(h.PorticoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = h.make_origin(cls, "site")
        cls.p = h.make_portico(cls, h.simple_config(cls.origin.url, api_origin_url=cls.origin.url),
                               workers=2)
        cls.port = cls.p.port("http")

    def conn(self):
        c = h.RawConn(self.port)
        self.addCleanup(c.close)
        return c

    # -- keep-alive ----------------------------------------------------------------------------
    def test_keep_alive_reuses_client_and_origin_connections(self):
        c = self.conn()
        ports = []
        for i in range(5):
            c.request("GET", f"/echo?i={i}")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            e = json.loads(r.body)
            self.assertEqual(e["path"], f"/echo?i={i}")
            ports.append(e["client_port"])
            for v in r.header_all("Connection"):
                self.assertNotIn("close", v.lower())
        self.assertEqual(len(set(ports)), 1,
                         f"5 sequential requests on one client connection used origin ports {ports}")
        self.assertTrue(c.quiet_for(0.2), "connection closed after a keep-alive response")

    def test_origin_connections_pooled_across_client_connections(self):
        ports = set()
        for i in range(8):
            with h.RawConn(self.port) as c:
                c.request("GET", f"/echo?n={i}")
                r = c.read_response()
                self.assertEqual(r.status, 200)
                ports.add(json.loads(r.body)["client_port"])
        # One idle origin connection per worker at most is needed for sequential traffic.
        self.assertLessEqual(len(ports), 2, f"origin connections not reused: {sorted(ports)}")

    def test_hundred_requests_on_one_connection(self):
        c = self.conn()
        for i in range(100):
            c.request("GET", "/x")
            r = c.read_response()
            self.assertEqual(r.status, 200, i)
            self.assertEqual(r.body, b"hello from site\n")

    def test_response_is_http11(self):
        c = self.conn()
        c.request("GET", "/x")
        r = c.read_response()
        self.assertEqual(r.version, "HTTP/1.1")

    def test_client_connection_close(self):
        c = self.conn()
        c.request("GET", "/x", headers=[("Connection", "close")])
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hello from site\n")
        closed, extra = c.wait_closed(5)
        self.assertTrue(closed, "server kept the connection after Connection: close")
        self.assertEqual(extra, b"")

    def test_origin_connection_close_keeps_client_connection(self):
        c = self.conn()
        for _ in range(3):
            c.request("GET", "/close")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"closing\n")
            for v in r.header_all("Connection"):
                self.assertNotIn("close", v.lower(), "origin's Connection: close leaked to the viewer")
        c.request("GET", "/echo?after=close")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body)["path"], "/echo?after=close")
        closes = [r.client_port for r in self.origin.snapshot() if r.path == "/close"][-3:]
        self.assertEqual(len(set(closes)), 3, "a connection the origin closed was reused")

    # -- pipelining ----------------------------------------------------------------------------
    def test_pipelined_gets_answered_in_order(self):
        c = self.conn()
        c.send(b"".join(h.build_request("GET", f"/echo?n={i}") for i in (1, 2, 3)))
        for i in (1, 2, 3):
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.body)["path"], f"/echo?n={i}")

    def test_pipelined_with_close_on_last(self):
        data = (h.build_request("GET", "/echo?p=1") + h.build_request("HEAD", "/100k")
                + h.build_request("GET", "/echo?p=3", headers=[("Connection", "close")]))
        got, closed = h.send_and_read_all(self.port, data)
        self.assertTrue(closed, "no close after the request with Connection: close")
        rs = h.parse_responses(got, ["GET", "HEAD", "GET"])
        self.assertEqual([r.status for r in rs], [200, 200, 200], rs)
        self.assertEqual(json.loads(rs[0].body)["path"], "/echo?p=1")
        self.assertEqual(rs[1].body, b"")
        self.assertEqual(json.loads(rs[2].body)["path"], "/echo?p=3")

    def test_pipelined_mixed_methods_and_bodies(self):
        c = self.conn()
        data = (h.build_request("POST", "/api/echo", body=b"first-body")
                + h.build_request("GET", "/100k")
                + h.build_request("HEAD", "/100k")
                + h.build_request("PUT", "/api/echo", body=b"second")
                + h.build_request("GET", "/echo?last=1"))
        c.send(data)
        r = c.read_response()
        self.assertEqual(json.loads(r.body)["body"], "first-body")
        r = c.read_response()
        self.assertEqual(r.body, h.pattern_bytes(100 * 1024))
        r = c.read_response("HEAD")
        self.assertEqual(r.header("Content-Length"), str(100 * 1024))
        r = c.read_response()
        e = json.loads(r.body)
        self.assertEqual((e["method"], e["body"]), ("PUT", "second"))
        r = c.read_response()
        self.assertEqual(json.loads(r.body)["path"], "/echo?last=1")
        self.assertTrue(c.quiet_for(0.2), "unexpected bytes after the last pipelined response")

    # -- chunked ---------------------------------------------------------------------------------
    def chunked(self, pieces, ext=b"", trailers=b""):
        out = b""
        for p in pieces:
            out += b"%x%s\r\n%s\r\n" % (len(p), ext, p)
        return out + b"0\r\n" + trailers + b"\r\n"

    def test_chunked_request_body_reaches_origin(self):
        body = h.pattern_bytes(200_000)
        pieces = [body[:1], body[1:11], body[11:1011], body[1011:71011], body[71011:]]
        c = self.conn()
        c.send(b"POST /api/upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
               + self.chunked(pieces))
        r = c.read_response()
        self.assertEqual(r.status, 200, r.body[:300])
        e = json.loads(r.body)
        self.assertEqual(e["bytes"], len(body))
        self.assertEqual(e["sha256"], hashlib.sha256(body).hexdigest())
        # The connection is still usable: the body was consumed exactly.
        c.request("GET", "/x")
        self.assertEqual(c.read_response().status, 200)

    def test_chunked_request_in_small_writes(self):
        body = h.pattern_bytes(3000)
        data = (b"POST /api/upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                + self.chunked([body[i:i + 700] for i in range(0, 3000, 700)]))
        c = self.conn()
        for i in range(0, len(data), 7):  # split everywhere, including inside CRLFs
            c.send(data[i:i + 7])
        r = c.read_response()
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(json.loads(r.body)["sha256"], hashlib.sha256(body).hexdigest())

    def test_chunk_extensions_and_trailers_accepted(self):
        body = b"hello world, chunked"
        c = self.conn()
        c.send(b"POST /api/upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
               + self.chunked([body[:5], body[5:]], ext=b";name=value",
                              trailers=b"X-Trailer: t\r\n"))
        r = c.read_response()
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(json.loads(r.body)["bytes"], len(body))
        c.request("GET", "/x")
        self.assertEqual(c.read_response().status, 200)

    def test_empty_chunked_body(self):
        c = self.conn()
        c.send(b"POST /api/upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"0\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body)["bytes"], 0)

    def test_chunked_response_relayed(self):
        c = self.conn()
        c.request("GET", "/chunked?bytes=100000&piece=3000")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, h.pattern_bytes(100000))
        c.request("GET", "/chunked?bytes=0&piece=10")
        r = c.read_response()
        self.assertEqual((r.status, r.body), (200, b""))
        c.request("GET", "/x")  # framing stayed in sync
        self.assertEqual(c.read_response().body, b"hello from site\n")

    def test_chunked_response_to_http10_client_is_not_chunked(self):
        c = self.conn()
        c.send(b"GET /chunked?bytes=5000&piece=1000 HTTP/1.0\r\nHost: localhost\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        te = r.header("Transfer-Encoding") or ""
        self.assertNotIn("chunked", te.lower(), "chunked framing sent to an HTTP/1.0 client")
        self.assertEqual(r.body, h.pattern_bytes(5000))

    def test_post_with_zero_content_length(self):
        c = self.conn()
        c.send(b"POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body)["body_len"], 0)

    # -- HEAD --------------------------------------------------------------------------------------
    def test_head_has_headers_but_no_body(self):
        c = self.conn()
        c.request("GET", "/100k")
        g = c.read_response()
        c.send(h.build_request("HEAD", "/100k") + h.build_request("GET", "/echo?after=head"))
        r = c.read_response("HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Length"), g.header("Content-Length"))
        self.assertEqual(r.header("Content-Type"), g.header("Content-Type"))
        # If HEAD leaked a body, this would parse garbage instead of the next response.
        r2 = c.read_response()
        self.assertEqual(r2.status, 200)
        self.assertEqual(json.loads(r2.body)["path"], "/echo?after=head")

    def test_head_of_chunked_resource(self):
        c = self.conn()
        c.send(h.build_request("HEAD", "/chunked?bytes=9000") + h.build_request("GET", "/x"))
        r = c.read_response("HEAD")
        self.assertEqual(r.status, 200)
        r2 = c.read_response()
        self.assertEqual(r2.body, b"hello from site\n")

    # -- Expect: 100-continue ------------------------------------------------------------------------
    def test_expect_100_continue(self):
        body = b"body after continue"
        c = self.conn()
        c.send(b"POST /api/upload HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body))
        r = c.read_response()
        self.assertEqual(r.status, 100, "expected an interim 100 Continue before sending the body")
        self.assertEqual(r.raw_head.split(b"\r\n")[0], b"HTTP/1.1 100 Continue")
        c.send(body)
        r = c.read_final_response()
        self.assertEqual(r.status, 200, r.body[:300])
        e = json.loads(r.body)
        self.assertEqual(e["bytes"], len(body))
        self.assertEqual(e["sha256"], hashlib.sha256(body).hexdigest())
        c.request("GET", "/x")
        self.assertEqual(c.read_response().status, 200)

    def test_expect_100_continue_chunked(self):
        body = h.pattern_bytes(10000)
        c = self.conn()
        c.send(b"PUT /api/upload HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 100)
        c.send(self.chunked([body[:4000], body[4000:]]))
        r = c.read_final_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body)["sha256"], hashlib.sha256(body).hexdigest())

    # -- concurrency -----------------------------------------------------------------------------
    def test_concurrent_clients_get_their_own_responses(self):
        errors = []

        def client(i):
            try:
                with h.RawConn(self.port) as c:
                    for j in range(20):
                        c.request("GET", f"/echo?c={i}&n={j}")
                        r = c.read_response()
                        got = json.loads(r.body)["path"]
                        if r.status != 200 or got != f"/echo?c={i}&n={j}":
                            errors.append(f"client {i} request {j}: {r.status} {got}")
            except Exception as e:  # noqa: BLE001
                errors.append(f"client {i}: {e!r}")

        threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])

    def test_slow_origin_response_does_not_block_other_clients(self):
        slow = self.conn()
        slow.request("GET", "/slow?delay=1.5")
        h.wait_until(lambda: any(r.path.startswith("/slow") for r in self.origin.snapshot()),
                     message="the slow request at the origin")
        t0 = time.monotonic()
        for i in range(10):
            r = h.get(self.port, f"/echo?fast={i}")
            self.assertEqual(r.status, 200)
        self.assertLess(time.monotonic() - t0, 1.0, "fast requests waited for the slow one")
        r = slow.read_response()
        self.assertEqual((r.status, r.body), (200, b"slow done\n"))

    def test_client_abort_mid_download_leaves_proxy_healthy(self):
        with h.RawConn(self.port) as c:
            c.request("GET", "/big?mib=20")
            c.read_head()
            got = len(c.buf)
            while got < h.MIB:
                c._fill(time.monotonic() + 10)
                got = len(c.buf)
        # The aborted body must not leak into later responses on reused origin connections.
        for i in range(10):
            r = h.get(self.port, f"/echo?after_abort={i}")
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.body)["path"], f"/echo?after_abort={i}")
        self.assertTrue(self.p.alive())

    # -- HTTP/1.0 ----------------------------------------------------------------------------------
    def test_http10_closes_after_response(self):
        c = self.conn()
        c.send(b"GET /x HTTP/1.0\r\nHost: localhost\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hello from site\n")
        closed, extra = c.wait_closed(5)
        self.assertTrue(closed, "HTTP/1.0 response without keep-alive left the connection open")
        self.assertEqual(extra, b"")

    def test_http10_keep_alive(self):
        c = self.conn()
        for i in range(3):
            c.send(b"GET /echo?k=%d HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n" % i)
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertIsNotNone(r.header("Content-Length"), "keep-alive 1.0 response needs a length")
            self.assertEqual(json.loads(r.body)["path"], f"/echo?k={i}")
        c.send(b"GET /x HTTP/1.0\r\nHost: localhost\r\n\r\n")
        self.assertEqual(c.read_response().status, 200)
        closed, _ = c.wait_closed(5)
        self.assertTrue(closed)

    def test_http10_without_host(self):
        c = self.conn()
        c.send(b"GET /x HTTP/1.0\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hello from site\n")


if __name__ == "__main__":
    h.run_main()
