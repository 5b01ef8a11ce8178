// cache::CacheControl: the response Cache-Control directives a shared cache acts on (RFC 9111
// §5.2.2, plus stale-while-revalidate / stale-if-error from RFC 5861 and immutable from RFC 8246),
// parsed from every Cache-Control field line of a message. Plain value; pure functions; any thread.
// The parser never fails: unknown directives are ignored and malformed ones are read
// conservatively (see parse_cache_control).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/http.h"

namespace portico::cache {

// delta-seconds values saturate here (RFC 9111 §1.2.2: "a cache MUST ... consider it to be
// 2147483648 (2^31)" when a value overflows).
inline constexpr int64_t kMaxDeltaSeconds = 2'147'483'648;

struct CacheControl {
  bool no_store = false;
  // Unqualified no-cache. The qualified form (no-cache="Set-Cookie") leaves this false and lists
  // the named fields instead: the response may be stored, minus those fields (RFC 9111 §5.2.2.4;
  // CloudFront documents no-cache="Set-Cookie" for exactly that).
  bool no_cache = false;
  std::vector<std::string> no_cache_fields;  // lower-cased field names
  // Unqualified private; the qualified form lists fields a shared cache must not store
  // (RFC 9111 §5.2.2.7) and leaves this false.
  bool private_ = false;
  std::vector<std::string> private_fields;  // lower-cased field names
  bool public_ = false;
  bool must_revalidate = false;
  bool proxy_revalidate = false;
  bool no_transform = false;
  bool immutable = false;
  // Seconds in [0, kMaxDeltaSeconds]; nullopt when the directive is absent. A present directive
  // with a missing or invalid value, or repeated with different values, reads as 0.
  std::optional<int64_t> max_age;
  std::optional<int64_t> s_maxage;
  std::optional<int64_t> stale_while_revalidate;
  std::optional<int64_t> stale_if_error;

  // True when the field `name` (any case) must be removed from a stored copy: it is named by a
  // qualified no-cache or private directive.
  bool strips_field(std::string_view name) const;
};

// Parses every Cache-Control field line of `headers`, as if they were one comma-separated list
// (RFC 9110 §5.3). Rules, most from RFC 9111 §4.2.1 and §5.2:
// - directive names are case-insensitive; arguments may be tokens or quoted-strings (commas and
//   backslash escapes inside quotes are honored; an unterminated quote runs to the end);
//   whitespace around members and around '=' is skipped;
// - max-age, s-maxage, stale-while-revalidate, stale-if-error: 1*DIGIT in either form; a missing,
//   empty, signed, fractional or otherwise invalid value is 0 (the response is stale, and no stale
//   serving is granted); a repeat with a different value is also 0 ("either the first occurrence
//   should be used or the response should be considered stale": we pick stale); values past 2^31
//   saturate at kMaxDeltaSeconds;
// - no-cache / private with an empty quoted list ("") count as unqualified; when a message has
//   both forms, the unqualified one wins;
// - unknown directives and arguments of argument-less directives are ignored.
CacheControl parse_cache_control(const core::Headers& headers);

// One field value (no field name), with the rules above; used by tests and the fuzzer.
CacheControl parse_cache_control(std::string_view value);

}  // namespace portico::cache
