"""Access log: CloudFront standard-log format (W3C header lines, 33 tab-separated fields per
request) written asynchronously to the configured file."""

import os
import re

import harness as h

FIELDS = ("date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
          "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id "
          "x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher "
          "x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port "
          "time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len "
          "sc-range-start sc-range-end").split()
IDX = {name: i for i, name in enumerate(FIELDS)}


class AccessLogTest(h.PorticoTestCase):
    def setUp(self):
        super().setUp()
        self.origin = h.make_origin(self, "site")
        tmp = h.make_tmpdir(self)
        self.log_path = os.path.join(tmp, "access.log")
        down = f"http://127.0.0.1:{h.down_origin_port()}"
        q = h.yaml_str
        cfg = f"""server: {{ client_header_timeout: 5s, idle_timeout: 10s, shutdown_timeout: 10s }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
distributions:
  - id: web
    aliases: [localhost]
    origins:
      - {{ id: site, custom_origin: {{ url: {q(self.origin.url)} }} }}
      - {{ id: down, custom_origin: {{ url: {q(down)}, connection_attempts: 1, connection_timeout: 1s }} }}
    default_cache_behavior: {{ target_origin_id: site }}
    cache_behaviors:
      - {{ path_pattern: "/down/*", target_origin_id: down }}
access_log: {{ enabled: true, path: {q(self.log_path)} }}
"""
        self.p = h.make_portico(self, cfg)
        self.port = self.p.port("http")

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def records(self):
        return [l.split("\t") for l in self.read_log().splitlines() if l and not l.startswith("#")]

    def wait_records(self, n):
        return h.wait_until(lambda: len(self.records()) >= n and self.records(),
                            message=f"{n} access-log records in {self.log_path}")

    def test_header_lines(self):
        h.get(self.port, "/x")
        self.wait_records(1)
        lines = self.read_log().splitlines()
        self.assertEqual(lines[0], "#Version: 1.0")
        self.assertTrue(lines[1].startswith("#Fields: "), lines[1])
        self.assertEqual(lines[1][len("#Fields: "):].split(), FIELDS)

    def test_one_record_per_request_with_fields(self):
        r1 = h.get(self.port, "/x/page.html?a=1&b=2",
                   headers={"User-Agent": "it-agent", "Referer": "http://ref.test/"})
        r2 = h.http_request(self.port, "HEAD", "/head-path")
        r3 = h.get(self.port, "/down/thing")
        self.assertEqual((r1.status, r2.status, r3.status), (200, 200, 502))
        recs = self.wait_records(3)
        self.assertEqual(len(recs), 3, recs)
        for rec in recs:
            self.assertEqual(len(rec), 33, rec)
            self.assertRegex(rec[IDX["date"]], r"^\d{4}-\d{2}-\d{2}$")
            self.assertRegex(rec[IDX["time"]], r"^\d{2}:\d{2}:\d{2}$")
            self.assertEqual(rec[IDX["c-ip"]], "127.0.0.1")
        by_id = {rec[IDX["x-edge-request-id"]]: rec for rec in recs}
        expected = [
            (r1, "GET", "/x/page.html", "200", "Miss"),
            (r2, "HEAD", "/head-path", "200", "Miss"),
            (r3, "GET", "/down/thing", "502", "Error"),
        ]
        for resp, method, stem, status, result in expected:
            rid = resp.header("X-Amz-Cf-Id")
            self.assertIn(rid, by_id, f"no record with x-edge-request-id {rid}")
            rec = by_id[rid]
            self.assertEqual(rec[IDX["cs-method"]], method)
            self.assertEqual(rec[IDX["cs-uri-stem"]], stem)
            self.assertEqual(rec[IDX["sc-status"]], status)
            self.assertEqual(rec[IDX["x-edge-result-type"]], result)
            self.assertEqual(rec[IDX["x-edge-response-result-type"]], result)
        rec1 = by_id[r1.header("X-Amz-Cf-Id")]
        self.assertEqual(rec1[IDX["cs-uri-query"]], "a=1&b=2")
        self.assertRegex(rec1[IDX["sc-bytes"]], r"^\d+$")
        self.assertGreater(int(rec1[IDX["sc-bytes"]]), len(r1.body))

    def test_records_in_request_order(self):
        ids = []
        with h.RawConn(self.port) as c:  # one connection: one worker, so one ordered stream
            for i in range(10):
                c.request("GET", f"/seq/{i}")
                ids.append(c.read_response().header("X-Amz-Cf-Id"))
        recs = self.wait_records(10)
        self.assertEqual([r[IDX["x-edge-request-id"]] for r in recs], ids)
        self.assertEqual([r[IDX["cs-uri-stem"]] for r in recs], [f"/seq/{i}" for i in range(10)])

    def test_tab_in_header_does_not_break_record(self):
        h.get(self.port, "/x", headers={"User-Agent": "agent with spaces\tand tab"})
        recs = self.wait_records(1)
        rec = recs[-1]
        self.assertEqual(len(rec), 33, f"a tab in User-Agent split the record: {rec}")


if __name__ == "__main__":
    h.run_main()
