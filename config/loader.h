// Loads and validates YAML into config::Model. The only place yaml-cpp is used. Every error names
// file:line:column, the key path (e.g. distributions[0].origins[1].custom_origin.url) and what is
// wrong. Pure function of its input (plus the file system for directory_origin checks); any thread.
#pragma once

#include <string>
#include <string_view>

#include "config/model.h"
#include "core/result.h"

namespace portico::config {

// Reads `path` and validates it. Errors have kind Config; detail is the full message,
// "FILE:LINE:COL: KEY.PATH: what is wrong".
core::Result<Model> load_file(const std::string& path);
// Same for YAML text; `name` is used as the file name in messages and `base_dir` resolves
// relative directory_origin paths.
core::Result<Model> load_string(std::string_view yaml, const std::string& name = "<string>",
                                const std::string& base_dir = ".");

// Parses "10s", "250ms", "5m", "1h", or a bare number of seconds.
core::Result<Duration> parse_duration(std::string_view text);
// Parses "512MiB", "64KiB", "1GB", "100" (bytes).
core::Result<uint64_t> parse_size(std::string_view text);

}  // namespace portico::config
