#include "core/loop.h"

#include <catch2/catch.hpp>
#include <chrono>

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
