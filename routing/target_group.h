// TargetGroup: the live state of one ELBv2 target group shared by every worker of the process:
// its registered targets, their health (routing/health.h), passive "suspect" marks, slow start,
// draining, and the shared counters the balancer (routing/balancer.h) reads. One instance per
// target group per process; it keeps its own copy of the group's config and is rebuilt on a
// config reload from the previous instance, so targets registered through the admin API, their
// health and their draining deadlines survive a reload (constructor).
//
// Threads: the data path (address, begin_request/end_request, report_* passive hooks, the
// balancer's view/next_sequence) is lock-free, built on per-target atomics in a slot table of
// fixed capacity, so any worker may call it concurrently. Registration, probe results and
// describe take an internal mutex (control plane: the admin API, the one health prober of the
// process, periodic expire_draining). A slot's identity (address) is published with a seqlock;
// TargetRef carries the generation it was read at, so a stale ref is detected rather than
// misused. Time is always passed in (`now`), never read.
//
// Passive detection (Portico's rule; ALB has no equivalent for HTTP targets): a connection
// failure, or kPassive5xxBurst consecutive 5xx responses with no other response between them,
// make a target *suspect* for one health_check.interval, or until its next successful active
// probe. Suspect targets get no new requests unless every registered target is unroutable (then
// fail-open includes them). Suspicion never changes the ALB state that describe() reports.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/model.h"
#include "core/result.h"
#include "routing/health.h"
#include "routing/ip_address.h"

namespace portico::routing {

struct TargetAddress {
  IpAddress ip;
  uint16_t port = 0;

  // "10.0.1.5:8080", "[2001:db8::5]:8080".
  std::string to_string() const;
  bool operator==(const TargetAddress&) const = default;
};

// A target's sticky identity: a hash of its address, stable across target set changes, reloads
// and restarts (what sticky cookies name; see routing/stickiness.h).
uint64_t target_identity(const TargetAddress& a);

// One target of one TargetGroup instance; stale once that target's slot is reused.
struct TargetRef {
  static constexpr uint32_t kNone = UINT32_MAX;
  uint32_t slot = kNone;
  uint32_t generation = 0;
  bool valid() const { return slot != kNone; }
};

// One target as DescribeTargetHealth reports it.
struct TargetStatus {
  TargetAddress address;
  TargetState state = TargetState::Initial;
  TargetReason reason = TargetReason::None;
  int last_status = 0;  // status of the last probe response, 0 = none
  bool suspect = false;
  bool slow_start = false;
  int32_t outstanding = 0;
};

// A probe the prober should run now.
struct ProbeTask {
  TargetRef target;
  TargetAddress address;  // with the health check port (traffic port or health_check.port)
};

struct TargetCounts {
  uint32_t healthy = 0;  // healthy or unavailable (checks disabled), not suspect
  uint32_t unhealthy = 0;
  uint32_t initial = 0;
  uint32_t draining = 0;
};

class TargetGroup {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  static constexpr size_t kDefaultCapacity = 1024;  // ALB: 1000 targets per group, + draining
  static constexpr uint32_t kPassive5xxBurst = 5;
  static constexpr uint32_t kFullWeight = 1000;  // a target's weight outside slow start
  static constexpr uint32_t kMinSlowStartWeight = 10;

  // Registers config.targets at `now` (state initial, or unavailable when checks are disabled).
  // With `previous` (the instance of the config being replaced, same name), carries over its
  // registered and draining targets with their health, slow start, suspicion and deadlines;
  // targets that came from the old config and are gone from the new one start draining.
  TargetGroup(const config::TargetGroup& config, TimePoint now,
              const TargetGroup* previous = nullptr, size_t capacity = kDefaultCapacity);
  TargetGroup(const TargetGroup&) = delete;
  TargetGroup& operator=(const TargetGroup&) = delete;
  ~TargetGroup();

  const std::string& name() const { return config_.name; }
  const config::TargetGroup& config() const { return config_; }

  // ---- registration (control plane) ----
  // ELBv2 RegisterTargets for one target: a new, draining or unused target restarts health
  // checks (initial); a registered one is left as it is. Error when the group is full or the
  // address is not valid.
  core::Status register_target(const TargetAddress& a, TimePoint now);
  // ELBv2 DeregisterTargets for one target: it gets no new requests and drains for
  // deregistration_delay, or until its last in-flight request ends (unused at once when none is
  // in flight or the delay is 0). NotFound when it is not registered.
  core::Status deregister_target(const TargetAddress& a, TimePoint now);
  // Moves draining targets whose delay is over, or that have no request in flight any more, to
  // unused; returns how many moved. Call on a timer (next_drain_deadline, and polling while a
  // target drains: in-flight counts change on the data path) and before describe().
  size_t expire_draining(TimePoint now);
  // The earliest draining deadline, or TimePoint::max().
  TimePoint next_drain_deadline() const;

  // ---- active health checks (the process's one prober) ----
  // Appends the probes due at `now` and schedules each target's next one an interval later.
  // Nothing when health checks are disabled.
  void due_probes(TimePoint now, std::vector<ProbeTask>& out);
  // When due_probes next has work (TimePoint::max() when none).
  TimePoint next_probe_at() const;
  // Applies one probe result (see classify_probe); a stale ref is ignored.
  void report_probe(TargetRef t, ProbeResult result, int status, TimePoint now);

  // ---- passive detection (any worker) ----
  void report_connect_failure(TargetRef t, TimePoint now);
  void report_5xx(TargetRef t, TimePoint now);
  // A non-5xx response: ends a 5xx burst.
  void report_success(TargetRef t);

  // ---- data path (any worker) ----
  // The target's traffic address; false when the ref is stale (its slot was reused).
  bool address(TargetRef t, TargetAddress& out) const;
  // In-flight accounting for least_outstanding_requests and draining: call begin when a request
  // is sent to the target and end exactly once when it finished or failed.
  void begin_request(TargetRef t);
  void end_request(TargetRef t);
  int32_t outstanding(TargetRef t) const;

  // ---- observation ----
  // Every target that is not free (unused ones included), in slot order.
  std::vector<TargetStatus> describe(TimePoint now) const;
  TargetCounts counts(TimePoint now) const;

  // ---- for routing/balancer.cc ----
  struct SlotView {
    TargetState state = TargetState::Unused;
    bool suspect = false;
    uint32_t weight = kFullWeight;  // < kFullWeight during slow start
    int32_t outstanding = 0;
    uint64_t identity = 0;
    uint32_t generation = 0;
  };
  // Upper bound of slot indexes in use.
  size_t slot_limit() const { return used_.load(std::memory_order_acquire); }
  // A consistent-enough view of slot `i`; false when the slot is free or being rewritten.
  bool view(size_t i, TimePoint now, SlotView& out) const;
  // The group's shared round-robin sequence (one counter for all workers).
  uint64_t next_sequence() { return sequence_.fetch_add(1, std::memory_order_relaxed); }

 private:
  struct Slot;
  static constexpr uint8_t kFree = 0xff;

  // Precondition of the *_locked helpers: mutex_ held.
  Slot* find_locked(const TargetAddress& a);
  Slot* claim_locked(const TargetAddress& a);
  core::Status register_locked(const TargetAddress& a, int64_t now, bool from_config);
  void publish_locked(Slot& s, TargetState before, int64_t now);
  bool current(const Slot& s, TargetRef t) const;
  static TargetAddress read_address(const Slot& s);

  config::TargetGroup config_;
  int64_t interval_ns_;
  int64_t slow_start_ns_;
  int64_t delay_ns_;
  std::unique_ptr<Slot[]> slots_;
  size_t capacity_;
  std::atomic<size_t> used_{0};
  std::atomic<uint64_t> sequence_{0};
  mutable std::mutex mutex_;
};

}  // namespace portico::routing
