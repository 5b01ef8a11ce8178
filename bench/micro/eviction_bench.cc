// Eviction policies on their hot paths: a hit (touch), a miss that evicts (insert at capacity),
// and a Zipf(0.9) mix of both over 1M ids with a cache of 10% of them (unit sizes). Allocation-free
// in steady state, so the numbers are the policies' own cost: hash probe + list work.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cache/lru.h"
#include "cache/s3fifo.h"

namespace {

using portico::cache::Lru;
using portico::cache::S3Fifo;

constexpr uint64_t kItems = 100'000;

uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185ULL;
  x ^= x >> 27;
  return x;
}

template <class Policy>
void BM_TouchHit(benchmark::State& state) {
  Policy p(kItems * 64);
  auto evict = [](uint64_t) {};
  for (uint64_t i = 0; i < kItems; ++i) p.insert(mix(i), 64, evict);
  uint64_t i = 0;
  for (auto _ : state) {
    p.touch(mix(i));
    i = (i + 7919) % kItems;
  }
  state.SetItemsProcessed(state.iterations());
}

template <class Policy>
void BM_InsertEvict(benchmark::State& state) {
  Policy p(kItems * 64);
  uint64_t evicted = 0;
  auto evict = [&evicted](uint64_t) { ++evicted; };
  uint64_t next = 0;
  for (; next < kItems; ++next) p.insert(mix(next), 64, evict);
  for (auto _ : state) p.insert(mix(next++), 64, evict);
  benchmark::DoNotOptimize(evicted);
  state.SetItemsProcessed(state.iterations());
}

template <class Policy>
void BM_ZipfMix(benchmark::State& state) {
  constexpr uint64_t kIds = 1'000'000;
  std::vector<double> cdf(kIds);
  double sum = 0;
  for (uint64_t k = 0; k < kIds; ++k)
    cdf[k] = (sum += 1.0 / std::pow(static_cast<double>(k + 1), 0.9));
  std::vector<uint64_t> trace(1 << 20);
  uint64_t s = 1;
  for (uint64_t& id : trace) {
    s = mix(s + 0x9e3779b97f4a7c15ULL);
    double u = static_cast<double>(s >> 11) * 0x1.0p-53 * sum;
    id = static_cast<uint64_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
  }
  Policy p(kIds / 10);
  auto evict = [](uint64_t) {};
  size_t i = 0;
  uint64_t hits = 0;
  for (auto _ : state) {
    uint64_t id = trace[i++ & (trace.size() - 1)];
    if (p.contains(id)) {
      p.touch(id);
      ++hits;
    } else {
      p.insert(id, 1, evict);
    }
  }
  state.counters["hit_ratio"] =
      benchmark::Counter(static_cast<double>(hits) / static_cast<double>(state.iterations()));
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_TEMPLATE(BM_TouchHit, S3Fifo);
BENCHMARK_TEMPLATE(BM_TouchHit, Lru);
BENCHMARK_TEMPLATE(BM_InsertEvict, S3Fifo);
BENCHMARK_TEMPLATE(BM_InsertEvict, Lru);
BENCHMARK_TEMPLATE(BM_ZipfMix, S3Fifo);
BENCHMARK_TEMPLATE(BM_ZipfMix, Lru);

}  // namespace

BENCHMARK_MAIN();
