// SharedTier: the process's part of the shared Redis tier (`cache.redis`). It follows the fleet's
// invalidation log on the main loop (cache::RedisLog into a cache::InvalidationLog, sweeping the
// local MemoryStore with each new entry), holds the counters every worker's cache::RedisTier adds
// to, and renders them for GET /cache/stats and /metrics. Made by Server when cache.redis is
// configured and outlives the workers; reads the AUTH password from the environment once, here.
// Methods marked "main" run on the main loop; make_worker_tier() on the worker's own thread
// (or before it starts); the rest are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cache/invalidation_log.h"
#include "cache/redis_client.h"
#include "cache/redis_log.h"
#include "cache/redis_tier.h"
#include "cache/store.h"
#include "config/model.h"
#include "core/loop.h"

namespace portico::proxy {

class Server;

class SharedTier {
 public:
  SharedTier(core::Loop& main_loop, const config::Model& model, cache::MemoryStore& store);
  ~SharedTier();
  SharedTier(const SharedTier&) = delete;
  SharedTier& operator=(const SharedTier&) = delete;

  // Main: connects and starts following the invalidation log of every distribution.
  void start();
  // Main, after a reload: follows the new model's distributions. The rest of `cache.redis` is
  // not applied to a running tier: a change is logged as needing a restart (and shown as
  // "restart_needed" in the stats) until a reload brings the startup settings back.
  void set_distributions(const config::Model& model);

  // A worker's tier on `loop` (started). Called once per worker.
  std::unique_ptr<cache::RedisTier> make_worker_tier(core::Loop& loop);

  cache::InvalidationLog& log() { return log_; }
  // Main.
  cache::RedisLog& feed() { return *feed_; }
  const config::CacheRedis& config() const { return config_; }
  const cache::RedisTierStats& stats() const { return stats_; }

  // "closed" when every node of every worker (and the log's connection) is up, "open" when
  // some is down or its breaker open, "connecting" before the first connection.
  const char* breaker_state() const;
  // Main: every node connected and the log synced (an edge serves Redis hits from then on).
  bool ready() const;

  // Main: the "redis" object of GET /cache/stats, and Prometheus lines for /metrics.
  std::string stats_json() const;
  void append_metrics(std::string& out) const;

 private:
  cache::RedisClientOptions client_options() const;

  core::Loop& loop_;
  config::CacheRedis config_;
  std::string password_;
  std::string edge_id_;
  cache::MemoryStore& store_;
  cache::RedisTierStats stats_;
  cache::InvalidationLog log_;
  std::vector<std::string> distributions_;
  std::unique_ptr<cache::RedisLog> feed_;
  bool restart_needed_ = false;  // main
};

// The `cache.redis` settings that differ between a running tier's and a reloaded model's, named
// and comma-separated ("" when none; "removed" when the block is gone).
std::string redis_changes(const config::CacheRedis& running, const config::CacheRedis& loaded);

// Main: the body of GET /cache/stats: {"local": {...}, "redis": {...} or null}.
std::string cache_stats_json(Server& server);

}  // namespace portico::proxy
