#include "cache/stale_on_error.h"

#include <algorithm>

namespace portico::cache {

int64_t recorded_stale_if_error(const CacheControl& cc, std::optional<int64_t> configured,
                                int64_t max_ttl) {
  if (cc.must_revalidate || cc.proxy_revalidate) return 0;
  const int64_t origin = cc.stale_if_error.value_or(0);
  if (configured) return std::max(origin, std::max<int64_t>(*configured, 0));
  return std::min(origin, std::max<int64_t>(max_ttl, 0));
}

int64_t stale_if_error_until_ms(const Timing& t, const CacheControl& cc,
                                std::optional<int64_t> configured, int64_t max_ttl) {
  if (cc.must_revalidate || cc.proxy_revalidate) return 0;
  int64_t window = std::max<int64_t>(t.stale_if_error, 0);
  if (!configured && !cc.stale_if_error && !t.error_response) {
    window = std::max(window, max_ttl);
  }
  return (t.ttl + window) * 1000;
}

std::optional<Timing> error_hold_timing(const Timing& t, int64_t age_ms, int64_t hold_s,
                                        int64_t until_ms) {
  if (hold_s <= 0 || age_ms < t.ttl * 1000) return std::nullopt;
  const int64_t ttl = std::min((age_ms + hold_s * 1000 + 999) / 1000, until_ms / 1000);
  if (ttl * 1000 <= age_ms) return std::nullopt;
  Timing held = t;
  // The windows count from the end of the freshness lifetime: moving that end by the hold must
  // not move where they end.
  held.stale_while_revalidate = std::max<int64_t>(0, t.ttl + t.stale_while_revalidate - ttl);
  held.stale_if_error = std::max<int64_t>(0, t.ttl + t.stale_if_error - ttl);
  held.ttl = ttl;
  return held;
}

}  // namespace portico::cache
