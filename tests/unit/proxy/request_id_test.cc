#include "proxy/request_id.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>

using portico::proxy::RequestIdGenerator;

TEST_CASE("request ids have CloudFront's X-Amz-Cf-Id shape", "[request_id]") {
  RequestIdGenerator gen;
  std::set<std::string> seen;
  std::set<char> chars;
  for (int n = 0; n < 2000; ++n) {
    std::string id;
    gen.next(id);
    REQUIRE(id.size() == RequestIdGenerator::kLength);
    REQUIRE(id.substr(54) == "==");
    for (char c : id.substr(0, 54)) {
      bool url_safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
      REQUIRE(url_safe);
      chars.insert(c);
    }
    seen.insert(id);
  }
  CHECK(seen.size() == 2000);  // no repeats
  CHECK(chars.size() == 64);   // every position draws from the whole alphabet
}

TEST_CASE("request id characters cover every position evenly", "[request_id]") {
  // Each of the 54 positions takes its own 6 bits: across many ids, position p shows many
  // different characters (a broken pair table would pin or repeat positions).
  RequestIdGenerator gen;
  std::set<char> at[54];
  char buf[RequestIdGenerator::kLength];
  for (int n = 0; n < 4000; ++n) {
    gen.next(buf);
    for (int p = 0; p < 54; ++p) at[p].insert(buf[p]);
  }
  for (int p = 0; p < 54; ++p) {
    INFO("position " << p);
    CHECK(at[p].size() == 64);
  }
}
