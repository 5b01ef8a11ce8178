// Byte ranges (RFC 9110 §14.1.2, §14.2, §14.6) and conditional requests (RFC 9110 §13.1, §13.2.2)
// as the directory origin (and later the cache) evaluates them: header values in, decisions out.
// Pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/http.h"

namespace portico::origin {

// More range-specs than this and the Range header is ignored (RFC 9110 §14.2 lets a server ignore
// "many small ranges"; it also bounds multipart work).
inline constexpr size_t kMaxRanges = 16;

// Inclusive byte offsets into the representation: first <= last < size.
struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t length() const { return last - first + 1; }
  bool operator==(const ByteRange&) const = default;
};

enum class RangeResult : uint8_t {
  Ignore,         // serve 200 with the whole representation (not "bytes", malformed, too many)
  Unsatisfiable,  // 416 with "Content-Range: bytes */<size>"
  Satisfiable,    // 206: one range, or multipart/byteranges for several
};

// Parses a Range field value for a representation of `size` bytes. On Satisfiable, `out` holds
// the satisfiable ranges clamped to the size (unsatisfiable specs dropped). When some overlap or
// touch, all are sorted and coalesced (RFC 9110 §14.6 allows it); otherwise the client's order is
// kept. `out` is cleared first. The caller applies this to GET only (RFC 9110 §14.2).
RangeResult parse_range(std::string_view header, uint64_t size, std::vector<ByteRange>* out);

enum class Precondition : uint8_t {
  Proceed,      // evaluate the request normally
  NotModified,  // 304 (GET/HEAD only)
  Failed,       // 412
};

// Evaluates If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since in RFC 9110
// §13.2.2's order against the selected representation's `etag` (as sent in ETag, quoted, maybe
// "W/"-prefixed; "" when none) and `last_modified_sec` (epoch seconds; < 0 when unknown). Invalid
// dates are ignored. If-Range is separate: see if_range_matches().
Precondition evaluate_preconditions(const core::RequestHead& request, std::string_view etag,
                                    int64_t last_modified_sec);

// RFC 9110 §13.1.5: true when If-Range's value is an entity-tag that strongly matches `etag`, or
// an HTTP-date equal to `last_modified_sec`. False means: ignore Range and send the whole 200.
bool if_range_matches(std::string_view if_range, std::string_view etag, int64_t last_modified_sec);

// Entity-tag list membership (RFC 9110 §8.8.3.2): `list` is an If-Match / If-None-Match value.
// Strong comparison ignores weak tags on either side; weak comparison ignores the "W/" prefix.
// "*" is not handled here. Unparseable tails end the list.
bool etag_list_matches(std::string_view list, std::string_view etag, bool weak_comparison);

// The status a GET/HEAD for a stored or local 200 representation gets: 304 or 412 from the
// preconditions (RFC 9110 §13.2.2), then for GET 206 or 416 from Range when If-Range (if any)
// matches (§13.1.5, §14.2), else 200. `size` < 0 (not known yet) ignores Range. `ranges` is
// filled for 206.
int select_status(const core::RequestHead& request, std::string_view etag,
                  int64_t last_modified_sec, int64_t size, std::vector<ByteRange>* ranges);

}  // namespace portico::origin
