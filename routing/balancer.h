// Target choice for ELBv2 target groups and forward actions: round_robin,
// least_outstanding_requests and weighted_random over a TargetGroup's routable targets, with
// slow start weights, fail-open, sticky identities, and the weighted target-group split of
// `forward.target_groups`. Pure functions of the TargetGroup's atomics plus the inputs; no locks,
// no allocation; callable from every worker at once.
//
// Balanced across workers: every worker shares the one TargetGroup of the process, so
// round_robin advances one shared atomic sequence per group (not one per worker) and
// least_outstanding_requests compares the shared per-target in-flight counts that every worker
// maintains through TargetGroup::begin_request / end_request. weighted_random and the weighted
// target-group split draw from the caller's FastRandom (one per worker, seeded differently);
// independent uniform draws need no shared state to keep the split exact in expectation.
//
// Eligible targets: healthy (or unavailable: checks disabled) and not suspect. When there are
// none, every registered, non-draining target is eligible (fail open: "If a target group
// contains only unhealthy registered targets, the load balancer routes requests across its
// unhealthy targets"; Portico treats initial targets the same way so a cold start serves at
// once). No registered target at all -> no target (ALB answers 503).
//
// Slow start: a ramping target's weight grows linearly from 1% to 100% over the window
// (TargetGroup::view); round_robin then walks a low-discrepancy (golden ratio) sequence over the
// cumulative weights, weighted_random draws over them, and least_outstanding_requests compares
// outstanding / weight.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "config/model.h"
#include "routing/target_group.h"

namespace portico::routing {

// splitmix64: a small, fast, statistically sound generator; one per worker.
class FastRandom {
 public:
  explicit FastRandom(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

struct PickRequest {
  TargetGroup::TimePoint now;
  uint64_t random = 0;  // a fresh FastRandom::next() value
  // The identity a valid sticky cookie names (AWSALB / AWSALBAPP-0), if any.
  std::optional<uint64_t> sticky_identity;
};

struct PickResult {
  TargetRef target;        // !valid(): the group has no registered target (-> 503)
  uint64_t identity = 0;   // the target's sticky identity, for the cookie to (re)issue
  bool sticky = false;     // the sticky identity was honoured
  bool fail_open = false;  // no eligible target: chosen among every registered one
};

// Picks a target of `group` with its load_balancing_algorithm. A sticky identity wins when it
// names an eligible target; otherwise (unknown, deregistered, draining, unhealthy or suspect
// target) a new one is picked and PickResult::sticky is false, so the caller re-issues the
// cookie for the new target.
PickResult pick_target(TargetGroup& group, const PickRequest& request);

// One target group of a weighted forward action.
struct WeightedTargetGroup {
  const config::TargetGroup* group = nullptr;
  uint32_t weight = 0;    // 0-999
  uint64_t identity = 0;  // sticky_group_identity(group->name), for AWSALBTG
};

// Index into `groups` chosen with probability weight / total weight; `sticky_identity` (from a
// valid AWSALBTG cookie) wins when it names a group of non-zero weight. Precondition: some weight
// is non-zero.
size_t pick_target_group(std::span<const WeightedTargetGroup> groups, uint64_t random,
                         std::optional<uint64_t> sticky_identity = std::nullopt);

}  // namespace portico::routing
