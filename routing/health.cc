#include "routing/health.h"

namespace portico::routing {

std::string_view target_state_name(TargetState s) {
  switch (s) {
    case TargetState::Initial:
      return "initial";
    case TargetState::Healthy:
      return "healthy";
    case TargetState::Unhealthy:
      return "unhealthy";
    case TargetState::Unused:
      return "unused";
    case TargetState::Draining:
      return "draining";
    case TargetState::Unavailable:
      return "unavailable";
  }
  return "unknown";
}

std::string_view target_reason_code(TargetReason r) {
  switch (r) {
    case TargetReason::None:
      return "";
    case TargetReason::InitialHealthChecking:
      return "Elb.InitialHealthChecking";
    case TargetReason::InternalError:
      return "Elb.InternalError";
    case TargetReason::ResponseCodeMismatch:
      return "Target.ResponseCodeMismatch";
    case TargetReason::Timeout:
      return "Target.Timeout";
    case TargetReason::FailedHealthChecks:
      return "Target.FailedHealthChecks";
    case TargetReason::DeregistrationInProgress:
      return "Target.DeregistrationInProgress";
    case TargetReason::NotRegistered:
      return "Target.NotRegistered";
    case TargetReason::HealthCheckDisabled:
      return "Target.HealthCheckDisabled";
  }
  return "";
}

std::string_view target_reason_description(TargetReason r) {
  switch (r) {
    case TargetReason::None:
      return "";
    case TargetReason::InitialHealthChecking:
      return "Initial health checks in progress";
    case TargetReason::InternalError:
      return "Health checks failed due to an internal error";
    case TargetReason::ResponseCodeMismatch:
      return "Health checks failed with these codes";
    case TargetReason::Timeout:
      return "Request timed out";
    case TargetReason::FailedHealthChecks:
      return "Health checks failed";
    case TargetReason::DeregistrationInProgress:
      return "Target deregistration is in progress";
    case TargetReason::NotRegistered:
      return "Target is not registered to the target group";
    case TargetReason::HealthCheckDisabled:
      return "Health checks are disabled";
  }
  return "";
}

ProbeResult classify_probe(const config::HealthCheck& check, int status, bool timed_out) {
  if (timed_out) return ProbeResult::Timeout;
  if (status <= 0) return ProbeResult::Failed;
  return check.matches(status) ? ProbeResult::Ok : ProbeResult::ResponseCodeMismatch;
}

namespace {

TargetReason failure_reason(ProbeResult r) {
  switch (r) {
    case ProbeResult::ResponseCodeMismatch:
      return TargetReason::ResponseCodeMismatch;
    case ProbeResult::Timeout:
      return TargetReason::Timeout;
    case ProbeResult::Ok:
    case ProbeResult::Failed:
      break;
  }
  return TargetReason::FailedHealthChecks;
}

uint16_t bump(uint16_t n) { return n == UINT16_MAX ? n : static_cast<uint16_t>(n + 1); }

}  // namespace

TargetState advance_health(TargetHealth& h, const config::HealthCheck& check, HealthEvent event,
                           ProbeResult result, int status) {
  const TargetState before = h.state;
  switch (event) {
    case HealthEvent::Registered:
      h = TargetHealth{};
      if (!check.enabled) {
        h.state = TargetState::Unavailable;
        h.reason = TargetReason::HealthCheckDisabled;
      }
      break;
    case HealthEvent::Deregistered:
      if (h.state != TargetState::Unused) {
        h.state = TargetState::Draining;
        h.reason = TargetReason::DeregistrationInProgress;
      }
      break;
    case HealthEvent::DrainingExpired:
      if (h.state == TargetState::Draining) {
        h.state = TargetState::Unused;
        h.reason = TargetReason::NotRegistered;
      }
      break;
    case HealthEvent::Probe:
      if (h.state == TargetState::Draining || h.state == TargetState::Unused ||
          h.state == TargetState::Unavailable) {
        break;
      }
      h.last_status = status;
      if (result == ProbeResult::Ok) {
        h.ok_streak = bump(h.ok_streak);
        h.fail_streak = 0;
        if (h.state == TargetState::Initial ||
            (h.state == TargetState::Unhealthy && h.ok_streak >= check.healthy_threshold)) {
          h.state = TargetState::Healthy;
          h.reason = TargetReason::None;
        }
      } else {
        h.fail_streak = bump(h.fail_streak);
        h.ok_streak = 0;
        if (h.state == TargetState::Unhealthy) {
          h.reason = failure_reason(result);
        } else if (h.fail_streak >= check.unhealthy_threshold) {
          h.state = TargetState::Unhealthy;
          h.reason = failure_reason(result);
        }
      }
      break;
  }
  return before;
}

}  // namespace portico::routing
