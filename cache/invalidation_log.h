// cache::InvalidationLog: this edge's copy of the fleet's durable invalidation log, whose
// original lives in the Redis tier (cache/redis_log.h). Per distribution: the log's epoch (a new
// one means Redis lost the log), the highest generation applied, the floor (generations at or
// below it were trimmed from Redis), and the recent entries. A fill is stamped with the state
// applied when it began; a Redis entry is served only when no later invalidation matches its
// path. One per process: the main thread applies syncs, workers stamp and check; thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace portico::cache {

class InvalidationLog {
 public:
  struct Stamp {
    bool known = false;  // false until the distribution's log was synced once
    std::string epoch;
    uint64_t generation = 0;
  };
  struct Entry {
    uint64_t generation = 0;
    std::string id;  // the invalidation's id ("I...")
    std::vector<std::string> paths;
  };

  // `keep`: entries remembered per distribution (older ones count as trimmed).
  explicit InvalidationLog(size_t keep = 10'000) : keep_(keep) {}

  // The state a fill starting now is stamped with.
  Stamp stamp(std::string_view distribution) const;

  // Whether a Redis entry stored for `path` with stamp (epoch, generation) may be served: the
  // log was synced, the epoch is current, no entries it may not have seen were trimmed
  // (generation >= floor), and no applied entry with a higher generation matches `path`.
  bool admits(std::string_view distribution, std::string_view path, std::string_view epoch,
              uint64_t generation) const;

  // Applies a sync read from Redis: its epoch, floor and the entries above what was applied
  // (any order; already-applied generations are skipped). A new epoch starts over from
  // `entries`. Returns the entries applied now, oldest first, for the caller to sweep its
  // memory store with.
  std::vector<Entry> apply(std::string_view distribution, std::string_view epoch, uint64_t floor,
                           std::vector<Entry> entries);

  // The highest generation applied (0: none) and the current epoch ("" before the first sync).
  uint64_t generation(std::string_view distribution) const;
  std::string epoch(std::string_view distribution) const;
  bool synced(std::string_view distribution) const;
  // Until the next apply(): the log may have moved on unseen (the feed was lost; Redis may even
  // have restarted empty, with a new epoch), so synced() is false, stamp() unknown and admits()
  // false. The Redis tier is not used meanwhile: nothing is stored or read under a stale epoch.
  void unsync(std::string_view distribution);

  // An invalidation this edge created and has not yet seen applied from the log: until then
  // admits() refuses every Redis entry whose path it matches (the append to Redis and the feed's
  // sync take a round trip or two; without this, an edge would serve the old object from Redis
  // right after answering the invalidation's POST). settle() records the generation the append
  // got, once durable: entries stored at or after it pass again. The pending entry is dropped
  // when apply() brings its id or a generation at or past it, or when the log's epoch changes
  // after it settled (its generation belonged to the lost log).
  void add_pending(std::string_view distribution, std::string_view id,
                   std::vector<std::string> paths);
  void settle(std::string_view distribution, std::string_view id, uint64_t generation);
  size_t pending(std::string_view distribution) const;

  // Behind: the edge lost the log's feed and got it back, and has not yet applied what it
  // missed. Its memory store's objects are then revalidated rather than served (the feed's
  // owner sets and clears this; any thread reads it).
  void set_behind(bool behind) { behind_.store(behind, std::memory_order_release); }
  bool behind() const { return behind_.load(std::memory_order_acquire); }

  // CloudFront invalidation paths: exact, or a prefix when the pattern ends in '*'.
  static bool path_matches(std::string_view pattern, std::string_view path);

  // Encodes / decodes an entry's member in the Redis sorted set: "<id>\n<path>\n<path>...".
  static std::string encode_paths(std::string_view id, const std::vector<std::string>& paths);
  static Entry decode_paths(uint64_t generation, std::string_view member);

 private:
  struct Dist {
    bool synced = false;
    std::string epoch;
    uint64_t generation = 0;
    uint64_t floor = 0;
    std::deque<Entry> entries;  // ascending generation
  };

  // Outside Dist: a new epoch resets Dist, and an unsettled entry outlives that.
  struct Pending {
    std::string id;
    std::vector<std::string> paths;
    uint64_t generation = 0;  // 0 until settled
  };
  void drop_covered(std::string_view distribution, const Dist& d,
                    const std::vector<Entry>& applied);

  size_t keep_;
  std::atomic<bool> behind_{false};
  mutable std::mutex mu_;
  std::map<std::string, Dist, std::less<>> dists_;
  std::map<std::string, std::vector<Pending>, std::less<>> pending_;
};

}  // namespace portico::cache
