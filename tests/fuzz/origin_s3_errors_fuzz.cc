// Fuzz target for origin::classify_s3_error and origin::map_s3_error. The first byte picks the
// status (mostly the ones S3 sends, sometimes any 0..999) and the `missing_object` setting; the
// rest is the XML-ish body. The same body is also classified behind a block of secrets, the
// elements the header promises never to quote.
// Invariants: the status is kept; `code` and the quoted fields are printable ASCII and capped;
// the explanation is one log-safe line that names neither the secrets nor the full access key
// id; inferred means no <Code>; retryable means SlowDown or InternalError, and every 5xx status
// is one of those (S3-side failures); the viewer gets a 4xx/5xx status, SlowDown 503 and other
// 5xx 502 with a retry, NoSuchKey 403 (S3's AccessDenied body) or 404 as configured, and any
// other 4xx as S3 sent it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "origin/s3_errors.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using portico::origin::S3ErrorInfo;
using portico::origin::S3ErrorKind;

constexpr int kStatuses[] = {400, 403, 404, 301, 307, 409, 500, 501, 503, 200};

// Printable ASCII, capped at 96 characters plus "...".
void check_field(const std::string& s) {
  FUZZ_CHECK(s.size() <= 99);
  for (char c : s) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
}

// One line: no control characters (the explanation's own text may hold UTF-8, e.g. "…").
void check_line(const std::string& s) {
  FUZZ_CHECK(!s.empty());
  for (char c : s) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
}

void check(const S3ErrorInfo& info, int status, portico::origin::MissingObject missing) {
  FUZZ_CHECK(info.status == status);
  check_field(info.code);
  check_field(info.server_time);
  check_field(info.request_time);
  FUZZ_CHECK(info.region.size() <= 96);
  for (char c : info.region) {
    FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  }
  check_line(info.explanation);
  FUZZ_CHECK(info.inferred == info.code.empty());
  const bool server_side =
      info.kind == S3ErrorKind::SlowDown || info.kind == S3ErrorKind::InternalError;
  FUZZ_CHECK(info.retryable == server_side);
  if (status >= 500 && status <= 599) FUZZ_CHECK(server_side);
  if (!info.inferred && !server_side && info.kind != S3ErrorKind::Other) {
    FUZZ_CHECK(info.code == portico::origin::s3_error_kind_name(info.kind));
  }
  if (info.skew_s) {
    FUZZ_CHECK(info.kind == S3ErrorKind::RequestTimeTooSkewed);
    FUZZ_CHECK(!info.server_time.empty() && !info.request_time.empty());
  }

  const portico::origin::ViewerErrorMapping m = portico::origin::map_s3_error(info, missing);
  FUZZ_CHECK(m.status >= 400 && m.status <= 599);
  FUZZ_CHECK(m.retry == server_side);
  FUZZ_CHECK(!m.replace_body || m.status == 403);
  switch (info.kind) {
    case S3ErrorKind::SlowDown:
      FUZZ_CHECK(m.status == 503);
      break;
    case S3ErrorKind::InternalError:
      FUZZ_CHECK(m.status == 502);
      break;
    case S3ErrorKind::NoSuchKey:
      FUZZ_CHECK(missing == portico::origin::MissingObject::Forbidden403
                     ? m.status == 403 && m.replace_body
                     : m.status == 404 && !m.replace_body);
      break;
    default:
      FUZZ_CHECK(!m.replace_body);
      FUZZ_CHECK(m.status == (status >= 400 && status <= 499 ? status : 502));
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t mode = data[0];
  int status = kStatuses[mode % 10];
  if ((mode & 0x80) != 0) status = static_cast<int>(data[1]) * 4 + (mode & 3);  // 0..1023
  const auto missing = (mode & 0x40) != 0 ? portico::origin::MissingObject::NotFound404
                                          : portico::origin::MissingObject::Forbidden403;
  const std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);
  const std::string_view region = (mode & 0x20) != 0 ? "us-east-1" : "";

  const S3ErrorInfo info = portico::origin::classify_s3_error(status, body, region);
  check(info, status, missing);

  // The secrets S3 echoes in its body, ahead of the input (the first element of a name counts).
  const std::string secrets =
      "<AWSAccessKeyId>AKIAQQSECRETKEYID</AWSAccessKeyId>"
      "<SignatureProvided>QQSECRETSIGNATURE</SignatureProvided>"
      "<StringToSign>AWS4-HMAC-SHA256\nQQSECRETSTS</StringToSign>"
      "<CanonicalRequest>GET\n/?X-Amz-Security-Token=QQSECRETTOKEN</CanonicalRequest>";
  const S3ErrorInfo leaky = portico::origin::classify_s3_error(status, secrets + std::string(body));
  check(leaky, status, missing);
  if (body.find("SECRET") == std::string_view::npos) {
    FUZZ_CHECK(leaky.explanation.find("QQSECRET") == std::string::npos);
    FUZZ_CHECK(leaky.explanation.find("SECRETKEYID") == std::string::npos);
  }
  return 0;
}
