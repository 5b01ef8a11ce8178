// Clock interface so TTL and timeout logic can be tested with injected time. SystemClock is the
// real one. Methods are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>

namespace portico::core {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time for durations and timers.
  virtual std::chrono::steady_clock::time_point now() const = 0;
  // Wall-clock seconds since the epoch (for Date, Age, Last-Modified, logs).
  virtual std::chrono::system_clock::time_point wall() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override {
    return std::chrono::steady_clock::now();
  }
  std::chrono::system_clock::time_point wall() const override {
    return std::chrono::system_clock::now();
  }
  static const SystemClock& instance() {
    static const SystemClock c;
    return c;
  }
};

class ManualClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override { return mono_; }
  std::chrono::system_clock::time_point wall() const override { return wall_; }
  void advance(std::chrono::nanoseconds d) {
    mono_ += d;
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  }

 private:
  std::chrono::steady_clock::time_point mono_{};
  std::chrono::system_clock::time_point wall_{std::chrono::seconds(1'700'000'000)};
};

// Formats an IMF-fixdate (RFC 9110 §5.6.7) into `out` (at least 30 bytes); returns the length.
size_t format_http_date(int64_t epoch_seconds, char* out);
// Parses IMF-fixdate (and the obsolete RFC 850 / asctime forms); -1 when invalid.
int64_t parse_http_date(const char* s, size_t len);

}  // namespace portico::core
