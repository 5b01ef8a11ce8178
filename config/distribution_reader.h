// Reads the `distributions:` list (origins, cache behaviors, aliases) into config::Model and checks
// it against the listeners already read. Internal to config/*.cc; single-threaded, per load.
#pragma once

#include <string>

#include "config/model.h"
#include "config/yaml_reader.h"

namespace portico::config::detail {

// Fills model.distributions from `f`. Precondition: model.listeners is complete. `base_dir` is
// the absolute folder relative directory_origin paths resolve against.
void read_distributions(Diagnostics& diag, const Field& f, const std::string& base_dir,
                        Model& model);

}  // namespace portico::config::detail
