// Sticky-session cookies as an ALB sets them: AWSALB / AWSALBCORS (target group `lb_cookie`
// stickiness), AWSALBAPP-0..3 (`app_cookie` stickiness) and AWSALBTG / AWSALBTGCORS (target group
// stickiness of a weighted forward). A value names an *identity* (routing::target_identity() of a
// target, or sticky_group_identity() of a target group), never a slot index, so a cookie survives
// target set changes: the balancer honours it only while that target is still registered and
// routable, and otherwise picks another one, whose cookie the proxy then sets (ALB User Guide,
// "Sticky sessions": "if it refers to a target that was deregistered or is unhealthy, the load
// balancer selects a new target and updates the cookie").
//
// Values are 28 base64url characters: version, expiry (Unix seconds), the identity masked with a
// keyed pad that depends on the expiry, and a SipHash-2-4 MAC over the rest. ALB encrypts its
// cookies; here the identity is hidden (the pad) and tamper-evident (the MAC), which is what
// stickiness needs. The key is per process (StickyKey::random()), kept across config reloads by
// the proxy; a restart makes old cookies undecodable, and such requests are simply re-balanced.
// StickyCodec is immutable after construction; any thread. Nothing here allocates except the
// std::string appenders.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/http.h"

namespace portico::routing {

inline constexpr std::string_view kLbCookieName = "AWSALB";
inline constexpr std::string_view kLbCorsCookieName = "AWSALBCORS";
inline constexpr std::string_view kTargetGroupCookieName = "AWSALBTG";
inline constexpr std::string_view kTargetGroupCorsCookieName = "AWSALBTGCORS";
// ALB splits its application cookie over AWSALBAPP-0 .. AWSALBAPP-3; ours fits in -0 and the
// others are sent as "_remove_".
inline constexpr std::string_view kAppCookiePrefix = "AWSALBAPP-";
inline constexpr int kAppCookieShards = 4;
inline constexpr std::string_view kAppCookieNames[kAppCookieShards] = {
    "AWSALBAPP-0", "AWSALBAPP-1", "AWSALBAPP-2", "AWSALBAPP-3"};
inline constexpr std::string_view kAppCookieUnused = "_remove_";
// AWSALBAPP-* cookies expire after 7 days regardless of the stickiness duration (ALB).
inline constexpr int64_t kAppCookieLifetimeSeconds = 7 * 24 * 3600;

// 128-bit SipHash key.
struct StickyKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
  // A key from std::random_device; call once per process.
  static StickyKey random();
};

// SipHash-2-4 of `data` under `key`.
uint64_t siphash24(const StickyKey& key, std::string_view data);

// A target group's identity for AWSALBTG cookies (a hash of its name).
uint64_t sticky_group_identity(std::string_view target_group_name);

class StickyCodec {
 public:
  static constexpr size_t kValueLength = 28;
  using Value = std::array<char, kValueLength>;

  explicit StickyCodec(StickyKey key) : key_(key) {}

  // The cookie value naming `identity` until `expires_unix` (seconds since the epoch; clamped to
  // 32 bits).
  Value encode(uint64_t identity, int64_t expires_unix) const;
  // The identity a value names, when it is one of ours, unmodified and not expired at `now_unix`.
  std::optional<uint64_t> decode(std::string_view value, int64_t now_unix) const;

 private:
  StickyKey key_;
};

// The value of the first cookie named `name` in the request's Cookie header fields, or nullopt.
// No allocation; the view points into `headers`.
std::optional<std::string_view> find_cookie(const core::Headers& headers, std::string_view name);

// Appends one Set-Cookie field value to `out` (cleared first): "NAME=VALUE; Expires=<IMF-fixdate>;
// Path=/", plus "; SameSite=None; Secure" for the CORS variants (ALB uses Expires, not Max-Age).
void format_set_cookie(std::string& out, std::string_view name, std::string_view value,
                       int64_t expires_unix, bool cors);

// True when one of the response's Set-Cookie fields sets the cookie `name` (the application
// cookie of `app_cookie` stickiness; any attributes, even an expiry in the past). No allocation.
bool response_sets_cookie(const core::Headers& response_headers, std::string_view name);

// ALB adds "SameSite=None; Secure" to AWSALBAPP cookies "only if the user-agent version is
// Chromium80 or above" (ALB User Guide, "Sticky sessions"): true for a User-Agent naming
// Chrome/N or Chromium/N with N >= 80.
bool chromium_80_or_later(std::string_view user_agent);

}  // namespace portico::routing
