#include "cache/store.h"

#include <algorithm>
#include <functional>
#include <mutex>
#include <unordered_map>

#include "cache/s3fifo.h"

namespace portico::cache {
namespace {

constexpr size_t kMaxShards = 16;

// A key with its hash, computed once per lookup for both the shard and the shard's map.
struct HashedKey {
  std::string_view key;
  size_t hash;
};
struct KeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  size_t operator()(const HashedKey& k) const { return k.hash; }
};
struct KeyEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
  bool operator()(const HashedKey& a, std::string_view b) const { return a.key == b; }
  bool operator()(std::string_view a, const HashedKey& b) const { return a == b.key; }
};

bool path_matches(std::string_view pattern, std::string_view path) {
  if (pattern.ends_with('*')) return path.starts_with(pattern.substr(0, pattern.size() - 1));
  return path == pattern;
}

}  // namespace

struct MemoryStore::Variants {
  std::vector<ObjectRef> stored;  // newest first
  ObjectRef filling;
};

struct MemoryStore::Shard {
  explicit Shard(uint64_t budget) : eviction(budget) {}
  std::mutex mu;
  std::unordered_map<std::string, Variants, KeyHash, KeyEq> entries;
  std::unordered_map<uint64_t, Object*> by_id;  // stored objects, for eviction callbacks
  S3Fifo eviction;
  uint64_t next_id = 1;
};

MemoryStore::MemoryStore(uint64_t memory_bytes, uint64_t max_object_bytes)
    : max_object_(max_object_bytes) {
  // Each shard evicts within its own share of the budget, and every object must fit in one share
  // twice over: so as many shards as that allows, up to 16.
  uint64_t fit = memory_bytes / std::max<uint64_t>(2 * max_object_bytes, 1);
  size_t n = static_cast<size_t>(std::clamp<uint64_t>(fit, 1, kMaxShards));
  uint64_t per_shard = std::max<uint64_t>(memory_bytes / n, 1);
  for (size_t i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>(per_shard));
}

MemoryStore::~MemoryStore() = default;

size_t MemoryStore::key_hash(std::string_view key) { return KeyHash{}(key); }

MemoryStore::Shard& MemoryStore::shard_for(std::string_view key) {
  return shard_for_hash(key_hash(key));
}

MemoryStore::Shard& MemoryStore::shard_for_hash(size_t hash) {
  return *shards_[hash % shards_.size()];
}

void MemoryStore::lock(Shard& s) { s.mu.lock(); }
void MemoryStore::unlock(Shard& s) { s.mu.unlock(); }

MemoryStore::Variants* MemoryStore::find_variants(Shard& s, std::string_view key, size_t hash) {
  auto it = s.entries.find(HashedKey{key, hash});
  return it == s.entries.end() ? nullptr : &it->second;
}

const std::vector<ObjectRef>& MemoryStore::stored(Variants* v) { return v->stored; }

void MemoryStore::touch(Shard& s, const ObjectRef& o) { s.eviction.touch(o->store_id); }

ObjectRef MemoryStore::in_flight(Variants* v) { return v->filling; }

ObjectRef MemoryStore::start_fill(Shard& s, std::string_view key, std::string_view distribution,
                                  std::string_view path) {
  ObjectRef o(Object::create_pending(std::string(key), distribution, path));
  s.entries[std::string(key)].filling = o;
  return o;
}

MemoryStore::Lookup MemoryStore::begin_fill(std::string_view key, std::string_view distribution,
                                            std::string_view path) {
  const size_t h = key_hash(key);
  Shard& s = shard_for_hash(h);
  std::lock_guard lock(s.mu);
  Lookup out;
  Variants* v = find_variants(s, key, h);
  if (v != nullptr && v->filling) {
    out.found = Found::Joined;
    out.object = v->filling;
    return out;
  }
  out.found = Found::Miss;
  out.object = start_fill(s, key, distribution, path);
  return out;
}

void MemoryStore::insert(const ObjectRef& object) {
  Shard& s = shard_for(object->key());
  std::vector<ObjectRef> evicted;  // released after the lock: destructors may free megabytes
  {
    std::lock_guard lock(s.mu);
    auto it = s.entries.find(object->key());
    if (it != s.entries.end() && it->second.filling == object) it->second.filling = ObjectRef();
    uint64_t charge = object->charge();
    if (object->invalidated() || object->body().available() > max_object_) {
      stats_.rejected.fetch_add(1, std::memory_order_relaxed);
      if (it != s.entries.end() && it->second.stored.empty() && !it->second.filling) {
        s.entries.erase(it);
      }
      return;
    }
    if (it == s.entries.end()) it = s.entries.emplace(object->key(), Variants{}).first;
    // Replace the variant with the same secondary key.
    std::vector<ObjectRef>& vs = it->second.stored;
    for (auto v = vs.begin(); v != vs.end(); ++v) {
      if ((*v)->vary_key() == object->vary_key()) {
        s.eviction.erase((*v)->store_id);
        s.by_id.erase((*v)->store_id);
        stats_.objects.fetch_sub(1, std::memory_order_relaxed);
        stats_.bytes.fetch_sub((*v)->charge(), std::memory_order_relaxed);
        evicted.push_back(std::move(*v));
        vs.erase(v);
        break;
      }
    }
    object->store_id = s.next_id++;
    bool admitted = s.eviction.insert(object->store_id, charge, [&](uint64_t id) {
      auto found = s.by_id.find(id);
      if (found == s.by_id.end()) return;
      Object* victim = found->second;
      s.by_id.erase(found);
      auto e = s.entries.find(victim->key());
      if (e != s.entries.end()) {
        std::vector<ObjectRef>& list = e->second.stored;
        auto pos = std::find_if(list.begin(), list.end(),
                                [&](const ObjectRef& r) { return r.get() == victim; });
        if (pos != list.end()) {
          stats_.objects.fetch_sub(1, std::memory_order_relaxed);
          stats_.bytes.fetch_sub(victim->charge(), std::memory_order_relaxed);
          stats_.evictions.fetch_add(1, std::memory_order_relaxed);
          evicted.push_back(std::move(*pos));
          list.erase(pos);
        }
        if (list.empty() && !e->second.filling) s.entries.erase(e);
      }
    });
    if (!admitted) {
      stats_.rejected.fetch_add(1, std::memory_order_relaxed);
      auto e = s.entries.find(object->key());
      if (e != s.entries.end() && e->second.stored.empty() && !e->second.filling) {
        s.entries.erase(e);
      }
      return;
    }
    // The eviction callback may have erased the entry: look it up again.
    Variants& v = s.entries[object->key()];
    v.stored.insert(v.stored.begin(), object);
    s.by_id.emplace(object->store_id, object.get());
    stats_.objects.fetch_add(1, std::memory_order_relaxed);
    stats_.bytes.fetch_add(charge, std::memory_order_relaxed);
    stats_.inserts.fetch_add(1, std::memory_order_relaxed);
  }
}

void MemoryStore::end_fill(const ObjectRef& object) {
  Shard& s = shard_for(object->key());
  std::lock_guard lock(s.mu);
  auto it = s.entries.find(object->key());
  if (it == s.entries.end() || it->second.filling != object) return;
  it->second.filling = ObjectRef();
  if (it->second.stored.empty()) s.entries.erase(it);
}

void MemoryStore::remove_key(std::string_view key) {
  Shard& s = shard_for(key);
  std::vector<ObjectRef> removed;
  std::lock_guard lock(s.mu);
  auto it = s.entries.find(key);
  if (it == s.entries.end()) return;
  for (ObjectRef& o : it->second.stored) {
    s.eviction.erase(o->store_id);
    s.by_id.erase(o->store_id);
    stats_.objects.fetch_sub(1, std::memory_order_relaxed);
    stats_.bytes.fetch_sub(o->charge(), std::memory_order_relaxed);
    stats_.invalidated.fetch_add(1, std::memory_order_relaxed);
    removed.push_back(std::move(o));
  }
  it->second.stored.clear();
  if (it->second.filling) {
    it->second.filling->mark_invalidated();
  } else {
    s.entries.erase(it);
  }
}

uint64_t MemoryStore::invalidate(std::string_view distribution, std::string_view path) {
  uint64_t count = 0;
  for (auto& sp : shards_) {
    Shard& s = *sp;
    std::vector<ObjectRef> removed;
    std::lock_guard lock(s.mu);
    for (auto it = s.entries.begin(); it != s.entries.end();) {
      Variants& v = it->second;
      for (auto o = v.stored.begin(); o != v.stored.end();) {
        if ((*o)->distribution() == distribution && path_matches(path, (*o)->path())) {
          s.eviction.erase((*o)->store_id);
          s.by_id.erase((*o)->store_id);
          stats_.objects.fetch_sub(1, std::memory_order_relaxed);
          stats_.bytes.fetch_sub((*o)->charge(), std::memory_order_relaxed);
          removed.push_back(std::move(*o));
          o = v.stored.erase(o);
          ++count;
        } else {
          ++o;
        }
      }
      if (v.filling && v.filling->distribution() == distribution &&
          path_matches(path, v.filling->path())) {
        v.filling->mark_invalidated();
      }
      if (v.stored.empty() && !v.filling) {
        it = s.entries.erase(it);
      } else {
        ++it;
      }
    }
  }
  stats_.invalidated.fetch_add(count, std::memory_order_relaxed);
  return count;
}

}  // namespace portico::cache
