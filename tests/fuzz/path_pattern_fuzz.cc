// Fuzz target for routing::PathPattern: input is "<pattern>\n<path>". The compiled matcher (with
// its fast paths and star collapsing) must agree with a plain memoized recursive glob on short
// inputs; any disagreement aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "routing/path_pattern.h"

namespace {

constexpr size_t kMaxLen = 48;

// memo[p][t]: 0 unknown, 1 false, 2 true.
bool ref_match(std::string_view pat, std::string_view text, size_t p, size_t t,
               uint8_t (&memo)[kMaxLen + 2][kMaxLen + 2]) {
  uint8_t& slot = memo[p][t];
  if (slot != 0) return slot == 2;
  bool r;
  if (p == pat.size()) {
    r = t == text.size();
  } else if (pat[p] == '*') {
    r = ref_match(pat, text, p + 1, t, memo) ||
        (t < text.size() && ref_match(pat, text, p, t + 1, memo));
  } else {
    r = t < text.size() && (pat[p] == '?' || pat[p] == text[t]) &&
        ref_match(pat, text, p + 1, t + 1, memo);
  }
  slot = r ? 2 : 1;
  return r;
}

bool reference(std::string_view pat, std::string_view text) {
  uint8_t memo[kMaxLen + 2][kMaxLen + 2];
  std::memset(memo, 0, sizeof memo);
  return ref_match(pat, text, 0, 0, memo);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nl = input.find('\n');
  if (nl == std::string_view::npos) return 0;
  std::string_view pattern = input.substr(0, nl);
  std::string_view path = input.substr(nl + 1);
  if (pattern.size() > kMaxLen - 1 || path.size() > kMaxLen) return 0;

  // CloudFront normalization: a leading '/' is implied unless the pattern starts with '/' or '*'.
  std::string normalized(pattern);
  if (normalized.empty() || (normalized[0] != '/' && normalized[0] != '*')) {
    normalized.insert(normalized.begin(), '/');
  }
  portico::routing::PathPattern compiled(pattern);
  bool want = reference(normalized, path);
  bool got = compiled.matches(path);
  bool raw_want = reference(pattern, path);
  bool raw_got = portico::routing::glob_match(pattern, path);
  if (want != got || raw_want != raw_got) {
    std::fprintf(stderr, "mismatch: pattern=[%.*s] path=[%.*s] compiled=%d ref=%d glob=%d ref=%d\n",
                 static_cast<int>(pattern.size()), pattern.data(), static_cast<int>(path.size()),
                 path.data(), got, want, raw_got, raw_want);
    std::abort();
  }
  // The compiled pattern matches itself when it has no wildcards.
  if (compiled.kind() == portico::routing::PathPattern::Kind::Exact &&
      !compiled.matches(compiled.pattern())) {
    std::abort();
  }
  return 0;
}
