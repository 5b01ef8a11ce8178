// HTTP message model shared by the HTTP/1 and (later) HTTP/2 codecs, routing and cache:
// Method, Headers, RequestHead, ResponseHead. Plain values; no I/O; any thread.
// Field semantics follow RFC 9110; header names compare case-insensitively (RFC 9110 §5.1).
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/block_cache.h"

namespace portico::core {

enum class Method : uint8_t { Get, Head, Post, Put, Delete, Options, Patch, Connect, Trace, Other };
constexpr uint32_t method_bit(Method m) { return 1u << static_cast<unsigned>(m); }

std::string_view method_name(Method m);
// Exact, case-sensitive match (RFC 9110 §9.1); unknown tokens map to Other.
Method parse_method(std::string_view token);

// ASCII case-insensitive equality; inline because header handling calls it per field.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x == y) continue;
    if ((x | 0x20) != (y | 0x20) || static_cast<unsigned char>((x | 0x20) - 'a') > 25) return false;
  }
  return true;
}
// `name`, a field name (tchars only, RFC 9110 §5.1), equals `lower`, a lower-case literal of
// letters, digits and '-', ignoring ASCII case; eight bytes per step. Among tchars, OR-ing 0x20
// maps only A-Z onto bytes such a literal holds, so for field names this is exact.
inline bool name_is(std::string_view name, std::string_view lower) {
  const size_t n = lower.size();
  if (name.size() != n) return false;
  const char* a = name.data();
  const char* b = lower.data();
  if (n >= 8) {
    for (size_t i = 0;; i += 8) {
      if (i + 8 > n) i = n - 8;  // the last step overlaps instead of a byte tail
      uint64_t x;
      uint64_t y;
      std::memcpy(&x, a + i, 8);
      std::memcpy(&y, b + i, 8);
      if ((x | 0x2020202020202020ull) != y) return false;
      if (i + 8 == n) return true;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if ((a[i] | 0x20) != b[i]) return false;
  }
  return true;
}
std::string to_lower(std::string_view s);
// Writes the ASCII lower case of s[0, n) to d (which may be s): eight bytes per step.
void copy_lower(char* d, const char* s, size_t n);
// `out` becomes the ASCII lower case of `s`, reusing its storage.
void assign_lower(std::string& out, std::string_view s);

// RFC 9110 §5.6.3 optional whitespace (SP / HTAB), the ASCII lower case of one character, and a
// field value trimmed of OWS at both ends.
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }
inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Hop-by-hop field names (RFC 9110 §7.6.1, plus Proxy-Connection and HTTP2-Settings): never
// forwarded past this hop; also every connection-specific field HTTP/2 forbids (RFC 9113 §8.2.2).
bool is_hop_by_hop(std::string_view name);

struct Header {
  Header() = default;
  Header(std::string_view n, std::string_view v) : name(n), value(v) {}
  std::string name;
  std::string value;
};

// Ordered header list; duplicates kept in arrival order.
class Headers {
 public:
  // From the block cache: a message's field list is made and dropped per request.
  using Items = std::vector<Header, BlockAllocator<Header>>;

  void add(std::string_view name, std::string_view value);
  // Replaces every field named `name` with one field.
  void set(std::string_view name, std::string_view value);
  // First field named `name`, or nullptr.
  const std::string* get(std::string_view name) const;
  std::string_view get_or(std::string_view name, std::string_view fallback = {}) const;
  bool has(std::string_view name) const { return get(name) != nullptr; }
  // Removes every field named `name`; returns how many.
  size_t remove(std::string_view name);
  // True when some field named `name` holds `token` in its comma-separated list (case-insensitive).
  bool has_token(std::string_view name, std::string_view token) const;
  // Removes hop-by-hop fields (RFC 9110 §7.6.1): Connection, the fields it names, Keep-Alive,
  // Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-Authenticate/-Authorization.
  void remove_hop_by_hop();

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void clear() { items_.clear(); }
  void reserve(size_t n) { items_.reserve(n); }
  Items::const_iterator begin() const { return items_.begin(); }
  Items::const_iterator end() const { return items_.end(); }

 private:
  Items items_;
};

// How a message body is delimited (RFC 9112 §6.3).
enum class BodyFraming : uint8_t { None, Length, Chunked, UntilClose };

struct RequestHead {
  PORTICO_BLOCK_ALLOCATED
  Method method = Method::Get;
  std::string method_token;  // as received, e.g. "GET"
  std::string target;        // request-target as received (origin-form or absolute-form)
  std::string path;          // path part of the target, still percent-encoded
  std::string query;         // without '?', empty when absent
  bool has_query = false;
  int version_minor = 1;  // HTTP/1.x minor version
  Headers headers;
  std::string authority;  // Host header (or absolute-form authority), lower-cased
  BodyFraming framing = BodyFraming::None;
  uint64_t content_length = 0;  // valid when framing == Length
  bool keep_alive = true;       // after Connection / version rules (RFC 9112 §9.3)
  bool expect_continue = false;
};

struct ResponseHead {
  int status = 200;
  std::string reason;
  int version_minor = 1;
  Headers headers;
  BodyFraming framing = BodyFraming::None;
  uint64_t content_length = 0;
  bool keep_alive = true;
};

// Standard reason phrase for a status code ("" when unknown).
std::string_view reason_phrase(int status);

}  // namespace portico::core
