// cache::RedisEntry: how one stored object lives in the Redis tier, and the names of its keys.
// An entry is a manifest (metadata: cache key, head, freshness timing, Vary secondary key,
// invalidation stamp, body length) with the body inline when it fits in one chunk, else in
// chunk keys named after a per-write id. Writers store the chunks first and the manifest last,
// so a reader never sees a partial object: a manifest only ever names chunks that were written
// in full. Every key of one object shares a Redis Cluster hash tag, so they live on one node.
// Pure functions and values; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cache/object.h"
#include "core/http.h"
#include "core/result.h"

namespace portico::cache {

// Bodies up to this size go inline in the manifest; larger ones in chunks of this size.
inline constexpr uint32_t kRedisChunkBytes = 256 * 1024;

struct RedisEntry {
  std::string key;  // the full cache key (the key name holds only its hash)
  std::string distribution;
  std::string path;
  // The invalidation log's epoch and generation for the distribution when the fill began
  // (cache/invalidation_log.h): an invalidation logged later hides the entry.
  std::string epoch;
  uint64_t generation = 0;
  core::ResponseHead head;  // status, reason, stored end-to-end fields
  Timing timing;
  std::string vary_key;
  uint64_t body_length = 0;
  uint32_t chunk_size = 0;  // 0: the body is inline
  uint32_t chunks = 0;
  std::string write_id;     // names this write's chunk keys
  std::string inline_body;  // when chunks == 0
};

// Binary manifest: "PRE1", then fixed-width little-endian integers and length-prefixed strings.
std::string encode_entry(const RedisEntry& e);
// Rejects anything malformed or truncated (StoreFailed); never reads past `data`.
core::Result<RedisEntry> decode_entry(std::string_view data);

// Key names. `prefix` is cache.redis.key_prefix; every key of one cache key shares the tag.
std::string redis_manifest_key(std::string_view prefix, std::string_view cache_key);
std::string redis_chunk_key(std::string_view manifest_key, std::string_view write_id,
                            uint32_t index);
std::string redis_lock_key(std::string_view manifest_key);
// The invalidation log of a distribution (a sorted set by generation), its metadata hash
// (epoch, generation, floor), and the channel announcing new entries.
std::string redis_log_key(std::string_view prefix, std::string_view distribution);
std::string redis_log_meta_key(std::string_view prefix, std::string_view distribution);
std::string redis_log_channel(std::string_view prefix);

// How long Redis keeps an entry (PX, ms) at wall time `now_ms`: what remains of its freshness
// lifetime plus the stale windows that could still serve it (stale-while-revalidate,
// stale-if-error; none under must-revalidate), so a stale copy stays for revalidation as long
// as it is useful. <= 0: not worth storing.
int64_t redis_expiry_ms(const Timing& t, int64_t now_ms);

// 64-bit FNV-1a, stable across builds (every edge must name keys alike).
uint64_t redis_key_hash(std::string_view s);

}  // namespace portico::cache
