#include "routing/path_pattern.h"

namespace portico::routing {

PathPattern::PathPattern(std::string_view pattern) {
  if (pattern.empty() || (pattern.front() != '/' && pattern.front() != '*'))
    pattern_.push_back('/');
  // "**" matches exactly what "*" matches; collapsing keeps the glob loop's backtracking cheap.
  for (char c : pattern) {
    if (c == '*' && !pattern_.empty() && pattern_.back() == '*') continue;
    pattern_.push_back(c);
  }

  size_t stars = 0;
  size_t star_pos = 0;
  size_t first_wildcard = std::string::npos;
  bool has_question = false;
  for (size_t i = 0; i < pattern_.size(); ++i) {
    if (pattern_[i] == '*') {
      ++stars;
      star_pos = i;
    } else if (pattern_[i] == '?') {
      has_question = true;
    } else {
      continue;
    }
    if (first_wildcard == std::string::npos) first_wildcard = i;
  }
  if (has_question || stars > 1) {
    kind_ = Kind::Glob;
    // The literal run before the first wildcard is checked up front, cheaply.
    prefix_len_ = static_cast<uint32_t>(first_wildcard);
  } else if (stars == 0) {
    kind_ = Kind::Exact;
  } else if (pattern_.size() == 1) {
    kind_ = Kind::Any;
  } else {
    prefix_len_ = static_cast<uint32_t>(star_pos);
    suffix_len_ = static_cast<uint32_t>(pattern_.size() - star_pos - 1);
    if (suffix_len_ == 0) {
      kind_ = Kind::Prefix;
    } else if (prefix_len_ == 0) {
      kind_ = Kind::Suffix;
    } else {
      kind_ = Kind::PrefixSuffix;
    }
  }
}

bool PathPattern::matches(std::string_view path) const {
  std::string_view p = pattern_;
  switch (kind_) {
    case Kind::Exact:
      return path == p;
    case Kind::Any:
      return true;
    case Kind::Prefix:
      return path.starts_with(p.substr(0, prefix_len_));
    case Kind::Suffix:
      return path.ends_with(p.substr(1));
    case Kind::PrefixSuffix:
      return path.size() >= size_t{prefix_len_} + suffix_len_ &&
             path.starts_with(p.substr(0, prefix_len_)) &&
             path.ends_with(p.substr(prefix_len_ + 1));
    case Kind::Glob:
      return path.starts_with(p.substr(0, prefix_len_)) &&
             glob_match(p.substr(prefix_len_), path.substr(prefix_len_));
  }
  return false;
}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Classic single-backtrack-point glob: on a mismatch, retry from the most recent '*' with it
  // absorbing one more character. Earlier stars never need revisiting, because a later star can
  // absorb anything an earlier one could, so the worst case is O(|pattern| * |text|).
  size_t p = 0;
  size_t t = 0;
  size_t star_p = std::string_view::npos;
  size_t star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star_p = p++;
      star_t = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star_p != std::string_view::npos) {
      p = star_p + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace portico::routing
