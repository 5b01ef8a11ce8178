// Exchange::CacheState: the per-exchange state of the cache path (exchange_cache.cc), allocated
// only for requests under a cache policy. Also the Subscriber that fills on any worker notify:
// on_progress() runs on the filler's thread and only posts a wake to this exchange's worker.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/compression.h"
#include "cache/invalidation_log.h"
#include "cache/key.h"
#include "cache/object.h"
#include "cache/redis_tier.h"
#include "core/block_cache.h"
#include "core/loop.h"
#include "proxy/exchange.h"
#include "proxy/worker.h"

namespace portico::proxy {

inline constexpr uint64_t kToEnd = UINT64_MAX;

// Wall-clock milliseconds (objects' ages are kept in wall time).
inline int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(core::loop_wall().time_since_epoch())
      .count();
}

// Stored-head fields the delivery writes itself (Content-Length, Via, Age, X-Cache, X-Amz-Cf-*).
bool delivery_skips(std::string_view name);

// Per-thread buffer for serialising heads: reused, so no allocation per request once warm.
inline std::string& head_scratch() {
  thread_local std::string scratch;
  scratch.clear();
  return scratch;
}

struct Exchange::CacheState final : cache::Subscriber {
  PORTICO_BLOCK_ALLOCATED
  explicit CacheState(Worker& w) : worker(w) {}
  ~CacheState() {
    if (waiter_id != 0) worker.remove_cache_waiter(waiter_id);
    if (cache::RedisTier* tier = worker.redis()) {
      if (redis_lookup != 0) tier->cancel(redis_lookup);
      if (redis_lock) tier->release_lock(key, false);
    }
  }
  void on_progress() override {
    if (!wake_pending.exchange(true, std::memory_order_acq_rel)) worker.post_cache_wake(waiter_id);
  }

  Worker& worker;
  uint64_t waiter_id = 0;
  std::atomic<bool> wake_pending{false};
  const config::CachePolicy* policy = nullptr;
  cache::Encoding encoding = cache::Encoding::Identity;
  std::string key;
  cache::ForwardRules rules{nullptr, nullptr};

  // Fill side.
  cache::ObjectRef fill;  // this exchange's fill: Pending until the origin's head
  cache::BodyRef fill_body;
  cache::ObjectRef stale;   // the stored variant being revalidated
  cache::ObjectRef joined;  // another exchange's Pending fill this one waits on
  std::unique_ptr<cache::Compressor> compressor;
  std::string scratch;
  uint64_t fill_in = 0;   // body bytes received from the origin
  bool filling = false;   // reading the origin's body into fill_body
  bool overflow = false;  // over max_object_size: our viewer switches to pass-through
  std::string overflow_stash;
  int64_t request_time_ms = 0;

  // Redis tier (cache.redis).
  uint64_t redis_lookup = 0;  // a lookup in flight, cancelled if this state goes first
  bool redis_asked = false;   // Redis is asked at most once per exchange
  bool redis_lock = false;    // this exchange fills the key for the fleet (fleet_lock)
  cache::InvalidationLog::Stamp redis_stamp;  // the invalidation log when the fetch began

  // Delivery side.
  cache::ObjectRef serving;
  struct Segment {
    std::string prefix;
    uint64_t first = 0;
    uint64_t length = kToEnd;
  };
  std::vector<Segment, core::BlockAllocator<Segment>> segments;  // one for a plain hit
  std::string trailer;
  size_t segment = 0;
  uint64_t segment_done = 0;
  bool delivering = false;
  bool chunked = false;
  bool head_only = false;
  cache::Body* body_sub = nullptr;
  cache::Object* object_sub = nullptr;
};

}  // namespace portico::proxy
