"""The whole seed architecture end to end (issue 8), started the way scripts/serve.sh starts it:
examples/stack/stack.py (the launcher serve.sh runs) brings up s3rver with the uploaded site,
redis-server, the two zone backends and Portico on examples/stack/portico.yaml, every port a free
one (PORTICO_STACK_*_PORT=0) and the stack folder a temporary one. Then, in order (each step
builds on the state the previous one left, so the methods are numbered):

  01  HTTPS with the certificate the local CA issued: verified against `portico ca export`'s
      root for localhost and www.example.test (SNI, alias), ALPN h2; no system root trusts it
  02  HTTP -> HTTPS: 301 to the same path and query on the HTTPS port, for any alias
  03  SPA routes: deep links get index.html with 200 (S3's 403 rewritten)
  04  a hashed S3 asset: Miss, then Hit from cloudfront, one-year Cache-Control, compressed;
      its name's hash matches its content
  05  /api/* spread over both zones, never cached
  06  a new index.html in the bucket stays hidden behind the cache until an invalidation through
      the admin API, after which the very next request sees it
  07  one backend SIGKILLed: once the health check marks it unhealthy, no API request fails
  08  Redis stopped: static (cached and not), SPA and API requests are all still served
  09  SIGTERM to the launcher stops every process it started (checked by PID)

Nothing sleeps to synchronise: waits poll the launcher's stack.json, the admin API and process
state against deadlines. Every process is stopped by PID: the launcher by this test, its children
by the launcher, and any left over by this test's cleanup (and all die with it through
PR_SET_PDEATHSIG). About 20 s, most of it waiting for the health check (interval 5 s, 2 failures).
"""

import gzip
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import unittest

import harness as h
import redisutil
import s3util

STACK = os.path.join(h.source_dir(), "examples", "stack", "stack.py")
SITE = os.path.join(h.source_dir(), "examples", "stack", "site")
TOKEN = "stack-it-token"
PORT_VARS = ("PORTICO_STACK_HTTP_PORT", "PORTICO_STACK_HTTPS_PORT", "PORTICO_STACK_ADMIN_PORT",
             "PORTICO_STACK_S3_PORT", "PORTICO_STACK_REDIS_PORT", "PORTICO_STACK_ZONE_A_PORT",
             "PORTICO_STACK_ZONE_B_PORT")
ZONES = {"us-east-1a", "us-east-1b"}
STACK_UP_TIMEOUT = 60.0       # ASan binary on a busy machine; up in a few seconds normally
HEALTH_NOTICE_TIMEOUT = 20.0  # interval 5 s x unhealthy_threshold 2, plus probe timing and load


def pid_gone(pid):
    """True when `pid` no longer runs (gone, or a zombie waiting for its parent)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


class _TlsConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1:port with `sni` as the TLS server name (and the name verified)."""

    def __init__(self, port, sni, context, timeout):
        super().__init__(sni, port, context=context, timeout=timeout)

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class StackTest(h.PorticoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ok, why = s3util.node_s3rver_available()
        if not ok:
            raise unittest.SkipTest(f"S3-compatible server unavailable: {why}")
        if not redisutil.available():
            raise unittest.SkipTest("redis-server not installed")
        cls.dir = h.make_tmpdir(cls)
        cls.s3_key = "AKIASTACKTEST0001"
        cls.s3_secret = "stack-test-" + os.urandom(8).hex()
        env = {v: "0" for v in PORT_VARS}
        env.update(PORTICO_STACK_DIR=cls.dir, PORTICO_BIN=h.portico_bin(),
                   PORTICO_ADMIN_TOKEN=TOKEN, STACK_S3_KEY_ID=cls.s3_key,
                   STACK_S3_SECRET=cls.s3_secret)
        cls.state = None
        cls.launcher = h.spawn([sys.executable, STACK, "up", "--quiet"], env=h.child_env(env))
        h.add_cleanup(cls, cls._stop_everything)
        cls.out = h._LineCollector(cls.launcher.stdout, "[stack] ")
        cls.err = h._LineCollector(cls.launcher.stderr, "[stack stderr] ")
        state_path = os.path.join(cls.dir, "stack.json")
        try:
            h.wait_until(lambda: os.path.exists(state_path) or cls.launcher.poll() is not None,
                         timeout=STACK_UP_TIMEOUT, message="the launcher's stack.json")
        except AssertionError:
            raise AssertionError("stack not up; launcher said:\n" + cls._launcher_output())
        if not os.path.exists(state_path):
            raise AssertionError(f"launcher exited with {cls.launcher.poll()}:\n"
                                 + cls._launcher_output())
        with open(state_path) as f:
            cls.state = json.load(f)
        ports = cls.state["ports"]
        cls.http_port, cls.https_port = ports["http"], ports["https"]
        cls.admin_port = ports["admin"]
        cls.pids = dict(cls.state["pids"])
        cls.ca_file = cls.state["ca"]
        cls.ctx = ssl.create_default_context(cafile=cls.ca_file)
        cls.ctx.set_alpn_protocols(["http/1.1"])
        with open(os.path.join(SITE, "index.html"), "rb") as f:
            cls.index_v1 = f.read()

    @classmethod
    def _launcher_output(cls):
        return "\n".join(cls.out.snapshot()[-60:] + cls.err.snapshot()[-20:])

    @classmethod
    def _stop_everything(cls):
        """SIGTERM to the launcher (it stops its children), then SIGKILL to anything left, by
        PID. Fails the class when Portico's log holds a sanitizer report."""
        p = cls.launcher
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        h._forget(p)
        for pid in (cls.state or {}).get("pids", {}).values():
            if not pid_gone(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        report = cls._sanitizer_report()
        if report:
            raise AssertionError(f"sanitizer report from portico:\n{report}")

    @classmethod
    def _sanitizer_report(cls):
        try:
            with open(os.path.join(cls.dir, "logs", "portico.log"), errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return None
        for i, line in enumerate(lines):
            if h.SANITIZER_PATTERNS.search(line):
                return "\n".join(lines[max(0, i - 2):i + 60])
        return None

    # -- clients -------------------------------------------------------------------------------
    def https(self, path, sni="localhost", host=None, headers=None, method="GET", body=None,
              conn=None):
        own = conn is None
        if own:
            conn = _TlsConnection(self.https_port, sni, self.ctx, h.DEFAULT_TIMEOUT)
        try:
            hdrs = {"Host": host or sni}
            hdrs.update(headers or {})
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return h.Resp(r.status, r.reason, r.headers, r.read())
        finally:
            if own:
                conn.close()

    def admin(self, method, path, body=None):
        token = TOKEN if method != "GET" else None
        return h.admin_request(self.admin_port, method, path, token=token, body=body)

    def target_states(self):
        r = self.admin("GET", f"/target-groups/{self.state['target_group']}/health")
        self.assertEqual(r.status, 200, r.body)
        return {t["port"]: t["state"] for t in json.loads(r.body)["targets"]}

    def asset_paths(self):
        return re.findall(rb'"(/assets/app\.[0-9a-f]{6}\.(?:js|css))"', self.index_v1)

    def assertServed(self, path, **kw):
        r = self.https(path, **kw)
        self.assertEqual(r.status, 200, f"{path}: {r.status} {r.body[:300]!r}")
        return r

    # -- the hops, in order ----------------------------------------------------------------------
    def test_01_https_with_issued_certificate(self):
        exported = h.run_portico(["ca", "export", "--state-dir", self.state["state_dir"]])
        self.assertEqual(exported.returncode, 0, exported.stderr)
        with open(self.ca_file) as f:
            self.assertEqual(f.read(), exported.stdout)
        r = self.assertServed("/")
        self.assertEqual(r.body, self.index_v1)
        self.assertIn("cloudfront", r.header("Via", "").lower())
        self.assertIn("from cloudfront", r.header("X-Cache", ""))
        # A wildcard name of the issued certificate and an alias of the distribution.
        self.assertServed("/", sni="www.example.test")
        # The leaf is the local CA's, and ALPN offers HTTP/2.
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with socket.create_connection(("127.0.0.1", self.https_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                self.assertEqual(tls.selected_alpn_protocol(), "h2")
                cert = tls.getpeercert()
        issuer = dict(x[0] for x in cert["issuer"])
        self.assertTrue(issuer["commonName"].startswith("Portico Local CA"), issuer)
        self.assertIn(("DNS", "localhost"), cert["subjectAltName"])
        # Without the exported root, nothing trusts it.
        plain = ssl.create_default_context()
        with socket.create_connection(("127.0.0.1", self.https_port), timeout=10) as raw:
            with self.assertRaises(ssl.SSLCertVerificationError):
                plain.wrap_socket(raw, server_hostname="localhost")

    def test_02_http_redirects_to_https(self):
        r = h.get(self.http_port, "/orders/42?ref=mail")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"),
                         f"https://localhost:{self.https_port}/orders/42?ref=mail")
        r = h.get(self.http_port, "/api/whoami", host="www.example.test")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"),
                         f"https://www.example.test:{self.https_port}/api/whoami")
        # Unsafe methods over HTTP get CloudFront's 403, not the SPA's 403 -> /index.html rewrite
        # (that applies to origin errors only).
        r = h.http_request(self.http_port, "POST", "/api/echo", body=b"{}")
        self.assertEqual(r.status, 403)
        self.assertEqual(r.header("X-Cache"), "Error from cloudfront")

    def test_03_spa_routes(self):
        for path in ("/orders/42", "/architecture", "/zones", "/index.html"):
            r = self.assertServed(path)
            self.assertEqual(r.body, self.index_v1, path)
            self.assertTrue(r.header("Content-Type", "").startswith("text/html"), path)

    def test_04_s3_asset_cached_on_second_request(self):
        assets = self.asset_paths()
        self.assertEqual(len(assets), 2, assets)
        path = next(p.decode() for p in assets if p.endswith(b".js"))
        with open(os.path.join(SITE, path.lstrip("/")), "rb") as f:
            content = f.read()
        digest = re.search(r"\.([0-9a-f]{6})\.", path).group(1)
        self.assertTrue(hashlib.sha256(content).hexdigest().startswith(digest),
                        f"{path}: the name's hash does not match the content (rename the file)")
        first = self.assertServed(path)
        self.assertEqual(first.body, content)
        self.assertEqual(first.header("X-Cache"), "Miss from cloudfront")
        self.assertIn("max-age=31536000", first.header("Cache-Control", ""))
        second = self.assertServed(path)
        self.assertEqual(second.body, content)
        self.assertEqual(second.header("X-Cache"), "Hit from cloudfront")
        gz = self.assertServed(path, headers={"Accept-Encoding": "gzip"})
        self.assertEqual(gz.header("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(gz.body), content)

    def test_05_api_spread_over_both_zones(self):
        conn = _TlsConnection(self.https_port, "localhost", self.ctx, h.DEFAULT_TIMEOUT)
        zones = {}
        try:
            for _ in range(20):
                r = self.assertServed("/api/whoami", conn=conn)
                self.assertNotIn("Hit", r.header("X-Cache", ""))
                body = json.loads(r.body)
                self.assertIn("CloudFront", body["request"]["via"] or "")
                zones[body["zone"]] = zones.get(body["zone"], 0) + 1
        finally:
            conn.close()
        self.assertEqual(set(zones), ZONES, zones)
        self.assertTrue(all(n >= 5 for n in zones.values()), zones)

    def test_06_invalidation_visible_at_once(self):
        self.assertServed("/index.html")
        self.assertEqual(self.assertServed("/index.html").header("X-Cache"),
                         "Hit from cloudfront")
        v2 = self.index_v1 + b"<!-- deployed again by test_stack -->\n"
        s3 = s3util.S3Client("127.0.0.1", self.state["ports"]["s3"], self.s3_key, self.s3_secret)
        s3.put_object(self.state["bucket"], "index.html", v2,
                      content_type="text/html; charset=utf-8",
                      headers={"Cache-Control": "public, max-age=60"})
        self.assertEqual(self.assertServed("/index.html").body, self.index_v1)  # still cached
        r = self.admin("POST", f"/distributions/{self.state['distribution']}/invalidations",
                       body=json.dumps({"paths": ["/index.html"]}).encode())
        self.assertEqual(r.status, 201, r.body)
        inv = json.loads(r.body)
        self.assertEqual(self.assertServed("/index.html").body, v2)
        self.assertEqual(self.assertServed("/orders/7").body, v2)  # the SPA rewrite's page too
        self.assertEqual(self.assertServed("/").body, v2)  # default_root_object: the same key
        # ... and durable in the Redis tier's invalidation log.
        h.wait_until(lambda: json.loads(self.admin(
            "GET", f"/distributions/{self.state['distribution']}/invalidations/{inv['id']}"
        ).body)["status"] == "Completed", message="invalidation Completed")

    def test_07_killed_backend_costs_nothing_once_noticed(self):
        zone_b = self.state["zones"]["zone-b"]
        os.kill(self.pids["zone-b"], signal.SIGKILL)
        failed_before = []
        conn = [None]

        def noticed():
            # Keep API traffic flowing while the health check catches up.
            if conn[0] is None:
                conn[0] = _TlsConnection(self.https_port, "localhost", self.ctx, 10)
            try:
                r = self.https("/api/whoami", conn=conn[0])
                if r.status != 200:
                    failed_before.append(r.status)
            except (OSError, http.client.HTTPException) as e:
                failed_before.append(type(e).__name__)
                conn[0].close()
                conn[0] = None
            return self.target_states().get(zone_b["port"]) == "unhealthy"

        try:
            h.wait_until(noticed, timeout=HEALTH_NOTICE_TIMEOUT, interval=0.05,
                         message="zone-b unhealthy in the target group")
        finally:
            if conn[0] is not None:
                conn[0].close()
        conn = _TlsConnection(self.https_port, "localhost", self.ctx, h.DEFAULT_TIMEOUT)
        try:
            for i in range(40):
                r = self.https("/api/whoami", conn=conn)
                self.assertEqual(r.status, 200, f"request {i} after the health check noticed "
                                 f"(failures before it: {failed_before}): {r.body[:200]!r}")
                self.assertEqual(json.loads(r.body)["zone"], "us-east-1a")
        finally:
            conn.close()
        self.assertIsNone(self.launcher.poll(), "the launcher must survive a dead backend")

    def test_08_redis_stopped_everything_still_served(self):
        redis_pid = self.pids["redis"]
        os.kill(redis_pid, signal.SIGTERM)
        h.wait_until(lambda: pid_gone(redis_pid), message="redis-server gone")
        css = next(p.decode() for p in self.asset_paths() if p.endswith(b".css"))
        js = next(p.decode() for p in self.asset_paths() if p.endswith(b".js"))

        def round_trip():
            self.assertEqual(self.assertServed(js).header("X-Cache"), "Hit from cloudfront")
            self.assertServed(css)              # never asked for before: S3 through a miss
            self.assertServed("/orders/1234")   # SPA rewrite
            self.assertServed("/")
            self.assertEqual(json.loads(self.assertServed("/api/whoami").body)["zone"],
                             "us-east-1a")

        round_trip()  # at once, before the edge may even have noticed

        def redis_down():
            stats = json.loads(self.admin("GET", "/cache/stats").body)
            return not stats["redis"]["ready"]

        h.wait_until(redis_down, message="the edge notices Redis is gone")
        round_trip()
        samples = h.parse_metrics(self.admin("GET", "/metrics").body.decode())
        self.assertEqual(h.metric_value(samples, "portico_redis_nodes_ready"), 0)

    def test_09_stop_leaves_nothing_running(self):
        os.kill(self.launcher.pid, signal.SIGTERM)
        rc = self.launcher.wait(timeout=30)
        self.assertEqual(rc, 0, self._launcher_output())
        left = {name: pid for name, pid in self.pids.items() if not pid_gone(pid)}
        self.assertEqual(left, {}, "processes the launcher started and left running")
        self.assertFalse(os.path.exists(os.path.join(self.dir, "stack.json")))
        with open(os.path.join(self.dir, "logs", "portico.log"), errors="replace") as f:
            self.assertIn("shutdown complete", f.read())


if __name__ == "__main__":
    h.run_main()
