"""100 MiB bodies through Portico in both directions arrive intact (sha256) while the proxy's
resident memory stays within +12 MiB of its value before the transfer: bodies are streamed with
backpressure, never buffered whole. Part of the download is read slowly to exercise backpressure."""

import hashlib
import http.client
import json
import time

import harness as h

MIB = h.MIB
SIZE_MIB = 100
# "A few MiB" (issue #2). Without sanitizers the growth measured is ~0.5 MiB; under ASan the
# allocator's quarantine keeps freed chunks resident, so it is capped at 2 MiB for this test.
RSS_SLACK_KIB = 12 * 1024
IO_TIMEOUT = 60


class LargeBodiesTest(h.PorticoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = h.make_origin(cls, "bulk")
        cfg = h.simple_config(cls.origin.url, api_origin_url=cls.origin.url, read_timeout="30s")
        cls.p = h.make_portico(
            cls, cfg, env={"ASAN_OPTIONS": "detect_leaks=1:quarantine_size_mb=2:abort_on_error=0"})
        cls.port = cls.p.port("http")
        # Warm up both directions so that pools, buffers and allocator arenas exist before the
        # baseline is taken.
        for _ in range(2):
            cls.download(cls, 8)
            cls.upload(cls, 8, chunked=True)
            cls.upload(cls, 8, chunked=False)

    def connect(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=IO_TIMEOUT)

    def download(self, mib, chunked=False, on_progress=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=IO_TIMEOUT)
        try:
            c.request("GET", f"/big?mib={mib}" + ("&chunked=1" if chunked else ""),
                      headers={"Host": "localhost"})
            r = c.getresponse()
            assert r.status == 200, r.status
            sha = hashlib.sha256()
            n = 0
            while True:
                piece = r.read(256 * 1024)
                if not piece:
                    break
                sha.update(piece)
                n += len(piece)
                if on_progress:
                    on_progress(n)
            return r, n, sha.hexdigest()
        finally:
            c.close()

    def upload(self, mib, chunked):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=IO_TIMEOUT)
        try:
            c.putrequest("POST", "/api/upload", skip_host=True)
            c.putheader("Host", "localhost")
            if chunked:
                c.putheader("Transfer-Encoding", "chunked")
            else:
                c.putheader("Content-Length", str(mib * MIB))
            c.endheaders()
            block = h.big_block()
            for _ in range(mib):
                if chunked:
                    c.send(b"%x\r\n" % len(block) + block + b"\r\n")
                else:
                    c.send(block)
            if chunked:
                c.send(b"0\r\n\r\n")
            r = c.getresponse()
            body = r.read()
            assert r.status == 200, (r.status, body[:300])
            return json.loads(body)
        finally:
            c.close()

    def assert_rss_bounded(self, baseline, peak, what):
        grew = peak - baseline
        self.assertLessEqual(
            grew, RSS_SLACK_KIB,
            f"{what}: VmRSS grew by {grew / 1024:.1f} MiB (baseline {baseline / 1024:.1f} MiB, "
            f"peak {peak / 1024:.1f} MiB); the proxy is buffering the body")

    def test_download_100mib_with_slow_reader(self):
        self.origin.clear()
        baseline = self.p.rss_kib()
        sampler = h.RssSampler(self.p.pid)
        state = {"paused": False, "origin_sent_during_pause": None}

        def on_progress(n):
            # After 4 MiB, stop reading for a while: the proxy must stop reading from the origin
            # instead of buffering the rest. This bounded wait is the assertion, not a sync.
            if not state["paused"] and n >= 4 * MIB:
                state["paused"] = True
                time.sleep(1.5)
                state["origin_sent_during_pause"] = self.origin.big_sent
            elif state["paused"] and n < 12 * MIB:
                time.sleep(0.02)  # then a slow reader for a while

        try:
            r, n, sha = self.download(SIZE_MIB, on_progress=on_progress)
        finally:
            peak = sampler.stop()
        self.assertEqual(n, SIZE_MIB * MIB)
        self.assertEqual(r.getheader("Content-Length"), str(SIZE_MIB * MIB))
        self.assertEqual(sha, h.big_body_sha256(SIZE_MIB))
        sent = state["origin_sent_during_pause"]
        self.assertIsNotNone(sent)
        self.assertLess(sent, 64 * MIB,
                        f"origin had sent {sent / MIB:.1f} MiB while the client read 4 MiB: "
                        "no backpressure towards the origin")
        self.assert_rss_bounded(baseline, peak, "download")

    def test_download_100mib_chunked(self):
        baseline = self.p.rss_kib()
        sampler = h.RssSampler(self.p.pid)
        try:
            r, n, sha = self.download(SIZE_MIB, chunked=True)
        finally:
            peak = sampler.stop()
        self.assertEqual(n, SIZE_MIB * MIB)
        self.assertEqual(sha, h.big_body_sha256(SIZE_MIB))
        self.assert_rss_bounded(baseline, peak, "chunked download")

    def test_upload_100mib_chunked(self):
        baseline = self.p.rss_kib()
        sampler = h.RssSampler(self.p.pid)
        try:
            e = self.upload(SIZE_MIB, chunked=True)
        finally:
            peak = sampler.stop()
        self.assertEqual(e["bytes"], SIZE_MIB * MIB)
        self.assertEqual(e["sha256"], h.big_body_sha256(SIZE_MIB))
        self.assert_rss_bounded(baseline, peak, "chunked upload")

    def test_upload_100mib_content_length(self):
        baseline = self.p.rss_kib()
        sampler = h.RssSampler(self.p.pid)
        try:
            e = self.upload(SIZE_MIB, chunked=False)
        finally:
            peak = sampler.stop()
        self.assertEqual(e["bytes"], SIZE_MIB * MIB)
        self.assertEqual(e["sha256"], h.big_body_sha256(SIZE_MIB))
        self.assert_rss_bounded(baseline, peak, "Content-Length upload")


if __name__ == "__main__":
    h.run_main()
