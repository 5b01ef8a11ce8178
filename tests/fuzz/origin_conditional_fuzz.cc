// Fuzz target for origin::evaluate_preconditions, if_range_matches and select_status (RFC 9110
// §13.1, §13.2.2, §13.1.5). Byte 0 picks the method and which fields are sent, bytes 1-4 the
// Last-Modified time (or none), byte 5 the representation's ETag; the rest, split at '\n', holds
// the If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, Range and If-Range values.
// Invariants: 304 only for GET/HEAD, no conditional field means Proceed; If-Modified-Since is
// ignored next to If-None-Match and If-Unmodified-Since next to If-Match (§13.2.2); If-None-Match
// "*" or the current tag gives 304/412 unless step 1-2 failed; the representation's own
// Last-Modified date, formatted as an HTTP-date, counts as not modified and not changed since;
// If-Range matches the current strong tag or date and never a weak tag; select_status returns
// 200/206/304/412/416 with ranges only for 206, and 206/416 only for a GET with Range.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "origin/conditional.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using portico::core::Method;
using portico::core::RequestHead;
using portico::origin::Precondition;

constexpr Method kMethods[] = {Method::Get, Method::Head, Method::Post, Method::Put};
constexpr std::string_view kEtags[] = {"\"abc-1\"", "W/\"abc-1\"", "", "\"\"", "abc", "\"x,y\""};
constexpr std::string_view kFields[] = {
    "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "Range", "If-Range"};

RequestHead without(const RequestHead& r, std::string_view name) {
  RequestHead out;
  out.method = r.method;
  for (const auto& h : r.headers) {
    if (!portico::core::iequals(h.name, name)) out.headers.add(h.name, h.value);
  }
  return out;
}

RequestHead with(const RequestHead& r, std::string_view name, std::string_view value) {
  RequestHead out = without(r, name);
  out.headers.add(name, value);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 7) return 0;
  RequestHead req;
  req.method = kMethods[data[0] & 3];
  const bool get_or_head = req.method == Method::Get || req.method == Method::Head;
  int64_t last_modified = -1;
  if ((data[0] & 4) == 0) {
    last_modified = (int64_t{data[1]} << 24) | (int64_t{data[2]} << 16) | (data[3] << 8) | data[4];
  }
  const std::string_view etag = kEtags[data[5] % 6];
  const uint8_t present = data[6];
  std::string_view rest(reinterpret_cast<const char*>(data + 7), size - 7);
  for (size_t f = 0; f < 6; ++f) {
    const size_t nl = rest.find('\n');
    const std::string_view value = rest.substr(0, nl);
    if ((present >> f) & 1) req.headers.add(kFields[f], value);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }

  const Precondition p = portico::origin::evaluate_preconditions(req, etag, last_modified);
  if (!get_or_head) FUZZ_CHECK(p != Precondition::NotModified);
  if ((present & 0x0f) == 0) FUZZ_CHECK(p == Precondition::Proceed);
  auto eval = [&](const RequestHead& r) {
    return portico::origin::evaluate_preconditions(r, etag, last_modified);
  };
  if (present & 1) FUZZ_CHECK(eval(without(req, "if-unmodified-since")) == p);
  if (present & 2) FUZZ_CHECK(eval(without(req, "if-modified-since")) == p);

  // Steps 1-2 alone decide whether step 3 gets a say.
  const RequestHead first_two = without(without(req, "if-none-match"), "if-modified-since");
  const bool failed_early = eval(first_two) == Precondition::Failed;
  const Precondition none_match = get_or_head ? Precondition::NotModified : Precondition::Failed;
  FUZZ_CHECK(eval(with(first_two, "If-None-Match", "*")) ==
             (failed_early ? Precondition::Failed : none_match));
  if (!etag.empty() && etag.front() != 'a') {  // a well-formed tag, strong or weak
    FUZZ_CHECK(
        eval(with(first_two, "If-None-Match", std::string("\"zz\", ") + std::string(etag))) ==
        (failed_early ? Precondition::Failed : none_match));
  }

  char date[32];
  if (last_modified >= 0) {
    const std::string_view lm(date, portico::core::format_http_date(last_modified, date));
    FUZZ_CHECK(portico::core::parse_http_date(lm.data(), lm.size()) == last_modified);
    if (get_or_head) {
      FUZZ_CHECK(eval(with(first_two, "If-Modified-Since", lm)) ==
                 (failed_early ? Precondition::Failed : Precondition::NotModified));
    }
    FUZZ_CHECK(
        eval(with(without(req, "if-match"), "If-Unmodified-Since", lm)) != Precondition::Failed ||
        eval(without(without(req, "if-match"), "if-unmodified-since")) == Precondition::Failed);
    FUZZ_CHECK(portico::origin::if_range_matches(lm, etag, last_modified));
  }

  // If-Range.
  const std::string_view if_range = req.headers.get_or("if-range");
  const bool ir = portico::origin::if_range_matches(if_range, etag, last_modified);
  if (ir && (if_range.find('"') != std::string_view::npos)) {
    FUZZ_CHECK(!etag.starts_with("W/"));
  }
  if (etag.size() >= 2 && etag.front() == '"') {
    FUZZ_CHECK(portico::origin::if_range_matches(etag, etag, last_modified));
    FUZZ_CHECK(!portico::origin::if_range_matches("W/" + std::string(etag), etag, last_modified));
  }

  // The whole status.
  std::vector<portico::origin::ByteRange> ranges{{0, 0}};
  const int64_t rep_size = (data[0] & 8) != 0 ? -1 : (data[0] >> 4) * 100;
  const int status = portico::origin::select_status(req, etag, last_modified, rep_size, &ranges);
  FUZZ_CHECK(status == 200 || status == 206 || status == 304 || status == 412 || status == 416);
  FUZZ_CHECK((status == 206) == !ranges.empty());
  if (status == 304) FUZZ_CHECK(p == Precondition::NotModified);
  if (status == 412) FUZZ_CHECK(p == Precondition::Failed);
  if (status == 206 || status == 416) {
    FUZZ_CHECK(req.method == Method::Get && req.headers.has("range") && rep_size >= 0);
    FUZZ_CHECK(!req.headers.has("if-range") || ir);
  }
  for (const auto& r : ranges) {
    FUZZ_CHECK(r.first <= r.last && r.last < static_cast<uint64_t>(rep_size));
  }
  return 0;
}
