// cache::parse_cache_control: directive names, quoted strings, duplicates, invalid and huge values.
#include "cache/cache_control.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using portico::cache::CacheControl;
using portico::cache::kMaxDeltaSeconds;
using portico::cache::parse_cache_control;
using portico::core::Headers;

using Strings = std::vector<std::string>;

TEST_CASE("cache-control: flags, case and whitespace", "[cache_control]") {
  CacheControl cc = parse_cache_control(
      "  Public ,NO-STORE,no-transform\t, Must-Revalidate,proxy-revalidate , immutable");
  CHECK(cc.public_);
  CHECK(cc.no_store);
  CHECK(cc.no_transform);
  CHECK(cc.must_revalidate);
  CHECK(cc.proxy_revalidate);
  CHECK(cc.immutable);
  CHECK_FALSE(cc.no_cache);
  CHECK_FALSE(cc.private_);
  CHECK_FALSE(cc.max_age);

  cc = parse_cache_control("");
  CHECK_FALSE(cc.no_store);
  CHECK_FALSE(cc.max_age);
  cc = parse_cache_control(" , ,, ");
  CHECK_FALSE(cc.public_);

  cc = parse_cache_control("Max-Age=60, S-MAXAGE=30, stale-while-revalidate=5, Stale-If-Error=9");
  CHECK(cc.max_age == 60);
  CHECK(cc.s_maxage == 30);
  CHECK(cc.stale_while_revalidate == 5);
  CHECK(cc.stale_if_error == 9);
  // Whitespace around '=' is tolerated; unknown directives ignored.
  cc = parse_cache_control("max-age = 60, x-ext=\"1\", community=\"UCI\"");
  CHECK(cc.max_age == 60);
}

TEST_CASE("cache-control: every field line counts", "[cache_control]") {
  Headers h;
  h.add("Cache-Control", "max-age=60");
  h.add("Content-Type", "text/plain");
  h.add("cache-control", "no-transform, private");
  CacheControl cc = parse_cache_control(h);
  CHECK(cc.max_age == 60);
  CHECK(cc.no_transform);
  CHECK(cc.private_);

  Headers one;
  one.add("Cache-Control", "s-maxage=5, public");
  CacheControl a = parse_cache_control(one);
  CacheControl b = parse_cache_control("s-maxage=5, public");
  CHECK(a.s_maxage == b.s_maxage);
  CHECK(a.public_ == b.public_);
}

TEST_CASE("cache-control: quoted strings", "[cache_control]") {
  CacheControl cc = parse_cache_control("no-cache=\"Set-Cookie, X-Foo\", max-age=60");
  CHECK_FALSE(cc.no_cache);
  CHECK(cc.no_cache_fields == Strings{"set-cookie", "x-foo"});
  CHECK(cc.max_age == 60);
  CHECK(cc.strips_field("SET-COOKIE"));
  CHECK(cc.strips_field("x-foo"));
  CHECK_FALSE(cc.strips_field("etag"));

  // A comma or a directive-looking string inside quotes is data.
  cc = parse_cache_control("x-ext=\"a, max-age=5, no-store\", max-age=10");
  CHECK(cc.max_age == 10);
  CHECK_FALSE(cc.no_store);

  // Backslash escapes.
  cc = parse_cache_control(R"(private="a\"b, c\\", max-age=3)");
  CHECK_FALSE(cc.private_);
  CHECK(cc.private_fields == Strings{"a\"b", "c\\"});
  CHECK(cc.max_age == 3);
  cc = parse_cache_control(R"(x="\", no-store", public)");
  CHECK_FALSE(cc.no_store);
  CHECK(cc.public_);

  // Token form of the field list, and the quoted form of delta-seconds.
  cc = parse_cache_control("no-cache=Set-Cookie, max-age=\"60\"");
  CHECK(cc.no_cache_fields == Strings{"set-cookie"});
  CHECK(cc.max_age == 60);
}

TEST_CASE("cache-control: unqualified wins and odd field lists", "[cache_control]") {
  CacheControl cc = parse_cache_control("no-cache=\"Set-Cookie\", no-cache");
  CHECK(cc.no_cache);
  CHECK(cc.no_cache_fields.empty());
  cc = parse_cache_control("no-cache, no-cache=\"Set-Cookie\"");
  CHECK(cc.no_cache);
  CHECK_FALSE(cc.strips_field("set-cookie"));

  // Empty list, unterminated quote, junk after the quote: read as unqualified.
  CHECK(parse_cache_control("no-cache=\"\"").no_cache);
  CHECK(parse_cache_control("no-cache=\" , \"").no_cache);
  CHECK(parse_cache_control("private=\"Set-Cookie").private_);
  CHECK(parse_cache_control("private=\"a\"b, max-age=5").private_);
  cc = parse_cache_control("private=\"a\"b, max-age=5");
  CHECK(cc.max_age == 5);

  // Arguments on flag directives are ignored; junk after a flag still sets it.
  CHECK(parse_cache_control("no-store=1").no_store);
  CHECK(parse_cache_control("no-store junk, max-age=5").no_store);
  CHECK(parse_cache_control("public=\"x, y\"").public_);
}

TEST_CASE("cache-control: invalid delta-seconds read as 0", "[cache_control]") {
  for (const char* v :
       {"max-age", "max-age=", "max-age=abc", "max-age=-1", "max-age=+5", "max-age=1.5",
        "max-age=60 s", "max-age=\"60", "max-age=\"\"", "max-age=6\"0\"", "max-age=0x10"}) {
    INFO(v);
    CacheControl cc = parse_cache_control(v);
    REQUIRE(cc.max_age.has_value());
    CHECK(*cc.max_age == 0);
  }
  CHECK(parse_cache_control("stale-if-error=never").stale_if_error == 0);
  CHECK(parse_cache_control("stale-while-revalidate").stale_while_revalidate == 0);
  CHECK(parse_cache_control("s-maxage=1e3").s_maxage == 0);
  CHECK(parse_cache_control("max-age=007").max_age == 7);
}

TEST_CASE("cache-control: duplicates", "[cache_control]") {
  CHECK(parse_cache_control("max-age=60, max-age=60").max_age == 60);
  CHECK(parse_cache_control("max-age=60, max-age=30").max_age == 0);
  CHECK(parse_cache_control("max-age=60, max-age=30, max-age=60").max_age == 0);
  CHECK(parse_cache_control("s-maxage=1, s-maxage=bad").s_maxage == 0);
  CHECK(parse_cache_control("stale-if-error=5, stale-if-error=6").stale_if_error == 0);
  Headers h;
  h.add("Cache-Control", "max-age=60");
  h.add("Cache-Control", "max-age=61");
  CHECK(parse_cache_control(h).max_age == 0);
  CacheControl cc = parse_cache_control("no-cache=\"a\", no-cache=\"b\"");
  CHECK(cc.no_cache_fields == Strings{"a", "b"});
  CHECK(parse_cache_control("no-store, no-store").no_store);
}

TEST_CASE("cache-control: huge values saturate at 2^31", "[cache_control]") {
  CHECK(kMaxDeltaSeconds == 2'147'483'648);
  CHECK(parse_cache_control("max-age=2147483647").max_age == 2'147'483'647);
  CHECK(parse_cache_control("max-age=2147483648").max_age == kMaxDeltaSeconds);
  CHECK(parse_cache_control("max-age=2147483649").max_age == kMaxDeltaSeconds);
  CHECK(parse_cache_control("max-age=99999999999999999999999999999999").max_age ==
        kMaxDeltaSeconds);
  CHECK(parse_cache_control("s-maxage=00000000000000000000000000000001").s_maxage == 1);
  CHECK(parse_cache_control("stale-if-error=18446744073709551616").stale_if_error ==
        kMaxDeltaSeconds);
}
