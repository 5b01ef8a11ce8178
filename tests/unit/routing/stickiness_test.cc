// app_cookie stickiness building blocks: spotting the application cookie in a target's Set-Cookie
// fields, ALB's Chromium 80 rule for SameSite on AWSALBAPP, and an AWSALBAPP-0 value whose sealed
// expiry is the stickiness duration (not the cookie's 7-day lifetime) steering pick_target to its
// target until that target goes away, then to a new one.
#include "routing/stickiness.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/clock.h"
#include "routing/balancer.h"

using portico::core::Headers;
using portico::routing::chromium_80_or_later;
using portico::routing::kAppCookieLifetimeSeconds;
using portico::routing::kAppCookieNames;
using portico::routing::pick_target;
using portico::routing::PickRequest;
using portico::routing::PickResult;
using portico::routing::ProbeResult;
using portico::routing::ProbeTask;
using portico::routing::response_sets_cookie;
using portico::routing::StickyCodec;
using portico::routing::StickyKey;
using portico::routing::TargetAddress;
using portico::routing::TargetGroup;

TEST_CASE("app_cookie: the target's Set-Cookie names the application cookie", "[stickiness]") {
  Headers h;
  h.add("Content-Type", "text/plain");
  CHECK_FALSE(response_sets_cookie(h, "MYAPP"));
  h.add("Set-Cookie", "other=1; Path=/");
  h.add("set-cookie", "MYAPPX=2");
  CHECK_FALSE(response_sets_cookie(h, "MYAPP"));
  CHECK_FALSE(response_sets_cookie(h, "myappx"));  // cookie names are case-sensitive
  h.add("SET-COOKIE", "  MYAPP =abc; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly");
  CHECK(response_sets_cookie(h, "MYAPP"));  // any attributes, even an expiry in the past
  CHECK(response_sets_cookie(h, "other"));

  Headers only_attr;
  only_attr.add("Set-Cookie", "MYAPP; Path=/");  // no '=': not a cookie pair
  only_attr.add("Set-Cookie", "x=1; MYAPP=2");   // MYAPP=2 is an attribute here
  CHECK_FALSE(response_sets_cookie(only_attr, "MYAPP"));
}

TEST_CASE("app_cookie: SameSite=None only for Chromium 80 or later", "[stickiness]") {
  CHECK(
      chromium_80_or_later("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                           "Chrome/120.0.0.0 Safari/537.36"));
  CHECK(chromium_80_or_later("Mozilla/5.0 Chromium/80.0.3987.0 Chrome/80.0.3987.0"));
  CHECK_FALSE(chromium_80_or_later("Mozilla/5.0 (KHTML, like Gecko) Chrome/79.0.3945.130"));
  CHECK_FALSE(chromium_80_or_later("Mozilla/5.0 (X11; rv:121.0) Gecko/20100101 Firefox/121.0"));
  CHECK_FALSE(chromium_80_or_later("curl/8.5.0"));
  CHECK_FALSE(chromium_80_or_later(""));
  CHECK_FALSE(chromium_80_or_later("Chrome/"));
  CHECK_FALSE(chromium_80_or_later("Chrome/8"));
  // Found by tests/fuzz/routing_cookie_fuzz: only the first six digits were read, so leading
  // zeros hid the version.
  CHECK(chromium_80_or_later("Chrome/000000080.0"));
  CHECK(chromium_80_or_later("x Chrome/000000000000779059682x"));
  CHECK(chromium_80_or_later("Chrome/99999999999999999999"));
  CHECK_FALSE(chromium_80_or_later("Chrome/0000000079"));
}

TEST_CASE("app_cookie: cookie names and format", "[stickiness]") {
  CHECK(kAppCookieNames[0] == "AWSALBAPP-0");
  CHECK(kAppCookieNames[3] == "AWSALBAPP-3");
  CHECK(kAppCookieLifetimeSeconds == 7 * 24 * 3600);
  std::string out;
  portico::routing::format_set_cookie(out, kAppCookieNames[1], "_remove_", 1'700'086'400, true);
  CHECK(out ==
        "AWSALBAPP-1=_remove_; Expires=Wed, 15 Nov 2023 22:13:20 GMT; Path=/; SameSite=None; "
        "Secure");
}

TEST_CASE("app_cookie: AWSALBAPP-0 holds its target for the stickiness duration",
          "[stickiness][balancer]") {
  portico::core::ManualClock clock;
  portico::config::TargetGroup c;
  c.name = "app";
  c.stickiness.enabled = true;
  c.stickiness.type = portico::config::StickinessType::AppCookie;
  c.stickiness.cookie_name = "MYAPP";
  c.stickiness.duration = portico::config::Duration{60'000};
  for (uint16_t p : {1, 2, 3}) c.targets.push_back({"10.0.0.1", p, {}});
  TargetGroup g(c, clock.now());
  std::vector<ProbeTask> tasks;
  g.due_probes(clock.now(), tasks);
  for (const ProbeTask& t : tasks) g.report_probe(t.target, ProbeResult::Ok, 200, clock.now());

  StickyCodec codec(StickyKey::random());
  const int64_t now = 1'700'000'000;
  PickRequest first_req;
  first_req.now = clock.now();
  PickResult first = pick_target(g, first_req);
  REQUIRE(first.target.valid());
  // The value seals now + duration; the cookie itself lives 7 days (kAppCookieLifetimeSeconds).
  StickyCodec::Value v = codec.encode(first.identity, now + 60);
  std::string_view value(v.data(), v.size());

  for (int i = 0; i < 100; ++i) {
    PickRequest r;
    r.now = clock.now();
    r.random = static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ULL;
    r.sticky_identity = codec.decode(value, now + 59);
    PickResult p = pick_target(g, r);
    REQUIRE(p.sticky);
    REQUIRE(p.identity == first.identity);
  }
  // Past the stickiness duration the value no longer decodes: the request is balanced afresh.
  CHECK_FALSE(codec.decode(value, now + 60));

  // The target is deregistered: a new target, whose identity the re-issued cookie names.
  TargetAddress a;
  REQUIRE(g.address(first.target, a));
  REQUIRE(g.deregister_target(a, clock.now()).ok());
  PickRequest moved_req;
  moved_req.now = clock.now();
  moved_req.sticky_identity = codec.decode(value, now + 1);
  PickResult moved = pick_target(g, moved_req);
  REQUIRE(moved.target.valid());
  CHECK_FALSE(moved.sticky);
  CHECK(moved.identity != first.identity);
  // The session stays with the new target even once the old one is back (ALB: "continues
  // routing requests to the new healthy target even if the failed target comes back").
  REQUIRE(g.register_target(a, clock.now()).ok());
  tasks.clear();
  g.due_probes(clock.now(), tasks);
  for (const ProbeTask& t : tasks) g.report_probe(t.target, ProbeResult::Ok, 200, clock.now());
  StickyCodec::Value v2 = codec.encode(moved.identity, now + 60);
  for (int i = 0; i < 20; ++i) {
    PickRequest r;
    r.now = clock.now();
    r.random = static_cast<uint64_t>(i);
    r.sticky_identity = codec.decode(std::string_view(v2.data(), v2.size()), now + 2);
    PickResult p = pick_target(g, r);
    REQUIRE(p.sticky);
    REQUIRE(p.identity == moved.identity);
  }
}

TEST_CASE("app_cookie: an unhealthy session target moves the session", "[stickiness][balancer]") {
  portico::core::ManualClock clock;
  portico::config::TargetGroup c;
  c.name = "app";
  c.stickiness.enabled = true;
  c.stickiness.type = portico::config::StickinessType::AppCookie;
  c.stickiness.cookie_name = "MYAPP";
  for (uint16_t p : {1, 2}) c.targets.push_back({"10.0.0.1", p, {}});
  TargetGroup g(c, clock.now());
  std::vector<ProbeTask> tasks;
  g.due_probes(clock.now(), tasks);
  for (const ProbeTask& t : tasks) g.report_probe(t.target, ProbeResult::Ok, 200, clock.now());

  StickyCodec codec(StickyKey::random());
  const int64_t now = 1'700'000'000;
  PickRequest first_req;
  first_req.now = clock.now();
  PickResult first = pick_target(g, first_req);
  TargetAddress sticky_addr;
  REQUIRE(g.address(first.target, sticky_addr));
  StickyCodec::Value v = codec.encode(first.identity, now + 86'400);

  // unhealthy_threshold (2) failed probes of the session's target.
  for (int round = 0; round < c.health_check.unhealthy_threshold; ++round) {
    clock.advance(c.health_check.interval);
    tasks.clear();
    g.due_probes(clock.now(), tasks);
    for (const ProbeTask& t : tasks) {
      bool bad = t.address.port == sticky_addr.port;
      g.report_probe(t.target, bad ? ProbeResult::Failed : ProbeResult::Ok, bad ? 0 : 200,
                     clock.now());
    }
  }
  PickRequest r;
  r.now = clock.now();
  r.sticky_identity = codec.decode(std::string_view(v.data(), v.size()), now);
  PickResult moved = pick_target(g, r);
  CHECK_FALSE(moved.sticky);
  CHECK(moved.identity != first.identity);
}
