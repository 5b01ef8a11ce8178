#include "origin/s3_errors.h"

#include <time.h>

#include <cstdio>

namespace portico::origin {
namespace {

constexpr size_t kMaxScan = 64 * 1024;
constexpr size_t kMaxField = 96;

// The text of the first <name>…</name> element (entities for & < > " ' decoded), or "".
// S3 error bodies are flat and attribute-free, so a scan is enough: no XML library.
std::string element(std::string_view body, std::string_view name) {
  std::string open = "<" + std::string(name) + ">";
  std::string close = "</" + std::string(name) + ">";
  size_t b = body.find(open);
  if (b == std::string_view::npos) return {};
  b += open.size();
  size_t e = body.find(close, b);
  if (e == std::string_view::npos) return {};
  std::string_view raw = body.substr(b, e - b);
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '&') {
      static constexpr std::pair<std::string_view, char> kEntities[] = {
          {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
      bool done = false;
      for (const auto& [ent, ch] : kEntities) {
        if (raw.substr(i, ent.size()) == ent) {
          out += ch;
          i += ent.size() - 1;
          done = true;
          break;
        }
      }
      if (done) continue;
    }
    out += raw[i];
  }
  return out;
}

// Printable ASCII only (no CR/LF or escape sequences can reach a log line), capped.
std::string sanitize(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (out.size() >= kMaxField) {
      out += "...";
      break;
    }
    out += (c >= 0x20 && c < 0x7F) ? c : '?';
  }
  return out;
}

std::string redact_key_id(std::string_view id) {
  if (id.size() <= 4) return "…";
  return sanitize(id.substr(0, 4)) + "…";
}

// "2015-08-30T12:36:00Z", "2015-08-30T12:36:00.000Z" or "20150830T123600Z"; -1 when neither.
int64_t parse_aws_time(std::string_view s) {
  struct tm tm {};
  int y, mo, d, h, mi, sec;
  std::string str(s.substr(0, 40));
  char z = 0;
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) == 6 ||
      (std::sscanf(str.c_str(), "%4d%2d%2dT%2d%2d%2d%c", &y, &mo, &d, &h, &mi, &sec, &z) == 7 &&
       z == 'Z')) {
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return static_cast<int64_t>(timegm(&tm));
  }
  return -1;
}

std::string format_skew(int64_t s) {
  int64_t a = s < 0 ? -s : s;
  char buf[64];
  if (a >= 3600) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm%02llds", static_cast<long long>(a / 3600),
                  static_cast<long long>(a / 60 % 60), static_cast<long long>(a % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(a / 60),
                  static_cast<long long>(a % 60));
  }
  return buf;
}

S3ErrorKind kind_for_code(std::string_view code) {
  static constexpr std::pair<std::string_view, S3ErrorKind> kCodes[] = {
      {"SignatureDoesNotMatch", S3ErrorKind::SignatureDoesNotMatch},
      {"RequestTimeTooSkewed", S3ErrorKind::RequestTimeTooSkewed},
      {"InvalidAccessKeyId", S3ErrorKind::InvalidAccessKeyId},
      {"AuthorizationHeaderMalformed", S3ErrorKind::AuthorizationHeaderMalformed},
      {"AccessDenied", S3ErrorKind::AccessDenied},
      {"NoSuchKey", S3ErrorKind::NoSuchKey},
      {"NoSuchBucket", S3ErrorKind::NoSuchBucket},
      {"SlowDown", S3ErrorKind::SlowDown},
      {"InternalError", S3ErrorKind::InternalError},
  };
  for (const auto& [c, k] : kCodes) {
    if (c == code) return k;
  }
  return S3ErrorKind::Other;
}

S3ErrorKind kind_for_status(int status) {
  if (status == 403) return S3ErrorKind::AccessDenied;
  if (status == 404) return S3ErrorKind::NoSuchKey;
  if (status == 503) return S3ErrorKind::SlowDown;
  if (status >= 500) return S3ErrorKind::InternalError;
  return S3ErrorKind::Other;
}

}  // namespace

const char* s3_error_kind_name(S3ErrorKind kind) {
  switch (kind) {
    case S3ErrorKind::SignatureDoesNotMatch:
      return "SignatureDoesNotMatch";
    case S3ErrorKind::RequestTimeTooSkewed:
      return "RequestTimeTooSkewed";
    case S3ErrorKind::InvalidAccessKeyId:
      return "InvalidAccessKeyId";
    case S3ErrorKind::AuthorizationHeaderMalformed:
      return "AuthorizationHeaderMalformed";
    case S3ErrorKind::AccessDenied:
      return "AccessDenied";
    case S3ErrorKind::NoSuchKey:
      return "NoSuchKey";
    case S3ErrorKind::NoSuchBucket:
      return "NoSuchBucket";
    case S3ErrorKind::SlowDown:
      return "SlowDown";
    case S3ErrorKind::InternalError:
      return "InternalError";
    case S3ErrorKind::Other:
      break;
  }
  return "Other";
}

S3ErrorInfo classify_s3_error(int status, std::string_view body, std::string_view signed_region) {
  body = body.substr(0, kMaxScan);
  S3ErrorInfo info;
  info.status = status;
  info.code = sanitize(element(body, "Code"));
  if (info.code.empty()) {
    info.kind = kind_for_status(status);
    info.inferred = true;
  } else {
    info.kind = kind_for_code(info.code);
    // S3 uses 5xx codes beyond these two (ServiceUnavailable, ...): all are S3-side failures.
    // So is a 5xx whose code names a client-side error (NoSuchKey, AccessDenied, ... from a
    // faulty S3-compatible store or a proxy in between): the status wins, else a passing failure
    // would reach the viewer as a 404/403, unretried (and cacheable as an error response).
    if (status >= 500 && info.kind != S3ErrorKind::SlowDown &&
        info.kind != S3ErrorKind::InternalError) {
      info.kind = status == 503 ? S3ErrorKind::SlowDown : S3ErrorKind::InternalError;
    }
  }
  info.retryable = info.kind == S3ErrorKind::SlowDown || info.kind == S3ErrorKind::InternalError;

  const std::string status_text = "S3 " + std::to_string(status);
  std::string& x = info.explanation;
  switch (info.kind) {
    case S3ErrorKind::SignatureDoesNotMatch: {
      std::string id = element(body, "AWSAccessKeyId");
      x = "signature mismatch (" + status_text +
          " SignatureDoesNotMatch): S3 computed another signature; the secret access key";
      if (!id.empty()) x += " for " + redact_key_id(id);
      x += " is wrong, or the request changed after signing";
      break;
    }
    case S3ErrorKind::RequestTimeTooSkewed: {
      info.server_time = sanitize(element(body, "ServerTime"));
      info.request_time = sanitize(element(body, "RequestTime"));
      int64_t server = parse_aws_time(info.server_time);
      int64_t request = parse_aws_time(info.request_time);
      x = "clock skew (" + status_text + " RequestTimeTooSkewed): S3 time is " +
          (info.server_time.empty() ? std::string("unknown") : info.server_time);
      if (!info.request_time.empty()) x += ", request signed at " + info.request_time;
      if (server >= 0 && request >= 0) {
        info.skew_s = server - request;
        x += " (our clock is " + format_skew(*info.skew_s) +
             (*info.skew_s >= 0 ? " behind)" : " ahead)");
      }
      x += "; fix the system clock (NTP)";
      break;
    }
    case S3ErrorKind::InvalidAccessKeyId: {
      std::string id = element(body, "AWSAccessKeyId");
      x = "bad credentials (" + status_text + " InvalidAccessKeyId): S3 does not know the key id";
      if (!id.empty()) x += " " + redact_key_id(id);
      x += " (wrong account or endpoint, or a deleted key)";
      break;
    }
    case S3ErrorKind::AuthorizationHeaderMalformed: {
      std::string region;
      for (char c : element(body, "Region")) {
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') region += c;
      }
      info.region = region.substr(0, kMaxField);
      if (!info.region.empty()) {
        x = "wrong region (" + status_text + " AuthorizationHeaderMalformed): bucket is in " +
            info.region;
        if (!signed_region.empty()) x += ", request signed for " + sanitize(signed_region);
        x += "; set the origin's region to " + info.region;
      } else {
        x = "malformed authorization (" + status_text +
            " AuthorizationHeaderMalformed): check the origin's region and credentials";
      }
      break;
    }
    case S3ErrorKind::AccessDenied:
      x = "access denied (" + status_text + (info.inferred ? "" : " AccessDenied") +
          "): the credentials may not read this object, or the key does not exist and they may "
          "not list the bucket";
      break;
    case S3ErrorKind::NoSuchKey:
      x = "no such key (" + status_text + (info.inferred ? ")" : " NoSuchKey)");
      break;
    case S3ErrorKind::NoSuchBucket: {
      std::string bucket = sanitize(element(body, "BucketName"));
      x = "no such bucket (" + status_text + " NoSuchBucket)";
      if (!bucket.empty()) x += ": " + bucket;
      break;
    }
    case S3ErrorKind::SlowDown:
      x = "throttled (" + status_text + " " + (info.code.empty() ? "SlowDown" : info.code) +
          "): S3 asks to slow down; retrying with backoff";
      break;
    case S3ErrorKind::InternalError:
      x = "S3 failure (" + status_text + (info.code.empty() ? "" : " " + info.code) + ")";
      break;
    case S3ErrorKind::Other: {
      x = "S3 error (" + status_text + (info.code.empty() ? "" : " " + info.code) + ")";
      std::string endpoint = sanitize(element(body, "Endpoint"));
      if (info.code == "PermanentRedirect" && !endpoint.empty()) {
        x += ": bucket must be addressed at " + endpoint + " (wrong region or endpoint)";
      }
      break;
    }
  }
  return info;
}

ViewerErrorMapping map_s3_error(const S3ErrorInfo& info, MissingObject missing) {
  ViewerErrorMapping m;
  switch (info.kind) {
    case S3ErrorKind::NoSuchKey:
      if (missing == MissingObject::Forbidden403) {
        m.status = 403;
        m.replace_body = true;
      } else {
        m.status = 404;
      }
      return m;
    case S3ErrorKind::SlowDown:
      m.status = 503;
      m.retry = true;
      return m;
    case S3ErrorKind::InternalError:
      m.status = 502;
      m.retry = true;
      return m;
    default:
      break;
  }
  // Everything else passes through as S3 sent it (CloudFront shows S3's 403s as they are).
  m.status = info.status >= 400 && info.status <= 599 ? info.status : 502;
  return m;
}

}  // namespace portico::origin
