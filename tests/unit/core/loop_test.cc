#include "core/loop.h"

#include <event2/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>

using namespace std::chrono_literals;
using portico::core::Loop;
using portico::core::loop_now;
using portico::core::loop_wall;
using portico::core::Timer;

TEST_CASE("loop time is read once per iteration and moves on between iterations", "[loop]") {
  Loop loop;
  std::chrono::steady_clock::time_point first{};
  std::chrono::steady_clock::time_point again{};
  std::chrono::steady_clock::time_point later{};
  std::chrono::system_clock::time_point wall_first{};
  std::chrono::system_clock::time_point wall_later{};
  Timer second(loop, [&] {
    later = loop_now();
    wall_later = loop_wall();
    loop.stop();
  });
  Timer start(loop, [&] {
    first = loop_now();
    wall_first = loop_wall();
    // Busy for longer than the clock's granularity: the same iteration still sees one time.
    auto spin_until = std::chrono::steady_clock::now() + 2ms;
    while (std::chrono::steady_clock::now() < spin_until) {
    }
    again = loop_now();
    second.arm(5ms);
  });
  start.arm(0ms);
  loop.run();  // returns once the second timer stops it
  CHECK(again == first);
  // The next iteration reads the clocks afresh: at least the 2 ms spent spinning later. (Not the
  // timer's 5 ms: libevent may time it with a coarse clock from the iteration's start.)
  CHECK(later - first >= 2ms);
  CHECK(wall_later - wall_first >= 2ms);
  // Off a loop thread the clocks are read directly.
  auto a = loop_now();
  auto spin_until = std::chrono::steady_clock::now() + 1ms;
  while (std::chrono::steady_clock::now() < spin_until) {
  }
  CHECK(loop_now() > a);
}

TEST_CASE("loops batch epoll changes and survive an fd reused within one iteration", "[loop]") {
  Loop loop;
  CHECK(std::strcmp(event_base_get_method(loop.base()), "epoll (with changelist)") == 0);
  // A socket watched since an earlier iteration is deleted and closed, and a new socket that gets
  // the same number is registered in the same callback: the merged changes must still leave the
  // new socket watched (libevent turns the MOD that finds no fd into an ADD).
  int first[2] = {-1, -1};
  int second[2] = {-1, -1};
  struct Seen {
    Loop* loop;
    bool readable;
  } seen{&loop, false};
  auto on_read = [](evutil_socket_t, short, void* arg) {
    auto* s = static_cast<Seen*>(arg);
    s->readable = true;
    event_base_loopbreak(s->loop->base());
  };
  bool sockets_ok = true;  // no REQUIRE in the callbacks: it would throw through libevent
  // A socket pair whose first end is watched for reading; nullptr (and the loop stopped) if the
  // pair cannot be made.
  auto watch = [&](int(&fds)[2]) -> event* {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
      sockets_ok = false;
      loop.stop();
      return nullptr;
    }
    event* ev = event_new(loop.base(), fds[0], EV_READ | EV_PERSIST, on_read, &seen);
    event_add(ev, nullptr);
    return ev;
  };
  event* old_ev = nullptr;
  event* new_ev = nullptr;
  Timer guard(loop, [&] { loop.stop(); });  // only if the read event never comes
  Timer swap(loop, [&] {
    // The old socket is in the epoll set now (registered in an earlier iteration).
    event_free(old_ev);
    ::close(first[0]);
    guard.arm(5000ms);
    new_ev = watch(second);
    if (new_ev != nullptr) sockets_ok = ::write(second[1], "x", 1) == 1;
  });
  Timer start(loop, [&] {
    old_ev = watch(first);
    if (old_ev != nullptr) swap.arm(1ms);
  });
  start.arm(0ms);
  loop.run();
  REQUIRE(sockets_ok);
  CHECK(second[0] == first[0]);  // the case under test: the number was reused
  CHECK(seen.readable);
  event_free(new_ev);
  ::close(first[1]);
  ::close(second[0]);
  ::close(second[1]);
}
