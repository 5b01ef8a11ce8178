// Per-worker generator of X-Amz-Cf-Id values: 40 random bytes in URL-safe base64 with CloudFront's
// "==" padding (56 characters, the shape CloudFront sends). xoshiro256** seeded from getrandom();
// not cryptographic, unique enough to correlate logs. One instance per worker thread; not
// thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace portico::proxy {

class RequestIdGenerator {
 public:
  RequestIdGenerator();
  static constexpr size_t kLength = 56;
  // Writes a new id into `out` (replacing its contents).
  void next(std::string& out);
  // Writes a new id into out[0..kLength).
  void next(char* out);
  uint64_t next_u64();

 private:
  uint64_t s_[4];
};

}  // namespace portico::proxy
