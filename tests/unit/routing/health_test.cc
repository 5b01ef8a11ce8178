// The target health state machine: ALB's states and reason codes, rise/fall thresholds, probe
// classification (timeout, code mismatch, failure), draining and unused, disabled checks.
#include "routing/health.h"

#include <catch2/catch.hpp>

using portico::config::HealthCheck;
using portico::routing::advance_health;
using portico::routing::classify_probe;
using portico::routing::HealthEvent;
using portico::routing::ProbeResult;
using portico::routing::target_reason_code;
using portico::routing::target_state_name;
using portico::routing::TargetHealth;
using portico::routing::TargetReason;
using portico::routing::TargetState;

namespace {

HealthCheck check(int healthy = 5, int unhealthy = 2) {
  HealthCheck c;
  c.healthy_threshold = healthy;
  c.unhealthy_threshold = unhealthy;
  return c;
}

TargetHealth registered(const HealthCheck& c) {
  TargetHealth h;
  advance_health(h, c, HealthEvent::Registered);
  return h;
}

void probe(TargetHealth& h, const HealthCheck& c, ProbeResult r, int status = 0) {
  advance_health(h, c, HealthEvent::Probe, r, status);
}

}  // namespace

TEST_CASE("health: names and reason codes are ELBv2's", "[health]") {
  CHECK(target_state_name(TargetState::Initial) == "initial");
  CHECK(target_state_name(TargetState::Healthy) == "healthy");
  CHECK(target_state_name(TargetState::Unhealthy) == "unhealthy");
  CHECK(target_state_name(TargetState::Draining) == "draining");
  CHECK(target_state_name(TargetState::Unused) == "unused");
  CHECK(target_state_name(TargetState::Unavailable) == "unavailable");
  CHECK(target_reason_code(TargetReason::InitialHealthChecking) == "Elb.InitialHealthChecking");
  CHECK(target_reason_code(TargetReason::ResponseCodeMismatch) == "Target.ResponseCodeMismatch");
  CHECK(target_reason_code(TargetReason::Timeout) == "Target.Timeout");
  CHECK(target_reason_code(TargetReason::FailedHealthChecks) == "Target.FailedHealthChecks");
  CHECK(target_reason_code(TargetReason::DeregistrationInProgress) ==
        "Target.DeregistrationInProgress");
  CHECK(target_reason_code(TargetReason::NotRegistered) == "Target.NotRegistered");
  CHECK(target_reason_code(TargetReason::HealthCheckDisabled) == "Target.HealthCheckDisabled");
  CHECK(target_reason_code(TargetReason::None).empty());
}

TEST_CASE("health: classify_probe uses the matcher", "[health]") {
  HealthCheck c;
  c.matcher_codes = {{200, 204}, {302, 302}};
  CHECK(classify_probe(c, 200, false) == ProbeResult::Ok);
  CHECK(classify_probe(c, 204, false) == ProbeResult::Ok);
  CHECK(classify_probe(c, 302, false) == ProbeResult::Ok);
  CHECK(classify_probe(c, 301, false) == ProbeResult::ResponseCodeMismatch);
  CHECK(classify_probe(c, 503, false) == ProbeResult::ResponseCodeMismatch);
  CHECK(classify_probe(c, 0, false) == ProbeResult::Failed);
  CHECK(classify_probe(c, 200, true) == ProbeResult::Timeout);
}

TEST_CASE("health: initial needs one passing check", "[health]") {
  HealthCheck c = check();
  TargetHealth h = registered(c);
  CHECK(h.state == TargetState::Initial);
  CHECK(h.reason == TargetReason::InitialHealthChecking);
  CHECK(advance_health(h, c, HealthEvent::Probe, ProbeResult::Ok, 200) == TargetState::Initial);
  CHECK(h.state == TargetState::Healthy);
  CHECK(h.reason == TargetReason::None);
  CHECK(h.last_status == 200);
}

TEST_CASE("health: initial fails after unhealthy_threshold failures", "[health]") {
  HealthCheck c = check(5, 3);
  TargetHealth h = registered(c);
  probe(h, c, ProbeResult::Timeout);
  probe(h, c, ProbeResult::Timeout);
  CHECK(h.state == TargetState::Initial);
  probe(h, c, ProbeResult::Timeout);
  CHECK(h.state == TargetState::Unhealthy);
  CHECK(h.reason == TargetReason::Timeout);
}

TEST_CASE("health: fall after unhealthy_threshold consecutive failures", "[health]") {
  HealthCheck c = check(5, 2);
  TargetHealth h = registered(c);
  probe(h, c, ProbeResult::Ok, 200);
  probe(h, c, ProbeResult::ResponseCodeMismatch, 500);
  CHECK(h.state == TargetState::Healthy);  // one failure is not enough
  probe(h, c, ProbeResult::Ok, 200);       // and a success resets the count
  probe(h, c, ProbeResult::ResponseCodeMismatch, 500);
  CHECK(h.state == TargetState::Healthy);
  probe(h, c, ProbeResult::ResponseCodeMismatch, 503);
  CHECK(h.state == TargetState::Unhealthy);
  CHECK(h.reason == TargetReason::ResponseCodeMismatch);
  CHECK(h.last_status == 503);
  probe(h, c, ProbeResult::Failed);  // the reason follows the latest failure
  CHECK(h.reason == TargetReason::FailedHealthChecks);
}

TEST_CASE("health: rise after healthy_threshold consecutive successes", "[health]") {
  HealthCheck c = check(3, 2);
  TargetHealth h = registered(c);
  probe(h, c, ProbeResult::Failed);
  probe(h, c, ProbeResult::Failed);
  REQUIRE(h.state == TargetState::Unhealthy);
  probe(h, c, ProbeResult::Ok, 200);
  probe(h, c, ProbeResult::Ok, 200);
  probe(h, c, ProbeResult::Timeout);  // breaks the streak
  probe(h, c, ProbeResult::Ok, 200);
  probe(h, c, ProbeResult::Ok, 200);
  CHECK(h.state == TargetState::Unhealthy);
  probe(h, c, ProbeResult::Ok, 200);
  CHECK(h.state == TargetState::Healthy);
}

TEST_CASE("health: deregistration drains, then unused; probes are ignored", "[health]") {
  HealthCheck c = check();
  TargetHealth h = registered(c);
  probe(h, c, ProbeResult::Ok, 200);
  CHECK(advance_health(h, c, HealthEvent::Deregistered) == TargetState::Healthy);
  CHECK(h.state == TargetState::Draining);
  CHECK(h.reason == TargetReason::DeregistrationInProgress);
  probe(h, c, ProbeResult::Failed);
  CHECK(h.state == TargetState::Draining);
  advance_health(h, c, HealthEvent::DrainingExpired);
  CHECK(h.state == TargetState::Unused);
  CHECK(h.reason == TargetReason::NotRegistered);
  advance_health(h, c, HealthEvent::Deregistered);  // already gone: stays unused
  CHECK(h.state == TargetState::Unused);
  advance_health(h, c, HealthEvent::Registered);  // registering again starts over
  CHECK(h.state == TargetState::Initial);
  CHECK(h.ok_streak == 0);
}

TEST_CASE("health: disabled checks make targets unavailable", "[health]") {
  HealthCheck c = check();
  c.enabled = false;
  TargetHealth h = registered(c);
  CHECK(h.state == TargetState::Unavailable);
  CHECK(h.reason == TargetReason::HealthCheckDisabled);
  probe(h, c, ProbeResult::Failed);
  CHECK(h.state == TargetState::Unavailable);
  CHECK(portico::routing::routable(h.state));
}
