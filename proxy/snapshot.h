// Snapshot: one immutable config generation as the workers see it: the Model, its Router, and the
// per-origin facts resolved at load time (socket addresses, pool keys, S3 credentials). Built on
// the main thread by build_snapshot(), then shared read-only by every worker through
// shared_ptr<const Snapshot>; in-flight exchanges keep the snapshot they started with.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "config/model.h"
#include "core/result.h"
#include "origin/credentials.h"
#include "origin/s3_errors.h"
#include "routing/listener_rules.h"
#include "routing/router.h"
#include "routing/stickiness.h"
#include "routing/target_group_set.h"

namespace portico::proxy {

// What an s3_origin's requests need beyond the connection: read once per load or reload.
struct S3Access {
  bool sign = true;                 // origin_access_control: sigv4
  origin::Credentials credentials;  // resolved by build_snapshot (empty when !sign); never logged
  std::string region;
  std::string
      path_prefix;  // put in front of the viewer's path: "/BUCKET" (path style) + origin_path
  origin::MissingObject missing = origin::MissingObject::Forbidden403;
};

struct OriginTarget {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::string pool_key;     // "host:port" as connected; pools are keyed by it
  std::string host_header;  // Host sent to the origin (CloudFront sends the origin's domain)
  std::string stats_key;    // "distribution/origin" for metrics
  // The origin's CloudFront timeouts (custom_origin or s3_origin).
  std::chrono::milliseconds connection_timeout{10'000};
  int connection_attempts = 3;
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds keepalive_timeout{5'000};
  std::optional<S3Access> s3;  // s3_origin only
};

// One load balancer of the snapshot: its compiled rules and the facts its targets share (ALB's
// timeouts; stats_key "lb/NAME" for requests that arrive on its own listeners).
struct LoadBalancerEntry {
  std::unique_ptr<routing::ListenerRules> rules;
  OriginTarget upstream;
};

struct Snapshot {
  std::shared_ptr<const config::Model> model;
  std::unique_ptr<routing::Router> router;
  uint64_t generation = 0;
  // custom, S3 and load_balancer origins (the latter without an address: each request's target
  // gives it; see proxy/exchange_lb.cc)
  std::unordered_map<const config::Origin*, OriginTarget> origins;
  // The process's live target groups (owned by the Server, carried across reloads); never null.
  std::shared_ptr<routing::TargetGroupSet> target_groups;
  std::unordered_map<const config::LoadBalancer*, LoadBalancerEntry> load_balancers;
  // Listener name -> the load balancer that owns it (load_balancers[].listeners).
  std::unordered_map<std::string, const config::LoadBalancer*> load_balancer_listeners;
  // The process-wide AWSALB / AWSALBTG cookie codec (key kept across reloads); never null.
  std::shared_ptr<const routing::StickyCodec> sticky;

  const OriginTarget* target(const config::Origin* o) const {
    auto it = origins.find(o);
    return it == origins.end() ? nullptr : &it->second;
  }
  const LoadBalancerEntry* load_balancer(const config::LoadBalancer* lb) const {
    auto it = load_balancers.find(lb);
    return it == load_balancers.end() ? nullptr : &it->second;
  }
};

using SnapshotPtr = std::shared_ptr<const Snapshot>;

// Resolves every custom and S3 origin's host (getaddrinfo: blocking, so main thread only), reads
// the credentials of S3 origins that sign (environment, ~/.aws/credentials: again at every
// reload), and builds the router and each load balancer's rules. `target_groups` and `sticky`
// are the Server's (null: fresh ones, for tests). Errors name the distribution and origin, never
// a secret.
core::Result<SnapshotPtr> build_snapshot(
    std::shared_ptr<const config::Model> model, uint64_t generation,
    std::shared_ptr<routing::TargetGroupSet> target_groups = nullptr,
    std::shared_ptr<const routing::StickyCodec> sticky = nullptr);

}  // namespace portico::proxy
