"""Regression guard for write stalls (Nagle / delayed-ACK / cork interplay): 50 sequential
keep-alive GETs of a 100 KiB origin response must have a median under 20 ms; a stall shows up
as ~40 ms per request."""

import statistics
import time

import harness as h


class StallTest(h.PorticoTestCase):
    def test_sequential_100k_gets_do_not_stall(self):
        origin = h.make_origin(self, "site")
        p = h.make_portico(self, h.simple_config(origin.url))
        port = p.port("http")
        with h.RawConn(port) as c:
            for _ in range(5):  # warm up: origin connection, buffers
                c.request("GET", "/100k")
                self.assertEqual(len(c.read_response().body), 100 * 1024)
            times = []
            for _ in range(50):
                t0 = time.perf_counter()
                c.request("GET", "/100k")
                r = c.read_response()
                times.append(time.perf_counter() - t0)
                self.assertEqual(r.status, 200)
                self.assertEqual(len(r.body), 100 * 1024)
        median_ms = statistics.median(times) * 1000
        self.assertLess(median_ms, 20.0,
                        f"median {median_ms:.1f} ms per 100 KiB GET (p90 "
                        f"{sorted(times)[44] * 1000:.1f} ms): write stall")


if __name__ == "__main__":
    h.run_main()
