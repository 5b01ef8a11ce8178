// BlockCache: a per-thread cache of freed memory blocks in power-of-two size classes (64 B to
// 64 KiB) in front of malloc. libevent allocates and frees an evbuffer chain for nearly every
// read and write (a 4 KiB read reserves an 8 KiB chain, a 1 KiB body a 2 KiB one); glibc's own
// per-thread cache stops at 1 KiB, so each of those went through the arena's bins and
// consolidation (about a tenth of a cache hit's user-space instructions). With the cache they are
// a pop and a push on a thread-local list.
//
// Blocks carry a 16-byte header with their size class, so any thread may free any block (it
// then lands in that thread's cache). Each class keeps at most ~1 MiB (and 1024 blocks) per
// thread; the rest goes back to malloc. A thread's cache is released when the thread exits.
#pragma once

#include <cstddef>
#include <new>

namespace portico::core {

// What the program uses: the cache, or plain malloc/realloc/free in sanitizer builds (so
// AddressSanitizer keeps seeing every allocation and free).
void* block_alloc(size_t n);
void* block_realloc(void* p, size_t n);
void block_free(void* p);

// The cache itself in every build (its unit tests). Blocks from these go back through these.
void* cached_alloc(size_t n);
void* cached_realloc(void* p, size_t n);
void cached_free(void* p);

// A standard allocator over the block cache, for per-request containers (a message's header
// list).
template <class T>
struct BlockAllocator {
  using value_type = T;
  BlockAllocator() noexcept = default;
  template <class U>
  BlockAllocator(const BlockAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)
  T* allocate(size_t n) {
    void* p = block_alloc(n * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) noexcept { block_free(p); }
  template <class U>
  bool operator==(const BlockAllocator<U>&) const noexcept {
    return true;
  }
};

// Routes libevent's allocations through the block cache: its evbuffer chains (1 KiB and up) come
// from the size classes; its smaller, long-lived objects (a connection's bufferevent, evbuffers,
// events) are exact-size, so idle connections cost no more than under malloc. Call once at
// startup, before any other libevent call (libevent requires that). Does nothing in sanitizer
// builds.
void route_libevent_allocations();

}  // namespace portico::core

// Inside a class: its heap instances come from the block cache (objects made and destroyed per
// request: Exchange, a request head).
#define PORTICO_BLOCK_ALLOCATED                \
  static void* operator new(size_t n) {        \
    void* p = ::portico::core::block_alloc(n); \
    if (p == nullptr) throw std::bad_alloc();  \
    return p;                                  \
  }                                            \
  static void operator delete(void* p) noexcept { ::portico::core::block_free(p); }
