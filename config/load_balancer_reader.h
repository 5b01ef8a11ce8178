// Reads the top-level `target_groups:` and `load_balancers:` blocks (ELBv2's target groups,
// Application Load Balancers, their own listeners, listener rules and actions) into
// config::Model, with ELBv2's names, defaults, ranges and quotas. Forward actions resolve target
// group names to pointers into Model::target_groups. Internal to config/*.cc; single-threaded, per
// load.
#pragma once

#include "config/model.h"
#include "config/yaml_reader.h"

namespace portico::config::detail {

// Fills model.target_groups from `f` (absent = none). Called once per load, before
// read_load_balancers; the vector is not resized afterwards.
void read_target_groups(Diagnostics& diag, const Field& f, Model& model);

// Fills model.load_balancers from `f` (absent = none), sorting each one's rules by priority.
// Precondition: read_target_groups and the top-level listeners have been read (listener names and
// addresses must be unique across both).
void read_load_balancers(Diagnostics& diag, const Field& f, Model& model);

}  // namespace portico::config::detail
