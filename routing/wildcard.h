// WildcardPattern: one value of an ALB host-header, http-header or query-string condition,
// compiled once per config snapshot and matched read-only from any worker thread. `*` matches any
// run of characters (including none), `?` exactly one; the whole text must match. Optionally
// ASCII case-insensitive (host, header, query string) and with '\' escapes making `*`, `?` and
// `\` literal (query strings, as QueryStringConditionConfig documents). matches() and
// matches_percent_decoded() allocate nothing, recurse nowhere and run in O(|pattern| * |text|).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace portico::routing {

class WildcardPattern {
 public:
  enum class Case : uint8_t { Sensitive, Insensitive };
  enum class Escapes : uint8_t { None, Backslash };

  WildcardPattern() = default;
  WildcardPattern(std::string_view pattern, Case c, Escapes escapes = Escapes::None);

  // True when all of `text` matches.
  bool matches(std::string_view text) const;
  // Same, comparing `text` after percent-decoding it (%XX -> byte; a '%' not followed by two hex
  // digits stays literal; '+' stays '+').
  bool matches_percent_decoded(std::string_view text) const;

  // True when the pattern has no wildcards (a plain, possibly case-folded, comparison).
  bool literal() const { return literal_; }

 private:
  static constexpr int16_t kStar = -1;
  static constexpr int16_t kOne = -2;

  template <typename Text>
  bool match(const Text& text) const;

  std::vector<int16_t> symbols_;  // bytes (lower-cased when Insensitive), kStar, kOne
  bool fold_ = false;
  bool literal_ = true;
};

}  // namespace portico::routing
