// The admin API's target registration, modeled on ELBv2 RegisterTargets / DeregisterTargets /
// DescribeTargetHealth, and the per-target-group lines of /metrics. Bodies are small JSON
// documents: {"targets": [{"id": "10.0.1.5", "port": 8080}, ...]} ("port" defaults to the target
// group's). Main thread (the admin listener's loop); the TargetGroup calls take its mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "proxy/admin_json.h"
#include "proxy/metrics.h"
#include "routing/target_group_set.h"

namespace portico::proxy {

struct AdminAnswer {
  int status = 200;
  std::string body;  // JSON
};

// POST (register) or DELETE (deregister) /target-groups/{name}/targets with `body`.
AdminAnswer change_targets(routing::TargetGroup& group, std::string_view body, bool register_them,
                           routing::TargetGroup::TimePoint now);
// GET /target-groups/{name}/health: {"target_group": ..., "targets": [{"id", "port", "state",
// "reason", "description"}, ...]}.
std::string describe_json(routing::TargetGroup& group, routing::TargetGroup::TimePoint now);

// Counters summed over workers, by target group name.
struct TargetGroupTotals {
  uint64_t requests = 0;
  uint64_t target_5xx = 0;
  uint64_t elb_5xx = 0;
};
// Appends the portico_target_group_* metric families.
void append_target_group_metrics(std::string& out, const routing::TargetGroupSet& set,
                                 const std::map<std::string, TargetGroupTotals>& totals,
                                 routing::TargetGroup::TimePoint now);

}  // namespace portico::proxy
