// Lru: byte-budgeted least-recently-used eviction policy with the same interface as cache::S3Fifo,
// kept as the baseline the S3-FIFO numbers are compared against (bench/eviction.md). Tracks opaque
// uint64_t item ids and their byte sizes; the store owns the objects and frees one when `evict`
// names it.
//
// Threading: not thread-safe, including touch() (a hit moves the item to the list head), so unlike
// S3Fifo::touch it needs the shard's exclusive lock. No allocation per call beyond amortised growth
// of the slot pool and the id index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cache/s3fifo.h"

namespace portico::cache {

class Lru {
 public:
  explicit Lru(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}
  Lru(const Lru&) = delete;
  Lru& operator=(const Lru&) = delete;

  // Admits `id` with size `bytes` as the most recently used item. Before adding it, evicts least
  // recently used items until it fits, calling evict(id) once for each (never for `id` itself);
  // evict must not call back into this policy. Returns false, evicting nothing, when `bytes` >
  // capacity_bytes(). If `id` is already live, the old entry is dropped first without calling
  // evict (a replacement).
  template <class F>
  bool insert(uint64_t id, uint64_t bytes, F&& evict) {
    return insert_impl(id, bytes, detail::make_evict_fn(evict));
  }

  // Records a hit: moves `id` to the most recently used end. A no-op for unknown ids.
  void touch(uint64_t id) {
    uint32_t s = index_.find(id);
    if (s == detail::kNil || s == list_.head) return;
    list_.unlink(slots_, s);
    list_.push_head(slots_, s);
  }

  // Forgets `id` without calling evict. A no-op for unknown ids.
  void erase(uint64_t id);

  bool contains(uint64_t id) const { return index_.find(id) != detail::kNil; }
  uint64_t used_bytes() const { return list_.bytes; }
  uint64_t capacity_bytes() const { return capacity_; }
  size_t size() const { return list_.count; }

 private:
  struct Slot {
    uint64_t id = 0;
    uint64_t bytes = 0;
    uint32_t prev = detail::kNil;
    uint32_t next = detail::kNil;  // also the free-list link
  };

  bool insert_impl(uint64_t id, uint64_t bytes, detail::EvictFn evict);
  uint32_t alloc_slot();
  void drop(uint32_t s);  // unlink, unindex, free

  uint64_t capacity_;
  detail::SlotList list_;  // head = most recently used
  std::vector<Slot> slots_;
  uint32_t free_head_ = detail::kNil;
  detail::IdIndex index_;
};

}  // namespace portico::cache
