"""Malformed and ambiguous requests (request smuggling, RFC 9112 framing): each gets its error
status, the connection is closed right after, nothing smuggled reaches the origin, and other
connections keep working. One test method per table row."""

import json

import harness as h

HOST = b"Host: localhost\r\n"
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"


def post(headers, body=b""):
    return b"POST /api/echo HTTP/1.1\r\n" + HOST + headers + b"\r\n" + body


def get_with(headers):
    return b"GET /echo HTTP/1.1\r\n" + HOST + headers + b"\r\n"


# name -> (bytes sent, expected status)
CASES = {
    # Content-Length / Transfer-Encoding ambiguity
    "cl_and_te": (post(b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n",
                       b"0\r\n\r\n" + SMUGGLED), 400),
    "te_and_cl": (post(b"Transfer-Encoding: chunked\r\nContent-Length: 6\r\n",
                       b"0\r\n\r\n" + SMUGGLED), 400),
    "two_content_lengths": (post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"), 400),
    "content_length_list": (post(b"Content-Length: 5, 6\r\n", b"hello!"), 400),
    "content_length_letters": (post(b"Content-Length: abc\r\n", b"hello"), 400),
    "content_length_negative": (post(b"Content-Length: -1\r\n", b"hello"), 400),
    "content_length_plus_sign": (post(b"Content-Length: +5\r\n", b"hello"), 400),
    "content_length_hex": (post(b"Content-Length: 0x5\r\n", b"hello"), 400),
    "content_length_inner_space": (post(b"Content-Length: 1 0\r\n", b"helloworld"), 400),
    "content_length_overflow": (post(b"Content-Length: 99999999999999999999999\r\n", b"x"), 400),
    # header syntax
    "obs_fold_space": (get_with(b"X-Foo: a\r\n b\r\n"), 400),
    "obs_fold_tab": (get_with(b"X-Foo: a\r\n\tb\r\n"), 400),
    "bare_lf_everywhere": (b"GET /echo HTTP/1.1\nHost: localhost\n\n", 400),
    "bare_lf_one_header": (b"GET /echo HTTP/1.1\r\nHost: localhost\nX-A: b\r\n\r\n", 400),
    "bare_cr_in_value": (get_with(b"X-Foo: a\rb\r\n"), 400),
    "bare_cr_in_request_line": (b"GET /a\rb HTTP/1.1\r\nHost: localhost\r\n\r\n", 400),
    "space_before_colon": (get_with(b"X-Foo : bar\r\n"), 400),
    "space_before_colon_te": (post(b"Transfer-Encoding : chunked\r\nContent-Length: 6\r\n",
                                   b"0\r\n\r\n" + SMUGGLED), 400),
    "space_in_header_name": (get_with(b"X Foo: 1\r\n"), 400),
    "bracket_in_header_name": (get_with(b"X[Foo]: 1\r\n"), 400),
    "quote_in_header_name": (get_with(b"X\"Foo: 1\r\n"), 400),
    "slash_in_header_name": (get_with(b"X/Foo: 1\r\n"), 400),
    "empty_header_name": (get_with(b": novalue\r\n"), 400),
    "nul_in_value": (get_with(b"X-Foo: a\x00b\r\n"), 400),
    "double_space_request_line": (b"GET  /echo HTTP/1.1\r\nHost: localhost\r\n\r\n", 400),
    # chunked framing
    "chunk_size_letters": (post(b"Transfer-Encoding: chunked\r\n", b"zz\r\nhello\r\n0\r\n\r\n"), 400),
    "chunk_size_negative": (post(b"Transfer-Encoding: chunked\r\n", b"-1\r\nhello\r\n0\r\n\r\n"),
                            400),
    "chunk_size_overflow": (post(b"Transfer-Encoding: chunked\r\n",
                                 b"10000000000000000005\r\nhello\r\n0\r\n\r\n" + SMUGGLED), 400),
    "chunk_data_without_crlf": (post(b"Transfer-Encoding: chunked\r\n",
                                     b"5\r\nhelloXX0\r\n\r\n"), 400),
    # Host
    "missing_host_http11": (b"GET /echo HTTP/1.1\r\nX-A: 1\r\n\r\n", 400),
    "two_host_headers": (b"GET /echo HTTP/1.1\r\nHost: localhost\r\nHost: other.test\r\n\r\n", 400),
    "two_identical_host_headers": (b"GET /echo HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n",
                                   400),
    # unsupported
    "transfer_encoding_gzip": (post(b"Transfer-Encoding: gzip\r\n", b"\x1f\x8b"), 501),
    "http2_request_line": (b"GET /echo HTTP/2.0\r\nHost: localhost\r\n\r\n", 505),
    # limits
    "request_line_too_long": (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414),
    "head_too_large": (b"GET /echo HTTP/1.1\r\nHost: localhost\r\n"
                       + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 800) for i in range(12))
                       + b"\r\n", 431),
}


class SmugglingTest(h.PorticoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = h.make_origin(cls, "site")
        cfg = h.simple_config(cls.origin.url, api_origin_url=cls.origin.url,
                              extra_server="  max_header_bytes: 8KiB\n")
        cls.p = h.make_portico(cls, cfg)
        cls.port = cls.p.port("http")

    def check_case(self, data, expected):
        good = h.RawConn(self.port)
        self.addCleanup(good.close)
        good.request("GET", "/echo?good=1")
        self.assertEqual(good.read_response().status, 200)

        with h.RawConn(self.port) as bad:
            bad.send(data)
            try:
                r = bad.read_response()
            except h.ConnectionClosed:
                self.fail(f"connection closed without a response; expected {expected}")
            self.assertEqual(r.status, expected,
                             f"sent {data[:160]!r} -> {r.status} {r.reason}; body {r.body[:200]!r}")
            closed, extra = bad.wait_closed(5)
            self.assertTrue(closed, f"connection not closed after the {r.status} response")
            self.assertEqual(extra, b"", "bytes after the error response")

        # Other connections are unaffected.
        good.request("GET", "/echo?good=2")
        r = good.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body)["path"], "/echo?good=2")
        for rec in self.origin.snapshot():
            self.assertNotIn("smuggled", rec.path, "a smuggled request reached the origin")


def _make(data, expected):
    def test(self):
        self.check_case(data, expected)
    return test


for _name, (_data, _expected) in CASES.items():
    setattr(SmugglingTest, f"test_{_name}", _make(_data, _expected))


class ValidEdgeCasesTest(h.PorticoTestCase):
    """Unusual but valid input must not be rejected."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.origin = h.make_origin(cls, "site")
        cls.p = h.make_portico(cls, h.simple_config(cls.origin.url, api_origin_url=cls.origin.url))
        cls.port = cls.p.port("http")

    def roundtrip(self, data):
        with h.RawConn(self.port) as c:
            c.send(data)
            return c.read_response()

    def test_header_value_whitespace_is_trimmed(self):
        r = self.roundtrip(get_with(b"X-Space:   padded value \t\r\n"))
        self.assertEqual(r.status, 200)
        vals = [v for k, v in json.loads(r.body)["headers"] if k.lower() == "x-space"]
        self.assertEqual(vals, ["padded value"])

    def test_empty_header_value(self):
        r = self.roundtrip(get_with(b"X-Empty:\r\n"))
        self.assertEqual(r.status, 200)

    def test_tchar_header_name(self):
        r = self.roundtrip(get_with(b"X-!#$%&'*+.^_`|~: 1\r\n"))
        self.assertEqual(r.status, 200)

    def test_leading_empty_line_before_request(self):
        # RFC 9112 section 2.2: a server SHOULD ignore at least one empty line before the request line.
        r = self.roundtrip(b"\r\nGET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertEqual(r.status, 200)

    def test_same_content_length_is_body_length(self):
        r = self.roundtrip(post(b"Content-Length: 5\r\n", b"hello"))
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body)["body"], "hello")

    def test_head_just_under_limit(self):
        r = self.roundtrip(get_with(b"X-Pad: " + b"p" * 4000 + b"\r\n"))
        self.assertEqual(r.status, 200)


if __name__ == "__main__":
    h.run_main()
