#include "core/http.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace portico::core {
namespace {

constexpr std::array<std::string_view, 10> kMethodNames = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", ""};

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <typename Fn>
void for_each_token(std::string_view list, Fn&& fn) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim_ows(list.substr(0, comma));
    if (!item.empty()) fn(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

std::string_view method_name(Method m) { return kMethodNames[static_cast<size_t>(m)]; }

Method parse_method(std::string_view token) {
  for (size_t i = 0; i + 1 < kMethodNames.size(); ++i) {
    if (kMethodNames[i] == token) return static_cast<Method>(i);
  }
  return Method::Other;
}

std::string to_lower(std::string_view s) {
  std::string out;
  assign_lower(out, s);
  return out;
}

void copy_lower(char* d, const char* s, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    std::memcpy(&x, s + i, 8);
    // Per byte (no carries cross bytes: every sum stays below 0x100): bit 7 of h + 0x3F says
    // h >= 'A', of h + 0x25 says h > 'Z'; a byte that is 'A'..'Z' (and ASCII) gains 0x20.
    const uint64_t h = x & 0x7F7F7F7F7F7F7F7Full;
    const uint64_t upper =
        (h + 0x3F3F3F3F3F3F3F3Full) & ~(h + 0x2525252525252525ull) & ~x & 0x8080808080808080ull;
    x |= upper >> 2;
    std::memcpy(d + i, &x, 8);
  }
  for (; i < n; ++i) d[i] = lower(s[i]);
}

void assign_lower(std::string& out, std::string_view s) {
  out.resize(s.size());
  copy_lower(out.data(), s.data(), s.size());
}

void Headers::add(std::string_view name, std::string_view value) {
  // One allocation for a typical message's fields rather than a doubling series of them.
  if (items_.capacity() == 0) items_.reserve(16);
  items_.emplace_back(name, value);  // built in place: no temporaries to move from and destroy
}

void Headers::set(std::string_view name, std::string_view value) {
  remove(name);
  add(name, value);
}

const std::string* Headers::get(std::string_view name) const {
  for (const Header& h : items_) {
    if (iequals(h.name, name)) return &h.value;
  }
  return nullptr;
}

std::string_view Headers::get_or(std::string_view name, std::string_view fallback) const {
  const std::string* v = get(name);
  return v ? std::string_view(*v) : fallback;
}

size_t Headers::remove(std::string_view name) {
  size_t before = items_.size();
  items_.erase(std::remove_if(items_.begin(), items_.end(),
                              [&](const Header& h) { return iequals(h.name, name); }),
               items_.end());
  return before - items_.size();
}

bool Headers::has_token(std::string_view name, std::string_view token) const {
  bool found = false;
  for (const Header& h : items_) {
    if (!iequals(h.name, name)) continue;
    for_each_token(h.value, [&](std::string_view t) { found = found || iequals(t, token); });
  }
  return found;
}

bool is_hop_by_hop(std::string_view name) {
  // Dispatch on length first: most fields differ in length from every hop-by-hop name.
  switch (name.size()) {
    case 2:
      return name_is(name, "te");
    case 7:
      return name_is(name, "trailer") || name_is(name, "upgrade");
    case 10:
      return name_is(name, "connection") || name_is(name, "keep-alive");
    case 14:
      return name_is(name, "http2-settings");
    case 16:
      return name_is(name, "proxy-connection");
    case 17:
      return name_is(name, "transfer-encoding");
    case 18:
      return name_is(name, "proxy-authenticate");
    case 19:
      return name_is(name, "proxy-authorization");
    default:
      return false;
  }
}

void Headers::remove_hop_by_hop() {
  size_t first = 0;
  while (first < items_.size() && !is_hop_by_hop(items_[first].name)) ++first;
  if (first == items_.size()) return;  // the common case: nothing to remove, nothing allocated
  // Fields named by Connection are hop-by-hop too (RFC 9110 §7.6.1). Their names are copied
  // into one string first (the fields move while the list is compacted); the first few tokens
  // are kept as views into it. Names the fixed list drops anyway, and "close", are left out: for
  // the usual "Connection: keep-alive" nothing is copied and only the fixed list is checked.
  std::string named;
  for (size_t i = first; i < items_.size(); ++i) {  // Connection is itself at or after `first`
    const Header& h = items_[i];
    if (!name_is(h.name, "connection")) continue;
    for_each_token(h.value, [&](std::string_view t) {
      if (!is_hop_by_hop(t) && !iequals(t, "close")) named.append(t).push_back(',');
    });
  }
  constexpr size_t kViews = 8;
  std::string_view views[kViews];
  size_t nviews = 0;
  bool more = false;
  for_each_token(named, [&](std::string_view t) {
    if (nviews < kViews) {
      views[nviews++] = t;
    } else {
      more = true;
    }
  });
  auto drop = [&](const Header& h) {
    if (is_hop_by_hop(h.name)) return true;
    for (size_t k = 0; k < nviews; ++k) {
      if (iequals(h.name, views[k])) return true;
    }
    bool found = false;
    if (more)
      for_each_token(named, [&](std::string_view t) { found = found || iequals(t, h.name); });
    return found;
  };
  // A field Connection names may come before the first hop-by-hop field.
  auto from = items_.begin() + (named.empty() ? static_cast<ptrdiff_t>(first) : 0);
  items_.erase(std::remove_if(from, items_.end(), drop), items_.end());
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

}  // namespace portico::core
