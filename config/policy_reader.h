// Reads the top-level `cache_policies:`, `origin_request_policies:` and `cache:` blocks into
// config::Model (adding AWS's managed policies after the declared ones), and resolves a cache
// behavior's policy names to pointers into those vectors. Internal to config/*.cc; single-threaded,
// per load.
#pragma once

#include "config/model.h"
#include "config/yaml_reader.h"

namespace portico::config::detail {

// Fills model.cache_policies from `f` (absent = none declared), then appends
// managed_cache_policies(). Called once per load, before any behavior is resolved.
void read_cache_policies(Diagnostics& diag, const Field& f, Model& model);

// Same for model.origin_request_policies and managed_origin_request_policies().
void read_origin_request_policies(Diagnostics& diag, const Field& f, Model& model);

// Reads the `cache:` block (absent = defaults).
void read_cache(Diagnostics& diag, const Field& f, Cache& cache);

// Points b.cache_policy_ref / b.origin_request_policy_ref at the policies b.cache_policy /
// b.origin_request_policy name ("" = none), reporting unknown names at the given fields, and warns
// about combinations CloudFront ignores (compress without a compressing cache policy, an origin
// request policy forwarding Accept-Encoding next to a compressing cache policy). Precondition:
// read_cache_policies and read_origin_request_policies have run, so the pointers stay valid.
void resolve_behavior_policies(Diagnostics& diag, const Model& model, const Field& cache_policy,
                               const Field& origin_request_policy, const Field& compress,
                               CacheBehavior& b);

}  // namespace portico::config::detail
