"""Admin listener (/healthz, /metrics, POST /reload with a bearer token), configuration reload
through the API and SIGHUP, and reload under load without failed requests."""

import os
import signal
import threading
import time

import harness as h

TOKEN = "it-s3cret-token"


def make_config(origins, target="a", other_aliases=("other.test",), bad_url=False):
    q = h.yaml_str
    url_a = "http://exa mple:notaport" if bad_url else origins["a"].url
    aliases = ", ".join(q(a) for a in other_aliases)
    return f"""server: {{ client_header_timeout: 5s, idle_timeout: 30s, shutdown_timeout: 10s }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
distributions:
  - id: web
    aliases: [localhost]
    origins:
      - {{ id: a, custom_origin: {{ url: {q(url_a)} }} }}
      - {{ id: b, custom_origin: {{ url: {q(origins["b"].url)} }} }}
    default_cache_behavior: {{ target_origin_id: {target} }}
    cache_behaviors:
      - {{ path_pattern: "/api/*", target_origin_id: a, allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE] }}
  - id: other
    aliases: [{aliases}]
    origins: [ {{ id: c, custom_origin: {{ url: {q(origins["c"].url)} }} }} ]
    default_cache_behavior: {{ target_origin_id: c }}
admin: {{ address: "127.0.0.1:0", token_env: PORTICO_ADMIN_TOKEN }}
"""


def served_by(port, path="/x", host="localhost", conn=None):
    if conn is not None:
        conn.request("GET", path, host=host)
        r = conn.read_response()
    else:
        r = h.get(port, path, host=host)
    assert r.status == 200, (r.status, r.body[:200])
    return r.header("X-Origin-Name")


class _Base(h.PorticoTestCase):
    def start(self, env=None, target="a"):
        self.origins = {n: h.make_origin(self, n) for n in ("a", "b", "c")}
        e = {"PORTICO_ADMIN_TOKEN": TOKEN}
        if env is not None:
            e = env
        self.p = h.make_portico(self, make_config(self.origins, target=target), env=e)
        self.port = self.p.port("http")
        self.admin = self.p.admin_port

    def reload(self, token=TOKEN):
        return h.admin_request(self.admin, "POST", "/reload", token=token)

    def metrics(self):
        r = h.admin_request(self.admin, "GET", "/metrics")
        self.assertEqual(r.status, 200)
        return r, h.parse_metrics(r.body.decode())


class AdminTest(_Base):
    def setUp(self):
        super().setUp()
        self.start()

    def test_healthz(self):
        r = h.admin_request(self.admin, "GET", "/healthz")
        self.assertEqual(r.status, 200)

    def test_admin_listener_logged(self):
        self.p.wait_for_log(rf"listening name=admin address=127\.0\.0\.1:{self.admin}\b")

    def test_requests_total_counts_by_status_class(self):
        def value(cls):
            _, m = self.metrics()
            return h.metric_value(m, "portico_requests_total", distribution="web",
                                  status_class=cls) or 0
        ok0, e0 = value("2xx"), value("4xx")
        for _ in range(3):
            self.assertEqual(h.get(self.port, "/x").status, 200)
        self.assertEqual(h.get(self.port, "/status?code=404").status, 404)
        h.wait_until(lambda: value("2xx") >= ok0 + 3 and value("4xx") >= e0 + 1,
                     message="portico_requests_total to count the requests")
        self.assertEqual(value("2xx"), ok0 + 3)
        self.assertEqual(value("4xx"), e0 + 1)

    def test_requests_total_line_format(self):
        h.get(self.port, "/x")
        h.wait_until(lambda: 'portico_requests_total{' in self.metrics()[0].body.decode(),
                     message="portico_requests_total")
        r, _ = self.metrics()
        self.assertTrue(r.header("Content-Type", "").startswith("text/plain"), r.header("Content-Type"))
        text = r.body.decode()
        self.assertRegex(text, r'(?m)^portico_requests_total\{[^}]*distribution="web"[^}]*'
                               r'status_class="2xx"[^}]*\} \d+(\.0+)?$|'
                               r'^portico_requests_total\{[^}]*status_class="2xx"[^}]*'
                               r'distribution="web"[^}]*\} \d+(\.0+)?$')

    def test_byte_counters(self):
        def values():
            _, m = self.metrics()
            return (h.metric_value(m, "portico_received_bytes_total"),
                    h.metric_value(m, "portico_sent_bytes_total"))
        rx0, tx0 = values()
        self.assertIsNotNone(rx0, "portico_received_bytes_total missing")
        self.assertIsNotNone(tx0, "portico_sent_bytes_total missing")
        body = b"u" * 10000
        self.assertEqual(h.http_request(self.port, "POST", "/api/upload", body=body).status, 200)
        self.assertEqual(len(h.get(self.port, "/100k").body), 100 * 1024)
        h.wait_until(lambda: values()[0] >= rx0 + 10000 and values()[1] >= tx0 + 100 * 1024,
                     message="byte counters to include a 10 KB request and a 100 KiB response")

    def test_open_connections(self):
        def value():
            _, m = self.metrics()
            return h.metric_value(m, "portico_open_connections")
        self.assertIsNotNone(value(), "portico_open_connections missing")
        conns = [h.RawConn(self.port) for _ in range(3)]
        try:
            for c in conns:
                c.request("GET", "/x")
                self.assertEqual(c.read_response().status, 200)
            with_open = h.wait_until(lambda: (value() or 0) >= 3 and value(),
                                     message="portico_open_connections >= 3")
        finally:
            for c in conns:
                c.close()
        h.wait_until(lambda: value() <= with_open - 3,
                     message="portico_open_connections to drop after closing 3 connections")

    def test_origin_latency_histogram(self):
        for _ in range(3):
            h.get(self.port, "/x")

        def buckets():
            _, m = self.metrics()
            return [(l, v) for n, l, v in m if n == "portico_origin_latency_seconds_bucket"]
        bs = h.wait_until(lambda: [b for b in buckets() if b[1] > 0],
                          message="a non-empty portico_origin_latency_seconds bucket")
        bs = buckets()
        self.assertTrue(all("le" in l for l, _ in bs))
        self.assertTrue(any(l["le"] == "+Inf" for l, _ in bs), "no le=\"+Inf\" bucket")
        series = {}
        for l, v in bs:
            key = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
            le = float("inf") if l["le"] == "+Inf" else float(l["le"])
            series.setdefault(key, []).append((le, v))
        for key, pts in series.items():
            vals = [v for _, v in sorted(pts)]
            self.assertEqual(vals, sorted(vals), f"buckets not cumulative for {key}")
        self.assertTrue(any(max(v for _, v in pts) >= 3 for pts in series.values()))

    def test_reload_requires_token(self):
        r = self.reload(token=None)
        self.assertEqual(r.status, 401)
        r = self.reload(token="wrong-token")
        self.assertEqual(r.status, 401)
        r = h.http_request(self.admin, "POST", "/reload", host=f"127.0.0.1:{self.admin}",
                           headers={"Authorization": f"Basic {TOKEN}"})
        self.assertEqual(r.status, 401)
        r = self.reload(token=TOKEN[:-1])
        self.assertEqual(r.status, 401)

    def test_metrics_unaffected_by_admin_auth(self):
        self.assertEqual(h.admin_request(self.admin, "GET", "/metrics").status, 200)


class AdminNoTokenEnvTest(_Base):
    def test_reload_forbidden_when_token_env_unset(self):
        self.start(env={"PORTICO_ADMIN_TOKEN": None})
        self.assertEqual(self.reload(token=TOKEN).status, 403)
        self.assertEqual(self.reload(token=None).status, 403)
        self.assertEqual(self.reload(token="").status, 403)
        self.assertEqual(served_by(self.port), "a")


class ReloadTest(_Base):
    def setUp(self):
        super().setUp()
        self.start()

    def test_reload_changes_behavior_target(self):
        self.assertEqual(served_by(self.port), "a")
        keep = h.RawConn(self.port)
        self.addCleanup(keep.close)
        self.assertEqual(served_by(self.port, conn=keep), "a")
        self.p.write_config(make_config(self.origins, target="b"))
        r = self.reload()
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(served_by(self.port), "b")
        # The keep-alive connection opened before the reload is still served.
        self.assertIn(served_by(self.port, conn=keep), ("a", "b"))
        self.assertFalse(keep.eof)

    def test_reload_changes_alias(self):
        self.assertEqual(served_by(self.port, host="new.test"), "a")  # fallback: first one
        self.p.write_config(make_config(self.origins, other_aliases=("other.test", "new.test")))
        self.assertEqual(self.reload().status, 200)
        self.assertEqual(served_by(self.port, host="new.test"), "c")
        self.assertEqual(served_by(self.port, host="other.test"), "c")

    def test_invalid_config_rejected_and_old_one_kept(self):
        keep = h.RawConn(self.port)
        self.addCleanup(keep.close)
        self.assertEqual(served_by(self.port, conn=keep), "a")
        self.p.write_config(make_config(self.origins, target="b", bad_url=True))
        r = self.reload()
        self.assertEqual(r.status, 400)
        msg = r.body.decode(errors="replace")
        self.assertIn("distributions[0].origins[0].custom_origin.url", msg)
        self.assertRegex(msg, r"portico\.yaml:\d+:\d+:")
        self.assertEqual(served_by(self.port), "a")
        self.assertEqual(served_by(self.port, conn=keep), "a")
        # A later valid reload still works.
        self.p.write_config(make_config(self.origins, target="b"))
        self.assertEqual(self.reload().status, 200)
        self.assertEqual(served_by(self.port), "b")

    def test_reload_with_unparsable_yaml(self):
        self.p.write_config("distributions: [ {{ broken\n")
        r = self.reload()
        self.assertEqual(r.status, 400)
        self.assertRegex(r.body.decode(errors="replace"), r"portico\.yaml:\d+:\d+:")
        self.assertEqual(served_by(self.port), "a")

    def test_sighup_reload(self):
        mark = self.p.log_mark()
        self.p.write_config(make_config(self.origins, target="b"))
        self.p.signal(signal.SIGHUP)
        self.p.wait_for_log(r"reload ok", since=mark)
        self.assertEqual(served_by(self.port), "b")

    def test_sighup_invalid_config(self):
        mark = self.p.log_mark()
        self.p.write_config(make_config(self.origins, target="b", bad_url=True))
        self.p.signal(signal.SIGHUP)
        self.p.wait_for_log(r"reload failed", since=mark)
        self.assertTrue(self.p.alive())
        self.assertEqual(served_by(self.port), "a")
        mark = self.p.log_mark()
        self.p.write_config(make_config(self.origins, target="b"))
        self.p.signal(signal.SIGHUP)
        self.p.wait_for_log(r"reload ok", since=mark)
        self.assertEqual(served_by(self.port), "b")

    def test_reload_under_load(self):
        stop = threading.Event()
        lock = threading.Lock()
        stats = {"ok": 0, "failures": []}

        def client(idx):
            conn = None
            while not stop.is_set():
                try:
                    if conn is None:
                        conn = h.RawConn(self.port)
                    conn.request("GET", f"/x?c={idx}")
                    r = conn.read_response()
                    if r.status != 200:
                        raise AssertionError(f"status {r.status}")
                    if any("close" in v.lower() for v in r.header_all("Connection")):
                        conn.close()
                        conn = None  # a graceful close is allowed; reconnect
                    with lock:
                        stats["ok"] += 1
                except Exception as e:  # noqa: BLE001 - every failure counts
                    with lock:
                        stats["failures"].append(f"client {idx}: {e!r}")
                    if conn:
                        conn.close()
                    conn = None
            if conn:
                conn.close()

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(4)]
        for t in threads:
            t.start()
        try:
            targets = ["b", "a", "b", "a", "b"]
            for target in targets:
                with lock:
                    base = stats["ok"]
                h.wait_until(lambda: stats["ok"] >= base + 20, message="load between reloads")
                self.p.write_config(make_config(self.origins, target=target))
                r = self.reload()
                self.assertEqual(r.status, 200, r.body)
            with lock:
                base = stats["ok"]
            h.wait_until(lambda: stats["ok"] >= base + 20, message="load after the last reload")
        finally:
            stop.set()
            for t in threads:
                t.join(15)
        self.assertEqual(stats["failures"], [], f"{len(stats['failures'])} failed requests "
                                                 f"out of {stats['ok']} during 5 reloads")
        self.assertEqual(served_by(self.port), "b")


if __name__ == "__main__":
    h.run_main()
