#include "core/block_cache.h"

#include <event2/event.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PORTICO_BLOCK_CACHE_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define PORTICO_BLOCK_CACHE_OFF 1
#endif
#endif

namespace portico::core {
namespace {

constexpr unsigned kMinShift = 6;   // 64 B
constexpr unsigned kMaxShift = 16;  // 64 KiB
constexpr unsigned kClasses = kMaxShift - kMinShift + 1;
constexpr uint32_t kLarge = 0xffffffffu;  // above the largest class: plain malloc/free
constexpr size_t kHeader = 16;            // keeps the user pointer 16-byte aligned
constexpr size_t kClassBytes = size_t{256} << 10;
constexpr uint32_t kMaxBlocks = 512;

struct Node {
  Node* next;
};

// Constant-initialized (no TLS guard on access); `exited` makes frees after the thread's cache
// was released (static destructors, late libevent frees) go straight to free().
struct ThreadCache {
  Node* head[kClasses];
  uint32_t count[kClasses];
  bool armed;   // the thread-exit release is registered
  bool exited;  // ... and has run
};
thread_local ThreadCache t_cache{};

void release(ThreadCache& c) {
  for (unsigned k = 0; k < kClasses; ++k) {
    while (c.head[k] != nullptr) {
      Node* n = c.head[k];
      c.head[k] = n->next;
      std::free(reinterpret_cast<char*>(n) - kHeader);
    }
    c.count[k] = 0;
  }
}

struct ThreadExit {
  bool armed = false;
  ~ThreadExit() {
    release(t_cache);
    t_cache.exited = true;
  }
};
thread_local ThreadExit t_exit;

inline uint32_t class_of(size_t n) {
  if (n > (size_t{1} << kMaxShift)) return kLarge;
  unsigned shift = n <= (size_t{1} << kMinShift)
                       ? kMinShift
                       : 64u - static_cast<unsigned>(__builtin_clzll(n - 1));
  return shift - kMinShift;
}

// Before every block: its class (kLarge: a plain malloc of exactly `size` bytes, never cached).
struct alignas(16) BlockHeader {
  uint32_t cls;
  uint32_t unused;
  uint64_t size;
};
static_assert(sizeof(BlockHeader) == kHeader);

inline BlockHeader& header_of(void* p) {
  return *reinterpret_cast<BlockHeader*>(static_cast<char*>(p) - kHeader);
}

inline size_t capacity_of(const BlockHeader& h) {
  return h.cls == kLarge ? h.size : (size_t{1} << (h.cls + kMinShift));
}

inline uint32_t limit_of(uint32_t k) {
  uint32_t by_bytes = static_cast<uint32_t>(kClassBytes >> (k + kMinShift));
  return by_bytes < kMaxBlocks ? by_bytes : kMaxBlocks;
}

void* plain_alloc(size_t n) {
  auto* raw = static_cast<char*>(std::malloc(n + kHeader));
  if (raw == nullptr) return nullptr;
  *reinterpret_cast<BlockHeader*>(raw) = BlockHeader{kLarge, 0, n};
  return raw + kHeader;
}

// libevent's allocations below 1 KiB are the long-lived parts of a connection (bufferevent,
// evbuffers, events): exact-size, so an idle connection costs what it did under plain malloc.
// Its evbuffer chains are 1 KiB and up, made and freed per read and per write: cached.
constexpr size_t kEventCachedFrom = 1024;
[[maybe_unused]] void* event_alloc(size_t n) {
  return n >= kEventCachedFrom ? cached_alloc(n) : plain_alloc(n);
}

}  // namespace

void* cached_alloc(size_t n) {
  uint32_t k = class_of(n);
  if (k == kLarge) return plain_alloc(n);
  ThreadCache& c = t_cache;
  if (Node* node = c.head[k]; node != nullptr) {
    c.head[k] = node->next;
    --c.count[k];
    return node;
  }
  auto* raw = static_cast<char*>(std::malloc((size_t{1} << (k + kMinShift)) + kHeader));
  if (raw == nullptr) return nullptr;
  *reinterpret_cast<BlockHeader*>(raw) = BlockHeader{k, 0, 0};
  return raw + kHeader;
}

void cached_free(void* p) {
  if (p == nullptr) return;
  uint32_t k = header_of(p).cls;
  ThreadCache& c = t_cache;
  if (k != kLarge && !c.exited && c.count[k] < limit_of(k)) {
    if (!c.armed) {
      c.armed = true;
      t_exit.armed = true;  // first block kept on this thread: release the cache at its exit
    }
    auto* node = static_cast<Node*>(p);
    node->next = c.head[k];
    c.head[k] = node;
    ++c.count[k];
    return;
  }
  std::free(static_cast<char*>(p) - kHeader);
}

void* cached_realloc(void* p, size_t n) {
  if (p == nullptr) return cached_alloc(n);
  if (n == 0) {
    cached_free(p);
    return nullptr;
  }
  const BlockHeader h = header_of(p);
  if (h.cls == kLarge && class_of(n) == kLarge) {
    auto* raw = static_cast<char*>(std::realloc(static_cast<char*>(p) - kHeader, n + kHeader));
    if (raw == nullptr) return nullptr;
    reinterpret_cast<BlockHeader*>(raw)->size = n;
    return raw + kHeader;
  }
  if (h.cls != kLarge && n <= capacity_of(h)) return p;  // still fits its block
  void* q = cached_alloc(n);
  if (q == nullptr) return nullptr;
  size_t keep = capacity_of(h);
  std::memcpy(q, p, keep < n ? keep : n);
  cached_free(p);
  return q;
}

#ifdef PORTICO_BLOCK_CACHE_OFF
// Sanitizer builds: plain malloc, so every allocation stays visible to the sanitizer.
void* block_alloc(size_t n) { return std::malloc(n); }
void block_free(void* p) { std::free(p); }
void* block_realloc(void* p, size_t n) { return std::realloc(p, n); }
void route_libevent_allocations() {}
#else
void* block_alloc(size_t n) { return cached_alloc(n); }
void block_free(void* p) { cached_free(p); }
void* block_realloc(void* p, size_t n) { return cached_realloc(p, n); }
void route_libevent_allocations() {
  event_set_mem_functions(event_alloc, cached_realloc, cached_free);
}
#endif

}  // namespace portico::core
