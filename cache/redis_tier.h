// cache::RedisTier: one worker's side of the shared Redis tier under the MemoryStore (lookup
// order: local memory -> Redis -> origin). It looks entries up within the per-request budget,
// picking the request's Vary variant (cache/redis_entry.h: the primary key's Vary index, then
// the variant; one round trip when this worker has seen the URL's index before, two at first),
// hides entries a later invalidation covers (cache/invalidation_log.h), streams chunked bodies
// into local objects, writes filled objects back without delaying anyone (chunks first, the
// manifest last), and, with fleet_lock, holds a short per-key (or per-variant) Redis lock so
// that edges missing together make one origin fetch; the holder renews its lock while its fill
// runs, so the others wait for a slow origin instead of fetching too. Owns its RedisClient;
// runs on its worker's loop, and its callbacks never fire after destruction. Every failure is
// a miss and a counter, never an error for a viewer.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cache/invalidation_log.h"
#include "cache/key.h"
#include "cache/object.h"
#include "cache/redis_client.h"
#include "cache/redis_entry.h"
#include "cache/store.h"
#include "core/http.h"
#include "core/loop.h"

namespace portico::cache {

// Counters of every worker's tier (one instance per process).
struct RedisTierStats {
  RedisClientStats client;
  std::atomic<uint64_t> lookups{0};      // lookups sent to Redis
  std::atomic<uint64_t> hits{0};         // served from a Redis entry
  std::atomic<uint64_t> misses{0};       // no usable entry: to the origin
  std::atomic<uint64_t> errors{0};       // timeout, connection or server error: to the origin
  std::atomic<uint64_t> unavailable{0};  // not asked: tier not ready or breaker open
  std::atomic<uint64_t> hidden{0};       // entries a later invalidation covers
  std::atomic<uint64_t> bad_entries{0};  // undecodable, or another key's (hash collision)
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> write_errors{0};
  std::atomic<uint64_t> write_skipped{0};  // too large, expired, or too much write-back queued
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> body_aborts{0};  // a chunk went missing mid-body
  std::atomic<uint64_t> lock_acquired{0};
  std::atomic<uint64_t> lock_waits{0};
  std::atomic<uint64_t> lock_wait_hits{0};  // waited on another edge's fill and got its object
  std::atomic<uint64_t> lock_timeouts{0};
  std::atomic<uint64_t> lock_extensions{0};  // a holder renewed its lock while filling
  std::atomic<uint64_t> lock_lost{0};        // a renewal found the lock gone or another's
  std::atomic<uint64_t> vary_rereads{0};     // lookups that needed a second read for a variant
};

struct RedisTierOptions {
  std::string key_prefix = "portico:";
  std::chrono::milliseconds timeout{5};  // budget of one lookup
  uint64_t max_object_bytes = 8ull << 20;
  bool fleet_lock = false;
  std::chrono::milliseconds lock_timeout{10'000};
  std::string edge_id;  // names this edge's locks
};

class RedisTier {
 public:
  struct Found {
    enum class Kind : uint8_t {
      Hit,          // `entry` is usable (its body inline, or in chunks: stream_body())
      Miss,         // go to the origin (`lock_held`: this edge fills for the fleet)
      Unavailable,  // Redis failed or timed out: go to the origin
    };
    Kind kind = Kind::Unavailable;
    RedisEntry entry;
    bool lock_held = false;
  };
  using LookupCallback = std::function<void(Found)>;

  RedisTier(core::Loop& loop, RedisClientOptions client_options, RedisTierOptions options,
            RedisTierStats& stats, InvalidationLog& log, MemoryStore& store);
  ~RedisTier();
  RedisTier(const RedisTier&) = delete;
  RedisTier& operator=(const RedisTier&) = delete;

  void start();

  // Looks `key` up for a viewer of `distribution` / `path` whose request headers are `request`
  // (copied; they pick the Vary variant, with `encoding` as in cache/vary.h's vary_key()).
  // Returns 0 without calling `cb` when the tier cannot answer now (node down or breaker open,
  // invalidation log not synced); else a lookup id, and `cb` runs once on this loop unless
  // cancel(id) runs first. Within the budget the answer is Hit, Miss or Unavailable; with
  // fleet_lock a Miss may first wait for another edge's fill of the key, as long as that edge
  // keeps its lock (it renews it while filling; a dead holder's lock lapses in lock_timeout).
  uint64_t lookup(std::string key, std::string distribution, std::string path,
                  const core::Headers& request, std::optional<Encoding> encoding,
                  LookupCallback cb);
  // The same for a request without headers.
  uint64_t lookup(std::string key, std::string distribution, std::string path, LookupCallback cb);
  void cancel(uint64_t id);

  // A Hit with chunks: appends them to `body` (sized entry.body_length, already set on the
  // Ready `object`) as they arrive, then finishes it and inserts `object` into the store; on a
  // missing or late chunk, aborts the body and ends the fill. Owned here, so the viewer that
  // asked may leave.
  void stream_body(RedisEntry entry, ObjectRef object, BodyRef body);

  // Writes a filled object (Ready, body complete) stamped with `stamp` to Redis in the
  // background, if it fits max_object_size and has time left: as the key's entry, or as one
  // variant beside the others when its Vary secondary key is not implied by the key. With
  // `lock_held`, the lock is released once the manifest is written (or marked "pass" when the
  // object is not stored).
  void store(const ObjectRef& object, const InvalidationLog::Stamp& stamp, bool lock_held);

  // The fill this edge held the fleet lock for ended without storing: `pass` (not cacheable)
  // sends the other edges to the origin for a few seconds; else they may try to fill.
  void release_lock(std::string_view key, bool pass);

  // Drops the Redis entry of `key`, every variant included (an unsafe method succeeded on its
  // URL, RFC 9111 §4.4).
  void remove(std::string_view key);

  RedisClient& client() { return client_; }
  InvalidationLog& log() { return log_; }
  const RedisTierOptions& options() const { return options_; }

 private:
  struct Lookup;
  struct Write;
  struct BodyFetch;
  struct HeldLock {
    std::string lock;  // the lock's key (the primary key's or a variant's)
    std::string token;
    std::chrono::steady_clock::time_point since;
  };
  enum class ReadResult : uint8_t { Hit, Miss, Error };

  void read(uint64_t id);
  void on_read(uint64_t id, core::Result<RedisReply> r, bool variant_sent);
  void on_variant(uint64_t id, const RedisReply& v);
  void read_done(uint64_t id, ReadResult result, RedisEntry entry = {});
  void set_vary_names(Lookup& l, const std::string& names);
  bool usable(Lookup& l, std::string_view data, const std::string& redis_key,
              const std::string& vary_key, RedisEntry& out);
  void after_miss(uint64_t id);
  void try_lock(uint64_t id);
  void wait_for_fill(uint64_t id);
  void poll(uint64_t id);
  void renew_locks();
  void finish(uint64_t id, Found found);
  void send_chunks(uint64_t id);
  void write_manifest(uint64_t id);
  void end_write(uint64_t id, bool ok);
  void fetch_chunks(uint64_t id);
  void end_fetch(uint64_t id, bool ok);
  std::chrono::milliseconds write_timeout() const;
  std::chrono::milliseconds renew_interval() const;

  core::Loop& loop_;
  RedisClient client_;
  RedisTierOptions options_;
  RedisTierStats& stats_;
  InvalidationLog& log_;
  MemoryStore& store_;
  uint64_t next_id_ = 1;
  uint64_t pending_write_bytes_ = 0;
  std::unordered_map<uint64_t, std::unique_ptr<Lookup>> lookups_;
  std::unordered_map<uint64_t, std::unique_ptr<Write>> writes_;
  std::unordered_map<uint64_t, std::unique_ptr<BodyFetch>> fetches_;
  std::map<std::string, HeldLock, std::less<>> locks_;  // by cache key: fleet locks we hold
  std::unique_ptr<core::Timer> renew_timer_;
  // Vary names of the indexes this worker has read, by primary key name: a lookup sends the
  // request's variant along with the primary key, so a hit costs one round trip.
  std::unordered_map<std::string, std::string> vary_hints_;
};

}  // namespace portico::cache
