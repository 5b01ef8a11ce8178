// The admin API's JSON readers: target registration bodies (ELBv2 RegisterTargets-like) and the
// flat objects of invalidation requests. Small, strict, no DOM; every error is a downstream
// ParseError with a sentence for the caller. Pure functions, any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace portico::proxy {

struct TargetSpec {
  std::string id;
  std::optional<uint16_t> port;
};

// At most this many targets per call: ALB's quota of 1000 targets per target group.
inline constexpr size_t kMaxTargetsPerCall = 1000;

// Parses {"targets": [{"id": "...", "port": N}, ...]}: error on any other shape, an empty list,
// more than kMaxTargetsPerCall targets, a missing id, a key given twice or a port outside 1-65535.
// Ids are not checked here (change_targets does: each must be an IP address).
core::Result<std::vector<TargetSpec>> json_targets(std::string_view json);

// The string array under `key` in a flat object.
core::Result<std::vector<std::string>> json_string_array(std::string_view json,
                                                         std::string_view key);
// The string under `key`, or "" when absent.
core::Result<std::string> json_string(std::string_view json, std::string_view key);

}  // namespace portico::proxy
