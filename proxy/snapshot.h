// Snapshot: one immutable config generation as the workers see it: the Model, its Router, and the
// per-origin facts resolved at load time (socket addresses, pool keys). Built on the main thread
// by build_snapshot(), then shared read-only by every worker through shared_ptr<const Snapshot>;
// in-flight exchanges keep the snapshot they started with.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "config/model.h"
#include "core/result.h"
#include "routing/router.h"

namespace portico::proxy {

struct OriginTarget {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::string pool_key;     // "host:port" as connected; pools are keyed by it
  std::string host_header;  // Host sent to the origin (CloudFront sends the origin's domain)
  std::string stats_key;    // "distribution/origin" for metrics
};

struct Snapshot {
  std::shared_ptr<const config::Model> model;
  std::unique_ptr<routing::Router> router;
  uint64_t generation = 0;
  std::unordered_map<const config::Origin*, OriginTarget> origins;  // custom origins only

  const OriginTarget* target(const config::Origin* o) const {
    auto it = origins.find(o);
    return it == origins.end() ? nullptr : &it->second;
  }
};

using SnapshotPtr = std::shared_ptr<const Snapshot>;

// Resolves every custom origin's host (getaddrinfo: blocking, so main thread only) and builds the
// router. Errors name the origin.
core::Result<SnapshotPtr> build_snapshot(std::shared_ptr<const config::Model> model,
                                         uint64_t generation);

}  // namespace portico::proxy
