// S3Fifo: byte budget, FIFO order without hits, promotion to main, ghost hits, 2-bit CLOCK in main,
// scan resistance, erase, replacement and oversize rejection.
#include "cache/s3fifo.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

using portico::cache::S3Fifo;
using Queue = portico::cache::S3Fifo::Queue;

namespace {

// Records evictions in order.
struct Evictions {
  std::vector<uint64_t> ids;
  void operator()(uint64_t id) { ids.push_back(id); }
};

}  // namespace

TEST_CASE("S3Fifo without hits evicts in insertion order", "[s3fifo]") {
  S3Fifo p(1000);  // small target 100
  Evictions ev;
  for (uint64_t id = 1; id <= 100; ++id) REQUIRE(p.insert(id, 10, ev));
  CHECK(ev.ids.empty());
  CHECK(p.used_bytes() == 1000);
  CHECK(p.size() == 100);
  for (uint64_t id = 101; id <= 105; ++id) REQUIRE(p.insert(id, 10, ev));
  CHECK(ev.ids == std::vector<uint64_t>{1, 2, 3, 4, 5});
  CHECK(p.used_bytes() == 1000);
  CHECK(p.queue_for_test(1) == Queue::Ghost);
  CHECK_FALSE(p.contains(1));
  CHECK(p.queue_for_test(6) == Queue::Small);
  CHECK(p.ghost_size() == 5);
}

TEST_CASE("S3Fifo evicts as many items as the new one needs", "[s3fifo]") {
  S3Fifo p(100);
  Evictions ev;
  for (uint64_t id = 1; id <= 10; ++id) REQUIRE(p.insert(id, 10, ev));
  REQUIRE(p.insert(11, 35, ev));
  CHECK(ev.ids == std::vector<uint64_t>{1, 2, 3, 4});
  CHECK(p.used_bytes() == 95);
  CHECK(p.size() == 7);
}

TEST_CASE("S3Fifo promotes items touched in the small queue to main", "[s3fifo]") {
  S3Fifo p(100);  // small target 10
  Evictions ev;
  for (uint64_t id = 1; id <= 10; ++id) REQUIRE(p.insert(id, 10, ev));
  for (uint64_t id : {1, 2, 3}) {
    p.touch(id);
    p.touch(id);
  }
  p.touch(4);  // once: below the default threshold of 2
  REQUIRE(p.insert(11, 10, ev));
  CHECK(ev.ids == std::vector<uint64_t>{4});
  CHECK(p.queue_for_test(1) == Queue::Main);
  CHECK(p.queue_for_test(2) == Queue::Main);
  CHECK(p.queue_for_test(3) == Queue::Main);
  CHECK(p.freq_for_test(1) == 0);  // access bits are cleared on the move
  CHECK(p.queue_for_test(4) == Queue::Ghost);

  SECTION("main reinserts touched items (2-bit CLOCK) and evicts small first") {
    // main = [3 2 1] (1 oldest), small = 11 10 .. 5. Touch 1 so it survives one pass.
    p.touch(1);
    ev.ids.clear();
    REQUIRE(p.insert(99, 100, ev));  // needs the whole cache
    CHECK(ev.ids == std::vector<uint64_t>{5, 6, 7, 8, 9, 10, 11, 2, 3, 1});
    CHECK(p.size() == 1);
    CHECK(p.used_bytes() == 100);
  }
}

TEST_CASE("S3Fifo threshold 1 promotes after a single hit", "[s3fifo]") {
  S3Fifo p(100, S3Fifo::Options{0.10, 1});
  Evictions ev;
  for (uint64_t id = 1; id <= 10; ++id) REQUIRE(p.insert(id, 10, ev));
  p.touch(1);
  REQUIRE(p.insert(11, 10, ev));
  CHECK(ev.ids == std::vector<uint64_t>{2});
  CHECK(p.queue_for_test(1) == Queue::Main);
}

TEST_CASE("S3Fifo counter saturates at 3", "[s3fifo]") {
  S3Fifo p(100);
  Evictions ev;
  REQUIRE(p.insert(1, 10, ev));
  for (int i = 0; i < 10; ++i) p.touch(1);
  CHECK(p.freq_for_test(1) == 3);
  p.touch(12345);  // unknown: no-op
  CHECK(p.size() == 1);
}

TEST_CASE("S3Fifo sends an insert that hits the ghost to main", "[s3fifo]") {
  S3Fifo p(100);
  Evictions ev;
  for (uint64_t id = 1; id <= 11; ++id) REQUIRE(p.insert(id, 10, ev));
  REQUIRE(ev.ids == std::vector<uint64_t>{1});
  REQUIRE(p.queue_for_test(1) == Queue::Ghost);
  p.touch(1);  // a ghost is not live: no-op
  CHECK(p.freq_for_test(1) == 0);

  REQUIRE(p.insert(1, 10, ev));
  CHECK(p.queue_for_test(1) == Queue::Main);
  CHECK(p.contains(1));
  CHECK(ev.ids == std::vector<uint64_t>{1, 2});
  CHECK(p.ghost_size() == 1);  // 2; 1 left the ghost
}

TEST_CASE("S3Fifo ghost is bounded", "[s3fifo]") {
  S3Fifo p(1000);  // ghost budget 900 bytes
  Evictions ev;
  for (uint64_t id = 1; id <= 10'000; ++id) REQUIRE(p.insert(id, 10, ev));
  CHECK(p.ghost_size() == 90);
  CHECK(p.queue_for_test(10'000 - 100 - 90) == Queue::None);
  CHECK(p.queue_for_test(10'000 - 100 - 89) == Queue::Ghost);
}

TEST_CASE("S3Fifo keeps a hot working set through a scan of one-hit items", "[s3fifo]") {
  S3Fifo p(10'000);
  Evictions ev;
  // Hot set: 50 items requested repeatedly before the scan.
  for (int round = 0; round < 5; ++round) {
    for (uint64_t id = 1; id <= 50; ++id) {
      if (p.contains(id)) {
        p.touch(id);
      } else {
        REQUIRE(p.insert(id, 20, ev));
      }
    }
    // Some one-hit traffic so the hot items leave the small queue (promoted to main).
    for (uint64_t id = 0; id < 500; ++id) REQUIRE(p.insert(1'000'000 + round * 1000 + id, 20, ev));
  }
  for (uint64_t id = 1; id <= 50; ++id) REQUIRE(p.contains(id));

  // A scan 20x the cache size, with no hits on the hot set during it.
  for (uint64_t id = 0; id < 10'000; ++id) REQUIRE(p.insert(2'000'000 + id, 20, ev));
  for (uint64_t id = 1; id <= 50; ++id) {
    INFO("hot id " << id);
    CHECK(p.contains(id));
    CHECK(p.queue_for_test(id) == Queue::Main);
  }
  CHECK(p.used_bytes() <= p.capacity_bytes());
}

TEST_CASE("S3Fifo erase", "[s3fifo]") {
  S3Fifo p(100);
  Evictions ev;
  for (uint64_t id = 1; id <= 11; ++id) REQUIRE(p.insert(id, 10, ev));
  REQUIRE(p.queue_for_test(1) == Queue::Ghost);

  p.erase(5);
  CHECK_FALSE(p.contains(5));
  CHECK(p.used_bytes() == 90);
  CHECK(p.size() == 9);
  p.erase(1);  // a ghost is forgotten too: a later insert goes to small
  CHECK(p.queue_for_test(1) == Queue::None);
  CHECK(p.ghost_size() == 0);
  p.erase(777);  // unknown: no-op
  CHECK(p.size() == 9);

  REQUIRE(p.insert(1, 10, ev));
  CHECK(p.queue_for_test(1) == Queue::Small);
  CHECK(ev.ids == std::vector<uint64_t>{1});  // no eviction needed: erase made room
  REQUIRE(p.insert(12, 10, ev));
  CHECK(ev.ids == std::vector<uint64_t>{1, 2});  // 5 is not evicted twice
}

TEST_CASE("S3Fifo replacing a live id", "[s3fifo]") {
  S3Fifo p(100);
  Evictions ev;
  for (uint64_t id = 1; id <= 10; ++id) REQUIRE(p.insert(id, 10, ev));

  SECTION("an untouched small item stays in small with the new size") {
    REQUIRE(p.insert(3, 30, ev));
    CHECK(ev.ids == std::vector<uint64_t>{1, 2});
    CHECK(p.queue_for_test(3) == Queue::Small);
    CHECK(p.used_bytes() == 100);
  }
  SECTION("a touched item goes to main") {
    p.touch(3);
    REQUIRE(p.insert(3, 10, ev));
    CHECK(ev.ids.empty());
    CHECK(p.queue_for_test(3) == Queue::Main);
  }
  SECTION("an oversize replacement drops the old entry") {
    CHECK_FALSE(p.insert(3, 101, ev));
    CHECK(ev.ids.empty());
    CHECK_FALSE(p.contains(3));
    CHECK(p.used_bytes() == 90);
  }
}

TEST_CASE("S3Fifo rejects an item larger than the capacity", "[s3fifo]") {
  S3Fifo p(100);
  Evictions ev;
  for (uint64_t id = 1; id <= 5; ++id) REQUIRE(p.insert(id, 10, ev));
  CHECK_FALSE(p.insert(42, 101, ev));
  CHECK(ev.ids.empty());
  CHECK_FALSE(p.contains(42));
  CHECK(p.used_bytes() == 50);

  // Exactly the capacity is admitted (it empties the cache), bigger than the small queue too.
  CHECK(p.insert(43, 100, ev));
  CHECK(ev.ids == std::vector<uint64_t>{1, 2, 3, 4, 5});
  CHECK(p.size() == 1);

  S3Fifo zero(0);
  CHECK_FALSE(zero.insert(1, 1, ev));
  CHECK(zero.insert(2, 0, ev));
}

TEST_CASE("S3Fifo accounting under random traffic", "[s3fifo]") {
  const uint64_t capacity = GENERATE(as<uint64_t>{}, 1, 1000, 64 * 1024);
  S3Fifo p(capacity);
  std::unordered_map<uint64_t, uint64_t> live;  // the store's view
  std::mt19937_64 rng(7);
  uint64_t evictions = 0;
  auto evict = [&](uint64_t id) {
    REQUIRE(live.count(id) == 1);
    live.erase(id);
    ++evictions;
  };
  for (int i = 0; i < 50'000; ++i) {
    uint64_t id = rng() % 2000;
    uint64_t bytes = 1 + rng() % (capacity / 8 + 1);
    switch (rng() % 8) {
      case 0:
        p.erase(id);
        live.erase(id);
        break;
      case 1:
      case 2:
        p.touch(id);
        break;
      default:
        if (p.contains(id)) {
          p.touch(id);
        } else if (p.insert(id, bytes, evict)) {
          live[id] = bytes;
        } else {
          REQUIRE(bytes > capacity);
        }
    }
    REQUIRE(p.used_bytes() <= capacity);
    REQUIRE(p.size() == live.size());
  }
  uint64_t sum = 0;
  for (auto& [id, bytes] : live) {
    REQUIRE(p.contains(id));
    sum += bytes;
  }
  CHECK(sum == p.used_bytes());
  CHECK(evictions > 0);
}

TEST_CASE("IdIndex matches a std::unordered_map under inserts and erases", "[s3fifo]") {
  portico::cache::detail::IdIndex index;
  std::unordered_map<uint64_t, uint32_t> model;
  std::mt19937_64 rng(13);
  CHECK(index.find(1) == portico::cache::detail::kNil);
  CHECK_FALSE(index.erase(1));
  for (uint32_t i = 0; i < 200'000; ++i) {
    // Ids with equal low bits and sequential ids both occur in practice.
    uint64_t id = (rng() % 3 == 0) ? (rng() % 5000) << 32 : rng() % 20'000;
    if (model.count(id) != 0) {
      CHECK(index.find(id) == model[id]);
      REQUIRE(index.erase(id));
      model.erase(id);
    } else {
      index.insert(id, i);
      model[id] = i;
    }
    REQUIRE(index.size() == model.size());
  }
  for (auto& [id, slot] : model) REQUIRE(index.find(id) == slot);
  for (uint64_t id = 0; id < 20'000; ++id) {
    if (model.count(id) == 0) REQUIRE(index.find(id) == portico::cache::detail::kNil);
  }
}
