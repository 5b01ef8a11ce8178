"""Application Load Balancer end to end: a distribution origin `load_balancer: NAME` (the issue's
example shape), rule conditions and actions, the weighted split of target groups, ALB's request
headers, lb_cookie stickiness, ALB's errors (503 without targets, 502 on a refused connection),
health checks (a killed backend is marked unhealthy within interval x unhealthy_threshold, then
no request fails; fail-open), the admin target registration API and the load balancer's own
listeners. Backends are real recording HTTP origins (harness.Origin)."""

import http.client
import json
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


if __name__ == "__main__":
    h.run_main()
