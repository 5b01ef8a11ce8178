// cache::MemoryStore: the process-wide in-memory cache shared by every worker. Keys (cache/key.h)
// map to stored variants (one Object per Vary secondary key) plus at most one fill in flight,
// which is how concurrent misses collapse into one origin request. Sharded by key hash, one mutex
// per shard, so workers rarely contend; each object is stored once and handed out by reference.
// Eviction is S3-FIFO per shard (cache/s3fifo.h), scan-resistant, within a byte budget.
// Thread-safe: every method may be called from any thread.
//
// The interface is the one a lower tier (Redis, disk) stacks under: lookup / begin fill /
// complete fill / remove, with objects that carry their own metadata.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/object.h"

namespace portico::cache {

struct StoreStats {
  std::atomic<uint64_t> objects{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> inserts{0};
  std::atomic<uint64_t> evictions{0};
  std::atomic<uint64_t> rejected{0};  // larger than a shard's budget
  std::atomic<uint64_t> invalidated{0};
};

class MemoryStore {
 public:
  enum class Found : uint8_t {
    Stored,  // `object` is a stored variant (fresh or stale: the caller decides)
    Joined,  // `object` is another exchange's fill in flight (Pending or Ready and filling)
    Miss,    // nothing usable; `object` is a new Pending fill the caller must complete or release
  };
  struct Lookup {
    Found found = Found::Miss;
    ObjectRef object;
  };

  MemoryStore(uint64_t memory_bytes, uint64_t max_object_bytes);
  ~MemoryStore();
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  // Finds a stored variant of `key` for which `matches(object)` (the request's Vary secondary key
  // equals the stored one); else joins a fill in flight; else registers a new Pending fill when
  // `begin_fill` (returns Miss with it) or returns Miss with no object. `matches` is called under
  // the shard's lock: it must be cheap and must not call the store.
  template <class Matches>
  Lookup lookup(std::string_view key, Matches&& matches, bool begin_fill,
                std::string_view distribution, std::string_view path);

  // For revalidating a stale variant: joins the fill in flight for `key` (Joined) or registers a
  // new Pending one (Miss).
  Lookup begin_fill(std::string_view key, std::string_view distribution, std::string_view path);
  // The filler's object is Ready and its body complete (or it is a refresh sharing a complete
  // body): it replaces the variant with the same secondary key and stops being in flight.
  // Objects over max_object_size or the shard budget are dropped (and counted).
  void insert(const ObjectRef& object);
  // The fill in flight for object->key() is over without storing (uncacheable, failed, aborted).
  void end_fill(const ObjectRef& object);
  // Removes every variant of `key` (an unsafe method succeeded on it, RFC 9111 §4.4).
  void remove_key(std::string_view key);
  // Removes every object of `distribution` whose path equals `path`, or starts with `path` minus
  // its trailing '*' when it ends in '*' (CloudFront invalidation paths). Returns the count.
  uint64_t invalidate(std::string_view distribution, std::string_view path);

  uint64_t max_object_bytes() const { return max_object_; }
  const StoreStats& stats() const { return stats_; }

 private:
  struct Shard;
  static size_t key_hash(std::string_view key);
  Shard& shard_for(std::string_view key);
  Shard& shard_for_hash(size_t hash);
  // Shard internals shared by lookup<> (header) and the .cc.
  struct Variants;
  Variants* find_variants(Shard& s, std::string_view key, size_t hash);
  void touch(Shard& s, const ObjectRef& o);
  ObjectRef in_flight(Variants* v);
  ObjectRef start_fill(Shard& s, std::string_view key, std::string_view distribution,
                       std::string_view path);
  static const std::vector<ObjectRef>& stored(Variants* v);
  static void lock(Shard& s);
  static void unlock(Shard& s);

  uint64_t max_object_;
  std::vector<std::unique_ptr<Shard>> shards_;
  StoreStats stats_;
};

template <class Matches>
MemoryStore::Lookup MemoryStore::lookup(std::string_view key, Matches&& matches, bool begin_fill,
                                        std::string_view distribution, std::string_view path) {
  const size_t h = key_hash(key);
  Shard& s = shard_for_hash(h);
  lock(s);
  Lookup out;
  Variants* v = find_variants(s, key, h);
  if (v != nullptr) {
    for (const ObjectRef& o : stored(v)) {
      if (matches(*o)) {
        touch(s, o);
        out.found = Found::Stored;
        out.object = o;
        unlock(s);
        return out;
      }
    }
    if (ObjectRef f = in_flight(v)) {
      out.found = Found::Joined;
      out.object = std::move(f);
      unlock(s);
      return out;
    }
  }
  if (begin_fill) out.object = start_fill(s, key, distribution, path);
  out.found = Found::Miss;
  unlock(s);
  return out;
}

}  // namespace portico::cache
