"""Routing (distribution by Host, behavior by path pattern, allowed methods) and the headers
Portico adds or removes on the way to the origin and back to the viewer."""

import json
import re

import harness as h

VIA_RE = re.compile(r"^1\.1 [0-9a-f]{16}\.cloudfront\.net \(CloudFront\)$")
ORIGIN_VIA_RE = re.compile(r"^1\.1 \S+ \(CloudFront\)$")
HOP_BY_HOP = ("connection", "keep-alive", "te", "trailer", "upgrade", "proxy-authorization",
              "proxy-connection", "x-hop")


class RoutingTest(h.PorticoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.site = h.make_origin(cls, "site")
        cls.api = h.make_origin(cls, "api")
        cls.special = h.make_origin(cls, "special")
        cls.jpg = h.make_origin(cls, "jpg")
        cls.other = h.make_origin(cls, "other")
        q = h.yaml_str
        # `other` is listed first so that it is the fallback for unknown hosts.
        cfg = f"""server: {{ client_header_timeout: 5s, idle_timeout: 10s, shutdown_timeout: 10s }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
distributions:
  - id: other
    aliases: [other.test]
    origins: [ {{ id: o, custom_origin: {{ url: {q(cls.other.url)} }} }} ]
    default_cache_behavior: {{ target_origin_id: o }}
  - id: web
    aliases: [localhost, "*.example.test"]
    origins:
      - {{ id: site, custom_origin: {{ url: {q(cls.site.url)}, origin_read_timeout: 5s }} }}
      - {{ id: api, custom_origin: {{ url: {q(cls.api.url)}, origin_path: /v1, origin_read_timeout: 5s }} }}
      - {{ id: special, custom_origin: {{ url: {q(cls.special.url)} }} }}
      - {{ id: jpg, custom_origin: {{ url: {q(cls.jpg.url)} }} }}
    default_cache_behavior: {{ target_origin_id: site }}
    cache_behaviors:
      - {{ path_pattern: "/api/special*", target_origin_id: special }}
      - {{ path_pattern: "/api/*", target_origin_id: api, allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE] }}
      - {{ path_pattern: "*.jpg", target_origin_id: jpg }}
      - {{ path_pattern: "/v?/ping", target_origin_id: special }}
"""
        cls.p = h.make_portico(cls, cfg)
        cls.port = cls.p.port("http")

    def origin_of(self, path, host="localhost", method="GET"):
        r = h.http_request(self.port, method, path, host=host)
        self.assertEqual(r.status, 200, f"{method} {path} Host: {host} -> {r.status} {r.body[:200]!r}")
        return r.header("X-Origin-Name")

    def echo(self, path="/api/echo", host="localhost", headers=None, method="GET", body=None):
        r = h.http_request(self.port, method, path, host=host, headers=headers, body=body)
        self.assertEqual(r.status, 200, r.body[:300])
        return r, json.loads(r.body)

    # -- distribution by Host -----------------------------------------------------------------
    def test_exact_alias_selects_distribution(self):
        self.assertEqual(self.origin_of("/x", host="other.test"), "other")
        self.assertEqual(self.origin_of("/x", host=f"other.test:{self.port}"), "other")
        self.assertEqual(self.origin_of("/x", host="localhost"), "site")
        self.assertEqual(self.origin_of("/x", host=f"localhost:{self.port}"), "site")

    def test_host_match_is_case_insensitive(self):
        self.assertEqual(self.origin_of("/x", host="OTHER.Test"), "other")
        self.assertEqual(self.origin_of("/x", host="LocalHost"), "site")

    def test_wildcard_alias(self):
        self.assertEqual(self.origin_of("/x", host="a.example.test"), "site")
        self.assertEqual(self.origin_of("/x", host=f"www.example.test:{self.port}"), "site")
        # "*.example.test" needs a label in front: the bare name falls back to the first one.
        self.assertEqual(self.origin_of("/x", host="example.test"), "other")
        self.assertEqual(self.origin_of("/x", host="a.example.testx"), "other")

    def test_unknown_host_uses_listeners_first_distribution(self):
        self.assertEqual(self.origin_of("/x", host="unknown.test"), "other")
        self.assertEqual(self.origin_of("/x", host=f"127.0.0.1:{self.port}"), "other")

    # -- behavior by path pattern ---------------------------------------------------------------
    def test_default_behavior_forwards_path_and_query(self):
        r, e = self.echo("/dir/echo?b=2&a=1&a=3")
        self.assertEqual(e["origin"], "site")
        self.assertEqual(e["path"], "/dir/echo?b=2&a=1&a=3")

    def test_origin_path_is_prefixed(self):
        r, e = self.echo("/api/echo?x=1&y=%20z")
        self.assertEqual(e["origin"], "api")
        self.assertEqual(e["path"], "/v1/api/echo?x=1&y=%20z")

    def test_no_query_means_no_question_mark(self):
        r, e = self.echo("/api/some%20thing/echo")
        self.assertEqual(e["path"], "/v1/api/some%20thing/echo")

    def test_first_matching_pattern_wins(self):
        self.assertEqual(self.origin_of("/api/special"), "special")
        self.assertEqual(self.origin_of("/api/special/x"), "special")
        self.assertEqual(self.origin_of("/api/specia"), "api")
        self.assertEqual(self.origin_of("/api/"), "api")

    def test_star_matches_across_slashes(self):
        self.assertEqual(self.origin_of("/a/b/c.jpg"), "jpg")
        self.assertEqual(self.origin_of("/c.jpg"), "jpg")
        self.assertEqual(self.origin_of("/a/b/c.jpgx"), "site")
        # The query string is not part of the path that patterns see.
        self.assertEqual(self.origin_of("/a.jpg?size=2"), "jpg")
        self.assertEqual(self.origin_of("/a.png?x=.jpg"), "site")

    def test_question_mark_matches_one_character(self):
        self.assertEqual(self.origin_of("/v1/ping"), "special")
        self.assertEqual(self.origin_of("/v10/ping"), "site")
        self.assertEqual(self.origin_of("/v/ping"), "site")

    def test_patterns_are_case_sensitive(self):
        self.assertEqual(self.origin_of("/API/x"), "site")
        self.assertEqual(self.origin_of("/a/B.JPG"), "site")

    def test_api_root_without_slash_uses_default(self):
        self.assertEqual(self.origin_of("/api"), "site")

    # -- allowed methods -------------------------------------------------------------------------
    def test_default_methods_get_head_only(self):
        before = self.site.request_count
        for m in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
            body = b"x" if m in ("POST", "PUT", "PATCH") else None
            r = h.http_request(self.port, m, "/thing", body=body)
            self.assertEqual(r.status, 403, f"{m} /thing -> {r.status}")
        self.assertEqual(self.site.request_count, before, "a refused method reached the origin")
        r = h.http_request(self.port, "HEAD", "/thing")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")

    def test_all_seven_methods_on_api(self):
        for m in ("GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"):
            body = b"payload-" + m.encode() if m in ("PUT", "POST", "PATCH") else None
            r = h.http_request(self.port, m, "/api/echo", body=body)
            self.assertEqual(r.status, 200, f"{m} -> {r.status}")
            if m == "HEAD":
                self.assertEqual(r.body, b"")
                continue
            e = json.loads(r.body)
            self.assertEqual(e["method"], m)
            if body:
                self.assertEqual(e["body"].encode("latin-1"), body)

    # -- request headers the origin sees ----------------------------------------------------------
    def test_origin_host_header_is_origins_authority(self):
        _, e = self.echo("/api/echo", host="localhost")
        hosts = [v for k, v in e["headers"] if k.lower() == "host"]
        self.assertEqual(hosts, [f"127.0.0.1:{self.api.port}"])

    def test_amz_cf_id_forwarded_and_matches_response(self):
        r, e = self.echo()
        rid = r.header("X-Amz-Cf-Id")
        self.assertTrue(rid)
        sent = [v for k, v in e["headers"] if k.lower() == "x-amz-cf-id"]
        self.assertEqual(sent, [rid])

    def test_via_to_origin(self):
        r, e = self.echo()
        via = [v for k, v in e["headers"] if k.lower() == "via"]
        self.assertEqual(len(via), 1, e["headers"])
        self.assertRegex(via[0], ORIGIN_VIA_RE)
        self.assertEqual(via[0], r.header("Via"))

    def test_x_forwarded_for(self):
        _, e = self.echo()
        xff = [v for k, v in e["headers"] if k.lower() == "x-forwarded-for"]
        self.assertEqual(xff, ["127.0.0.1"])
        _, e = self.echo(headers={"X-Forwarded-For": "203.0.113.7"})
        xff = [v for k, v in e["headers"] if k.lower() == "x-forwarded-for"]
        self.assertEqual(xff, ["203.0.113.7, 127.0.0.1"])

    def test_hop_by_hop_request_headers_removed(self):
        hdrs = [("Connection", "keep-alive, X-Hop"), ("X-Hop", "1"), ("Keep-Alive", "300"),
                ("TE", "trailers"), ("Trailer", "X-T"), ("Upgrade", "foo/1"),
                ("Proxy-Authorization", "Basic eDp5"), ("Proxy-Connection", "keep-alive"),
                ("X-Custom", "kept")]
        with h.RawConn(self.port) as c:
            c.request("GET", "/api/echo", headers=hdrs)
            r = c.read_response()
        self.assertEqual(r.status, 200, r.body[:300])
        e = json.loads(r.body)
        names = [k.lower() for k, _ in e["headers"]]
        for hb in HOP_BY_HOP:
            self.assertNotIn(hb, names, f"{hb} reached the origin: {e['headers']}")
        self.assertIn(["X-Custom", "kept"], [[k, v] for k, v in e["headers"]])

    def test_httpoxy_proxy_header_removed_other_proxy_fields_forwarded(self):
        # "Proxy" is stripped (httpoxy, CVE-2016-5385); other Proxy-* names are not hop-by-hop
        # under RFC 9110 §7.6.1 and pass through like any end-to-end field.
        with h.RawConn(self.port) as c:
            c.request("GET", "/api/echo", headers=[("Proxy", "http://evil.test:1"),
                                                   ("Proxy-Foo", "bar")])
            r = c.read_response()
        self.assertEqual(r.status, 200, r.body[:300])
        names = [k.lower() for k, _ in json.loads(r.body)["headers"]]
        self.assertNotIn("proxy", names)
        self.assertIn("proxy-foo", names)

    def test_end_to_end_request_headers_forwarded(self):
        hdrs = {"User-Agent": "it-agent/1.0", "Cookie": "a=1; b=2", "Authorization": "Bearer zz",
                "Accept": "application/json", "X-Custom": "v1", "Referer": "http://r.test/"}
        _, e = self.echo(headers=hdrs)
        got = {k.lower(): v for k, v in e["headers"]}
        for k, v in hdrs.items():
            self.assertEqual(got.get(k.lower()), v, f"{k} not forwarded: {e['headers']}")

    def test_repeated_request_header_keeps_all_values(self):
        with h.RawConn(self.port) as c:
            c.request("GET", "/api/echo", headers=[("X-Multi", "one"), ("X-Multi", "two")])
            r = c.read_response()
        e = json.loads(r.body)
        vals = [v for k, v in e["headers"] if k.lower() == "x-multi"]
        joined = ",".join(v.replace(" ", "") for v in vals)
        self.assertEqual(joined, "one,two", vals)

    def test_request_body_forwarded(self):
        body = h.pattern_bytes(5000)
        r, e = self.echo(method="POST", body=body)
        self.assertEqual(e["body_len"], 5000)
        self.assertEqual(e["body"].encode("latin-1"), body)

    # -- response headers the viewer sees ---------------------------------------------------------
    def test_response_cloudfront_headers(self):
        ids = set()
        for _ in range(20):
            r = h.get(self.port, "/x")
            self.assertEqual(r.status, 200)
            self.assertRegex(r.header("Via", ""), VIA_RE)
            self.assertEqual(r.header("X-Amz-Cf-Pop"), "LOCAL1-P1")
            self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")
            rid = r.header("X-Amz-Cf-Id")
            self.assertTrue(rid)
            self.assertRegex(rid, r"^[A-Za-z0-9_=-]{20,}$")
            ids.add(rid)
        self.assertEqual(len(ids), 20, "X-Amz-Cf-Id repeated")

    def test_via_is_stable_per_distribution(self):
        a = h.get(self.port, "/x", host="localhost").header("Via")
        b = h.get(self.port, "/x", host="other.test").header("Via")
        self.assertRegex(a, VIA_RE)
        self.assertRegex(b, VIA_RE)
        self.assertEqual(a, h.get(self.port, "/y", host="localhost").header("Via"))

    def test_x_cache_error_for_origin_4xx_5xx(self):
        for code in (400, 403, 404, 500, 503):
            r = h.get(self.port, f"/status?code={code}")
            self.assertEqual(r.status, code)
            self.assertEqual(r.body, f"status {code}\n".encode())
            self.assertEqual(r.header("X-Cache"), "Error from cloudfront", code)
            self.assertTrue(r.header("X-Amz-Cf-Id"))

    def test_x_cache_miss_for_2xx_3xx(self):
        for code in (200, 201, 204, 301, 302, 307):
            path = f"/status?code={code}"
            if 300 <= code < 400:
                path += "&location=/elsewhere"
            r = h.get(self.port, path)
            self.assertEqual(r.status, code)
            self.assertEqual(r.header("X-Cache"), "Miss from cloudfront", code)
            if 300 <= code < 400:
                self.assertEqual(r.header("Location"), "/elsewhere")

    def test_origin_hop_by_hop_response_headers_removed(self):
        with h.RawConn(self.port) as c:
            c.request("GET", "/hop")
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hop\n")
        self.assertIsNone(r.header("X-Foo"), r.headers)
        self.assertIsNone(r.header("Keep-Alive"), r.headers)
        for v in r.header_all("Connection"):
            self.assertNotIn("x-foo", v.lower())
        self.assertEqual(r.header("X-Keep"), "yes")

    def test_origin_response_headers_passed_through(self):
        r = h.get(self.port, "/x")
        self.assertEqual(r.header("X-Origin-Name"), "site")
        self.assertEqual(r.header("Content-Type"), "text/plain")
        self.assertEqual(r.body, b"hello from site\n")


class PopTest(h.PorticoTestCase):
    def test_pop_is_configurable(self):
        o = h.make_origin(self, "o")
        p = h.make_portico(self, h.simple_config(o.url, extra_server="  pop: TEST9-P2\n"))
        r = h.get(p.port("http"), "/x")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Amz-Cf-Pop"), "TEST9-P2")


if __name__ == "__main__":
    h.run_main()
