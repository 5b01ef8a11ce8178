// Lru: byte budget, recency order, erase, replacement, oversize rejection, and (the reason S3Fifo
// exists) that a scan of one-hit items flushes the hot set.
#include "cache/lru.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

using portico::cache::Lru;

namespace {

struct Evictions {
  std::vector<uint64_t> ids;
  void operator()(uint64_t id) { ids.push_back(id); }
};

}  // namespace

TEST_CASE("Lru evicts the least recently used first", "[lru]") {
  Lru p(100);
  Evictions ev;
  for (uint64_t id = 1; id <= 10; ++id) REQUIRE(p.insert(id, 10, ev));
  CHECK(p.used_bytes() == 100);
  CHECK(p.size() == 10);
  p.touch(1);
  p.touch(3);
  p.touch(1);
  REQUIRE(p.insert(11, 10, ev));
  REQUIRE(p.insert(12, 25, ev));
  CHECK(ev.ids == std::vector<uint64_t>{2, 4, 5, 6});
  CHECK(p.used_bytes() == 95);
  CHECK(p.contains(1));
  CHECK(p.contains(3));
  p.touch(999);  // unknown: no-op
}

TEST_CASE("Lru erase and replacement", "[lru]") {
  Lru p(100);
  Evictions ev;
  for (uint64_t id = 1; id <= 10; ++id) REQUIRE(p.insert(id, 10, ev));
  p.erase(1);
  p.erase(1);
  p.erase(555);
  CHECK(p.size() == 9);
  CHECK(p.used_bytes() == 90);
  REQUIRE(p.insert(2, 20, ev));  // replacement: 2 becomes most recent, 3 is now the oldest
  CHECK(ev.ids.empty());
  CHECK(p.used_bytes() == 100);
  REQUIRE(p.insert(11, 10, ev));
  CHECK(ev.ids == std::vector<uint64_t>{3});
  CHECK(p.contains(2));
}

TEST_CASE("Lru rejects an item larger than the capacity", "[lru]") {
  Lru p(100);
  Evictions ev;
  for (uint64_t id = 1; id <= 5; ++id) REQUIRE(p.insert(id, 10, ev));
  CHECK_FALSE(p.insert(42, 101, ev));
  CHECK(ev.ids.empty());
  CHECK(p.used_bytes() == 50);
  CHECK(p.insert(43, 100, ev));
  CHECK(ev.ids == std::vector<uint64_t>{1, 2, 3, 4, 5});
  CHECK(p.size() == 1);
}

TEST_CASE("Lru loses the hot set to a scan (unlike S3Fifo)", "[lru]") {
  Lru p(10'000);
  Evictions ev;
  for (int round = 0; round < 5; ++round) {
    for (uint64_t id = 1; id <= 50; ++id) {
      if (p.contains(id)) {
        p.touch(id);
      } else {
        REQUIRE(p.insert(id, 20, ev));
      }
    }
  }
  for (uint64_t id = 0; id < 10'000; ++id) REQUIRE(p.insert(2'000'000 + id, 20, ev));
  for (uint64_t id = 1; id <= 50; ++id) CHECK_FALSE(p.contains(id));
}

TEST_CASE("Lru accounting under random traffic", "[lru]") {
  const uint64_t capacity = 4096;
  Lru p(capacity);
  std::unordered_map<uint64_t, uint64_t> live;
  std::mt19937_64 rng(11);
  auto evict = [&](uint64_t id) {
    REQUIRE(live.count(id) == 1);
    live.erase(id);
  };
  for (int i = 0; i < 50'000; ++i) {
    uint64_t id = rng() % 1000;
    uint64_t bytes = 1 + rng() % 600;
    if (rng() % 8 == 0) {
      p.erase(id);
      live.erase(id);
    } else if (p.contains(id)) {
      p.touch(id);
    } else {
      REQUIRE(p.insert(id, bytes, evict));
      live[id] = bytes;
    }
    REQUIRE(p.used_bytes() <= capacity);
    REQUIRE(p.size() == live.size());
  }
  uint64_t sum = 0;
  for (auto& [id, bytes] : live) sum += bytes;
  CHECK(sum == p.used_bytes());
}
