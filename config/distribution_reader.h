// Reads the `distributions:` list (origins, cache behaviors, aliases, custom error responses) into
// config::Model and checks it against the listeners and policies already read. Internal to
// config/*.cc; single-threaded, per load.
#pragma once

#include <string>

#include "config/model.h"
#include "config/yaml_reader.h"

namespace portico::config::detail {

// Fills model.distributions from `f`, pointing each behavior at its policies. Precondition:
// model.listeners, model.cache_policies and model.origin_request_policies are complete (see
// policy_reader.h). `base_dir` is the absolute folder relative directory_origin paths resolve
// against.
void read_distributions(Diagnostics& diag, const Field& f, const std::string& base_dir,
                        Model& model);

}  // namespace portico::config::detail
