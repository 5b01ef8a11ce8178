// core/json.h: whitespace and string literals shared by the admin APIs' JSON readers.
#include "core/json.h"

#include <catch2/catch.hpp>
#include <string>

using portico::core::read_json_string;
using portico::core::skip_json_ws;

TEST_CASE("json strings: every escape, surrogate pairs as UTF-8", "[json]") {
  const std::string s = " \t\r\n\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\ud83d\\ude00\" rest";
  size_t i = 0;
  skip_json_ws(s, i);
  CHECK(i == 4);
  auto r = read_json_string(s, i);
  REQUIRE(r.ok());
  CHECK(*r == "a\"\\/\b\f\n\r\tA\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(s.substr(i) == " rest");  // just past the closing quote
}

TEST_CASE("json strings: what is refused", "[json]") {
  for (const char* bad : {"x", "\"open", "\"\\q\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
                          "\"\\ud800\\u0041\"", "\"tab\there\"", "\"\\"}) {
    INFO(bad);
    size_t i = 0;
    auto r = read_json_string(bad, i);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == portico::core::ErrorKind::ParseError);
    CHECK(r.error().side == portico::core::Side::Downstream);
  }
}
