// Serving a stored object that is stale when revalidating it fails (the origin is unreachable,
// times out or answers 5xx): how long past expiry it may be served, and for how long it is then
// served without asking the origin again. Pure functions over an object's Timing and the
// Cache-Control of its stored head; any thread. RFC 5861 §4 (stale-if-error), RFC 9111 §4.2.4 and
// §5.2.2.2 (must-revalidate), and CloudFront's Developer Guide: "How CloudFront processes HTTP
// 4xx and 5xx status codes from your origin" (the requested object is in the edge cache) and
// "Manage how long content stays in the cache (expiration)" (Serve stale (expired) content).
#pragma once

#include <cstdint>
#include <optional>

#include "cache/cache_control.h"
#include "cache/object.h"

namespace portico::cache {

// The window recorded in Timing::stale_if_error when a response with Cache-Control `cc` is stored
// (seconds past expiry; the Redis tier also keeps an entry that long). `configured` is the
// behavior's or cache policy's stale_if_error (CacheBehavior::configured_stale_if_error()),
// `max_ttl` the cache policy's.
// - must-revalidate or proxy-revalidate: 0 (RFC 9111 §5.2.2.2: never served stale);
// - configured: the larger of it and the origin's stale-if-error (the operator's value is a
//   floor the origin may lengthen, as the minimum TTL is);
// - otherwise the origin's stale-if-error capped at max_ttl ("CloudFront will serve the stale
//   content up to the value of the stale-if-error directive or the value of the CloudFront
//   maximum TTL, whichever is less"); 0 without one.
int64_t recorded_stale_if_error(const CacheControl& cc, std::optional<int64_t> configured,
                                int64_t max_ttl);

// The age (milliseconds, as Object::age_ms) up to which an object with timing `t` and stored
// Cache-Control `cc` may answer a request whose revalidation failed: it may while its age is
// below the returned value. Never under must-revalidate / proxy-revalidate (returns 0). Else
// (t.ttl + t.stale_if_error) seconds, and, when `configured` is nullopt and the origin sent no
// stale-if-error at all (stale-if-error=0 is CloudFront's documented opt-out), CloudFront's
// default: it "serves the object even though it has expired", here for up to max_ttl past expiry
// ("After the maximum TTL duration, the stale object won't be available from the edge cache"),
// also for a response the minimum TTL kept against no-cache / no-store / private ("If the origin
// is unreachable and the minimum or maximum TTL value is greater than 0, CloudFront will serve
// the object that it got from the origin previously"). The default does not cover stored error
// responses (t.error_response): CloudFront's rule is about the requested object.
int64_t stale_if_error_until_ms(const Timing& t, const CacheControl& cc,
                                std::optional<int64_t> configured, int64_t max_ttl);

// CloudFront keeps serving the expired object "for the duration of the error caching minimum TTL"
// before it forwards another request to the origin. The Timing for the copy that does so,
// stored in place of an object with timing `t` whose revalidation failed at age `age_ms`: fresh
// for `hold_s` more seconds (the lifetime rounded up to whole seconds, and never past `until_ms`,
// the stale_if_error_until_ms() of `t`), with its stale-while-revalidate and stale-if-error
// windows shortened so they still end where `t`'s end (CloudFront's default window, counted from
// the new lifetime, moves along: the object is then served until evicted, as CloudFront does).
// nullopt when nothing is held: `hold_s` is 0, the object is still fresh, or the window has
// ended (`until_ms` <= `age_ms`).
std::optional<Timing> error_hold_timing(const Timing& t, int64_t age_ms, int64_t hold_s,
                                        int64_t until_ms);

}  // namespace portico::cache
