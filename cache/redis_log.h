// cache::RedisLog: the fleet's durable invalidation log in Redis and this edge's subscription to
// it. Per distribution, a hash (epoch, gen, floor) and a sorted set of entries by generation;
// appending is one Lua script (bump the generation, add the entry, trim to `keep`, PUBLISH the
// distribution on the channel), so generations are gapless and ordered. Every edge follows the
// log into its InvalidationLog: on each message, on each (re)subscription (what it missed while
// disconnected; the copy is "behind" until then) and on a slow poll, reading the entries above
// what it applied. An epoch that changes (Redis lost the log) starts the edge's copy over. Owns
// its RedisClient; main loop only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cache/invalidation_log.h"
#include "cache/redis_client.h"
#include "core/loop.h"
#include "core/result.h"

namespace portico::cache {

struct RedisLogOptions {
  std::string key_prefix = "portico:";
  std::vector<std::string> distributions;
  std::chrono::milliseconds timeout{1000};  // per log command
  std::chrono::milliseconds poll{1000};     // sync every distribution at least this often
  size_t keep = 10'000;                     // entries kept in Redis per distribution
};

class RedisLog {
 public:
  // `on_applied(distribution, entries)` runs (on this loop) for entries newly applied to `log`,
  // oldest first: the caller sweeps its memory store with them.
  using Applied =
      std::function<void(const std::string&, const std::vector<InvalidationLog::Entry>&)>;

  RedisLog(core::Loop& loop, RedisClientOptions client_options, RedisLogOptions options,
           InvalidationLog& log, RedisClientStats* stats, Applied on_applied);
  ~RedisLog();
  RedisLog(const RedisLog&) = delete;
  RedisLog& operator=(const RedisLog&) = delete;

  // Connects, subscribes, and syncs every distribution (then keeps them synced).
  void start();

  // Appends an invalidation of `paths` (each without '\n') to `distribution`'s log. `cb` runs
  // once: with the new generation after the entry is durable in Redis and applied to this
  // edge's copy, or with the error (nothing appended, or unknown: the caller may retry).
  void append(const std::string& distribution, const std::string& id,
              const std::vector<std::string>& paths,
              std::function<void(core::Result<uint64_t>)> cb);

  // The distributions to follow (after a reload).
  void set_distributions(std::vector<std::string> distributions);

  // True when every distribution was synced at least once.
  bool synced() const;
  RedisClient& client() { return client_; }
  // Syncs completed (for tests and stats).
  uint64_t syncs() const { return syncs_; }

 private:
  struct Follow {
    bool syncing = false;
    bool again = false;
    std::vector<std::function<void()>> after;  // run when the next sync completes
  };
  void sync(const std::string& distribution, std::function<void()> then = nullptr);
  void start_sync(const std::string& distribution, std::vector<std::function<void()>> current);
  bool on_sync(const std::string& distribution, const core::Result<RedisReply>& r);
  void sync_all();

  core::Loop& loop_;
  RedisClient client_;
  RedisLogOptions options_;
  InvalidationLog& log_;
  Applied on_applied_;
  std::string epoch_candidate_;  // used only when the log has no epoch yet
  std::map<std::string, Follow> follows_;
  std::unique_ptr<core::Timer> poll_;
  std::unique_ptr<core::Timer> retry_;
  uint64_t subscriptions_ = 0;
  std::set<std::string> catching_up_;  // after a resubscription, until each has synced
  uint64_t syncs_ = 0;
};

}  // namespace portico::cache
