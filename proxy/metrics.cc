#include "proxy/metrics.h"

#include <algorithm>
#include <vector>

namespace portico::proxy {

namespace {

// Every live TargetGroupStats. /metrics sums them by name; the workers' maps own them.
struct Registry {
  std::mutex mu;
  std::vector<const TargetGroupStats*> all;
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: stats may outlive static destructors
  return *r;
}

}  // namespace

TargetGroupStats::TargetGroupStats(std::string group_name) : name(std::move(group_name)) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.all.push_back(this);
}

TargetGroupStats::~TargetGroupStats() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.all.erase(std::find(r.all.begin(), r.all.end(), this));
}

void for_each_target_group_stats(const std::function<void(const TargetGroupStats&)>& fn) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (const TargetGroupStats* s : r.all) fn(*s);
}

DistributionStats* WorkerStats::distribution(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = distributions[id];
  if (!slot) slot = std::make_unique<DistributionStats>();
  return slot.get();
}

OriginStats* WorkerStats::origin(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = origins[key];
  if (!slot) slot = std::make_unique<OriginStats>();
  return slot.get();
}

TargetGroupStats* WorkerStats::target_group(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = target_groups[name];
  if (!slot) slot = std::make_unique<TargetGroupStats>(name);
  return slot.get();
}

}  // namespace portico::proxy
