#include "cache/freshness.h"

#include <algorithm>

#include "cache/cache_control.h"
#include "cache/vary.h"
#include "core/clock.h"

namespace portico::cache {
namespace {

// Epoch seconds of the first `name` field, or nullopt when absent or not an HTTP-date.
std::optional<int64_t> date_field(const core::Headers& h, std::string_view name) {
  const std::string* v = h.get(name);
  if (v == nullptr) return std::nullopt;
  std::string_view s = core::trim_ows(*v);
  int64_t t = core::parse_http_date(s.data(), s.size());
  if (t < 0) return std::nullopt;
  return t;
}

// Expires - Date (RFC 9111 §4.2.1). An invalid Expires, or several differing ones, means "already
// expired" (§5.3, §4.2.1): 0. nullopt when there is no Expires.
std::optional<int64_t> expires_lifetime(const core::Headers& h, int64_t date) {
  const std::string* first = nullptr;
  for (const core::Header& f : h) {
    if (!core::iequals(f.name, "expires")) continue;
    if (first == nullptr) {
      first = &f.value;
    } else if (core::trim_ows(f.value) != core::trim_ows(*first)) {
      return 0;
    }
  }
  if (first == nullptr) return std::nullopt;
  std::string_view s = core::trim_ows(*first);
  int64_t expires = core::parse_http_date(s.data(), s.size());
  if (expires < 0) return 0;
  return std::clamp<int64_t>(expires - date, 0, kMaxDeltaSeconds);
}

bool always_cached_error(int status) {
  switch (status) {
    case 404:
    case 405:
    case 414:
    case 500:
    case 501:
    case 502:
    case 503:
    case 504:
      return true;
    default:
      return false;
  }
}

bool cached_error_with_cache_control(int status) {
  return status == 400 || status == 403 || status == 412 || status == 415;
}

// Cacheable without an explicit lifetime: RFC 9111 §4.2.2's list minus 206 (never stored here)
// and minus the codes CloudFront handles as errors; plus CloudFront's redirects.
bool cacheable_by_default(int status) {
  switch (status) {
    case 200:
    case 203:
    case 204:
    case 300:
    case 301:
    case 302:
    case 303:
    case 307:
    case 308:
      return true;
    default:
      return false;
  }
}

StoragePlan not_stored(const char* reason) {
  StoragePlan plan;
  plan.reason = reason;
  return plan;
}

StoragePlan stored(const char* reason, int64_t ttl) {
  StoragePlan plan;
  plan.storable = true;
  plan.reason = reason;
  plan.ttl_s = ttl;
  return plan;
}

int64_t clamp_ttl(int64_t v, const config::CachePolicy& p) {
  return std::min(std::max(v, p.min_ttl), p.max_ttl);
}

}  // namespace

StoragePlan plan_storage(const config::CachePolicy& p, core::Method m, int status,
                         const core::Headers& resp, int64_t now_s,
                         std::optional<int64_t> error_caching_min_ttl, bool has_authorization) {
  if (m != core::Method::Get) return not_stored("method");
  if (status < 200 || status == 206 || status == 304) return not_stored("status");
  if (p.min_ttl <= 0 && vary_star(resp)) return not_stored("vary-star");

  const CacheControl cc = parse_cache_control(resp);
  if (has_authorization && !cc.public_ && !cc.s_maxage && !cc.must_revalidate) {
    return not_stored("authorization");
  }
  const int64_t date = date_field(resp, "date").value_or(now_s);

  if (status >= 400) {
    const bool with_cc = cc.max_age.has_value() || cc.s_maxage.has_value();
    if (!always_cached_error(status) && !(cached_error_with_cache_control(status) && with_cc)) {
      return not_stored("status");
    }
    std::optional<int64_t> header = cc.s_maxage ? cc.s_maxage : cc.max_age;
    if (!header) header = expires_lifetime(resp, date);
    int64_t ttl = std::max<int64_t>(error_caching_min_ttl.value_or(kDefaultErrorCachingMinTtl), 0);
    if (header) ttl = std::max(ttl, std::min(*header, std::max<int64_t>(p.max_ttl, 0)));
    if (ttl == 0) return not_stored("ttl-zero");
    StoragePlan plan = stored("error", ttl);
    plan.error_response = true;
    return plan;
  }

  if (p.max_ttl <= 0) return not_stored("caching-disabled");

  const char* refused = cc.no_store   ? "no-store"
                        : cc.private_ ? "private"
                        : cc.no_cache ? "no-cache"
                                      : nullptr;
  if (refused != nullptr) {
    if (p.min_ttl <= 0) return not_stored(refused);
    StoragePlan plan = stored("min-ttl", p.min_ttl);
    plan.must_revalidate = true;
    return plan;
  }

  StoragePlan plan;
  if (cc.s_maxage) {
    plan = stored("s-maxage", clamp_ttl(*cc.s_maxage, p));
  } else if (cc.max_age) {
    plan = stored("max-age", clamp_ttl(*cc.max_age, p));
  } else if (std::optional<int64_t> expires = expires_lifetime(resp, date)) {
    plan = stored("expires", clamp_ttl(*expires, p));
  } else if (!cacheable_by_default(status) && !cc.public_) {
    return not_stored("status");
  } else if (std::optional<int64_t> lm;
             p.heuristic_freshness && (lm = date_field(resp, "last-modified")) && *lm <= date) {
    plan = stored("heuristic", clamp_ttl((date - *lm) / 10, p));
  } else {
    plan = stored("default-ttl", std::max(p.min_ttl, p.default_ttl));
  }

  if (cc.must_revalidate || cc.proxy_revalidate) {
    plan.must_revalidate = true;
  } else {
    plan.stale_while_revalidate_s = cc.stale_while_revalidate.value_or(0);
    plan.stale_if_error_s =
        std::min(std::max(cc.stale_if_error.value_or(0), p.stale_if_error), kMaxDeltaSeconds);
  }
  if (plan.ttl_s <= 0 && plan.stale_while_revalidate_s == 0 && plan.stale_if_error_s == 0) {
    return not_stored("ttl-zero");
  }
  return plan;
}

int64_t corrected_initial_age(const core::Headers& resp, int64_t request_time_s,
                              int64_t response_time_s) {
  int64_t age_value = 0;
  if (const std::string* age = resp.get("age")) {
    std::string_view v = *age;
    v = core::trim_ows(v.substr(0, v.find(',')));
    bool valid = !v.empty();
    int64_t n = 0;
    for (char c : v) {
      if (c < '0' || c > '9') {
        valid = false;
        break;
      }
      n = std::min<int64_t>(n * 10 + (c - '0'), kMaxDeltaSeconds);
    }
    if (valid) age_value = n;
  }
  int64_t apparent_age = 0;
  if (std::optional<int64_t> date = date_field(resp, "date")) {
    apparent_age = std::max<int64_t>(0, response_time_s - *date);
  }
  const int64_t response_delay = std::max<int64_t>(0, response_time_s - request_time_s);
  return std::max(apparent_age, age_value + response_delay);
}

int64_t current_age(int64_t corrected_initial_age, int64_t response_time_s, int64_t now_s) {
  return std::max<int64_t>(0,
                           corrected_initial_age + std::max<int64_t>(0, now_s - response_time_s));
}

}  // namespace portico::cache
