#include "cache/redis_log.h"

#include <charconv>
#include <cstdio>
#include <random>

#include "cache/redis_entry.h"
#include "core/log.h"

namespace portico::cache {
namespace {

constexpr size_t kSyncBatch = 1000;
constexpr std::chrono::milliseconds kRetry{100};

// KEYS: meta, log. ARGV: epoch candidate, member, keep, channel, distribution.
// Idempotent: the member names the invalidation (its id and paths), and an append of a member
// already in the log returns the generation it has. The edge retries an append that timed out,
// and Redis may have run the first one after all (a stall longer than the client's timeout): a
// second ZADD would move the member to a new generation and make every edge apply it again,
// dropping objects cached since the first time.
constexpr std::string_view kAppendScript = R"lua(
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1])
local had = redis.call('ZSCORE', KEYS[2], ARGV[2])
if had then return tonumber(had) end
local g = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('ZADD', KEYS[2], g, ARGV[2])
local keep = tonumber(ARGV[3])
local n = redis.call('ZCARD', KEYS[2])
if n > keep then
  local cut = redis.call('ZRANGE', KEYS[2], n - keep - 1, n - keep - 1, 'WITHSCORES')
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - keep - 1)
  redis.call('HSET', KEYS[1], 'floor', cut[2])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return g
)lua";

// KEYS: meta, log. ARGV: epoch candidate, applied generation, our epoch, batch size.
// Returns {epoch, floor, {member, score, ...}}; from generation 0 when the epoch is not ours.
constexpr std::string_view kSyncScript = R"lua(
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1])
local m = redis.call('HMGET', KEYS[1], 'epoch', 'floor')
local after = ARGV[2]
if m[1] ~= ARGV[3] then after = '0' end
local items = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. after, '+inf', 'WITHSCORES',
                         'LIMIT', 0, tonumber(ARGV[4]))
return {m[1], m[2] or '0', items}
)lua";

uint64_t to_u64(std::string_view s) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::string random_epoch() {
  std::mt19937_64 rng{std::random_device{}()};
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(rng()));
  return b;
}

}  // namespace

RedisLog::RedisLog(core::Loop& loop, RedisClientOptions client_options, RedisLogOptions options,
                   InvalidationLog& log, RedisClientStats* stats, Applied on_applied)
    : loop_(loop),
      client_(loop, std::move(client_options), stats),
      options_(std::move(options)),
      log_(log),
      on_applied_(std::move(on_applied)),
      epoch_candidate_(random_epoch()) {
  for (const std::string& d : options_.distributions) follows_[d];
  retry_ = std::make_unique<core::Timer>(loop_, [this] { sync_all(); });
  poll_ = std::make_unique<core::Timer>(loop_, [this] {
    sync_all();
    poll_->arm(options_.poll);
  });
}

RedisLog::~RedisLog() = default;

void RedisLog::start() {
  client_.start();
  client_.subscribe(
      redis_log_channel(options_.key_prefix),
      [this](std::string_view distribution) {
        std::string d(distribution);
        if (follows_.contains(d)) sync(d);
      },
      // (Re)subscribed: whatever was published while we were away is in the log. After a
      // loss, local memory is not served until it is applied (InvalidationLog::behind()).
      [this] {
        if (++subscriptions_ > 1) {
          for (const auto& [d, f] : follows_) catching_up_.insert(d);
          if (!catching_up_.empty()) log_.set_behind(true);
        }
        sync_all();
      },
      // Lost: Redis may come back empty (a restart: a new epoch, generations from 0). Until
      // the next sync, entries are neither stamped nor admitted under what we knew.
      [this] {
        for (const auto& [d, f] : follows_) log_.unsync(d);
      });
  poll_->arm(options_.poll);
}

void RedisLog::set_distributions(std::vector<std::string> distributions) {
  std::map<std::string, Follow> next;
  for (std::string& d : distributions) {
    auto it = follows_.find(d);
    next[d] = it != follows_.end() ? std::move(it->second) : Follow{};
  }
  follows_.swap(next);
  sync_all();
}

bool RedisLog::synced() const {
  for (const auto& [d, f] : follows_) {
    if (!log_.synced(d)) return false;
  }
  return true;
}

void RedisLog::sync_all() {
  for (const auto& [d, f] : follows_) sync(d);
}

void RedisLog::sync(const std::string& distribution, std::function<void()> then) {
  Follow& f = follows_[distribution];
  if (f.syncing) {
    // The sync in flight may have read the log before what `then` waits for: run another.
    f.again = true;
    if (then) f.after.push_back(std::move(then));
    return;
  }
  std::vector<std::function<void()>> current;
  if (then) current.push_back(std::move(then));
  start_sync(distribution, std::move(current));
}

void RedisLog::start_sync(const std::string& distribution,
                          std::vector<std::function<void()>> current) {
  follows_[distribution].syncing = true;
  std::string meta = redis_log_meta_key(options_.key_prefix, distribution);
  std::string key = redis_log_key(options_.key_prefix, distribution);
  client_.command(
      meta,
      {"EVAL", std::string(kSyncScript), "2", meta, key, epoch_candidate_,
       std::to_string(log_.generation(distribution)), log_.epoch(distribution),
       std::to_string(kSyncBatch)},
      options_.timeout,
      [this, distribution, current = std::move(current)](core::Result<RedisReply> r) mutable {
        bool more = on_sync(distribution, r);
        auto it = follows_.find(distribution);
        if (it != follows_.end()) {
          Follow& f = it->second;
          f.syncing = false;
          if (more) {
            // Not caught up yet: what waits for this sync waits for the next one.
            for (auto& fn : current) f.after.push_back(std::move(fn));
            current.clear();
          }
          if (f.again || more) {
            f.again = false;
            std::vector<std::function<void()>> after = std::move(f.after);
            f.after.clear();
            start_sync(distribution, std::move(after));
          }
        }
        for (auto& fn : current) fn();
      });
}

// Applies one sync's reply; returns true when the log has more entries to read.
bool RedisLog::on_sync(const std::string& distribution, const core::Result<RedisReply>& r) {
  if (!r.ok()) {
    PORTICO_DEBUG("invalidation log: sync of %s failed: %s", distribution.c_str(),
                  r.error().detail.c_str());
    // Not connected yet, or Redis is away: try again soon rather than at the next poll.
    if (!retry_->armed()) retry_->arm(kRetry);
    return false;
  }
  if (r->type != RedisReply::Type::Array || r->elements.size() != 3) {
    PORTICO_WARN("invalidation log: sync of %s: %s", distribution.c_str(),
                 r->is_error() ? r->str.c_str() : "unexpected reply");
    return false;
  }
  const RedisReply& items = r->elements[2];
  std::vector<InvalidationLog::Entry> entries;
  for (size_t i = 0; i + 1 < items.elements.size(); i += 2) {
    entries.push_back(
        InvalidationLog::decode_paths(to_u64(items.elements[i + 1].str), items.elements[i].str));
  }
  bool more = entries.size() == kSyncBatch;
  std::vector<InvalidationLog::Entry> applied =
      log_.apply(distribution, r->elements[0].str, to_u64(r->elements[1].str), std::move(entries));
  ++syncs_;
  if (!applied.empty()) {
    PORTICO_INFO("invalidation log: distribution=%s applied=%zu generation=%llu",
                 distribution.c_str(), applied.size(),
                 static_cast<unsigned long long>(applied.back().generation));
    if (on_applied_) on_applied_(distribution, applied);
  }
  // Swept first: local memory is served again only once nothing invalidated is left in it.
  if (!more && catching_up_.erase(distribution) != 0 && catching_up_.empty()) {
    log_.set_behind(false);
    PORTICO_INFO("invalidation log: caught up after reconnecting");
  }
  return more;
}

void RedisLog::append(const std::string& distribution, const std::string& id,
                      const std::vector<std::string>& paths,
                      std::function<void(core::Result<uint64_t>)> cb) {
  std::string meta = redis_log_meta_key(options_.key_prefix, distribution);
  std::string key = redis_log_key(options_.key_prefix, distribution);
  client_.command(meta,
                  {"EVAL", std::string(kAppendScript), "2", meta, key, epoch_candidate_,
                   InvalidationLog::encode_paths(id, paths), std::to_string(options_.keep),
                   redis_log_channel(options_.key_prefix), distribution},
                  options_.timeout,
                  [this, distribution, cb = std::move(cb)](core::Result<RedisReply> r) {
                    if (!r.ok()) {
                      cb(r.error());
                      return;
                    }
                    if (r->type != RedisReply::Type::Integer) {
                      cb(core::Error::make(core::ErrorKind::StoreFailed, core::Side::Upstream,
                                           "invalidation log: " + r->str, true));
                      return;
                    }
                    uint64_t generation = static_cast<uint64_t>(r->integer);
                    if (!follows_.contains(distribution)) follows_[distribution];
                    sync(distribution, [cb, generation] { cb(generation); });
                  });
}

}  // namespace portico::cache
