#include "core/signals.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>
#include <vector>

using portico::core::Loop;
using portico::core::Signals;

namespace {

// Restores the calling thread's signal mask on scope exit (Signals leaves its signals blocked).
struct MaskGuard {
  sigset_t old;
  MaskGuard() { pthread_sigmask(SIG_SETMASK, nullptr, &old); }
  ~MaskGuard() { pthread_sigmask(SIG_SETMASK, &old, nullptr); }
};

bool blocked_here(int sig) {
  sigset_t s;
  pthread_sigmask(SIG_SETMASK, nullptr, &s);
  return sigismember(&s, sig) == 1;
}

}  // namespace

TEST_CASE("signals sent to the process before the loop runs are all read on the loop",
          "[signals]") {
  MaskGuard guard;
  Loop loop;
  std::vector<int> got;
  auto sigs = Signals::create(loop, {SIGUSR1, SIGUSR2}, [&](int sig) {
    got.push_back(sig);
    if (got.size() == 2) loop.stop();
  });
  REQUIRE(sigs.ok());
  // Sent before the loop runs: they wait in the signalfd (unblocked, SIGUSR1's default action
  // would have ended this test binary). Pending standard signals are read lowest number first.
  REQUIRE(kill(getpid(), SIGUSR1) == 0);
  REQUIRE(kill(getpid(), SIGUSR2) == 0);
  loop.run();
  REQUIRE(got.size() == 2);
  CHECK(got[0] == SIGUSR1);
  CHECK(got[1] == SIGUSR2);
}

TEST_CASE("threads started after create() inherit the blocked signals", "[signals]") {
  MaskGuard guard;
  REQUIRE_FALSE(blocked_here(SIGUSR1));
  Loop loop;
  auto sigs = Signals::create(loop, {SIGUSR1}, [](int) {});
  REQUIRE(sigs.ok());
  CHECK(blocked_here(SIGUSR1));
  bool in_thread = false;
  bool other = true;
  std::thread t([&] {
    in_thread = blocked_here(SIGUSR1);
    other = blocked_here(SIGUSR2);  // not asked for: left open
  });
  t.join();
  CHECK(in_thread);
  CHECK_FALSE(other);
}

TEST_CASE("a signal sent from another thread reaches the loop", "[signals]") {
  // The helper thread would be a candidate for delivery had it not inherited the mask, and the
  // default action (terminate) would run there.
  MaskGuard guard;
  Loop loop;
  int got = 0;
  auto sigs = Signals::create(loop, {SIGUSR2}, [&](int sig) {
    got = sig;
    loop.stop();
  });
  REQUIRE(sigs.ok());
  std::thread helper([] { REQUIRE(kill(getpid(), SIGUSR2) == 0); });
  helper.join();
  loop.run();
  CHECK(got == SIGUSR2);
}
