// Invalidations: CloudFront's CreateInvalidation / GetInvalidation / ListInvalidations for the
// admin API. Paths are exact ("/index.html") or end in one '*' ("/images/*"); each must start
// with '/'. The shared MemoryStore (one for every worker) is swept before the POST is answered,
// so no worker serves an invalidated object once the viewer has the answer. The answer says
// InProgress, as CloudFront's does; Completed follows on the main loop right after. With the
// Redis tier (proxy/shared_tier.h) the invalidation is also appended to the fleet's log, and this
// edge refuses Redis entries for its paths until the log brings it back (InvalidationLog's
// pending entries); it is Completed only once that append is durable in Redis (retried with
// backoff while Redis is away): from then on no edge serves the old object from Redis, and every
// edge sweeps its own memory as the log reaches it. Main thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/store.h"
#include "core/loop.h"
#include "core/result.h"

namespace portico::proxy {

class SharedTier;

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
  // `shared`: the Redis tier whose log invalidations go to, or null.
  Invalidations(core::Loop& loop, cache::MemoryStore& store, SharedTier* shared = nullptr)
      : loop_(loop), store_(store), shared_(shared) {}
  ~Invalidations();

  // Parses the JSON body {"paths": [...], "caller_reference"?: "..."} and starts the sweep.
  // A repeated caller_reference for the same distribution returns the earlier invalidation, as
  // CloudFront does. Errors are user-facing messages (400).
  core::Result<const Invalidation*> create(std::string_view distribution, std::string_view body);
  const Invalidation* find(std::string_view distribution, std::string_view id) const;
  std::vector<const Invalidation*> list(std::string_view distribution) const;

  static std::string to_json(const Invalidation& inv);

 private:
  Invalidation* find_mutable(std::string_view distribution, std::string_view id);
  void publish(const std::string& distribution, const std::string& id);

  core::Loop& loop_;
  cache::MemoryStore& store_;
  SharedTier* shared_;
  struct Retry {
    std::unique_ptr<core::Timer> timer;
    std::chrono::milliseconds backoff{100};
  };
  std::map<std::string, Retry> retries_;  // by invalidation id, while Redis refuses the append
  std::deque<Invalidation> done_;         // oldest first; bounded to the last kKeep
  std::vector<std::pair<std::string, std::string>> caller_refs_;  // (dist + ref, id)
};

}  // namespace portico::proxy
