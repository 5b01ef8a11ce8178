// IpAddress and Cidr: numeric IPv4/IPv6 addresses and prefixes for ALB's source-ip condition and
// for target identities. Plain values; parse() and contains() allocate nothing; any thread.
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are stored as IPv4 so v4 CIDRs match them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portico::routing {

struct IpAddress {
  enum class Family : uint8_t { None, V4, V6 };

  Family family = Family::None;
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4 bytes

  // "192.0.2.1", "2001:db8::1"; surrounding spaces and IPv6 brackets are tolerated. nullopt when
  // `text` is not a numeric address.
  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);

  bool valid() const { return family != Family::None; }
  // Canonical text ("2001:db8::1", no brackets); "" when not valid().
  std::string to_string() const;
  bool operator==(const IpAddress&) const = default;
};

struct Cidr {
  IpAddress base;  // host bits cleared
  uint8_t prefix = 0;

  // "192.0.2.0/24", "2001:db8::/32" (the prefix length is required); host bits are cleared.
  static std::optional<Cidr> parse(std::string_view text);
  // True when `ip` has the same family and its first `prefix` bits equal base's.
  bool contains(const IpAddress& ip) const;
};

}  // namespace portico::routing
