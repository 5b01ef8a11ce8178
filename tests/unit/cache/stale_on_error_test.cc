// cache/stale_on_error.h: the stale-if-error window recorded at storage, the age up to which a
// stale object answers a failed revalidation (configured windows, the origin's directive,
// CloudFront's default, must-revalidate), and CloudFront's error caching minimum TTL hold.
#include "cache/stale_on_error.h"

#include <catch2/catch.hpp>
#include <optional>

using portico::cache::CacheControl;
using portico::cache::error_hold_timing;
using portico::cache::parse_cache_control;
using portico::cache::recorded_stale_if_error;
using portico::cache::stale_if_error_until_ms;
using portico::cache::Timing;

namespace {

constexpr int64_t kYear = 31'536'000;
constexpr std::optional<int64_t> kUnset = std::nullopt;

Timing timing(int64_t ttl, int64_t stale_if_error = 0, int64_t stale_while_revalidate = 0) {
  Timing t;
  t.ttl = ttl;
  t.stale_if_error = stale_if_error;
  t.stale_while_revalidate = stale_while_revalidate;
  return t;
}

}  // namespace

TEST_CASE("recorded_stale_if_error: configured floor, origin's directive, max_ttl cap",
          "[stale_on_error]") {
  struct Row {
    const char* cache_control;
    std::optional<int64_t> configured;
    int64_t max_ttl;
    int64_t want;
  };
  const Row rows[] = {
      // Nothing configured: the origin's stale-if-error, at most max_ttl (CloudFront).
      {"max-age=60", kUnset, kYear, 0},
      {"max-age=60, stale-if-error=600", kUnset, kYear, 600},
      {"max-age=60, stale-if-error=600", kUnset, 100, 100},
      {"max-age=60, stale-if-error=0", kUnset, kYear, 0},
      // Configured (behavior, else policy): a floor the origin may lengthen.
      {"max-age=60", 300, kYear, 300},
      {"max-age=60, stale-if-error=30", 300, kYear, 300},
      {"max-age=60, stale-if-error=900", 300, kYear, 900},
      {"max-age=60, stale-if-error=0", 300, kYear, 300},
      {"max-age=60, stale-if-error=900", 300, 100, 900},  // no max_ttl cap on a floor
      {"max-age=60", 0, kYear, 0},
      {"max-age=60, stale-if-error=45", 0, kYear, 45},
      // must-revalidate / proxy-revalidate: never stale (RFC 9111 §5.2.2.2).
      {"max-age=60, stale-if-error=600, must-revalidate", kUnset, kYear, 0},
      {"max-age=60, stale-if-error=600, proxy-revalidate", 300, kYear, 0},
  };
  for (const Row& r : rows) {
    INFO(r.cache_control << " configured=" << r.configured.value_or(-1)
                         << " max_ttl=" << r.max_ttl);
    CHECK(recorded_stale_if_error(parse_cache_control(r.cache_control), r.configured, r.max_ttl) ==
          r.want);
  }
}

TEST_CASE("stale_if_error_until_ms: recorded window, CloudFront's default, opt-outs",
          "[stale_on_error]") {
  auto until = [](const Timing& t, const char* cc, std::optional<int64_t> configured,
                  int64_t max_ttl = kYear) {
    return stale_if_error_until_ms(t, parse_cache_control(cc), configured, max_ttl);
  };
  // Nothing configured, no directive: CloudFront serves the expired object, up to max_ttl.
  CHECK(until(timing(60), "max-age=60", kUnset) == (60 + kYear) * 1000);
  CHECK(until(timing(60), "max-age=60", kUnset, 3600) == (60 + 3600) * 1000);
  // The origin's directive replaces the default, stale-if-error=0 included (the documented
  // opt-out); the recorded window is what counts.
  CHECK(until(timing(60, 600), "max-age=60, stale-if-error=600", kUnset) == 660'000);
  CHECK(until(timing(60, 0), "max-age=60, stale-if-error=0", kUnset) == 60'000);
  // Configured (behavior or policy): only the recorded window, never the default.
  CHECK(until(timing(60, 300), "max-age=60", 300) == 360'000);
  CHECK(until(timing(60, 0), "max-age=60", 0) == 60'000);
  // must-revalidate / proxy-revalidate: never.
  CHECK(until(timing(60, 600), "max-age=60, must-revalidate", kUnset) == 0);
  CHECK(until(timing(60, 600), "max-age=60, proxy-revalidate", 300) == 0);
  // Kept by the minimum TTL against no-cache (Timing::must_revalidate set by the plan, but no
  // must-revalidate directive): CloudFront serves it when the origin is unreachable.
  Timing forced = timing(30);
  forced.must_revalidate = true;
  CHECK(until(forced, "no-cache", kUnset) == (30 + kYear) * 1000);
  CHECK(until(forced, "no-cache, stale-if-error=0", kUnset) == 30'000);
  // A stored error response gets its recorded window only.
  Timing error = timing(10);
  error.error_response = true;
  CHECK(until(error, "", kUnset) == 10'000);
}

TEST_CASE("error_hold_timing: fresh for the error caching minimum TTL, windows kept",
          "[stale_on_error]") {
  // Expired at 60 s, stale-if-error to 660 s, stale-while-revalidate to 90 s; fails at 100.5 s.
  const Timing t = timing(60, 600, 30);
  std::optional<Timing> held = error_hold_timing(t, 100'500, 10, 660'000);
  REQUIRE(held);
  CHECK(held->ttl == 111);             // 100.5 + 10, rounded up: fresh for at least the hold
  CHECK(held->stale_if_error == 549);  // still ends at 660 s
  CHECK(held->stale_while_revalidate == 0);
  CHECK(held->ttl + held->stale_if_error == 660);

  // Never past the window's end.
  held = error_hold_timing(t, 655'000, 10, 660'000);
  REQUIRE(held);
  CHECK(held->ttl == 660);
  CHECK(held->stale_if_error == 0);
  held = error_hold_timing(t, 659'500, 10, 660'000);
  REQUIRE(held);
  CHECK(held->ttl == 660);  // half a second is left
  // Nothing held at the window's end, with a hold of 0, or for a fresh object.
  CHECK_FALSE(error_hold_timing(t, 660'000, 10, 660'000));
  CHECK_FALSE(error_hold_timing(t, 100'500, 0, 660'000));
  CHECK_FALSE(error_hold_timing(t, 30'000, 10, 660'000));

  // Everything else is kept (age keeps counting from the original response).
  Timing other = t;
  other.corrected_initial_age = 7;
  other.response_time_ms = 1'700'000'000'000;
  other.request_time = 1'700'000'000;
  held = error_hold_timing(other, 100'500, 10, 660'000);
  REQUIRE(held);
  CHECK(held->corrected_initial_age == 7);
  CHECK(held->response_time_ms == 1'700'000'000'000);
  CHECK(held->request_time == 1'700'000'000);
}
