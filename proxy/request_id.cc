#include "proxy/request_id.h"

#include <sys/random.h>

#include <chrono>
#include <cstring>

namespace portico::proxy {
namespace {
inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}  // namespace

RequestIdGenerator::RequestIdGenerator() {
  if (getrandom(s_, sizeof s_, 0) != static_cast<ssize_t>(sizeof s_)) {
    uint64_t t = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    for (int i = 0; i < 4; ++i) s_[i] = t * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(i);
  }
  if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;
}

uint64_t RequestIdGenerator::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

void RequestIdGenerator::next(std::string& out) {
  out.resize(kLength);
  next(out.data());
}

void RequestIdGenerator::next(char* out) {
  // 40 bytes = 320 bits = 53⅓ sextets -> 54 characters + "==" like standard base64 of 40 bytes.
  uint64_t bits = 0;
  int have = 0;
  for (int i = 0; i < 54; ++i) {
    if (have < 6) {
      bits = next_u64();
      have = 64;
    }
    out[i] = kAlphabet[bits & 63];
    bits >>= 6;
    have -= 6;
  }
  out[54] = '=';
  out[55] = '=';
}

}  // namespace portico::proxy
