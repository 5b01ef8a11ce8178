#include "cache/lru.h"

#include "core/assert.h"

namespace portico::cache {

using detail::kNil;

bool Lru::insert_impl(uint64_t id, uint64_t bytes, detail::EvictFn evict) {
  if (uint32_t old = index_.find(id); old != kNil) drop(old);
  if (bytes > capacity_) return false;
  while (bytes > capacity_ - list_.bytes) {
    PORTICO_ASSERT(list_.tail != kNil);
    uint32_t victim = list_.tail;
    uint64_t victim_id = slots_[victim].id;
    drop(victim);
    evict(victim_id);
  }
  uint32_t s = alloc_slot();
  slots_[s].id = id;
  slots_[s].bytes = bytes;
  list_.push_head(slots_, s);
  index_.insert(id, s);
  return true;
}

void Lru::erase(uint64_t id) {
  uint32_t s = index_.find(id);
  if (s != kNil) drop(s);
}

uint32_t Lru::alloc_slot() {
  if (free_head_ != kNil) {
    uint32_t s = free_head_;
    free_head_ = slots_[s].next;
    slots_[s].next = kNil;
    return s;
  }
  PORTICO_CHECK(slots_.size() < kNil);
  slots_.emplace_back();
  return static_cast<uint32_t>(slots_.size() - 1);
}

void Lru::drop(uint32_t s) {
  list_.unlink(slots_, s);
  index_.erase(slots_[s].id);
  slots_[s].prev = kNil;
  slots_[s].next = free_head_;
  free_head_ = s;
}

}  // namespace portico::cache
