#include "origin/conditional.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/clock.h"

using portico::core::Method;
using portico::core::RequestHead;
using portico::origin::ByteRange;
using portico::origin::etag_list_matches;
using portico::origin::evaluate_preconditions;
using portico::origin::if_range_matches;
using portico::origin::parse_range;
using portico::origin::Precondition;
using portico::origin::RangeResult;

namespace {

struct Parsed {
  RangeResult result;
  std::vector<ByteRange> ranges;
};

Parsed range(std::string_view header, uint64_t size) {
  Parsed p;
  p.result = parse_range(header, size, &p.ranges);
  return p;
}

std::vector<ByteRange> br(std::initializer_list<std::pair<uint64_t, uint64_t>> list) {
  std::vector<ByteRange> out;
  for (auto [f, l] : list) out.push_back(ByteRange{f, l});
  return out;
}

constexpr std::string_view kEtag = "\"5f5e1000-1234\"";
constexpr int64_t kLastModified = 1'600'000'000;

std::string date(int64_t t) {
  char buf[32];
  size_t n = portico::core::format_http_date(t, buf);
  return std::string(buf, n);
}

RequestHead request(Method m, std::initializer_list<std::pair<const char*, std::string>> hs) {
  RequestHead r;
  r.method = m;
  for (const auto& [name, value] : hs) r.headers.add(name, value);
  return r;
}

Precondition eval(Method m, std::initializer_list<std::pair<const char*, std::string>> hs,
                  std::string_view etag = kEtag) {
  return evaluate_preconditions(request(m, hs), etag, kLastModified);
}

}  // namespace

TEST_CASE("range: single ranges", "[range]") {
  auto p = range("bytes=0-499", 1000);
  CHECK(p.result == RangeResult::Satisfiable);
  CHECK(p.ranges == br({{0, 499}}));
  CHECK(p.ranges[0].length() == 500);
  CHECK(range("bytes=500-999", 1000).ranges == br({{500, 999}}));
  CHECK(range("bytes=500-", 1000).ranges == br({{500, 999}}));
  CHECK(range("bytes=-500", 1000).ranges == br({{500, 999}}));
  CHECK(range("bytes=-5000", 1000).ranges == br({{0, 999}}));  // suffix longer than the file
  CHECK(range("bytes=0-0", 1000).ranges == br({{0, 0}}));
  CHECK(range("bytes=999-", 1000).ranges == br({{999, 999}}));
  CHECK(range("bytes=0-5000", 1000).ranges == br({{0, 999}}));  // last clamped
  CHECK(range("bytes=0-99999999999999999999999", 1000).ranges == br({{0, 999}}));
  CHECK(range("BYTES=1-2", 1000).ranges == br({{1, 2}}));  // unit is case-insensitive
  CHECK(range("bytes=1-2", 1).result == RangeResult::Unsatisfiable);
}

TEST_CASE("range: unsatisfiable", "[range]") {
  CHECK(range("bytes=1000-", 1000).result == RangeResult::Unsatisfiable);
  CHECK(range("bytes=1000-2000", 1000).result == RangeResult::Unsatisfiable);
  CHECK(range("bytes=-0", 1000).result == RangeResult::Unsatisfiable);
  CHECK(range("bytes=1000-1001, 2000-", 1000).result == RangeResult::Unsatisfiable);
  CHECK(range("bytes=99999999999999999999999-", 1000).result == RangeResult::Unsatisfiable);
  CHECK(range("bytes=0-", 0).result == RangeResult::Unsatisfiable);
  auto p = range("bytes=1000-", 1000);
  CHECK(p.ranges.empty());
  // One satisfiable spec is enough; the others are dropped.
  CHECK(range("bytes=5000-6000,0-1", 1000).ranges == br({{0, 1}}));
}

TEST_CASE("range: ignored headers", "[range]") {
  for (std::string_view h :
       {"", "bytes", "bytes=", "bytes=,", "items=0-1", "bytes=a-b", "bytes=1-0", "bytes=5-4",
        "bytes=0-1,x", "bytes=--1", "bytes=0--1", "bytes=1", "bytes=0 - 1", "bytes=+1-2",
        "bytes=0-1;q=1", "bytes=0x10-", "bytes=-", "bytes 0-1"}) {
    INFO("header: " << h);
    auto p = range(h, 1000);
    CHECK(p.result == RangeResult::Ignore);
    CHECK(p.ranges.empty());
  }
  // A non-zero suffix of an empty file selects the (empty) whole: serve 200.
  CHECK(range("bytes=-5", 0).result == RangeResult::Ignore);
}

TEST_CASE("range: lists, whitespace and coalescing", "[range]") {
  CHECK(range("bytes=0-1, 5-6", 10).ranges == br({{0, 1}, {5, 6}}));
  CHECK(range("bytes=5-6,0-1", 10).ranges == br({{5, 6}, {0, 1}}));  // order kept when disjoint
  CHECK(range("bytes= 0-1 ,\t5-6 ", 10).ranges == br({{0, 1}, {5, 6}}));
  CHECK(range("bytes=,0-1,,5-6,", 10).ranges == br({{0, 1}, {5, 6}}));
  CHECK(range("bytes=0-5,3-8", 10).ranges == br({{0, 8}}));      // overlap
  CHECK(range("bytes=4-5,0-3", 10).ranges == br({{0, 5}}));      // touching
  CHECK(range("bytes=0-1,0-1,0-1", 10).ranges == br({{0, 1}}));  // repeats
  CHECK(range("bytes=-3,0-1,5-", 10).ranges == br({{0, 1}, {5, 9}}));
  CHECK(range("bytes=0-0,-1", 10).ranges == br({{0, 0}, {9, 9}}));
}

TEST_CASE("range: too many ranges are ignored", "[range]") {
  std::string h = "bytes=";
  for (int i = 0; i < 16; ++i) h += std::to_string(i * 10) + "-" + std::to_string(i * 10 + 1) + ",";
  auto p = range(h, 1000);
  CHECK(p.result == RangeResult::Satisfiable);
  CHECK(p.ranges.size() == 16);
  h += "500-501";
  p = range(h, 1000);
  CHECK(p.result == RangeResult::Ignore);
  CHECK(p.ranges.empty());
}

TEST_CASE("etag lists", "[conditional]") {
  CHECK(etag_list_matches("\"a\"", "\"a\"", false));
  CHECK(etag_list_matches("\"x\", \"a\"", "\"a\"", false));
  CHECK_FALSE(etag_list_matches("W/\"a\"", "\"a\"", false));
  CHECK(etag_list_matches("W/\"a\"", "\"a\"", true));
  CHECK(etag_list_matches("\"a\"", "W/\"a\"", true));
  CHECK_FALSE(etag_list_matches("\"a\"", "W/\"a\"", false));
  CHECK(etag_list_matches("\"a,b\", \"c\"", "\"c\"", false));  // commas inside a tag
  CHECK(etag_list_matches("\"a,b\"", "\"a,b\"", false));
  CHECK_FALSE(etag_list_matches("\"a\"", "\"A\"", true));  // opaque tags are case-sensitive
  CHECK_FALSE(etag_list_matches("a", "\"a\"", true));
  CHECK_FALSE(etag_list_matches("\"a", "\"a\"", true));
  CHECK_FALSE(etag_list_matches("\"a\"", "", true));
  CHECK(etag_list_matches(",, \"a\" ,", "\"a\"", false));
}

TEST_CASE("preconditions: If-Match", "[conditional]") {
  CHECK(eval(Method::Get, {{"If-Match", std::string(kEtag)}}) == Precondition::Proceed);
  CHECK(eval(Method::Get, {{"If-Match", "\"other\""}}) == Precondition::Failed);
  CHECK(eval(Method::Put, {{"If-Match", "\"other\", " + std::string(kEtag)}}) ==
        Precondition::Proceed);
  CHECK(eval(Method::Get, {{"If-Match", "*"}}) == Precondition::Proceed);
  CHECK(eval(Method::Get, {{"If-Match", "W/" + std::string(kEtag)}}) == Precondition::Failed);
  CHECK(eval(Method::Get, {{"If-Match", std::string(kEtag)}}, "W/\"5f5e1000-1234\"") ==
        Precondition::Failed);
  // Several fields combine into one list.
  CHECK(eval(Method::Get, {{"If-Match", "\"x\""}, {"if-match", std::string(kEtag)}}) ==
        Precondition::Proceed);
  // If-Match wins over If-Unmodified-Since (which is then not evaluated).
  CHECK(eval(Method::Get, {{"If-Match", std::string(kEtag)},
                           {"If-Unmodified-Since", date(kLastModified - 100)}}) ==
        Precondition::Proceed);
}

TEST_CASE("preconditions: If-Unmodified-Since", "[conditional]") {
  CHECK(eval(Method::Get, {{"If-Unmodified-Since", date(kLastModified)}}) == Precondition::Proceed);
  CHECK(eval(Method::Get, {{"If-Unmodified-Since", date(kLastModified + 10)}}) ==
        Precondition::Proceed);
  CHECK(eval(Method::Get, {{"If-Unmodified-Since", date(kLastModified - 1)}}) ==
        Precondition::Failed);
  CHECK(eval(Method::Get, {{"If-Unmodified-Since", "not a date"}}) == Precondition::Proceed);
  // No Last-Modified: ignored.
  CHECK(evaluate_preconditions(
            request(Method::Get, {{"If-Unmodified-Since", date(kLastModified - 1)}}), kEtag, -1) ==
        Precondition::Proceed);
}

TEST_CASE("preconditions: If-None-Match", "[conditional]") {
  CHECK(eval(Method::Get, {{"If-None-Match", std::string(kEtag)}}) == Precondition::NotModified);
  CHECK(eval(Method::Head, {{"If-None-Match", std::string(kEtag)}}) == Precondition::NotModified);
  CHECK(eval(Method::Get, {{"If-None-Match", "W/" + std::string(kEtag)}}) ==
        Precondition::NotModified);  // weak comparison
  CHECK(eval(Method::Get, {{"If-None-Match", "\"a\", \"b\""}}) == Precondition::Proceed);
  CHECK(eval(Method::Get, {{"If-None-Match", "\"a\", " + std::string(kEtag)}}) ==
        Precondition::NotModified);
  CHECK(eval(Method::Get, {{"If-None-Match", "*"}}) == Precondition::NotModified);
  CHECK(eval(Method::Post, {{"If-None-Match", "*"}}) == Precondition::Failed);
  CHECK(eval(Method::Delete, {{"If-None-Match", std::string(kEtag)}}) == Precondition::Failed);
  CHECK(eval(Method::Get, {{"If-None-Match", std::string(kEtag)}}, "") == Precondition::Proceed);
  // If-None-Match present: If-Modified-Since is not evaluated (§13.2.2 step 4).
  CHECK(eval(Method::Get, {{"If-None-Match", "\"other\""},
                           {"If-Modified-Since", date(kLastModified)}}) == Precondition::Proceed);
}

TEST_CASE("preconditions: If-Modified-Since", "[conditional]") {
  CHECK(eval(Method::Get, {{"If-Modified-Since", date(kLastModified)}}) ==
        Precondition::NotModified);
  CHECK(eval(Method::Head, {{"If-Modified-Since", date(kLastModified + 60)}}) ==
        Precondition::NotModified);
  CHECK(eval(Method::Get, {{"If-Modified-Since", date(kLastModified - 1)}}) ==
        Precondition::Proceed);
  CHECK(eval(Method::Get, {{"If-Modified-Since", "garbage"}}) == Precondition::Proceed);
  CHECK(eval(Method::Get, {{"If-Modified-Since", "Sunday, 13-Sep-20 12:26:40 GMT"}}) ==
        Precondition::NotModified);  // RFC 850 form of kLastModified
  // Only GET and HEAD.
  CHECK(eval(Method::Post, {{"If-Modified-Since", date(kLastModified)}}) == Precondition::Proceed);
  CHECK(evaluate_preconditions(request(Method::Get, {{"If-Modified-Since", date(kLastModified)}}),
                               kEtag, -1) == Precondition::Proceed);
}

TEST_CASE("preconditions: order", "[conditional]") {
  // If-Match failure beats a matching If-None-Match.
  CHECK(eval(Method::Get, {{"If-Match", "\"other\""}, {"If-None-Match", std::string(kEtag)}}) ==
        Precondition::Failed);
  // If-Unmodified-Since failure beats If-None-Match / If-Modified-Since.
  CHECK(eval(Method::Get, {{"If-Unmodified-Since", date(kLastModified - 1)},
                           {"If-Modified-Since", date(kLastModified)}}) == Precondition::Failed);
  CHECK(eval(Method::Get, {}) == Precondition::Proceed);
}

TEST_CASE("If-Range", "[conditional]") {
  CHECK(if_range_matches(kEtag, kEtag, kLastModified));
  CHECK(if_range_matches(" \"5f5e1000-1234\" ", kEtag, kLastModified));
  CHECK_FALSE(if_range_matches("\"other\"", kEtag, kLastModified));
  CHECK_FALSE(if_range_matches("W/\"5f5e1000-1234\"", kEtag, kLastModified));
  CHECK_FALSE(if_range_matches(kEtag, "W/\"5f5e1000-1234\"", kLastModified));
  CHECK_FALSE(if_range_matches("\"", "\"", kLastModified));
  CHECK(if_range_matches(date(kLastModified), kEtag, kLastModified));
  CHECK_FALSE(if_range_matches(date(kLastModified + 1), kEtag, kLastModified));
  CHECK_FALSE(if_range_matches(date(kLastModified - 1), kEtag, kLastModified));
  CHECK_FALSE(if_range_matches(date(kLastModified), kEtag, -1));
  CHECK_FALSE(if_range_matches("garbage", kEtag, kLastModified));
  CHECK_FALSE(if_range_matches("", kEtag, kLastModified));
}

TEST_CASE("select_status: preconditions first, then Range and If-Range", "[conditional]") {
  using portico::origin::select_status;
  std::vector<portico::origin::ByteRange> r;
  const std::string etag = "\"e1\"";
  CHECK(select_status(request(Method::Get, {}), etag, 1000, 100, &r) == 200);
  CHECK(select_status(request(Method::Get, {{"if-none-match", "\"e1\""}}), etag, 1000, 100, &r) ==
        304);
  CHECK(select_status(request(Method::Get, {{"if-match", "\"zz\""}}), etag, 1000, 100, &r) == 412);
  CHECK(select_status(request(Method::Get, {{"range", "bytes=0-9"}}), etag, 1000, 100, &r) == 206);
  REQUIRE(r.size() == 1);
  CHECK(r[0].last == 9);
  CHECK(select_status(request(Method::Get, {{"range", "bytes=200-"}}), etag, 1000, 100, &r) == 416);
  CHECK(select_status(request(Method::Head, {{"range", "bytes=0-9"}}), etag, 1000, 100, &r) == 200);
  CHECK(select_status(request(Method::Get, {{"range", "bytes=0-9"}, {"if-range", "\"other\""}}),
                      etag, 1000, 100, &r) == 200);
  CHECK(select_status(request(Method::Get, {{"range", "bytes=0-9"}}), etag, 1000, -1, &r) == 200);
  CHECK(r.empty());
}
