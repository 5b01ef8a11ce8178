#include "routing/balancer.h"

namespace portico::routing {
namespace {

using SlotView = TargetGroup::SlotView;

// Which targets are eligible in this pick.
enum class Tier : uint8_t { Routable, FailOpen };

bool eligible(const SlotView& v, Tier tier) {
  return tier == Tier::Routable ? routable(v.state) && !v.suspect : registered(v.state);
}

// Scales a 64-bit uniform value to [0, bound).
uint64_t scale(uint64_t uniform, uint64_t bound) { return ((uniform >> 32) * bound) >> 32; }

struct Census {
  size_t count = 0;
  uint64_t total_weight = 0;
  bool weighted = false;  // some eligible target ramps in slow start
};

Census census(const TargetGroup& group, TargetGroup::TimePoint now, Tier tier) {
  Census c;
  SlotView v;
  for (size_t i = 0; i < group.slot_limit(); ++i) {
    if (!group.view(i, now, v) || !eligible(v, tier)) continue;
    ++c.count;
    c.total_weight += v.weight;
    c.weighted = c.weighted || v.weight < TargetGroup::kFullWeight;
  }
  return c;
}

PickResult found(size_t i, const SlotView& v, Tier tier) {
  PickResult r;
  r.target = TargetRef{static_cast<uint32_t>(i), v.generation};
  r.identity = v.identity;
  r.fail_open = tier == Tier::FailOpen;
  return r;
}

// The eligible target at cumulative weight `point` (or, unweighted, the point-th one).
PickResult at_point(const TargetGroup& group, TargetGroup::TimePoint now, Tier tier, uint64_t point,
                    bool weighted) {
  SlotView v;
  uint64_t acc = 0;
  PickResult last;
  for (size_t i = 0; i < group.slot_limit(); ++i) {
    if (!group.view(i, now, v) || !eligible(v, tier)) continue;
    acc += weighted ? v.weight : 1;
    last = found(i, v, tier);
    if (point < acc) return last;
  }
  return last;  // the set shrank under us: take the last eligible one
}

PickResult least_outstanding(const TargetGroup& group, TargetGroup::TimePoint now, Tier tier,
                             size_t count, uint64_t sequence) {
  // Minimum of outstanding / weight (compared as cross products); ties go to the first one at or
  // after a rotating start, so equally idle targets take turns instead of the first always
  // winning.
  const size_t limit = group.slot_limit();
  const size_t start = count == 0 ? 0 : static_cast<size_t>(sequence % limit);
  SlotView v;
  PickResult best;
  int64_t best_out = 0;
  uint64_t best_weight = 1;
  for (size_t k = 0; k < limit; ++k) {
    size_t i = (start + k) % limit;
    if (!group.view(i, now, v) || !eligible(v, tier)) continue;
    int64_t out = v.outstanding < 0 ? 0 : v.outstanding;
    if (!best.target.valid() ||
        out * static_cast<int64_t>(best_weight) < best_out * static_cast<int64_t>(v.weight)) {
      best = found(i, v, tier);
      best_out = out;
      best_weight = v.weight;
    }
  }
  return best;
}

}  // namespace

PickResult pick_target(TargetGroup& group, const PickRequest& request) {
  Tier tier = Tier::Routable;
  Census c = census(group, request.now, tier);
  if (c.count == 0) {
    tier = Tier::FailOpen;
    c = census(group, request.now, tier);
    if (c.count == 0) return PickResult{};
  }
  if (request.sticky_identity) {
    SlotView v;
    for (size_t i = 0; i < group.slot_limit(); ++i) {
      if (group.view(i, request.now, v) && v.identity == *request.sticky_identity &&
          eligible(v, tier)) {
        PickResult r = found(i, v, tier);
        r.sticky = true;
        return r;
      }
    }
  }
  switch (group.config().load_balancing_algorithm) {
    case config::LoadBalancingAlgorithm::RoundRobin: {
      uint64_t seq = group.next_sequence();
      if (!c.weighted) return at_point(group, request.now, tier, seq % c.count, false);
      // Golden-ratio (Weyl) sequence: evenly spread points, so each target's share tracks its
      // weight closely even over short runs.
      return at_point(group, request.now, tier, scale(seq * 0x9e3779b97f4a7c15ULL, c.total_weight),
                      true);
    }
    case config::LoadBalancingAlgorithm::WeightedRandom:
      return at_point(group, request.now, tier, scale(request.random, c.total_weight), true);
    case config::LoadBalancingAlgorithm::LeastOutstandingRequests:
      return least_outstanding(group, request.now, tier, c.count, group.next_sequence());
  }
  return PickResult{};
}

size_t pick_target_group(std::span<const WeightedTargetGroup> groups, uint64_t random,
                         std::optional<uint64_t> sticky_identity) {
  uint64_t total = 0;
  for (size_t i = 0; i < groups.size(); ++i) {
    if (sticky_identity && groups[i].identity == *sticky_identity && groups[i].weight > 0) {
      return i;
    }
    total += groups[i].weight;
  }
  if (total == 0) return 0;
  uint64_t point = scale(random, total);
  uint64_t acc = 0;
  for (size_t i = 0; i < groups.size(); ++i) {
    acc += groups[i].weight;
    if (point < acc) return i;
  }
  return groups.size() - 1;
}

}  // namespace portico::routing
