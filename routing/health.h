// The target health state machine of an ALB target group (ALB User Guide, "Health checks for
// your target groups": target states and reason codes). One enum of phases (TargetState), one
// struct of per-target counters (TargetHealth) and one function that advances them
// (advance_health). Pure: no clock, no locks; routing::TargetGroup owns one TargetHealth per
// target and serializes calls. Passive detection (connection failures, 5xx bursts) is not a state
// here: TargetGroup marks such targets *suspect* for one interval, see target_group.h.
//
// Transitions (thresholds from config::HealthCheck):
//   registered                      -> initial   (Elb.InitialHealthChecking)
//                                   -> unavailable (Target.HealthCheckDisabled) when checks are off
//   initial   + 1 probe ok          -> healthy   ("it must pass one health check to be considered
//                                                 healthy")
//   unhealthy + healthy_threshold consecutive ok -> healthy
//   initial/healthy + unhealthy_threshold consecutive failures -> unhealthy, with the reason of
//                                     the last failure (Target.ResponseCodeMismatch,
//                                     Target.Timeout, Target.FailedHealthChecks)
//   any registered state + deregistered -> draining (Target.DeregistrationInProgress)
//   draining + deregistration delay over -> unused (Target.NotRegistered)
// Probe results for draining or unused targets are ignored.
#pragma once

#include <cstdint>
#include <string_view>

#include "config/model.h"

namespace portico::routing {

enum class TargetState : uint8_t { Initial, Healthy, Unhealthy, Unused, Draining, Unavailable };

// ELBv2 TargetHealth.Reason values.
enum class TargetReason : uint8_t {
  None,
  InitialHealthChecking,     // Elb.InitialHealthChecking
  InternalError,             // Elb.InternalError
  ResponseCodeMismatch,      // Target.ResponseCodeMismatch
  Timeout,                   // Target.Timeout
  FailedHealthChecks,        // Target.FailedHealthChecks
  DeregistrationInProgress,  // Target.DeregistrationInProgress
  NotRegistered,             // Target.NotRegistered
  HealthCheckDisabled,       // Target.HealthCheckDisabled
};

// "initial", "healthy", "unhealthy", "unused", "draining", "unavailable" (ELBv2's words).
std::string_view target_state_name(TargetState s);
// "Elb.InitialHealthChecking", ...; "" for None.
std::string_view target_reason_code(TargetReason r);
// ELBv2's description text for a reason ("Initial health checks in progress", ...).
std::string_view target_reason_description(TargetReason r);

// What one active health check found; the prober maps its result with classify_probe().
enum class ProbeResult : uint8_t {
  Ok,                    // a status in the matcher
  ResponseCodeMismatch,  // a response outside the matcher
  Timeout,               // no response within health_check.timeout
  Failed,                // connection refused/reset, invalid response
};

// Maps a completed probe: `status` is the response status (0 when there was none), `timed_out`
// whether the timeout fired first.
ProbeResult classify_probe(const config::HealthCheck& check, int status, bool timed_out);

enum class HealthEvent : uint8_t { Registered, Probe, Deregistered, DrainingExpired };

struct TargetHealth {
  TargetState state = TargetState::Initial;
  TargetReason reason = TargetReason::InitialHealthChecking;
  uint16_t ok_streak = 0;    // consecutive successful probes
  uint16_t fail_streak = 0;  // consecutive failed probes
  int last_status = 0;       // status of the last probe response (0 = none)
};

// Applies `event` (with `result` and `status` for Probe) and returns the previous state; the new
// one is in h.state.
TargetState advance_health(TargetHealth& h, const config::HealthCheck& check, HealthEvent event,
                           ProbeResult result = ProbeResult::Ok, int status = 0);

// True for the states that take new requests when at least one target is healthy.
inline bool routable(TargetState s) {
  return s == TargetState::Healthy || s == TargetState::Unavailable;
}
// True for registered targets that are not draining (the fail-open set).
inline bool registered(TargetState s) {
  return s == TargetState::Initial || s == TargetState::Healthy || s == TargetState::Unhealthy ||
         s == TargetState::Unavailable;
}

}  // namespace portico::routing
