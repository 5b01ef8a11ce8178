// tls/json.h: the flat string objects POST /certificates takes, and string quoting.
#include "tls/json.h"

#include <catch2/catch.hpp>

using portico::tls::json_quote;
using portico::tls::parse_string_object;

TEST_CASE("json: flat string objects", "[tls][json]") {
  auto r = parse_string_object(
      " {\"a\": \"x\\ny\", \"b\":\"\\u00e9\\ud83d\\ude00\\/\\\"\", \"c\": null} ");
  REQUIRE(r.ok());
  REQUIRE(r->size() == 2);
  CHECK((*r)[0] == std::pair<std::string, std::string>{"a", "x\ny"});
  CHECK((*r)[1].second == "\xc3\xa9\xf0\x9f\x98\x80/\"");
  CHECK(parse_string_object("{}")->empty());
}

TEST_CASE("json: what the parser refuses", "[tls][json]") {
  for (const char* bad :
       {"", "[]", "{\"a\": 1}", "{\"a\": {}}", "{\"a\": \"x\"", "{\"a\" \"x\"}",
        "{\"a\": \"x\", \"a\": \"y\"}", "{\"a\": \"x\"} trailing", "{\"a\": \"\\ud800\"}",
        "{\"a\": \"\\q\"}", "{\"a\": \"tab\there\"}", "{\"a\": \"x\",}"}) {
    INFO(bad);
    auto r = parse_string_object(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == portico::core::ErrorKind::ParseError);
  }
}

TEST_CASE("json: quoting round-trips", "[tls][json]") {
  std::string pem = "-----BEGIN X-----\nAB\"\\\t\x01\n-----END X-----\n";
  CHECK(json_quote("a\"b") == "\"a\\\"b\"");
  auto r = parse_string_object("{\"k\": " + json_quote(pem) + "}");
  REQUIRE(r.ok());
  CHECK((*r)[0].second == pem);
}
