// Signals: asynchronous process signals (SIGHUP reload, SIGTERM drain, ...) read from a signalfd
// on one loop, instead of handlers run on whichever thread the kernel picks.
//
// create() blocks the signals in the calling thread, and threads started afterwards inherit the
// mask, so a signal stays pending for the process until the loop reads it (signalfd(2)). Create
// it on the main thread before starting any other thread. Nothing runs in signal-handler
// context, so the callbacks may do anything a loop callback may. ThreadSanitizer, which defers a
// handler until the receiving thread's next intercepted call, cannot lose a signal this way; with
// libevent's evsignal it sometimes dropped a SIGHUP sent right after startup.
//
// The signals stay blocked after destruction: one arriving during teardown stays pending rather
// than killing the process by its default action. Loop thread only; on_signal must not destroy
// the Signals object.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>

#include "core/loop.h"
#include "core/result.h"

namespace portico::core {

class Signals {
 public:
  static Result<std::unique_ptr<Signals>> create(Loop& loop, std::initializer_list<int> sigs,
                                                 std::function<void(int)> on_signal);
  ~Signals();
  Signals(const Signals&) = delete;
  Signals& operator=(const Signals&) = delete;

 private:
  Signals(int fd, std::function<void(int)> on_signal) : fd_(fd), on_signal_(std::move(on_signal)) {}
  static void on_readable(int fd, short what, void* arg);
  int fd_;
  event* ev_ = nullptr;
  std::function<void(int)> on_signal_;
};

}  // namespace portico::core
