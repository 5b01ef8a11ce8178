#include "routing/target_group_set.h"

namespace portico::routing {

TargetGroupSet::TargetGroupSet(const config::Model& model, TargetGroup::TimePoint now,
                               const TargetGroupSet* previous) {
  groups_.reserve(model.target_groups.size());
  for (const config::TargetGroup& g : model.target_groups) {
    const TargetGroup* old = previous != nullptr ? previous->find(g.name).get() : nullptr;
    groups_.push_back(std::make_shared<TargetGroup>(g, now, old));
    by_name_.emplace(g.name, groups_.size() - 1);
  }
}

const std::shared_ptr<TargetGroup>& TargetGroupSet::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? none_ : groups_[it->second];
}

}  // namespace portico::routing
