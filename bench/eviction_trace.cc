// eviction_trace: replays one synthetic, deterministic request trace through cache::Lru and
// cache::S3Fifo and prints object and byte hit ratios before, during and after a one-off scan.
//
// Trace: `objects` objects with log-uniform sizes (512 B .. 512 KiB), requested with Zipf(alpha)
// popularity (rank -> object through a seeded permutation, so size and popularity are unrelated).
// Phases: warm-up (not counted), before, during (Zipf requests interleaved 1:1 with a sequential
// scan of `scan` never-reused objects from the same size distribution), after. The cache holds
// `cache_ratio` of the working set's bytes. Each policy sees the same trace (same seed).
//
// Usage: eviction_trace [--objects N] [--alpha A] [--cache-ratio R] [--requests N] [--scan N]
//                       [--seed S] [--small-ratio R] [--threshold T]
// (--small-ratio and --threshold set S3Fifo::Options; the defaults are the policy's.)
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cache/lru.h"
#include "cache/s3fifo.h"

namespace {

struct Config {
  uint64_t objects = 100'000;
  double alpha = 0.9;
  double cache_ratio = 0.10;
  uint64_t requests = 2'000'000;  // per counted phase (before, after); warm-up is the same
  uint64_t scan = 500'000;        // scan objects; the during phase has 2x this many requests
  uint64_t seed = 1;
  portico::cache::S3Fifo::Options s3;  // defaults unless --small-ratio / --threshold
};

// splitmix64: tiny, fast, and the same sequence on every platform (unlike std:: distributions).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)

 private:
  uint64_t s_;
};

uint64_t object_size(Rng& rng) {
  constexpr double kLo = 512.0;
  constexpr double kHi = 512.0 * 1024;
  return static_cast<uint64_t>(std::exp(std::log(kLo) + rng.uniform() * std::log(kHi / kLo)));
}

constexpr uint64_t kScanIdBase = uint64_t{1} << 40;

struct Workload {
  std::vector<uint64_t> sizes;  // by object id
  std::vector<uint64_t> rank_to_id;
  std::vector<double> cdf;  // Zipf CDF by rank
  std::vector<uint64_t> scan_sizes;
  uint64_t working_set_bytes = 0;

  explicit Workload(const Config& cfg) {
    Rng rng(cfg.seed);
    sizes.resize(cfg.objects);
    for (uint64_t& s : sizes) {
      s = object_size(rng);
      working_set_bytes += s;
    }
    rank_to_id.resize(cfg.objects);
    for (uint64_t i = 0; i < cfg.objects; ++i) rank_to_id[i] = i;
    for (uint64_t i = cfg.objects - 1; i > 0; --i) {
      std::swap(rank_to_id[i], rank_to_id[rng.next() % (i + 1)]);
    }
    cdf.resize(cfg.objects);
    double sum = 0;
    for (uint64_t k = 0; k < cfg.objects; ++k) {
      sum += 1.0 / std::pow(static_cast<double>(k + 1), cfg.alpha);
      cdf[k] = sum;
    }
    for (double& c : cdf) c /= sum;
    scan_sizes.resize(cfg.scan);
    for (uint64_t& s : scan_sizes) s = object_size(rng);
  }

  uint64_t zipf_id(Rng& rng) const {
    double u = rng.uniform();
    auto it = std::upper_bound(cdf.begin(), cdf.end(), u);
    size_t rank = std::min<size_t>(static_cast<size_t>(it - cdf.begin()), cdf.size() - 1);
    return rank_to_id[rank];
  }
};

struct Counts {
  uint64_t requests = 0, hits = 0, bytes = 0, hit_bytes = 0;
  void add(bool hit, uint64_t size) {
    ++requests;
    bytes += size;
    if (hit) {
      ++hits;
      hit_bytes += size;
    }
  }
  double object_ratio() const {
    return requests ? static_cast<double>(hits) / static_cast<double>(requests) : 0;
  }
  double byte_ratio() const {
    return bytes ? static_cast<double>(hit_bytes) / static_cast<double>(bytes) : 0;
  }
};

struct Result {
  Counts before, during_zipf, during_all, recovery, after;
  uint64_t evictions = 0;
};

template <class Policy>
Result replay(Policy& policy, const Workload& w, const Config& cfg) {
  Result r;
  Rng rng(cfg.seed ^ 0x5ca1ab1eULL);  // the request stream; identical for every policy
  auto evict = [&r](uint64_t) { ++r.evictions; };
  auto request = [&](uint64_t id, uint64_t size) {
    if (policy.contains(id)) {
      policy.touch(id);
      return true;
    }
    policy.insert(id, size, evict);
    return false;
  };
  for (uint64_t i = 0; i < cfg.requests; ++i) {
    uint64_t id = w.zipf_id(rng);
    request(id, w.sizes[id]);
  }
  for (uint64_t i = 0; i < cfg.requests; ++i) {
    uint64_t id = w.zipf_id(rng);
    r.before.add(request(id, w.sizes[id]), w.sizes[id]);
  }
  for (uint64_t i = 0; i < cfg.scan; ++i) {
    uint64_t id = w.zipf_id(rng);
    bool hit = request(id, w.sizes[id]);
    r.during_zipf.add(hit, w.sizes[id]);
    r.during_all.add(hit, w.sizes[id]);
    uint64_t scan_size = w.scan_sizes[i];
    r.during_all.add(request(kScanIdBase + i, scan_size), scan_size);
  }
  uint64_t recovery = cfg.requests / 10;
  for (uint64_t i = 0; i < cfg.requests; ++i) {
    uint64_t id = w.zipf_id(rng);
    bool hit = request(id, w.sizes[id]);
    r.after.add(hit, w.sizes[id]);
    if (i < recovery) r.recovery.add(hit, w.sizes[id]);
  }
  return r;
}

bool parse_args(int argc, char** argv, Config& cfg) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return false;
    const char* v = argv[++i];
    if (a == "--objects") {
      cfg.objects = std::strtoull(v, nullptr, 10);
    } else if (a == "--alpha") {
      cfg.alpha = std::strtod(v, nullptr);
    } else if (a == "--cache-ratio") {
      cfg.cache_ratio = std::strtod(v, nullptr);
    } else if (a == "--requests") {
      cfg.requests = std::strtoull(v, nullptr, 10);
    } else if (a == "--scan") {
      cfg.scan = std::strtoull(v, nullptr, 10);
    } else if (a == "--seed") {
      cfg.seed = std::strtoull(v, nullptr, 10);
    } else if (a == "--small-ratio") {
      cfg.s3.small_ratio = std::strtod(v, nullptr);
    } else if (a == "--threshold") {
      cfg.s3.move_to_main_threshold = static_cast<uint8_t>(std::strtoul(v, nullptr, 10));
    } else {
      return false;
    }
  }
  return cfg.objects > 0 && cfg.cache_ratio > 0;
}

void row(const char* phase, uint64_t requests, const Counts& lru, const Counts& s3) {
  std::printf("| %-22s | %9" PRIu64 " | %6.2f%% | %6.2f%% | %6.2f%% | %6.2f%% |\n", phase, requests,
              100 * lru.object_ratio(), 100 * s3.object_ratio(), 100 * lru.byte_ratio(),
              100 * s3.byte_ratio());
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  if (!parse_args(argc, argv, cfg)) {
    std::fprintf(stderr,
                 "usage: %s [--objects N] [--alpha A] [--cache-ratio R] [--requests N] "
                 "[--scan N] [--seed S] [--small-ratio R] [--threshold T]\n",
                 argv[0]);
    return 2;
  }
  Workload w(cfg);
  uint64_t capacity =
      static_cast<uint64_t>(static_cast<double>(w.working_set_bytes) * cfg.cache_ratio);
  uint64_t scan_bytes = 0;
  for (uint64_t s : w.scan_sizes) scan_bytes += s;

  std::printf("objects=%" PRIu64
              " alpha=%.2f working_set=%.1f MiB cache=%.1f MiB (%.0f%%) "
              "requests/phase=%" PRIu64 " scan=%" PRIu64
              " objects (%.1f MiB, %.1fx cache) "
              "seed=%" PRIu64 " s3fifo: small_ratio=%.2f threshold=%d\n\n",
              cfg.objects, cfg.alpha, static_cast<double>(w.working_set_bytes) / (1 << 20),
              static_cast<double>(capacity) / (1 << 20), 100 * cfg.cache_ratio, cfg.requests,
              cfg.scan, static_cast<double>(scan_bytes) / (1 << 20),
              static_cast<double>(scan_bytes) / static_cast<double>(capacity), cfg.seed,
              cfg.s3.small_ratio, cfg.s3.move_to_main_threshold);

  portico::cache::Lru lru(capacity);
  Result l = replay(lru, w, cfg);
  portico::cache::S3Fifo s3(capacity, cfg.s3);
  Result s = replay(s3, w, cfg);

  std::printf("| %-22s | %9s | %7s | %7s | %7s | %7s |\n", "phase", "requests", "LRU obj", "S3 obj",
              "LRU byte", "S3 byte");
  std::printf("|%s|%s|%s|%s|%s|%s|\n", "------------------------",
              "----------:", "--------:", "--------:", "--------:", "--------:");
  row("before scan", l.before.requests, l.before, s.before);
  row("during (Zipf requests)", l.during_zipf.requests, l.during_zipf, s.during_zipf);
  row("during (all requests)", l.during_all.requests, l.during_all, s.during_all);
  row("after: first 10%", l.recovery.requests, l.recovery, s.recovery);
  row("after scan", l.after.requests, l.after, s.after);
  std::printf("\nevictions: LRU %" PRIu64 ", S3-FIFO %" PRIu64 "\n", l.evictions, s.evictions);
  return 0;
}
