// AWS Signature Version 4, header-based ("Authorization: AWS4-HMAC-SHA256 ..."), for S3 origin
// fetches (CloudFront's Origin Access Control) and, with PathRules::Classic, any other AWS service.
// Written against AWS's "Create a canonical request" / "Create a string to sign" / "Calculate the
// signature" pages and S3's "Signature Calculations for the Authorization Header" page; checked
// byte for byte against AWS's published test suites and botocore (tests/unit/origin/sigv4_test.cc).
// Pure computation (OpenSSL SHA-256/HMAC only, no I/O). Free functions: any thread. A Signer owns
// a copy of the credentials and a SigningKeyCache and is NOT thread-safe: keep one per worker
// thread (per S3 origin), like the rest of a worker's per-origin state.
//
// Path encoding, the part that goes wrong most often:
//  - A request path arrives percent-encoded (core::RequestHead::path). For S3 the object key is the
//    path decoded exactly once: "/a%20b+c%2Bd" names the key "a b+c+d" ('+' is a literal plus in
//    a path, never a space; RFC 3986 has no form encoding). PathRules::S3 then URI-encodes that key
//    once (every byte except A-Z a-z 0-9 - . _ ~ and '/'; UTF-8 bytes as uppercase %XX), with no
//    dot-segment removal and no '//' merging: "a/./b" and "a//b" are distinct S3 keys.
//  - Decoding first means an already-encoded key is never double-encoded ("%2520" stays the key
//    "%20", signed as "%2520"), and the same key always yields the same bytes however the viewer
//    spelled it ("%7E" / "~", "%c3%a9" / "%C3%A9"). A malformed escape ("%", "%zz") is an error.
//  - Signer::sign() in S3 mode rewrites head.path/query/target to exactly the canonical bytes it
//    signed, so what goes on the wire is what was signed (S3 decodes once and re-encodes; both
//    sides then agree by construction).
//  - PathRules::Classic is what every other AWS service expects (and the aws4_testsuite vectors):
//    remove dot segments and merge '//' (RFC 3986 §5.2.4), then URI-encode the path as given, so an
//    already-encoded "%20" becomes "%2520" ("double encoding"). The path is not rewritten.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "core/http.h"
#include "core/result.h"
#include "origin/credentials.h"

namespace portico::origin {

inline constexpr std::string_view kSigV4Algorithm = "AWS4-HMAC-SHA256";
// x-amz-content-sha256 / hashed-payload values.
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

enum class PathRules : uint8_t {
  S3,       // decode once, encode once, no normalization (S3; aws-c-auth "normalize: false")
  Classic,  // normalize, then encode the path as given (double encoding; all other services)
};

// Which request headers go into SignedHeaders. Host and every x-amz-* header are always signed.
enum class HeaderSelection : uint8_t {
  // Host, x-amz-*, Content-Type, Content-MD5, Range and the If-* preconditions: what S3 needs to
  // bind the response to the request, and none of the fields a proxy adds or rewrites later
  // (Connection, Via, X-Forwarded-For, User-Agent...). The default for origin fetches.
  Origin,
  // Every header present at sign() time (what the AWS test suites and botocore do).
  All,
};

struct SigningOptions {
  PathRules path_rules = PathRules::S3;
  HeaderSelection headers = HeaderSelection::Origin;
  // Hashed-payload line of the canonical request: kEmptyPayloadSha256 for a GET/HEAD without a
  // body, kUnsignedPayload, or sha256_hex(body).
  std::string payload_hash = std::string(kEmptyPayloadSha256);
  // Send (and sign) x-amz-content-sha256 = payload_hash. S3 requires it; other services don't.
  bool content_sha256_header = true;
  // Sign x-amz-security-token (S3 and botocore do). false = add it after signing (the
  // "post-sts-header-after" test case); only for the test suites.
  bool sign_session_token = true;
};

// The intermediate results of one signature, for tests and debug logs. canonical_request and
// string_to_sign contain no secret; they may contain the session token (never log them at Info).
struct SigningSteps {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // 64 lowercase hex digits
  std::string authorization;  // value of the Authorization header
};

// A derived signing key: HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request".
using SigningKey = std::array<uint8_t, 32>;

// --- Building blocks (exposed for the test vectors and the bench) ---

// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);
// Raw HMAC-SHA256.
std::array<uint8_t, 32> hmac_sha256(std::string_view key, std::string_view data);
// "YYYYMMDDTHHMMSSZ" (x-amz-date) for a UTC epoch second.
std::string format_amz_date(int64_t epoch_s);
// Percent-encodes every byte except RFC 3986 unreserved (and '/' when keep_slash), as %XX with
// uppercase hex: AWS's UriEncode().
std::string uri_encode(std::string_view bytes, bool keep_slash);
// Decodes %XX escapes exactly once; '+' stays '+'. ParseError (Downstream, status 400) on a
// truncated or non-hex escape.
core::Result<std::string> percent_decode(std::string_view encoded);
// The canonical URI of a percent-encoded request path under `rules` (see the header comment).
// An empty path is "/".
core::Result<std::string> canonical_uri(std::string_view path, PathRules rules);
// The canonical query string of a query as sent (without '?'): each name and value decoded once
// then uri_encode()d, a missing '=' gives an empty value, empty fields are dropped, sorted by
// name then value. Also the form sign() sends on the wire. In a query '+' means a space (form
// encoding: S3 reads queries that way and botocore sends spaces there as '+'); a literal plus
// arrives as %2B. In a path '+' is always a literal plus.
core::Result<std::string> canonical_query(std::string_view query);

struct CanonicalHeaders {
  std::string block;           // "name:value\n" per signed header, sorted by name
  std::string signed_headers;  // "host;range;x-amz-date"
};
// Lower-cased names; each value trimmed with inner runs of whitespace collapsed to one space
// (obs-fold line breaks included); repeated fields joined with ',' in arrival order; sorted.
CanonicalHeaders canonical_headers(const core::Headers& headers, HeaderSelection selection);

// "<date8>/<region>/<service>/aws4_request".
std::string credential_scope(std::string_view date8, std::string_view region,
                             std::string_view service);
// "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(canonical_request)>".
std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request);
SigningKey derive_signing_key(std::string_view secret_access_key, std::string_view date8,
                              std::string_view region, std::string_view service);
// Lowercase hex HMAC-SHA256(signing_key, string_to_sign).
std::string signature_hex(const SigningKey& key, std::string_view string_to_sign);

// Derived signing keys for the last few (date, region, service, secret) tuples, so a worker
// derives a key once a day per origin instead of four HMACs per request. Not thread-safe: one
// per worker thread (each Signer owns one). Entries hold a copy of the secret and are wiped with
// OPENSSL_cleanse when replaced or destroyed.
class SigningKeyCache {
 public:
  static constexpr size_t kEntries = 4;

  SigningKeyCache() = default;
  SigningKeyCache(const SigningKeyCache&) = delete;
  SigningKeyCache& operator=(const SigningKeyCache&) = delete;
  ~SigningKeyCache();

  // The key for the tuple, derived on a miss (evicting the least recently used entry). The
  // reference stays valid until the next get().
  const SigningKey& get(std::string_view secret_access_key, std::string_view date8,
                        std::string_view region, std::string_view service);
  // Number of derivations so far (misses); for tests and the bench.
  uint64_t derivations() const { return derivations_; }
  void clear();

 private:
  struct Entry {
    std::string secret;
    std::string date8;
    std::string region;
    std::string service;
    SigningKey key{};
    uint64_t last_used = 0;
    bool used = false;
  };
  std::array<Entry, kEntries> entries_{};
  uint64_t tick_ = 0;
  uint64_t derivations_ = 0;
};

// Signs origin requests for one (credentials, region, service). Not thread-safe (owns a
// SigningKeyCache): one per worker thread per origin. Replace it (or call set_credentials) when
// credentials are re-read on reload.
class Signer {
 public:
  Signer(Credentials credentials, std::string region, std::string service = "s3",
         SigningOptions options = {});

  // Signs `head` for the UTC time `now_epoch_s`. Removes any Authorization, X-Amz-Date,
  // X-Amz-Content-Sha256 and X-Amz-Security-Token already present (never forward a viewer's),
  // then adds X-Amz-Date, X-Amz-Content-Sha256 (when options.content_sha256_header),
  // X-Amz-Security-Token (when the credentials have a session token) and Authorization.
  // Precondition: head carries a Host header (as sent, port included when not the default).
  // Uses head.method_token (or the name of head.method when empty), head.path and head.query.
  // With PathRules::S3, head.path, head.query and head.target are replaced by the canonical forms
  // that were signed. On error (bad escape in path or query, no Host) head is left unchanged.
  // `steps`, when given, receives the intermediate strings.
  core::Status sign(core::RequestHead& head, int64_t now_epoch_s, SigningSteps* steps = nullptr);

  void set_credentials(Credentials credentials) { credentials_ = std::move(credentials); }
  const Credentials& credentials() const { return credentials_; }
  const std::string& region() const { return region_; }
  const std::string& service() const { return service_; }
  const SigningOptions& options() const { return options_; }
  const SigningKeyCache& key_cache() const { return keys_; }

 private:
  Credentials credentials_;
  std::string region_;
  std::string service_;
  SigningOptions options_;
  SigningKeyCache keys_;
};

}  // namespace portico::origin
