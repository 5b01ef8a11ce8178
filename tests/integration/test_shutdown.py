"""SIGTERM drain: in-flight requests complete, the listener stops accepting, and the process
exits 0 within shutdown_timeout."""

import errno
import signal
import socket
import threading
import time

import harness as h

SHUTDOWN_TIMEOUT = 10.0


def connect_refused(port):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        return True
    except OSError as e:
        return e.errno == errno.ECONNREFUSED
    finally:
        s.close()
    return False


class ShutdownTest(h.PorticoTestCase):
    def start(self):
        self.origin = h.make_origin(self, "site")
        self.p = h.make_portico(self, h.simple_config(self.origin.url))
        self.port = self.p.port("http")

    def test_sigterm_drains_in_flight_request(self):
        self.start()
        result = {}

        def slow():
            try:
                with h.RawConn(self.port, timeout=15) as c:
                    c.request("GET", "/slow?delay=1.5")
                    r = c.read_response(timeout=15)
                    result["status"] = r.status
                    result["body"] = r.body
            except Exception as e:  # noqa: BLE001
                result["error"] = repr(e)

        t = threading.Thread(target=slow, daemon=True)
        t.start()
        self.origin.wait_for_requests(1)  # the slow request is at the origin now
        t0 = time.monotonic()
        self.p.signal(signal.SIGTERM)
        h.wait_until(lambda: connect_refused(self.port), timeout=5,
                     message="the listener to refuse new connections after SIGTERM")
        refused_at = time.monotonic() - t0
        # A reload asked for during the drain is ignored; it must not end the process by
        # SIGHUP's default action (libevent restored it once the SIGHUP event was deleted).
        self.p.signal(signal.SIGHUP)
        t.join(15)
        self.assertNotIn("error", result, result.get("error"))
        self.assertEqual(result.get("status"), 200)
        self.assertEqual(result.get("body"), b"slow done\n")
        rc = self.p.wait(SHUTDOWN_TIMEOUT + 2)
        self.assertIsNotNone(rc, "portico still running after shutdown_timeout")
        self.assertEqual(rc, 0)
        self.assertLess(refused_at, 1.5, "listener kept accepting during the drain")

    def test_sigterm_idle_exits_promptly(self):
        self.start()
        self.assertEqual(h.get(self.port, "/x").status, 200)
        t0 = time.monotonic()
        self.p.signal(signal.SIGTERM)
        rc = self.p.wait(SHUTDOWN_TIMEOUT)
        self.assertIsNotNone(rc, "did not exit")
        self.assertEqual(rc, 0)
        self.assertLess(time.monotonic() - t0, 5.0)

    def test_sigterm_with_idle_keep_alive_connection(self):
        self.start()
        c = h.RawConn(self.port)
        self.addCleanup(c.close)
        c.request("GET", "/x")
        self.assertEqual(c.read_response().status, 200)
        t0 = time.monotonic()
        self.p.signal(signal.SIGTERM)
        rc = self.p.wait(SHUTDOWN_TIMEOUT + 2)
        self.assertIsNotNone(rc, "an idle keep-alive connection held the process past shutdown_timeout")
        self.assertEqual(rc, 0)
        self.assertLessEqual(time.monotonic() - t0, SHUTDOWN_TIMEOUT + 1)
        closed, _ = c.wait_closed(2)
        self.assertTrue(closed)


if __name__ == "__main__":
    h.run_main()
