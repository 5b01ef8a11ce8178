#include "origin/conditional.h"

#include <algorithm>
#include <array>

#include "core/clock.h"

namespace portico::origin {
namespace {

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Parses 1*DIGIT, saturating at UINT64_MAX (a huge last-pos just means "to the end").
bool parse_digits(std::string_view s, uint64_t* value) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    v = (v > (UINT64_MAX - d) / 10) ? UINT64_MAX : v * 10 + d;
  }
  *value = v;
  return true;
}

enum class SpecResult : uint8_t { Invalid, Unsatisfiable, EmptySuffix, Range };

// One range-spec (RFC 9110 §14.1.1) against a representation of `size` bytes.
SpecResult parse_spec(std::string_view spec, uint64_t size, ByteRange* range) {
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return SpecResult::Invalid;
  if (dash == 0) {  // suffix-range: the last N bytes
    uint64_t n = 0;
    if (!parse_digits(spec.substr(1), &n)) return SpecResult::Invalid;
    if (n == 0) return SpecResult::Unsatisfiable;
    if (size == 0) return SpecResult::EmptySuffix;
    range->first = n >= size ? 0 : size - n;
    range->last = size - 1;
    return SpecResult::Range;
  }
  uint64_t first = 0;
  if (!parse_digits(spec.substr(0, dash), &first)) return SpecResult::Invalid;
  uint64_t last = UINT64_MAX;
  std::string_view last_text = spec.substr(dash + 1);
  if (!last_text.empty()) {
    if (!parse_digits(last_text, &last)) return SpecResult::Invalid;
    if (last < first) return SpecResult::Invalid;
  }
  if (first >= size) return SpecResult::Unsatisfiable;
  range->first = first;
  range->last = std::min(last, size - 1);
  return SpecResult::Range;
}

// Sorts and merges ranges when any two overlap or touch, so a response never repeats bytes.
void coalesce(std::vector<ByteRange>* ranges) {
  if (ranges->size() < 2) return;
  std::array<ByteRange, kMaxRanges> sorted{};
  std::copy(ranges->begin(), ranges->end(), sorted.begin());
  auto end = sorted.begin() + static_cast<std::ptrdiff_t>(ranges->size());
  std::sort(sorted.begin(), end,
            [](const ByteRange& a, const ByteRange& b) { return a.first < b.first; });
  bool touching = false;
  for (auto it = sorted.begin() + 1; it != end; ++it) {
    if (it->first <= (it - 1)->last + 1) touching = true;
  }
  if (!touching) return;
  ranges->clear();
  for (auto it = sorted.begin(); it != end; ++it) {
    if (!ranges->empty() && it->first <= ranges->back().last + 1) {
      ranges->back().last = std::max(ranges->back().last, it->last);
    } else {
      ranges->push_back(*it);
    }
  }
}

// The opaque-tag of an entity-tag (quotes included) and whether it was weak.
struct EntityTag {
  std::string_view opaque;
  bool weak = false;
};

EntityTag split_etag(std::string_view etag) {
  EntityTag t;
  if (etag.starts_with("W/")) {
    t.weak = true;
    etag.remove_prefix(2);
  }
  t.opaque = etag;
  return t;
}

// Calls fn(value) for every field named `name`, in order; stops early when fn returns true.
template <typename Fn>
bool any_field(const core::Headers& headers, std::string_view name, Fn&& fn) {
  for (const core::Header& h : headers) {
    if (core::iequals(h.name, name) && fn(std::string_view(h.value))) return true;
  }
  return false;
}

int64_t parse_date(std::string_view value) {
  value = trim_ows(value);
  return core::parse_http_date(value.data(), value.size());
}

// If-Match / If-None-Match over every field of that name; "*" matches any current representation.
bool field_matches(const core::Headers& headers, std::string_view name, std::string_view etag,
                   bool weak_comparison) {
  return any_field(headers, name, [&](std::string_view v) {
    return trim_ows(v) == "*" || etag_list_matches(v, etag, weak_comparison);
  });
}

}  // namespace

RangeResult parse_range(std::string_view header, uint64_t size, std::vector<ByteRange>* out) {
  out->clear();
  size_t eq = header.find('=');
  if (eq == std::string_view::npos) return RangeResult::Ignore;
  // Range units compare case-insensitively (RFC 9110 §14.1).
  if (!core::iequals(trim_ows(header.substr(0, eq)), "bytes")) return RangeResult::Ignore;
  std::string_view set = header.substr(eq + 1);

  size_t specs = 0;
  bool empty_suffix = false;
  while (true) {
    size_t comma = set.find(',');
    std::string_view spec = trim_ows(set.substr(0, comma));
    if (!spec.empty()) {  // the #rule lets a recipient skip empty list elements
      if (++specs > kMaxRanges) {
        out->clear();
        return RangeResult::Ignore;
      }
      ByteRange r;
      switch (parse_spec(spec, size, &r)) {
        case SpecResult::Invalid:
          out->clear();
          return RangeResult::Ignore;
        case SpecResult::Unsatisfiable:
          break;
        case SpecResult::EmptySuffix:
          empty_suffix = true;
          break;
        case SpecResult::Range:
          out->push_back(r);
          break;
      }
    }
    if (comma == std::string_view::npos) break;
    set.remove_prefix(comma + 1);
  }
  if (specs == 0) return RangeResult::Ignore;
  if (out->empty()) {
    // A non-zero suffix of an empty representation selects all of it (§14.1.3): that is the 200.
    return empty_suffix ? RangeResult::Ignore : RangeResult::Unsatisfiable;
  }
  coalesce(out);
  return RangeResult::Satisfiable;
}

bool etag_list_matches(std::string_view list, std::string_view etag, bool weak_comparison) {
  EntityTag current = split_etag(etag);
  if (current.opaque.size() < 2 || current.opaque.front() != '"' || current.opaque.back() != '"') {
    return false;
  }
  if (!weak_comparison && current.weak) return false;
  size_t i = 0;
  while (true) {
    while (i < list.size() && (list[i] == ' ' || list[i] == '\t' || list[i] == ',')) ++i;
    if (i >= list.size()) return false;
    bool weak = false;
    if (list.substr(i).starts_with("W/")) {
      weak = true;
      i += 2;
    }
    if (i >= list.size() || list[i] != '"') return false;
    size_t close = list.find('"', i + 1);
    if (close == std::string_view::npos) return false;
    std::string_view opaque = list.substr(i, close - i + 1);
    i = close + 1;
    if (!weak_comparison && weak) continue;
    if (opaque == current.opaque) return true;
  }
}

Precondition evaluate_preconditions(const core::RequestHead& request, std::string_view etag,
                                    int64_t last_modified_sec) {
  const core::Headers& headers = request.headers;
  bool get_or_head = request.method == core::Method::Get || request.method == core::Method::Head;

  // Step 1: If-Match, strong comparison (§13.1.1).
  if (headers.has("if-match")) {
    if (!field_matches(headers, "if-match", etag, false)) return Precondition::Failed;
  } else if (const std::string* ius = headers.get("if-unmodified-since")) {
    // Step 2: If-Unmodified-Since, ignored when invalid or when there is no date to compare.
    int64_t date = parse_date(*ius);
    if (date >= 0 && last_modified_sec >= 0 && last_modified_sec > date) {
      return Precondition::Failed;
    }
  }

  // Step 3: If-None-Match, weak comparison (§13.1.2).
  if (headers.has("if-none-match")) {
    if (field_matches(headers, "if-none-match", etag, true)) {
      return get_or_head ? Precondition::NotModified : Precondition::Failed;
    }
  } else if (get_or_head) {
    // Step 4: If-Modified-Since, GET/HEAD only.
    if (const std::string* ims = headers.get("if-modified-since")) {
      int64_t date = parse_date(*ims);
      if (date >= 0 && last_modified_sec >= 0 && last_modified_sec <= date) {
        return Precondition::NotModified;
      }
    }
  }
  return Precondition::Proceed;
}

bool if_range_matches(std::string_view if_range, std::string_view etag, int64_t last_modified_sec) {
  if_range = trim_ows(if_range);
  if (if_range.starts_with('"') || if_range.starts_with("W/")) {
    // Strong comparison; a weak validator in If-Range never matches (§13.1.5).
    EntityTag given = split_etag(if_range);
    EntityTag current = split_etag(etag);
    return !given.weak && !current.weak && given.opaque.size() >= 2 && given.opaque.back() == '"' &&
           given.opaque == current.opaque;
  }
  int64_t date = core::parse_http_date(if_range.data(), if_range.size());
  return date >= 0 && last_modified_sec >= 0 && date == last_modified_sec;
}

namespace {

// True when some field could be Range or a precondition (If-Match 8, If-None-Match 13,
// If-Modified-Since 17, If-Unmodified-Since 19, If-Range 8): one pass over the names by length and
// first letter. Most requests carry none, and then nothing below applies.
bool may_be_conditional(const core::Headers& headers) {
  for (const core::Header& h : headers) {
    const size_t n = h.name.size();
    const char c = n == 0 ? '\0' : static_cast<char>(h.name[0] | 0x20);
    if ((c == 'r' && n == 5) || (c == 'i' && (n == 8 || n == 13 || n == 17 || n == 19)))
      return true;
  }
  return false;
}

}  // namespace

int select_status(const core::RequestHead& request, std::string_view etag,
                  int64_t last_modified_sec, int64_t size, std::vector<ByteRange>* ranges) {
  ranges->clear();
  if (!may_be_conditional(request.headers)) return 200;
  switch (evaluate_preconditions(request, etag, last_modified_sec)) {
    case Precondition::NotModified:
      return 304;
    case Precondition::Failed:
      return 412;
    case Precondition::Proceed:
      break;
  }
  const std::string* range = request.headers.get("range");
  if (range == nullptr || request.method != core::Method::Get || size < 0) return 200;
  const std::string* if_range = request.headers.get("if-range");
  if (if_range != nullptr && !if_range_matches(*if_range, etag, last_modified_sec)) return 200;
  switch (parse_range(*range, static_cast<uint64_t>(size), ranges)) {
    case RangeResult::Ignore:
      ranges->clear();
      return 200;
    case RangeResult::Unsatisfiable:
      return 416;
    case RangeResult::Satisfiable:
      return 206;
  }
  return 200;
}

}  // namespace portico::origin
