// Cache policies, origin request policies, AWS's managed policies, the `cache:` block and custom
// error responses: every field maps onto the Model, behaviors resolve to pointers into the policy
// vectors, and every error names FILE:LINE:COL and the key path.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/loader.h"
#include "config/managed_policies.h"
#include "tests/unit/config/load_util.h"

using portico::config::CachePolicy;
using portico::config::ItemBehavior;
using portico::config::ItemSet;
using portico::config::load_string;
using portico::config::Model;
using portico::config::OriginRequestPolicy;

namespace {

using portico::config::test::load_error;
using portico::config::test::load_ok;

using Items = std::vector<std::string>;

// One listener and one distribution, to append after policy blocks. `behavior` is added to the
// default behavior's flow map (line N+5 when the text before has N lines, column 51);
// `distribution` is appended to the distribution (from line N+6).
std::string tail(const std::string& behavior = "", const std::string& distribution = "") {
  return "listeners: [{name: http, address: 127.0.0.1:8080}]\n"
         "distributions:\n"
         "  - id: web\n"
         "    origins: [{id: api, custom_origin: {url: \"http://127.0.0.1:9001\"}}]\n"
         "    default_cache_behavior: {target_origin_id: api" +
         (behavior.empty() ? "" : ", " + behavior) + "}\n" + distribution;
}

// A config whose only cache policy is `fields` (a block map indented by 4, starting on line 2).
std::string cache_policy(const std::string& fields) {
  return "cache_policies:\n  - name: p\n" + fields + tail();
}

// Same for one origin request policy.
std::string origin_request_policy(const std::string& fields) {
  return "origin_request_policies:\n  - name: p\n" + fields + tail();
}

// A config with `responses` as the distribution's custom_error_responses (list items from line
// 7).
std::string error_responses(const std::string& responses) {
  return tail("", "    custom_error_responses:\n" + responses);
}

const CachePolicy& cache(const Model& m, const std::string& name) {
  const CachePolicy* p = m.find_cache_policy(name);
  REQUIRE(p != nullptr);
  return *p;
}

const OriginRequestPolicy& orp(const Model& m, const std::string& name) {
  const OriginRequestPolicy* p = m.find_origin_request_policy(name);
  REQUIRE(p != nullptr);
  return *p;
}

void check_set(const ItemSet& set, ItemBehavior behavior, const Items& items = {}) {
  CHECK(set.behavior == behavior);
  CHECK(set.items == items);
}

}  // namespace

TEST_CASE("the cache policy contract example parses", "[config][policy]") {
  const std::string yaml = R"(cache_policies:
  - name: assets
    min_ttl: 0
    default_ttl: 86400
    max_ttl: 31536000
    cache_key: { headers: [], cookies: none, query_strings: { whitelist: [v] }, enable_accept_encoding_gzip: true, enable_accept_encoding_brotli: true }
)" + tail("cache_policy: assets, compress: true");
  Model m = load_ok(yaml);
  CHECK(m.warnings.empty());
  REQUIRE(m.cache_policies.size() == 1 + 7);
  const CachePolicy& p = m.cache_policies[0];
  CHECK(p.name == "assets");
  CHECK_FALSE(p.managed);
  CHECK(p.comment.empty());
  CHECK(p.min_ttl == 0);
  CHECK(p.default_ttl == 86'400);
  CHECK(p.max_ttl == 31'536'000);
  check_set(p.headers, ItemBehavior::None);
  check_set(p.cookies, ItemBehavior::None);
  check_set(p.query_strings, ItemBehavior::Whitelist, {"v"});
  CHECK(p.enable_accept_encoding_gzip);
  CHECK(p.enable_accept_encoding_brotli);
  CHECK_FALSE(p.heuristic_freshness);
  CHECK(p.stale_if_error == 0);
  CHECK(p.loc.file == "t.yaml");
  CHECK(p.loc.line == 2);
  CHECK(p.loc.column == 5);
  const auto& b = m.distributions[0].default_cache_behavior;
  CHECK(b.cache_policy == "assets");
  CHECK(b.cache_policy_ref == &m.cache_policies[0]);
  CHECK(b.origin_request_policy_ref == nullptr);
}

TEST_CASE("cache policy: every field", "[config][policy]") {
  Model m =
      load_ok(cache_policy("    comment: \"static files\"\n"
                           "    min_ttl: 5\n"
                           "    default_ttl: 60\n"
                           "    max_ttl: 3600\n"
                           "    cache_key:\n"
                           "      headers: [Accept-Language, X-Custom]\n"
                           "      cookies: {all_except: [session, Tracking]}\n"
                           "      query_strings: all\n"
                           "      enable_accept_encoding_gzip: false\n"
                           "      enable_accept_encoding_brotli: true\n"
                           "    heuristic_freshness: true\n"
                           "    stale_if_error: 300\n"));
  const CachePolicy& p = cache(m, "p");
  CHECK(p.comment == "static files");
  CHECK(p.min_ttl == 5);
  CHECK(p.default_ttl == 60);
  CHECK(p.max_ttl == 3600);
  check_set(p.headers, ItemBehavior::Whitelist, {"accept-language", "x-custom"});
  check_set(p.cookies, ItemBehavior::AllExcept, {"session", "Tracking"});
  check_set(p.query_strings, ItemBehavior::All);
  CHECK_FALSE(p.enable_accept_encoding_gzip);
  CHECK(p.enable_accept_encoding_brotli);
  CHECK(p.heuristic_freshness);
  CHECK(p.stale_if_error == 300);
  CHECK_FALSE(p.caching_disabled());
}

TEST_CASE("cache policy: the spellings of headers, cookies and query strings", "[config][policy]") {
  Model m = load_ok(
      "cache_policies:\n"
      "  - {name: a, cache_key: {headers: none, cookies: all, query_strings: none}}\n"
      "  - {name: b, cache_key: {headers: {whitelist: [Host]}, cookies: {whitelist: [id]},\n"
      "      query_strings: {all_except: [utm_source, utm_medium]}}}\n"
      "  - {name: c, cache_key: {headers: [], cookies: none, query_strings: none}}\n"
      "  - {name: d, cache_key: {headers: , cookies: , query_strings: }}\n" +
      tail());
  const CachePolicy& a = cache(m, "a");
  check_set(a.headers, ItemBehavior::None);
  check_set(a.cookies, ItemBehavior::All);
  check_set(a.query_strings, ItemBehavior::None);
  const CachePolicy& b = cache(m, "b");
  check_set(b.headers, ItemBehavior::Whitelist, {"host"});
  check_set(b.cookies, ItemBehavior::Whitelist, {"id"});
  check_set(b.query_strings, ItemBehavior::AllExcept, {"utm_source", "utm_medium"});
  check_set(cache(m, "c").headers, ItemBehavior::None);
  for (const char* name : {"c", "d"}) {
    const CachePolicy& p = cache(m, name);
    check_set(p.headers, ItemBehavior::None);
    check_set(p.cookies, ItemBehavior::None);
    check_set(p.query_strings, ItemBehavior::None);
  }
}

TEST_CASE("cache policy: defaults and CloudFront's TTL defaulting", "[config][policy]") {
  Model m = load_ok(
      "cache_policies:\n"
      "  - {name: plain}\n"
      "  - {name: long_min, min_ttl: 100000}\n"
      "  - {name: long_default, default_ttl: 40000000}\n"
      "  - {name: disabled, min_ttl: 0, default_ttl: 0, max_ttl: 0}\n" +
      tail());
  const CachePolicy& plain = cache(m, "plain");
  CHECK(plain.min_ttl == 0);
  CHECK(plain.default_ttl == 86'400);
  CHECK(plain.max_ttl == 31'536'000);
  check_set(plain.headers, ItemBehavior::None);
  check_set(plain.cookies, ItemBehavior::None);
  check_set(plain.query_strings, ItemBehavior::None);
  CHECK_FALSE(plain.enable_accept_encoding_gzip);
  CHECK_FALSE(plain.enable_accept_encoding_brotli);
  CHECK_FALSE(plain.heuristic_freshness);
  CHECK(plain.stale_if_error == 0);
  // DefaultTTL defaults to MinTTL when that is above a day; MaxTTL to DefaultTTL above a year.
  CHECK(cache(m, "long_min").default_ttl == 100'000);
  CHECK(cache(m, "long_min").max_ttl == 31'536'000);
  CHECK(cache(m, "long_default").max_ttl == 40'000'000);
  CHECK(cache(m, "disabled").caching_disabled());
}

TEST_CASE("origin request policy: every spelling", "[config][policy]") {
  Model m = load_ok(
      "origin_request_policies:\n"
      "  - {name: a, comment: hi, headers: none, cookies: none, query_strings: none}\n"
      "  - {name: b, headers: all_viewer, cookies: all, query_strings: all}\n"
      "  - {name: c, headers: {whitelist: [Origin, Accept-Encoding]}, cookies: {whitelist: [a]},\n"
      "      query_strings: {whitelist: [q]}}\n"
      "  - {name: d, headers: {all_viewer_and_whitelist_cloudfront: [CloudFront-Viewer-Country]},\n"
      "      cookies: {all_except: [b]}, query_strings: {all_except: [r]}}\n"
      "  - {name: e, headers: {all_except: [Host]}}\n"
      "  - {name: f}\n" +
      tail("origin_request_policy: d"));
  REQUIRE(m.origin_request_policies.size() == 6 + 8);
  const OriginRequestPolicy& a = orp(m, "a");
  CHECK(a.comment == "hi");
  CHECK_FALSE(a.managed);
  CHECK(a.loc.line == 2);
  check_set(a.headers, ItemBehavior::None);
  check_set(a.cookies, ItemBehavior::None);
  check_set(a.query_strings, ItemBehavior::None);
  const OriginRequestPolicy& b = orp(m, "b");
  check_set(b.headers, ItemBehavior::AllViewer);
  check_set(b.cookies, ItemBehavior::All);
  check_set(b.query_strings, ItemBehavior::All);
  const OriginRequestPolicy& c = orp(m, "c");
  check_set(c.headers, ItemBehavior::Whitelist, {"origin", "accept-encoding"});
  check_set(c.cookies, ItemBehavior::Whitelist, {"a"});
  check_set(c.query_strings, ItemBehavior::Whitelist, {"q"});
  const OriginRequestPolicy& d = orp(m, "d");
  check_set(d.headers, ItemBehavior::AllViewerAndWhitelistCloudFront,
            {"cloudfront-viewer-country"});
  check_set(d.cookies, ItemBehavior::AllExcept, {"b"});
  check_set(d.query_strings, ItemBehavior::AllExcept, {"r"});
  check_set(orp(m, "e").headers, ItemBehavior::AllExcept, {"host"});
  check_set(orp(m, "f").headers, ItemBehavior::None);
  const auto& behavior = m.distributions[0].default_cache_behavior;
  CHECK(behavior.origin_request_policy_ref == &d);
  CHECK(behavior.cache_policy_ref == nullptr);
}

TEST_CASE("managed cache policies carry AWS's documented settings", "[config][policy]") {
  Model m = load_ok(tail());
  REQUIRE(m.cache_policies.size() == 7);
  for (const CachePolicy& p : m.cache_policies) {
    CHECK(p.managed);
    CHECK_FALSE(p.heuristic_freshness);
    CHECK(p.stale_if_error == 0);
    CHECK_FALSE(p.comment.empty());
  }
  CHECK(m.cache_policies[0].name == "Managed-CachingOptimized");
  CHECK(m.cache_policies[6].name == "Managed-Elemental-MediaPackage");

  const CachePolicy& optimized = cache(m, "Managed-CachingOptimized");
  CHECK(optimized.min_ttl == 1);
  CHECK(optimized.default_ttl == 86'400);
  CHECK(optimized.max_ttl == 31'536'000);
  check_set(optimized.headers, ItemBehavior::None);
  check_set(optimized.cookies, ItemBehavior::None);
  check_set(optimized.query_strings, ItemBehavior::None);
  CHECK(optimized.enable_accept_encoding_gzip);
  CHECK(optimized.enable_accept_encoding_brotli);

  const CachePolicy& uncompressed = cache(m, "Managed-CachingOptimizedForUncompressedObjects");
  CHECK(uncompressed.min_ttl == 1);
  CHECK(uncompressed.default_ttl == 86'400);
  CHECK(uncompressed.max_ttl == 31'536'000);
  check_set(uncompressed.headers, ItemBehavior::None);
  check_set(uncompressed.cookies, ItemBehavior::None);
  check_set(uncompressed.query_strings, ItemBehavior::None);
  CHECK_FALSE(uncompressed.enable_accept_encoding_gzip);
  CHECK_FALSE(uncompressed.enable_accept_encoding_brotli);

  const CachePolicy& disabled = cache(m, "Managed-CachingDisabled");
  CHECK(disabled.min_ttl == 0);
  CHECK(disabled.default_ttl == 0);
  CHECK(disabled.max_ttl == 0);
  CHECK(disabled.caching_disabled());
  check_set(disabled.headers, ItemBehavior::None);
  check_set(disabled.cookies, ItemBehavior::None);
  check_set(disabled.query_strings, ItemBehavior::None);
  CHECK_FALSE(disabled.enable_accept_encoding_gzip);
  CHECK_FALSE(disabled.enable_accept_encoding_brotli);

  const Items origin_headers{"host", "origin", "x-http-method-override", "x-http-method",
                             "x-method-override"};
  const CachePolicy& origin = cache(m, "UseOriginCacheControlHeaders");
  CHECK(origin.min_ttl == 0);
  CHECK(origin.default_ttl == 0);
  CHECK(origin.max_ttl == 31'536'000);
  check_set(origin.headers, ItemBehavior::Whitelist, origin_headers);
  check_set(origin.cookies, ItemBehavior::All);
  check_set(origin.query_strings, ItemBehavior::None);
  CHECK(origin.enable_accept_encoding_gzip);
  CHECK(origin.enable_accept_encoding_brotli);

  const CachePolicy& origin_qs = cache(m, "UseOriginCacheControlHeaders-QueryStrings");
  CHECK(origin_qs.min_ttl == 0);
  CHECK(origin_qs.default_ttl == 0);
  CHECK(origin_qs.max_ttl == 31'536'000);
  check_set(origin_qs.headers, ItemBehavior::Whitelist, origin_headers);
  check_set(origin_qs.cookies, ItemBehavior::All);
  check_set(origin_qs.query_strings, ItemBehavior::All);
  CHECK(origin_qs.enable_accept_encoding_gzip);
  CHECK(origin_qs.enable_accept_encoding_brotli);

  const CachePolicy& amplify = cache(m, "Managed-Amplify");
  CHECK(amplify.min_ttl == 2);
  CHECK(amplify.default_ttl == 2);
  CHECK(amplify.max_ttl == 600);
  check_set(amplify.headers, ItemBehavior::Whitelist,
            {"authorization", "cloudfront-viewer-country", "host"});
  check_set(amplify.cookies, ItemBehavior::All);
  check_set(amplify.query_strings, ItemBehavior::All);
  CHECK(amplify.enable_accept_encoding_gzip);
  CHECK(amplify.enable_accept_encoding_brotli);

  const CachePolicy& media = cache(m, "Managed-Elemental-MediaPackage");
  CHECK(media.min_ttl == 0);
  CHECK(media.default_ttl == 86'400);
  CHECK(media.max_ttl == 31'536'000);
  check_set(media.headers, ItemBehavior::Whitelist, {"origin"});
  check_set(media.cookies, ItemBehavior::None);
  check_set(media.query_strings, ItemBehavior::Whitelist,
            {"aws.manifestfilter", "start", "end", "m"});
  CHECK(media.enable_accept_encoding_gzip);
  CHECK_FALSE(media.enable_accept_encoding_brotli);
}

TEST_CASE("managed origin request policies carry AWS's documented settings", "[config][policy]") {
  Model m = load_ok(tail());
  REQUIRE(m.origin_request_policies.size() == 8);
  for (const OriginRequestPolicy& p : m.origin_request_policies) {
    CHECK(p.managed);
    CHECK(p.name.starts_with("Managed-"));
  }

  const OriginRequestPolicy& all_viewer = orp(m, "Managed-AllViewer");
  check_set(all_viewer.headers, ItemBehavior::AllViewer);
  check_set(all_viewer.cookies, ItemBehavior::All);
  check_set(all_viewer.query_strings, ItemBehavior::All);

  const OriginRequestPolicy& with_cf = orp(m, "Managed-AllViewerAndCloudFrontHeaders-2022-06");
  check_set(with_cf.headers, ItemBehavior::AllViewerAndWhitelistCloudFront,
            {"cloudfront-forwarded-proto",
             "cloudfront-is-android-viewer",
             "cloudfront-is-desktop-viewer",
             "cloudfront-is-ios-viewer",
             "cloudfront-is-mobile-viewer",
             "cloudfront-is-smarttv-viewer",
             "cloudfront-is-tablet-viewer",
             "cloudfront-viewer-address",
             "cloudfront-viewer-asn",
             "cloudfront-viewer-city",
             "cloudfront-viewer-country",
             "cloudfront-viewer-country-name",
             "cloudfront-viewer-country-region",
             "cloudfront-viewer-country-region-name",
             "cloudfront-viewer-http-version",
             "cloudfront-viewer-latitude",
             "cloudfront-viewer-longitude",
             "cloudfront-viewer-metro-code",
             "cloudfront-viewer-postal-code",
             "cloudfront-viewer-time-zone",
             "cloudfront-viewer-tls"});
  check_set(with_cf.cookies, ItemBehavior::All);
  check_set(with_cf.query_strings, ItemBehavior::All);

  const OriginRequestPolicy& except_host = orp(m, "Managed-AllViewerExceptHostHeader");
  check_set(except_host.headers, ItemBehavior::AllExcept, {"host"});
  check_set(except_host.cookies, ItemBehavior::All);
  check_set(except_host.query_strings, ItemBehavior::All);

  const OriginRequestPolicy& cors_custom = orp(m, "Managed-CORS-CustomOrigin");
  check_set(cors_custom.headers, ItemBehavior::Whitelist, {"origin"});
  check_set(cors_custom.cookies, ItemBehavior::None);
  check_set(cors_custom.query_strings, ItemBehavior::None);

  const OriginRequestPolicy& cors_s3 = orp(m, "Managed-CORS-S3Origin");
  check_set(cors_s3.headers, ItemBehavior::Whitelist,
            {"origin", "access-control-request-headers", "access-control-request-method"});
  check_set(cors_s3.cookies, ItemBehavior::None);
  check_set(cors_s3.query_strings, ItemBehavior::None);

  const OriginRequestPolicy& tailor = orp(m, "Managed-Elemental-MediaTailor-PersonalizedManifests");
  check_set(tailor.headers, ItemBehavior::Whitelist,
            {"origin", "access-control-request-headers", "access-control-request-method",
             "user-agent", "x-forwarded-for"});
  check_set(tailor.cookies, ItemBehavior::None);
  check_set(tailor.query_strings, ItemBehavior::All);

  const OriginRequestPolicy& host_only = orp(m, "Managed-HostHeaderOnly");
  check_set(host_only.headers, ItemBehavior::Whitelist, {"host"});
  check_set(host_only.cookies, ItemBehavior::None);
  check_set(host_only.query_strings, ItemBehavior::None);

  const OriginRequestPolicy& ua = orp(m, "Managed-UserAgentRefererHeaders");
  check_set(ua.headers, ItemBehavior::Whitelist, {"user-agent", "referer"});
  check_set(ua.cookies, ItemBehavior::None);
  check_set(ua.query_strings, ItemBehavior::None);
}

TEST_CASE("managed policy names and aliases", "[config][policy]") {
  using portico::config::is_managed_cache_policy_name;
  using portico::config::managed_cache_policy_alias;
  CHECK(managed_cache_policy_alias("Managed-UseOriginCacheControlHeaders") ==
        "UseOriginCacheControlHeaders");
  CHECK(managed_cache_policy_alias("Managed-UseOriginCacheControlHeaders-QueryStrings") ==
        "UseOriginCacheControlHeaders-QueryStrings");
  CHECK(managed_cache_policy_alias("Managed-CachingOptimized").empty());
  CHECK(is_managed_cache_policy_name("UseOriginCacheControlHeaders"));
  CHECK(is_managed_cache_policy_name("Managed-Amplify"));
  CHECK_FALSE(is_managed_cache_policy_name("CachingOptimized"));
  CHECK(portico::config::managed_cache_policies().size() == 7);
  CHECK(portico::config::managed_origin_request_policies().size() == 8);
}

TEST_CASE("behaviors resolve policy names to pointers into the Model", "[config][policy]") {
  const std::string yaml =
      "cache_policies: [{name: mine}]\n"
      "origin_request_policies: [{name: fwd, headers: all_viewer}]\n" +
      tail("cache_policy: mine, origin_request_policy: fwd",
           "    cache_behaviors:\n"
           "      - {path_pattern: /a, target_origin_id: api, cache_policy: "
           "Managed-UseOriginCacheControlHeaders}\n"
           "      - {path_pattern: /b, target_origin_id: api, cache_policy: "
           "UseOriginCacheControlHeaders-QueryStrings,\n"
           "         origin_request_policy: Managed-AllViewerExceptHostHeader}\n"
           "      - {path_pattern: /c, target_origin_id: api}\n");
  Model m = load_ok(yaml);
  // Moving the Model keeps the vectors' storage, so the pointers stay valid.
  Model moved = std::move(m);
  const auto& d = moved.distributions[0];
  CHECK(d.default_cache_behavior.cache_policy_ref == &moved.cache_policies[0]);
  CHECK(d.default_cache_behavior.origin_request_policy_ref == &moved.origin_request_policies[0]);
  REQUIRE(d.cache_behaviors.size() == 3);
  // AWS names it without "Managed-"; the prefixed spelling resolves to the same policy.
  CHECK(d.cache_behaviors[0].cache_policy == "Managed-UseOriginCacheControlHeaders");
  CHECK(d.cache_behaviors[0].cache_policy_ref ==
        moved.find_cache_policy("UseOriginCacheControlHeaders"));
  CHECK(d.cache_behaviors[1].cache_policy_ref ==
        moved.find_cache_policy("UseOriginCacheControlHeaders-QueryStrings"));
  CHECK(d.cache_behaviors[1].origin_request_policy_ref ==
        moved.find_origin_request_policy("Managed-AllViewerExceptHostHeader"));
  CHECK(d.cache_behaviors[2].cache_policy_ref == nullptr);
  CHECK(d.cache_behaviors[2].origin_request_policy_ref == nullptr);
  CHECK(moved.warnings.empty());
}

TEST_CASE("warnings: compress without a compressing cache policy", "[config][policy]") {
  Model m = load_ok("cache_policies: [{name: raw}]\n" +
                    tail("cache_policy: raw, compress: true",
                         "    cache_behaviors:\n"
                         "      - {path_pattern: /a, target_origin_id: api, compress: true,\n"
                         "         cache_policy: Managed-CachingDisabled}\n"
                         "      - {path_pattern: /b, target_origin_id: api, compress: true,\n"
                         "         cache_policy: Managed-CachingOptimized}\n"
                         "      - {path_pattern: /c, target_origin_id: api, compress: true}\n"));
  REQUIRE(m.warnings.size() == 2);
  CHECK(m.warnings[0] ==
        "t.yaml:6:82: distributions[0].default_cache_behavior.compress: compress has no effect: "
        "cache policy 'raw' enables neither enable_accept_encoding_gzip nor "
        "enable_accept_encoding_brotli, so CloudFront does not compress");
  CHECK(m.warnings[1] ==
        "t.yaml:8:61: distributions[0].cache_behaviors[0].compress: compress has no effect: cache "
        "policy 'Managed-CachingDisabled' disables caching, so CloudFront does not compress");
}

TEST_CASE("warnings: accept-encoding forwarded next to a compressing cache policy",
          "[config][policy]") {
  Model m =
      load_ok("origin_request_policies: [{name: ae, headers: {whitelist: [Accept-Encoding]}}]\n" +
              tail("cache_policy: Managed-CachingOptimized, origin_request_policy: ae"));
  REQUIRE(m.warnings.size() == 1);
  CHECK(m.warnings[0] ==
        "t.yaml:6:116: distributions[0].default_cache_behavior.origin_request_policy: origin "
        "request policy 'ae' forwards accept-encoding, which has no effect: cache policy "
        "'Managed-CachingOptimized' already sends CloudFront's normalized Accept-Encoding");
}

TEST_CASE("the cache block", "[config][policy]") {
  Model defaults = load_ok(tail());
  CHECK(defaults.cache.memory_size == 256ull << 20);
  CHECK(defaults.cache.max_object_size == 64ull << 20);

  Model m = load_ok("cache: {memory_size: 512MiB, max_object_size: 1MB}\n" + tail());
  CHECK(m.cache.memory_size == 512ull << 20);
  CHECK(m.cache.max_object_size == 1'000'000);
  CHECK(m.cache.loc.line == 1);
  CHECK(m.cache.loc.column == 8);

  // A store smaller than the default object limit lowers that limit.
  Model small = load_ok("cache: {memory_size: 16MiB}\n" + tail());
  CHECK(small.cache.memory_size == 16ull << 20);
  CHECK(small.cache.max_object_size == 16ull << 20);

  Model same = load_ok("cache:\n  memory_size: 1MiB\n  max_object_size: 1MiB\n" + tail());
  CHECK(same.cache.max_object_size == 1ull << 20);
}

TEST_CASE("custom error responses", "[config][policy]") {
  Model m = load_ok(error_responses(
      "      - {error_code: 404, response_page_path: /errors/404.html, response_code: 200,\n"
      "         error_caching_min_ttl: 300}\n"
      "      - {error_code: 503, error_caching_min_ttl: 0}\n"
      "      - {error_code: 500}\n"));
  CHECK(m.warnings.empty());
  const auto& rs = m.distributions[0].custom_error_responses;
  REQUIRE(rs.size() == 3);
  CHECK(rs[0].error_code == 404);
  CHECK(rs[0].response_page_path == "/errors/404.html");
  CHECK(rs[0].response_code == 200);
  CHECK(rs[0].error_caching_min_ttl == 300);
  CHECK(rs[0].loc.line == 7);
  CHECK(rs[0].loc.column == 9);
  CHECK(rs[1].error_code == 503);
  CHECK(rs[1].response_code == 0);
  CHECK(rs[1].response_page_path.empty());
  CHECK(rs[1].error_caching_min_ttl == 0);
  CHECK(rs[2].error_caching_min_ttl == 10);  // CloudFront's default

  Model every = load_ok(error_responses(
      "      - {error_code: 400}\n      - {error_code: 403}\n      - {error_code: 404}\n"
      "      - {error_code: 405}\n      - {error_code: 414}\n      - {error_code: 416}\n"
      "      - {error_code: 500}\n      - {error_code: 501}\n      - {error_code: 502}\n"
      "      - {error_code: 503}\n      - {error_code: 504}\n"));
  CHECK(every.distributions[0].custom_error_responses.size() == 11);
  for (int code : {200, 400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504}) {
    Model one =
        load_ok(error_responses("      - {error_code: 500, response_page_path: /e.html, "
                                "response_code: " +
                                std::to_string(code) + "}\n"));
    CHECK(one.distributions[0].custom_error_responses[0].response_code == code);
  }

  Model range = load_ok(error_responses("      - {error_code: 416, error_caching_min_ttl: 60}\n"));
  REQUIRE(range.warnings.size() == 1);
  CHECK(range.warnings[0] ==
        "t.yaml:7:50: distributions[0].custom_error_responses[0].error_caching_min_ttl: "
        "CloudFront never caches 416 responses, so error_caching_min_ttl has no effect");
}

TEST_CASE("error: cache policy names", "[config][policy][error]") {
  CHECK(load_error("cache_policies: {name: x}\n" + tail()) ==
        "t.yaml:1:17: cache_policies: expected a list, got a map");
  CHECK(load_error("cache_policies:\n  - comment: x\n" + tail()) ==
        "t.yaml:2:5: cache_policies[0].name: is required");
  CHECK(load_error("cache_policies: [{name: \"\"}]\n" + tail()) ==
        "t.yaml:1:25: cache_policies[0].name: must not be empty");
  CHECK(load_error("cache_policies: [{name: a}, {name: a}]\n" + tail()) ==
        "t.yaml:1:36: cache_policies[1].name: duplicate cache policy name 'a' (first defined at "
        "line 1)");
  CHECK(load_error("cache_policies: [{name: Managed-Mine}]\n" + tail()) ==
        "t.yaml:1:25: cache_policies[0].name: names starting with 'Managed-' are reserved for "
        "AWS's managed policies, got 'Managed-Mine'");
  CHECK(load_error("cache_policies: [{name: UseOriginCacheControlHeaders}]\n" + tail()) ==
        "t.yaml:1:25: cache_policies[0].name: 'UseOriginCacheControlHeaders' is the name of an "
        "AWS managed cache policy");
  CHECK(load_error("cache_policies: [{name: \"my policy\"}]\n" + tail()) ==
        "t.yaml:1:25: cache_policies[0].name: invalid cache policy name 'my policy': use "
        "letters, digits, '-' and '_'");
  CHECK(load_error("cache_policies: [{name: " + std::string(129, 'a') + "}]\n" + tail()) ==
        "t.yaml:1:25: cache_policies[0].name: must be at most 128 characters");
  CHECK(load_error("cache_policies: [{name: a, comment: " + std::string(129, 'c') + "}]\n" +
                   tail()) ==
        "t.yaml:1:37: cache_policies[0].comment: must be at most 128 "
        "characters");
  CHECK(load_error("cache_policies: [{name: a, min_tl: 1}]\n" + tail()) ==
        "t.yaml:1:28: cache_policies[0].min_tl: unknown key 'min_tl' (did you mean 'min_ttl'?)");
}

TEST_CASE("error: cache policy TTLs", "[config][policy][error]") {
  CHECK(load_error(cache_policy("    min_ttl: -1\n")) ==
        "t.yaml:3:14: cache_policies[0].min_ttl: must be between 0 and 3153600000, got -1");
  CHECK(load_error(cache_policy("    max_ttl: 3153600001\n")) ==
        "t.yaml:3:14: cache_policies[0].max_ttl: must be between 0 and 3153600000, got "
        "3153600001");
  CHECK(load_error(cache_policy("    default_ttl: 1d\n")) ==
        "t.yaml:3:18: cache_policies[0].default_ttl: expected an integer, got '1d'");
  CHECK(load_error(cache_policy("    min_ttl: 10\n    default_ttl: 5\n")) ==
        "t.yaml:4:18: cache_policies[0].default_ttl: default_ttl (5) must be at least min_ttl "
        "(10)");
  CHECK(load_error(cache_policy("    default_ttl: 100\n    max_ttl: 50\n")) ==
        "t.yaml:4:14: cache_policies[0].max_ttl: max_ttl (50) must be at least default_ttl "
        "(100)");
  CHECK(load_error(cache_policy("    min_ttl: 100\n    max_ttl: 50\n")) ==
        "t.yaml:4:14: cache_policies[0].max_ttl: max_ttl (50) must be at least default_ttl "
        "(86400, its default; set default_ttl too)");
  CHECK(load_error(cache_policy("    max_ttl: 0\n")) ==
        "t.yaml:3:14: cache_policies[0].max_ttl: max_ttl (0) must be at least default_ttl "
        "(86400, its default; set default_ttl too)");
  CHECK(load_error(cache_policy("    stale_if_error: -5\n")) ==
        "t.yaml:3:21: cache_policies[0].stale_if_error: must be between 0 and 3153600000, got -5");
  CHECK(load_error(cache_policy("    heuristic_freshness: sometimes\n")) ==
        "t.yaml:3:26: cache_policies[0].heuristic_freshness: expected true or false, got "
        "'sometimes'");
}

TEST_CASE("error: cache key headers", "[config][policy][error]") {
  CHECK(load_error(cache_policy("    cache_key: {headers: all}\n")) ==
        "t.yaml:3:26: cache_policies[0].cache_key.headers: expected none, a list of names or "
        "{whitelist: [...]}, got 'all'");
  CHECK(load_error(cache_policy("    cache_key: {headers: {all_except: [a]}}\n")) ==
        "t.yaml:3:27: cache_policies[0].cache_key.headers.all_except: unknown key 'all_except'");
  CHECK(load_error(cache_policy("    cache_key: {headers: [\"bad header\"]}\n")) ==
        "t.yaml:3:27: cache_policies[0].cache_key.headers[0]: invalid header name 'bad header'");
  CHECK(load_error(cache_policy("    cache_key: {headers: [X-A, x-a]}\n")) ==
        "t.yaml:3:32: cache_policies[0].cache_key.headers[1]: 'x-a' is listed twice");
  CHECK(load_error(cache_policy("    cache_key: {headers: [a, b, c, d, e, f, g, h, i, j, k]}\n")) ==
        "t.yaml:3:26: cache_policies[0].cache_key.headers: at most 10 headers per policy "
        "(CloudFront's quota), got 11");
  CHECK(load_error(cache_policy("    cache_key: {headers: [Accept-Encoding], "
                                "enable_accept_encoding_gzip: true}\n")) ==
        "t.yaml:3:26: cache_policies[0].cache_key.headers: accept-encoding cannot be listed when "
        "enable_accept_encoding_gzip or enable_accept_encoding_brotli is true (CloudFront adds "
        "the normalized header itself)");
  CHECK(load_error(cache_policy("    cache_key: {enable_accept_encoding_brotli: maybe}\n")) ==
        "t.yaml:3:48: cache_policies[0].cache_key.enable_accept_encoding_brotli: expected true or "
        "false, got 'maybe'");
  CHECK(load_error(cache_policy("    cache_key: {header: []}\n")) ==
        "t.yaml:3:17: cache_policies[0].cache_key.header: unknown key 'header' (did you mean "
        "'headers'?)");
  CHECK(load_error(cache_policy("    cache_key: [headers]\n")) ==
        "t.yaml:3:16: cache_policies[0].cache_key: expected a map, got a list");
}

TEST_CASE("error: cache key cookies and query strings", "[config][policy][error]") {
  CHECK(load_error(cache_policy("    cache_key: {cookies: some}\n")) ==
        "t.yaml:3:26: cache_policies[0].cache_key.cookies: expected none, all, {whitelist: [...]} "
        "or {all_except: [...]}, got 'some'");
  CHECK(load_error(cache_policy("    cache_key: {cookies: [a]}\n")) ==
        "t.yaml:3:26: cache_policies[0].cache_key.cookies: expected none, all, {whitelist: [...]} "
        "or {all_except: [...]}, got a list");
  CHECK(load_error(cache_policy("    cache_key: {cookies: {whitelist: []}}\n")) ==
        "t.yaml:3:38: cache_policies[0].cache_key.cookies.whitelist: must list at least one name "
        "(write none instead)");
  CHECK(load_error(cache_policy("    cache_key: {query_strings: {all_except: []}}\n")) ==
        "t.yaml:3:45: cache_policies[0].cache_key.query_strings.all_except: must list at least "
        "one name (write all instead)");
  CHECK(load_error(cache_policy("    cache_key: {cookies: {whitelist: [a], all_except: [b]}}\n")) ==
        "t.yaml:3:55: cache_policies[0].cache_key.cookies.all_except: has both whitelist and "
        "all_except; pick one");
  CHECK(load_error(cache_policy("    cache_key: {cookies: {}}\n")) ==
        "t.yaml:3:26: cache_policies[0].cache_key.cookies: expected none, all, {whitelist: [...]} "
        "or {all_except: [...]}, got an empty map");
  CHECK(load_error(cache_policy("    cache_key: {cookies: {whitelist: a}}\n")) ==
        "t.yaml:3:38: cache_policies[0].cache_key.cookies.whitelist: expected a list of cookies, "
        "got 'a'");
  CHECK(load_error(cache_policy("    cache_key: {cookies: {whitelist: [\"a;b\"]}}\n")) ==
        "t.yaml:3:39: cache_policies[0].cache_key.cookies.whitelist[0]: invalid cookie name 'a;b'");
  CHECK(load_error(cache_policy("    cache_key: {cookies: {whitelist: [a, a]}}\n")) ==
        "t.yaml:3:42: cache_policies[0].cache_key.cookies.whitelist[1]: 'a' is listed twice");
  CHECK(load_error(cache_policy("    cache_key: {query_strings: {whitelist: [\"a=b\"]}}\n")) ==
        "t.yaml:3:45: cache_policies[0].cache_key.query_strings.whitelist[0]: invalid query "
        "string name 'a=b' (no spaces, control characters, '&', '=' or '#')");
  CHECK(load_error(cache_policy("    cache_key: {query_strings: {whitelist: [" +
                                std::string(129, 'q') + "]}}\n")) ==
        "t.yaml:3:45: cache_policies[0].cache_key.query_strings.whitelist[0]: query string names "
        "are at most 128 characters");
  CHECK(load_error(cache_policy("    cache_key:\n      query_strings:\n        all_except: "
                                "[a, b, c, d, e, f, g, h, i, j, k]\n")) ==
        "t.yaml:5:21: cache_policies[0].cache_key.query_strings.all_except: at most 10 query "
        "strings per policy (CloudFront's quota), got 11");
}

TEST_CASE("error: a cache policy with max_ttl 0 has no cache key", "[config][policy][error]") {
  const std::string zero = "    min_ttl: 0\n    default_ttl: 0\n    max_ttl: 0\n";
  CHECK(load_error(cache_policy(zero + "    cache_key: {headers: [x]}\n")) ==
        "t.yaml:6:26: cache_policies[0].cache_key.headers: must be none when max_ttl is 0 "
        "(caching disabled: CloudFront builds no cache key)");
  CHECK(load_error(cache_policy(zero + "    cache_key: {cookies: all}\n")) ==
        "t.yaml:6:26: cache_policies[0].cache_key.cookies: must be none when max_ttl is 0 "
        "(caching disabled: CloudFront builds no cache key)");
  CHECK(load_error(cache_policy(zero + "    cache_key: {query_strings: {whitelist: [q]}}\n")) ==
        "t.yaml:6:32: cache_policies[0].cache_key.query_strings: must be none when max_ttl is 0 "
        "(caching disabled: CloudFront builds no cache key)");
  CHECK(load_error(cache_policy(zero + "    cache_key: {enable_accept_encoding_gzip: true}\n")) ==
        "t.yaml:6:46: cache_policies[0].cache_key.enable_accept_encoding_gzip: must be false "
        "when max_ttl is 0 (caching disabled: CloudFront builds no cache key)");
  CHECK(load_error(cache_policy(zero + "    cache_key: {enable_accept_encoding_brotli: true}\n")) ==
        "t.yaml:6:48: cache_policies[0].cache_key.enable_accept_encoding_brotli: must be false "
        "when max_ttl is 0 (caching disabled: CloudFront builds no cache key)");
  // Nothing in the key is fine.
  Model m = load_ok(cache_policy(zero + "    cache_key: {headers: [], cookies: none}\n"));
  CHECK(m.find_cache_policy("p")->caching_disabled());
}

TEST_CASE("error: origin request policies", "[config][policy][error]") {
  CHECK(load_error("origin_request_policies: {}\n" + tail()) ==
        "t.yaml:1:26: origin_request_policies: expected a list, got a map");
  CHECK(load_error("origin_request_policies: [{name: Managed-AllViewer}]\n" + tail()) ==
        "t.yaml:1:34: origin_request_policies[0].name: names starting with 'Managed-' are "
        "reserved for AWS's managed policies, got 'Managed-AllViewer'");
  CHECK(load_error("origin_request_policies: [{name: a}, {name: a}]\n" + tail()) ==
        "t.yaml:1:45: origin_request_policies[1].name: duplicate origin request policy name 'a' "
        "(first defined at line 1)");
  CHECK(load_error(origin_request_policy("    headers: all\n")) ==
        "t.yaml:3:14: origin_request_policies[0].headers: expected none, all_viewer, "
        "{whitelist: [...]}, {all_except: [...]} or {all_viewer_and_whitelist_cloudfront: "
        "[...]}, got 'all'");
  CHECK(load_error(origin_request_policy("    headers: [a]\n")) ==
        "t.yaml:3:14: origin_request_policies[0].headers: expected none, all_viewer, "
        "{whitelist: [...]}, {all_except: [...]} or {all_viewer_and_whitelist_cloudfront: "
        "[...]}, got a list");
  CHECK(load_error(origin_request_policy(
            "    headers: {all_viewer_and_whitelist_cloudfront: [User-Agent]}\n")) ==
        "t.yaml:3:53: origin_request_policies[0].headers.all_viewer_and_whitelist_cloudfront[0]: "
        "'user-agent' is not a CloudFront header (e.g. CloudFront-Viewer-Country); list viewer "
        "headers with all_viewer instead");
  CHECK(load_error(origin_request_policy("    headers: {all_except: []}\n")) ==
        "t.yaml:3:27: origin_request_policies[0].headers.all_except: must list at least one name "
        "(write all_viewer instead)");
  CHECK(load_error(
            origin_request_policy("    headers: {all_viewer_and_whitelist_cloudfront: []}\n")) ==
        "t.yaml:3:52: origin_request_policies[0].headers.all_viewer_and_whitelist_cloudfront: "
        "must list at least one name (write all_viewer instead)");
  CHECK(load_error(origin_request_policy("    cookies: all_viewer\n")) ==
        "t.yaml:3:14: origin_request_policies[0].cookies: expected none, all, {whitelist: [...]} "
        "or {all_except: [...]}, got 'all_viewer'");
  CHECK(load_error(origin_request_policy("    query_strings: {whitelist: [\"a b\"]}\n")) ==
        "t.yaml:3:33: origin_request_policies[0].query_strings.whitelist[0]: invalid query string "
        "name 'a b' (no spaces, control characters, '&', '=' or '#')");
  CHECK(load_error(origin_request_policy("    cache_key: {}\n")) ==
        "t.yaml:3:5: origin_request_policies[0].cache_key: unknown key 'cache_key'");
}

TEST_CASE("error: unknown policy names on behaviors", "[config][policy][error]") {
  CHECK(load_error("cache_policies: [{name: assets}]\n" + tail("cache_policy: asset")) ==
        "t.yaml:6:67: distributions[0].default_cache_behavior.cache_policy: unknown cache policy "
        "'asset', did you mean 'assets'? (cache policies: assets, Managed-CachingOptimized, "
        "Managed-CachingOptimizedForUncompressedObjects, Managed-CachingDisabled, "
        "UseOriginCacheControlHeaders, UseOriginCacheControlHeaders-QueryStrings, "
        "Managed-Amplify, Managed-Elemental-MediaPackage)");
  CHECK(load_error(tail("cache_policy: CachingOptimized")) ==
        "t.yaml:5:67: distributions[0].default_cache_behavior.cache_policy: unknown cache policy "
        "'CachingOptimized', did you mean 'Managed-CachingOptimized'? (cache policies: "
        "Managed-CachingOptimized, Managed-CachingOptimizedForUncompressedObjects, "
        "Managed-CachingDisabled, UseOriginCacheControlHeaders, "
        "UseOriginCacheControlHeaders-QueryStrings, Managed-Amplify, "
        "Managed-Elemental-MediaPackage)");
  CHECK(load_error(tail("",
                        "    cache_behaviors:\n"
                        "      - {path_pattern: /a, target_origin_id: api, "
                        "origin_request_policy: nope}\n")) ==
        "t.yaml:7:74: distributions[0].cache_behaviors[0].origin_request_policy: unknown origin "
        "request policy 'nope' (origin request policies: Managed-AllViewer, "
        "Managed-AllViewerAndCloudFrontHeaders-2022-06, Managed-AllViewerExceptHostHeader, "
        "Managed-CORS-CustomOrigin, Managed-CORS-S3Origin, "
        "Managed-Elemental-MediaTailor-PersonalizedManifests, Managed-HostHeaderOnly, "
        "Managed-UserAgentRefererHeaders)");
  CHECK(load_error(tail("cache_policy: [a]")) ==
        "t.yaml:5:67: distributions[0].default_cache_behavior.cache_policy: expected a string, got "
        "a list");
}

TEST_CASE("error: the cache block", "[config][policy][error]") {
  CHECK(load_error("cache: {memory_size: 0}\n" + tail()) ==
        "t.yaml:1:22: cache.memory_size: must be at least 1 bytes, got 0");
  CHECK(load_error("cache: {max_object_size: 0}\n" + tail()) ==
        "t.yaml:1:26: cache.max_object_size: must be at least 1 bytes, got 0");
  CHECK(load_error("cache: {memory_size: 1MiB, max_object_size: 2MiB}\n" + tail()) ==
        "t.yaml:1:45: cache.max_object_size: max_object_size (2097152 bytes) must not exceed "
        "memory_size (1048576 bytes)");
  CHECK(load_error("cache: {memory_size: lots}\n" + tail()) ==
        "t.yaml:1:22: cache.memory_size: invalid size 'lots': expected a whole number of bytes, "
        "optionally with unit B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of "
        "1024)");
  CHECK(load_error("cache: {memory: 1MiB}\n" + tail()) ==
        "t.yaml:1:9: cache.memory: unknown key 'memory'");
  CHECK(load_error("cache: 512MiB\n" + tail()) ==
        "t.yaml:1:8: cache: expected a map, got '512MiB'");
}

TEST_CASE("error: custom error responses", "[config][policy][error]") {
  CHECK(load_error(error_responses("      - {response_code: 200}\n")) ==
        "t.yaml:7:9: distributions[0].custom_error_responses[0].error_code: is required");
  CHECK(load_error(error_responses("      - {error_code: 418}\n")) ==
        "t.yaml:7:22: distributions[0].custom_error_responses[0].error_code: CloudFront "
        "customizes only 400, 403, 404, 405, 414, 416, 500, 501, 502, 503 or 504, got 418");
  CHECK(load_error(error_responses("      - {error_code: 4040}\n")) ==
        "t.yaml:7:22: distributions[0].custom_error_responses[0].error_code: must be between 0 "
        "and 999, got 4040");
  CHECK(load_error(error_responses(
            "      - {error_code: 404, response_code: 302, response_page_path: /x}\n")) ==
        "t.yaml:7:42: distributions[0].custom_error_responses[0].response_code: must be 200, 400, "
        "403, 404, 405, 414, 416, 500, 501, 502, 503 or 504, got 302");
  CHECK(load_error(error_responses("      - {error_code: 404, response_page_path: /x.html}\n")) ==
        "t.yaml:7:47: distributions[0].custom_error_responses[0].response_page_path: needs "
        "response_code too (the status sent with the page)");
  CHECK(load_error(error_responses("      - {error_code: 404, response_code: 200}\n")) ==
        "t.yaml:7:42: distributions[0].custom_error_responses[0].response_code: needs "
        "response_page_path too (CloudFront replaces the status only together with the body)");
  CHECK(load_error(error_responses(
            "      - {error_code: 404, response_code: 200, response_page_path: x.html}\n")) ==
        "t.yaml:7:67: distributions[0].custom_error_responses[0].response_page_path: must start "
        "with '/', got 'x.html'");
  CHECK(load_error(error_responses(
            "      - {error_code: 404, response_code: 200, response_page_path: \"/a b\"}\n")) ==
        "t.yaml:7:67: distributions[0].custom_error_responses[0].response_page_path: must not "
        "contain spaces or control characters");
  CHECK(load_error(error_responses(
            "      - {error_code: 404, response_code: 200, response_page_path: \"\"}\n")) ==
        "t.yaml:7:67: distributions[0].custom_error_responses[0].response_page_path: must not be "
        "empty");
  CHECK(
      load_error(error_responses("      - {error_code: 404, error_caching_min_ttl: 31536001}\n")) ==
      "t.yaml:7:50: distributions[0].custom_error_responses[0].error_caching_min_ttl: must be "
      "between 0 and 31536000, got 31536001");
  CHECK(load_error(error_responses("      - {error_code: 404}\n      - {error_code: 404}\n")) ==
        "t.yaml:8:22: distributions[0].custom_error_responses[1].error_code: duplicate error_code "
        "404 (first defined at line 7)");
  CHECK(load_error(error_responses("      - {error_code: 404, ttl: 5}\n")) ==
        "t.yaml:7:27: distributions[0].custom_error_responses[0].ttl: unknown key 'ttl'");
  CHECK(load_error(tail("", "    custom_error_responses: {error_code: 404}\n")) ==
        "t.yaml:6:29: distributions[0].custom_error_responses: expected a list, got a map");
}
