// cache::vary_key / vary_matches / vary_star: name normalization, value normalization, absent vs
// empty, and Accept-Encoding through the normalized Encoding.
#include "cache/vary.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using portico::cache::Encoding;
using portico::cache::vary_key;
using portico::cache::vary_matches;
using portico::cache::vary_star;
using portico::core::Headers;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

Headers fields(const Fields& list) {
  Headers h;
  for (const auto& [n, v] : list) h.add(n, v);
  return h;
}

std::string vkey(const Fields& response, const Fields& request,
                 std::optional<Encoding> e = std::nullopt) {
  std::string out = "garbage";
  vary_key(fields(response), fields(request), e, out);
  return out;
}

}  // namespace

TEST_CASE("vary: star", "[vary]") {
  CHECK_FALSE(vary_star(fields({})));
  CHECK_FALSE(vary_star(fields({{"Vary", "Accept-Encoding"}})));
  CHECK(vary_star(fields({{"Vary", "*"}})));
  CHECK(vary_star(fields({{"Vary", "Accept, *"}})));
  CHECK(vary_star(fields({{"Vary", "Accept"}, {"vary", " * "}})));
  CHECK_FALSE(vary_star(fields({{"X-Vary", "*"}})));
}

TEST_CASE("vary: no Vary, no secondary key", "[vary]") {
  CHECK(vkey({}, {{"Accept", "x"}}).empty());
  CHECK(vkey({{"Vary", " , "}}, {{"Accept", "x"}}).empty());
  CHECK(vkey({{"Vary", "*"}}, {{"Accept", "x"}}).empty());  // "*" itself is not a field
}

TEST_CASE("vary: field names are lower-cased, de-duplicated and sorted", "[vary]") {
  Fields request = {{"A", "1"}, {"b", "2"}, {"C", "3"}};
  std::string k = vkey({{"Vary", "B, a"}}, request);
  CHECK(k == vkey({{"Vary", "A"}, {"Vary", "b"}}, request));
  CHECK(k == vkey({{"Vary", "a, B, A, b"}}, request));
  CHECK(k != vkey({{"Vary", "a, b, c"}}, request));
  CHECK(k == vkey({{"Vary", "a, *, b"}}, request));
}

TEST_CASE("vary: values", "[vary]") {
  Fields vary = {{"Vary", "Accept-Language"}};
  std::string en_fr = vkey(vary, {{"Accept-Language", "en, fr"}});
  // Whitespace normalization.
  CHECK(en_fr == vkey(vary, {{"Accept-Language", "en,fr"}}));
  CHECK(en_fr == vkey(vary, {{"Accept-Language", "  en ,\tfr  "}}));
  CHECK(en_fr == vkey(vary, {{"Accept-Language", "en"}, {"accept-language", "fr"}}));
  CHECK(vkey(vary, {{"Accept-Language", "a  b"}}) == vkey(vary, {{"Accept-Language", "a b"}}));
  CHECK(vkey(vary, {{"Accept-Language", "a b"}}) != vkey(vary, {{"Accept-Language", "ab"}}));
  // Case-sensitive values; absent differs from empty.
  CHECK(en_fr != vkey(vary, {{"Accept-Language", "EN, fr"}}));
  CHECK(vkey(vary, {}) != vkey(vary, {{"Accept-Language", ""}}));
  CHECK(vkey(vary, {}) == vkey(vary, {{"Accept", "x"}}));
  // A value cannot leak into the next field.
  Fields two = {{"Vary", "a, b"}};
  CHECK(vkey(two, {{"a", "1"}, {"b", "2"}}) != vkey(two, {{"a", "1H1:bV1:2"}}));
}

TEST_CASE("vary: Accept-Encoding compares the normalized encoding", "[vary]") {
  Fields vary = {{"Vary", "Accept-Encoding, Accept"}};
  CHECK(vkey(vary, {{"Accept-Encoding", "gzip, deflate"}}, Encoding::Gzip) ==
        vkey(vary, {{"Accept-Encoding", "gzip"}}, Encoding::Gzip));
  CHECK(vkey(vary, {{"Accept-Encoding", "gzip"}}, Encoding::Gzip) !=
        vkey(vary, {{"Accept-Encoding", "gzip"}}, Encoding::BrotliGzip));
  // Without normalization the raw value counts.
  CHECK(vkey(vary, {{"Accept-Encoding", "gzip, deflate"}}) !=
        vkey(vary, {{"Accept-Encoding", "gzip"}}));
}

TEST_CASE("vary: matching", "[vary]") {
  Headers response = fields({{"Vary", "Origin"}, {"Cache-Control", "max-age=60"}});
  Headers stored_request = fields({{"Origin", "https://a.example"}});
  std::string stored;
  vary_key(response, stored_request, std::nullopt, stored);
  std::string scratch;
  CHECK(vary_matches(response, stored, stored_request, std::nullopt, scratch));
  CHECK(vary_matches(response, stored, fields({{"origin", "https://a.example"}, {"X", "y"}}),
                     std::nullopt, scratch));
  CHECK_FALSE(vary_matches(response, stored, fields({{"Origin", "https://b.example"}}),
                           std::nullopt, scratch));
  CHECK_FALSE(vary_matches(response, stored, fields({}), std::nullopt, scratch));

  Headers no_vary = fields({{"Cache-Control", "max-age=60"}});
  CHECK(vary_matches(no_vary, "", fields({{"Origin", "x"}}), std::nullopt, scratch));
}

TEST_CASE("vary: very long Vary lists stay deterministic", "[vary]") {
  std::string names;
  Fields request;
  for (int i = 0; i < 40; ++i) {
    names += "h" + std::to_string(39 - i) + ", ";
    request.emplace_back("h" + std::to_string(i), std::to_string(i));
  }
  Fields vary = {{"Vary", names}};
  std::string k = vkey(vary, request);
  CHECK(k == vkey(vary, request));
  request[35].second = "changed";
  CHECK(k != vkey(vary, request));
}
