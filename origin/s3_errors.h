// What an S3 error response means, for Portico's log and for the viewer: classifies status +
// XML body ("<Error><Code>…</Code>…</Error>", S3 REST error responses) into the cases an
// origin fetch meets, with a one-line, log-safe explanation (clock skew, wrong region, bad
// credentials...), and maps it onto the viewer response as CloudFront does with Origin Access
// Control. Pure functions on values; any thread.
// Log safety: the explanation only quotes whitelisted elements (Code, Region, ServerTime,
// RequestTime, BucketName, Endpoint), sanitised to printable ASCII and capped; never
// SignatureProvided, StringToSign or CanonicalRequest (which may hold the session token), and
// the access key id only in redacted form.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portico::origin {

enum class S3ErrorKind : uint8_t {
  SignatureDoesNotMatch,         // wrong secret, or the request changed after signing
  RequestTimeTooSkewed,          // our clock is more than 15 minutes off S3's
  InvalidAccessKeyId,            // S3 does not know the key id (wrong account/endpoint, deleted)
  AuthorizationHeaderMalformed,  // usually the wrong region in the credential scope
  AccessDenied,                  // no permission, or a missing key without s3:ListBucket
  NoSuchKey,
  NoSuchBucket,
  SlowDown,       // throttled (503)
  InternalError,  // S3's own failure (500), or any other 5xx
  Other,
};

// "SignatureDoesNotMatch", ... (the S3 code spelling); "Other" for Other.
const char* s3_error_kind_name(S3ErrorKind kind);

struct S3ErrorInfo {
  int status = 0;
  S3ErrorKind kind = S3ErrorKind::Other;
  std::string code;               // <Code> as sent (sanitised); empty when the body had none (HEAD)
  std::string region;             // <Region>: the bucket's region (AuthorizationHeaderMalformed)
  std::string server_time;        // <ServerTime> (RequestTimeTooSkewed)
  std::string request_time;       // <RequestTime> (RequestTimeTooSkewed)
  std::optional<int64_t> skew_s;  // ServerTime - RequestTime in seconds, when both parse
  bool inferred = false;          // no <Code> in the body: kind guessed from the status
  bool retryable = false;         // SlowDown and 5xx: retry idempotent requests with backoff
  std::string explanation;        // one line for the log, e.g. "wrong region: bucket is in X"
};

// Classifies an S3 error response. `body` may be empty (HEAD responses carry none): the kind is
// then inferred from the status (403 AccessDenied, 404 NoSuchKey, 503 SlowDown, 5xx
// InternalError). `signed_region`, when given, is named in the wrong-region explanation.
// Bodies over 64 KiB are only scanned in their first 64 KiB.
S3ErrorInfo classify_s3_error(int status, std::string_view body,
                              std::string_view signed_region = {});

// The origin's `missing_object` setting: what a viewer gets for a key that does not exist.
// CloudFront + OAC shows S3's own answer: 403 AccessDenied when the distribution's role may not
// list the bucket (the AWS default), 404 NoSuchKey when it may.
enum class MissingObject : uint8_t { Forbidden403, NotFound404 };

struct ViewerErrorMapping {
  int status = 502;
  // Retry the fetch first (idempotent requests only; bounded, jittered backoff); `status` is
  // what the viewer gets once retries are exhausted.
  bool retry = false;
  // Send kAccessDeniedBody (application/xml) instead of S3's body: a NoSuchKey turned into 403.
  bool replace_body = false;
};

// How an S3 error reaches the viewer. NoSuchKey follows `missing`; SlowDown -> 503 and other
// 5xx -> 502, retryable; every other 4xx (AccessDenied, signature, clock and credential errors)
// passes through with S3's status and body, as CloudFront does. S3's AccessDenied for a missing
// key (no s3:ListBucket) cannot be told apart from a real denial, so it stays 403.
ViewerErrorMapping map_s3_error(const S3ErrorInfo& info, MissingObject missing);

// S3's body for a denied GET, used when a NoSuchKey is shown as 403.
inline constexpr std::string_view kAccessDeniedBody =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";

}  // namespace portico::origin
