#include "config/values.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <limits>

#include "config/loader.h"
#include "core/http.h"

namespace portico::config {
namespace {

core::Error config_error(std::string detail) {
  return core::Error::make(core::ErrorKind::Config, core::Side::Internal, std::move(detail));
}

// Splits "123unit" into the number and the unit; false when there are no leading digits, the
// number overflows, or a sign or space is present.
bool split_number(std::string_view text, uint64_t& number, std::string_view& unit) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, number);
  if (ec != std::errc() || ptr != text.data() + digits) return false;
  unit = text.substr(digits);
  return true;
}

struct Unit {
  std::string_view name;
  uint64_t factor;
};

}  // namespace

core::Result<Duration> parse_duration(std::string_view text) {
  static constexpr std::array<Unit, 5> kUnits = {
      {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}}};
  uint64_t number = 0;
  std::string_view unit;
  if (split_number(text, number, unit)) {
    for (const Unit& u : kUnits) {
      if (u.name != unit) continue;
      if (number > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / u.factor) {
        return config_error("duration " + detail::quote(text) + " is too large");
      }
      return Duration(static_cast<Duration::rep>(number * u.factor));
    }
  }
  return config_error("invalid duration " + detail::quote(text) +
                      ": expected a whole number with unit ms, s, m or h (e.g. 250ms, 10s, 5m), "
                      "or a bare number of seconds");
}

core::Result<uint64_t> parse_size(std::string_view text) {
  static constexpr uint64_t kKi = 1024;
  static constexpr std::array<Unit, 10> kUnits = {{{"", 1},
                                                   {"B", 1},
                                                   {"KB", 1000},
                                                   {"MB", 1000 * 1000},
                                                   {"GB", 1000 * 1000 * 1000},
                                                   {"TB", 1000ull * 1000 * 1000 * 1000},
                                                   {"KiB", kKi},
                                                   {"MiB", kKi * kKi},
                                                   {"GiB", kKi * kKi * kKi},
                                                   {"TiB", kKi * kKi * kKi * kKi}}};
  uint64_t number = 0;
  std::string_view unit;
  if (split_number(text, number, unit)) {
    for (const Unit& u : kUnits) {
      if (u.name != unit) continue;
      if (number > std::numeric_limits<uint64_t>::max() / u.factor) {
        return config_error("size " + detail::quote(text) + " is too large");
      }
      return number * u.factor;
    }
  }
  return config_error("invalid size " + detail::quote(text) +
                      ": expected a whole number of bytes, optionally with unit B, KB, MB, GB, "
                      "TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)");
}

namespace detail {
namespace {

bool parse_port(std::string_view text, uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return false;
  port = static_cast<uint16_t>(value);
  return true;
}

bool is_ipv4(const std::string& s) {
  in_addr addr{};
  return inet_pton(AF_INET, s.c_str(), &addr) == 1;
}

bool is_ipv6(const std::string& s) {
  in6_addr addr{};
  return inet_pton(AF_INET6, s.c_str(), &addr) == 1;
}

// Splits "host:port" or "[v6]:port". `host` keeps no brackets; `bracketed` says they were there.
bool split_host_port(std::string_view text, std::string& host, std::string_view& port,
                     bool& bracketed, bool& has_port) {
  bracketed = false;
  has_port = false;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(text.substr(1, close - 1));
    bracketed = true;
    std::string_view rest = text.substr(close + 1);
    if (rest.empty()) return true;
    if (rest.front() != ':') return false;
    has_port = true;
    port = rest.substr(1);
    return true;
  }
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    host = std::string(text);
    return true;
  }
  host = std::string(text.substr(0, colon));
  if (host.find(':') != std::string::npos) return false;  // bare IPv6 needs brackets
  has_port = true;
  port = text.substr(colon + 1);
  return true;
}

}  // namespace

core::Result<HostPort> parse_listen_address(std::string_view text) {
  const std::string quoted = quote(text);
  std::string host;
  std::string_view port_text;
  bool bracketed = false;
  bool has_port = false;
  if (!split_host_port(text, host, port_text, bracketed, has_port)) {
    return config_error("invalid address " + quoted +
                        ": expected host:port, e.g. 127.0.0.1:8080 or [::1]:8080");
  }
  if (!has_port) {
    return config_error("address " + quoted + " has no port: expected host:port");
  }
  HostPort out;
  if (!parse_port(port_text, out.port)) {
    return config_error("invalid port in address " + quoted + ": expected 0-65535");
  }
  bool host_ok = bracketed ? is_ipv6(host) : (host == "localhost" || is_ipv4(host));
  if (!host_ok) {
    return config_error("invalid host in address " + quoted +
                        ": expected an IPv4 address, [IPv6 address] or localhost");
  }
  out.host = std::move(host);
  return out;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "::1") return true;
  std::string h(host);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  return inet_pton(AF_INET6, h.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

core::Result<OriginUrl> parse_origin_url(std::string_view url) {
  const std::string quoted = quote(url);
  std::string lower = core::to_lower(url);
  std::string_view rest;
  OriginUrl out;
  if (lower.starts_with("https://")) {
    return config_error("https origins are not supported yet (use http://)");
  }
  if (!lower.starts_with("http://")) {
    return config_error("invalid url " + quoted + ": expected http://host[:port]");
  }
  out.scheme = "http";
  rest = url.substr(7);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (end != std::string_view::npos && rest.substr(end) != "/") {
    return config_error("url " + quoted +
                        " must not have a path, query or fragment (put a path prefix in "
                        "origin_path)");
  }
  if (authority.find('@') != std::string_view::npos) {
    return config_error("url " + quoted + " must not contain user information");
  }
  std::string host;
  std::string_view port_text;
  bool bracketed = false;
  bool has_port = false;
  if (!split_host_port(authority, host, port_text, bracketed, has_port)) {
    return config_error("invalid url " + quoted + ": expected http://host[:port]");
  }
  if (has_port && (!parse_port(port_text, out.port) || out.port == 0)) {
    return config_error("invalid port in url " + quoted + ": expected 1-65535");
  }
  bool host_ok = bracketed ? is_ipv6(host) : (is_hostname(host) || is_ipv4(host));
  if (!host_ok) {
    return config_error("invalid host in url " + quoted +
                        ": expected a host name, an IPv4 address or [IPv6 address]");
  }
  out.host = std::move(host);
  return out;
}

core::Result<HostPort> parse_node_address(std::string_view text) {
  const std::string quoted = quote(text);
  std::string host;
  std::string_view port_text;
  bool bracketed = false;
  bool has_port = false;
  if (!split_host_port(text, host, port_text, bracketed, has_port) || !has_port) {
    return config_error("invalid address " + quoted +
                        ": expected host:port, e.g. 127.0.0.1:6379 or redis.example:6379");
  }
  HostPort out;
  if (!parse_port(port_text, out.port) || out.port == 0) {
    return config_error("invalid port in address " + quoted + ": expected 1-65535");
  }
  bool host_ok = bracketed ? is_ipv6(host) : (is_hostname(host) || is_ipv4(host));
  if (!host_ok) {
    return config_error("invalid host in address " + quoted +
                        ": expected a host name, an IPv4 address or [IPv6 address]");
  }
  out.host = std::move(host);
  return out;
}

bool is_ip_address(std::string_view host) {
  std::string h(host);
  return is_ipv4(h) || is_ipv6(h);
}

std::string s3_bucket_name_problem(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return "must be 3 to 63 characters long";
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
    if (!ok) return "may contain only lowercase letters, digits, '.' and '-'";
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) {
    return "must start and end with a lowercase letter or a digit";
  }
  if (name.find("..") != std::string_view::npos) return "must not contain two adjacent periods";
  if (is_ipv4(std::string(name))) return "must not be formatted as an IP address";
  for (std::string_view prefix : {"xn--", "sthree-", "amzn-s3-demo-"}) {
    if (name.starts_with(prefix)) return "must not start with the reserved prefix " + quote(prefix);
  }
  for (std::string_view suffix : {"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"}) {
    if (name.ends_with(suffix)) return "must not end with the reserved suffix " + quote(suffix);
  }
  return {};
}

bool is_aws_region(std::string_view region) {
  // words ("us", "gov", "west") separated by '-', then '-' and 1-2 digits.
  size_t dash = region.rfind('-');
  if (dash == std::string_view::npos || dash + 1 == region.size() || region.size() - dash > 3) {
    return false;
  }
  for (char c : region.substr(dash + 1)) {
    if (c < '0' || c > '9') return false;
  }
  std::string_view words = region.substr(0, dash);
  size_t count = 0;
  size_t len = 0;
  for (size_t i = 0; i <= words.size(); ++i) {
    if (i == words.size() || words[i] == '-') {
      if (len == 0) return false;
      ++count;
      len = 0;
    } else if (words[i] >= 'a' && words[i] <= 'z') {
      ++len;
    } else {
      return false;
    }
  }
  return count >= 2 && words.find('-') >= 2;
}

std::string_view aws_dns_suffix(std::string_view region) {
  return region.starts_with("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
}

bool is_hostname(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  char prev = '.';
  for (char c : name) {
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else {
      bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (!alnum && c != '-') return false;
      if (c == '-' && label == 0) return false;
      if (++label > 63) return false;
    }
    prev = c;
  }
  return label > 0 && prev != '-';
}

bool is_alias(std::string_view name) {
  if (name.starts_with("*.")) name.remove_prefix(2);
  return is_hostname(name);
}

bool is_token(std::string_view s) {
  static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           kExtra.find(c) != std::string_view::npos;
  });
}

std::string format_duration(Duration d) {
  auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string printable(std::string_view s) {
  constexpr size_t kMaxShown = 60;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == kMaxShown) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string quote(std::string_view s) { return "'" + printable(s) + "'"; }

uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string default_via_host(std::string_view distribution_id) {
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx",
                static_cast<unsigned long long>(fnv1a64(distribution_id)));
  return std::string(hex) + ".cloudfront.net";
}

size_t edit_distance(std::string_view a, std::string_view b, size_t limit) {
  size_t diff = a.size() > b.size() ? a.size() - b.size() : b.size() - a.size();
  if (diff > limit) return limit + 1;
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    size_t best = row[0];
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
      best = std::min(best, row[j]);
    }
    if (best > limit) return limit + 1;
  }
  return std::min(row[b.size()], limit + 1);
}

std::string closest_match(std::string_view word, const std::vector<std::string_view>& candidates) {
  constexpr size_t kLimit = 2;
  std::string_view best;
  size_t best_distance = kLimit + 1;
  for (std::string_view c : candidates) {
    size_t d = edit_distance(word, c, kLimit);
    if (d < best_distance && d < word.size()) {
      best = c;
      best_distance = d;
    }
  }
  return std::string(best);
}

}  // namespace detail
}  // namespace portico::config
