#include "cache/redis_tier.h"

#include <algorithm>
#include <cstdio>
#include <random>

#include "cache/vary.h"
#include "core/log.h"

namespace portico::cache {
namespace {

using namespace std::chrono_literals;

// How often an edge waiting on another edge's fill looks for the object.
constexpr auto kPollInterval = 5ms;
// How long "pass" (the key's response is not storable) sends the fleet straight to the origin.
constexpr int64_t kPassMs = 5000;
// Chunks outlive their manifest a little, so a reader that got the manifest finds them all.
constexpr int64_t kChunkGraceMs = 60'000;
constexpr size_t kWindow = 4;  // chunk commands in flight per object
// Write-back stops (and counts skips) while this much is queued for Redis.
constexpr uint64_t kMaxPendingWriteBytes = 64ull << 20;

// A holder renews its fleet lock for at most this long; past it the lock lapses (a fill that
// slow is likely stuck, and the other edges fetch for themselves).
constexpr auto kMaxLockHold = std::chrono::milliseconds(5 * 60 * 1000);
// Vary hints remembered per worker (forgotten all at once past this).
constexpr size_t kMaxVaryHints = 16384;

// Compare-and-delete / compare-and-set of a lock we own.
constexpr std::string_view kReleaseScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end "
    "return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end return 0";

// Renews a lock we own: 1, or 0 when it lapsed or another edge holds it now.
constexpr std::string_view kRenewScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

// Stores one Vary variant (KEYS[2]) beside its URL's others: the index at the primary key
// (KEYS[1]) is kept when it lists the same names (its expiry raised to this variant's if
// shorter), else replaced by a new one with id ARGV[2], retiring the variants of the old one.
// The variant is written as the index id + its manifest. Returns the index id.
// ARGV: names, new index id, manifest, expiry (ms).
constexpr std::string_view kWriteVariantScript =
    "local idx = redis.call('GET', KEYS[1]) "
    "local id = ARGV[2] "
    "if idx and string.sub(idx, 1, 4) == 'PRV1' and string.sub(idx, 21) == ARGV[1] then "
    "id = string.sub(idx, 5, 20) "
    "if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then "
    "redis.call('PEXPIRE', KEYS[1], ARGV[4]) end "
    "else redis.call('SET', KEYS[1], 'PRV1' .. id .. ARGV[1], 'PX', ARGV[4]) end "
    "redis.call('SET', KEYS[2], id .. ARGV[3], 'PX', ARGV[4]) "
    "return id";

int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_hex(size_t n) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out += kHex[rng() & 15];
  return out;
}

// Bytes [first, first + n) of a complete body.
std::string body_bytes(const Body& b, uint64_t first, uint64_t n) {
  std::string out;
  out.reserve(static_cast<size_t>(n));
  while (n > 0) {
    std::string_view v = b.peek(first);
    if (v.empty()) break;
    v = v.substr(0, static_cast<size_t>(std::min<uint64_t>(n, v.size())));
    out.append(v);
    first += v.size();
    n -= v.size();
  }
  return out;
}

}  // namespace

struct RedisTier::Lookup {
  std::string key;
  std::string manifest;
  std::string distribution;
  std::string path;
  core::Headers request;
  std::optional<Encoding> encoding;
  LookupCallback cb;
  // The Vary index in use (read, or this worker's hint): its names and id, the request's
  // secondary key under those names, and that variant's key. `names` empty: none known.
  std::string names;
  std::string index_id;
  std::string vary_key;
  std::string variant;
  std::string lock;                                // the fleet lock asked for or waited on
  std::chrono::steady_clock::time_point deadline;  // of the read in progress
  bool polling = false;  // the read in progress is a wait's poll (it reads the lock too)
  RedisReply lock_value;
  bool waiting = false;
  std::chrono::steady_clock::time_point wait_until;
  std::unique_ptr<core::Timer> poll;
};

struct RedisTier::Write {
  ObjectRef object;
  RedisEntry entry;  // manifest fields; the body stays in `object`
  std::string manifest;
  std::string variant;  // a Vary variant's key ("" = the key's one entry)
  std::string names;    // the variant's Vary names, for the index
  int64_t expiry_ms = 0;
  uint64_t size = 0;
  uint32_t next = 0;
  uint32_t acked = 0;
  size_t inflight = 0;
  bool failed = false;
  bool lock_held = false;
};

struct RedisTier::BodyFetch {
  RedisEntry entry;
  std::string manifest;
  ObjectRef object;
  BodyRef body;
  uint32_t next = 0;    // next chunk to request
  uint32_t append = 0;  // next chunk to append
  size_t inflight = 0;
  std::map<uint32_t, std::string> ready;  // arrived out of order
};

RedisTier::RedisTier(core::Loop& loop, RedisClientOptions client_options, RedisTierOptions options,
                     RedisTierStats& stats, InvalidationLog& log, MemoryStore& store)
    : loop_(loop),
      client_(loop, std::move(client_options), &stats.client),
      options_(std::move(options)),
      stats_(stats),
      log_(log),
      store_(store) {
  renew_timer_ = std::make_unique<core::Timer>(loop_, [this] { renew_locks(); });
}

RedisTier::~RedisTier() {
  // Readers of a body still streaming from Redis are cut off, as for an origin failure.
  for (auto& [id, f] : fetches_) {
    f->body->abort();
    store_.end_fill(f->object);
  }
}

void RedisTier::start() { client_.start(); }

std::chrono::milliseconds RedisTier::write_timeout() const {
  return std::max<std::chrono::milliseconds>(options_.timeout * 20, 1000ms);
}

// A third of the lock's life, so one lost or late renewal does not let it lapse.
std::chrono::milliseconds RedisTier::renew_interval() const {
  return std::max<std::chrono::milliseconds>(options_.lock_timeout / 3, 1ms);
}

// ---- lookup ----

uint64_t RedisTier::lookup(std::string key, std::string distribution, std::string path,
                           LookupCallback cb) {
  return lookup(std::move(key), std::move(distribution), std::move(path), core::Headers{},
                std::nullopt, std::move(cb));
}

uint64_t RedisTier::lookup(std::string key, std::string distribution, std::string path,
                           const core::Headers& request, std::optional<Encoding> encoding,
                           LookupCallback cb) {
  std::string manifest = redis_manifest_key(options_.key_prefix, key);
  if (!client_.ready(manifest) || !log_.synced(distribution)) {
    stats_.unavailable.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  uint64_t id = next_id_++;
  auto l = std::make_unique<Lookup>();
  l->key = std::move(key);
  l->manifest = std::move(manifest);
  l->distribution = std::move(distribution);
  l->path = std::move(path);
  l->request = request;
  l->encoding = encoding;
  l->cb = std::move(cb);
  lookups_.emplace(id, std::move(l));
  stats_.lookups.fetch_add(1, std::memory_order_relaxed);
  read(id);
  return id;
}

void RedisTier::cancel(uint64_t id) { lookups_.erase(id); }

void RedisTier::finish(uint64_t id, Found found) {
  auto it = lookups_.find(id);
  if (it == lookups_.end()) return;
  LookupCallback cb = std::move(it->second->cb);
  lookups_.erase(it);
  switch (found.kind) {
    case Found::Kind::Hit:
      stats_.hits.fetch_add(1, std::memory_order_relaxed);
      break;
    case Found::Kind::Miss:
      stats_.misses.fetch_add(1, std::memory_order_relaxed);
      break;
    case Found::Kind::Unavailable:
      stats_.errors.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  cb(std::move(found));
}

void RedisTier::set_vary_names(Lookup& l, const std::string& names) {
  l.names = names;
  l.vary_key.clear();
  l.variant.clear();
  if (names.empty()) return;
  core::Headers vary;
  vary.add("vary", names);
  vary_key(vary, l.request, l.encoding, l.vary_key);
  l.variant = redis_variant_key(l.manifest, l.vary_key);
}

// One read of the key within the budget: the primary key, with the request's variant when this
// worker knows the URL's Vary names, and the fleet lock when polling. All share one hash tag, so
// one MGET does.
void RedisTier::read(uint64_t id) {
  auto it = lookups_.find(id);
  if (it == lookups_.end()) return;
  Lookup& l = *it->second;
  l.deadline = std::chrono::steady_clock::now() + options_.timeout;
  auto hint = vary_hints_.find(l.manifest);
  set_vary_names(l, hint != vary_hints_.end() ? hint->second : std::string());
  RedisArgs args{"MGET", l.manifest};
  bool variant_sent = !l.variant.empty();
  if (variant_sent) args.push_back(l.variant);
  if (l.polling) args.push_back(l.lock);
  client_.command(l.manifest, std::move(args), options_.timeout,
                  [this, id, variant_sent](core::Result<RedisReply> r) {
                    on_read(id, std::move(r), variant_sent);
                  });
}

void RedisTier::on_read(uint64_t id, core::Result<RedisReply> r, bool variant_sent) {
  auto it = lookups_.find(id);
  if (it == lookups_.end()) return;
  Lookup& l = *it->second;
  size_t want = 1 + (variant_sent ? 1 : 0) + (l.polling ? 1 : 0);
  if (!r.ok() || r->type != RedisReply::Type::Array || r->elements.size() != want) {
    read_done(id, ReadResult::Error);
    return;
  }
  if (l.polling) l.lock_value = std::move(r->elements.back());
  const RedisReply& primary = r->elements[0];
  std::optional<RedisVaryIndex> index;
  if (primary.is_string()) index = decode_vary_index(primary.str);
  if (!index) {
    // No variants (any more): a fleet lock, if one is taken next, covers the whole key.
    vary_hints_.erase(l.manifest);
    set_vary_names(l, {});
  }
  if (!primary.is_string()) {
    read_done(id, ReadResult::Miss);
    return;
  }
  if (!index) {
    RedisEntry entry;
    if (!usable(l, primary.str, l.manifest, {}, entry)) {
      read_done(id, ReadResult::Miss);
      return;
    }
    stats_.bytes_read.fetch_add(primary.str.size(), std::memory_order_relaxed);
    read_done(id, ReadResult::Hit, std::move(entry));
    return;
  }
  // The URL varies: its index names the fields that pick the variant.
  if (vary_hints_.size() >= kMaxVaryHints) vary_hints_.clear();
  vary_hints_[l.manifest] = index->names;
  l.index_id = index->id;
  if (variant_sent && index->names == l.names) {
    on_variant(id, r->elements[1]);
    return;
  }
  set_vary_names(l, index->names);
  auto left =
      std::chrono::ceil<std::chrono::milliseconds>(l.deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) {
    read_done(id, ReadResult::Error);
    return;
  }
  stats_.vary_rereads.fetch_add(1, std::memory_order_relaxed);
  client_.command(l.manifest, {"GET", l.variant}, left, [this, id](core::Result<RedisReply> v) {
    if (!lookups_.contains(id)) return;
    if (!v.ok() || v->is_error()) {
      read_done(id, ReadResult::Error);
      return;
    }
    on_variant(id, *v);
  });
}

// A variant counts only when written under the index read now (an older index's variants were
// retired with it) and for this request's secondary key (the name holds only its hash).
void RedisTier::on_variant(uint64_t id, const RedisReply& v) {
  auto it = lookups_.find(id);
  if (it == lookups_.end()) return;
  Lookup& l = *it->second;
  if (!v.is_string() || v.str.size() <= kRedisVaryIdLength ||
      std::string_view(v.str).substr(0, kRedisVaryIdLength) != l.index_id) {
    read_done(id, ReadResult::Miss);
    return;
  }
  RedisEntry entry;
  if (!usable(l, std::string_view(v.str).substr(kRedisVaryIdLength), l.variant, l.vary_key,
              entry)) {
    read_done(id, ReadResult::Miss);
    return;
  }
  stats_.bytes_read.fetch_add(v.str.size(), std::memory_order_relaxed);
  read_done(id, ReadResult::Hit, std::move(entry));
}

void RedisTier::read_done(uint64_t id, ReadResult result, RedisEntry entry) {
  auto it = lookups_.find(id);
  if (it == lookups_.end()) return;
  Lookup& l = *it->second;
  Found f;
  if (result == ReadResult::Hit) {
    if (l.polling) stats_.lock_wait_hits.fetch_add(1, std::memory_order_relaxed);
    f.kind = Found::Kind::Hit;
    f.entry = std::move(entry);
    finish(id, std::move(f));
    return;
  }
  if (!l.polling) {
    if (result == ReadResult::Miss) {
      after_miss(id);
    } else {
      finish(id, std::move(f));  // Unavailable: to the origin
    }
    return;
  }
  // Polling on another edge's fill.
  f.kind = Found::Kind::Miss;
  if (result == ReadResult::Error || (l.lock_value.is_string() && l.lock_value.str == "pass")) {
    finish(id, std::move(f));
    return;
  }
  if (l.lock_value.nil()) {
    try_lock(id);  // the holder finished without storing (this variant), or died
    return;
  }
  wait_for_fill(id);
}

// An entry is usable when it decodes, is this key's (and this variant's: the key names hold
// only hashes), and no invalidation logged after its fill began covers its path. Hidden entries
// are deleted.
bool RedisTier::usable(Lookup& l, std::string_view data, const std::string& redis_key,
                       const std::string& vary_key, RedisEntry& out) {
  core::Result<RedisEntry> e = decode_entry(data);
  if (!e.ok() || e->key != l.key || (!vary_key.empty() && e->vary_key != vary_key)) {
    stats_.bad_entries.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (!log_.admits(e->distribution, e->path, e->epoch, e->generation)) {
    stats_.hidden.fetch_add(1, std::memory_order_relaxed);
    client_.command(redis_key, {"DEL", redis_key}, write_timeout(), nullptr);
    return false;
  }
  out = std::move(e.value());
  return true;
}

void RedisTier::after_miss(uint64_t id) {
  if (!options_.fleet_lock) {
    Found f;
    f.kind = Found::Kind::Miss;
    finish(id, std::move(f));
    return;
  }
  try_lock(id);
}

// The lock covers the variant when the URL's Vary names are known (edges filling other variants
// go on in parallel), else the whole key.
void RedisTier::try_lock(uint64_t id) {
  auto it = lookups_.find(id);
  if (it == lookups_.end()) return;
  Lookup& l = *it->second;
  l.lock = redis_lock_key(l.variant.empty() ? l.manifest : l.variant);
  std::string token = options_.edge_id + ":" + random_hex(8);
  client_.command(
      l.manifest, {"SET", l.lock, token, "NX", "PX", std::to_string(options_.lock_timeout.count())},
      options_.timeout,
      [this, id, token, lock = l.lock, manifest = l.manifest](core::Result<RedisReply> r) {
        auto it2 = lookups_.find(id);
        if (it2 == lookups_.end()) {
          // The asker left while the lock was being taken: give it back.
          if (r.ok() && r->type == RedisReply::Type::Status) {
            client_.command(manifest,
                            {"EVAL", std::string(kReleaseScript), "1", lock, token, "", "0"},
                            write_timeout(), nullptr);
          }
          return;
        }
        Found f;
        f.kind = Found::Kind::Miss;
        if (!r.ok() || r->is_error()) {
          finish(id, std::move(f));  // no lock to be had: fetch without one
          return;
        }
        if (r->type == RedisReply::Type::Status) {
          stats_.lock_acquired.fetch_add(1, std::memory_order_relaxed);
          locks_[it2->second->key] = HeldLock{lock, token, std::chrono::steady_clock::now()};
          if (!renew_timer_->armed()) renew_timer_->arm(renew_interval());
          f.lock_held = true;
          finish(id, std::move(f));
          return;
        }
        wait_for_fill(id);  // nil: another edge holds it
      });
}

void RedisTier::wait_for_fill(uint64_t id) {
  auto it = lookups_.find(id);
  if (it == lookups_.end()) return;
  Lookup& l = *it->second;
  if (!l.waiting) {
    l.waiting = true;
    // The holder renews its lock while it fills, for at most kMaxLockHold; then the lock lapses
    // within lock_timeout. The slack lets a poll see it gone and take over rather than give up
    // just before.
    l.wait_until = std::chrono::steady_clock::now() + kMaxLockHold + options_.lock_timeout + 100ms;
    l.poll = std::make_unique<core::Timer>(loop_, [this, id] { poll(id); });
    stats_.lock_waits.fetch_add(1, std::memory_order_relaxed);
  }
  l.poll->arm(kPollInterval);
}

void RedisTier::poll(uint64_t id) {
  auto it = lookups_.find(id);
  if (it == lookups_.end()) return;
  Lookup& l = *it->second;
  if (std::chrono::steady_clock::now() >= l.wait_until) {
    stats_.lock_timeouts.fetch_add(1, std::memory_order_relaxed);
    Found f;
    f.kind = Found::Kind::Miss;
    finish(id, std::move(f));
    return;
  }
  l.polling = true;
  l.lock_value = RedisReply{};
  read(id);
}

// Every lock this worker holds is renewed (only if still ours) while its fill runs: a fill
// slower than lock_timeout keeps the other edges waiting for its object instead of fetching too.
// release_lock() ends that; a dead edge renews nothing, so its locks lapse in lock_timeout.
void RedisTier::renew_locks() {
  auto now = std::chrono::steady_clock::now();
  for (const auto& [key, held] : locks_) {
    if (now - held.since >= kMaxLockHold) continue;
    client_.command(held.lock,
                    {"EVAL", std::string(kRenewScript), "1", held.lock, held.token,
                     std::to_string(options_.lock_timeout.count())},
                    write_timeout(), [this](core::Result<RedisReply> r) {
                      if (!r.ok() || r->is_error()) return;  // the next round tries again
                      if (r->integer == 1) {
                        stats_.lock_extensions.fetch_add(1, std::memory_order_relaxed);
                      } else {
                        stats_.lock_lost.fetch_add(1, std::memory_order_relaxed);
                      }
                    });
  }
  if (!locks_.empty()) renew_timer_->arm(renew_interval());
}

void RedisTier::release_lock(std::string_view key, bool pass) {
  auto it = locks_.find(key);
  if (it == locks_.end()) return;
  HeldLock held = std::move(it->second);
  locks_.erase(it);
  if (locks_.empty()) renew_timer_->cancel();
  client_.command(held.lock,
                  {"EVAL", std::string(kReleaseScript), "1", held.lock, held.token,
                   pass ? "pass" : "", std::to_string(kPassMs)},
                  write_timeout(), nullptr);
}

// Deleting the primary key retires the variants too: they carry the id of the index deleted.
void RedisTier::remove(std::string_view key) {
  std::string manifest = redis_manifest_key(options_.key_prefix, key);
  vary_hints_.erase(manifest);
  if (!client_.ready(manifest)) return;
  client_.command(manifest, {"DEL", manifest}, write_timeout(), nullptr);
}

// ---- write-back ----

void RedisTier::store(const ObjectRef& object, const InvalidationLog::Stamp& stamp,
                      bool lock_held) {
  const Object& o = *object;
  const Body& body = o.body();
  uint64_t size = body.available();
  int64_t expiry = redis_expiry_ms(o.timing(), wall_now_ms());
  bool fits = size <= options_.max_object_bytes && expiry > 0;
  // A stamp from before the feed was lost (or an epoch since replaced) would be hidden anyway.
  bool current = stamp.known && log_.stamp(o.distribution()).epoch == stamp.epoch;
  if (!current || !fits || body.state() != Body::State::Complete ||
      pending_write_bytes_ + size > kMaxPendingWriteBytes) {
    stats_.write_skipped.fetch_add(1, std::memory_order_relaxed);
    // Not stored in Redis: the other edges fetch it themselves.
    if (lock_held) release_lock(o.key(), stamp.known && !fits);
    return;
  }
  uint64_t id = next_id_++;
  auto w = std::make_unique<Write>();
  w->object = object;
  w->manifest = redis_manifest_key(options_.key_prefix, o.key());
  w->expiry_ms = expiry;
  w->size = size;
  w->lock_held = lock_held;
  RedisEntry& e = w->entry;
  e.key = o.key();
  e.distribution = std::string(o.distribution());
  e.path = std::string(o.path());
  e.epoch = stamp.epoch;
  e.generation = stamp.generation;
  e.head.status = o.head().status;
  e.head.reason = o.head().reason;
  e.head.headers = o.head().headers;
  e.timing = o.timing();
  e.vary_key = o.vary_key();
  // A secondary key the primary key implies (Vary: Accept-Encoding under a policy that
  // normalizes it) needs no variant: the key's one entry serves every request that has the key.
  if (!e.vary_key.empty() && !o.vary_in_key()) {
    w->names = redis_vary_names(e.head.headers);
    if (!w->names.empty()) w->variant = redis_variant_key(w->manifest, e.vary_key);
  }
  e.body_length = size;
  if (size > kRedisChunkBytes) {
    e.chunk_size = kRedisChunkBytes;
    e.chunks = static_cast<uint32_t>((size + kRedisChunkBytes - 1) / kRedisChunkBytes);
    e.write_id = random_hex(12);
  }
  pending_write_bytes_ += size;
  bool chunked = e.chunks > 0;
  writes_.emplace(id, std::move(w));
  if (chunked) {
    send_chunks(id);
  } else {
    write_manifest(id);
  }
}

void RedisTier::send_chunks(uint64_t id) {
  auto it = writes_.find(id);
  if (it == writes_.end()) return;
  Write& w = *it->second;
  while (w.inflight < kWindow && w.next < w.entry.chunks && !w.failed) {
    uint32_t i = w.next++;
    uint64_t first = uint64_t{i} * w.entry.chunk_size;
    uint64_t n = std::min<uint64_t>(w.entry.chunk_size, w.size - first);
    ++w.inflight;
    client_.command(
        w.manifest,
        {"SET", redis_chunk_key(w.manifest, w.entry.write_id, i),
         body_bytes(w.object->body(), first, n), "PX", std::to_string(w.expiry_ms + kChunkGraceMs)},
        write_timeout(), [this, id](core::Result<RedisReply> r) {
          auto it2 = writes_.find(id);
          if (it2 == writes_.end()) return;
          Write& w2 = *it2->second;
          --w2.inflight;
          if (!r.ok() || r->is_error()) w2.failed = true;
          ++w2.acked;
          if (w2.failed) {
            if (w2.inflight == 0) end_write(id, false);
            return;
          }
          if (w2.acked == w2.entry.chunks) {
            write_manifest(id);
            return;
          }
          send_chunks(id);
        });
  }
}

// Last: the manifest makes the object visible, so a partial write never is.
void RedisTier::write_manifest(uint64_t id) {
  auto it = writes_.find(id);
  if (it == writes_.end()) return;
  Write& w = *it->second;
  if (w.entry.chunks == 0) w.entry.inline_body = body_bytes(w.object->body(), 0, w.size);
  std::string encoded = encode_entry(w.entry);
  w.entry.inline_body.clear();
  // The object aged while the chunks were written: recompute what is left.
  int64_t expiry = redis_expiry_ms(w.object->timing(), wall_now_ms());
  if (expiry <= 0) {
    end_write(id, false);
    return;
  }
  auto done = [this, id](core::Result<RedisReply> r) { end_write(id, r.ok() && !r->is_error()); };
  if (w.variant.empty()) {
    client_.command(w.manifest,
                    {"SET", w.manifest, std::move(encoded), "PX", std::to_string(expiry)},
                    write_timeout(), std::move(done));
    return;
  }
  client_.command(w.manifest,
                  {"EVAL", std::string(kWriteVariantScript), "2", w.manifest, w.variant, w.names,
                   random_hex(kRedisVaryIdLength), std::move(encoded), std::to_string(expiry)},
                  write_timeout(), std::move(done));
}

void RedisTier::end_write(uint64_t id, bool ok) {
  auto it = writes_.find(id);
  if (it == writes_.end()) return;
  std::unique_ptr<Write> w = std::move(it->second);
  writes_.erase(it);
  pending_write_bytes_ -= w->size;
  if (ok) {
    stats_.writes.fetch_add(1, std::memory_order_relaxed);
    stats_.bytes_written.fetch_add(w->size, std::memory_order_relaxed);
  } else {
    stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
    PORTICO_DEBUG("redis: write-back of %s failed", w->entry.path.c_str());
  }
  if (w->lock_held) release_lock(w->entry.key, false);
}

// ---- chunked bodies ----

void RedisTier::stream_body(RedisEntry entry, ObjectRef object, BodyRef body) {
  uint64_t id = next_id_++;
  auto f = std::make_unique<BodyFetch>();
  f->manifest = redis_manifest_key(options_.key_prefix, entry.key);
  f->entry = std::move(entry);
  f->object = std::move(object);
  f->body = std::move(body);
  fetches_.emplace(id, std::move(f));
  fetch_chunks(id);
}

void RedisTier::fetch_chunks(uint64_t id) {
  auto it = fetches_.find(id);
  if (it == fetches_.end()) return;
  BodyFetch& f = *it->second;
  while (f.inflight < kWindow && f.next < f.entry.chunks) {
    uint32_t i = f.next++;
    ++f.inflight;
    client_.command(f.manifest, {"GET", redis_chunk_key(f.manifest, f.entry.write_id, i)},
                    write_timeout(), [this, id, i](core::Result<RedisReply> r) {
                      auto it2 = fetches_.find(id);
                      if (it2 == fetches_.end()) return;
                      BodyFetch& f2 = *it2->second;
                      --f2.inflight;
                      uint64_t first = uint64_t{i} * f2.entry.chunk_size;
                      uint64_t want =
                          std::min<uint64_t>(f2.entry.chunk_size, f2.entry.body_length - first);
                      if (!r.ok() || !r->is_string() || r->str.size() != want) {
                        end_fetch(id, false);
                        return;
                      }
                      stats_.bytes_read.fetch_add(want, std::memory_order_relaxed);
                      f2.ready.emplace(i, std::move(r->str));
                      bool grew = false;
                      for (auto n = f2.ready.find(f2.append); n != f2.ready.end();
                           n = f2.ready.find(f2.append)) {
                        f2.body->append(n->second);
                        f2.ready.erase(n);
                        ++f2.append;
                        grew = true;
                      }
                      if (grew) f2.body->notify();
                      if (f2.append == f2.entry.chunks) {
                        end_fetch(id, true);
                        return;
                      }
                      fetch_chunks(id);
                    });
  }
}

void RedisTier::end_fetch(uint64_t id, bool ok) {
  auto it = fetches_.find(id);
  if (it == fetches_.end()) return;
  std::unique_ptr<BodyFetch> f = std::move(it->second);
  fetches_.erase(it);
  if (ok) {
    f->body->finish();
    store_.insert(f->object);
    return;
  }
  stats_.body_aborts.fetch_add(1, std::memory_order_relaxed);
  PORTICO_WARN("redis: a chunk of %s is missing or late; readers are cut off",
               f->entry.path.c_str());
  f->body->abort();
  store_.end_fill(f->object);
}

}  // namespace portico::cache
