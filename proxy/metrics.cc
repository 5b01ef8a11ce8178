#include "proxy/metrics.h"

namespace portico::proxy {

void Histogram::observe_us(uint64_t us) {
  double s = static_cast<double>(us) / 1e6;
  size_t i = 0;
  while (i < kLatencyBuckets.size() && s > kLatencyBuckets[i]) ++i;
  buckets[i].add();
  count.add();
  sum_us.add(us);
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
  if (!slot) slot = std::make_unique<TargetGroupStats>();
  return slot.get();
}

}  // namespace portico::proxy
