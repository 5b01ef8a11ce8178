// Fuzz target for origin::parse_range (and the entity-tag list parser): the first 8 bytes pick the
// representation size (often small, so ranges land inside it), the rest is the Range value.
// Invariants: Satisfiable means 1..kMaxRanges ranges with first <= last < size and no two
// overlapping; Ignore and Unsatisfiable leave the output empty.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "origin/conditional.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint64_t raw = 0;
  std::memcpy(&raw, data, 8);
  uint64_t rep_size;
  switch (raw & 3) {
    case 0:
      rep_size = (raw >> 2) % 16;
      break;
    case 1:
      rep_size = (raw >> 2) % 100'000;
      break;
    case 2:
      rep_size = UINT64_MAX - ((raw >> 2) % 4);
      break;
    default:
      rep_size = raw >> 2;
      break;
  }
  std::string_view header(reinterpret_cast<const char*>(data + 8), size - 8);

  std::vector<portico::origin::ByteRange> ranges{{1, 2}};  // must be cleared
  portico::origin::RangeResult r = portico::origin::parse_range(header, rep_size, &ranges);
  if (r == portico::origin::RangeResult::Satisfiable) {
    if (ranges.empty() || ranges.size() > portico::origin::kMaxRanges) std::abort();
    for (size_t i = 0; i < ranges.size(); ++i) {
      const auto& a = ranges[i];
      if (a.first > a.last || a.last >= rep_size) std::abort();
      for (size_t j = i + 1; j < ranges.size(); ++j) {
        const auto& b = ranges[j];
        if (a.first <= b.last && b.first <= a.last) std::abort();
      }
    }
  } else if (!ranges.empty()) {
    std::abort();
  }

  // Entity-tag parsing must terminate and be consistent: a strong match is also a weak match.
  std::string_view etag = "\"abc-1\"";
  if (portico::origin::etag_list_matches(header, etag, false) &&
      !portico::origin::etag_list_matches(header, etag, true)) {
    std::abort();
  }
  (void)portico::origin::if_range_matches(header, etag, 1'600'000'000);
  return 0;
}
