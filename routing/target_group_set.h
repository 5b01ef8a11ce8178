// TargetGroupSet: the live TargetGroups of one config snapshot, by name. Built when a snapshot is
// built; each group is constructed from the previous set's group of the same name, so registered
// targets, health, slow start and draining survive a reload (see TargetGroup's constructor).
// Groups are shared_ptrs: an old snapshot's in-flight exchanges keep their groups alive while the
// new set already serves. Immutable after construction (the groups themselves are thread-safe).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/model.h"
#include "routing/target_group.h"

namespace portico::routing {

class TargetGroupSet {
 public:
  TargetGroupSet(const config::Model& model, TargetGroup::TimePoint now,
                 const TargetGroupSet* previous = nullptr);

  // The group named `name`, or nullptr. One hash lookup; no allocation.
  const std::shared_ptr<TargetGroup>& find(std::string_view name) const;
  // Every group, in config order (for the prober and the admin API).
  const std::vector<std::shared_ptr<TargetGroup>>& all() const { return groups_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::vector<std::shared_ptr<TargetGroup>> groups_;
  std::unordered_map<std::string, size_t, Hash, std::equal_to<>> by_name_;
  std::shared_ptr<TargetGroup> none_;
};

}  // namespace portico::routing
