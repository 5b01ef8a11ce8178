// S3Fifo: byte-budgeted S3-FIFO eviction policy (Yang et al., "FIFO queues are all you need for
// cache eviction", SOSP'23) for the memory store. It tracks opaque uint64_t item ids and their byte
// sizes, never the items themselves: the store owns the objects and frees one when the policy's
// `evict` callback names it. Three queues: a small FIFO (~10% of capacity) that filters one-hit
// items, a main FIFO with 2-bit CLOCK-style reinsertion, and a ghost FIFO of ids recently evicted
// from the small queue (no data; an insert that hits a ghost goes straight to main).
//
// Threading: not thread-safe. The store keeps one policy per shard and calls it under the shard's
// lock. The one exception is touch(): it only reads the index and bumps a 2-bit counter with a
// relaxed atomic store, so concurrent touch() calls (e.g. under a shared/reader lock) are safe with
// each other, but not with insert() or erase(). A lost increment only makes eviction slightly less
// informed. No allocation per call beyond amortised growth of the slot pool and the id index.
//
// detail::IdIndex (also used by cache::Lru) is the open-addressing id -> slot map both policies
// share; it lives here until it earns its own file.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

namespace portico::cache {

namespace detail {

inline constexpr uint32_t kNil = UINT32_MAX;

// Map from item id to a uint32_t slot number: linear probing with backward-shift deletion,
// power-of- two table, load factor <= 3/4. find() is read-only, so it may run concurrently with
// other find()s.
class IdIndex {
 public:
  // Slot for `id`, or kNil.
  uint32_t find(uint64_t id) const {
    if (size_ == 0) return kNil;
    size_t i = hash(id) & mask_;
    for (;;) {
      const Bucket& b = buckets_[i];
      if (b.slot == kNil) return kNil;
      if (b.id == id) return b.slot;
      i = (i + 1) & mask_;
    }
  }
  // Adds `id` -> `slot`. Precondition: `id` is absent and slot != kNil.
  void insert(uint64_t id, uint32_t slot);
  // Removes `id`; returns false when it was absent.
  bool erase(uint64_t id);
  size_t size() const { return size_; }

 private:
  struct Bucket {
    uint64_t id = 0;
    uint32_t slot = kNil;
  };
  // murmur3's 64-bit finaliser: ids may be sequential, or hashes with weak low bits.
  static size_t hash(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return static_cast<size_t>(x);
  }
  void grow();

  std::vector<Bucket> buckets_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Head/tail of a doubly linked list threaded through the `prev`/`next` fields of a slot vector,
// plus the count and byte total of its members. Push at the head, take from the tail.
struct SlotList {
  uint32_t head = kNil;
  uint32_t tail = kNil;
  uint32_t count = 0;
  uint64_t bytes = 0;

  template <class Slot>
  void push_head(std::vector<Slot>& slots, uint32_t s) {
    Slot& e = slots[s];
    e.prev = kNil;
    e.next = head;
    if (head != kNil) slots[head].prev = s;
    head = s;
    if (tail == kNil) tail = s;
    ++count;
    bytes += e.bytes;
  }
  template <class Slot>
  void unlink(std::vector<Slot>& slots, uint32_t s) {
    Slot& e = slots[s];
    if (e.prev != kNil)
      slots[e.prev].next = e.next;
    else
      head = e.next;
    if (e.next != kNil)
      slots[e.next].prev = e.prev;
    else
      tail = e.prev;
    e.prev = e.next = kNil;
    --count;
    bytes -= e.bytes;
  }
};

// The evict callback as a plain function pointer + object, so the policy's logic stays in the .cc.
struct EvictFn {
  void (*call)(void* obj, uint64_t id);
  void* obj;
  void operator()(uint64_t id) const { call(obj, id); }
};

template <class F>
EvictFn make_evict_fn(F& f) {
  return EvictFn{[](void* obj, uint64_t id) { (*static_cast<F*>(obj))(id); },
                 const_cast<void*>(static_cast<const void*>(&f))};
}

}  // namespace detail

class S3Fifo {
 public:
  // Which queue an id is in (for tests and stats).
  enum class Queue : uint8_t { None, Small, Main, Ghost };

  struct Options {
    // Share of capacity_bytes the small (probationary) queue aims for; the paper's 10%.
    double small_ratio = 0.10;
    // An item leaving the small queue moves to main when touched at least this many times since
    // it was inserted (clamped to 1..3; the counter saturates at 3), else it becomes a ghost. The
    // paper's Algorithm 1 and libCacheSim use 2 ("freq > 1"); with 1 a single hit promotes.
    uint8_t move_to_main_threshold = 2;
  };

  // `capacity_bytes` bounds the sum of the sizes of live items. The ghost queue additionally
  // remembers ids whose sizes sum to at most the main queue's share, and at most 2 x size() + 1024
  // of them (no data is kept for them; ~50 bytes of metadata each, like a live item).
  explicit S3Fifo(uint64_t capacity_bytes) : S3Fifo(capacity_bytes, Options{}) {}
  S3Fifo(uint64_t capacity_bytes, Options options);
  S3Fifo(const S3Fifo&) = delete;
  S3Fifo& operator=(const S3Fifo&) = delete;

  // Admits `id` with size `bytes` (which should include the store's per-object overhead). Before
  // adding it, evicts other items until it fits, calling evict(id) once for each (never for `id`
  // itself); evict must not call back into this policy. Returns false, evicting nothing, when
  // `bytes` > capacity_bytes(). A new id goes to the small queue, or straight to main when it is
  // still in the ghost queue. An item bigger than the small queue's share still starts there (it
  // only makes the small queue evict sooner; libCacheSim refuses such items instead). If `id` is
  // already live this is a replacement: the old entry is
  // dropped without calling evict and the new one goes to main when the old one had been touched
  // or was in main (even when the new size is rejected, the old entry is gone).
  template <class F>
  bool insert(uint64_t id, uint64_t bytes, F&& evict) {
    return insert_impl(id, bytes, detail::make_evict_fn(evict));
  }

  // Records a hit on `id`: one index probe and a saturating 2-bit counter bump, no list moves. A
  // no-op for ids that are not live (including ghosts). See the threading note above.
  void touch(uint64_t id) {
    uint32_t s = index_.find(id);
    if (s == detail::kNil || slots_[s].queue == Queue::Ghost) return;
    std::atomic_ref<uint8_t> freq(slots_[s].freq);
    uint8_t f = freq.load(std::memory_order_relaxed);
    if (f < kMaxFreq) freq.store(static_cast<uint8_t>(f + 1), std::memory_order_relaxed);
  }

  // Forgets `id` entirely (live or ghost) without calling evict: invalidation or removal by the
  // store. A no-op for unknown ids.
  void erase(uint64_t id);

  // True when `id` is live (in the small or main queue).
  bool contains(uint64_t id) const {
    uint32_t s = index_.find(id);
    return s != detail::kNil && slots_[s].queue != Queue::Ghost;
  }

  uint64_t used_bytes() const { return small_.bytes + main_.bytes; }
  uint64_t capacity_bytes() const { return capacity_; }
  // Number of live items (ghosts not counted).
  size_t size() const { return small_.count + main_.count; }
  size_t ghost_size() const { return ghost_.count; }

  Queue queue_for_test(uint64_t id) const;
  uint8_t freq_for_test(uint64_t id) const;

 private:
  static constexpr uint8_t kMaxFreq = 3;  // 2-bit counter

  struct Slot {
    uint64_t id = 0;
    uint64_t bytes = 0;
    uint32_t prev = detail::kNil;
    uint32_t next = detail::kNil;  // also the free-list link
    Queue queue = Queue::None;
    uint8_t freq = 0;
  };

  bool insert_impl(uint64_t id, uint64_t bytes, detail::EvictFn evict);
  void evict_one(detail::EvictFn evict);
  bool evict_small(detail::EvictFn evict);
  void evict_main(detail::EvictFn evict);
  void trim_ghost();
  detail::SlotList& list_of(Queue q);
  uint32_t alloc_slot();
  void free_slot(uint32_t s);
  void drop(uint32_t s);  // unlink, unindex, free

  uint64_t capacity_;
  uint64_t small_target_;
  uint64_t ghost_budget_;
  uint8_t move_threshold_;
  detail::SlotList small_;
  detail::SlotList main_;
  detail::SlotList ghost_;
  std::vector<Slot> slots_;
  uint32_t free_head_ = detail::kNil;
  detail::IdIndex index_;
};

}  // namespace portico::cache
