"""sink_load against a real origin: what it counts must be what the origin sent.

Run by ctest where the bench tools are built (bench/CMakeLists.txt); SINK_LOAD_BIN names the
binary. Content-Length bodies take the discard path (recv MSG_TRUNC), chunked bodies the decoding
path, Connection: close a reconnect, and non-2xx answers are counted as wrk counts them."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness as h  # noqa: E402


def run(port, path, conns=4, secs=1):
    out = subprocess.run([os.environ["SINK_LOAD_BIN"], "-c", str(conns), "-d", str(secs),
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                         timeout=secs + 20)
    m = re.search(r"^\s*(\d+) requests in [\d.]+s, ([\d.]+)MB read", out.stdout, re.M)
    assert m, out.stdout + out.stderr
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    errors = re.search(r"Socket errors: .*", out.stdout)
    return {"rc": out.returncode, "requests": int(m.group(1)), "bytes": float(m.group(2)) * 1e6,
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "errors": errors.group(0) if errors else None, "out": out.stdout + out.stderr}


class SinkLoadTest(h.PorticoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = h.make_origin(cls, "sink")

    def assert_clean(self, r):
        self.assertEqual(r["rc"], 0, r["out"])
        self.assertGreater(r["requests"], 0, r["out"])
        self.assertIsNone(r["errors"], r["out"])

    def test_content_length_bodies_are_counted_whole(self):
        r = run(self.origin.port, "/100k")
        self.assert_clean(r)
        self.assertEqual(r["non2xx"], 0, r["out"])
        per = r["bytes"] / r["requests"]  # body plus a head of a few hundred bytes
        self.assertGreaterEqual(per, 102400 - 1, r["out"])
        self.assertLess(per, 102400 + 1024, r["out"])
        # Counted responses are those the origin sent; the last request per connection may still
        # be in flight when the run ends, and is not counted.
        sent = sum(1 for q in self.origin.snapshot() if q.path == "/100k")
        self.assertLessEqual(r["requests"], sent)
        self.assertGreaterEqual(r["requests"], sent - 4)

    def test_chunked_bodies_are_decoded(self):
        r = run(self.origin.port, "/chunked?bytes=5000&piece=1000")
        self.assert_clean(r)
        self.assertGreater(r["bytes"] / r["requests"], 5000, r["out"])

    def test_connection_close_reconnects(self):
        r = run(self.origin.port, "/close")
        self.assert_clean(r)

    def test_error_statuses_are_counted(self):
        r = run(self.origin.port, "/status?code=404")
        self.assert_clean(r)
        self.assertEqual(r["non2xx"], r["requests"], r["out"])


if __name__ == "__main__":
    h.run_main()
