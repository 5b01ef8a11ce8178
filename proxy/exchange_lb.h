// Per-exchange state of a request served by an Application Load Balancer's rules: a distribution
// origin `load_balancer: NAME` (an in-process hop) or a request on one of the load balancer's own
// listeners. The code is proxy/exchange_lb.cc; the Exchange owns this through a unique_ptr and
// everything runs on its worker's loop. The TargetGroup is held by shared_ptr so an exchange that
// outlives a reload still ends its request on the group it began it on.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "proxy/metrics.h"
#include "proxy/snapshot.h"
#include "routing/target_group.h"

namespace portico::proxy {

struct LbState {
  const config::LoadBalancer* config = nullptr;  // the exchange's snapshot's
  const LoadBalancerEntry* entry = nullptr;      // points into the exchange's snapshot
  bool own_listener = false;                     // no distribution: no CloudFront headers
  uint16_t port = 80;                            // listener port (X-Forwarded-Port, #{port})
  std::shared_ptr<routing::TargetGroup> group;
  routing::TargetRef target;
  bool in_flight = false;             // begin_request called, end_request not yet
  OriginTarget upstream;              // the chosen target's address, with ALB's timeouts
  TargetGroupStats* stats = nullptr;  // this worker's counters of `group`
  std::string set_cookies;            // "Set-Cookie: ...\r\n" lines for the response (stickiness)
  // app_cookie stickiness: the group has it; the request carried the application cookie and a
  // valid AWSALBAPP-0 (a sticky session, honoured or moved to a new target); the chosen target's
  // identity, which AWSALBAPP-0 names when the response (re)issues it.
  bool app_cookie = false;
  bool app_session = false;
  uint64_t identity = 0;
  // ALB-style error reason of a response the load balancer made itself (the access log's
  // x-edge-detailed-result-type); a string literal, null until known.
  const char* error_reason = nullptr;
};

// Error reasons the load balancer logs (docs/behavior.md, "Load balancers").
inline constexpr const char* kReasonTargetConnectionError = "TargetConnectionError";
inline constexpr const char* kReasonTargetConnectionTimeout = "TargetConnectionTimeout";
inline constexpr const char* kReasonTargetResponseTimeout = "TargetResponseTimeout";
inline constexpr const char* kReasonTargetResponseError = "TargetResponseError";
inline constexpr const char* kReasonNoRegisteredTargets = "NoRegisteredTargets";
inline constexpr const char* kReasonXffTooManyAddresses = "XForwardedForTooManyAddresses";

}  // namespace portico::proxy
