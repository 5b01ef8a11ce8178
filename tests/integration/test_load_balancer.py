"""Application Load Balancer end to end: a distribution origin `load_balancer: NAME` (the issue's
example shape), rule conditions and actions, the weighted split of target groups, ALB's request
headers, lb_cookie stickiness, ALB's errors (503 without targets, 502 on a refused connection),
health checks (a killed backend is marked unhealthy within interval x unhealthy_threshold, then
no request fails; fail-open), the admin target registration API and the load balancer's own
listeners; app_cookie stickiness, the X-Forwarded-For processing modes and 463, the per-group
metrics and the access log's error reasons. Backends are real recording HTTP origins
(harness.Origin)."""

import datetime
import email.utils
import http.client
import json
import os
import re
import time

import harness as h

TOKEN_ENV = "PORTICO_IT_LB_TOKEN"
TOKEN = "lb-test-token"
TRACE_RE = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$")


def target(origin):
    return f'"127.0.0.1:{origin.port}"'


class LoadBalancerTest(h.PorticoTestCase):
    """The issue's example: /api/v2/* GET|POST -> v2 (90) / v1 (10), a host redirect, a fixed
    response, default -> v1 with lb_cookie stickiness."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.v1a = h.make_origin(cls, "v1a")
        cls.v1b = h.make_origin(cls, "v1b")
        cls.v2 = h.make_origin(cls, "v2")
        cls.rr1 = h.make_origin(cls, "rr1")
        cls.rr2 = h.make_origin(cls, "rr2")
        cfg = f"""server: {{ client_header_timeout: 5s, idle_timeout: 10s, shutdown_timeout: 5s }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
admin: {{ address: "127.0.0.1:0", token_env: {TOKEN_ENV} }}
target_groups:
  - name: v1
    targets: [{target(cls.v1a)}, {target(cls.v1b)}]
    health_check: {{ path: /health, interval: 30s, timeout: 5s, healthy_threshold: 5, unhealthy_threshold: 2, matcher: "200" }}
    load_balancing_algorithm: round_robin
    stickiness: {{ enabled: true, type: lb_cookie, duration: 86400 }}
    deregistration_delay: 0
  - name: v2
    targets: [{target(cls.v2)}]
  - name: rr
    targets: [{target(cls.rr1)}, {target(cls.rr2)}]
  - name: empty
    targets: []
  - name: refused
    targets: ["127.0.0.1:{h.down_origin_port()}"]
    health_check: {{ enabled: false }}
load_balancers:
  - name: api
    listeners: [ {{ name: alb, address: "127.0.0.1:0", protocol: HTTP }} ]
    rules:
      - priority: 10
        conditions: {{ path_pattern: ["/api/v2/*"], http_request_method: [GET, POST] }}
        actions: [ {{ forward: {{ target_groups: [ {{ name: v2, weight: 90 }}, {{ name: v1, weight: 10 }} ] }} }} ]
      - priority: 20
        conditions: {{ host_header: ["old.example.test"] }}
        actions: [ {{ redirect: {{ host: "new.example.test", path: "/#{{path}}", status_code: HTTP_301 }} }} ]
      - priority: 30
        conditions: {{ path_pattern: ["/maintenance"] }}
        actions: [ {{ fixed_response: {{ status_code: 503, content_type: text/plain, message_body: "back soon" }} }} ]
      - priority: 40
        conditions: {{ http_header: {{ name: X-Canary, values: ["yes"] }} }}
        actions: [ {{ forward: {{ target_group: v2 }} }} ]
      - priority: 50
        conditions: {{ query_string: [ {{ key: group, value: "r*" }} ] }}
        actions: [ {{ forward: {{ target_group: rr }} }} ]
      - priority: 60
        conditions: {{ source_ip: ["10.0.0.0/8"] }}
        actions: [ {{ fixed_response: {{ status_code: 403, content_type: text/plain, message_body: "no" }} }} ]
      - priority: 70
        conditions: {{ path_pattern: ["/empty/*"] }}
        actions: [ {{ forward: {{ target_group: empty }} }} ]
      - priority: 80
        conditions: {{ path_pattern: ["/refused/*"] }}
        actions: [ {{ forward: {{ target_group: refused }} }} ]
      - priority: 90
        conditions: {{ source_ip: ["127.0.0.0/8"], path_pattern: ["/local"] }}
        actions: [ {{ fixed_response: {{ status_code: 200, content_type: text/plain, message_body: "local" }} }} ]
    default_actions: [ {{ forward: {{ target_group: v1 }} }} ]
distributions:
  - id: web
    aliases: [localhost, old.example.test]
    origins:
      - {{ id: alb, load_balancer: api }}
    default_cache_behavior: {{ target_origin_id: alb, allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE] }}
"""
        cls.p = h.make_portico(cls, cfg, workers=2, env={TOKEN_ENV: TOKEN})
        cls.port = cls.p.port("http")

    def get(self, path, host="localhost", headers=None, method="GET", body=None, conn=None):
        return h.http_request(self.port, method, path, host=host, headers=headers, body=body,
                              conn=conn)

    def test_forward_default_to_v1(self):
        r = self.get("/anything")
        self.assertEqual(r.status, 200, r.body)
        self.assertIn(r.header("X-Origin-Name"), ("v1a", "v1b"))
        # Through the distribution, CloudFront's headers come too.
        self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")

    def test_weighted_split(self):
        n = 2000
        counts = {"v1a": 0, "v1b": 0, "v2": 0}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for _ in range(n):
                r = self.get("/api/v2/x", conn=conn)
                self.assertEqual(r.status, 200)
                counts[r.header("X-Origin-Name")] += 1
        finally:
            conn.close()
        share_v2 = counts["v2"] / n
        self.assertLess(abs(share_v2 - 0.90), 0.05, counts)
        # DELETE is not in the rule's methods: the default action (v1).
        r = self.get("/api/v2/x", method="DELETE")
        self.assertIn(r.header("X-Origin-Name"), ("v1a", "v1b"))

    def test_round_robin_alternates(self):
        names = [self.get("/x?group=rr").header("X-Origin-Name") for _ in range(10)]
        self.assertEqual(sorted(set(names)), ["rr1", "rr2"])
        self.assertEqual(names.count("rr1"), 5, names)

    def test_redirect(self):
        r = self.get("/a/b?c=d", host="old.example.test")
        self.assertEqual(r.status, 301)
        # #{port} is the port the viewer connected to (kept: not the scheme's default).
        self.assertEqual(r.header("Location"), f"http://new.example.test:{self.port}/a/b?c=d")
        self.assertEqual(r.header("Server"), "awselb/2.0")

    def test_fixed_response(self):
        r = self.get("/maintenance")
        self.assertEqual(r.status, 503)
        self.assertEqual(r.body, b"back soon")
        self.assertEqual(r.header("Content-Type"), "text/plain")

    def test_header_and_source_ip_conditions(self):
        self.assertEqual(self.get("/x", headers={"X-Canary": "yes"}).header("X-Origin-Name"),
                         "v2")
        # source_ip: the viewer's address, not a header it sends.
        r = self.get("/local", headers={"X-Forwarded-For": "10.1.2.3"})
        self.assertEqual((r.status, r.body), (200, b"local"))

    def test_headers_to_target(self):
        r = self.get("/api/echo", headers={"X-Forwarded-For": "192.0.2.7"})
        body = json.loads(r.body)
        hdrs = {k.lower(): v for k, v in body["headers"]}
        self.assertEqual(hdrs["x-forwarded-for"], "192.0.2.7, 127.0.0.1")
        self.assertEqual(hdrs["x-forwarded-proto"], "http")
        self.assertEqual(hdrs["x-forwarded-port"], str(self.port))
        self.assertRegex(hdrs["x-amzn-trace-id"], TRACE_RE)
        self.assertEqual(hdrs["host"], "localhost")
        # A valid incoming trace id is kept, with Self= added.
        root = "Root=1-5759e988-bd862e3fe1be46a994272793"
        body = json.loads(self.get("/api/echo", headers={"X-Amzn-Trace-Id": root}).body)
        trace = dict((k.lower(), v) for k, v in body["headers"])["x-amzn-trace-id"]
        self.assertRegex(trace, r"^Self=1-[0-9a-f]{8}-[0-9a-f]{24};" + re.escape(root) + "$")

    def test_stickiness_holds(self):
        r = self.get("/sticky")
        cookies = r.headers.get_all("Set-Cookie")
        awsalb = [c for c in cookies if c.startswith("AWSALB=")]
        self.assertEqual(len(awsalb), 1, cookies)
        self.assertTrue(any(c.startswith("AWSALBCORS=") and "SameSite=None" in c
                            for c in cookies), cookies)
        value = awsalb[0].split(";")[0].split("=", 1)[1]
        first = r.header("X-Origin-Name")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for _ in range(100):
                r = self.get("/sticky", headers={"Cookie": f"AWSALB={value}"}, conn=conn)
                self.assertEqual(r.header("X-Origin-Name"), first)
        finally:
            conn.close()
        # A tampered cookie is ignored: the request is balanced again (and gets a new cookie).
        r = self.get("/sticky", headers={"Cookie": "AWSALB=" + "A" * 28})
        self.assertEqual(r.status, 200)

    def test_no_targets_503(self):
        r = self.get("/empty/x")
        self.assertEqual(r.status, 503)
        self.assertIn(b"503 Service Temporarily Unavailable", r.body)
        self.assertEqual(r.header("Server"), "awselb/2.0")

    def test_refused_502(self):
        r = self.get("/refused/x")
        self.assertEqual(r.status, 502)
        self.assertIn(b"502 Bad Gateway", r.body)

    def test_own_listener(self):
        port = self.p.port("alb")
        # Priority 40 (X-Canary -> v2 only); /api/v2/* would hit the 90/10 rule first.
        r = h.http_request(port, "GET", "/canary/echo", host="api.test",
                           headers={"X-Canary": "yes"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Origin-Name"), "v2")
        # No CloudFront on this path: no X-Cache, no Via, no X-Amz-Cf-Id to the target.
        self.assertIsNone(r.header("X-Cache"))
        hdrs = {k.lower(): v for k, v in json.loads(r.body)["headers"]}
        self.assertNotIn("x-amz-cf-id", hdrs)
        self.assertNotIn("via", hdrs)
        self.assertEqual(hdrs["x-forwarded-port"], str(port))
        r = h.http_request(port, "GET", "/maintenance", host="api.test")
        self.assertEqual((r.status, r.body), (503, b"back soon"))
        self.assertIsNone(r.header("X-Cache"))

    def test_post_body(self):
        r = self.get("/api/upload", method="POST", body=b"x" * 100000)
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body)["bytes"], 100000)


def health_of(port, group):
    r = h.admin_request(port, "GET", f"/target-groups/{group}/health")
    assert r.status == 200, r.body
    return {f'{t["id"]}:{t["port"]}': t for t in json.loads(r.body)["targets"]}


class HealthCheckTest(h.PorticoTestCase):
    """Active health checks run by the process's one prober (interval 5 s, timeout 2 s,
    thresholds 2: ALB's minimums), fail-open, and target registration through the admin API."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.a = h.make_origin(cls, "a")
        cls.b = h.make_origin(cls, "b")
        cls.sick1 = h.make_origin(cls, "sick1")
        cls.sick2 = h.make_origin(cls, "sick2")
        cls.r1 = h.make_origin(cls, "r1")
        cls.r2 = h.make_origin(cls, "r2")
        cls.health_hits = {"a": 0, "b": 0}

        def sick(rec):
            if rec.path == "/health":
                return h.Response(status=500, body=b"sick")
            return None

        cls.sick1.handler = sick
        cls.sick2.handler = sick
        hc = "{ path: /health, interval: 5s, timeout: 2s, healthy_threshold: 2, unhealthy_threshold: 2 }"
        cfg = f"""server: {{ client_header_timeout: 5s, idle_timeout: 10s, shutdown_timeout: 5s }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
admin: {{ address: "127.0.0.1:0", token_env: {TOKEN_ENV} }}
target_groups:
  - {{ name: hc, targets: [{target(cls.a)}, {target(cls.b)}], health_check: {hc} }}
  - {{ name: sick, targets: [{target(cls.sick1)}, {target(cls.sick2)}], health_check: {hc} }}
  - {{ name: reg, targets: [{target(cls.r1)}], health_check: {hc}, deregistration_delay: 0 }}
load_balancers:
  - name: api
    rules:
      - {{ priority: 1, conditions: {{ path_pattern: ["/sick/*"] }}, actions: [ {{ forward: {{ target_group: sick }} }} ] }}
      - {{ priority: 2, conditions: {{ path_pattern: ["/reg/*"] }}, actions: [ {{ forward: {{ target_group: reg }} }} ] }}
    default_actions: [ {{ forward: {{ target_group: hc }} }} ]
distributions:
  - id: web
    aliases: [localhost]
    origins: [ {{ id: alb, load_balancer: api }} ]
    default_cache_behavior: {{ target_origin_id: alb }}
"""
        cls.p = h.make_portico(cls, cfg, workers=2, env={TOKEN_ENV: TOKEN})
        cls.port = cls.p.port("http")
        cls.admin = cls.p.admin_port

    def names(self, path, n):
        out = []
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for _ in range(n):
                r = h.http_request(self.port, "GET", path, conn=conn)
                self.assertEqual(r.status, 200, r.body)
                out.append(r.header("X-Origin-Name"))
        finally:
            conn.close()
        return out

    def test_killed_backend_marked_unhealthy(self):
        key_a, key_b = f"127.0.0.1:{self.a.port}", f"127.0.0.1:{self.b.port}"
        h.wait_until(lambda: all(health_of(self.admin, "hc")[k]["state"] == "healthy"
                                 for k in (key_a, key_b)), timeout=8, message="both healthy")
        self.assertEqual(sorted(set(self.names("/x", 10))), ["a", "b"])
        killed_at = time.monotonic()
        self.b.close()
        h.wait_until(lambda: health_of(self.admin, "hc")[key_b]["state"] == "unhealthy",
                     timeout=14, interval=0.1, message="b unhealthy")
        # interval x unhealthy_threshold (+ one interval of phase, + the probe timeout).
        self.assertLess(time.monotonic() - killed_at, 5 * 2 + 5 + 2)
        t = health_of(self.admin, "hc")[key_b]
        self.assertEqual(t["reason"], "Target.FailedHealthChecks")
        self.assertEqual(set(self.names("/x", 200)), {"a"})
        m = h.admin_request(self.admin, "GET", "/metrics").body.decode()
        self.assertIn('portico_target_group_healthy_hosts{target_group="hc"} 1', m)
        self.assertIn('portico_target_group_unhealthy_hosts{target_group="hc"} 1', m)

    def test_fail_open(self):
        h.wait_until(lambda: all(t["state"] == "unhealthy"
                                 for t in health_of(self.admin, "sick").values()),
                     timeout=14, interval=0.1, message="sick targets unhealthy")
        t = next(iter(health_of(self.admin, "sick").values()))
        self.assertEqual(t["reason"], "Target.ResponseCodeMismatch")
        # Every target is unhealthy: ALB routes across all of them.
        self.assertEqual(sorted(set(self.names("/sick/x", 20))), ["sick1", "sick2"])

    def test_register_deregister(self):
        body = json.dumps({"targets": [{"id": "127.0.0.1", "port": self.r2.port}]})
        r = h.admin_request(self.admin, "POST", "/target-groups/reg/targets", body=body)
        self.assertEqual(r.status, 401)
        r = h.admin_request(self.admin, "POST", "/target-groups/reg/targets", token=TOKEN,
                            body=body)
        self.assertEqual(r.status, 200, r.body)
        key = f"127.0.0.1:{self.r2.port}"
        h.wait_until(lambda: health_of(self.admin, "reg")[key]["state"] == "healthy",
                     timeout=8, message="registered target healthy")
        self.assertEqual(sorted(set(self.names("/reg/x", 10))), ["r1", "r2"])
        # Registered targets (and their health) survive a reload.
        r = h.admin_request(self.admin, "POST", "/reload", token=TOKEN)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(health_of(self.admin, "reg")[key]["state"], "healthy")
        h.wait_until(lambda: sorted(set(self.names("/reg/x", 10))) == ["r1", "r2"],
                     message="both targets after reload")
        r = h.admin_request(self.admin, "DELETE", "/target-groups/reg/targets", token=TOKEN,
                            body=body)
        self.assertEqual(r.status, 200, r.body)
        self.assertIn(health_of(self.admin, "reg")[key]["state"], ("unused", "draining"))
        self.assertEqual(set(self.names("/reg/x", 20)), {"r1"})
        # Bad input.
        r = h.admin_request(self.admin, "POST", "/target-groups/reg/targets", token=TOKEN,
                            body=b'{"targets": [{"id": "not-an-ip"}]}')
        self.assertEqual(r.status, 400)
        r = h.admin_request(self.admin, "POST", "/target-groups/reg/targets", token=TOKEN,
                            body=b'{"paths": []}')
        self.assertEqual(r.status, 400)
        r = h.admin_request(self.admin, "GET", "/target-groups/nope/health")
        self.assertEqual(r.status, 404)


class BrokenTarget(h.ScriptedServer):
    """A target that reads a request and answers with bytes that are not HTTP, then closes (ALB:
    "The target response is malformed" -> 502)."""

    def __init__(self):
        super().__init__(lambda c, head: c.sendall(b"NOT HTTP AT ALL\r\n\r\n"))


def cookie_values(resp, name):
    """Values of the Set-Cookie fields of `resp` that set `name`."""
    out = []
    for c in resp.headers.get_all("Set-Cookie") or []:
        k, _, rest = c.partition("=")
        if k.strip() == name:
            out.append(rest.split(";")[0])
    return out


def set_cookie_field(resp, name):
    for c in resp.headers.get_all("Set-Cookie") or []:
        if c.partition("=")[0].strip() == name:
            return c
    return None


class AlbDetailsTest(h.PorticoTestCase):
    """app_cookie stickiness (AWSALBAPP-0..3), the X-Forwarded-For processing modes and the 463
    for more than 30 addresses, the per-group metrics (target response time histogram, target vs
    load balancer 5xx, connection errors, host counts) and the access log's error reasons."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.app1 = h.make_origin(cls, "app1")
        cls.app2 = h.make_origin(cls, "app2")
        cls.echo = h.make_origin(cls, "echo")
        cls.slow = h.make_origin(cls, "slow")
        cls.err = h.make_origin(cls, "err")
        cls.broken = BrokenTarget()
        h.add_cleanup(cls, cls.broken.close)

        def app(rec):
            # The application starts its session on /login: Set-Cookie MYAPP.
            if rec.path.endswith("/login"):
                return h.Response(body=b"logged in\n",
                                  headers=[("Set-Cookie", "MYAPP=s3ss10n; Path=/; HttpOnly")])
            return None

        cls.app1.handler = app
        cls.app2.handler = app
        cls.slow.handler = lambda rec: h.Response(body=b"late\n", delay=0.3)
        cls.err.handler = lambda rec: h.Response(status=500, body=b"target failed\n")
        tmp = h.make_tmpdir(cls)
        cls.log_path = os.path.join(tmp, "access.log")
        off = "health_check: { enabled: false }"
        cfg = f"""server: {{ client_header_timeout: 5s, idle_timeout: 10s, shutdown_timeout: 5s }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
admin: {{ address: "127.0.0.1:0", token_env: {TOKEN_ENV} }}
access_log: {{ enabled: true, path: {h.yaml_str(cls.log_path)} }}
target_groups:
  - name: app
    targets: [{target(cls.app1)}, {target(cls.app2)}]
    {off}
    deregistration_delay: 0
    stickiness: {{ enabled: true, type: app_cookie, cookie_name: MYAPP, duration: 86400 }}
  - {{ name: echo, targets: [{target(cls.echo)}], {off} }}
  - {{ name: slow, targets: [{target(cls.slow)}], {off} }}
  - {{ name: err, targets: [{target(cls.err)}], {off} }}
  - {{ name: broken, targets: ["127.0.0.1:{cls.broken.port}"], {off} }}
  - {{ name: refused, targets: ["127.0.0.1:{h.down_origin_port()}"], {off} }}
  - {{ name: empty, targets: [] }}
load_balancers:
  - name: main
    rules:
      - {{ priority: 1, conditions: {{ path_pattern: ["/app/*"] }}, actions: [ {{ forward: {{ target_group: app }} }} ] }}
      - {{ priority: 2, conditions: {{ path_pattern: ["/slow/*"] }}, actions: [ {{ forward: {{ target_group: slow }} }} ] }}
      - {{ priority: 3, conditions: {{ path_pattern: ["/err/*"] }}, actions: [ {{ forward: {{ target_group: err }} }} ] }}
      - {{ priority: 4, conditions: {{ path_pattern: ["/broken/*"] }}, actions: [ {{ forward: {{ target_group: broken }} }} ] }}
      - {{ priority: 5, conditions: {{ path_pattern: ["/refused/*"] }}, actions: [ {{ forward: {{ target_group: refused }} }} ] }}
      - {{ priority: 6, conditions: {{ path_pattern: ["/empty/*"] }}, actions: [ {{ forward: {{ target_group: empty }} }} ] }}
    default_actions: [ {{ forward: {{ target_group: echo }} }} ]
  - name: preserve
    listeners: [ {{ name: preserve, address: "127.0.0.1:0" }} ]
    attributes: {{ xff_header_processing_mode: preserve }}
    default_actions: [ {{ forward: {{ target_group: echo }} }} ]
  - name: remove
    listeners: [ {{ name: remove, address: "127.0.0.1:0" }} ]
    attributes: {{ xff_header_processing_mode: remove }}
    default_actions: [ {{ forward: {{ target_group: echo }} }} ]
  - name: append-port
    listeners: [ {{ name: append-port, address: "127.0.0.1:0" }} ]
    attributes: {{ xff_header_processing_mode: append, xff_client_port: true }}
    default_actions: [ {{ forward: {{ target_group: echo }} }} ]
distributions:
  - id: web
    aliases: [localhost]
    origins: [ {{ id: alb, load_balancer: main }} ]
    default_cache_behavior: {{ target_origin_id: alb }}
"""
        cls.p = h.make_portico(cls, cfg, workers=2, env={TOKEN_ENV: TOKEN})
        cls.port = cls.p.port("http")
        cls.admin = cls.p.admin_port

    def get(self, path, headers=None, port=None, conn=None):
        return h.http_request(port or self.port, "GET", path, headers=headers, conn=conn)

    def metrics(self):
        return h.parse_metrics(h.admin_request(self.admin, "GET", "/metrics").body.decode())

    def records(self):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return []
        return [l.split("\t") for l in text.splitlines() if l and not l.startswith("#")]

    def log_record(self, uri_stem):
        """The access-log record of the one request for `uri_stem` (fields by CloudFront name)."""
        names = ("date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem "
                 "sc-status").split()

        def find():
            for rec in self.records():
                if len(rec) > 29 and rec[names.index("cs-uri-stem")] == uri_stem:
                    return rec
            return None

        rec = h.wait_until(find, message=f"access-log record for {uri_stem}")
        return {"sc-status": rec[8], "x-edge-result-type": rec[13],
                "x-edge-detailed-result-type": rec[28]}

    def register(self, target_origin, register=True):
        body = json.dumps({"targets": [{"id": "127.0.0.1", "port": target_origin.port}]})
        r = h.admin_request(self.admin, "POST" if register else "DELETE",
                            "/target-groups/app/targets", token=TOKEN, body=body)
        self.assertEqual(r.status, 200, r.body)

    # -- app_cookie stickiness -------------------------------------------------------------

    def test_app_cookie_stickiness(self):
        # No application cookie from the target: no AWSALBAPP either.
        r = self.get("/app/plain")
        self.assertEqual(r.status, 200)
        self.assertEqual(cookie_values(r, "AWSALBAPP-0"), [])
        # The target starts a session: AWSALBAPP-0 names it, -1..-3 are "_remove_", valid for 7
        # days (Expires, not Max-Age), no SameSite for a non-Chromium client.
        r = self.get("/app/login", headers={"User-Agent": "curl/8.5.0"})
        self.assertEqual(r.status, 200)
        first = r.header("X-Origin-Name")
        self.assertEqual(cookie_values(r, "MYAPP"), ["s3ss10n"])  # the target's own, untouched
        values = [cookie_values(r, f"AWSALBAPP-{i}") for i in range(4)]
        self.assertEqual(len(values[0]), 1, r.headers.get_all("Set-Cookie"))
        self.assertRegex(values[0][0], r"^[A-Za-z0-9_-]{28}$")
        self.assertEqual(values[1:], [["_remove_"]] * 3)
        field = set_cookie_field(r, "AWSALBAPP-0")
        self.assertRegex(field, r"; Expires=[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} "
                                r"\d{2}:\d{2}:\d{2} GMT; Path=/$")
        expires = email.utils.parsedate_to_datetime(field.split("Expires=")[1].split(";")[0])
        days = (expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 86400
        self.assertAlmostEqual(days, 7, delta=0.01)
        session = f"MYAPP=s3ss10n; AWSALBAPP-0={values[0][0]}"

        # Both cookies back: every request goes to that target, and each response resets the
        # AWSALBAPP cookie (the target does not set MYAPP again on these paths).
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for _ in range(20):
                r = self.get("/app/page", headers={"Cookie": session}, conn=conn)
                self.assertEqual(r.header("X-Origin-Name"), first)
                self.assertEqual(len(cookie_values(r, "AWSALBAPP-0")), 1)
            # Without the application cookie the session is over: balanced again, no AWSALBAPP.
            seen = set()
            for _ in range(10):
                r = self.get("/app/page", headers={"Cookie": f"AWSALBAPP-0={values[0][0]}"},
                             conn=conn)
                seen.add(r.header("X-Origin-Name"))
                self.assertEqual(cookie_values(r, "AWSALBAPP-0"), [])
            self.assertEqual(seen, {"app1", "app2"})
            # A tampered AWSALBAPP-0 is ignored the same way.
            r = self.get("/app/page", headers={"Cookie": "MYAPP=s3ss10n; AWSALBAPP-0=" + "A" * 28},
                         conn=conn)
            self.assertEqual(r.status, 200)
        finally:
            conn.close()

        # Chromium 80+ gets SameSite=None; Secure on the AWSALBAPP cookies.
        r = self.get("/app/login", headers={
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
                          "Gecko) Chrome/120.0.0.0 Safari/537.36"})
        self.assertTrue(set_cookie_field(r, "AWSALBAPP-0").endswith("; SameSite=None; Secure"))

        # The session's target is deregistered: the load balancer picks the other one and the
        # response names it, so the session sticks there, even once the first target is back.
        stuck = self.app1 if first == "app1" else self.app2
        other = "app2" if first == "app1" else "app1"
        self.register(stuck, register=False)
        h.add_cleanup(self, lambda: self.register(stuck))
        r = self.get("/app/page", headers={"Cookie": session})
        self.assertEqual(r.header("X-Origin-Name"), other)
        moved = cookie_values(r, "AWSALBAPP-0")
        self.assertEqual(len(moved), 1)
        self.assertNotEqual(moved[0], values[0][0])
        self.register(stuck)
        for _ in range(10):
            r = self.get("/app/page", headers={"Cookie": f"MYAPP=s3ss10n; AWSALBAPP-0={moved[0]}"})
            self.assertEqual(r.header("X-Origin-Name"), other)

    # -- X-Forwarded-For -------------------------------------------------------------------

    def xff_seen(self, port, headers=()):
        """The X-Forwarded-For fields the target got, and the client's own port."""
        with h.RawConn(port) as c:
            c.request("GET", "/x/echo", host="alb.test", headers=list(headers))
            r = c.read_response()
            self.assertEqual(r.status, 200, r.body)
            fields = [v for k, v in json.loads(r.body)["headers"] if k.lower() == "x-forwarded-for"]
            return fields, c.local_port

    def test_xff_append_default(self):
        fields, _ = self.xff_seen(self.port, [("X-Forwarded-For", "192.0.2.1"),
                                              ("X-Forwarded-For", "198.51.100.2, 203.0.113.3")])
        self.assertEqual(fields, ["192.0.2.1, 198.51.100.2, 203.0.113.3, 127.0.0.1"])
        fields, _ = self.xff_seen(self.port)
        self.assertEqual(fields, ["127.0.0.1"])

    def test_xff_append_with_client_port(self):
        port = self.p.port("append-port")
        fields, client_port = self.xff_seen(port, [("X-Forwarded-For", "192.0.2.1")])
        self.assertEqual(fields, [f"192.0.2.1, 127.0.0.1:{client_port}"])
        fields, client_port = self.xff_seen(port)
        self.assertEqual(fields, [f"127.0.0.1:{client_port}"])

    def test_xff_preserve(self):
        port = self.p.port("preserve")
        fields, _ = self.xff_seen(port, [("X-Forwarded-For", "192.0.2.1, 198.51.100.2")])
        self.assertEqual(fields, ["192.0.2.1, 198.51.100.2"])
        fields, _ = self.xff_seen(port)
        self.assertEqual(fields, [])  # nothing added when the client sent none

    def test_xff_remove(self):
        port = self.p.port("remove")
        fields, _ = self.xff_seen(port, [("X-Forwarded-For", "192.0.2.1")])
        self.assertEqual(fields, [])
        # Other X-Forwarded-* headers still go.
        r = h.http_request(port, "GET", "/x/echo", host="alb.test")
        hdrs = {k.lower(): v for k, v in json.loads(r.body)["headers"]}
        self.assertEqual(hdrs["x-forwarded-proto"], "http")

    def test_xff_more_than_30_addresses_463(self):
        addrs = [f"192.0.2.{i}" for i in range(1, 32)]
        # 30 addresses pass (ALB's limit), in one field or spread over several.
        fields, _ = self.xff_seen(self.port, [("X-Forwarded-For", ", ".join(addrs[:30]))])
        self.assertEqual(fields, [", ".join(addrs[:30] + ["127.0.0.1"])])
        for port in (self.port, self.p.port("preserve"), self.p.port("remove")):
            with self.subTest(port=port):
                with h.RawConn(port) as c:
                    c.request("GET", f"/xff463/{port}", host="alb.test",
                              headers=[("X-Forwarded-For", ", ".join(addrs[:20])),
                                       ("X-Forwarded-For", ", ".join(addrs[20:]))])
                    r = c.read_response()
                self.assertEqual(r.status, 463)
                self.assertEqual(r.header("Server"), "awselb/2.0")
                self.assertEqual(r.body, b"<html>\r\n<head><title>463</title></head>\r\n<body>\r\n"
                                         b"<center><h1>463</h1></center>\r\n</body>\r\n</html>\r\n")
        rec = self.log_record(f"/xff463/{self.port}")
        self.assertEqual((rec["sc-status"], rec["x-edge-detailed-result-type"]),
                         ("463", "XForwardedForTooManyAddresses"))
        self.assertFalse(any("xff463" in q.path for q in self.echo.snapshot()))

    # -- metrics ---------------------------------------------------------------------------

    def test_metrics_per_target_group(self):
        before = self.metrics()

        def delta(after, name, group):
            return (h.metric_value(after, name, target_group=group) or 0) - \
                (h.metric_value(before, name, target_group=group) or 0)

        self.assertEqual(self.get("/slow/a").status, 200)
        self.assertEqual(self.get("/err/a").status, 500)
        self.assertEqual(self.get("/refused/metrics").status, 502)
        self.assertEqual(self.get("/empty/metrics").status, 503)
        after = self.metrics()
        # Target response time: one sample for `slow`, at least its 0.3 s delay.
        hist = "portico_target_group_target_response_time_seconds"
        self.assertEqual(delta(after, hist + "_count", "slow"), 1)
        self.assertGreaterEqual(delta(after, hist + "_sum", "slow"), 0.3)
        buckets = {l["le"]: v for n, l, v in after
                   if n == hist + "_bucket" and l.get("target_group") == "slow"}
        self.assertEqual(list(buckets)[-1], "+Inf")
        self.assertEqual(buckets["0.25"], h.metric_value(before, hist + "_bucket",
                                                         target_group="slow", le="0.25") or 0)
        self.assertEqual(buckets["60"], buckets["+Inf"])
        vals = list(buckets.values())
        self.assertEqual(vals, sorted(vals))  # cumulative
        self.assertEqual(delta(after, hist + "_count", "err"), 1)
        self.assertEqual(delta(after, hist + "_count", "refused"), 0)  # no response head
        # 5xx from targets vs 5xx the load balancer made.
        self.assertEqual(delta(after, "portico_target_group_target_5xx_total", "err"), 1)
        self.assertEqual(delta(after, "portico_target_group_elb_5xx_total", "err"), 0)
        self.assertEqual(delta(after, "portico_target_group_target_5xx_total", "refused"), 0)
        self.assertEqual(delta(after, "portico_target_group_elb_5xx_total", "refused"), 1)
        self.assertEqual(delta(after, "portico_target_group_elb_5xx_total", "empty"), 1)
        self.assertEqual(
            delta(after, "portico_target_group_target_connection_errors_total", "refused"), 1)
        self.assertEqual(
            delta(after, "portico_target_group_target_connection_errors_total", "err"), 0)
        for g in ("slow", "err", "refused"):
            self.assertEqual(delta(after, "portico_target_group_requests_total", g), 1)
        # Host counts for every group (health checks off: targets are unavailable, counted as
        # healthy; a target made suspect by a refused connection counts as unhealthy).
        def hosts(group):
            return (h.metric_value(after, "portico_target_group_healthy_hosts", target_group=group),
                    h.metric_value(after, "portico_target_group_unhealthy_hosts",
                                   target_group=group))

        self.assertEqual(hosts("app"), (2, 0))
        for g in ("echo", "slow", "err", "broken"):
            self.assertEqual(hosts(g), (1, 0), g)
        self.assertEqual(hosts("refused"), (0, 1))
        self.assertEqual(hosts("empty"), (0, 0))

    # -- access log ------------------------------------------------------------------------

    def test_access_log_error_reasons(self):
        cases = [
            ("/refused/log", 502, "TargetConnectionError"),
            ("/broken/log", 502, "TargetResponseError"),
            ("/empty/log", 503, "NoRegisteredTargets"),
        ]
        for path, status, _ in cases:
            r = self.get(path)
            self.assertEqual(r.status, status, path)
            self.assertEqual(r.header("Server"), "awselb/2.0")
        self.assertEqual(self.get("/err/log").status, 500)
        self.assertEqual(self.get("/ok/log").status, 200)
        for path, status, reason in cases:
            with self.subTest(path=path):
                rec = self.log_record(path)
                self.assertEqual(rec, {"sc-status": str(status), "x-edge-result-type": "Error",
                                       "x-edge-detailed-result-type": reason})
        # A target's own 5xx is the target's error, not the load balancer's: no reason.
        self.assertEqual(self.log_record("/err/log")["x-edge-detailed-result-type"], "Error")
        self.assertEqual(self.log_record("/ok/log")["x-edge-detailed-result-type"], "Miss")


if __name__ == "__main__":
    h.run_main()
