// cache::RedisEntry: how one stored object lives in the Redis tier, and the names of its keys.
// An entry is a manifest (metadata: cache key, head, freshness timing, Vary secondary key,
// invalidation stamp, body length) with the body inline when it fits in one chunk, else in
// chunk keys named after a per-write id. Writers store the chunks first and the manifest last,
// so a reader never sees a partial object: a manifest only ever names chunks that were written
// in full. A response whose Vary secondary key the primary key does not already imply is one
// variant of its URL: the primary key then holds a Vary index (the Vary field names) and each
// variant's manifest lives under a key derived from its secondary key (RedisVaryIndex below).
// Every key of one cache key shares a Redis Cluster hash tag, so they live on one node.
// Pure functions and values; any thread.
#pragma once

#include <cstdint>
#include <optional>
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

// Bound of every decoded Timing value in seconds (2^40 s, some 35,000 years; response_time_ms
// in milliseconds up to 1000 times that): far above anything stored, far below int64_t overflow
// when the hit path works in milliseconds.
inline constexpr int64_t kRedisMaxSeconds = int64_t{1} << 40;

// Binary manifest: "PRE1", then fixed-width little-endian integers and length-prefixed strings.
std::string encode_entry(const RedisEntry& e);
// Rejects anything malformed or truncated (StoreFailed), and timing values that are negative or
// above kRedisMaxSeconds; never reads past `data`.
core::Result<RedisEntry> decode_entry(std::string_view data);

// The Vary index at a primary key: "PRV1", a 16-hex index id, then the Vary field names
// (lower-cased, de-duplicated, in received order, "*" left out, joined by ','). A variant is
// stored under redis_variant_key() as the id of the index it was written under followed by its
// manifest; a reader takes it only when that id is the index's current one, so deleting the
// index (an unsafe method's removal) or replacing it (other names) retires every variant at
// once. The index expires no sooner than any of its variants.
struct RedisVaryIndex {
  std::string id;
  std::string names;
};
inline constexpr std::string_view kRedisVaryIndexMagic = "PRV1";
inline constexpr size_t kRedisVaryIdLength = 16;
// Empty when `data` is not an index (a manifest, or malformed).
std::optional<RedisVaryIndex> decode_vary_index(std::string_view data);
std::string encode_vary_index(const RedisVaryIndex& index);
// The names an index lists for a response with these headers ("" when it has no Vary but "*").
std::string redis_vary_names(const core::Headers& response);

// Key names. `prefix` is cache.redis.key_prefix; every key of one cache key shares the tag.
std::string redis_manifest_key(std::string_view prefix, std::string_view cache_key);
std::string redis_chunk_key(std::string_view manifest_key, std::string_view write_id,
                            uint32_t index);
// The variant whose secondary key (cache/vary.h) is `vary_key`.
std::string redis_variant_key(std::string_view manifest_key, std::string_view vary_key);
// The fleet lock of a primary key or of one variant.
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
