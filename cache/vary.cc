#include "cache/vary.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace portico::cache {
namespace {

bool iless(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    char x = core::ascii_lower(a[i]);
    char y = core::ascii_lower(b[i]);
    if (x != y) return x < y;
  }
  return a.size() < b.size();
}

// Calls fn(name) for each member of every Vary line, "*" included.
template <class Fn>
void for_each_vary_member(const core::Headers& response, Fn&& fn) {
  for (const core::Header& h : response) {
    if (!core::iequals(h.name, "vary")) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      size_t comma = v.find(',');
      std::string_view name = core::trim_ows(v.substr(0, comma));
      if (!name.empty()) fn(name);
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
}

void append_length(std::string& out, char tag, size_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  out += tag;
  out.append(buf, r.ptr);
  out += ':';
}

// Feeds the normalized value of every `name` field line of `request` to sink(char); returns false
// when there is none. Lines are joined by ','; whitespace runs become one space, and disappear at
// either end and next to a comma.
template <class Sink>
bool normalized_value(const core::Headers& request, std::string_view name, Sink&& sink) {
  bool any = false;
  bool emitted = false;
  bool after_comma = false;
  bool pending_space = false;
  auto feed = [&](char c) {
    if (core::is_ows(c)) {
      pending_space = true;
    } else if (c == ',') {
      sink(',');
      emitted = true;
      after_comma = true;
      pending_space = false;
    } else {
      if (pending_space && emitted && !after_comma) sink(' ');
      sink(c);
      emitted = true;
      after_comma = false;
      pending_space = false;
    }
  };
  for (const core::Header& h : request) {
    if (!core::iequals(h.name, name)) continue;
    if (any) feed(',');
    any = true;
    for (char c : h.value) feed(c);
  }
  return any;
}

void append_name(std::string& out, std::string_view name, const core::Headers& request,
                 std::optional<Encoding> encoding) {
  append_length(out, 'H', name.size());
  for (char c : name) out += core::ascii_lower(c);
  if (encoding.has_value() && core::iequals(name, "accept-encoding")) {
    out += 'E';
    out += static_cast<char>('0' + static_cast<int>(*encoding));
    return;
  }
  size_t length = 0;
  if (!normalized_value(request, name, [&](char) { ++length; })) {
    out += 'N';
    return;
  }
  append_length(out, 'V', length);
  normalized_value(request, name, [&](char c) { out += c; });
}

constexpr size_t kMaxSortedNames = 32;

}  // namespace

bool vary_star(const core::Headers& response) {
  bool star = false;
  for_each_vary_member(response, [&](std::string_view name) { star = star || name == "*"; });
  return star;
}

void vary_key(const core::Headers& response, const core::Headers& request,
              std::optional<Encoding> encoding, std::string& out) {
  out.clear();
  std::array<std::string_view, kMaxSortedNames> names;
  size_t count = 0;
  bool overflow = false;
  auto known = [&](std::string_view name) {
    for (size_t i = 0; i < count; ++i) {
      if (core::iequals(names[i], name)) return true;
    }
    return false;
  };
  for_each_vary_member(response, [&](std::string_view name) {
    if (name == "*" || known(name)) return;
    if (count < names.size()) {
      names[count++] = name;
    } else {
      overflow = true;
    }
  });
  std::sort(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(count), iless);
  for (size_t i = 0; i < count; ++i) append_name(out, names[i], request, encoding);
  if (!overflow) return;
  // Absurdly long Vary lists: the rest in received order (still a function of the response).
  for_each_vary_member(response, [&](std::string_view name) {
    if (name != "*" && !known(name)) append_name(out, name, request, encoding);
  });
}

bool vary_matches(const core::Headers& response, std::string_view stored_key,
                  const core::Headers& request, std::optional<Encoding> encoding,
                  std::string& scratch) {
  vary_key(response, request, encoding, scratch);
  return scratch == stored_key;
}

}  // namespace portico::cache
