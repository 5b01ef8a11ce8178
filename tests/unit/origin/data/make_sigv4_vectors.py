#!/usr/bin/python3
"""Regenerates sigv4_botocore_vectors.json: S3 SigV4 vectors with botocore as the oracle.

Run with Debian's python3 and python3-botocore (apt-get install python3-botocore), from any
directory:  /usr/bin/python3 tests/unit/origin/data/make_sigv4_vectors.py
The output is committed; tests/unit/origin/sigv4_test.cc checks Portico's signer against it
byte for byte (canonical request, string to sign, Authorization).

Each request is built the way botocore's S3 client builds it: the key percent-encoded with
botocore.utils.percent_encode(key, safe='/~'), the query with percent_encode_sequence (%20 for a
space), then signed by botocore.auth.S3SigV4Auth with the clock pinned. `viewer_path`, when set,
is another spelling of the same path as a viewer may send it (lower-case hex, %7E, raw '+'): the
signer must decode it once and produce exactly botocore's bytes.
"""
import datetime
import json
import os
import sys
from unittest import mock

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode, percent_encode_sequence

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = ("IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+example/token+with/"
         "slashes+and+plus==")
AMZ_DATE = "20150830T123600Z"

# name, method, endpoint (scheme://host[:port]), bucket (None = virtual-hosted: bucket in host),
# key (decoded), query (list of decoded pairs), headers, options
CASES = [
    dict(name="key-spaces", key="my folder/my file.txt",
         viewer_path="/site/my%20folder/my%20file.txt"),
    dict(name="key-unicode", key="img/café/日本語 ü.png",
         viewer_path="/site/img/caf%c3%a9/%e6%97%a5%e6%9c%ac%e8%aa%9e%20%c3%bc.png"),
    dict(name="key-unicode-raw-bytes", key="straße/ñ.txt",
         viewer_path="/site/straße/ñ.txt"),
    dict(name="key-plus", key="a+b/c++.txt", viewer_path="/site/a+b/c++.txt"),
    dict(name="key-tilde", key="~user/file~1.txt", viewer_path="/site/%7Euser/file%7e1.txt"),
    dict(name="key-percent-literal", key="100%/50%25 off.txt",
         viewer_path="/site/100%25/50%2525%20off.txt"),
    dict(name="key-equals-amp-question-hash", key="q=1&x?y#z.txt",
         viewer_path="/site/q%3D1%26x%3Fy%23z.txt"),
    dict(name="key-all-reserved", key="r/!$&'()*+,;=:@[]", viewer_path=None),
    dict(name="key-folder-trailing-slash", key="dir/sub/", viewer_path="/site/dir/sub/"),
    dict(name="key-double-slash-kept", key="a//b/./c/../d", viewer_path="/site/a//b/./c/../d"),
    dict(name="key-encoded-slash-in-viewer-path", key="x/y.txt", viewer_path="/site/x%2Fy.txt"),
    dict(name="query-sorted-encoded", key="index.html",
         query=[("versionId", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"),
                ("response-content-disposition", 'attachment; filename="a b+c.txt"'),
                ("response-cache-control", "max-age=60, public"),
                ("x-id", "GetObject"),
                ("café", "ü ~*")]),
    dict(name="query-empty-value", key="index.html", query=[("acl", ""), ("a", "b")]),
    dict(name="session-token-vhost", endpoint="https://assets.s3.us-east-1.amazonaws.com",
         bucket=None, key="index.html", token=TOKEN),
    dict(name="unsigned-payload-vhost", endpoint="https://assets.s3.us-east-1.amazonaws.com",
         bucket=None, key="app/main.js", unsigned=True),
    dict(name="head-unsigned-token", method="HEAD",
         endpoint="https://assets.s3.eu-west-1.amazonaws.com", bucket=None, region="eu-west-1",
         key="big file.bin", token=TOKEN, unsigned=True),
    dict(name="range-and-conditionals", key="video/clip.mp4",
         headers={"Range": "bytes=100-199", "If-None-Match": '"9b2cf535f27731c974343645a3985328"',
                  "If-Modified-Since": "Sun, 30 Aug 2015 12:00:00 GMT"}),
    dict(name="if-match-unmodified-since", key="doc.pdf",
         headers={"If-Match": '"abc"', "If-Unmodified-Since": "Sun, 30 Aug 2015 12:00:00 GMT"}),
    dict(name="region-eu-central-1", endpoint="http://127.0.0.1:9000", region="eu-central-1",
         key="x.txt"),
    dict(name="localhost-default-port", endpoint="http://localhost", key="x.txt"),
    # The example of S3's "Signature Calculations for the Authorization Header" page (GET Object
    # with a Range), with its key pair and date.
    dict(name="aws-doc-get-object-range", endpoint="https://examplebucket.s3.amazonaws.com",
         bucket=None, key="test.txt", headers={"Range": "bytes=0-9"},
         access_key="AKIAIOSFODNN7EXAMPLE",
         secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", amz_date="20130524T000000Z"),
]


def build(case):
    endpoint = case.get("endpoint", "http://127.0.0.1:4569")
    bucket = case.get("bucket", "site")
    path = "/" + percent_encode(case["key"], safe="/~")
    if bucket is not None:
        path = "/" + bucket + path
    url = endpoint + path
    query = case.get("query")
    if query:
        url += "?" + percent_encode_sequence(query)
    return url


def sign(case):
    amz_date = case.get("amz_date", AMZ_DATE)
    fixed = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    creds = Credentials(case.get("access_key", AKID), case.get("secret_key", SECRET),
                        case.get("token"))
    auth = botocore.auth.S3SigV4Auth(creds, "s3", case.get("region", "us-east-1"))
    url = build(case)
    req = AWSRequest(method=case.get("method", "GET"), url=url,
                     headers=dict(case.get("headers", {})))
    if case.get("unsigned"):
        req.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    # Record the intermediate strings botocore computes inside add_auth().
    seen = {}
    canonical_request, string_to_sign = auth.canonical_request, auth.string_to_sign

    def record_creq(r):
        seen["creq"] = canonical_request(r)
        return seen["creq"]

    def record_sts(r, creq):
        seen["sts"] = string_to_sign(r, creq)
        return seen["sts"]

    auth.canonical_request, auth.string_to_sign = record_creq, record_sts
    with mock.patch("botocore.auth.datetime") as dt:
        dt.datetime.utcnow.return_value = fixed
        dt.datetime.strptime = datetime.datetime.strptime
        auth.add_auth(req)
    creq, sts = seen["creq"], seen["sts"]
    payload = req.headers["X-Amz-Content-SHA256"]
    return {
        "name": case["name"],
        "method": req.method,
        "url": url,
        "viewer_path": case.get("viewer_path"),
        "headers": dict(case.get("headers", {})),
        "session_token": case.get("token"),
        "payload_hash": payload,
        "access_key": creds.access_key,
        "secret_key": creds.secret_key,
        "region": case.get("region", "us-east-1"),
        "amz_date": amz_date,
        "canonical_request": creq,
        "string_to_sign": sts,
        "authorization": req.headers["Authorization"],
    }


def main():
    out = {
        "generator": "botocore %s S3SigV4Auth via tests/unit/origin/data/make_sigv4_vectors.py"
                     % botocore.__version__,
        "note": "url is what goes on the wire (percent-encoded as botocore's S3 client does); "
                "viewer_path is another spelling of the same path; payload_hash is the "
                "x-amz-content-sha256 botocore sent. Signed headers: host, x-amz-*, and the "
                "input headers.",
        "cases": [sign(c) for c in CASES],
    }
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "sigv4_botocore_vectors.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote %d cases" % len(out["cases"]), file=sys.stderr)


if __name__ == "__main__":
    main()
