#include "routing/stickiness.h"

#include <cstring>
#include <random>

#include "core/clock.h"

namespace portico::routing {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kRawLength = 21;  // version 1 + expiry 4 + masked identity 8 + MAC 8
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

void sip_round(uint64_t& v0, uint64_t& v1, uint64_t& v2, uint64_t& v3) {
  v0 += v1;
  v1 = rotl(v1, 13);
  v1 ^= v0;
  v0 = rotl(v0, 32);
  v2 += v3;
  v3 = rotl(v3, 16);
  v3 ^= v2;
  v0 += v3;
  v3 = rotl(v3, 21);
  v3 ^= v0;
  v2 += v1;
  v1 = rotl(v1, 17);
  v1 ^= v2;
  v2 = rotl(v2, 32);
}

uint64_t load_le(const unsigned char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

void store_be(unsigned char* p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(v >> (8 * (n - 1 - i)));
}

uint64_t load_be(const unsigned char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

int decode_char(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// The pad masking the identity: a keyed function of the expiry, so equal identities with
// different expiries look unrelated.
uint64_t pad(const StickyKey& key, const unsigned char* expiry) {
  char buf[5] = {'P'};
  std::memcpy(buf + 1, expiry, 4);
  return siphash24(key, std::string_view(buf, sizeof buf));
}

}  // namespace

StickyKey StickyKey::random() {
  std::random_device rd;
  auto word = [&rd] { return (static_cast<uint64_t>(rd()) << 32) ^ rd(); };
  return StickyKey{word(), word()};
}

uint64_t siphash24(const StickyKey& key, std::string_view data) {
  uint64_t v0 = 0x736f6d6570736575ULL ^ key.k0;
  uint64_t v1 = 0x646f72616e646f6dULL ^ key.k1;
  uint64_t v2 = 0x6c7967656e657261ULL ^ key.k0;
  uint64_t v3 = 0x7465646279746573ULL ^ key.k1;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  size_t whole = n - n % 8;
  for (size_t i = 0; i < whole; i += 8) {
    uint64_t m = load_le(p + i, 8);
    v3 ^= m;
    sip_round(v0, v1, v2, v3);
    sip_round(v0, v1, v2, v3);
    v0 ^= m;
  }
  uint64_t b = (static_cast<uint64_t>(n) << 56) | load_le(p + whole, n % 8);
  v3 ^= b;
  sip_round(v0, v1, v2, v3);
  sip_round(v0, v1, v2, v3);
  v0 ^= b;
  v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) sip_round(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t sticky_group_identity(std::string_view target_group_name) {
  // FNV-1a: stable across processes and restarts (AWSALBTG names a group, not a secret).
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : target_group_name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

StickyCodec::Value StickyCodec::encode(uint64_t identity, int64_t expires_unix) const {
  unsigned char raw[kRawLength];
  raw[0] = kVersion;
  uint64_t expires = expires_unix < 0 ? 0 : static_cast<uint64_t>(expires_unix);
  if (expires > UINT32_MAX) expires = UINT32_MAX;
  store_be(raw + 1, expires, 4);
  store_be(raw + 5, identity ^ pad(key_, raw + 1), 8);
  store_be(raw + 13, siphash24(key_, std::string_view(reinterpret_cast<char*>(raw), 13)), 8);
  Value out{};
  for (size_t i = 0, o = 0; i < kRawLength; i += 3) {
    uint32_t v = (uint32_t{raw[i]} << 16) | (uint32_t{raw[i + 1]} << 8) | raw[i + 2];
    for (int s = 18; s >= 0; s -= 6) out[o++] = kAlphabet[(v >> s) & 63];
  }
  return out;
}

std::optional<uint64_t> StickyCodec::decode(std::string_view value, int64_t now_unix) const {
  if (value.size() != kValueLength) return std::nullopt;
  unsigned char raw[kRawLength];
  for (size_t i = 0, o = 0; i < kValueLength; i += 4) {
    uint32_t v = 0;
    for (size_t j = 0; j < 4; ++j) {
      int d = decode_char(value[i + j]);
      if (d < 0) return std::nullopt;
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    raw[o++] = static_cast<unsigned char>(v >> 16);
    raw[o++] = static_cast<unsigned char>(v >> 8);
    raw[o++] = static_cast<unsigned char>(v);
  }
  if (raw[0] != kVersion) return std::nullopt;
  uint64_t mac = siphash24(key_, std::string_view(reinterpret_cast<char*>(raw), 13));
  // Compare without an early exit, so the time taken says nothing about the MAC.
  uint64_t diff = mac ^ load_be(raw + 13, 8);
  if (diff != 0) return std::nullopt;
  auto expires = static_cast<int64_t>(load_be(raw + 1, 4));
  if (expires <= now_unix) return std::nullopt;
  return load_be(raw + 5, 8) ^ pad(key_, raw + 1);
}

std::optional<std::string_view> find_cookie(const core::Headers& headers, std::string_view name) {
  for (const core::Header& h : headers) {
    if (!core::iequals(h.name, "cookie")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      size_t semi = rest.find(';');
      std::string_view pair = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
      size_t eq = pair.find('=');
      if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
      std::string_view value = pair.substr(eq + 1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return value;
    }
  }
  return std::nullopt;
}

void format_set_cookie(std::string& out, std::string_view name, std::string_view value,
                       int64_t expires_unix, bool cors) {
  char date[32];
  size_t len = core::format_http_date(expires_unix, date);
  out.clear();
  out.append(name).append("=").append(value).append("; Expires=").append(date, len);
  out.append("; Path=/");
  if (cors) out.append("; SameSite=None; Secure");
}

bool response_sets_cookie(const core::Headers& response_headers, std::string_view name) {
  for (const core::Header& h : response_headers) {
    if (!core::iequals(h.name, "set-cookie")) continue;
    // RFC 6265 §5.2: the name is what precedes the first '=' of the first ';'-separated part,
    // with surrounding whitespace removed.
    std::string_view pair = std::string_view(h.value).substr(0, h.value.find(';'));
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view n = pair.substr(0, eq);
    while (!n.empty() && (n.front() == ' ' || n.front() == '\t')) n.remove_prefix(1);
    while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
    if (n == name) return true;
  }
  return false;
}

bool chromium_80_or_later(std::string_view user_agent) {
  for (std::string_view product : {std::string_view("Chrome/"), std::string_view("Chromium/")}) {
    for (size_t at = user_agent.find(product); at != std::string_view::npos;
         at = user_agent.find(product, at + 1)) {
      size_t i = at + product.size();
      // Every digit is read (saturating), not just the first six: "Chrome/0000080" is 80.
      int major = 0;
      size_t digits = 0;
      while (i < user_agent.size() && user_agent[i] >= '0' && user_agent[i] <= '9') {
        if (major < 1'000'000) major = major * 10 + (user_agent[i] - '0');
        ++i;
        ++digits;
      }
      if (digits > 0 && major >= 80) return true;
    }
  }
  return false;
}

}  // namespace portico::routing
