// Fuzz target for the viewer-controlled inputs of ALB stickiness (routing/stickiness.h): the Cookie
// header (find_cookie), the User-Agent (chromium_80_or_later) and the sticky cookie's value
// (StickyCodec::decode, e.g. a forged AWSALB). The first 16 bytes pick an identity, an expiry, a
// clock and one character to change; the rest is the header value (a '\n' splits it into two
// Cookie fields) and the User-Agent.
// Invariants: a found cookie value lies inside one of the Cookie fields and holds no ';'; fields
// are searched in order; a well-formed "NAME=value" after other cookies gives the value back;
// chromium_80_or_later agrees with a plain reading of "Chrome/N" / "Chromium/N" and stays true
// with text around it; decode accepts only what encode produced under the same key and not yet
// expired, so any one changed character, a truncation or another key makes it fail.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "routing/stickiness.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using portico::routing::StickyCodec;
using portico::routing::StickyKey;

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

uint64_t load(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

bool inside(std::string_view part, const portico::core::Headers& headers) {
  for (const portico::core::Header& h : headers) {
    if (part.data() >= h.value.data() &&
        part.data() + part.size() <= h.value.data() + h.value.size())
      return true;
  }
  return false;
}

void check_find(const portico::core::Headers& headers, std::string_view name) {
  std::optional<std::string_view> v = portico::routing::find_cookie(headers, name);
  if (!v) return;
  FUZZ_CHECK(inside(*v, headers));
  FUZZ_CHECK(v->find(';') == std::string_view::npos);
}

// "Chrome/N" or "Chromium/N" with N >= 80 anywhere, N read in full (leading zeros and all).
bool chromium_reference(std::string_view ua) {
  for (std::string_view product : {std::string_view("Chrome/"), std::string_view("Chromium/")}) {
    for (size_t at = ua.find(product); at != std::string_view::npos;
         at = ua.find(product, at + 1)) {
      uint64_t n = 0;
      size_t digits = 0;
      for (size_t i = at + product.size(); i < ua.size() && ua[i] >= '0' && ua[i] <= '9'; ++i) {
        n = std::min<uint64_t>(n * 10 + static_cast<uint64_t>(ua[i] - '0'), 1'000'000);
        ++digits;
      }
      if (digits > 0 && n >= 80) return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 16) return 0;
  const uint64_t identity = load(data, 8);
  const auto expires = static_cast<int64_t>(load(data + 8, 4));          // 0 .. 2^32-1
  const int64_t now = expires - 1 + static_cast<int64_t>(data[12] % 3);  // just before, at, after
  const size_t pos = data[13] % StickyCodec::kValueLength;
  const char other = static_cast<char>(data[14]);
  const std::string_view name = (data[15] & 1) != 0 ? "AWSALB" : "AWSALBAPP-0";
  const std::string_view rest(reinterpret_cast<const char*>(data + 16), size - 16);

  // Cookie fields.
  portico::core::Headers one;
  one.add("Cookie", rest);
  one.add("X-Other", "AWSALB=nope");
  check_find(one, name);
  check_find(one, rest.substr(0, rest.find('=')));
  portico::core::Headers two;
  const size_t nl = rest.find('\n');
  const std::string_view first = rest.substr(0, nl);
  const std::string_view second = nl == std::string_view::npos ? "" : rest.substr(nl + 1);
  two.add("cookie", first);
  two.add("COOKIE", second);
  check_find(two, name);
  portico::core::Headers only_first;
  only_first.add("cookie", first);
  portico::core::Headers only_second;
  only_second.add("cookie", second);
  auto in_first = portico::routing::find_cookie(only_first, name);
  auto in_second = portico::routing::find_cookie(only_second, name);
  auto in_two = portico::routing::find_cookie(two, name);
  FUZZ_CHECK(in_two.has_value() == (in_first.has_value() || in_second.has_value()));
  if (in_two) FUZZ_CHECK(*in_two == (in_first ? *in_first : *in_second));

  // A well-formed pair after other cookies: its value comes back (without DQUOTEs around it).
  std::string value(first);
  std::erase(value, ';');
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
  portico::core::Headers built;
  built.add("Cookie", "a=1; AWSALBX=2;b; " + std::string(name) + "=" + value + "; " +
                          std::string(name) + "=later");
  auto found = portico::routing::find_cookie(built, name);
  FUZZ_CHECK(found);
  std::string_view want = value;
  if (want.size() >= 2 && want.front() == '"' && want.back() == '"') {
    want = want.substr(1, want.size() - 2);
  }
  FUZZ_CHECK(*found == want);

  // User-Agent.
  const bool chromium = portico::routing::chromium_80_or_later(rest);
  FUZZ_CHECK(chromium == chromium_reference(rest));
  if (chromium) {
    FUZZ_CHECK(portico::routing::chromium_80_or_later("Mozilla/5.0 (" + std::string(rest) + ") x"));
  }

  // Sticky values.
  const StickyCodec codec(StickyKey{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL});
  const StickyCodec other_codec(StickyKey{0x0706050403020100ULL, 0x0f0e0d0c0b0a0909ULL});
  if (std::optional<uint64_t> id = codec.decode(rest, 0)) {
    // Only an encoding of ours decodes: its identity and expiry (bytes 1-4 of the decoded raw
    // value, big-endian) encode to the same value.
    FUZZ_CHECK(rest.size() == StickyCodec::kValueLength);
    uint64_t bits = 0;
    for (size_t i = 0; i < 8; ++i) bits = (bits << 6) | kAlphabet.find(rest[i]);  // 6 raw bytes
    const auto expiry = static_cast<int64_t>((bits >> 8) & 0xffffffffu);
    StickyCodec::Value again = codec.encode(*id, expiry);
    FUZZ_CHECK(std::string_view(again.data(), again.size()) == rest);
  }
  const StickyCodec::Value v = codec.encode(identity, expires);
  const std::string_view good(v.data(), v.size());
  for (char c : good) FUZZ_CHECK(kAlphabet.find(c) != std::string_view::npos);
  std::optional<uint64_t> back = codec.decode(good, now);
  FUZZ_CHECK(back.has_value() == (expires > now));
  if (back) FUZZ_CHECK(*back == identity);
  FUZZ_CHECK(!other_codec.decode(good, now));
  FUZZ_CHECK(!codec.decode(good.substr(0, pos), now));
  FUZZ_CHECK(!codec.decode(std::string(good) + other, now));
  std::string forged(good);
  if (forged[pos] != other) {
    forged[pos] = other;
    FUZZ_CHECK(!codec.decode(forged, now));
    // The same change after the value was found in a Cookie header.
    portico::core::Headers cookie;
    cookie.add("Cookie", "AWSALB=" + forged);
    auto sent = portico::routing::find_cookie(cookie, "AWSALB");
    if (sent) FUZZ_CHECK(!codec.decode(*sent, now));
  }
  return 0;
}
