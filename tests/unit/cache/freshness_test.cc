// cache::plan_storage against CloudFront's TTL table ("Manage how long content stays in the
// cache (expiration)"), its error caching rules and RFC 9111 where CloudFront is silent, one row
// per rule; then RFC 9111 §4.2.3 age.
#include "cache/freshness.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"

using portico::cache::corrected_initial_age;
using portico::cache::current_age;
using portico::cache::plan_storage;
using portico::cache::StoragePlan;
using portico::config::CachePolicy;
using portico::core::Headers;
using portico::core::Method;

namespace {

constexpr int64_t kNow = 1'700'000'000;
constexpr int64_t kYear = 31'536'000;
constexpr int64_t kNever = -1;  // "not stored" in the ttl column

std::string date(int64_t t) {
  char buf[32];
  size_t n = portico::core::format_http_date(t, buf);
  return std::string(buf, n);
}

struct Ttls {
  int64_t min = 0;
  int64_t def = 86'400;
  int64_t max = kYear;
};

CachePolicy policy(Ttls t) {
  CachePolicy p;
  p.min_ttl = t.min;
  p.default_ttl = t.def;
  p.max_ttl = t.max;
  return p;
}

using Fields = std::vector<std::pair<std::string, std::string>>;

Headers headers(const Fields& fields, bool with_date = true) {
  Headers h;
  if (with_date) h.add("Date", date(kNow));
  for (const auto& [n, v] : fields) h.add(n, v);
  return h;
}

struct Row {
  const char* name;
  Ttls ttls;
  int status;
  Fields fields;
  int64_t ttl;  // kNever: not stored
  std::string reason;
};

// Policy shapes: CloudFront's defaults (min 0), a "Minimum TTL > 0" policy, min above default.
constexpr Ttls kDefault{0, 86'400, kYear};
constexpr Ttls kMin{60, 300, 3'600};
constexpr Ttls kMinAboveDefault{600, 300, 3'600};

std::vector<Row> ttl_rows() {
  return {
      // "The origin adds a Cache-Control max-age directive", minimum TTL = 0: the lesser of
      // max-age and the maximum TTL.
      {"max-age, min 0", kDefault, 200, {{"Cache-Control", "max-age=100"}}, 100, "max-age"},
      {"max-age above max, min 0",
       kDefault,
       200,
       {{"Cache-Control", "max-age=99999999"}},
       kYear,
       "max-age"},
      // Minimum TTL > 0: min < max-age < max -> max-age; below min -> min; above max -> max.
      {"max-age inside", kMin, 200, {{"Cache-Control", "max-age=600"}}, 600, "max-age"},
      {"max-age below min", kMin, 200, {{"Cache-Control", "max-age=10"}}, 60, "max-age"},
      {"max-age above max", kMin, 200, {{"Cache-Control", "max-age=7200"}}, 3'600, "max-age"},
      {"max-age=0, min > 0", kMin, 200, {{"Cache-Control", "max-age=0"}}, 60, "max-age"},
      // "The origin does not add a Cache-Control max-age directive": default TTL; with min > 0
      // the greater of min and default.
      {"no headers, min 0", kDefault, 200, {}, 86'400, "default-ttl"},
      {"no headers, min > 0", kMin, 200, {}, 300, "default-ttl"},
      {"no headers, min above default", kMinAboveDefault, 200, {}, 600, "default-ttl"},
      {"no headers, default 0 (UseOriginCacheControlHeaders)",
       {0, 0, kYear},
       200,
       {},
       kNever,
       "ttl-zero"},
      // "The origin adds Cache-Control max-age and Cache-Control s-maxage": s-maxage rules.
      {"s-maxage over max-age",
       kDefault,
       200,
       {{"Cache-Control", "max-age=100, s-maxage=50"}},
       50,
       "s-maxage"},
      {"s-maxage above max, min 0",
       kDefault,
       200,
       {{"Cache-Control", "s-maxage=99999999"}},
       kYear,
       "s-maxage"},
      {"s-maxage inside",
       kMin,
       200,
       {{"Cache-Control", "s-maxage=600, max-age=10"}},
       600,
       "s-maxage"},
      {"s-maxage below min",
       kMin,
       200,
       {{"Cache-Control", "s-maxage=10, max-age=900"}},
       60,
       "s-maxage"},
      {"s-maxage above max", kMin, 200, {{"Cache-Control", "s-maxage=7200"}}, 3'600, "s-maxage"},
      // "The origin adds an Expires header": until Expires or the maximum TTL, whichever is
      // sooner; with min > 0 clamped the same way.
      {"Expires, min 0", kDefault, 200, {{"Expires", date(kNow + 500)}}, 500, "expires"},
      {"Expires beyond max, min 0",
       kDefault,
       200,
       {{"Expires", date(kNow + 2 * kYear)}},
       kYear,
       "expires"},
      {"Expires in the past, min 0",
       kDefault,
       200,
       {{"Expires", date(kNow - 10)}},
       kNever,
       "ttl-zero"},
      {"invalid Expires means expired", kDefault, 200, {{"Expires", "0"}}, kNever, "ttl-zero"},
      {"Expires inside", kMin, 200, {{"Expires", date(kNow + 600)}}, 600, "expires"},
      {"Expires below min", kMin, 200, {{"Expires", date(kNow + 10)}}, 60, "expires"},
      {"Expires above max", kMin, 200, {{"Expires", date(kNow + 7'200)}}, 3'600, "expires"},
      {"Expires in the past, min > 0", kMin, 200, {{"Expires", date(kNow - 10)}}, 60, "expires"},
      {"two differing Expires are stale",
       kDefault,
       200,
       {{"Expires", date(kNow + 500)}, {"Expires", date(kNow + 900)}},
       kNever,
       "ttl-zero"},
      // "If you specify values both for Cache-Control max-age and for Expires, CloudFront uses
      // only the value of Cache-Control max-age."
      {"max-age beats Expires",
       kDefault,
       200,
       {{"Cache-Control", "max-age=100"}, {"Expires", date(kNow + 500)}},
       100,
       "max-age"},
      // "Origin adds Cache-Control: no-cache, no-store, and/or private": respected with min 0;
      // cached for the minimum TTL otherwise.
      {"no-store, min 0", kDefault, 200, {{"Cache-Control", "no-store"}}, kNever, "no-store"},
      {"private, min 0",
       kDefault,
       200,
       {{"Cache-Control", "private, max-age=600"}},
       kNever,
       "private"},
      {"no-cache, min 0", kDefault, 200, {{"Cache-Control", "no-cache"}}, kNever, "no-cache"},
      {"no-store, min > 0", kMin, 200, {{"Cache-Control", "no-store"}}, 60, "min-ttl"},
      {"private with max-age, min > 0",
       kMin,
       200,
       {{"Cache-Control", "private, max-age=600"}},
       60,
       "min-ttl"},
      {"no-cache, min > 0", kMin, 200, {{"Cache-Control", "no-cache"}}, 60, "min-ttl"},
      {"no-store, CachingOptimized (min 1)",
       {1, 86'400, kYear},
       200,
       {{"Cache-Control", "no-store"}},
       1,
       "min-ttl"},
      {"qualified no-cache stores",
       kDefault,
       200,
       {{"Cache-Control", "no-cache=\"Set-Cookie\", max-age=60"}},
       60,
       "max-age"},
      // Maximum TTL 0 (CachingDisabled).
      {"CachingDisabled",
       {0, 0, 0},
       200,
       {{"Cache-Control", "max-age=600"}},
       kNever,
       "caching-disabled"},
      // Zero lifetimes.
      {"max-age=0, min 0", kDefault, 200, {{"Cache-Control", "max-age=0"}}, kNever, "ttl-zero"},
      {"max-age=0 with stale-while-revalidate",
       kDefault,
       200,
       {{"Cache-Control", "max-age=0, stale-while-revalidate=30"}},
       0,
       "max-age"},
      {"invalid max-age is stale",
       kDefault,
       200,
       {{"Cache-Control", "max-age=soon"}},
       kNever,
       "ttl-zero"},
      {"differing duplicate max-age is stale",
       kDefault,
       200,
       {{"Cache-Control", "max-age=60"}, {"Cache-Control", "max-age=120"}},
       kNever,
       "ttl-zero"},
      {"equal duplicate max-age",
       kDefault,
       200,
       {{"Cache-Control", "max-age=60"}, {"Cache-Control", "max-age=60"}},
       60,
       "max-age"},
      // Status codes without an explicit lifetime (RFC 9111 §4.2.2; CloudFront's redirects).
      {"204 by default", kDefault, 204, {}, 86'400, "default-ttl"},
      {"301 by default", kDefault, 301, {}, 86'400, "default-ttl"},
      {"302 by default (CloudFront caches redirects)", kDefault, 302, {}, 86'400, "default-ttl"},
      {"307 by default", kDefault, 307, {}, 86'400, "default-ttl"},
      {"201 needs a lifetime", kDefault, 201, {}, kNever, "status"},
      {"201 with max-age", kDefault, 201, {{"Cache-Control", "max-age=60"}}, 60, "max-age"},
      {"201 public", kDefault, 201, {{"Cache-Control", "public"}}, 86'400, "default-ttl"},
      {"206 never", kDefault, 206, {{"Cache-Control", "max-age=60"}}, kNever, "status"},
      {"304 never", kDefault, 304, {{"Cache-Control", "max-age=60"}}, kNever, "status"},
      {"1xx never", kDefault, 103, {}, kNever, "status"},
      // Vary: * ("Content Negotiation"): min 0 forwards every request; min > 0 caches.
      {"Vary: *, min 0", kDefault, 200, {{"Vary", "Accept, *"}}, kNever, "vary-star"},
      {"Vary: *, min > 0",
       kMin,
       200,
       {{"Vary", "*"}, {"Cache-Control", "max-age=600"}},
       600,
       "max-age"},
      // Errors ("How CloudFront processes HTTP 4xx and 5xx status codes"; default 10 s).
      {"404 default error TTL", kDefault, 404, {}, 10, "error"},
      {"405", kDefault, 405, {}, 10, "error"},
      {"414", kDefault, 414, {}, 10, "error"},
      {"500", kDefault, 500, {}, 10, "error"},
      {"501", kDefault, 501, {}, 10, "error"},
      {"502", kDefault, 502, {}, 10, "error"},
      {"503", kDefault, 503, {}, 10, "error"},
      {"504", kDefault, 504, {}, 10, "error"},
      {"404 max-age above the error TTL",
       kDefault,
       404,
       {{"Cache-Control", "max-age=300"}},
       300,
       "error"},
      {"404 max-age below the error TTL",
       kDefault,
       404,
       {{"Cache-Control", "max-age=3"}},
       10,
       "error"},
      {"503 s-maxage capped at max TTL",
       {0, 86'400, 100},
       503,
       {{"Cache-Control", "s-maxage=3000"}},
       100,
       "error"},
      {"404 Expires counts", kDefault, 404, {{"Expires", date(kNow + 120)}}, 120, "error"},
      {"404 no-store still cached",
       kDefault,
       404,
       {{"Cache-Control", "no-store, private"}},
       10,
       "error"},
      {"404 under CachingDisabled", {0, 0, 0}, 404, {}, 10, "error"},
      {"403 needs max-age or s-maxage", kDefault, 403, {}, kNever, "status"},
      {"403 Expires is not enough",
       kDefault,
       403,
       {{"Expires", date(kNow + 120)}},
       kNever,
       "status"},
      {"403 with max-age", kDefault, 403, {{"Cache-Control", "max-age=5"}}, 10, "error"},
      {"400 with s-maxage", kDefault, 400, {{"Cache-Control", "s-maxage=60"}}, 60, "error"},
      {"412 with max-age", kDefault, 412, {{"Cache-Control", "max-age=60"}}, 60, "error"},
      {"415 with max-age", kDefault, 415, {{"Cache-Control", "max-age=60"}}, 60, "error"},
      {"416 never", kDefault, 416, {{"Cache-Control", "max-age=60"}}, kNever, "status"},
      {"410 is not on CloudFront's lists",
       kDefault,
       410,
       {{"Cache-Control", "max-age=60"}},
       kNever,
       "status"},
      {"429 never", kDefault, 429, {}, kNever, "status"},
  };
}

}  // namespace

TEST_CASE("plan_storage: CloudFront TTL table and error caching", "[freshness]") {
  for (const Row& row : ttl_rows()) {
    INFO(row.name);
    StoragePlan plan = plan_storage(policy(row.ttls), Method::Get, row.status, headers(row.fields),
                                    kNow, std::nullopt, false);
    CHECK(plan.reason == row.reason);
    if (row.ttl == kNever) {
      CHECK_FALSE(plan.storable);
    } else {
      CHECK(plan.storable);
      CHECK(plan.ttl_s == row.ttl);
      CHECK(plan.error_response == (row.status >= 400));
    }
  }
}

TEST_CASE("plan_storage: error caching minimum TTL from the distribution", "[freshness]") {
  CachePolicy p = policy(kDefault);
  StoragePlan plan = plan_storage(p, Method::Get, 500, headers({}), kNow, 60, false);
  CHECK(plan.storable);
  CHECK(plan.ttl_s == 60);
  CHECK(plan.error_response);
  CHECK_FALSE(plan.must_revalidate);
  CHECK(plan.stale_if_error_s == 0);

  plan = plan_storage(p, Method::Get, 404, headers({}), kNow, 0, false);
  CHECK_FALSE(plan.storable);
  CHECK(plan.reason == std::string("ttl-zero"));

  plan =
      plan_storage(p, Method::Get, 404, headers({{"Cache-Control", "max-age=30"}}), kNow, 0, false);
  CHECK(plan.ttl_s == 30);
}

TEST_CASE("plan_storage: only GET is stored", "[freshness]") {
  CachePolicy p = policy(kDefault);
  Headers h = headers({{"Cache-Control", "max-age=60"}});
  CHECK(plan_storage(p, Method::Get, 200, h, kNow, std::nullopt, false).storable);
  for (Method m : {Method::Head, Method::Post, Method::Options, Method::Put}) {
    StoragePlan plan = plan_storage(p, m, 200, h, kNow, std::nullopt, false);
    CHECK_FALSE(plan.storable);
    CHECK(plan.reason == std::string("method"));
  }
}

TEST_CASE("plan_storage: Authorization (RFC 9111 §3.5)", "[freshness]") {
  CachePolicy p = policy(kDefault);
  auto plan = [&](const char* cc) {
    return plan_storage(p, Method::Get, 200, headers({{"Cache-Control", cc}}), kNow, std::nullopt,
                        true);
  };
  CHECK_FALSE(plan("max-age=60").storable);
  CHECK(plan("max-age=60").reason == std::string("authorization"));
  CHECK(plan("max-age=60, public").storable);
  CHECK(plan("s-maxage=60").storable);
  CHECK(plan("max-age=60, must-revalidate").storable);
  // The minimum TTL does not override it.
  CHECK_FALSE(
      plan_storage(policy(kMin), Method::Get, 200, headers({}), kNow, std::nullopt, true).storable);
}

TEST_CASE("plan_storage: stale windows and must_revalidate", "[freshness]") {
  CachePolicy p = policy(kDefault);
  auto plan = [&](const char* cc) {
    return plan_storage(p, Method::Get, 200, headers({{"Cache-Control", cc}}), kNow, std::nullopt,
                        false);
  };
  StoragePlan s = plan("max-age=60, stale-while-revalidate=30, stale-if-error=600");
  CHECK(s.ttl_s == 60);
  CHECK(s.stale_while_revalidate_s == 30);
  CHECK(s.stale_if_error_s == 600);
  CHECK_FALSE(s.must_revalidate);

  s = plan("max-age=60, stale-while-revalidate=30, must-revalidate");
  CHECK(s.must_revalidate);
  CHECK(s.stale_while_revalidate_s == 0);
  s = plan("max-age=60, stale-if-error=30, proxy-revalidate");
  CHECK(s.must_revalidate);
  CHECK(s.stale_if_error_s == 0);
  s = plan("max-age=60, stale-while-revalidate=30, s-maxage=60");
  CHECK_FALSE(s.must_revalidate);
  CHECK(s.stale_while_revalidate_s == 30);
  CHECK(plan("max-age=60, immutable").ttl_s == 60);

  // p.stale_if_error is a floor.
  p.stale_if_error = 300;
  CHECK(plan("max-age=60, stale-if-error=30").stale_if_error_s == 300);
  CHECK(plan("max-age=60, stale-if-error=900").stale_if_error_s == 900);
  CHECK(plan("max-age=60").stale_if_error_s == 300);
  // ... which keeps a max-age=0 response worth storing.
  s = plan("max-age=0");
  CHECK(s.storable);
  CHECK(s.ttl_s == 0);
  CHECK(plan("max-age=0, must-revalidate").reason == std::string("ttl-zero"));

  // Stored by the minimum TTL against the origin's wishes: no stale serving.
  s = plan_storage(policy(kMin), Method::Get, 200,
                   headers({{"Cache-Control", "no-cache, stale-if-error=600"}}), kNow, std::nullopt,
                   false);
  CHECK(s.must_revalidate);
  CHECK(s.stale_if_error_s == 0);
}

TEST_CASE("plan_storage: heuristic freshness is opt-in", "[freshness]") {
  CachePolicy p = policy(kDefault);
  Headers h = headers({{"Last-Modified", date(kNow - 1'000)}});
  CHECK(plan_storage(p, Method::Get, 200, h, kNow, std::nullopt, false).ttl_s == 86'400);
  p.heuristic_freshness = true;
  StoragePlan s = plan_storage(p, Method::Get, 200, h, kNow, std::nullopt, false);
  CHECK(s.ttl_s == 100);
  CHECK(s.reason == std::string("heuristic"));
  // Clamped to the minimum TTL; a Last-Modified after Date is ignored; explicit lifetimes win.
  p.min_ttl = 500;
  CHECK(plan_storage(p, Method::Get, 200, h, kNow, std::nullopt, false).ttl_s == 500);
  p.min_ttl = 0;
  Headers future = headers({{"Last-Modified", date(kNow + 1'000)}});
  CHECK(plan_storage(p, Method::Get, 200, future, kNow, std::nullopt, false).reason ==
        std::string("default-ttl"));
  Headers explicit_ttl =
      headers({{"Last-Modified", date(kNow - 1'000)}, {"Cache-Control", "max-age=7"}});
  CHECK(plan_storage(p, Method::Get, 200, explicit_ttl, kNow, std::nullopt, false).ttl_s == 7);
}

TEST_CASE("plan_storage: Expires without Date counts from now", "[freshness]") {
  Headers h = headers({{"Expires", date(kNow + 250)}}, false);
  StoragePlan s = plan_storage(policy(kDefault), Method::Get, 200, h, kNow, std::nullopt, false);
  CHECK(s.ttl_s == 250);
  // An origin clock 100 s behind: Expires - Date keeps the lifetime the origin meant.
  Headers skewed;
  skewed.add("Date", date(kNow - 100));
  skewed.add("Expires", date(kNow + 150));
  CHECK(plan_storage(policy(kDefault), Method::Get, 200, skewed, kNow, std::nullopt, false).ttl_s ==
        250);
}

TEST_CASE("age: corrected_initial_age (RFC 9111 §4.2.3)", "[freshness]") {
  auto cia = [](const Fields& fields, int64_t request_time, int64_t response_time) {
    Headers h;
    for (const auto& [n, v] : fields) h.add(n, v);
    return corrected_initial_age(h, request_time, response_time);
  };
  // Nothing but the response delay.
  CHECK(cia({}, kNow - 2, kNow) == 2);
  // Age plus the delay.
  CHECK(cia({{"Age", "100"}}, kNow - 2, kNow) == 102);
  // Date 50 s old beats a small Age.
  CHECK(cia({{"Age", "10"}, {"Date", date(kNow - 50)}}, kNow - 2, kNow) == 50);
  // A Date in the future gives no negative age.
  CHECK(cia({{"Date", date(kNow + 500)}}, kNow, kNow) == 0);
  // Invalid Date ignored; invalid Age ignored; list Age uses the first member.
  CHECK(cia({{"Date", "yesterday"}, {"Age", "7"}}, kNow, kNow) == 7);
  CHECK(cia({{"Age", "abc"}}, kNow, kNow) == 0);
  CHECK(cia({{"Age", "-5"}}, kNow, kNow) == 0);
  CHECK(cia({{"Age", " 30, 40"}}, kNow, kNow) == 30);
  CHECK(cia({{"Age", "30"}, {"Age", "40"}}, kNow, kNow) == 30);
  CHECK(cia({{"Age", "99999999999999999999999"}}, kNow, kNow) == 2'147'483'648);
  // The obsolete date forms parse too (RFC 9110 §5.6.7).
  CHECK(cia({{"Date", "Sunday, 06-Nov-94 08:49:37 GMT"}}, 784'111'777 + 10, 784'111'777 + 10) ==
        10);
  CHECK(cia({{"Date", "Sun Nov  6 08:49:37 1994"}}, 784'111'777 + 10, 784'111'777 + 10) == 10);
}

TEST_CASE("age: current_age", "[freshness]") {
  CHECK(current_age(5, kNow, kNow) == 5);
  CHECK(current_age(5, kNow, kNow + 60) == 65);
  CHECK(current_age(5, kNow, kNow - 60) == 5);  // wall clock stepped back
  CHECK(current_age(0, kNow, kNow + 1) == 1);
}
