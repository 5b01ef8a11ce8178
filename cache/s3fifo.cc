#include "cache/s3fifo.h"

#include <algorithm>

#include "core/assert.h"

namespace portico::cache {

namespace detail {

void IdIndex::insert(uint64_t id, uint32_t slot) {
  PORTICO_ASSERT(slot != kNil);
  PORTICO_ASSERT(find(id) == kNil);
  // Keep the load factor at or below 3/4 so probe runs stay short.
  if ((size_ + 1) * 4 > buckets_.size() * 3) grow();
  size_t i = hash(id) & mask_;
  while (buckets_[i].slot != kNil) i = (i + 1) & mask_;
  buckets_[i] = Bucket{id, slot};
  ++size_;
}

bool IdIndex::erase(uint64_t id) {
  if (size_ == 0) return false;
  size_t i = hash(id) & mask_;
  for (;;) {
    if (buckets_[i].slot == kNil) return false;
    if (buckets_[i].id == id) break;
    i = (i + 1) & mask_;
  }
  // Backward-shift deletion: pull later members of the probe run into the hole when their home
  // bucket is not cyclically within (hole, j], so no tombstones are needed.
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask_;
    if (buckets_[j].slot == kNil) break;
    size_t home = hash(buckets_[j].id) & mask_;
    bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
    if (!stays) {
      buckets_[i] = buckets_[j];
      i = j;
    }
  }
  buckets_[i] = Bucket{};
  --size_;
  return true;
}

void IdIndex::grow() {
  std::vector<Bucket> old = std::move(buckets_);
  size_t n = old.empty() ? 16 : old.size() * 2;
  buckets_.assign(n, Bucket{});
  mask_ = n - 1;
  for (const Bucket& b : old) {
    if (b.slot == kNil) continue;
    size_t i = hash(b.id) & mask_;
    while (buckets_[i].slot != kNil) i = (i + 1) & mask_;
    buckets_[i] = b;
  }
}

}  // namespace detail

using detail::kNil;

S3Fifo::S3Fifo(uint64_t capacity_bytes, Options options)
    : capacity_(capacity_bytes),
      move_threshold_(std::clamp<uint8_t>(options.move_to_main_threshold, 1, kMaxFreq)) {
  double ratio = std::clamp(options.small_ratio, 0.0, 1.0);
  small_target_ = static_cast<uint64_t>(static_cast<double>(capacity_bytes) * ratio);
  small_target_ = std::min(small_target_, capacity_bytes);
  // The paper sizes the ghost like the main queue; libCacheSim does it in bytes (0.9 x capacity).
  ghost_budget_ = capacity_bytes - small_target_;
}

bool S3Fifo::insert_impl(uint64_t id, uint64_t bytes, detail::EvictFn evict) {
  bool to_main = false;
  if (uint32_t old = index_.find(id); old != kNil) {
    const Slot& e = slots_[old];
    to_main = e.queue == Queue::Ghost || e.queue == Queue::Main || e.freq > 0;
    drop(old);
  }
  if (bytes > capacity_) return false;
  // `id` is not indexed while we evict, so it can never be chosen.
  while (bytes > capacity_ - used_bytes()) evict_one(evict);

  uint32_t s = alloc_slot();
  Slot& e = slots_[s];
  e.id = id;
  e.bytes = bytes;
  e.freq = 0;
  e.queue = to_main ? Queue::Main : Queue::Small;
  list_of(e.queue).push_head(slots_, s);
  index_.insert(id, s);
  return true;
}

void S3Fifo::erase(uint64_t id) {
  uint32_t s = index_.find(id);
  if (s != kNil) drop(s);
}

void S3Fifo::evict_one(detail::EvictFn evict) {
  PORTICO_ASSERT(size() > 0);
  for (;;) {
    // Paper: evict from S when it holds at least its share (or M is empty), else from M.
    if (small_.count > 0 && (small_.bytes >= small_target_ || main_.count == 0)) {
      if (evict_small(evict)) return;
      // Every small item was promoted; the loop now takes one from main.
    } else {
      evict_main(evict);
      return;
    }
  }
}

bool S3Fifo::evict_small(detail::EvictFn evict) {
  while (small_.tail != kNil) {
    uint32_t s = small_.tail;
    small_.unlink(slots_, s);
    Slot& e = slots_[s];
    if (e.freq >= move_threshold_) {
      // Access bits are cleared on the move: main's CLOCK starts from scratch.
      e.freq = 0;
      e.queue = Queue::Main;
      main_.push_head(slots_, s);
      continue;
    }
    uint64_t id = e.id;
    e.freq = 0;
    e.queue = Queue::Ghost;
    ghost_.push_head(slots_, s);
    trim_ghost();
    evict(id);
    return true;
  }
  return false;
}

void S3Fifo::evict_main(detail::EvictFn evict) {
  // 2-bit CLOCK: an item touched since its last pass is reinserted with its counter decremented.
  // Terminates: every reinsertion lowers a counter, so after at most kMaxFreq passes one is zero.
  while (main_.tail != kNil) {
    uint32_t s = main_.tail;
    Slot& e = slots_[s];
    if (e.freq > 0) {
      --e.freq;
      main_.unlink(slots_, s);
      main_.push_head(slots_, s);
      continue;
    }
    uint64_t id = e.id;
    drop(s);
    evict(id);
    return;
  }
}

void S3Fifo::trim_ghost() {
  // Bytes bound the ghost like the main queue; the count bound keeps tiny items from turning the
  // ghost into the biggest structure here.
  size_t max_count = 2 * size() + 1024;
  while (ghost_.tail != kNil && (ghost_.bytes > ghost_budget_ || ghost_.count > max_count)) {
    drop(ghost_.tail);
  }
}

detail::SlotList& S3Fifo::list_of(Queue q) {
  switch (q) {
    case Queue::Small:
      return small_;
    case Queue::Main:
      return main_;
    case Queue::Ghost:
    case Queue::None:
      break;
  }
  PORTICO_ASSERT(q == Queue::Ghost);
  return ghost_;
}

uint32_t S3Fifo::alloc_slot() {
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

void S3Fifo::free_slot(uint32_t s) {
  Slot& e = slots_[s];
  e.queue = Queue::None;
  e.prev = kNil;
  e.next = free_head_;
  free_head_ = s;
}

void S3Fifo::drop(uint32_t s) {
  Slot& e = slots_[s];
  list_of(e.queue).unlink(slots_, s);
  index_.erase(e.id);
  free_slot(s);
}

S3Fifo::Queue S3Fifo::queue_for_test(uint64_t id) const {
  uint32_t s = index_.find(id);
  return s == kNil ? Queue::None : slots_[s].queue;
}

uint8_t S3Fifo::freq_for_test(uint64_t id) const {
  uint32_t s = index_.find(id);
  return s == kNil ? 0 : slots_[s].freq;
}

}  // namespace portico::cache
