// Prober: the process's one active health checker for every target group (ALB User Guide,
// "Health checks for your target groups"). It runs on the main thread's loop, never on a worker:
// each target is probed once per interval per process, and the result reaches every worker
// through the shared routing::TargetGroup (routing owns the health state and thresholds; the
// prober only reports what it saw, the Varnish way). A probe is a non-blocking libevent
// connection that sends `GET <health_check.path>` and reads the status line within
// health_check.timeout; the connection is closed as soon as the status is known. The prober also
// moves expired draining targets to unused. Owned by the Server; its destructor drops in-flight
// probes without reporting them.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <unordered_map>

#include "core/loop.h"
#include "routing/target_group_set.h"

namespace portico::proxy::upstream {

class Prober {
 public:
  // `groups` returns the current target group set (it changes on reload); main thread.
  using GroupsFn = std::function<std::shared_ptr<routing::TargetGroupSet>()>;

  Prober(core::Loop& loop, GroupsFn groups);
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  // Starts the probes that are due and re-arms the timer. Call at startup, after a reload and
  // after targets were registered (new targets are probed at once). Loop thread only.
  void poke();
  // Probes in flight (for tests and logs).
  size_t in_flight() const { return probes_.size(); }

 private:
  struct Probe;
  using TimePoint = routing::TargetGroup::TimePoint;

  void launch(const std::shared_ptr<routing::TargetGroup>& group, const routing::ProbeTask& task);
  // Reports the probe's result and frees it. `status` 0: no response.
  void finish(Probe* p, int status, bool timed_out);

  core::Loop& loop_;
  GroupsFn groups_;
  core::Timer timer_;
  std::unordered_map<Probe*, std::unique_ptr<Probe>> probes_;
};

}  // namespace portico::proxy::upstream
