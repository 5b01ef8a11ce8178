"""s3_origin end to end: Portico signs its origin requests with SigV4 against a real
S3-compatible server that verifies signatures (tests/s3/s3rver.js, @20minutes/s3rver 4.0.4),
serves odd keys and a 50 MiB object byte for byte, Range and conditional requests through a
caching and a CachingDisabled behavior, S3's error semantics (wrong secret, missing key as 403 or
404, S3 down), the SPA rewrite and default_root_object, and cache hits that never reach S3.
A scripted fake S3 (no node needed) checks the request's shape, 5xx/SlowDown retries with
backoff and S3's chunked error bodies."""

import hashlib
import http.client
import os
import signal
import socketserver
import threading
import time
import unittest
import urllib.parse

import harness as h
import s3util

KEY_ENV = "PORTICO_IT_S3_KEY"
SECRET_ENV = "PORTICO_IT_S3_SECRET"
BAD_KEY_ENV = "PORTICO_IT_S3_BAD_KEY"
BAD_SECRET_ENV = "PORTICO_IT_S3_BAD_SECRET"
FIFTY_MIB = 50 * 1024 * 1024

# Keys with spaces, unicode, '+', '~', '%' and sub-folders, as S3 stores them (decoded).
ODD_KEYS = ["a b.txt", "ünï/日本語 ü.txt", "a+b/c~d.txt", "tilde~only.txt", "100%.txt",
            "sp ace/(1)!*'.txt"]


def need_s3rver():
    ok, why = s3util.node_s3rver_available()
    if not ok:
        raise unittest.SkipTest(f"S3-compatible server unavailable: {why}")


def url_path(key):
    """The viewer's (percent-encoded) path for an S3 key."""
    return "/" + urllib.parse.quote(key, safe="/~")


def fetch_sha256(port, path, host="localhost", headers=None):
    """GET streamed into sha256: (status, headers, sha256 hex, length)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=h.DEFAULT_TIMEOUT * 6)
    try:
        hdrs = dict(headers or {})
        hdrs["Host"] = host
        conn.request("GET", path, headers=hdrs)
        r = conn.getresponse()
        d = hashlib.sha256()
        n = 0
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            d.update(chunk)
            n += len(chunk)
        return r.status, r.headers, d.hexdigest(), n
    finally:
        conn.close()


def pattern_sha256(size):
    d = hashlib.sha256()
    for chunk in s3util.pattern_chunks(size):
        d.update(chunk)
    return d.hexdigest()


class S3OriginTest(h.PorticoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        need_s3rver()
        cls.s3 = s3util.make_s3server(cls, buckets=("site", "spa"))
        cls.c = cls.s3.client()
        cls.api = h.make_origin(cls, "api")
        cls.bad_secret = "wrong-" + cls.s3.secret_key[::-1]
        q = h.yaml_str
        ep = q(cls.s3.endpoint)
        creds = (f"credentials: {{ access_key_id_env: {KEY_ENV}, "
                 f"secret_access_key_env: {SECRET_ENV} }}")
        bad = (f"credentials: {{ access_key_id_env: {BAD_KEY_ENV}, "
               f"secret_access_key_env: {BAD_SECRET_ENV} }}")
        timeouts = "origin_read_timeout: 20s, connection_timeout: 2s, connection_attempts: 1"
        cfg = f"""server: {{ client_header_timeout: 5s, idle_timeout: 10s, shutdown_timeout: 10s }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
cache: {{ memory_size: 160MiB, max_object_size: 64MiB }}
access_log: {{ path: "-" }}
distributions:
  - id: web
    aliases: [localhost]
    default_root_object: index.html
    origins:
      - {{ id: s3, s3_origin: {{ bucket: site, region: us-east-1, endpoint: {ep}, {creds}, {timeouts} }} }}
      - {{ id: m404, s3_origin: {{ bucket: site, region: us-east-1, endpoint: {ep}, missing_object: 404, {creds}, {timeouts} }} }}
      - {{ id: badsig, s3_origin: {{ bucket: site, region: us-east-1, endpoint: {ep}, {bad}, {timeouts} }} }}
      - {{ id: anon, s3_origin: {{ bucket: site, region: us-east-1, endpoint: {ep}, origin_access_control: none, {timeouts} }} }}
      - {{ id: api, custom_origin: {{ url: {q(cls.api.url)}, origin_read_timeout: 5s, connection_attempts: 1 }} }}
    default_cache_behavior: {{ target_origin_id: s3, cache_policy: Managed-CachingOptimized }}
    cache_behaviors:
      - {{ path_pattern: "/nocache/*", target_origin_id: s3, cache_policy: Managed-CachingDisabled }}
      - {{ path_pattern: "/m404/*", target_origin_id: m404, cache_policy: Managed-CachingDisabled }}
      - {{ path_pattern: "/badsig/*", target_origin_id: badsig, cache_policy: Managed-CachingDisabled }}
      - {{ path_pattern: "/anon/*", target_origin_id: anon, cache_policy: Managed-CachingDisabled }}
      - {{ path_pattern: "/rw/*", target_origin_id: s3, cache_policy: Managed-CachingDisabled, allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE] }}
      - {{ path_pattern: "/api/*", target_origin_id: api }}
  - id: spa
    aliases: [spa.test]
    default_root_object: index.html
    origins:
      - {{ id: s3, s3_origin: {{ bucket: spa, region: us-east-1, endpoint: {ep}, {creds}, {timeouts} }} }}
    default_cache_behavior: {{ target_origin_id: s3, cache_policy: Managed-CachingOptimized }}
    custom_error_responses:
      - {{ error_code: 403, response_code: 200, response_page_path: /index.html, error_caching_min_ttl: 0 }}
      - {{ error_code: 404, response_code: 200, response_page_path: /index.html, error_caching_min_ttl: 0 }}
"""
        env = {KEY_ENV: cls.s3.access_key, SECRET_ENV: cls.s3.secret_key,
               BAD_KEY_ENV: cls.s3.access_key, BAD_SECRET_ENV: cls.bad_secret}
        cls.p = h.make_portico(cls, cfg, workers=2, env=env, extra_args=("--log-level", "debug"))
        cls.port = cls.p.port("http")
        # The example SPA, as the README uploads it.
        site = os.path.join(h.source_dir(), "examples", "site")
        for name, ctype in (("index.html", "text/html"), ("app.js", "text/javascript"),
                            ("style.css", "text/css")):
            with open(os.path.join(site, name), "rb") as f:
                cls.c.put_object("spa", name, f.read(), content_type=ctype)
        cls.c.put_object("site", "index.html", b"<h1>root object</h1>\n", content_type="text/html")

    def get(self, path, headers=None, host="localhost", method="GET", body=None):
        return h.http_request(self.port, method, path, host=host, headers=headers, body=body)

    def put(self, key, data, **kw):
        self.c.put_object("site", key, data, **kw)
        self.c.put_object("site", "nocache/" + key, data, **kw)

    def assert_no_secret_printed(self):
        out = "\n".join(self.p.stderr_lines + self.p.stdout_lines)
        for secret in (self.s3.secret_key, self.bad_secret):
            self.assertNotIn(secret, out)
        self.assertNotIn("Signature=", out)

    # ---- objects ----

    def test_odd_keys_byte_for_byte_with_headers(self):
        for i, key in enumerate(ODD_KEYS):
            data = f"object {i}: {key}\n".encode() * (i + 1)
            self.put(key, data, content_type="text/plain; charset=utf-8",
                     metadata={"origin": "s3-test"},
                     headers={"Cache-Control": "max-age=300"})
            for prefix in ("", "/nocache"):
                path = prefix + url_path(key)
                r = self.get(path)
                self.assertEqual(r.status, 200, (path, r.body))
                self.assertEqual(hashlib.sha256(r.body).hexdigest(),
                                 hashlib.sha256(data).hexdigest(), path)
                self.assertEqual(r.header("ETag"), '"%s"' % hashlib.md5(data).hexdigest())
                self.assertEqual(r.header("Content-Type"), "text/plain; charset=utf-8")
                self.assertEqual(r.header("x-amz-meta-origin"), "s3-test")
                self.assertEqual(r.header("Cache-Control"), "max-age=300")
                self.assertIsNotNone(r.header("Last-Modified"))
                self.assertEqual(r.header("X-Cache"), "Miss from cloudfront", path)
            # A second spelling of the same key (upper/lower-case escapes, '~' escaped) is the
            # same object, and a hit for the caching behavior.
            alt = url_path(key).replace("~", "%7E").replace("%C3", "%c3")
            if alt != url_path(key):
                r = self.get(alt)
                self.assertEqual((r.status, r.body), (200, data), alt)

    def test_fifty_mib_streamed_through_both_behaviors(self):
        self.c.put_object("site", "big/fifty mib.bin", s3util.pattern_chunks(FIFTY_MIB),
                          length=FIFTY_MIB)
        want = pattern_sha256(FIFTY_MIB)
        st, hdrs, got, n = fetch_sha256(self.port, "/big/fifty%20mib.bin")
        self.assertEqual((st, n, got), (200, FIFTY_MIB, want))
        self.assertEqual(hdrs.get("X-Cache"), "Miss from cloudfront")
        st, hdrs, got, n = fetch_sha256(self.port, "/big/fifty%20mib.bin")
        self.assertEqual((st, n, got), (200, FIFTY_MIB, want))
        self.assertEqual(hdrs.get("X-Cache"), "Hit from cloudfront")
        self.c.put_object("site", "nocache/big.bin", s3util.pattern_chunks(FIFTY_MIB),
                          length=FIFTY_MIB)
        st, hdrs, got, n = fetch_sha256(self.port, "/nocache/big.bin")
        self.assertEqual((st, n, got), (200, FIFTY_MIB, want))
        # A range deep inside, answered by S3 (CachingDisabled) and by the cache.
        data = b"".join(s3util.pattern_chunks(FIFTY_MIB))
        for path in ("/nocache/big.bin", "/big/fifty%20mib.bin"):
            r = self.get(path, {"Range": "bytes=40000000-40000099"})
            self.assertEqual(r.status, 206, path)
            self.assertEqual(r.header("Content-Range"), f"bytes 40000000-40000099/{FIFTY_MIB}")
            self.assertEqual(r.body, data[40000000:40000100], path)

    # ---- Range and conditionals ----

    def check_range_and_conditionals(self, prefix, expect_cache):
        data = b"0123456789abcdefghij"
        key = f"cond{prefix.replace('/', '-')}.txt"
        self.put(key, data, content_type="text/plain")
        path = prefix + "/" + key
        first = self.get(path)
        self.assertEqual((first.status, first.body), (200, data))
        etag = first.header("ETag")
        last_modified = first.header("Last-Modified")
        r = self.get(path, {"Range": "bytes=2-5"})
        self.assertEqual((r.status, r.body), (206, b"2345"))
        self.assertEqual(r.header("Content-Range"), f"bytes 2-5/{len(data)}")
        r = self.get(path, {"If-None-Match": etag})
        self.assertEqual((r.status, r.body), (304, b""))
        if expect_cache:
            # (s3rver's own 304 carries no ETag, unlike S3's: a gap of the fork, passed on as is.)
            self.assertEqual(r.header("ETag"), etag)
        r = self.get(path, {"If-Modified-Since": last_modified})
        self.assertEqual((r.status, r.body), (304, b""))
        r = self.get(path, {"If-None-Match": '"other"'})
        self.assertEqual((r.status, r.body), (200, data))
        if expect_cache:
            self.assertEqual(r.header("X-Cache"), "Hit from cloudfront")
        else:
            self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")

    def test_range_and_conditionals_caching_behavior(self):
        self.check_range_and_conditionals("", expect_cache=True)

    def test_range_and_conditionals_caching_disabled(self):
        # Passed through: S3 itself answers 206 and 304 (Portico forwards Range/If-*).
        self.check_range_and_conditionals("/nocache", expect_cache=False)

    def test_stale_object_revalidated_with_signed_validators(self):
        self.c.put_object("site", "short.txt", b"v1\n", headers={"Cache-Control": "max-age=1"})
        r = self.get("/short.txt")
        self.assertEqual((r.status, r.header("X-Cache")), (200, "Miss from cloudfront"))
        time.sleep(1.2)  # the TTL under test
        # S3 answers the signed If-None-Match with 304: the stored body is served again.
        r = self.get("/short.txt")
        self.assertEqual((r.status, r.body), (200, b"v1\n"))
        self.assertEqual(r.header("X-Cache"), "RefreshHit from cloudfront")
        self.c.put_object("site", "short.txt", b"v2\n", headers={"Cache-Control": "max-age=1"})
        time.sleep(1.2)
        r = self.get("/short.txt")
        self.assertEqual((r.status, r.body), (200, b"v2\n"))
        self.assertEqual(r.header("X-Cache"), "Miss from cloudfront")

    # ---- errors ----

    def test_wrong_secret_passes_s3_403_and_logs_signature_problem(self):
        self.put("signed.txt", b"needs a good signature\n")
        self.c.put_object("site", "badsig/signed.txt", b"needs a good signature\n")
        mark = self.p.log_mark()
        r = self.get("/badsig/signed.txt")
        self.assertEqual(r.status, 403)
        self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", r.body)
        self.assertEqual(r.header("X-Cache"), "Error from cloudfront")
        self.p.wait_for_log(r"warn: origin web/badsig: GET /badsig/signed\.txt: signature "
                            r"mismatch \(S3 403 SignatureDoesNotMatch\)", since=mark)
        # The good origin signs the same request correctly.
        self.assertEqual(self.get("/nocache/signed.txt").status, 200)
        self.assert_no_secret_printed()

    def test_missing_key_403_or_404_by_setting(self):
        for method in ("GET", "HEAD"):
            r = self.get("/nocache/no/such key.txt".replace(" ", "%20"), method=method)
            self.assertEqual(r.status, 403, method)
            self.assertEqual(r.header("Content-Type"), "application/xml")
            if method == "GET":
                self.assertIn(b"<Code>AccessDenied</Code>", r.body)
                self.assertNotIn(b"NoSuchKey", r.body)
            r = self.get("/m404/no/such-key.txt", method=method)
            self.assertEqual(r.status, 404, method)
            if method == "GET":
                self.assertIn(b"<Code>NoSuchKey</Code>", r.body)
        # Through the caching behavior: the 403 is an error response, cached briefly as CloudFront
        # does (error_caching_min_ttl 10 s by default).
        r = self.get("/never-there.txt")
        self.assertEqual((r.status, r.header("X-Cache")), (403, "Error from cloudfront"))
        self.assertIn(b"AccessDenied", r.body)

    def test_unsigned_requests_are_refused_by_a_private_bucket(self):
        self.put("anon/x.txt", b"x")
        r = self.get("/anon/x.txt")
        self.assertEqual(r.status, 403)
        self.assertIn(b"<Code>AccessDenied</Code>", r.body)

    def test_methods_other_than_get_and_head_get_access_denied(self):
        for method, body in (("PUT", b"new content"), ("POST", b"x=1"), ("DELETE", None),
                             ("PATCH", b"p"), ("OPTIONS", None)):
            r = self.get("/rw/file.txt", method=method, body=body)
            self.assertEqual(r.status, 403, method)
            self.assertEqual(r.header("Content-Type"), "application/xml", method)
            self.assertIn(b"<Code>AccessDenied</Code>", r.body, method)
            self.assertEqual(r.header("X-Cache"), "Error from cloudfront")
        # CloudFront: a GET with a body gets 403.
        r = self.get("/nocache/a%20b.txt", body=b"body on a GET")
        self.assertEqual(r.status, 403)

    def test_bad_percent_encoding_is_400(self):
        r = self.get("/nocache/bad%zzescape")
        self.assertEqual(r.status, 400)

    # ---- root object, SPA, other origins ----

    def test_default_root_object(self):
        r = self.get("/")
        self.assertEqual((r.status, r.body), (200, b"<h1>root object</h1>\n"))

    def test_spa_rewrite_on_s3(self):
        with open(os.path.join(h.source_dir(), "examples", "site", "index.html"), "rb") as f:
            index = f.read()
        r = self.get("/", host="spa.test")
        self.assertEqual((r.status, r.body), (200, index))
        for route in ("/about", "/docs/routing", "/deep/link/with%20space"):
            r = self.get(route, host="spa.test")
            self.assertEqual(r.status, 200, route)
            self.assertEqual(r.body, index, route)
            self.assertEqual(r.header("Content-Type"), "text/html")
        r = self.get("/app.js", host="spa.test")
        self.assertEqual(r.status, 200)
        self.assertIn(b"history.pushState", r.body)
        self.assertEqual(self.get("/style.css", host="spa.test").header("Content-Type"),
                         "text/css")

    def test_custom_origin_alongside(self):
        r = self.get("/api/hello")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Origin-Name"), "api")


class S3DownTest(h.PorticoTestCase):
    """Cache hits never reach S3, and S3 going away only affects its own origin."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        need_s3rver()
        cls.s3 = s3util.make_s3server(cls, buckets=("site",))
        cls.api = h.make_origin(cls, "api")
        q = h.yaml_str
        cfg = f"""server: {{ client_header_timeout: 5s, idle_timeout: 10s, shutdown_timeout: 10s }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
distributions:
  - id: web
    aliases: [localhost]
    origins:
      - {{ id: s3, s3_origin: {{ bucket: site, region: us-east-1, endpoint: {q(cls.s3.endpoint)}, credentials: {{ access_key_id_env: {KEY_ENV}, secret_access_key_env: {SECRET_ENV} }}, connection_timeout: 1s, connection_attempts: 1, origin_read_timeout: 5s }} }}
      - {{ id: api, custom_origin: {{ url: {q(cls.api.url)}, origin_read_timeout: 5s, connection_attempts: 1 }} }}
    default_cache_behavior: {{ target_origin_id: s3, cache_policy: Managed-CachingOptimized }}
    cache_behaviors:
      - {{ path_pattern: "/api/*", target_origin_id: api, cache_policy: Managed-CachingDisabled }}
"""
        env = {KEY_ENV: cls.s3.access_key, SECRET_ENV: cls.s3.secret_key}
        cls.p = h.make_portico(cls, cfg, workers=2, env=env)
        cls.port = cls.p.port("http")

    def test_hit_without_s3_then_502_while_custom_origin_serves(self):
        c = self.s3.client()
        c.put_object("site", "cached.txt", b"cached body\n", content_type="text/plain")
        c.put_object("site", "later.txt", b"never fetched\n")
        r1 = h.get(self.port, "/cached.txt")
        self.assertEqual((r1.status, r1.header("X-Cache")), (200, "Miss from cloudfront"))
        self.s3.stop()
        self.assertFalse(self.s3.alive())
        # Served from the cache: the S3 server is gone, so it cannot have been asked.
        r2 = h.get(self.port, "/cached.txt")
        self.assertEqual((r2.status, r2.body), (200, b"cached body\n"))
        self.assertEqual(r2.header("X-Cache"), "Hit from cloudfront")
        r3 = h.get(self.port, "/later.txt")
        self.assertEqual(r3.status, 502)
        self.assertEqual(r3.header("X-Cache"), "Error from cloudfront")
        self.assertIn(b"The request could not be satisfied", r3.body)
        r4 = h.get(self.port, "/api/ping")
        self.assertEqual((r4.status, r4.header("X-Origin-Name")), (200, "api"))
        self.assertTrue(self.p.alive())


class S3CredentialsTest(h.PorticoTestCase):
    """Credentials are read when Portico loads its config and again at every reload; a missing one
    stops the load with a message that names where it looked, never a value."""

    # Portico must see only what each test gives it, not the runner's own AWS settings.
    CLEAN_AWS = {n: None for n in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                   "AWS_SESSION_TOKEN", "AWS_PROFILE",
                                   "AWS_SHARED_CREDENTIALS_FILE")}

    def config(self, endpoint, credentials=""):
        extra = f", credentials: {credentials}" if credentials else ""
        return f"""server: {{ client_header_timeout: 5s, idle_timeout: 10s, shutdown_timeout: 10s }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
distributions:
  - id: web
    origins:
      - {{ id: s3, s3_origin: {{ bucket: site, region: us-east-1, endpoint: {h.yaml_str(endpoint)}{extra} }} }}
    default_cache_behavior: {{ target_origin_id: s3, cache_policy: Managed-CachingDisabled }}
"""

    def test_missing_credentials_fail_the_load_without_printing_values(self):
        tmp = h.make_tmpdir(self)
        path = os.path.join(tmp, "portico.yaml")
        with open(path, "w") as f:
            f.write(self.config("http://127.0.0.1:9", "{ access_key_id_env: PORTICO_IT_NO_KEY, "
                                                      "secret_access_key_env: PORTICO_IT_SET }"))
        env = dict(self.CLEAN_AWS, PORTICO_IT_NO_KEY=None, PORTICO_IT_SET="s3cr3t-value-here")
        r = h.run_portico(["-c", path], env=env)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("distribution web origin s3: credentials: environment variable "
                      "PORTICO_IT_NO_KEY (access_key_id_env) is not set", r.stderr)
        self.assertNotIn("s3cr3t-value-here", r.stderr + r.stdout)
        # The SDK chain: nothing in the environment, a credentials file without the profile.
        creds = os.path.join(tmp, "credentials")
        with open(creds, "w") as f:
            f.write("[other]\naws_access_key_id = AKIAOTHER\n"
                    "aws_secret_access_key = other-s3cr3t\n")
        with open(path, "w") as f:
            f.write(self.config("http://127.0.0.1:9"))
        r = h.run_portico(["-c", path], env=dict(self.CLEAN_AWS, AWS_SHARED_CREDENTIALS_FILE=creds,
                                                 AWS_PROFILE="site"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("distribution web origin s3: credentials file", r.stderr)
        self.assertIn("[site]", r.stderr)
        self.assertNotIn("other-s3cr3t", r.stderr + r.stdout)

    def test_credentials_file_is_read_again_on_reload(self):
        need_s3rver()
        s3 = s3util.make_s3server(self, buckets=("site",))
        s3.client().put_object("site", "page.txt", b"signed with the file's keys\n")
        tmp = h.make_tmpdir(self)
        creds = os.path.join(tmp, "credentials")

        def write_creds(secret):
            with open(creds + ".tmp", "w") as f:
                f.write(f"[default]\naws_access_key_id = {s3.access_key}\n"
                        f"aws_secret_access_key = {secret}\n")
            os.replace(creds + ".tmp", creds)

        write_creds("stale-" + s3.secret_key)
        p = h.make_portico(self, self.config(s3.endpoint), workers=1,
                           env=dict(self.CLEAN_AWS, AWS_SHARED_CREDENTIALS_FILE=creds))
        p.wait_for_log(r"origin web/s3: .* from file .*credentials \[default\]")
        r = h.get(p.port(), "/page.txt")
        self.assertEqual(r.status, 403)
        self.assertIn(b"SignatureDoesNotMatch", r.body)
        write_creds(s3.secret_key)
        mark = p.log_mark()
        p.signal(signal.SIGHUP)
        p.wait_for_log(r"reload ok generation=", since=mark)
        r = h.get(p.port(), "/page.txt")
        self.assertEqual((r.status, r.body), (200, b"signed with the file's keys\n"))
        out = "\n".join(p.stderr_lines + p.stdout_lines)
        self.assertNotIn(s3.secret_key, out)


# ---------------------------------------------------------------------------------------------
# A scripted fake S3: records each request head, answers from a per-path script (raw bytes, so
# chunked error bodies are possible). Keep-alive, one request at a time per connection.

def xml_error(code, message="m"):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>R1</RequestId></Error>").encode()


def raw_response(status, reason, body, headers=(), chunked=False):
    lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/xml",
             "x-amz-request-id: 4442587FB7D0A2F9", "x-amz-id-2: abcdefgh=", "Server: AmazonS3"]
    lines += [f"{k}: {v}" for k, v in headers]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        mid = len(body) // 2
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:mid], body[mid:]) if p)
        payload += b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


class FakeS3:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []  # (method, target, {lower-name: value})
        self.script = {}    # target path -> list of raw responses (last one repeats)
        self.connections = 0
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                with outer.lock:
                    outer.connections += 1
                self.request.settimeout(30)
                f = self.request.makefile("rb")
                while True:
                    line = f.readline()
                    if not line:
                        return
                    method, target, _ = line.decode().split(" ", 2)
                    headers = {}
                    while True:
                        hl = f.readline().decode()
                        if hl in ("\r\n", "\n", ""):
                            break
                        k, v = hl.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                    with outer.lock:
                        outer.requests.append((method, target, headers))
                        path = urllib.parse.urlsplit(target).path
                        queue = outer.script.get(path)
                        resp = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else \
                            raw_response(200, "OK", b"ok\n")
                    if method == "HEAD":
                        resp = resp.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                    self.request.sendall(resp)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set(self, path, *responses):
        with self.lock:
            self.script[path] = list(responses)

    def seen(self, path):
        with self.lock:
            return [r for r in self.requests if urllib.parse.urlsplit(r[1]).path == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class FakeS3RequestsAndRetries(h.PorticoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeS3()
        h.add_cleanup(cls, cls.fake.close)
        ep = h.yaml_str(f"http://127.0.0.1:{cls.fake.port}")
        cfg = f"""server: {{ client_header_timeout: 5s, idle_timeout: 10s, shutdown_timeout: 10s }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
distributions:
  - id: web
    aliases: [localhost]
    origins:
      - id: s3
        s3_origin:
          bucket: my-bucket
          region: eu-west-3
          endpoint: {ep}
          origin_path: /assets
          credentials: {{ access_key_id_env: {KEY_ENV}, secret_access_key_env: {SECRET_ENV}, session_token_env: PORTICO_IT_S3_TOKEN }}
          origin_read_timeout: 5s
          connection_attempts: 1
        custom_headers: [{{ header_name: X-Origin-Verify, header_value: portico }}]
    default_cache_behavior: {{ target_origin_id: s3 }}
    cache_behaviors:
      - {{ path_pattern: "/cached/*", target_origin_id: s3, cache_policy: Managed-CachingOptimized }}
      - {{ path_pattern: "/q/*", target_origin_id: s3, cache_policy: Managed-CachingDisabled, origin_request_policy: Managed-AllViewer }}
"""
        env = {KEY_ENV: "AKIDFAKEKEY", SECRET_ENV: "fake/secret+value",
               "PORTICO_IT_S3_TOKEN": "session-token-xyz"}
        cls.p = h.make_portico(cls, cfg, workers=1, env=env)
        cls.port = cls.p.port("http")

    def get(self, path, headers=None, method="GET"):
        return h.http_request(self.port, method, path, host="localhost", headers=headers)

    def test_request_shape(self):
        r = self.get("/a%20b/c+d~e.txt?x-id=GetObject&versionId=1",
                     {"Authorization": "Bearer viewer", "Cookie": "s=1", "X-Amz-Foo": "evil",
                      "Range": "bytes=0-1", "If-None-Match": '"v"', "Via": "1.1 client"})
        self.assertEqual(r.status, 200)
        method, target, hd = self.fake.seen("/my-bucket/assets/a%20b/c%2Bd~e.txt")[-1]
        self.assertEqual(method, "GET")
        self.assertEqual(target, "/my-bucket/assets/a%20b/c%2Bd~e.txt")  # legacy: no query
        self.assertEqual(hd["host"], f"127.0.0.1:{self.fake.port}")
        auth = hd["authorization"]
        self.assertTrue(auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDFAKEKEY/"), auth)
        self.assertIn("/eu-west-3/s3/aws4_request, SignedHeaders=", auth)
        signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
        for name in ("host", "if-none-match", "range", "x-amz-cf-id", "x-amz-content-sha256",
                     "x-amz-date", "x-amz-security-token"):
            self.assertIn(name, signed)
        self.assertNotIn("via", signed)
        self.assertEqual(hd["x-amz-content-sha256"], s3util.EMPTY_SHA256)
        self.assertEqual(hd["x-amz-security-token"], "session-token-xyz")
        self.assertEqual(hd["range"], "bytes=0-1")
        self.assertEqual(hd["if-none-match"], '"v"')
        self.assertNotIn("cookie", hd)
        self.assertNotIn("x-amz-foo", hd)
        self.assertEqual(hd["x-origin-verify"], "portico")
        self.assertEqual(hd["via"], "1.1 client, " + r.header("Via"))
        self.assertEqual(hd["x-forwarded-for"], "127.0.0.1")
        self.assertEqual(hd["x-amz-cf-id"], r.header("X-Amz-Cf-Id"))
        # S3's own response headers reach the viewer: CloudFront's list of response headers it
        # removes for S3 origins has only Set-Cookie, Trailer, Transfer-Encoding, Upgrade, Via.
        self.assertEqual(r.header("x-amz-request-id"), "4442587FB7D0A2F9")
        self.assertEqual(r.header("Server"), "AmazonS3")

    def test_query_forwarded_only_as_policies_select(self):
        self.get("/q/file.txt?b=2&a=%2B+x")
        _, target, _ = self.fake.seen("/my-bucket/assets/q/file.txt")[-1]
        # Canonical (sorted, encoded once) as signed; '+' in a query is a space.
        self.assertEqual(target, "/my-bucket/assets/q/file.txt?a=%2B%20x&b=2")
        self.get("/cached/file.txt?b=2")
        _, target, hd = self.fake.seen("/my-bucket/assets/cached/file.txt")[-1]
        self.assertEqual(target, "/my-bucket/assets/cached/file.txt")
        self.assertEqual(hd["accept-encoding"], "identity")

    def test_slowdown_retried_with_backoff_then_503(self):
        path = "/my-bucket/assets/slow.txt"
        self.fake.set(path, raw_response(503, "Slow Down", xml_error("SlowDown")))
        mark = self.p.log_mark()
        t0 = time.monotonic()
        r = self.get("/slow.txt")
        elapsed = time.monotonic() - t0
        self.assertEqual(r.status, 503)
        self.assertIn(b"The request could not be satisfied", r.body)
        self.assertEqual(len(self.fake.seen(path)), 3)  # 1 + 2 retries
        self.assertGreaterEqual(elapsed, 0.075)  # 25-50 ms, then 50-100 ms
        self.p.wait_for_log(r"origin web/s3: GET /slow\.txt: throttled \(S3 503 SlowDown\)",
                            since=mark)

    def test_internal_error_retried_then_502_and_recovers(self):
        path = "/my-bucket/assets/flaky.txt"
        self.fake.set(path, raw_response(500, "Internal Server Error", xml_error("InternalError")),
                      raw_response(200, "OK", b"second time\n"))
        r = self.get("/flaky.txt")
        self.assertEqual((r.status, r.body), (200, b"second time\n"))
        self.assertEqual(len(self.fake.seen(path)), 2)
        path = "/my-bucket/assets/down.txt"
        self.fake.set(path, raw_response(500, "Internal Server Error", xml_error("InternalError")))
        r = self.get("/down.txt")
        self.assertEqual(r.status, 502)
        self.assertEqual(len(self.fake.seen(path)), 3)
        r = self.get("/down.txt", method="HEAD")
        self.assertEqual(r.status, 502)
        self.assertEqual(len(self.fake.seen(path)), 6)

    def test_chunked_nosuchkey_becomes_access_denied_on_a_reused_connection(self):
        path = "/my-bucket/assets/gone.txt"
        self.fake.set(path, raw_response(404, "Not Found", xml_error("NoSuchKey"), chunked=True))
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for _ in range(2):
                conn.request("GET", "/gone.txt", headers={"Host": "localhost"})
                r = conn.getresponse()
                body = r.read()
                self.assertEqual(r.status, 403)
                self.assertIn(b"<Code>AccessDenied</Code>", body)
                self.assertEqual(r.getheader("Content-Length"), str(len(body)))
        finally:
            conn.close()
        before = self.fake.connections
        self.assertEqual(self.get("/other.txt").status, 200)
        self.assertEqual(self.fake.connections, before)  # the pooled connection was reusable

    def test_clock_skew_and_wrong_key_are_logged_and_passed_on(self):
        skew = xml_error("RequestTimeTooSkewed").replace(
            b"</Error>", b"<RequestTime>20260101T000000Z</RequestTime>"
                         b"<ServerTime>2026-01-01T00:20:00Z</ServerTime></Error>")
        self.fake.set("/my-bucket/assets/skew.txt", raw_response(403, "Forbidden", skew))
        self.fake.set("/my-bucket/assets/key.txt",
                      raw_response(403, "Forbidden", xml_error("InvalidAccessKeyId")))
        mark = self.p.log_mark()
        r = self.get("/skew.txt")
        self.assertEqual(r.status, 403)
        self.assertIn(b"RequestTimeTooSkewed", r.body)
        self.p.wait_for_log(r"clock skew \(S3 403 RequestTimeTooSkewed\)", since=mark)
        r = self.get("/key.txt")
        self.assertEqual(r.status, 403)
        self.p.wait_for_log(r"bad credentials \(S3 403 InvalidAccessKeyId\)", since=mark)
        out = "\n".join(self.p.stderr_lines)
        self.assertNotIn("fake/secret+value", out)
        self.assertNotIn("session-token-xyz", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
