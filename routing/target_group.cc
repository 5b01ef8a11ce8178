#include "routing/target_group.h"

#include <algorithm>

namespace portico::routing {
namespace {

constexpr int64_t kNoSlowStart = INT64_MIN;

int64_t ns(TargetGroup::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
int64_t ns(config::Duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}
TargetGroup::TimePoint from_ns(int64_t v) {
  return TargetGroup::TimePoint(
      std::chrono::duration_cast<TargetGroup::TimePoint::duration>(std::chrono::nanoseconds(v)));
}

core::Error error(core::ErrorKind kind, std::string detail) {
  return core::Error::make(kind, core::Side::Internal, std::move(detail));
}

}  // namespace

// Fields workers read are atomics; the rest belongs to the control plane (mutex_).
struct TargetGroup::Slot {
  std::atomic<uint32_t> seq{0};  // seqlock over the address fields: odd while being written
  std::atomic<uint64_t> ip_hi{0};
  std::atomic<uint64_t> ip_lo{0};
  std::atomic<uint32_t> port_family{0};  // port | family << 16
  std::atomic<uint64_t> identity{0};
  std::atomic<uint8_t> state{kFree};
  std::atomic<int64_t> slow_start_begin{kNoSlowStart};
  std::atomic<int64_t> suspect_until{0};
  std::atomic<uint32_t> burst_5xx{0};
  std::atomic<int32_t> outstanding{0};

  TargetHealth health;
  bool from_config = false;
  int64_t registered_at = 0;
  int64_t next_probe = 0;
  int64_t drain_deadline = 0;
  int64_t unused_since = 0;
};

std::string TargetAddress::to_string() const {
  std::string host = ip.to_string();
  if (ip.family == IpAddress::Family::V6) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}

uint64_t target_identity(const TargetAddress& a) {
  // FNV-1a over family, address bytes and port.
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](uint8_t b) {
    h ^= b;
    h *= 0x100000001b3ULL;
  };
  mix(static_cast<uint8_t>(a.ip.family));
  size_t n = a.ip.family == IpAddress::Family::V4 ? 4 : 16;
  for (size_t i = 0; i < n; ++i) mix(a.ip.bytes[i]);
  mix(static_cast<uint8_t>(a.port >> 8));
  mix(static_cast<uint8_t>(a.port & 0xff));
  return h;
}

TargetGroup::TargetGroup(const config::TargetGroup& config, TimePoint now,
                         const TargetGroup* previous, size_t capacity)
    : config_(config),
      interval_ns_(ns(config.health_check.interval)),
      slow_start_ns_(ns(config.slow_start)),
      delay_ns_(ns(config.deregistration_delay)),
      slots_(new Slot[capacity]),
      capacity_(capacity) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t t = ns(now);
  auto in_config = [this](const TargetAddress& a) {
    return std::any_of(config_.targets.begin(), config_.targets.end(),
                       [&](const config::TargetDescription& d) {
                         return d.port == a.port && IpAddress::parse(d.id) == a.ip;
                       });
  };
  if (previous != nullptr) {
    std::lock_guard<std::mutex> old_lock(previous->mutex_);
    const config::HealthCheck& check = config_.health_check;
    for (size_t i = 0; i < previous->slot_limit(); ++i) {
      const Slot& old = previous->slots_[i];
      if (old.state.load() == kFree || old.health.state == TargetState::Unused) continue;
      TargetAddress a = read_address(old);
      Slot* s = claim_locked(a);
      if (s == nullptr) break;
      s->health = old.health;
      s->from_config = in_config(a);
      s->registered_at = old.registered_at;
      s->next_probe = old.next_probe;
      s->drain_deadline = old.drain_deadline;
      s->slow_start_begin.store(old.slow_start_begin.load());
      s->suspect_until.store(old.suspect_until.load());
      TargetState state = old.health.state;
      if (old.from_config && !s->from_config && registered(state)) {
        // Dropped from the config: drain it like a DeregisterTargets call.
        advance_health(s->health, check, HealthEvent::Deregistered);
        s->drain_deadline = t + delay_ns_;
      } else if (registered(state) && check.enabled != (state != TargetState::Unavailable)) {
        // Health checks were switched on or off: start over.
        advance_health(s->health, check, HealthEvent::Registered);
        s->next_probe = t;
      }
      s->state.store(static_cast<uint8_t>(s->health.state), std::memory_order_release);
    }
  }
  for (const config::TargetDescription& d : config_.targets) {
    std::optional<IpAddress> ip = IpAddress::parse(d.id);
    if (ip && !register_locked(TargetAddress{*ip, d.port}, t, true).ok()) break;  // full
  }
}

TargetGroup::~TargetGroup() = default;

TargetAddress TargetGroup::read_address(const Slot& s) {
  TargetAddress a;
  // Acquire loads (not a fence, which TSan does not model): a value from a rewrite also makes
  // that rewrite's odd seq visible to the caller's next seq load.
  uint64_t hi = s.ip_hi.load(std::memory_order_acquire);
  uint64_t lo = s.ip_lo.load(std::memory_order_acquire);
  uint32_t pf = s.port_family.load(std::memory_order_acquire);
  for (size_t i = 0; i < 8; ++i) {
    a.ip.bytes[i] = static_cast<uint8_t>(hi >> (56 - 8 * i));
    a.ip.bytes[8 + i] = static_cast<uint8_t>(lo >> (56 - 8 * i));
  }
  a.ip.family = static_cast<IpAddress::Family>(pf >> 16);
  a.port = static_cast<uint16_t>(pf & 0xffff);
  return a;
}

TargetGroup::Slot* TargetGroup::find_locked(const TargetAddress& a) {
  for (size_t i = 0; i < slot_limit(); ++i) {
    Slot& s = slots_[i];
    if (s.state.load(std::memory_order_relaxed) != kFree && read_address(s) == a) return &s;
  }
  return nullptr;
}

TargetGroup::Slot* TargetGroup::claim_locked(const TargetAddress& a) {
  if (Slot* s = find_locked(a)) return s;
  Slot* s = nullptr;
  size_t used = slot_limit();
  if (used < capacity_) {
    s = &slots_[used];
  } else {
    // Reuse the slot that has been unused the longest, so stale refs to it are very old.
    for (size_t i = 0; i < used; ++i) {
      Slot& c = slots_[i];
      if (c.health.state == TargetState::Unused &&
          (s == nullptr || c.unused_since < s->unused_since)) {
        s = &c;
      }
    }
    if (s == nullptr) return nullptr;
  }
  // Publish the new identity under the seqlock: readers that raced see an odd or changed seq.
  uint32_t seq = s->seq.load(std::memory_order_relaxed);
  s->seq.store(seq + 1, std::memory_order_relaxed);
  uint64_t hi = 0;
  uint64_t lo = 0;
  for (size_t i = 0; i < 8; ++i) {
    hi = (hi << 8) | a.ip.bytes[i];
    lo = (lo << 8) | a.ip.bytes[8 + i];
  }
  s->ip_hi.store(hi, std::memory_order_release);
  s->ip_lo.store(lo, std::memory_order_release);
  s->port_family.store(a.port | (static_cast<uint32_t>(a.ip.family) << 16),
                       std::memory_order_release);
  s->identity.store(target_identity(a), std::memory_order_release);
  s->outstanding.store(0, std::memory_order_relaxed);
  s->burst_5xx.store(0, std::memory_order_relaxed);
  s->suspect_until.store(0, std::memory_order_relaxed);
  s->slow_start_begin.store(kNoSlowStart, std::memory_order_relaxed);
  s->seq.store(seq + 2, std::memory_order_release);
  s->health = TargetHealth{};
  s->health.state = TargetState::Unused;
  s->state.store(static_cast<uint8_t>(TargetState::Unused), std::memory_order_release);
  if (s == &slots_[used]) used_.store(used + 1, std::memory_order_release);
  return s;
}

core::Status TargetGroup::register_locked(const TargetAddress& a, int64_t now, bool from_config) {
  if (!a.ip.valid() || a.port == 0) {
    return error(core::ErrorKind::Config, "invalid target " + a.to_string());
  }
  Slot* s = claim_locked(a);
  if (s == nullptr) {
    return error(core::ErrorKind::TooLarge, "target group " + config_.name + " is full (" +
                                                std::to_string(capacity_) + " targets)");
  }
  s->from_config = s->from_config || from_config;
  if (registered(s->health.state)) return {};
  TargetState before = s->health.state;
  advance_health(s->health, config_.health_check, HealthEvent::Registered);
  s->registered_at = now;
  s->next_probe = now;
  s->slow_start_begin.store(kNoSlowStart, std::memory_order_relaxed);
  publish_locked(*s, before, now);
  return {};
}

core::Status TargetGroup::register_target(const TargetAddress& a, TimePoint now) {
  std::lock_guard<std::mutex> lock(mutex_);
  return register_locked(a, ns(now), false);
}

core::Status TargetGroup::deregister_target(const TargetAddress& a, TimePoint now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Slot* s = find_locked(a);
  if (s == nullptr || !registered(s->health.state)) {
    return error(
        core::ErrorKind::NotFound,
        "target " + a.to_string() + " is not registered with target group " + config_.name);
  }
  TargetState before = s->health.state;
  advance_health(s->health, config_.health_check, HealthEvent::Deregistered);
  s->from_config = false;
  s->drain_deadline = ns(now) + delay_ns_;
  // Nothing in flight: deregistration completes at once (see expire_draining).
  if (delay_ns_ == 0 || s->outstanding.load(std::memory_order_relaxed) == 0) {
    advance_health(s->health, config_.health_check, HealthEvent::DrainingExpired);
  }
  publish_locked(*s, before, ns(now));
  return {};
}

size_t TargetGroup::expire_draining(TimePoint now) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t moved = 0;
  for (size_t i = 0; i < slot_limit(); ++i) {
    Slot& s = slots_[i];
    // ALB: "If a deregistering target has no in-flight requests and no active connections,
    // Elastic Load Balancing immediately completes the deregistration process, without waiting
    // for the deregistration delay to elapse" (ALB User Guide, Deregistration delay). Idle
    // pooled keep-alive connections carry nothing and do not hold a target here.
    if (s.health.state != TargetState::Draining ||
        (s.drain_deadline > ns(now) && s.outstanding.load(std::memory_order_relaxed) > 0)) {
      continue;
    }
    advance_health(s.health, config_.health_check, HealthEvent::DrainingExpired);
    publish_locked(s, TargetState::Draining, ns(now));
    ++moved;
  }
  return moved;
}

TargetGroup::TimePoint TargetGroup::next_drain_deadline() const {
  std::lock_guard<std::mutex> lock(mutex_);
  int64_t next = INT64_MAX;
  for (size_t i = 0; i < slot_limit(); ++i) {
    const Slot& s = slots_[i];
    if (s.health.state == TargetState::Draining) next = std::min(next, s.drain_deadline);
  }
  return next == INT64_MAX ? TimePoint::max() : from_ns(next);
}

void TargetGroup::publish_locked(Slot& s, TargetState before, int64_t now) {
  TargetState after = s.health.state;
  if (after == TargetState::Unused && before != TargetState::Unused) s.unused_since = now;
  if (after == TargetState::Healthy && before != TargetState::Healthy) {
    // Slow start (ALB): a target that becomes healthy ramps up, but only when some target that
    // was registered before it is healthy and out of slow start (targets registered together
    // into an empty group do not).
    bool ramp = false;
    for (size_t i = 0; i < slot_limit() && slow_start_ns_ > 0 && !ramp; ++i) {
      const Slot& o = slots_[i];
      int64_t begin = o.slow_start_begin.load(std::memory_order_relaxed);
      ramp = &o != &s && o.health.state == TargetState::Healthy &&
             o.registered_at < s.registered_at &&
             (begin == kNoSlowStart || now - begin >= slow_start_ns_);
    }
    s.slow_start_begin.store(ramp ? now : kNoSlowStart, std::memory_order_relaxed);
  } else if (after != TargetState::Healthy) {
    // Unhealthy or deregistered targets leave slow start.
    s.slow_start_begin.store(kNoSlowStart, std::memory_order_relaxed);
  }
  s.state.store(static_cast<uint8_t>(after), std::memory_order_release);
}

void TargetGroup::due_probes(TimePoint now, std::vector<ProbeTask>& out) {
  if (!config_.health_check.enabled) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t t = ns(now);
  for (size_t i = 0; i < slot_limit(); ++i) {
    Slot& s = slots_[i];
    TargetState st = s.health.state;
    if (st == TargetState::Draining || st == TargetState::Unused ||
        s.state.load(std::memory_order_relaxed) == kFree || s.next_probe > t) {
      continue;
    }
    s.next_probe = t + interval_ns_;
    TargetAddress a = read_address(s);
    if (config_.health_check.port != 0) a.port = config_.health_check.port;
    out.push_back(ProbeTask{TargetRef{static_cast<uint32_t>(i), s.seq.load()}, a});
  }
}

TargetGroup::TimePoint TargetGroup::next_probe_at() const {
  if (!config_.health_check.enabled) return TimePoint::max();
  std::lock_guard<std::mutex> lock(mutex_);
  int64_t next = INT64_MAX;
  for (size_t i = 0; i < slot_limit(); ++i) {
    const Slot& s = slots_[i];
    if (registered(s.health.state)) next = std::min(next, s.next_probe);
  }
  return next == INT64_MAX ? TimePoint::max() : from_ns(next);
}

bool TargetGroup::current(const Slot& s, TargetRef t) const {
  return s.seq.load(std::memory_order_acquire) == t.generation;
}

void TargetGroup::report_probe(TargetRef t, ProbeResult result, int status, TimePoint now) {
  if (!t.valid() || t.slot >= slot_limit()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  Slot& s = slots_[t.slot];
  if (!current(s, t)) return;
  TargetState before = s.health.state;
  advance_health(s.health, config_.health_check, HealthEvent::Probe, result, status);
  if (result == ProbeResult::Ok && s.health.state != TargetState::Draining) {
    s.suspect_until.store(0, std::memory_order_relaxed);
    s.burst_5xx.store(0, std::memory_order_relaxed);
  }
  publish_locked(s, before, ns(now));
}

void TargetGroup::report_connect_failure(TargetRef t, TimePoint now) {
  if (!t.valid() || t.slot >= slot_limit()) return;
  Slot& s = slots_[t.slot];
  if (current(s, t)) s.suspect_until.store(ns(now) + interval_ns_, std::memory_order_relaxed);
}

void TargetGroup::report_5xx(TargetRef t, TimePoint now) {
  if (!t.valid() || t.slot >= slot_limit()) return;
  Slot& s = slots_[t.slot];
  if (!current(s, t)) return;
  if (s.burst_5xx.fetch_add(1, std::memory_order_relaxed) + 1 >= kPassive5xxBurst) {
    s.burst_5xx.store(0, std::memory_order_relaxed);
    s.suspect_until.store(ns(now) + interval_ns_, std::memory_order_relaxed);
  }
}

void TargetGroup::report_success(TargetRef t) {
  if (!t.valid() || t.slot >= slot_limit()) return;
  Slot& s = slots_[t.slot];
  // Load first: the common case (no burst) writes nothing to the shared line.
  if (s.burst_5xx.load(std::memory_order_relaxed) != 0 && current(s, t)) {
    s.burst_5xx.store(0, std::memory_order_relaxed);
  }
}

bool TargetGroup::address(TargetRef t, TargetAddress& out) const {
  if (!t.valid() || t.slot >= slot_limit() || (t.generation & 1) != 0) return false;
  const Slot& s = slots_[t.slot];
  if (s.seq.load(std::memory_order_acquire) != t.generation) return false;
  out = read_address(s);
  return s.seq.load(std::memory_order_relaxed) == t.generation;
}

void TargetGroup::begin_request(TargetRef t) {
  if (!t.valid() || t.slot >= slot_limit()) return;
  Slot& s = slots_[t.slot];
  if (current(s, t)) s.outstanding.fetch_add(1, std::memory_order_relaxed);
}

void TargetGroup::end_request(TargetRef t) {
  if (!t.valid() || t.slot >= slot_limit()) return;
  Slot& s = slots_[t.slot];
  // A reused slot restarted its count at 0; the old target's requests no longer count.
  if (current(s, t)) s.outstanding.fetch_sub(1, std::memory_order_relaxed);
}

int32_t TargetGroup::outstanding(TargetRef t) const {
  if (!t.valid() || t.slot >= slot_limit()) return 0;
  const Slot& s = slots_[t.slot];
  return current(s, t) ? s.outstanding.load(std::memory_order_relaxed) : 0;
}

bool TargetGroup::view(size_t i, TimePoint now, SlotView& out) const {
  const Slot& s = slots_[i];
  uint8_t state = s.state.load(std::memory_order_acquire);
  uint32_t seq = s.seq.load(std::memory_order_acquire);
  if (state == kFree || (seq & 1) != 0) return false;
  const int64_t t = ns(now);
  out.state = static_cast<TargetState>(state);
  out.generation = seq;
  out.identity = s.identity.load(std::memory_order_relaxed);
  out.suspect = s.suspect_until.load(std::memory_order_relaxed) > t;
  out.outstanding = s.outstanding.load(std::memory_order_relaxed);
  out.weight = kFullWeight;
  int64_t begin = s.slow_start_begin.load(std::memory_order_relaxed);
  if (begin != kNoSlowStart && slow_start_ns_ > 0 && t - begin < slow_start_ns_) {
    // Linear ramp over the window, from a small floor so a ramping target is never starved.
    auto w = static_cast<uint32_t>(static_cast<double>(t - begin) * kFullWeight /
                                   static_cast<double>(slow_start_ns_));
    out.weight = std::max(w, kMinSlowStartWeight);
  }
  return true;
}

std::vector<TargetStatus> TargetGroup::describe(TimePoint now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<TargetStatus> out;
  for (size_t i = 0; i < slot_limit(); ++i) {
    const Slot& s = slots_[i];
    SlotView v;
    if (!view(i, now, v)) continue;
    TargetStatus st;
    st.address = read_address(s);
    st.state = s.health.state;
    st.reason = s.health.reason;
    st.last_status = s.health.last_status;
    st.suspect = v.suspect;
    st.slow_start = v.weight < kFullWeight;
    st.outstanding = v.outstanding;
    out.push_back(st);
  }
  return out;
}

TargetCounts TargetGroup::counts(TimePoint now) const {
  TargetCounts c;
  for (size_t i = 0; i < slot_limit(); ++i) {
    SlotView v;
    if (!view(i, now, v)) continue;
    if (routable(v.state)) {
      ++(v.suspect ? c.unhealthy : c.healthy);
    } else if (v.state == TargetState::Unhealthy) {
      ++c.unhealthy;
    } else if (v.state == TargetState::Initial) {
      ++c.initial;
    } else if (v.state == TargetState::Draining) {
      ++c.draining;
    }
  }
  return c;
}

}  // namespace portico::routing
