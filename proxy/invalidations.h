// Invalidations: CloudFront's CreateInvalidation / GetInvalidation / ListInvalidations for the
// admin API. Paths are exact ("/index.html") or end in one '*' ("/images/*"); each must start
// with '/'. An invalidation is InProgress until its sweep of the shared MemoryStore has run (on
// the main loop, right after the request is answered), then Completed: the store is shared by
// every worker, so Completed means no worker can serve an invalidated object any more. Main
// thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "cache/store.h"
#include "core/loop.h"
#include "core/result.h"

namespace portico::proxy {

struct Invalidation {
  std::string id;  // "I" + 13 upper-case alphanumerics, like CloudFront's
  std::string distribution;
  std::vector<std::string> paths;
  std::string create_time;  // ISO 8601, UTC
  bool completed = false;
  uint64_t objects_removed = 0;
};

class Invalidations {
 public:
  Invalidations(core::Loop& loop, cache::MemoryStore& store) : loop_(loop), store_(store) {}

  // Parses the JSON body {"paths": [...], "caller_reference"?: "..."} and starts the sweep.
  // A repeated caller_reference for the same distribution returns the earlier invalidation, as
  // CloudFront does. Errors are user-facing messages (400).
  core::Result<const Invalidation*> create(std::string_view distribution, std::string_view body);
  const Invalidation* find(std::string_view distribution, std::string_view id) const;
  std::vector<const Invalidation*> list(std::string_view distribution) const;

  static std::string to_json(const Invalidation& inv);

 private:
  core::Loop& loop_;
  cache::MemoryStore& store_;
  std::deque<Invalidation> done_;  // oldest first; bounded to the last kKeep
  std::vector<std::pair<std::string, std::string>> caller_refs_;  // (dist + ref, id)
};

// Minimal JSON reading for the admin API: the string array under `key` in a flat object.
core::Result<std::vector<std::string>> json_string_array(std::string_view json,
                                                         std::string_view key);
// The string under `key`, or "" when absent.
core::Result<std::string> json_string(std::string_view json, std::string_view key);

}  // namespace portico::proxy
