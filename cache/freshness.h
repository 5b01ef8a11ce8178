// Whether and for how long a response is stored: CloudFront's TTL rules (cache policy minimum /
// default / maximum TTL against Cache-Control and Expires, error caching minimum TTL) and, where
// CloudFront is silent, RFC 9111 (§3 storing, §3.5 Authorization, §4.2 freshness and age, §4.2.4
// stale responses). Pure functions over header values and injected wall-clock seconds; any thread.
// HTTP-dates are parsed by core::parse_http_date (IMF-fixdate, RFC 850, asctime; RFC 9110 §5.6.7).
#pragma once

#include <cstdint>
#include <optional>

#include "config/model.h"
#include "core/http.h"

namespace portico::cache {

// CloudFront's error caching minimum TTL when the distribution has no CustomErrorResponse for the
// status ("CloudFront caches error responses for a default duration of 10 seconds").
inline constexpr int64_t kDefaultErrorCachingMinTtl = 10;

struct StoragePlan {
  bool storable = false;
  // Static string for logs and counters. Not stored: "method", "status", "vary-star",
  // "authorization", "caching-disabled", "no-store", "private", "no-cache", "ttl-zero". Stored,
  // where the TTL came from: "s-maxage", "max-age", "expires", "default-ttl", "heuristic",
  // "min-ttl" (the minimum TTL overrode no-store / private / no-cache), "error".
  const char* reason = "";
  // Freshness lifetime (RFC 9111 §4.2.1) in seconds, counted from the response's generation: the
  // object is fresh while current_age() < ttl_s.
  int64_t ttl_s = 0;
  // How long after expiry a stale copy may be served while revalidating in the background, or
  // when the origin fails or answers 5xx (RFC 5861); both 0 when must_revalidate.
  int64_t stale_while_revalidate_s = 0;
  int64_t stale_if_error_s = 0;
  // Once stale, never served without a successful revalidation (RFC 9111 §4.2.4): set by
  // must-revalidate, proxy-revalidate, and when the minimum TTL forced storing a no-store /
  // private / no-cache response (the origin asked for none of it; min_ttl is all we grant).
  // The caller may still apply CloudFront's own rule that an origin 5xx serves the expired copy
  // for the error caching minimum TTL ("How CloudFront processes HTTP 4xx and 5xx status codes");
  // that rule is the caller's, and it should skip it when this is set.
  bool must_revalidate = false;
  // Stored under CloudFront's error caching rules (4xx/5xx); ttl_s is then the error TTL.
  bool error_response = false;
};

// Decides how the response to a `m` request with status `status` and headers `resp` is stored
// under cache policy `p`, at wall-clock `now_s` (used when Date is absent or invalid).
// `error_caching_min_ttl`: the distribution's CustomErrorResponse.error_caching_min_ttl for this
// status, nullopt when there is none (kDefaultErrorCachingMinTtl applies). `has_authorization`:
// the origin request carried Authorization and Authorization is not part of the cache key (when
// it is, each credential gets its own entry, which CloudFront caches: pass false).
//
// Rules, in order (first match decides):
// 1. Only GET is stored ("method"). HEAD is not: the proxy fills the cache with GET requests.
// 2. 206, 304 and 1xx are never stored ("status"): the proxy fetches whole objects.
// 3. Vary: * with min_ttl 0 is not stored: CloudFront "caches the object but still forwards every
//    subsequent request" ("vary-star"). With min_ttl > 0 CloudFront caches it normally.
// 4. Authorization (RFC 9111 §3.5): not stored unless the response has public, s-maxage or
//    must-revalidate ("authorization"). The minimum TTL does not override this.
// 5. 4xx/5xx, CloudFront's error caching ("How CloudFront processes HTTP 4xx and 5xx status
//    codes", "Control how long CloudFront caches errors"): 404, 405, 414, 500, 501, 502, 503, 504
//    always; 400, 403, 412, 415 only with max-age or s-maxage; every other 4xx/5xx (416 included:
//    "CloudFront doesn't cache status code 416 responses") never ("status"). TTL = the greater of
//    the error caching minimum TTL and the header's lifetime (s-maxage > max-age > Expires,
//    capped at max_ttl); other directives (no-store, private, no-cache) do not matter. This
//    applies even when max_ttl is 0 (CachingDisabled), as on CloudFront. TTL 0: "ttl-zero".
// 6. max_ttl 0 (CachingDisabled) is not stored ("caching-disabled").
// 7. no-store, private, unqualified no-cache: not stored when min_ttl is 0 ("CloudFront and
//    browsers respect the headers"); with min_ttl > 0, stored for exactly min_ttl
//    ("CloudFront caches objects for the value of the CloudFront minimum TTL"), must_revalidate.
//    The qualified forms only strip fields (CacheControl::strips_field).
// 8. Explicit lifetime s-maxage, else max-age, else Expires - Date (CloudFront ignores Expires
//    when max-age is present; an invalid Expires such as "0", or two differing ones, means
//    already expired, RFC 9111 §5.3), clamped to [min_ttl, max_ttl] (the Expiration page's
//    table, both columns: below min -> min, above max -> max).
// 9. Without one, only 200, 203, 204, 300, 301 and 308 (RFC 9111 §4.2.2's heuristically
//    cacheable codes that CloudFront does not treat as errors), the redirects 302, 303 and 307
//    ("CloudFront caches the redirect"), or a response marked public are stored ("status"), for
//    max(min_ttl, default_ttl); with p.heuristic_freshness and a valid Last-Modified, for 10% of
//    Date - Last-Modified (RFC 9111 §4.2.2) clamped to [min_ttl, max_ttl].
// 10. stale-while-revalidate and stale-if-error come from the response; p.stale_if_error is a
//    floor for the latter. must-revalidate / proxy-revalidate zero both. The proxy-revalidate that
//    s-maxage implies (RFC 9111 §5.2.2.10) is not applied: an explicit stale-* directive from the
//    same origin is the more specific instruction, as CDNs read it.
// 11. A 0 TTL with no stale window is not stored ("ttl-zero").
StoragePlan plan_storage(const config::CachePolicy& p, core::Method m, int status,
                         const core::Headers& resp, int64_t now_s,
                         std::optional<int64_t> error_caching_min_ttl, bool has_authorization);

// RFC 9111 §4.2.3 corrected_initial_age: max(apparent_age, Age + response_delay), where
// apparent_age = max(0, response_time - Date) (0 when Date is absent or invalid) and
// response_delay = response_time - request_time. Age: the first member of the first Age line;
// ignored when invalid (RFC 9111 §5.1); saturates at 2^31.
int64_t corrected_initial_age(const core::Headers& resp, int64_t request_time_s,
                              int64_t response_time_s);

// RFC 9111 §4.2.3 current_age: corrected_initial_age + (now - response_time), never negative.
int64_t current_age(int64_t corrected_initial_age, int64_t response_time_s, int64_t now_s);

}  // namespace portico::cache
