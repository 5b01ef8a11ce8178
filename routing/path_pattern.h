// PathPattern: a CloudFront cache-behavior path pattern compiled once per config snapshot and then
// matched read-only from any worker thread. Semantics (CloudFront "Path pattern"): `*` matches any
// run of characters including '/', `?` matches exactly one character, matching is case-sensitive
// and covers the whole path (percent-encoded as received, without the query). A pattern without a
// leading '/' matches as if it had one ("images/*" == "/images/*"), except that a pattern starting
// with '*' is left alone: its '*' already absorbs the leading '/', so "*.jpg" and "*/a" match
// "/a.jpg" and "/a". Plain value type; no allocation in matches().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace portico::routing {

class PathPattern {
 public:
  enum class Kind : uint8_t {
    Exact,         // no wildcard
    Any,           // "*" (after collapsing runs of '*')
    Prefix,        // "literal*"
    Suffix,        // "*literal"
    PrefixSuffix,  // "literal*literal"
    Glob,          // anything else: iterative glob with one backtrack point
  };

  PathPattern() = default;
  // Compiles `pattern` as written in the config; "" compiles to the exact pattern "/".
  explicit PathPattern(std::string_view pattern);

  // True when `path` matches the whole pattern. Runs in O(|pattern| * |path|) worst case, without
  // recursion, and in O(|literal|) for the fast kinds.
  bool matches(std::string_view path) const;

  // The normalized pattern (leading '/' added, runs of '*' collapsed).
  const std::string& pattern() const { return pattern_; }
  Kind kind() const { return kind_; }

 private:
  std::string pattern_;
  Kind kind_ = Kind::Exact;
  uint32_t prefix_len_ = 0;  // Prefix, PrefixSuffix, Glob: literal bytes before a wildcard
  uint32_t suffix_len_ = 0;  // Suffix / PrefixSuffix: literal bytes after the '*'
};

// General glob match (`*` any run, `?` one character) of the whole `text`; no normalization.
// Exposed for tests and the fuzz target's cross-check.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace portico::routing
