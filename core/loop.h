// Loop: thin owner of one libevent event_base (one per worker thread, plus the main thread's).
// Timer: a one-shot or periodic libevent timer owned by its creator; destroying it cancels it, so
// its callback never fires after destruction. All methods run on the loop's own thread, except
// Loop::post, which any thread may call.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <vector>

struct event_base;
struct event;
struct timeval;

namespace portico::core {

class Loop {
 public:
  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  event_base* base() const { return base_; }
  // Runs until stop() or no events remain.
  void run();
  // Makes run() return after the current callbacks; any thread.
  void stop();
  // Runs fn on this loop's thread soon; any thread, thread-safe.
  void post(std::function<void()> fn);
  // A libevent "common timeout" for `d` (loop thread only): events sharing a duration go in a
  // queue instead of the timer heap, so re-arming one per request costs O(1). The pointer stays
  // valid for the loop's lifetime; the timeval may be copied (bufferevent_set_timeouts does).
  const timeval* common_timeout(std::chrono::milliseconds d);

 private:
  static void on_wakeup(int fd, short what, void* arg);
  event_base* base_;
  event* wakeup_ev_ = nullptr;
  int wakeup_fds_[2] = {-1, -1};
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
  std::vector<std::pair<std::chrono::milliseconds::rep, const timeval*>> common_timeouts_;
};

// Callback-time clocks. On a loop thread inside Loop::run they read each clock at most once per
// loop iteration, at the first call after the poll returns (nginx does the same for its
// $request_time and timers), so the several timestamps a request takes cost one clock read. Off a
// loop thread they read the clocks. Durations measured with them have the granularity of one
// loop iteration.
std::chrono::steady_clock::time_point loop_now();
std::chrono::system_clock::time_point loop_wall();

class Timer {
 public:
  Timer(Loop& loop, std::function<void()> cb);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  // (Re)arms the timer to fire once after `after`.
  void arm(std::chrono::milliseconds after);
  void cancel();
  bool armed() const;

 private:
  static void on_fire(int fd, short what, void* arg);
  Loop& loop_;
  event* ev_;
  std::function<void()> cb_;
};

}  // namespace portico::core
