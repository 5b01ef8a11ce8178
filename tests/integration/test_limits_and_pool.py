"""server.max_connections and the upstream keep-alive pool's origin_keepalive_timeout."""

import json
import socket
import time

import harness as h


class MaxConnectionsTest(h.PorticoTestCase):
    def test_connections_over_the_limit_are_closed_at_once(self):
        origin = h.make_origin(self, "site")
        p = h.make_portico(self, h.simple_config(origin.url, extra_server="  max_connections: 2\n"),
                           workers=1)
        held = [h.RawConn(p.port("http")) for _ in range(2)]
        for c in held:
            self.addCleanup(c.close)
            c.request("GET", "/x")
            self.assertEqual(c.read_response().status, 200)
        # A third connection is accepted by the kernel and closed by Portico without a byte.
        s = socket.create_connection(("127.0.0.1", p.port("http")), timeout=5)
        self.addCleanup(s.close)
        s.sendall(b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
        self.assertEqual(data, b"", "a connection over max_connections was served")
        # The held connections still work, and a slot frees up when one closes.
        held[0].request("GET", "/x")
        self.assertEqual(held[0].read_response().status, 200)
        held[1].close()

        def third_served():
            with h.RawConn(p.port("http")) as c:
                c.request("GET", "/x")
                try:
                    return c.read_response().status == 200
                except Exception:  # closed: the slot is not free yet
                    return False
        h.wait_until(third_served, message="a new connection after one closed")


class OriginKeepaliveTest(h.PorticoTestCase):
    def test_idle_origin_connection_expires_after_origin_keepalive_timeout(self):
        origin = h.make_origin(self, "site")
        cfg = h.simple_config(origin.url).replace(
            "connection_attempts: 1 }", "connection_attempts: 1, origin_keepalive_timeout: 1s }")
        p = h.make_portico(self, cfg, workers=1)
        c = h.RawConn(p.port("http"))
        self.addCleanup(c.close)

        def origin_port():
            c.request("GET", "/echo")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            return json.loads(r.body)["client_port"]

        first = origin_port()
        self.assertEqual(origin_port(), first, "the pooled origin connection was not reused")
        # The subject under test is the passage of time: idle longer than the 1 s keep-alive.
        time.sleep(1.6)
        self.assertNotEqual(origin_port(), first,
                            "an origin connection idle past origin_keepalive_timeout was reused")


if __name__ == "__main__":
    h.run_main()
