#include "config/managed_policies.h"

#include <string>
#include <utility>

namespace portico::config {
namespace {

constexpr int64_t kOneDay = 86'400;
constexpr int64_t kOneYear = 31'536'000;

ItemSet none() { return ItemSet{}; }
ItemSet all() { return ItemSet{ItemBehavior::All, {}}; }
ItemSet whitelist(std::vector<std::string> items) {
  return ItemSet{ItemBehavior::Whitelist, std::move(items)};
}

CachePolicy cache_policy(std::string name, std::string comment, int64_t min_ttl,
                         int64_t default_ttl, int64_t max_ttl) {
  CachePolicy p;
  p.name = std::move(name);
  p.comment = std::move(comment);
  p.managed = true;
  p.min_ttl = min_ttl;
  p.default_ttl = default_ttl;
  p.max_ttl = max_ttl;
  return p;
}

OriginRequestPolicy origin_request_policy(std::string name, std::string comment, ItemSet headers,
                                          ItemSet cookies, ItemSet query_strings) {
  OriginRequestPolicy p;
  p.name = std::move(name);
  p.comment = std::move(comment);
  p.managed = true;
  p.headers = std::move(headers);
  p.cookies = std::move(cookies);
  p.query_strings = std::move(query_strings);
  return p;
}

// The request headers UseOriginCacheControlHeaders* key on.
std::vector<std::string> origin_cache_control_headers() {
  return {"host", "origin", "x-http-method-override", "x-http-method", "x-method-override"};
}

}  // namespace

// Settings from AWS's "Use managed cache policies" page,
// https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html
// (TTLs in seconds; "cache compressed objects" = enable_accept_encoding_gzip/brotli). AWS's API
// names UseOriginCacheControlHeaders and UseOriginCacheControlHeaders-QueryStrings without the
// "Managed-" prefix (see managed_cache_policy_alias).
std::vector<CachePolicy> managed_cache_policies() {
  std::vector<CachePolicy> out;
  out.reserve(7);

  CachePolicy& optimized =
      out.emplace_back(cache_policy("Managed-CachingOptimized",
                                    "Policy with caching enabled. Supports Gzip and Brotli "
                                    "compression.",
                                    1, kOneDay, kOneYear));
  optimized.enable_accept_encoding_gzip = true;
  optimized.enable_accept_encoding_brotli = true;

  out.push_back(cache_policy("Managed-CachingOptimizedForUncompressedObjects",
                             "Default policy when compression is disabled.", 1, kOneDay, kOneYear));

  out.push_back(cache_policy("Managed-CachingDisabled", "Policy with caching disabled.", 0, 0, 0));

  for (bool query_strings : {false, true}) {
    CachePolicy& p = out.emplace_back(cache_policy(
        query_strings ? "UseOriginCacheControlHeaders-QueryStrings"
                      : "UseOriginCacheControlHeaders",
        query_strings ? "Policy for origins that return Cache-Control headers and serve different "
                        "content based on values present in the query string."
                      : "Policy for origins that return Cache-Control headers. Query strings are "
                        "not included in the cache key.",
        0, 0, kOneYear));
    p.headers = whitelist(origin_cache_control_headers());
    p.cookies = all();
    p.query_strings = query_strings ? all() : none();
    p.enable_accept_encoding_gzip = true;
    p.enable_accept_encoding_brotli = true;
  }

  CachePolicy& amplify =
      out.emplace_back(cache_policy("Managed-Amplify", "Policy for Amplify Origin.", 2, 2, 600));
  amplify.headers = whitelist({"authorization", "cloudfront-viewer-country", "host"});
  amplify.cookies = all();
  amplify.query_strings = all();
  amplify.enable_accept_encoding_gzip = true;
  amplify.enable_accept_encoding_brotli = true;

  // "Cache compressed objects setting: Enabled for Gzip" (Brotli stays off).
  CachePolicy& media_package = out.emplace_back(
      cache_policy("Managed-Elemental-MediaPackage", "Policy for Elemental MediaPackage Origin.", 0,
                   kOneDay, kOneYear));
  media_package.headers = whitelist({"origin"});
  media_package.query_strings = whitelist({"aws.manifestfilter", "start", "end", "m"});
  media_package.enable_accept_encoding_gzip = true;
  return out;
}

// Settings from AWS's "Use managed origin request policies" page,
// https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html
std::vector<OriginRequestPolicy> managed_origin_request_policies() {
  std::vector<OriginRequestPolicy> out;
  out.reserve(8);
  out.push_back(origin_request_policy("Managed-AllViewer",
                                      "Policy to forward all parameters in viewer requests",
                                      ItemSet{ItemBehavior::AllViewer, {}}, all(), all()));
  out.push_back(origin_request_policy(
      "Managed-AllViewerAndCloudFrontHeaders-2022-06",
      "Policy to forward all parameters in viewer requests and all CloudFront headers as of "
      "June 2022",
      ItemSet{ItemBehavior::AllViewerAndWhitelistCloudFront,
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
               "cloudfront-viewer-tls"}},
      all(), all()));
  out.push_back(origin_request_policy(
      "Managed-AllViewerExceptHostHeader",
      "Policy to forward all parameters in viewer requests except for the Host header",
      ItemSet{ItemBehavior::AllExcept, {"host"}}, all(), all()));
  out.push_back(origin_request_policy("Managed-CORS-CustomOrigin",
                                      "Policy for origins that enable CORS", whitelist({"origin"}),
                                      none(), none()));
  out.push_back(origin_request_policy(
      "Managed-CORS-S3Origin", "Policy for S3 origin with CORS",
      whitelist({"origin", "access-control-request-headers", "access-control-request-method"}),
      none(), none()));
  out.push_back(origin_request_policy(
      "Managed-Elemental-MediaTailor-PersonalizedManifests",
      "Policy for Elemental MediaTailor Origin",
      whitelist({"origin", "access-control-request-headers", "access-control-request-method",
                 "user-agent", "x-forwarded-for"}),
      none(), all()));
  out.push_back(origin_request_policy("Managed-HostHeaderOnly",
                                      "Policy to forward only the Host header", whitelist({"host"}),
                                      none(), none()));
  out.push_back(origin_request_policy("Managed-UserAgentRefererHeaders",
                                      "Policy for forwarding user-agent and referer headers",
                                      whitelist({"user-agent", "referer"}), none(), none()));
  return out;
}

std::string_view managed_cache_policy_alias(std::string_view name) {
  if (name == "Managed-UseOriginCacheControlHeaders") return "UseOriginCacheControlHeaders";
  if (name == "Managed-UseOriginCacheControlHeaders-QueryStrings") {
    return "UseOriginCacheControlHeaders-QueryStrings";
  }
  return {};
}

bool is_managed_cache_policy_name(std::string_view name) {
  for (const CachePolicy& p : managed_cache_policies()) {
    if (p.name == name) return true;
  }
  return false;
}

}  // namespace portico::config
