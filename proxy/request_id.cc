#include "proxy/request_id.h"

#include <sys/random.h>

#include <chrono>
#include <cstring>

namespace portico::proxy {
namespace {
inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Every 12-bit value as its two base64 characters: an id is 27 table reads rather than 54
// shift-and-mask steps (it is made for every request).
struct PairTable {
  char pairs[4096][2];
  constexpr PairTable() : pairs{} {
    for (int v = 0; v < 4096; ++v) {
      pairs[v][0] = kAlphabet[v & 63];
      pairs[v][1] = kAlphabet[v >> 6];
    }
  }
};
constexpr PairTable kPairs;
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
  // Each 64-bit draw gives five 12-bit pairs of characters: five draws make 50 characters, a sixth
  // the last 4.
  auto pair = [out](int at, uint64_t bits) { std::memcpy(out + at, kPairs.pairs[bits & 4095], 2); };
  for (int at = 0; at < 50; at += 10) {
    const uint64_t bits = next_u64();
    pair(at, bits);
    pair(at + 2, bits >> 12);
    pair(at + 4, bits >> 24);
    pair(at + 6, bits >> 36);
    pair(at + 8, bits >> 48);
  }
  const uint64_t last = next_u64();
  pair(50, last);
  pair(52, last >> 12);
  out[54] = '=';
  out[55] = '=';
}

}  // namespace portico::proxy
