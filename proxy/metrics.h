// Per-worker counters, written only by their worker thread (relaxed load+store, no lock prefix)
// and read by the admin thread when /metrics is scraped. Objects are created on reload (under
// the worker's registry mutex) and never freed while the process runs, so pointers cached by an
// exchange stay valid across config swaps.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
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
// Target response time buckets (seconds): the origin's, plus 5 s, 30 s and 60 s, since a target
// may take up to ALB's 60 s idle timeout to answer.
inline constexpr std::array<double, 15> kTargetResponseBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0};

// A Prometheus histogram over the upper bounds `Bounds` (seconds), plus +Inf.
template <const auto& Bounds>
struct BasicHistogram {
  std::array<Counter, Bounds.size() + 1> buckets;  // last = +Inf; not cumulative
  Counter count;
  Counter sum_us;
  void observe_us(uint64_t us) {
    double s = static_cast<double>(us) / 1e6;
    size_t i = 0;
    while (i < Bounds.size() && s > Bounds[i]) ++i;
    buckets[i].add();
    count.add();
    sum_us.add(us);
  }
};

using Histogram = BasicHistogram<kLatencyBuckets>;
using TargetResponseHistogram = BasicHistogram<kTargetResponseBuckets>;

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

// One target group's counters on one worker (load balancer requests; ALB's CloudWatch metrics
// HTTPCode_Target_5XX_Count, HTTPCode_ELB_5XX_Count, TargetConnectionErrorCount and
// TargetResponseTime). Every instance is listed in a process-wide registry while it lives, so the
// admin thread can sum the histogram over workers (for_each_target_group_stats).
struct TargetGroupStats {
  explicit TargetGroupStats(std::string group_name);
  ~TargetGroupStats();
  TargetGroupStats(const TargetGroupStats&) = delete;
  TargetGroupStats& operator=(const TargetGroupStats&) = delete;

  const std::string name;  // the target group's
  Counter requests;
  Counter target_5xx;                // 5xx responses from targets
  Counter elb_5xx;                   // 5xx the load balancer made (502, 503, 504)
  Counter target_connection_errors;  // connections to a target not established (refused, timeout)
  // From the request sent to the target to its response head (ALB TargetResponseTime).
  TargetResponseHistogram response_time;
};

// Calls fn(const TargetGroupStats&) for every live TargetGroupStats of the process (every worker,
// every group), under the registry's lock: fn must not create or destroy one. Any thread.
void for_each_target_group_stats(const std::function<void(const TargetGroupStats&)>& fn);

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
