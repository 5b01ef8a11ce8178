// Router: the CloudFront half of request routing. Given a listener, a Host and a path it picks the
// distribution (exact alias, then most specific "*.suffix" wildcard, then the listener's default)
// and the cache behavior (first matching path pattern in listed order, else the default behavior).
// Built once per config snapshot; it keeps the Model alive and every pointer it hands out points
// into that Model or into the Router itself. Immutable after construction: worker threads share
// one instance read-only. decide() allocates nothing and does no string compares beyond one hash
// lookup, the wildcard suffix checks and the path patterns.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/model.h"
#include "core/http.h"
#include "routing/path_pattern.h"

namespace portico::routing {

// Longest Host we route on (a DNS name is at most 253 bytes; leave room for a port and brackets).
inline constexpr size_t kMaxHostBytes = 320;

// One (distribution, behavior) pair, precomputed by the Router; decide() returns a pointer to one.
struct Route {
  const config::Distribution* distribution = nullptr;
  const config::CacheBehavior* behavior = nullptr;
  // behavior->target_origin_id resolved in distribution->origins; nullptr when the id is unknown
  // (the loader rejects that, but hand-built models may not).
  const config::Origin* origin = nullptr;
  // Index in distribution->cache_behaviors, or kDefaultBehavior for default_cache_behavior.
  uint32_t behavior_index = 0;
  static constexpr uint32_t kDefaultBehavior = UINT32_MAX;
  bool is_default_behavior() const { return behavior_index == kDefaultBehavior; }
};

class Router {
 public:
  // Precompiles every enabled distribution's aliases and path patterns. `model` must be non-null.
  explicit Router(std::shared_ptr<const config::Model> model);
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Picks the route for a request that arrived on `listener_name` with Host `host` (as received:
  // any case, optional ":port", optional trailing dot) and `path` (percent-encoded, without the
  // query). Returns nullptr when no enabled distribution is attached to the listener (-> NoRoute).
  // A listener name the model does not know gets the distributions attached to every listener.
  const Route* decide(std::string_view listener_name, std::string_view host,
                      std::string_view path) const;

  const config::Model& model() const { return *model_; }
  const std::shared_ptr<const config::Model>& model_ptr() const { return model_; }

 private:
  struct TransparentHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using NameIndex = std::unordered_map<std::string, uint32_t, TransparentHash, std::equal_to<>>;

  struct Wildcard {
    std::string suffix;  // ".example.test" for "*.example.test"
    uint32_t distribution;
  };
  // Distribution choice for one listener; indexes point into distributions_.
  struct ListenerTable {
    NameIndex exact;
    std::vector<Wildcard> wildcards;  // longest suffix first, config order among equals
    uint32_t default_distribution = kNone;
  };
  struct CompiledDistribution {
    const config::Distribution* distribution = nullptr;
    std::vector<PathPattern> patterns;  // parallel to cache_behaviors
    std::vector<Route> routes;          // parallel to cache_behaviors, then the default behavior
  };
  static constexpr uint32_t kNone = UINT32_MAX;

  void build_table(ListenerTable& table, std::string_view listener_name, bool every_only) const;
  uint32_t choose_distribution(const ListenerTable& table, std::string_view host) const;

  std::shared_ptr<const config::Model> model_;
  std::vector<CompiledDistribution> distributions_;  // enabled ones, config order
  std::unordered_map<std::string, ListenerTable, TransparentHash, std::equal_to<>> listeners_;
  ListenerTable unknown_listener_;  // distributions with an empty `listeners` list
};

// Lower-cases `host`, strips ":port" (keeping "[v6]" brackets) and one trailing dot, writing into
// `buf`. Returns a view into `buf`, or "" when the host is empty or longer than kMaxHostBytes.
std::string_view normalize_host(std::string_view host, std::array<char, kMaxHostBytes>& buf);

// True when `method` is in behavior.allowed_methods; an unset (0) mask means CloudFront's default
// of GET and HEAD.
bool method_allowed(const config::CacheBehavior& behavior, core::Method method);

// The origin named `id` in `distribution`, or nullptr. Linear: for the cold path (config checks,
// origin groups); the hot path uses Route::origin.
const config::Origin* find_origin(const config::Distribution& distribution, std::string_view id);

}  // namespace portico::routing
