#include "core/loop.h"

#include <event2/event.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/assert.h"

namespace portico::core {

namespace {
// epoll with libevent's changelist: the epoll_ctl calls an iteration's event_add/event_del would
// make are merged per fd and applied once, just before the next epoll_wait, so a write event that
// is added and deleted again in one pass (OpenSSL's bufferevent does so for every response)
// costs nothing, and a read+write change is one call. libevent's caveat is fds cloned with dup(),
// which Portico never registers. An fd closed and reused within one iteration is handled by
// libevent (a MOD that finds no fd is retried as an ADD; a DEL of a closed fd is ignored).
event_base* new_base() {
  event_config* cfg = event_config_new();
  PORTICO_CHECK(cfg != nullptr);
  event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  event_base* base = event_base_new_with_config(cfg);
  event_config_free(cfg);
  return base;
}
}  // namespace

Loop::Loop() : base_(new_base()) {
  PORTICO_CHECK(base_ != nullptr);
  PORTICO_CHECK(::pipe2(wakeup_fds_, O_NONBLOCK | O_CLOEXEC) == 0);
  wakeup_ev_ = event_new(base_, wakeup_fds_[0], EV_READ | EV_PERSIST, &Loop::on_wakeup, this);
  event_add(wakeup_ev_, nullptr);
}

Loop::~Loop() {
  event_free(wakeup_ev_);
  ::close(wakeup_fds_[0]);
  ::close(wakeup_fds_[1]);
  event_base_free(base_);
}

namespace {
// The running loop of this thread and the times read for its current iteration: Loop::run runs
// one iteration per event_base_loop(EVLOOP_ONCE) call and marks both stale before each, so the
// first timestamp asked for after a poll reads the clock and every later one in that iteration is
// a thread-local load (libevent's own cached time costs a base lock per call).
thread_local event_base* t_base = nullptr;
thread_local bool t_now_valid = false;
thread_local bool t_wall_valid = false;
thread_local std::chrono::steady_clock::time_point t_now{};
thread_local std::chrono::system_clock::time_point t_wall{};
}  // namespace

void Loop::run() {
  event_base* outer = t_base;
  t_base = base_;
  for (;;) {
    t_now_valid = false;
    t_wall_valid = false;
    // 1: no events left; -1: error. A loopbreak (Loop::stop, a drained worker) is only ever
    // called from a callback of this loop, so the flag is still set when the iteration returns.
    if (event_base_loop(base_, EVLOOP_ONCE) != 0 || event_base_got_break(base_) ||
        event_base_got_exit(base_)) {
      break;
    }
  }
  t_base = outer;
}

std::chrono::steady_clock::time_point loop_now() {
  if (t_base == nullptr) return std::chrono::steady_clock::now();
  if (!t_now_valid) {
    t_now = std::chrono::steady_clock::now();
    t_now_valid = true;
  }
  return t_now;
}

std::chrono::system_clock::time_point loop_wall() {
  if (t_base == nullptr) return std::chrono::system_clock::now();
  if (!t_wall_valid) {
    t_wall = std::chrono::system_clock::now();
    t_wall_valid = true;
  }
  return t_wall;
}

void Loop::stop() {
  post([this] { event_base_loopbreak(base_); });
}

const timeval* Loop::common_timeout(std::chrono::milliseconds d) {
  for (const auto& [ms, tv] : common_timeouts_) {
    if (ms == d.count()) return tv;
  }
  timeval tv{static_cast<time_t>(d.count() / 1000),
             static_cast<suseconds_t>((d.count() % 1000) * 1000)};
  const timeval* common = event_base_init_common_timeout(base_, &tv);
  common_timeouts_.emplace_back(d.count(), common);
  return common;
}

void Loop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    posted_.push_back(std::move(fn));
  }
  char b = 1;
  ssize_t n = ::write(wakeup_fds_[1], &b, 1);  // EAGAIN means a wakeup is already pending.
  (void)n;
}

void Loop::on_wakeup(int fd, short /*what*/, void* arg) {
  auto* self = static_cast<Loop*>(arg);
  char buf[64];
  while (::read(fd, buf, sizeof buf) > 0) {
  }
  std::vector<std::function<void()>> work;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    work.swap(self->posted_);
  }
  for (auto& fn : work) fn();
}

Timer::Timer(Loop& loop, std::function<void()> cb)
    : loop_(loop), ev_(evtimer_new(loop.base(), &Timer::on_fire, this)), cb_(std::move(cb)) {}

Timer::~Timer() { event_free(ev_); }

void Timer::arm(std::chrono::milliseconds after) { evtimer_add(ev_, loop_.common_timeout(after)); }

void Timer::cancel() { evtimer_del(ev_); }

bool Timer::armed() const { return evtimer_pending(ev_, nullptr) != 0; }

void Timer::on_fire(int /*fd*/, short /*what*/, void* arg) {
  auto* self = static_cast<Timer*>(arg);
  self->cb_();
}

}  // namespace portico::core
