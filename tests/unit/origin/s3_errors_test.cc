// S3 error bodies (shapes as S3 and s3rver send them) -> kind, log-safe explanation, and the
// viewer status CloudFront would show.
#include "origin/s3_errors.h"

#include <catch2/catch.hpp>
#include <string>

using portico::origin::classify_s3_error;
using portico::origin::map_s3_error;
using portico::origin::MissingObject;
using portico::origin::S3ErrorKind;

namespace {

constexpr const char* kSignatureProvided =
    "8cb2fd1c3a9d2ea6a5b2b8cbbaa1c2e4d9f6f4f1f4a8f61b5bb9a4c8b7b1e9d3";
constexpr const char* kSessionToken = "IQoJb3JpZ2luX2VjEXAMPLETOKEN";

std::string error_body(const std::string& inner) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>" + inner + "</Error>";
}

void require_log_safe(const std::string& s) {
  INFO("explanation: " << s);
  CHECK(s.find(kSignatureProvided) == std::string::npos);
  CHECK(s.find(kSessionToken) == std::string::npos);
  CHECK(s.find("AKIAIOSFODNN7EXAMPLE") == std::string::npos);  // only the redacted form
  CHECK(s.find('\n') == std::string::npos);
  CHECK(s.find('\r') == std::string::npos);
}

}  // namespace

TEST_CASE("s3 errors: SignatureDoesNotMatch never echoes the signature", "[s3_errors]") {
  std::string body = error_body(
      "<Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not "
      "match the signature you provided. Check your key and signing method.</Message>"
      "<AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId>"
      "<StringToSign>AWS4-HMAC-SHA256\n20150830T123600Z\n...</StringToSign>"
      "<SignatureProvided>" +
      std::string(kSignatureProvided) +
      "</SignatureProvided>"
      "<CanonicalRequest>GET\n/k\n\nx-amz-security-token:" +
      std::string(kSessionToken) + "\n</CanonicalRequest><RequestId>X</RequestId>");
  auto info = classify_s3_error(403, body);
  CHECK(info.kind == S3ErrorKind::SignatureDoesNotMatch);
  CHECK(info.code == "SignatureDoesNotMatch");
  CHECK_FALSE(info.retryable);
  CHECK(info.explanation.find("signature mismatch") == 0);
  CHECK(info.explanation.find("AKIA…") != std::string::npos);
  require_log_safe(info.explanation);
  auto m = map_s3_error(info, MissingObject::Forbidden403);
  CHECK(m.status == 403);
  CHECK_FALSE(m.retry);
  CHECK_FALSE(m.replace_body);
}

TEST_CASE("s3 errors: RequestTimeTooSkewed names both clocks and the skew", "[s3_errors]") {
  auto info = classify_s3_error(
      403, error_body("<Code>RequestTimeTooSkewed</Code><Message>The difference between the "
                      "request time and the current time is too large.</Message>"
                      "<RequestTime>20150830T123600Z</RequestTime>"
                      "<ServerTime>2015-08-30T12:52:30Z</ServerTime>"
                      "<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>"));
  CHECK(info.kind == S3ErrorKind::RequestTimeTooSkewed);
  CHECK(info.server_time == "2015-08-30T12:52:30Z");
  CHECK(info.request_time == "20150830T123600Z");
  REQUIRE(info.skew_s.has_value());
  CHECK(*info.skew_s == 990);
  CHECK(info.explanation ==
        "clock skew (S3 403 RequestTimeTooSkewed): S3 time is 2015-08-30T12:52:30Z, request "
        "signed at 20150830T123600Z (our clock is 16m30s behind); fix the system clock (NTP)");
  require_log_safe(info.explanation);

  // s3rver's shape: ServerTime without fractional seconds, request ahead of the server.
  auto ahead = classify_s3_error(
      403, error_body("<Code>RequestTimeTooSkewed</Code><RequestTime>20150830T143600Z</RequestTime>"
                      "<ServerTime>2015-08-30T12:36:00.000Z</ServerTime>"));
  REQUIRE(ahead.skew_s.has_value());
  CHECK(*ahead.skew_s == -7200);
  CHECK(ahead.explanation.find("2h00m00s ahead") != std::string::npos);
}

TEST_CASE("s3 errors: wrong region from AuthorizationHeaderMalformed", "[s3_errors]") {
  auto info = classify_s3_error(
      400,
      error_body("<Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is "
                 "malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'</Message>"
                 "<Region>eu-west-1</Region><RequestId>R</RequestId><HostId>H</HostId>"),
      "us-east-1");
  CHECK(info.kind == S3ErrorKind::AuthorizationHeaderMalformed);
  CHECK(info.region == "eu-west-1");
  CHECK(info.explanation ==
        "wrong region (S3 400 AuthorizationHeaderMalformed): bucket is in eu-west-1, request "
        "signed for us-east-1; set the origin's region to eu-west-1");
  CHECK(map_s3_error(info, MissingObject::NotFound404).status == 400);

  auto no_region = classify_s3_error(
      400, error_body("<Code>AuthorizationHeaderMalformed</Code><Region>\n</Region>"));
  CHECK(no_region.region.empty());
  CHECK(no_region.explanation.find("malformed authorization") == 0);
}

TEST_CASE("s3 errors: credentials, permissions, missing things", "[s3_errors]") {
  auto bad_id = classify_s3_error(
      403, error_body("<Code>InvalidAccessKeyId</Code><AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE"
                      "</AWSAccessKeyId>"));
  CHECK(bad_id.kind == S3ErrorKind::InvalidAccessKeyId);
  CHECK(bad_id.explanation.find("bad credentials") == 0);
  CHECK(bad_id.explanation.find("AKIA…") != std::string::npos);
  require_log_safe(bad_id.explanation);

  auto denied = classify_s3_error(403, error_body("<Code>AccessDenied</Code><Message>Access "
                                                  "Denied</Message>"));
  CHECK(denied.kind == S3ErrorKind::AccessDenied);
  // An AccessDenied may hide a missing key, but it cannot be told apart: it stays 403.
  CHECK(map_s3_error(denied, MissingObject::NotFound404).status == 403);
  CHECK(map_s3_error(denied, MissingObject::Forbidden403).status == 403);

  auto missing = classify_s3_error(404, error_body("<Code>NoSuchKey</Code><Key>a b.txt</Key>"));
  CHECK(missing.kind == S3ErrorKind::NoSuchKey);
  auto as404 = map_s3_error(missing, MissingObject::NotFound404);
  CHECK(as404.status == 404);
  CHECK_FALSE(as404.replace_body);
  auto as403 = map_s3_error(missing, MissingObject::Forbidden403);
  CHECK(as403.status == 403);
  CHECK(as403.replace_body);
  CHECK(std::string(portico::origin::kAccessDeniedBody).find("<Code>AccessDenied</Code>") !=
        std::string::npos);

  auto bucket = classify_s3_error(
      404, error_body("<Code>NoSuchBucket</Code><BucketName>my-site</BucketName>"));
  CHECK(bucket.kind == S3ErrorKind::NoSuchBucket);
  CHECK(bucket.explanation == "no such bucket (S3 404 NoSuchBucket): my-site");
  CHECK(map_s3_error(bucket, MissingObject::Forbidden403).status == 404);
}

TEST_CASE("s3 errors: throttling and 5xx are retryable", "[s3_errors]") {
  auto slow = classify_s3_error(503, error_body("<Code>SlowDown</Code><Message>Please reduce "
                                                "your request rate.</Message>"));
  CHECK(slow.kind == S3ErrorKind::SlowDown);
  CHECK(slow.retryable);
  auto m = map_s3_error(slow, MissingObject::Forbidden403);
  CHECK(m.status == 503);
  CHECK(m.retry);

  auto internal = classify_s3_error(500, error_body("<Code>InternalError</Code>"));
  CHECK(internal.kind == S3ErrorKind::InternalError);
  CHECK(map_s3_error(internal, MissingObject::Forbidden403).status == 502);
  CHECK(map_s3_error(internal, MissingObject::Forbidden403).retry);

  auto unavailable = classify_s3_error(503, error_body("<Code>ServiceUnavailable</Code>"));
  CHECK(unavailable.kind == S3ErrorKind::SlowDown);
  CHECK(unavailable.code == "ServiceUnavailable");
  auto other5xx = classify_s3_error(501, error_body("<Code>NotImplemented</Code>"));
  CHECK(other5xx.kind == S3ErrorKind::InternalError);
  CHECK(other5xx.retryable);

  // Found by tests/fuzz/origin_s3_errors_fuzz: a 5xx whose code names a client-side error was
  // classified by the code, so a 500 saying NoSuchKey reached the viewer as a 403/404, unretried.
  auto confused = classify_s3_error(500, error_body("<Code>NoSuchKey</Code>"));
  CHECK(confused.kind == S3ErrorKind::InternalError);
  CHECK(confused.code == "NoSuchKey");
  CHECK(confused.retryable);
  CHECK(map_s3_error(confused, MissingObject::NotFound404).status == 502);
  CHECK(map_s3_error(confused, MissingObject::Forbidden403).retry);
  auto denied503 = classify_s3_error(503, error_body("<Code>AccessDenied</Code>"));
  CHECK(denied503.kind == S3ErrorKind::SlowDown);
  CHECK(map_s3_error(denied503, MissingObject::Forbidden403).status == 503);
}

TEST_CASE("s3 errors: bodiless responses (HEAD) are classified by status", "[s3_errors]") {
  CHECK(classify_s3_error(403, "").kind == S3ErrorKind::AccessDenied);
  CHECK(classify_s3_error(404, "").kind == S3ErrorKind::NoSuchKey);
  CHECK(classify_s3_error(404, "").inferred);
  CHECK(classify_s3_error(503, "").kind == S3ErrorKind::SlowDown);
  CHECK(classify_s3_error(500, "").kind == S3ErrorKind::InternalError);
  CHECK(classify_s3_error(400, "").kind == S3ErrorKind::Other);
  CHECK(classify_s3_error(404, "").explanation == "no such key (S3 404)");
  CHECK(map_s3_error(classify_s3_error(404, ""), MissingObject::Forbidden403).status == 403);
}

TEST_CASE("s3 errors: other codes, entities, hostile bodies", "[s3_errors]") {
  auto redirect = classify_s3_error(
      301, error_body("<Code>PermanentRedirect</Code><Endpoint>b.s3.eu-west-1.amazonaws.com"
                      "</Endpoint>"));
  CHECK(redirect.kind == S3ErrorKind::Other);
  CHECK(redirect.explanation.find("b.s3.eu-west-1.amazonaws.com") != std::string::npos);
  CHECK(map_s3_error(redirect, MissingObject::Forbidden403).status == 502);

  auto odd = classify_s3_error(400, error_body("<Code>Bad&amp;Code\r\nInjected: 1</Code>"));
  CHECK(odd.code == "Bad&Code??Injected: 1");
  require_log_safe(odd.explanation);

  std::string huge = error_body("<Code>" + std::string(1000, 'A') + "</Code>");
  CHECK(classify_s3_error(400, huge).code.size() < 120);
  CHECK(classify_s3_error(400, "<html>not xml</html>").kind == S3ErrorKind::Other);
  CHECK(classify_s3_error(400, "<Code>unterminated").code.empty());
  CHECK(std::string(portico::origin::s3_error_kind_name(S3ErrorKind::SlowDown)) == "SlowDown");
}
