// TargetGroup with an injected clock: registration, probe scheduling, thresholds with timeouts,
// fail-open, passive suspicion, draining expiry, slow start entry, reload carry-over, stale refs.
#include "routing/target_group.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <vector>

#include "config/loader.h"
#include "core/clock.h"
#include "routing/balancer.h"
#include "routing/target_group_set.h"

using portico::config::Duration;
using portico::core::ManualClock;
using portico::routing::IpAddress;
using portico::routing::PickRequest;
using portico::routing::PickResult;
using portico::routing::ProbeResult;
using portico::routing::ProbeTask;
using portico::routing::TargetAddress;
using portico::routing::TargetGroup;
using portico::routing::TargetReason;
using portico::routing::TargetRef;
using portico::routing::TargetState;
using portico::routing::TargetStatus;
using std::chrono::seconds;

namespace {

portico::config::TargetGroup config(std::vector<uint16_t> ports) {
  portico::config::TargetGroup g;
  g.name = "tg";
  for (uint16_t p : ports) g.targets.push_back({"127.0.0.1", p, {}});
  g.health_check.interval = Duration{10'000};
  g.health_check.timeout = Duration{2'000};
  g.health_check.healthy_threshold = 3;
  g.health_check.unhealthy_threshold = 2;
  g.deregistration_delay = Duration{30'000};
  return g;
}

TargetAddress addr(uint16_t port) { return TargetAddress{IpAddress::v4(127, 0, 0, 1), port}; }

TargetStatus status_of(const std::vector<TargetStatus>& all, uint16_t port) {
  for (const TargetStatus& s : all) {
    if (s.address.port == port) return s;
  }
  FAIL("no target on port " << port);
  return {};
}

TargetState state(const TargetGroup& g, uint16_t port, const ManualClock& clock) {
  return status_of(g.describe(clock.now()), port).state;
}

// Runs every due probe with `result_for(port)`.
template <typename F>
void probe_all(TargetGroup& g, const ManualClock& clock, F result_for) {
  std::vector<ProbeTask> tasks;
  g.due_probes(clock.now(), tasks);
  for (const ProbeTask& t : tasks) {
    ProbeResult r = result_for(t.address.port);
    g.report_probe(t.target, r, r == ProbeResult::Ok ? 200 : 0, clock.now());
  }
}

PickResult pick(TargetGroup& g, const ManualClock& clock) {
  PickRequest req;
  req.now = clock.now();
  return portico::routing::pick_target(g, req);
}

uint16_t port_of(const TargetGroup& g, TargetRef t) {
  TargetAddress a;
  REQUIRE(g.address(t, a));
  return a.port;
}

}  // namespace

TEST_CASE("target group: config targets start initial and are probed each interval",
          "[target_group]") {
  ManualClock clock;
  TargetGroup g(config({9001, 9002}), clock.now());
  CHECK(g.name() == "tg");
  std::vector<TargetStatus> all = g.describe(clock.now());
  REQUIRE(all.size() == 2);
  CHECK(all[0].state == TargetState::Initial);
  CHECK(all[0].reason == TargetReason::InitialHealthChecking);
  CHECK(all[0].address.to_string() == "127.0.0.1:9001");
  std::vector<ProbeTask> tasks;
  g.due_probes(clock.now(), tasks);
  CHECK(tasks.size() == 2);
  tasks.clear();
  g.due_probes(clock.now(), tasks);
  CHECK(tasks.empty());  // scheduled one interval later
  CHECK(g.next_probe_at() == clock.now() + seconds(10));
  clock.advance(seconds(10));
  g.due_probes(clock.now(), tasks);
  CHECK(tasks.size() == 2);
}

TEST_CASE("target group: the probe port is health_check.port when set", "[target_group]") {
  ManualClock clock;
  auto c = config({9001});
  c.health_check.port = 8081;
  TargetGroup g(c, clock.now());
  std::vector<ProbeTask> tasks;
  g.due_probes(clock.now(), tasks);
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].address.port == 8081);
  TargetAddress traffic;
  REQUIRE(g.address(tasks[0].target, traffic));
  CHECK(traffic.port == 9001);
}

TEST_CASE("target group: rise and fall with timeouts, on the injected clock", "[target_group]") {
  ManualClock clock;
  TargetGroup g(config({9001, 9002}), clock.now());
  auto all_ok = [](uint16_t) { return ProbeResult::Ok; };
  probe_all(g, clock, all_ok);
  CHECK(state(g, 9001, clock) == TargetState::Healthy);
  CHECK(g.counts(clock.now()).healthy == 2);
  // 9002 stops answering: unhealthy after 2 intervals (unhealthy_threshold), reason Timeout.
  auto b_down = [](uint16_t p) { return p == 9002 ? ProbeResult::Timeout : ProbeResult::Ok; };
  clock.advance(seconds(10));
  probe_all(g, clock, b_down);
  CHECK(state(g, 9002, clock) == TargetState::Healthy);
  clock.advance(seconds(10));
  probe_all(g, clock, b_down);
  TargetStatus s = status_of(g.describe(clock.now()), 9002);
  CHECK(s.state == TargetState::Unhealthy);
  CHECK(s.reason == TargetReason::Timeout);
  for (int i = 0; i < 20; ++i) CHECK(port_of(g, pick(g, clock).target) == 9001);
  // Back after healthy_threshold (3) passing checks.
  for (int i = 0; i < 2; ++i) {
    clock.advance(seconds(10));
    probe_all(g, clock, all_ok);
  }
  CHECK(state(g, 9002, clock) == TargetState::Unhealthy);
  clock.advance(seconds(10));
  probe_all(g, clock, all_ok);
  CHECK(state(g, 9002, clock) == TargetState::Healthy);
}

TEST_CASE("target group: fail open when every target is unhealthy", "[target_group]") {
  ManualClock clock;
  TargetGroup g(config({9001, 9002}), clock.now());
  PickResult cold = pick(g, clock);  // initial targets only: served at once, fail-open
  CHECK(cold.target.valid());
  CHECK(cold.fail_open);
  for (int i = 0; i < 2; ++i) {
    probe_all(g, clock, [](uint16_t) { return ProbeResult::Failed; });
    clock.advance(seconds(10));
  }
  REQUIRE(g.counts(clock.now()).unhealthy == 2);
  int seen[2] = {0, 0};
  for (int i = 0; i < 100; ++i) {
    PickResult r = pick(g, clock);
    REQUIRE(r.target.valid());
    CHECK(r.fail_open);
    ++seen[port_of(g, r.target) - 9001];
  }
  CHECK(seen[0] == 50);
  CHECK(seen[1] == 50);
  // No registered target at all: nothing to pick (ALB answers 503).
  TargetGroup empty(config({}), clock.now());
  CHECK_FALSE(pick(empty, clock).target.valid());
}

TEST_CASE("target group: a draining target with requests still in flight ends at the delay",
          "[target_group]") {
  ManualClock clock;
  TargetGroup g(config({9001, 9002}), clock.now());
  probe_all(g, clock, [](uint16_t) { return ProbeResult::Ok; });
  // Nothing in flight: unused at once, as ALB does.
  REQUIRE(g.deregister_target(addr(9002), clock.now()).ok());
  CHECK(status_of(g.describe(clock.now()), 9002).state == TargetState::Unused);
  PickResult stuck = pick(g, clock);
  REQUIRE(port_of(g, stuck.target) == 9001);
  g.begin_request(stuck.target);  // never ends
  REQUIRE(g.deregister_target(addr(9001), clock.now()).ok());
  clock.advance(seconds(29));  // deregistration_delay is 30 s
  CHECK(g.expire_draining(clock.now()) == 0);
  CHECK(status_of(g.describe(clock.now()), 9001).state == TargetState::Draining);
  clock.advance(seconds(1));
  CHECK(g.expire_draining(clock.now()) == 1);
  CHECK(status_of(g.describe(clock.now()), 9001).state == TargetState::Unused);
}

TEST_CASE("target group: deregistration drains for deregistration_delay", "[target_group]") {
  ManualClock clock;
  TargetGroup g(config({9001, 9002}), clock.now());
  probe_all(g, clock, [](uint16_t) { return ProbeResult::Ok; });
  PickResult inflight = pick(g, clock);
  REQUIRE(port_of(g, inflight.target) == 9001);
  g.begin_request(inflight.target);
  REQUIRE(g.deregister_target(addr(9001), clock.now()).ok());
  TargetStatus d = status_of(g.describe(clock.now()), 9001);
  CHECK(d.state == TargetState::Draining);
  CHECK(d.reason == TargetReason::DeregistrationInProgress);
  CHECK(d.outstanding == 1);
  for (int i = 0; i < 10; ++i) CHECK(port_of(g, pick(g, clock).target) == 9002);
  std::vector<ProbeTask> tasks;
  clock.advance(seconds(10));
  g.due_probes(clock.now(), tasks);
  CHECK(tasks.size() == 1);  // draining targets are not probed
  TargetAddress a;
  CHECK(g.address(inflight.target, a));  // the in-flight request still has its address
  CHECK(g.next_drain_deadline() == clock.now() + seconds(20));
  CHECK(g.expire_draining(clock.now()) == 0);  // still in flight
  g.end_request(inflight.target);
  CHECK(g.outstanding(inflight.target) == 0);
  // Nothing in flight any more: ALB completes the deregistration without waiting for the delay.
  CHECK(g.expire_draining(clock.now()) == 1);
  TargetStatus u = status_of(g.describe(clock.now()), 9001);
  CHECK(u.state == TargetState::Unused);
  CHECK(u.reason == TargetReason::NotRegistered);
  CHECK(g.next_drain_deadline() == TargetGroup::TimePoint::max());
  CHECK(g.deregister_target(addr(9001), clock.now()).error().kind ==
        portico::core::ErrorKind::NotFound);
  // Registering it again starts health checks over.
  REQUIRE(g.register_target(addr(9001), clock.now()).ok());
  CHECK(state(g, 9001, clock) == TargetState::Initial);
}

TEST_CASE("target group: deregistration_delay 0 frees the target at once", "[target_group]") {
  ManualClock clock;
  auto c = config({9001});
  c.deregistration_delay = Duration{0};
  TargetGroup g(c, clock.now());
  REQUIRE(g.deregister_target(addr(9001), clock.now()).ok());
  CHECK(state(g, 9001, clock) == TargetState::Unused);
  CHECK_FALSE(pick(g, clock).target.valid());
}

TEST_CASE("target group: register through the API, full group, stale refs", "[target_group]") {
  ManualClock clock;
  auto c = config({});
  c.deregistration_delay = Duration{0};
  TargetGroup g(c, clock.now(), nullptr, 2);
  REQUIRE(g.register_target(addr(1), clock.now()).ok());
  REQUIRE(g.register_target(addr(1), clock.now()).ok());  // idempotent
  REQUIRE(g.register_target(addr(2), clock.now()).ok());
  CHECK(g.register_target(addr(3), clock.now()).error().kind == portico::core::ErrorKind::TooLarge);
  CHECK_FALSE(g.register_target(TargetAddress{}, clock.now()).ok());
  PickResult r = pick(g, clock);
  uint16_t port = port_of(g, r.target);
  REQUIRE(g.deregister_target(addr(port), clock.now()).ok());
  REQUIRE(g.register_target(addr(3), clock.now()).ok());  // reuses the freed slot
  TargetAddress a;
  CHECK_FALSE(g.address(r.target, a));  // the old ref is stale, not pointing at 3
  g.end_request(r.target);              // harmless
  CHECK(g.describe(clock.now()).size() == 2);
}

TEST_CASE("target group: passive detection marks a target suspect until the next good probe",
          "[target_group]") {
  ManualClock clock;
  TargetGroup g(config({9001, 9002}), clock.now());
  probe_all(g, clock, [](uint16_t) { return ProbeResult::Ok; });
  PickResult r = pick(g, clock);
  uint16_t bad = port_of(g, r.target);
  uint16_t good = bad == 9001 ? 9002 : 9001;
  g.report_connect_failure(r.target, clock.now());
  CHECK(status_of(g.describe(clock.now()), bad).suspect);
  CHECK(status_of(g.describe(clock.now()), bad).state == TargetState::Healthy);  // ALB state
  CHECK(g.counts(clock.now()).healthy == 1);
  for (int i = 0; i < 10; ++i) CHECK(port_of(g, pick(g, clock).target) == good);
  // A successful active probe clears it.
  clock.advance(seconds(10));
  probe_all(g, clock, [](uint16_t) { return ProbeResult::Ok; });
  CHECK_FALSE(status_of(g.describe(clock.now()), bad).suspect);

  // Five 5xx in a row (no other response between) make it suspect for one interval.
  for (uint32_t i = 0; i + 1 < TargetGroup::kPassive5xxBurst; ++i)
    g.report_5xx(r.target, clock.now());
  g.report_success(r.target);  // breaks the burst
  for (uint32_t i = 0; i + 1 < TargetGroup::kPassive5xxBurst; ++i)
    g.report_5xx(r.target, clock.now());
  CHECK_FALSE(status_of(g.describe(clock.now()), bad).suspect);
  g.report_5xx(r.target, clock.now());
  CHECK(status_of(g.describe(clock.now()), bad).suspect);
  clock.advance(seconds(10));  // suspicion lasts one interval
  CHECK_FALSE(status_of(g.describe(clock.now()), bad).suspect);

  // Every target suspect: fail open includes them.
  PickResult other = pick(g, clock);
  g.report_connect_failure(r.target, clock.now());
  g.report_connect_failure(other.target, clock.now());
  if (other.target.slot != r.target.slot) {
    PickResult open = pick(g, clock);
    CHECK(open.target.valid());
    CHECK(open.fail_open);
  }
}

TEST_CASE("target group: slow start only for targets joining a healthy group", "[target_group]") {
  ManualClock clock;
  auto c = config({9001, 9002});
  c.slow_start = Duration{60'000};
  TargetGroup g(c, clock.now());
  probe_all(g, clock, [](uint16_t) { return ProbeResult::Ok; });
  // Registered together into an empty group: no slow start (ALB).
  for (const TargetStatus& s : g.describe(clock.now())) CHECK_FALSE(s.slow_start);
  clock.advance(seconds(1));
  REQUIRE(g.register_target(addr(9003), clock.now()).ok());
  probe_all(g, clock, [](uint16_t) { return ProbeResult::Ok; });
  CHECK(status_of(g.describe(clock.now()), 9003).slow_start);
  clock.advance(seconds(60));
  CHECK_FALSE(status_of(g.describe(clock.now()), 9003).slow_start);
}

TEST_CASE("target group: a reload keeps registered targets, health and draining",
          "[target_group]") {
  ManualClock clock;
  auto c = config({9001, 9002});
  TargetGroup old(c, clock.now());
  probe_all(old, clock,
            [](uint16_t p) { return p == 9001 ? ProbeResult::Ok : ProbeResult::Failed; });
  REQUIRE(old.register_target(addr(9100), clock.now()).ok());  // through the API
  auto next = config({9001, 9003});                            // 9002 dropped, 9003 added
  clock.advance(seconds(1));
  TargetGroup g(next, clock.now(), &old);
  std::vector<TargetStatus> all = g.describe(clock.now());
  CHECK(all.size() == 4);
  CHECK(status_of(all, 9001).state == TargetState::Healthy);
  CHECK(status_of(all, 9002).state == TargetState::Draining);  // gone from the config
  CHECK(status_of(all, 9100).state == TargetState::Initial);   // API-registered: kept
  CHECK(status_of(all, 9003).state == TargetState::Initial);
  clock.advance(seconds(30));
  g.expire_draining(clock.now());
  CHECK(state(g, 9002, clock) == TargetState::Unused);
}

TEST_CASE("target group set: by name, carried over on reload", "[target_group]") {
  auto first = portico::config::load_string(
      "listeners: [{name: http, address: 127.0.0.1:0}]\n"
      "distributions: [{id: d, origins: [{id: o, custom_origin: {url: \"http://127.0.0.1:1\"}}], "
      "default_cache_behavior: {target_origin_id: o}}]\n"
      "target_groups: [{name: a, targets: [\"127.0.0.1:1\"]}, {name: b}]\n");
  REQUIRE(first.ok());
  ManualClock clock;
  portico::routing::TargetGroupSet set(*first, clock.now());
  REQUIRE(set.all().size() == 2);
  REQUIRE(set.find("a") != nullptr);
  CHECK(set.find("a")->name() == "a");
  CHECK(set.find("nope") == nullptr);
  REQUIRE(set.find("b")->register_target(addr(7), clock.now()).ok());
  portico::routing::TargetGroupSet next(*first, clock.now(), &set);
  CHECK(next.find("b") != set.find("b"));
  CHECK(next.find("b")->describe(clock.now()).size() == 1);  // the API registration survived
}
