// Per-worker counters, written only by their worker thread (relaxed load+store, no lock prefix)
// and read by the admin thread when /metrics is scraped. Objects are created on reload (under
// the worker's registry mutex) and never freed while the process runs, so pointers cached by an
// exchange stay valid across config swaps.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace portico::proxy {

class Counter {
 public:
  void add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Origin latency histogram buckets (seconds), Prometheus style.
inline constexpr std::array<double, 12> kLatencyBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                           0.1,   0.25,   0.5,   1.0,  2.5,   10.0};

struct Histogram {
  std::array<Counter, kLatencyBuckets.size() + 1> buckets;  // last = +Inf
  Counter count;
  Counter sum_us;
  void observe_us(uint64_t us);
};

struct DistributionStats {
  std::array<Counter, 6> by_status_class;  // index 1..5 = 1xx..5xx, 0 = other
  Counter received_bytes;
  Counter sent_bytes;
  Counter cache_hits;    // served from a stored or in-flight object
  Counter cache_misses;  // fills started (misses and revalidations)
  Counter stale_served;  // stale-if-error answers
};

struct OriginStats {
  Counter requests;
  Counter connect_failures;
  Counter timeouts;
  Counter retries;
  Histogram latency;
};

// One target group's counters (load balancer requests; ALB's HTTPCode_Target_5XX_Count and
// HTTPCode_ELB_5XX_Count).
struct TargetGroupStats {
  Counter requests;
  Counter target_5xx;
  Counter elb_5xx;
};

struct WorkerStats {
  Counter open_connections_added;    // accepted
  Counter open_connections_removed;  // closed
  Counter rejected_connections;      // over max_connections
  Counter parse_errors;
  Counter log_lines_dropped;

  // Looked up at snapshot swap, cached by index; keyed by distribution id and "dist/origin".
  DistributionStats* distribution(const std::string& id);
  OriginStats* origin(const std::string& key);
  TargetGroupStats* target_group(const std::string& name);

  std::mutex mu;  // guards the maps' structure (not the counters)
  std::map<std::string, std::unique_ptr<DistributionStats>> distributions;
  std::map<std::string, std::unique_ptr<OriginStats>> origins;
  std::map<std::string, std::unique_ptr<TargetGroupStats>> target_groups;
};

}  // namespace portico::proxy
