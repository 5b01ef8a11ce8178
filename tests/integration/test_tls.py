"""HTTPS listeners and the ACM stand-in against the real binary with real clients (curl, openssl
s_client/verify, h2load, Python's ssl): SNI picks exact over wildcard over the listener default
(or refuses unknown names when asked), ALPN negotiates h2 and http/1.1, the security policy's
minimum version is enforced, viewer_protocol_policy redirects or refuses plain HTTP, HTTP/2 over
TLS carries the cache and load-balancer routes, the local CA's root verifies the issued chain,
keys are 0600, and a renewal and a certificate file swap under load fail no request."""

import hashlib
import json
import os
import re
import socket
import ssl
import stat
import subprocess
import threading
import time

import h2util as h2
import harness as h

TOKEN_ENV = "PORTICO_IT_TLS_TOKEN"
TOKEN = "tls-test-token"


def openssl(args, input_bytes=b"", check=True, timeout=30):
    out = subprocess.run(["openssl"] + args, input=input_bytes, capture_output=True,
                         timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"openssl {args}: {out.stderr.decode(errors='replace')}")
    return out


def make_self_signed(directory, cn, days=30):
    key = os.path.join(directory, f"{cn}.key.new")
    crt = os.path.join(directory, f"{cn}.pem.new")
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", crt, "-days", str(days), "-subj", f"/CN={cn}",
             "-addext", f"subjectAltName=DNS:{cn}"])
    return crt, key


def peer_cert_pem(port, server_name):
    """The leaf the server presents for `server_name` (None: no SNI), PEM."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as s:
            der = s.getpeercert(binary_form=True)
    return ssl.DER_cert_to_PEM_cert(der)


def cert_facts(pem):
    text = openssl(["x509", "-noout", "-subject", "-serial", "-ext", "subjectAltName"],
                   pem.encode()).stdout.decode()
    subject = re.search(r"subject=.*CN\s*=\s*([^\s,/]+)", text).group(1)
    serial = re.search(r"serial=([0-9A-F]+)", text).group(1)
    return subject, serial, text


def curl_https(url, extra=(), resolve_port=None, host="localhost"):
    args = ["curl", "-s", "-k", "--max-time", "20", "-o", "-", "-w", "\n%{http_code} %{http_version}"]
    if resolve_port:
        args += ["--resolve", f"{host}:{resolve_port}:127.0.0.1"]
    out = subprocess.run(args + list(extra) + [url], capture_output=True, timeout=60)
    body, _, tail = out.stdout.rpartition(b"\n")
    code, version = tail.decode().split()
    return int(code), version, body, out


class TlsConfigErrorTest(h.PorticoTestCase):
    """A key that does not match its certificate: a config error naming the file, exit 2, at
    check time, at startup, and on reload (the old certificate keeps serving)."""

    def test_mismatched_key(self):
        tmp = h.make_tmpdir(self)
        crt, key = make_self_signed(tmp, "a.test")
        crt2, key2 = make_self_signed(tmp, "b.test")
        good_key = os.path.join(tmp, "site.key")
        os.rename(key, good_key)
        os.rename(crt, os.path.join(tmp, "site.pem"))
        bad_key = os.path.join(tmp, "other.key")
        os.rename(key2, bad_key)
        cfg = f"""state_dir: {h.yaml_str(os.path.join(tmp, "state"))}
admin: {{ address: "127.0.0.1:0", token_env: {TOKEN_ENV} }}
certificates:
  - {{ name: site, certificate_file: site.pem, private_key_file: KEY }}
listeners:
  - {{ name: https, address: "127.0.0.1:0", protocol: HTTPS, certificates: [site] }}
distributions:
  - id: web
    origins: [ {{ id: d, directory_origin: {{ path: {h.yaml_str(tmp)} }} }} ]
    default_cache_behavior: {{ target_origin_id: d }}
"""
        path = os.path.join(tmp, "portico.yaml")
        with open(path, "w") as f:
            f.write(cfg.replace("KEY", "other.key"))
        r = h.run_portico(["check", "-c", path])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("other.key", r.stderr)
        self.assertIn("portico.yaml:", r.stderr)
        # Serving with the right key, then a reload to the wrong one is refused.
        p = h.make_portico(self, cfg.replace("KEY", "site.key"), workers=1,
                           env={TOKEN_ENV: TOKEN}, tmpdir=tmp)
        before = cert_facts(peer_cert_pem(p.port("https"), "a.test"))[1]
        p.write_config(cfg.replace("KEY", "other.key"))
        r = h.admin_request(p.admin_port, "POST", "/reload", token=TOKEN)
        self.assertEqual(r.status, 400)
        self.assertIn(b"other.key", r.body)
        self.assertEqual(cert_facts(peer_cert_pem(p.port("https"), "a.test"))[1], before)


class TlsTest(h.PorticoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = h.make_tmpdir(cls)
        cls.origin = h.make_origin(cls, "site")
        cls.backend = h.make_origin(cls, "backend")
        crt, key = make_self_signed(cls.tmp, "shop.example.test")
        cls.shop_pem = os.path.join(cls.tmp, "shop.pem")
        cls.shop_key = os.path.join(cls.tmp, "shop.key")
        os.rename(crt, cls.shop_pem)
        os.rename(key, cls.shop_key)
        cls.state = os.path.join(cls.tmp, "state")
        q = h.yaml_str
        cfg = f"""server: {{ client_header_timeout: 5s, idle_timeout: 10s, shutdown_timeout: 5s }}
state_dir: {q(cls.state)}
admin: {{ address: "127.0.0.1:0", token_env: {TOKEN_ENV} }}
certificates:
  - {{ name: dev, domains: [localhost, "*.example.test"], issuer: local-ca, validity_days: 90, renew_before_days: 30 }}
  - {{ name: shop, certificate_file: {q(cls.shop_pem)}, private_key_file: {q(cls.shop_key)} }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
  - {{ name: https, address: "127.0.0.1:0", protocol: HTTPS, certificates: [dev, shop], ssl_policy: TLSv1.2_2021 }}
  - {{ name: strict, address: "127.0.0.1:0", protocol: HTTPS, certificates: [dev], unknown_sni: reject, http2: false }}
target_groups:
  - name: tg
    targets: ["127.0.0.1:{cls.backend.port}"]
    health_check: {{ enabled: false }}
load_balancers:
  - name: api
    listeners: [ {{ name: alb, address: "127.0.0.1:0", protocol: HTTPS, certificates: [dev] }} ]
    default_actions: [ {{ forward: {{ target_group: tg }} }} ]
distributions:
  - id: web
    aliases: [localhost, a.example.test, shop.example.test, unknown.test]
    origins:
      - {{ id: site, custom_origin: {{ url: {q(cls.origin.url)}, origin_read_timeout: 10s, connection_attempts: 1 }} }}
      - {{ id: alb, load_balancer: api }}
    default_cache_behavior: {{ target_origin_id: site }}
    cache_behaviors:
      - {{ path_pattern: "/secure/*", target_origin_id: site, viewer_protocol_policy: redirect-to-https, allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE] }}
      - {{ path_pattern: "/only/*", target_origin_id: site, viewer_protocol_policy: https-only }}
      - {{ path_pattern: "/cached/*", target_origin_id: site, cache_policy: Managed-CachingOptimized }}
      - {{ path_pattern: "/lb/*", target_origin_id: alb }}
"""
        cls.p = h.make_portico(cls, cfg, workers=2, env={TOKEN_ENV: TOKEN})
        cls.https = cls.p.port("https")
        cls.strict = cls.p.port("strict")
        cls.http = cls.p.port("http")

    def admin(self, method, path, body=None):
        return h.admin_request(self.p.admin_port, method, path, token=TOKEN, body=body)

    # ---- SNI, ALPN, versions ----

    def test_sni_exact_wildcard_default(self):
        self.assertEqual(cert_facts(peer_cert_pem(self.https, "shop.example.test"))[0],
                         "shop.example.test")
        for name in ("localhost", "a.example.test", "unknown.test", None):
            pem = peer_cert_pem(self.https, name)
            subject, _, text = cert_facts(pem)
            self.assertEqual(subject, "localhost", name)
            self.assertIn("DNS:*.example.test", text)
        # *.example.test covers one label only: x.y.example.test gets the default (also dev).
        self.assertEqual(cert_facts(peer_cert_pem(self.https, "x.y.example.test"))[0],
                         "localhost")

    def test_unknown_sni_rejected_when_asked(self):
        self.assertEqual(cert_facts(peer_cert_pem(self.strict, "localhost"))[0], "localhost")
        with self.assertRaises(ssl.SSLError) as cm:
            peer_cert_pem(self.strict, "unknown.test")
        self.assertIn("UNRECOGNIZED_NAME", str(cm.exception).upper())

    def test_alpn_h2_and_http11(self):
        base = f"https://localhost:{self.https}/hello"
        code, version, body, _ = curl_https(base, ["--http2"])
        self.assertEqual((code, version, body), (200, "2", b"hello from site\n"))
        code, version, _, _ = curl_https(base, ["--http1.1"])
        self.assertEqual((code, version), (200, "1.1"))
        # http2: false offers http/1.1 only.
        code, version, _, _ = curl_https(f"https://localhost:{self.strict}/hello", ["--http2"])
        self.assertEqual((code, version), (200, "1.1"))
        out = openssl(["s_client", "-connect", f"127.0.0.1:{self.https}", "-servername",
                       "localhost", "-alpn", "h2,http/1.1"], b"", timeout=20)
        self.assertIn(b"ALPN protocol: h2", out.stdout)

    def test_large_bodies_with_backpressure(self):
        """Big responses over TLS go through OpenSSL's bufferevent in the loop pass that queued
        them and then through its write events while the client reads slowly: pipelined
        HTTP/1.1 responses arrive whole and in order, and so does an HTTP/2 body read at a
        limited rate."""
        want = h.big_body_sha256(8)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        with socket.create_connection(("127.0.0.1", self.https), timeout=30) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                req = b"GET /big?mib=8 HTTP/1.1\r\nHost: localhost\r\n\r\n"
                tls.sendall(req + req + b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
                buf = b""

                def read_response():
                    nonlocal buf
                    while b"\r\n\r\n" not in buf:
                        chunk = tls.recv(4096)  # small reads: the server's output backs up
                        self.assertTrue(chunk, "connection closed before a response head")
                        buf += chunk
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
                    while len(buf) < length:
                        chunk = tls.recv(4096)
                        self.assertTrue(chunk, "connection closed inside a body")
                        buf += chunk
                    body, buf = buf[:length], buf[length:]
                    return head, body

                for _ in range(2):
                    head, body = read_response()
                    self.assertTrue(head.startswith(b"HTTP/1.1 200"), head[:40])
                    self.assertEqual(hashlib.sha256(body).hexdigest(), want)
                head, body = read_response()
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head[:40])
                self.assertEqual(body, b"hello from site\n")
        code, version, body, _ = curl_https(f"https://localhost:{self.https}/big?mib=8",
                                            ["--http2", "--limit-rate", "16M"])
        self.assertEqual((code, version), (200, "2"))
        self.assertEqual(hashlib.sha256(body).hexdigest(), want)

    def test_policy_minimum_version(self):
        addr = f"127.0.0.1:{self.https}"
        ok12 = openssl(["s_client", "-connect", addr, "-tls1_2", "-servername", "localhost"],
                       b"", check=False, timeout=20)
        self.assertIn(b"Protocol  : TLSv1.2", ok12.stdout)
        ok13 = openssl(["s_client", "-connect", addr, "-tls1_3", "-servername", "localhost"],
                       b"", check=False, timeout=20)
        self.assertIn(b"TLSv1.3", ok13.stdout)
        # A TLS 1.1 client (its own security level lowered so that it does offer TLS 1.1).
        old = openssl(["s_client", "-connect", addr, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0",
                       "-servername", "localhost"], b"", check=False, timeout=20)
        self.assertNotEqual(old.returncode, 0)
        self.assertIn(b"Cipher is (NONE)", old.stdout)

    def test_session_resumption(self):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.minimum_version = ctx.maximum_version = version
            session = None
            ids = []
            for attempt in range(3):
                with socket.create_connection(("127.0.0.1", self.https), timeout=10) as raw:
                    with ctx.wrap_socket(raw, server_hostname="localhost",
                                         session=session) as s:
                        # A request first: TLS 1.3 tickets arrive after the handshake.
                        s.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n"
                                  b"Connection: close\r\n\r\n")
                        while s.recv(65536):
                            pass
                        self.assertEqual(s.session_reused, attempt > 0, (version, attempt))
                        session = s.session
                        ids.append(session.id)
            if version == ssl.TLSVersion.TLSv1_3:
                # Each resumption brings a fresh ticket (clients use a TLS 1.3 ticket once,
                # RFC 8446 §C.4), and the next connection resumes with that one.
                self.assertEqual(len(set(ids)), 3, ids)
            else:
                self.assertEqual(len(set(ids)), 1, ids)  # TLS 1.2: the ticket stays valid

    # ---- viewer_protocol_policy ----

    def test_redirect_to_https_and_https_only(self):
        r = h.get(self.http, "/secure/page?x=1")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.headers.get("location"),
                         f"https://localhost:{self.https}/secure/page?x=1")
        self.assertEqual(r.headers.get("x-cache"), "Redirect from cloudfront")
        r = h.http_request(self.http, "POST", "/secure/page", body=b"x")
        self.assertEqual(r.status, 403)
        self.assertEqual(h.get(self.http, "/only/page").status, 403)
        self.assertEqual(h.get(self.http, "/hello").status, 200)
        code, _, _, _ = curl_https(f"https://localhost:{self.https}/secure/page")
        self.assertEqual(code, 200)
        code, _, _, _ = curl_https(f"https://localhost:{self.https}/only/page")
        self.assertEqual(code, 200)

    # ---- HTTP/2 over TLS ----

    def test_h2_cache_and_load_balancer(self):
        url = f"https://localhost:{self.https}/cached/thing"
        curl_https(url, ["--http2"])
        code, version, _, out = curl_https(url, ["--http2", "-D", "/dev/stderr"])
        self.assertEqual((code, version), (200, "2"))
        self.assertIn(b"x-cache: Hit from cloudfront", out.stderr)
        code, version, body, _ = curl_https(f"https://localhost:{self.https}/lb/echo", ["--http2"])
        self.assertEqual((code, version), (200, "2"))
        seen = json.loads(body)
        hdrs = {k.lower(): v for k, v in seen["headers"]}
        # CloudFront reaches the load balancer over HTTP (as with origin_protocol_policy
        # http-only): the target sees the hop's protocol, not the viewer's.
        self.assertEqual(hdrs.get("x-forwarded-proto"), "http")
        # On the load balancer's own HTTPS listener the target sees https and that port.
        alb = self.p.port("alb")
        code, version, body, _ = curl_https(f"https://localhost:{alb}/echo", ["--http2"])
        self.assertEqual((code, version), (200, "2"))
        hdrs = {k.lower(): v for k, v in json.loads(body)["headers"]}
        self.assertEqual(hdrs.get("x-forwarded-proto"), "https")
        self.assertEqual(hdrs.get("x-forwarded-port"), str(alb))

    def test_h2load_100_streams(self):
        res = subprocess.run(["h2load", "-n", "400", "-c", "2", "-m", "100",
                              f"https://127.0.0.1:{self.https}/hello"],
                             capture_output=True, text=True, timeout=60)
        self.assertIn("400 succeeded", res.stdout, res.stdout)
        self.assertIn("h2", res.stdout)

    def test_rapid_reset_over_tls(self):
        # A normal HTTP/2 client keeps working on its own connection during the attack.
        normal = []
        stop = threading.Event()

        def steady():
            while not stop.is_set():
                code, _, _, _ = curl_https(f"https://localhost:{self.https}/hello", ["--http2"])
                normal.append(code)

        t = threading.Thread(target=steady, daemon=True)
        t.start()
        c = h2.RawH2(self.https, tls=True)
        try:
            burst = b""
            for i in range(2000):
                sid = 1 + 2 * i
                burst += h2.frame(h2.HEADERS, h2.END_HEADERS | h2.END_STREAM, sid,
                                  h2.hpack(h2.request_fields("/hello", scheme="https")))
                burst += h2.frame(h2.RST_STREAM, 0, sid, h2.CANCEL.to_bytes(4, "big"))
            c.try_send(burst)
            self.assertIsNotNone(h2.goaway_code(c.frames_until_close(timeout=20)))
            h.wait_until(lambda: len(normal) >= 3, message="normal client requests")
        finally:
            c.close()
            stop.set()
            t.join(timeout=30)
        self.assertTrue(normal)
        self.assertEqual(set(normal), {200})

    # ---- the local CA ----

    def test_local_ca_root_verifies_issued_chain(self):
        root = subprocess.run([h.portico_bin(), "ca", "export", "--state-dir", self.state],
                              capture_output=True, timeout=30)
        self.assertEqual(root.returncode, 0, root.stderr)
        ca = os.path.join(self.tmp, "ca-export.pem")
        with open(ca, "wb") as f:
            f.write(root.stdout)
        leaf = os.path.join(self.tmp, "leaf.pem")
        with open(leaf, "w") as f:
            f.write(peer_cert_pem(self.https, "localhost"))
        out = openssl(["verify", "-CAfile", ca, "-purpose", "sslserver", "-verify_hostname",
                       "localhost", leaf])
        self.assertIn(b"OK", out.stdout)
        # A client that trusts only that root accepts the server (no -k).
        res = subprocess.run(["curl", "-s", "--cacert", ca, "-o", "/dev/null", "-w",
                              "%{http_code}", f"https://localhost:{self.https}/hello"],
                             capture_output=True, timeout=30)
        self.assertEqual(res.stdout, b"200")

    def test_keys_are_0600(self):
        keys = []
        for root, _dirs, files in os.walk(self.state):
            keys += [os.path.join(root, f) for f in files if f.endswith(".key")]
        self.assertTrue(keys)
        for k in keys:
            self.assertEqual(stat.S_IMODE(os.stat(k).st_mode), 0o600, k)

    def test_describe_certificates(self):
        r = self.admin("GET", "/certificates")
        self.assertEqual(r.status, 200)
        certs = {c["name"]: c for c in json.loads(r.body)["certificates"]}
        self.assertEqual(certs["dev"]["status"], "ISSUED")
        self.assertIn("https", certs["dev"]["in_use_by"])
        self.assertIn("strict", certs["dev"]["in_use_by"])
        self.assertEqual(certs["shop"]["status"], "ISSUED")

    # ---- swaps under load ----

    def test_renewal_and_file_swap_under_load(self):
        failures, done = [], 0
        stop = threading.Event()
        lock = threading.Lock()

        def load(name):
            nonlocal done
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            while not stop.is_set():
                try:  # a fresh handshake per request, so every swap is seen
                    with socket.create_connection(("127.0.0.1", self.https), timeout=10) as raw:
                        with ctx.wrap_socket(raw, server_hostname=name) as s:
                            s.sendall(f"GET /hello HTTP/1.1\r\nHost: {name}\r\n"
                                      "Connection: close\r\n\r\n".encode())
                            data = b""
                            while True:
                                chunk = s.recv(65536)
                                if not chunk:
                                    break
                                data += chunk
                    ok = data.startswith(b"HTTP/1.1 200") and data.endswith(b"hello from site\n")
                    with lock:
                        done += 1
                        if not ok:
                            failures.append(data[:200])
                except Exception as e:  # noqa: BLE001 - any failure counts
                    with lock:
                        failures.append(repr(e))

        threads = [threading.Thread(target=load, args=(n,), daemon=True)
                   for n in ("localhost", "shop.example.test", "localhost")]
        for t in threads:
            t.start()
        try:
            _, dev_serial, _ = cert_facts(peer_cert_pem(self.https, "localhost"))
            _, shop_serial, _ = cert_facts(peer_cert_pem(self.https, "shop.example.test"))
            h.wait_until(lambda: done >= 30, message="load running")
            r = self.admin("POST", "/certificates/dev/renew")
            self.assertEqual(r.status, 200, r.body)
            h.wait_until(lambda: cert_facts(peer_cert_pem(self.https, "localhost"))[1]
                         != dev_serial, message="renewed certificate served")
            # Replace the imported files (key first, then certificate), as certbot would.
            crt, key = make_self_signed(self.tmp, "shop.example.test")
            os.replace(key, self.shop_key)
            os.replace(crt, self.shop_pem)
            h.wait_until(lambda: cert_facts(peer_cert_pem(self.https, "shop.example.test"))[1]
                         != shop_serial, timeout=15, message="swapped file served")
            mark = done
            h.wait_until(lambda: done >= mark + 30, message="load after the swaps")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=20)
        self.assertEqual(failures, [])
        self.assertGreater(done, 60)


if __name__ == "__main__":
    h.run_main()
