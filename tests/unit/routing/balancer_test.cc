// Balancer algorithms over a TargetGroup (round robin shared by workers, least outstanding
// requests, weighted random, slow start ramp), the weighted target-group split, and sticky
// cookies (round trip, tampering, expiry, re-pick when the sticky target goes away).
#include "routing/balancer.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <map>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "routing/stickiness.h"

using portico::config::Duration;
using portico::config::LoadBalancingAlgorithm;
using portico::core::ManualClock;
using portico::routing::FastRandom;
using portico::routing::find_cookie;
using portico::routing::IpAddress;
using portico::routing::pick_target;
using portico::routing::pick_target_group;
using portico::routing::PickRequest;
using portico::routing::PickResult;
using portico::routing::ProbeResult;
using portico::routing::ProbeTask;
using portico::routing::StickyCodec;
using portico::routing::StickyKey;
using portico::routing::target_identity;
using portico::routing::TargetAddress;
using portico::routing::TargetGroup;
using portico::routing::WeightedTargetGroup;
using std::chrono::seconds;

namespace {

portico::config::TargetGroup config(std::vector<uint16_t> ports, LoadBalancingAlgorithm algorithm) {
  portico::config::TargetGroup g;
  g.name = "tg";
  g.load_balancing_algorithm = algorithm;
  for (uint16_t p : ports) g.targets.push_back({"10.0.0.1", p, {}});
  return g;
}

TargetAddress addr(uint16_t port) { return TargetAddress{IpAddress::v4(10, 0, 0, 1), port}; }

void all_healthy(TargetGroup& g, const ManualClock& clock) {
  std::vector<ProbeTask> tasks;
  g.due_probes(clock.now(), tasks);
  for (const ProbeTask& t : tasks) g.report_probe(t.target, ProbeResult::Ok, 200, clock.now());
}

uint16_t port_of(const TargetGroup& g, const PickResult& r) {
  TargetAddress a;
  REQUIRE(g.address(r.target, a));
  return a.port;
}

std::map<uint16_t, int> spread(TargetGroup& g, const ManualClock& clock, int n, FastRandom& rng) {
  std::map<uint16_t, int> counts;
  for (int i = 0; i < n; ++i) {
    PickRequest req;
    req.now = clock.now();
    req.random = rng.next();
    ++counts[port_of(g, pick_target(g, req))];
  }
  return counts;
}

}  // namespace

TEST_CASE("balancer: round robin is one sequence shared by every worker", "[balancer]") {
  ManualClock clock;
  TargetGroup g(config({1, 2, 3}, LoadBalancingAlgorithm::RoundRobin), clock.now());
  all_healthy(g, clock);
  // Two workers interleave picks on the shared group: the split stays exact, and neither
  // worker's own picks are skewed (each sees a rotation, not the same target).
  FastRandom rng(1);
  std::map<uint16_t, int> worker[2];
  for (int i = 0; i < 3000; ++i) {
    PickRequest req;
    req.now = clock.now();
    req.random = rng.next();
    ++worker[i % 2][port_of(g, pick_target(g, req))];
  }
  for (uint16_t p : {1, 2, 3}) CHECK(worker[0][p] + worker[1][p] == 1000);
  CHECK(worker[0][1] == 500);
}

TEST_CASE("balancer: worker threads share one exact round-robin split", "[balancer]") {
  ManualClock clock;
  TargetGroup g(config({1, 2, 3}, LoadBalancingAlgorithm::RoundRobin), clock.now());
  all_healthy(g, clock);
  std::atomic<int> counts[3] = {0, 0, 0};
  auto worker = [&] {
    PickRequest req;
    req.now = clock.now();
    for (int i = 0; i < 30'000; ++i) {
      PickResult r = pick_target(g, req);
      TargetAddress a;
      if (!g.address(r.target, a)) continue;
      g.begin_request(r.target);
      counts[a.port - 1].fetch_add(1);
      g.end_request(r.target);
    }
  };
  std::thread t1(worker);
  std::thread t2(worker);
  t1.join();
  t2.join();
  for (auto& c : counts) CHECK(c.load() == 20'000);
  for (const auto& s : g.describe(clock.now())) CHECK(s.outstanding == 0);
}

TEST_CASE("balancer: picks stay correct while targets are registered and deregistered",
          "[balancer]") {
  ManualClock clock;
  auto c = config({1, 2, 3}, LoadBalancingAlgorithm::LeastOutstandingRequests);
  c.deregistration_delay = Duration{0};
  TargetGroup g(c, clock.now(), nullptr, 8);
  all_healthy(g, clock);
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  auto worker = [&] {
    PickRequest req;
    req.now = clock.now();
    while (!done.load()) {
      PickResult r = pick_target(g, req);
      TargetAddress a;
      if (!g.address(r.target, a)) continue;             // stale: the proxy would pick again
      if (a.port < 1 || a.port > 3) wrong.fetch_add(1);  // new targets are never healthy here
      g.begin_request(r.target);
      g.end_request(r.target);
    }
  };
  std::thread t1(worker);
  std::thread t2(worker);
  for (int i = 0; i < 2'000; ++i) {  // churn the free slots (capacity 8) under the readers
    auto port = static_cast<uint16_t>(100 + i % 50);
    REQUIRE(g.register_target(addr(port), clock.now()).ok());
    REQUIRE(g.deregister_target(addr(port), clock.now()).ok());
  }
  done = true;
  t1.join();
  t2.join();
  CHECK(wrong.load() == 0);
}

TEST_CASE("balancer: weighted target groups split 10,000 picks within 3%", "[balancer]") {
  std::vector<WeightedTargetGroup> groups = {{nullptr, 90, 1}, {nullptr, 10, 2}};
  FastRandom rng(42);
  int counts[2] = {0, 0};
  for (int i = 0; i < 10'000; ++i) ++counts[pick_target_group(groups, rng.next())];
  CHECK(std::abs(counts[0] - 9000) <= 300);
  CHECK(std::abs(counts[1] - 1000) <= 300);

  std::vector<WeightedTargetGroup> three = {{nullptr, 5, 1}, {nullptr, 0, 2}, {nullptr, 15, 3}};
  int c3[3] = {0, 0, 0};
  for (int i = 0; i < 10'000; ++i) ++c3[pick_target_group(three, rng.next())];
  CHECK(std::abs(c3[0] - 2500) <= 300);
  CHECK(c3[1] == 0);
  CHECK(std::abs(c3[2] - 7500) <= 300);
  // Target group stickiness (AWSALBTG) wins unless that group's weight is 0.
  CHECK(pick_target_group(three, rng.next(), 1) == 0);
  CHECK(pick_target_group(three, 0, 2) == 0);  // weight 0: ignored, a normal pick
}

TEST_CASE("balancer: least outstanding requests picks the idle target", "[balancer]") {
  ManualClock clock;
  TargetGroup g(config({1, 2, 3}, LoadBalancingAlgorithm::LeastOutstandingRequests), clock.now());
  all_healthy(g, clock);
  PickRequest req;
  req.now = clock.now();
  // Target 1 is slow: it holds 5 requests, target 2 holds 1, target 3 none.
  std::map<uint16_t, portico::routing::TargetRef> refs;
  for (int i = 0; i < 30 && refs.size() < 3; ++i) {
    PickResult r = pick_target(g, req);
    refs[port_of(g, r)] = r.target;
  }
  REQUIRE(refs.size() == 3);
  for (int i = 0; i < 5; ++i) g.begin_request(refs[1]);
  g.begin_request(refs[2]);
  for (int i = 0; i < 10; ++i) CHECK(port_of(g, pick_target(g, req)) == 3);
  // Once 3 is as busy as 2, they take turns; 1 still gets nothing.
  g.begin_request(refs[3]);
  std::map<uint16_t, int> seen;
  for (int i = 0; i < 10; ++i) ++seen[port_of(g, pick_target(g, req))];
  CHECK(seen[1] == 0);
  CHECK(seen[2] > 0);
  CHECK(seen[3] > 0);
  // Every request on 1 finishes: it is now the idle one.
  for (int i = 0; i < 5; ++i) g.end_request(refs[1]);
  CHECK(port_of(g, pick_target(g, req)) == 1);
}

TEST_CASE("balancer: weighted random spreads evenly", "[balancer]") {
  ManualClock clock;
  TargetGroup g(config({1, 2, 3, 4}, LoadBalancingAlgorithm::WeightedRandom), clock.now());
  all_healthy(g, clock);
  FastRandom rng(7);
  std::map<uint16_t, int> counts = spread(g, clock, 10'000, rng);
  for (uint16_t p : {1, 2, 3, 4}) CHECK(std::abs(counts[p] - 2500) <= 300);
}

TEST_CASE("balancer: slow start ramps a new target's share linearly", "[balancer]") {
  for (LoadBalancingAlgorithm algo :
       {LoadBalancingAlgorithm::RoundRobin, LoadBalancingAlgorithm::WeightedRandom}) {
    ManualClock clock;
    auto c = config({1}, algo);
    c.slow_start = Duration{100'000};
    TargetGroup g(c, clock.now());
    all_healthy(g, clock);
    clock.advance(seconds(1));
    REQUIRE(g.register_target(addr(2), clock.now()).ok());
    all_healthy(g, clock);  // 2 becomes healthy and enters slow start now
    FastRandom rng(3);
    // Expected share of the new target at fraction f of the window: f / (1 + f).
    for (int pct : {0, 25, 50, 75}) {
      std::map<uint16_t, int> counts = spread(g, clock, 10'000, rng);
      double f = std::max(pct / 100.0, 0.01);
      double want = 10'000 * f / (1 + f);
      INFO("algorithm " << static_cast<int>(algo) << " at " << pct << "% of the window");
      CHECK(std::abs(counts[2] - want) <= 300);
      clock.advance(seconds(25));
    }
    std::map<uint16_t, int> after = spread(g, clock, 10'000, rng);  // window over: even
    CHECK(std::abs(after[2] - 5000) <= 300);
  }
}

TEST_CASE("sticky cookies: SipHash-2-4 reference vector", "[balancer][stickiness]") {
  // Aumasson & Bernstein, SipHash paper, appendix A: key 00..0f, message 00..0e.
  StickyKey key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  char msg[15];
  for (int i = 0; i < 15; ++i) msg[i] = static_cast<char>(i);
  CHECK(portico::routing::siphash24(key, std::string_view(msg, 15)) == 0xa129ca6149be45e5ULL);
}

TEST_CASE("sticky cookies: round trip, tampering and expiry", "[balancer][stickiness]") {
  StickyCodec codec(StickyKey{1, 2});
  const int64_t now = 1'700'000'000;
  StickyCodec::Value v = codec.encode(0x1234'5678'9abc'def0ULL, now + 86'400);
  std::string_view value(v.data(), v.size());
  CHECK(value.size() == 28);
  CHECK(
      value.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
      std::string_view::npos);
  REQUIRE(codec.decode(value, now));
  CHECK(*codec.decode(value, now) == 0x1234'5678'9abc'def0ULL);
  CHECK_FALSE(codec.decode(value, now + 86'400));  // expired
  StickyCodec::Value other = codec.encode(0x1234'5678'9abc'def0ULL, now + 86'401);
  CHECK(std::string_view(other.data(), other.size()) != value);  // the identity is masked
  std::string tampered(value);
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  CHECK_FALSE(codec.decode(tampered, now));
  CHECK_FALSE(StickyCodec(StickyKey{1, 3}).decode(value, now));  // another process's key
  CHECK_FALSE(codec.decode("short", now));
  CHECK_FALSE(codec.decode(std::string(28, '!'), now));
}

TEST_CASE("sticky cookies: headers", "[balancer][stickiness]") {
  portico::core::Headers h;
  h.add("Cookie", "a=1; AWSALB=abc; AWSALBCORS=abc");
  h.add("cookie", "AWSALBAPP-0=\"q\"");
  CHECK(find_cookie(h, "AWSALB") == std::string_view("abc"));
  CHECK(find_cookie(h, "AWSALBAPP-0") == std::string_view("q"));
  CHECK_FALSE(find_cookie(h, "AWSALBTG"));
  CHECK_FALSE(find_cookie(h, "awsalb"));  // cookie names are case-sensitive
  std::string out;
  portico::routing::format_set_cookie(out, "AWSALB", "v", 1'700'086'400, false);
  CHECK(out == "AWSALB=v; Expires=Wed, 15 Nov 2023 22:13:20 GMT; Path=/");
  portico::routing::format_set_cookie(out, "AWSALBCORS", "v", 1'700'086'400, true);
  CHECK(out ==
        "AWSALBCORS=v; Expires=Wed, 15 Nov 2023 22:13:20 GMT; Path=/; SameSite=None; "
        "Secure");
}

TEST_CASE("sticky cookies: hold across picks, re-pick when the target goes away",
          "[balancer][stickiness]") {
  ManualClock clock;
  auto c = config({1, 2, 3}, LoadBalancingAlgorithm::RoundRobin);
  c.stickiness.enabled = true;
  TargetGroup g(c, clock.now());
  all_healthy(g, clock);
  StickyCodec codec(StickyKey::random());
  const int64_t now = 1'700'000'000;

  PickRequest req;
  req.now = clock.now();
  PickResult first = pick_target(g, req);
  CHECK_FALSE(first.sticky);
  uint16_t port = port_of(g, first);
  CHECK(first.identity == target_identity(addr(port)));
  StickyCodec::Value cookie = codec.encode(first.identity, now + 86'400);  // AWSALB=...

  // The client sends the cookie back: 1,000 requests stay on that target.
  for (int i = 0; i < 1000; ++i) {
    PickRequest again;
    again.now = clock.now();
    again.sticky_identity = codec.decode(std::string_view(cookie.data(), cookie.size()), now);
    PickResult r = pick_target(g, again);
    REQUIRE(r.sticky);
    REQUIRE(port_of(g, r) == port);
  }
  // Its target goes unhealthy: a new target, not sticky, and a new cookie names it.
  std::vector<ProbeTask> tasks;
  for (int round = 0; round < 2; ++round) {
    clock.advance(c.health_check.interval);
    tasks.clear();
    g.due_probes(clock.now(), tasks);
    for (const ProbeTask& t : tasks) {
      bool bad = t.address.port == port;
      g.report_probe(t.target, bad ? ProbeResult::Failed : ProbeResult::Ok, bad ? 0 : 200,
                     clock.now());
    }
  }
  PickRequest moved;
  moved.now = clock.now();
  moved.sticky_identity = codec.decode(std::string_view(cookie.data(), cookie.size()), now);
  PickResult r = pick_target(g, moved);
  CHECK_FALSE(r.sticky);
  uint16_t new_port = port_of(g, r);
  CHECK(new_port != port);
  StickyCodec::Value renewed = codec.encode(r.identity, now + 86'400);
  moved.sticky_identity = codec.decode(std::string_view(renewed.data(), renewed.size()), now);
  CHECK(port_of(g, pick_target(g, moved)) == new_port);

  // The new sticky target is deregistered: re-picked again. A cookie that survives a target
  // set change still works: registering other targets does not move it.
  REQUIRE(g.register_target(addr(9), clock.now()).ok());
  CHECK(pick_target(g, moved).sticky);
  REQUIRE(g.deregister_target(addr(new_port), clock.now()).ok());
  PickResult after = pick_target(g, moved);
  CHECK_FALSE(after.sticky);
  CHECK(port_of(g, after) != new_port);
}
