#include "core/block_cache.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

using portico::core::cached_alloc;
using portico::core::cached_free;
using portico::core::cached_realloc;

TEST_CASE("block cache hands a freed block of a class back to the next request of that class",
          "[block_cache]") {
  void* a = cached_alloc(3000);  // 4 KiB class
  REQUIRE(a != nullptr);
  CHECK(reinterpret_cast<uintptr_t>(a) % 16 == 0);
  std::memset(a, 0xab, 3000);
  cached_free(a);
  void* b = cached_alloc(4096);  // same class
  CHECK(b == a);
  void* c = cached_alloc(4097);  // next class: a different block
  CHECK(c != a);
  std::memset(c, 0xcd, 4097);
  cached_free(b);
  cached_free(c);
}

TEST_CASE("block cache: tiny, zero and large sizes", "[block_cache]") {
  void* z = cached_alloc(0);
  REQUIRE(z != nullptr);
  cached_free(z);
  cached_free(nullptr);
  void* big = cached_alloc(1 << 20);  // above the largest class: straight malloc
  REQUIRE(big != nullptr);
  std::memset(big, 1, 1 << 20);
  cached_free(big);
}

TEST_CASE("block cache realloc keeps the bytes across classes and to and from large",
          "[block_cache]") {
  auto* p = static_cast<unsigned char*>(cached_alloc(100));
  for (int i = 0; i < 100; ++i) p[i] = static_cast<unsigned char>(i);
  p = static_cast<unsigned char*>(cached_realloc(p, 120));  // still fits the 128 class
  p = static_cast<unsigned char*>(cached_realloc(p, 5000));
  for (int i = 0; i < 100; ++i) REQUIRE(p[i] == i);
  p = static_cast<unsigned char*>(cached_realloc(p, 200000));  // to large
  for (int i = 0; i < 100; ++i) REQUIRE(p[i] == i);
  p[199999] = 7;
  p = static_cast<unsigned char*>(cached_realloc(p, 300000));  // large to large
  CHECK(p[199999] == 7);
  p = static_cast<unsigned char*>(cached_realloc(p, 64));  // large back into a class
  for (int i = 0; i < 64; ++i) REQUIRE(p[i] == i);
  CHECK(cached_realloc(p, 0) == nullptr);  // frees
  void* q = cached_realloc(nullptr, 10);   // allocates
  REQUIRE(q != nullptr);
  cached_free(q);
}

TEST_CASE("block cache: a block made on one thread may be freed on another", "[block_cache]") {
  std::vector<void*> blocks;
  for (int i = 0; i < 300; ++i) blocks.push_back(cached_alloc(static_cast<size_t>(64 << (i % 8))));
  std::thread t([&] {
    for (void* b : blocks) cached_free(b);
    // The freeing thread reuses them, then its cache is released when it exits.
    for (int i = 0; i < 300; ++i) cached_free(cached_alloc(static_cast<size_t>(64 << (i % 8))));
  });
  t.join();
}

TEST_CASE("block cache keeps a bounded number of blocks per class", "[block_cache]") {
  // 64 KiB blocks: at most 1 MiB (16 blocks) are kept; freeing 100 and allocating 100 again
  // must still work (the surplus went back to malloc).
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) blocks.push_back(cached_alloc(65536));
  for (void* b : blocks) cached_free(b);
  blocks.clear();
  for (int i = 0; i < 100; ++i) {
    void* b = cached_alloc(65536);
    REQUIRE(b != nullptr);
    std::memset(b, i, 65536);
    blocks.push_back(b);
  }
  for (void* b : blocks) cached_free(b);
}

TEST_CASE("BlockAllocator backs a vector", "[block_cache]") {
  std::vector<int, portico::core::BlockAllocator<int>> v;
  for (int i = 0; i < 10000; ++i) v.push_back(i);
  CHECK(v[9999] == 9999);
  v.clear();
  v.shrink_to_fit();
  CHECK(v.capacity() == 0);
}
