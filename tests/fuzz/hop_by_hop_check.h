// Shared by the HTTP/1 fuzzers: Headers::remove_hop_by_hop on a parsed head must keep exactly the
// fields a plain reading of RFC 9110 §7.6.1 keeps, in their order: not a fixed hop-by-hop name,
// not named by any Connection field. The reference below is deliberately naive (every token of
// every Connection field, compared with every field), so it checks both of the real function's
// fast paths and its general one.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/http.h"

namespace portico::fuzz {

inline void check_remove_hop_by_hop(const core::Headers& parsed) {
  std::vector<std::string> named;
  for (const core::Header& h : parsed) {
    if (!core::iequals(h.name, "connection")) continue;
    std::string_view list = h.value;
    while (!list.empty()) {
      const size_t comma = list.find(',');
      std::string_view t = list.substr(0, comma);
      while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
      while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
      if (!t.empty()) named.emplace_back(t);
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  std::vector<const core::Header*> expected;
  for (const core::Header& h : parsed) {
    bool drop = core::is_hop_by_hop(h.name);
    for (const std::string& t : named) drop = drop || core::iequals(t, h.name);
    if (!drop) expected.push_back(&h);
  }
  core::Headers kept = parsed;
  kept.remove_hop_by_hop();
  bool same = kept.size() == expected.size();
  size_t i = 0;
  for (const core::Header& h : kept) {
    if (!same) break;
    same = h.name == expected[i]->name && h.value == expected[i]->value;
    ++i;
  }
  if (!same) {
    std::fprintf(stderr, "remove_hop_by_hop kept %zu fields, the reference %zu\n", kept.size(),
                 expected.size());
    std::abort();
  }
}

}  // namespace portico::fuzz
