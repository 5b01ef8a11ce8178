"""directory_origin: static files with Content-Type, Content-Length, ETag, Last-Modified and
Accept-Ranges; default_root_object; byte ranges; conditional requests; path traversal refused;
methods other than GET/HEAD refused with 405."""

import email.utils
import hashlib
import os
import re

import harness as h

A_TXT = b"0123456789abcdefghij"
MTIME = 1614834367  # 2021-03-04 05:06:07 UTC
SECRET = b"TOPSECRET-DO-NOT-SERVE"


class DirectoryOriginTest(h.PorticoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tmp = h.make_tmpdir(cls)
        root = os.path.join(tmp, "root")
        os.makedirs(os.path.join(root, "sub"))
        os.makedirs(os.path.join(root, "rw"))
        files = {
            "index.html": b"<h1>index</h1>\n",
            "a.txt": A_TXT,
            "style.css": b"body{}\n",
            "app.js": b"console.log(1)\n",
            "data.json": b"{\"a\":1}\n",
            "img.png": b"\x89PNG\r\n\x1a\nfake",
            "pic.svg": b"<svg/>\n",
            "sub/page.html": b"<p>sub</p>\n",
            "rw/f.txt": b"rw\n",
            "hello world.txt": b"spaced\n",
        }
        for name, data in files.items():
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
        os.utime(os.path.join(root, "a.txt"), (MTIME, MTIME))
        cls.big = h.pattern_bytes(5 * h.MIB + 123)
        with open(os.path.join(root, "big.bin"), "wb") as f:
            f.write(cls.big)
        with open(os.path.join(tmp, "secret.txt"), "wb") as f:
            f.write(SECRET)
        os.symlink(os.path.join(tmp, "secret.txt"), os.path.join(root, "link_out"))
        os.symlink("../secret.txt", os.path.join(root, "rel_link_out"))
        os.symlink(tmp, os.path.join(root, "dir_link_out"))
        q = h.yaml_str
        cfg = f"""server: {{ client_header_timeout: 5s, idle_timeout: 10s, shutdown_timeout: 10s }}
listeners:
  - {{ name: http, address: "127.0.0.1:0", protocol: HTTP }}
distributions:
  - id: web
    aliases: [localhost]
    default_root_object: index.html
    origins:
      - {{ id: site, directory_origin: {{ path: {q(root)} }} }}
    default_cache_behavior: {{ target_origin_id: site }}
    cache_behaviors:
      - {{ path_pattern: "/rw/*", target_origin_id: site, allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE] }}
"""
        cls.p = h.make_portico(cls, cfg)
        cls.port = cls.p.port("http")

    def get(self, path, headers=None, method="GET"):
        with h.RawConn(self.port) as c:
            c.request(method, path, headers=list((headers or {}).items()))
            return c.read_response(method)

    # -- plain GETs -------------------------------------------------------------------------------
    def test_http10_keep_alive(self):
        # RFC 9112 §9.3: an HTTP/1.0 client that asks for keep-alive gets it acknowledged and the
        # connection stays usable.
        with h.RawConn(self.port) as c:
            for _ in range(2):
                c.send(b"GET /a.txt HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n")
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body, A_TXT)
                self.assertEqual((r.header("Connection") or "").lower(), "keep-alive")

    def test_file_headers(self):
        r = self.get("/a.txt")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, A_TXT)
        self.assertTrue(r.header("Content-Type", "").startswith("text/plain"), r.header("Content-Type"))
        self.assertEqual(r.header("Content-Length"), "20")
        self.assertRegex(r.header("ETag", ""), r'^(W/)?"[\x21\x23-\x7e]+"$')
        self.assertEqual(r.header("Last-Modified"), email.utils.formatdate(MTIME, usegmt=True))
        self.assertEqual(r.header("Accept-Ranges"), "bytes")

    def test_content_types(self):
        expected = {
            "/index.html": ("text/html",),
            "/style.css": ("text/css",),
            "/app.js": ("application/javascript", "text/javascript"),
            "/data.json": ("application/json",),
            "/img.png": ("image/png",),
            "/pic.svg": ("image/svg+xml",),
            "/a.txt": ("text/plain",),
        }
        for path, types in expected.items():
            r = self.get(path)
            self.assertEqual(r.status, 200, path)
            ctype = r.header("Content-Type", "").split(";")[0].strip()
            self.assertIn(ctype, types, path)

    def test_etag_stable_and_distinct(self):
        a1 = self.get("/a.txt").header("ETag")
        a2 = self.get("/a.txt").header("ETag")
        b = self.get("/style.css").header("ETag")
        self.assertEqual(a1, a2)
        self.assertNotEqual(a1, b)

    def test_default_root_object(self):
        r = self.get("/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"<h1>index</h1>\n")
        self.assertTrue(r.header("Content-Type", "").startswith("text/html"))

    def test_subdirectory_file(self):
        r = self.get("/sub/page.html")
        self.assertEqual((r.status, r.body), (200, b"<p>sub</p>\n"))

    def test_percent_encoded_name(self):
        r = self.get("/hello%20world.txt")
        self.assertEqual((r.status, r.body), (200, b"spaced\n"))

    def test_query_string_ignored_for_lookup(self):
        r = self.get("/a.txt?v=123")
        self.assertEqual((r.status, r.body), (200, A_TXT))

    def test_large_file(self):
        r = self.get("/big.bin")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Length"), str(len(self.big)))
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), hashlib.sha256(self.big).hexdigest())

    def test_missing_file_is_404(self):
        self.assertEqual(self.get("/nope.txt").status, 404)
        self.assertEqual(self.get("/sub/nope.html").status, 404)

    def test_head_same_headers_no_body(self):
        g = self.get("/a.txt")
        with h.RawConn(self.port) as c:
            c.send(h.build_request("HEAD", "/a.txt") + h.build_request("GET", "/style.css"))
            r = c.read_response("HEAD")
            nxt = c.read_response()
        self.assertEqual(r.status, 200)
        for name in ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Accept-Ranges"):
            self.assertEqual(r.header(name), g.header(name), name)
        self.assertEqual((nxt.status, nxt.body), (200, b"body{}\n"), "HEAD response carried a body")

    # -- ranges -------------------------------------------------------------------------------------
    def assert_range(self, spec, first, last):
        r = self.get("/a.txt", {"Range": spec})
        self.assertEqual(r.status, 206, spec)
        self.assertEqual(r.header("Content-Range"), f"bytes {first}-{last}/20", spec)
        self.assertEqual(r.header("Content-Length"), str(last - first + 1), spec)
        self.assertEqual(r.body, A_TXT[first:last + 1], spec)

    def test_range_first_bytes(self):
        self.assert_range("bytes=0-9", 0, 9)

    def test_range_open_ended(self):
        self.assert_range("bytes=5-", 5, 19)

    def test_range_suffix(self):
        self.assert_range("bytes=-5", 15, 19)

    def test_range_last_past_end_is_clamped(self):
        self.assert_range("bytes=5-100", 5, 19)

    def test_range_single_byte(self):
        self.assert_range("bytes=19-19", 19, 19)

    def test_range_unsatisfiable(self):
        for spec in ("bytes=20-", "bytes=100-200"):
            r = self.get("/a.txt", {"Range": spec})
            self.assertEqual(r.status, 416, spec)
            self.assertEqual(r.header("Content-Range"), "bytes */20", spec)
            self.assertNotIn(A_TXT, r.body)

    def test_range_on_large_file(self):
        r = self.get("/big.bin", {"Range": "bytes=1048570-1048589"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, self.big[1048570:1048590])

    # -- conditional requests ------------------------------------------------------------------------
    def test_if_none_match(self):
        etag = self.get("/a.txt").header("ETag")
        r = self.get("/a.txt", {"If-None-Match": etag})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("ETag"), etag)
        r = self.get("/a.txt", {"If-None-Match": '"something-else"'})
        self.assertEqual((r.status, r.body), (200, A_TXT))
        r = self.get("/a.txt", {"If-None-Match": f'"x", {etag}'})
        self.assertEqual(r.status, 304)

    def test_if_modified_since(self):
        lm = self.get("/a.txt").header("Last-Modified")
        r = self.get("/a.txt", {"If-Modified-Since": lm})
        self.assertEqual((r.status, r.body), (304, b""))
        later = email.utils.formatdate(MTIME + 3600, usegmt=True)
        self.assertEqual(self.get("/a.txt", {"If-Modified-Since": later}).status, 304)
        earlier = email.utils.formatdate(MTIME - 3600, usegmt=True)
        r = self.get("/a.txt", {"If-Modified-Since": earlier})
        self.assertEqual((r.status, r.body), (200, A_TXT))

    def test_if_none_match_takes_precedence_over_if_modified_since(self):
        lm = self.get("/a.txt").header("Last-Modified")
        r = self.get("/a.txt", {"If-None-Match": '"nomatch"', "If-Modified-Since": lm})
        self.assertEqual(r.status, 200)

    # -- methods ------------------------------------------------------------------------------------
    def test_write_methods_are_405(self):
        for m in ("POST", "PUT", "PATCH", "DELETE"):
            with h.RawConn(self.port) as c:
                c.request(m, "/rw/f.txt", body=b"data")
                r = c.read_response()
            self.assertEqual(r.status, 405, m)
        self.assertEqual(self.get("/rw/f.txt").body, b"rw\n")

    def test_post_outside_allowed_methods_is_403(self):
        with h.RawConn(self.port) as c:
            c.request("POST", "/a.txt", body=b"data")
            self.assertEqual(c.read_response().status, 403)

    # -- traversal ----------------------------------------------------------------------------------
    def test_traversal_refused(self):
        paths = [
            "/../etc/passwd", "/../../../../../../etc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "/a/..%2f..%2fetc/passwd", "/sub/..%2f..%2f..%2f..%2f..%2f..%2fetc/passwd",
            "/%2F", "/%2fetc%2fpasswd", "//etc/passwd",
            "/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/.%2e/secret.txt",
            "/sub/../../secret.txt", "/sub/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt",
            "/%2e%2e%2fsecret.txt", "/..%5csecret.txt", "/..\\secret.txt",
            "/link_out", "/rel_link_out", "/dir_link_out/secret.txt",
        ]
        for path in paths:
            with h.RawConn(self.port) as c:
                c.request("GET", path)
                r = c.read_response()
            self.assertIn(r.status, (403, 404), f"GET {path} -> {r.status}")
            self.assertNotIn(SECRET, r.body, path)
            self.assertNotIn(b"root:", r.body, path)
            self.assertNotRegex(r.body.decode("latin-1"), re.compile(r"^\w+:x?:\d+:\d+:", re.M), path)

    def test_nul_in_path_refused(self):
        r = self.get("/a.txt%00.html")
        self.assertIn(r.status, (400, 403, 404))
        self.assertNotIn(A_TXT, r.body)


if __name__ == "__main__":
    h.run_main()
