"""S3 helpers for integration tests: an S3-compatible server and a minimal SigV4 client.

Standard library only (no botocore: CI may not have it). Pieces:
  node_s3rver_available() -> (True, "") or (False, why): node + tests/s3/node_modules present.
  S3Server(buckets)       -> tests/s3/s3rver.js (@20minutes/s3rver 4.0.4, verifies SigV4) on
                             127.0.0.1:0 with one fresh key pair and private buckets; .port,
                             .endpoint, .access_key, .secret_key, .client(), .stop().
  make_s3server(owner)    -> S3Server released with the test (case or class), like harness.make_*.
  S3Client                -> path-style SigV4 requests (S3 rules: key URI-encoded once, '/' kept):
                             put_object (bytes, or an iterable of chunks streamed with its length),
                             get_object / head_object / request, sign() for hand-made requests.
The server process is started with harness.spawn (killed by PID at cleanup, at exit, and by
PR_SET_PDEATHSIG if this interpreter dies); stop() sends SIGTERM to that PID, then SIGKILL.

Run this file directly for its self-test (needs `npm ci --prefix tests/s3`): uploads and fetches
back small objects, keys with spaces/unicode/'+', a 50 MiB object streamed both ways, and checks
that a wrong secret, a tampered signed header and an anonymous request get 403.
"""

import datetime
import hashlib
import hmac
import http.client
import os
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse

import harness

REGION = "us-east-1"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAM_CHUNK = 1 << 20


def s3_dir():
    return os.path.join(harness.source_dir(), "tests", "s3")


def node_s3rver_available():
    """(ok, reason): whether tests/s3/s3rver.js can run here (node on PATH, npm ci done)."""
    if not shutil.which("node"):
        return False, "node is not installed"
    mod = os.path.join(s3_dir(), "node_modules", "@20minutes", "s3rver", "package.json")
    if not os.path.exists(mod):
        return False, "tests/s3/node_modules missing: run npm ci --prefix tests/s3"
    return True, ""


# ---------------------------------------------------------------------------------------------
# SigV4 (header auth, S3 rules), written from the AWS specification like origin/sigv4.cc

def uri_encode(s, keep_slash):
    """AWS UriEncode: every byte but A-Z a-z 0-9 - . _ ~ (and '/' when keep_slash) as %XX."""
    if isinstance(s, str):
        s = s.encode("utf-8")
    return urllib.parse.quote(s, safe="/~" if keep_slash else "~")


def object_path(bucket, key):
    """Path-style request path for a (decoded) key, encoded once as S3 expects."""
    return "/" + uri_encode(bucket, False) + ("/" + uri_encode(key, True) if key else "")


def canonical_query(params):
    pairs = sorted((uri_encode(k, False), uri_encode(v, False)) for k, v in params)
    return "&".join(f"{k}={v}" for k, v in pairs)


def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret, date8, region, service="s3"):
    k = _hmac(("AWS4" + secret).encode("utf-8"), date8)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def sign(method, host, path, query_params, headers, payload_hash, access_key, secret,
         region=REGION, session_token=None, now=None):
    """Returns a new header dict with X-Amz-Date, X-Amz-Content-Sha256 (, X-Amz-Security-Token)
    and Authorization added; every header passed in is signed. `path` must already be encoded
    (object_path()); `query_params` is a list of decoded (name, value) pairs."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    out = {k: v for k, v in headers.items()
           if k.lower() not in ("authorization", "x-amz-date", "x-amz-content-sha256",
                                "x-amz-security-token", "host")}
    out["Host"] = host
    out["X-Amz-Date"] = amz_date
    out["X-Amz-Content-Sha256"] = payload_hash
    if session_token:
        out["X-Amz-Security-Token"] = session_token
    canon = {}
    for k, v in out.items():
        canon.setdefault(k.lower(), []).append(" ".join(str(v).split()))
    names = sorted(canon)
    canonical_headers = "".join(f"{n}:{','.join(canon[n])}\n" for n in names)
    signed_headers = ";".join(names)
    creq = "\n".join([method, path, canonical_query(query_params), canonical_headers,
                      signed_headers, payload_hash])
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode("utf-8")).hexdigest()])
    sig = hmac.new(signing_key(secret, amz_date[:8], region), sts.encode("utf-8"),
                   hashlib.sha256).hexdigest()
    out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                            f"SignedHeaders={signed_headers}, Signature={sig}")
    return out


# ---------------------------------------------------------------------------------------------
# Client

class S3Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value)
        self.body = body        # bytes, or None when streamed to a sink

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def error_code(self):
        b = self.body or b""
        start, end = b.find(b"<Code>"), b.find(b"</Code>")
        return b[start + 6:end].decode() if 0 <= start < end else None

    def __repr__(self):
        return f"S3Response({self.status} {self.reason}, {len(self.body or b'')} bytes)"


class S3Client:
    def __init__(self, host, port, access_key, secret_key, region=REGION, session_token=None,
                 timeout=harness.DEFAULT_TIMEOUT * 6):
        self.host, self.port = host, port
        self.access_key, self.secret_key = access_key, secret_key
        self.region, self.session_token = region, session_token
        self.timeout = timeout

    def request(self, method, bucket, key="", query=(), headers=None, body=b"", length=None,
                unsigned_payload=False, sink=None, sign_headers=True):
        """One signed path-style request. `body`: bytes, or an iterable of byte chunks sent as
        they come (then `length` is required and the payload is UNSIGNED-PAYLOAD). `sink`, when
        given, receives the response body in chunks instead of it being returned."""
        path = object_path(bucket, key)
        query = list(query)
        streamed = not isinstance(body, (bytes, bytearray))
        if streamed and length is None:
            raise ValueError("a streamed body needs its length")
        size = length if streamed else len(body)
        if streamed or unsigned_payload:
            payload = UNSIGNED_PAYLOAD
        else:
            payload = hashlib.sha256(body).hexdigest()
        hdrs = dict(headers or {})
        if method in ("PUT", "POST") or size:
            hdrs["Content-Length"] = str(size)
        host = f"{self.host}:{self.port}"
        if sign_headers:
            hdrs = sign(method, host, path, query, hdrs, payload, self.access_key,
                        self.secret_key, self.region, self.session_token)
        else:
            hdrs["Host"] = host
        target = path + ("?" + canonical_query(query) if query else "")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for k, v in hdrs.items():
                conn.putheader(k, v)
            conn.endheaders()
            if streamed:
                sent = 0
                for chunk in body:
                    conn.send(chunk)
                    sent += len(chunk)
                if sent != size:
                    raise ValueError(f"body generator gave {sent} bytes, declared {size}")
            elif body:
                conn.send(bytes(body))
            resp = conn.getresponse()
            if sink is None:
                data = resp.read()
            else:
                data = None
                while True:
                    chunk = resp.read(STREAM_CHUNK)
                    if not chunk:
                        break
                    sink(chunk)
            return S3Response(resp.status, resp.reason, resp.getheaders(), data)
        finally:
            conn.close()

    def put_object(self, bucket, key, data, length=None, content_type=None, metadata=None,
                   headers=None):
        h = dict(headers or {})
        if content_type:
            h["Content-Type"] = content_type
        for k, v in (metadata or {}).items():
            h[f"x-amz-meta-{k}"] = v
        r = self.request("PUT", bucket, key, headers=h, body=data, length=length)
        if r.status != 200:
            raise AssertionError(f"PUT {bucket}/{key!r}: {r.status} {r.error_code()} {r.body!r}")
        return r

    def get_object(self, bucket, key, headers=None, sink=None):
        return self.request("GET", bucket, key, headers=headers, sink=sink)

    def head_object(self, bucket, key, headers=None):
        return self.request("HEAD", bucket, key, headers=headers)

    def delete_object(self, bucket, key):
        return self.request("DELETE", bucket, key)


# ---------------------------------------------------------------------------------------------
# Server process

class S3ServerStartError(AssertionError):
    pass


class S3Server:
    """tests/s3/s3rver.js on 127.0.0.1 (port 0 unless given), serving `buckets` from a temp dir
    (or `data_dir`), with a random key pair unless one is given."""

    LISTEN_PREFIX = "listening "

    def __init__(self, buckets=("site",), access_key=None, secret_key=None, data_dir=None,
                 port=0, startup_timeout=harness.STARTUP_TIMEOUT, verbose=False):
        ok, why = node_s3rver_available()
        if not ok:
            raise S3ServerStartError(why)
        self.access_key = access_key or "AKIA" + secrets.token_hex(8).upper()
        self.secret_key = secret_key or secrets.token_urlsafe(30)
        self.region = REGION
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="portico-s3-")
        args = ["node", os.path.join(s3_dir(), "s3rver.js"), "--dir", self.data_dir,
                "--port", str(port)] + (["--verbose"] if verbose else []) + list(buckets)
        env = dict(os.environ, S3RVER_ACCESS_KEY_ID=self.access_key,
                   S3RVER_SECRET_ACCESS_KEY=self.secret_key)
        self.proc = harness.spawn(args, env=env)
        self.pid = self.proc.pid
        self.stderr_lines = []
        self.port = None
        try:
            self.port = self._read_port(startup_timeout)
        except BaseException:
            self.stop()
            raise
        # Keep draining both pipes so a chatty server never blocks on a full pipe.
        threading.Thread(target=self._drain, args=(self.proc.stdout, None), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stderr, self.stderr_lines),
                         daemon=True).start()

    def _read_port(self, timeout):
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                break
            ready, _, _ = select.select([fd], [], [], min(left, 0.2))
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
        line = buf.split(b"\n", 1)[0].decode(errors="replace")
        if not line.startswith(self.LISTEN_PREFIX):
            err = b""
            if self.proc.poll() is not None:
                err = self.proc.stderr.read() or b""
            raise S3ServerStartError(
                f"s3rver.js did not print '{self.LISTEN_PREFIX}HOST:PORT' within {timeout}s "
                f"(exit code {self.proc.poll()}); stdout: {buf!r}; stderr: {err[-2000:]!r}")
        return int(line.rsplit(":", 1)[1])

    @staticmethod
    def _drain(stream, sink):
        for raw in iter(stream.readline, b""):
            if sink is not None:
                sink.append(raw.decode(errors="replace").rstrip("\n"))
        stream.close()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def client(self, secret_key=None, access_key=None):
        return S3Client("127.0.0.1", self.port, access_key or self.access_key,
                        secret_key or self.secret_key, self.region)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=5.0):
        """SIGTERM by PID, then SIGKILL; removes the data dir it created. Idempotent."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=timeout)
            except ProcessLookupError:
                pass
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def make_s3server(owner, buckets=("site",), **kw):
    """S3Server released when `owner` (a TestCase, or a TestCase class in setUpClass) is done."""
    server = S3Server(buckets, **kw)
    harness.add_cleanup(owner, server.stop)
    return server


# ---------------------------------------------------------------------------------------------
# Self-test

def pattern_chunks(total, chunk=STREAM_CHUNK, seed=b"portico"):
    """Deterministic pseudo-random bytes, generated chunk by chunk (never all in memory)."""
    block = hashlib.sha256(seed).digest() * (chunk // 32)
    i = 0
    sent = 0
    while sent < total:
        n = min(chunk, total - sent)
        head = i.to_bytes(8, "big")
        yield (head + block[8:])[:n]
        sent += n
        i += 1


def _self_test():
    import unittest

    class S3UtilSelfTest(harness.PorticoTestCase):
        @classmethod
        def setUpClass(cls):
            super().setUpClass()
            ok, why = node_s3rver_available()
            if not ok:
                raise unittest.SkipTest(why)
            cls.s3 = make_s3server(cls, buckets=("site",))
            cls.c = cls.s3.client()

        def test_round_trip_small_and_odd_keys(self):
            # (s3rver answers 404 "Not Found" for keys with "//" or "." segments: not tried.)
            for key in ("hello.txt", "dir/a b.txt", "ünï/日本語 ü.txt", "a+b/c~d%e=f&g.txt",
                        "sp ace/(1)!*'.txt"):
                body = f"body of {key}".encode()
                self.c.put_object("site", key, body, content_type="text/plain",
                                  metadata={"origin": "s3util"})
                r = self.c.get_object("site", key)
                self.assertEqual(r.status, 200, (key, r.body))
                self.assertEqual(r.body, body)
                self.assertEqual(r.header("Content-Type"), "text/plain")
                self.assertEqual(r.header("x-amz-meta-origin"), "s3util")
                self.assertEqual(r.header("ETag"), '"%s"' % hashlib.md5(body).hexdigest())
            self.assertEqual(self.c.get_object("site", "dir/a+b.txt").status, 404)

        def test_50_mib_streamed_both_ways(self):
            size = 50 * 1024 * 1024
            want = hashlib.sha256()
            for chunk in pattern_chunks(size):
                want.update(chunk)
            self.c.put_object("site", "big/fifty mib.bin", pattern_chunks(size), length=size)
            got = hashlib.sha256()
            n = [0]

            def sink(chunk):
                got.update(chunk)
                n[0] += len(chunk)

            r = self.c.get_object("site", "big/fifty mib.bin", sink=sink)
            self.assertEqual(r.status, 200)
            self.assertEqual(n[0], size)
            self.assertEqual(got.hexdigest(), want.hexdigest())
            r = self.c.get_object("site", "big/fifty mib.bin", headers={"Range": "bytes=10-19"})
            self.assertEqual(r.status, 206)
            self.assertEqual(r.header("Content-Range"), f"bytes 10-19/{size}")

        def test_refusals(self):
            self.c.put_object("site", "private.txt", b"secret")
            bad = self.s3.client(secret_key="wrong" + self.s3.secret_key)
            r = bad.get_object("site", "private.txt")
            self.assertEqual((r.status, r.error_code()), (403, "SignatureDoesNotMatch"))
            self.assertNotIn(self.s3.secret_key.encode(), r.body)
            r = self.c.request("GET", "site", "private.txt", sign_headers=False)
            self.assertEqual((r.status, r.error_code()), (403, "AccessDenied"))
            r = self.s3.client(access_key="S3RVER", secret_key="S3RVER").get_object(
                "site", "private.txt")
            self.assertEqual((r.status, r.error_code()), (403, "InvalidAccessKeyId"))
            # A signed header changed after signing.
            h = sign("GET", f"127.0.0.1:{self.s3.port}", object_path("site", "private.txt"), [],
                     {"Range": "bytes=0-1"}, EMPTY_SHA256, self.s3.access_key,
                     self.s3.secret_key)
            h["Range"] = "bytes=0-2"
            conn = http.client.HTTPConnection("127.0.0.1", self.s3.port, timeout=10)
            conn.putrequest("GET", object_path("site", "private.txt"), skip_host=True)
            for k, v in h.items():
                conn.putheader(k, v)
            conn.endheaders()
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            self.assertEqual(resp.status, 403)
            self.assertIn(b"SignatureDoesNotMatch", body)

        def test_stop_by_pid(self):
            s = S3Server(buckets=("tmp",))
            self.assertTrue(s.alive())
            self.assertEqual(s.client().put_object("tmp", "x", b"x").status, 200)
            s.stop()
            self.assertFalse(s.alive())
            self.assertFalse(os.path.exists(s.data_dir))

    suite = unittest.defaultTestLoader.loadTestsFromTestCase(S3UtilSelfTest)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    raise SystemExit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    _self_test()
