#include "routing/wildcard.h"

namespace portico::routing {
namespace {

unsigned char fold(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c + ('a' - 'A')) : c;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A text to match, read one (possibly decoded) byte at a time from a raw position.
struct RawText {
  std::string_view s;
  bool at_end(size_t pos) const { return pos >= s.size(); }
  unsigned char get(size_t pos, size_t& next) const {
    next = pos + 1;
    return static_cast<unsigned char>(s[pos]);
  }
};

struct DecodedText {
  std::string_view s;
  bool at_end(size_t pos) const { return pos >= s.size(); }
  unsigned char get(size_t pos, size_t& next) const {
    if (s[pos] == '%' && pos + 2 < s.size()) {
      int hi = hex_value(s[pos + 1]);
      int lo = hex_value(s[pos + 2]);
      if (hi >= 0 && lo >= 0) {
        next = pos + 3;
        return static_cast<unsigned char>(hi * 16 + lo);
      }
    }
    next = pos + 1;
    return static_cast<unsigned char>(s[pos]);
  }
};

}  // namespace

WildcardPattern::WildcardPattern(std::string_view pattern, Case c, Escapes escapes)
    : fold_(c == Case::Insensitive) {
  symbols_.reserve(pattern.size());
  for (size_t i = 0; i < pattern.size(); ++i) {
    auto ch = static_cast<unsigned char>(pattern[i]);
    if (escapes == Escapes::Backslash && ch == '\\' && i + 1 < pattern.size()) {
      ch = static_cast<unsigned char>(pattern[++i]);
    } else if (ch == '*') {
      // "**" matches what "*" matches; collapsing keeps backtracking cheap.
      if (symbols_.empty() || symbols_.back() != kStar) symbols_.push_back(kStar);
      literal_ = false;
      continue;
    } else if (ch == '?') {
      symbols_.push_back(kOne);
      literal_ = false;
      continue;
    }
    symbols_.push_back(static_cast<int16_t>(fold_ ? fold(ch) : ch));
  }
}

bool WildcardPattern::matches(std::string_view text) const { return match(RawText{text}); }

bool WildcardPattern::matches_percent_decoded(std::string_view text) const {
  return match(DecodedText{text});
}

template <typename Text>
bool WildcardPattern::match(const Text& text) const {
  // Single-backtrack-point glob (as routing::glob_match): on a mismatch, retry from the latest
  // '*' with it absorbing one more character. Positions are raw offsets into the text, so the
  // decoded variant needs no buffer.
  const size_t n = symbols_.size();
  size_t p = 0;
  size_t t = 0;
  size_t star_p = SIZE_MAX;
  size_t star_t = 0;
  while (!text.at_end(t)) {
    size_t next = 0;
    if (p < n && symbols_[p] == kStar) {
      star_p = p++;
      star_t = t;
      continue;
    }
    unsigned char c = text.get(t, next);
    if (fold_) c = fold(c);
    if (p < n && (symbols_[p] == kOne || symbols_[p] == c)) {
      ++p;
      t = next;
    } else if (star_p != SIZE_MAX) {
      p = star_p + 1;
      text.get(star_t, next);
      star_t = next;
      t = star_t;
    } else {
      return false;
    }
  }
  while (p < n && symbols_[p] == kStar) ++p;
  return p == n;
}

}  // namespace portico::routing
