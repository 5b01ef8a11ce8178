#include "routing/ip_address.h"

#include <arpa/inet.h>

#include <cstring>

namespace portico::routing {
namespace {

constexpr size_t kMaxText = 64;  // longer than any address text (INET6_ADDRSTRLEN is 46)

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  text = trim(text);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty() || text.size() >= kMaxText) return std::nullopt;
  char buf[kMaxText];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress ip;
  if (inet_pton(AF_INET, buf, ip.bytes.data()) == 1) {
    ip.family = Family::V4;
    return ip;
  }
  if (inet_pton(AF_INET6, buf, ip.bytes.data()) != 1) return std::nullopt;
  ip.family = Family::V6;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(ip.bytes.data(), kMapped, sizeof kMapped) == 0) {
    std::memmove(ip.bytes.data(), ip.bytes.data() + 12, 4);
    std::memset(ip.bytes.data() + 4, 0, 12);
    ip.family = Family::V4;
  }
  return ip;
}

IpAddress IpAddress::v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddress ip;
  ip.family = Family::V4;
  ip.bytes[0] = a;
  ip.bytes[1] = b;
  ip.bytes[2] = c;
  ip.bytes[3] = d;
  return ip;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == Family::None) return {};
  inet_ntop(family == Family::V4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view len = text.substr(slash + 1);
  if (len.empty() || len.size() > 3) return std::nullopt;
  unsigned prefix = 0;
  for (char c : len) {
    if (c < '0' || c > '9') return std::nullopt;
    prefix = prefix * 10 + static_cast<unsigned>(c - '0');
  }
  std::string_view addr = text.substr(0, slash);
  std::optional<IpAddress> ip = IpAddress::parse(addr);
  // An IPv4-mapped IPv6 base would silently change meaning as IPv4; refuse it.
  if (!ip || (ip->family == IpAddress::Family::V4 && addr.find(':') != std::string_view::npos)) {
    return std::nullopt;
  }
  unsigned bits = ip->family == IpAddress::Family::V4 ? 32 : 128;
  if (prefix > bits) return std::nullopt;
  Cidr c;
  c.prefix = static_cast<uint8_t>(prefix);
  c.base = *ip;
  for (unsigned bit = prefix; bit < bits; ++bit) {
    c.base.bytes[bit / 8] = static_cast<uint8_t>(c.base.bytes[bit / 8] & ~(0x80u >> (bit % 8)));
  }
  return c;
}

bool Cidr::contains(const IpAddress& ip) const {
  if (ip.family != base.family) return false;
  size_t full = prefix / 8;
  if (std::memcmp(ip.bytes.data(), base.bytes.data(), full) != 0) return false;
  unsigned rest = prefix % 8;
  if (rest == 0) return true;
  auto mask = static_cast<uint8_t>(0xff00u >> rest);
  return (ip.bytes[full] & mask) == base.bytes[full];
}

}  // namespace portico::routing
