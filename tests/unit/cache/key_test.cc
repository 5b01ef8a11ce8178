// cache::build_key, normalize_accept_encoding and ForwardRules under cache policy and origin
// request policy shapes like AWS's managed ones.
#include "cache/key.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

using portico::cache::build_key;
using portico::cache::Encoding;
using portico::cache::ForwardRules;
using portico::cache::normalize_accept_encoding;
using portico::cache::origin_accept_encoding;
using portico::config::CachePolicy;
using portico::config::ItemBehavior;
using portico::config::ItemSet;
using portico::config::OriginRequestPolicy;
using portico::core::Method;
using portico::core::RequestHead;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

RequestHead request(std::string path, std::string query = "", Fields fields = {},
                    Method m = Method::Get) {
  RequestHead r;
  r.method = m;
  r.method_token = std::string(portico::core::method_name(m));
  r.path = std::move(path);
  r.query = std::move(query);
  r.has_query = !r.query.empty();
  for (const auto& [n, v] : fields) {
    r.headers.add(n, v);
    if (portico::core::iequals(n, "host")) r.authority = portico::core::to_lower(v);
  }
  return r;
}

std::string key(const RequestHead& r, const CachePolicy& p, Encoding e = Encoding::Identity,
                std::string_view dist = "d1") {
  std::string out = "garbage";
  build_key(out, dist, r, p, e);
  return out;
}

ItemSet items(ItemBehavior b, std::vector<std::string> names = {}) {
  return ItemSet{b, std::move(names)};
}

CachePolicy both_encodings() {
  CachePolicy p;
  p.enable_accept_encoding_gzip = true;
  p.enable_accept_encoding_brotli = true;
  return p;
}

// Shapes of AWS's managed cache policies.
CachePolicy caching_optimized() {
  CachePolicy p = both_encodings();
  p.min_ttl = 1;
  return p;
}
CachePolicy use_origin_cache_control_headers(bool query_strings) {
  CachePolicy p = both_encodings();
  p.headers = items(ItemBehavior::Whitelist, {"host", "origin", "x-http-method-override",
                                              "x-http-method", "x-method-override"});
  p.cookies = items(ItemBehavior::All);
  p.query_strings = items(query_strings ? ItemBehavior::All : ItemBehavior::None);
  return p;
}
CachePolicy amplify() {
  CachePolicy p = both_encodings();
  p.headers =
      items(ItemBehavior::Whitelist, {"authorization", "cloudfront-viewer-country", "host"});
  p.cookies = items(ItemBehavior::All);
  p.query_strings = items(ItemBehavior::All);
  return p;
}
CachePolicy media_package() {
  CachePolicy p;
  p.enable_accept_encoding_gzip = true;
  p.headers = items(ItemBehavior::Whitelist, {"origin"});
  p.query_strings = items(ItemBehavior::Whitelist, {"aws.manifestfilter", "start", "end", "m"});
  return p;
}

OriginRequestPolicy orp(ItemSet headers, ItemSet cookies, ItemSet query_strings) {
  OriginRequestPolicy p;
  p.headers = std::move(headers);
  p.cookies = std::move(cookies);
  p.query_strings = std::move(query_strings);
  return p;
}

}  // namespace

TEST_CASE("key: path, method, distribution", "[key]") {
  CachePolicy p;
  CHECK(key(request("/a"), p) == key(request("/a"), p));
  CHECK(key(request("/a"), p) != key(request("/A"), p));
  CHECK(key(request("/a%20b"), p) != key(request("/a b"), p));
  CHECK(key(request("/a"), p, Encoding::Identity, "d1") !=
        key(request("/a"), p, Encoding::Identity, "d2"));
  CHECK(key(request("/a", "", {}, Method::Head), p) == key(request("/a"), p));
  CHECK(key(request("/a", "", {}, Method::Options), p) != key(request("/a"), p));
  // Nothing the policy ignores reaches the key.
  CHECK(key(request("/a", "x=1", {{"Accept", "a/b"}, {"Cookie", "s=1"}}), p) ==
        key(request("/a"), p));
}

TEST_CASE("key: query strings per policy", "[key]") {
  CachePolicy p;
  SECTION("none") { CHECK(key(request("/a", "x=1"), p) == key(request("/a", "x=2"), p)); }
  SECTION("whitelist") {
    p.query_strings = items(ItemBehavior::Whitelist, {"color", "size"});
    CHECK(key(request("/a", "color=red&utm=1"), p) == key(request("/a", "color=red&utm=2"), p));
    CHECK(key(request("/a", "color=red"), p) != key(request("/a", "color=Red"), p));
    CHECK(key(request("/a", "color=red"), p) != key(request("/a", "Color=red"), p));
    CHECK(key(request("/a", "color=red"), p) != key(request("/a"), p));
    // CloudFront: "The order of parameters matters in query strings."
    CHECK(key(request("/a", "color=red&size=l"), p) != key(request("/a", "size=l&color=red"), p));
    CHECK(key(request("/a", "color"), p) != key(request("/a", "color="), p));
    CHECK(key(request("/a", "color=red&&size=l"), p) == key(request("/a", "color=red&size=l"), p));
  }
  SECTION("all except") {
    p.query_strings = items(ItemBehavior::AllExcept, {"utm"});
    CHECK(key(request("/a", "x=1&utm=1"), p) == key(request("/a", "x=1&utm=2"), p));
    CHECK(key(request("/a", "x=1&utm=1"), p) != key(request("/a", "x=2&utm=1"), p));
  }
  SECTION("all") {
    p.query_strings = items(ItemBehavior::All);
    CHECK(key(request("/a", "x=1&utm=1"), p) != key(request("/a", "x=1&utm=2"), p));
    CHECK(key(request("/a", "x=1"), p) != key(request("/a"), p));
  }
}

TEST_CASE("key: whitelisted headers", "[key]") {
  CachePolicy p;
  p.headers = items(ItemBehavior::Whitelist, {"x-product", "accept-language"});
  RequestHead a = request("/a", "", {{"X-Product", "Acme"}, {"Accept-Language", "en"}});
  RequestHead b = request("/a", "", {{"accept-language", "en"}, {"x-product", "Acme"}});
  CHECK(key(a, p) == key(b, p));  // header order and name case do not matter
  CHECK(key(a, p) != key(request("/a", "", {{"X-Product", "acme"}, {"Accept-Language", "en"}}), p));
  // Absent differs from empty.
  CHECK(key(request("/a", "", {{"X-Product", ""}}), p) != key(request("/a"), p));
  // Other headers are ignored.
  CHECK(key(request("/a", "", {{"X-Other", "1"}}), p) == key(request("/a"), p));
  // Host reads the authority (h2 has no Host field).
  p.headers = items(ItemBehavior::Whitelist, {"host"});
  RequestHead h2 = request("/a");
  h2.authority = "example.com";
  CHECK(key(request("/a", "", {{"Host", "Example.COM"}}), p) == key(h2, p));
  CHECK(key(request("/a", "", {{"Host", "other.com"}}), p) != key(h2, p));
}

// cached_methods [GET, HEAD, OPTIONS]: OPTIONS responses have their own entries, and a CORS
// preflight's Origin / Access-Control-Request-* split them when the policy keys them
// (Developer Guide, "Configuring CloudFront to respect CORS settings").
TEST_CASE("key: OPTIONS apart from GET, preflight headers when keyed", "[key]") {
  CachePolicy p;
  p.headers = items(ItemBehavior::Whitelist,
                    {"origin", "access-control-request-method", "access-control-request-headers"});
  Fields a = {{"Origin", "https://a.example"}, {"Access-Control-Request-Method", "PUT"}};
  Fields b = {{"Origin", "https://b.example"}, {"Access-Control-Request-Method", "PUT"}};
  auto options = [](Fields f) { return request("/api/x", "", std::move(f), Method::Options); };
  CHECK(key(options(a), p) == key(options(a), p));
  CHECK(key(options(a), p) != key(options(b), p));
  CHECK(key(options(a), p) !=
        key(options({{"Origin", "https://a.example"}, {"Access-Control-Request-Method", "DELETE"}}),
            p));
  CHECK(key(options(a), p) != key(request("/api/x", "", a), p));
  CHECK(key(options(a), p) != key(request("/api/x", "", a, Method::Head), p));
  // Without them in the policy, every preflight for a path shares one key (the origin's Vary
  // then separates the variants).
  CachePolicy none;
  CHECK(key(options(a), none) == key(options(b), none));
  CHECK(key(options(a), none) != key(request("/api/x", "", a), none));
}

TEST_CASE("key: Accept-Encoding is normalized or a plain header", "[key]") {
  CachePolicy plain;
  plain.headers = items(ItemBehavior::Whitelist, {"accept-encoding"});
  CHECK(key(request("/a", "", {{"Accept-Encoding", "gzip"}}), plain) !=
        key(request("/a", "", {{"Accept-Encoding", "gzip, br"}}), plain));
  CachePolicy normalized = both_encodings();
  normalized.headers = items(ItemBehavior::Whitelist, {"accept-encoding"});
  CHECK(key(request("/a", "", {{"Accept-Encoding", "gzip"}}), normalized, Encoding::Gzip) ==
        key(request("/a", "", {{"Accept-Encoding", "deflate, gzip"}}), normalized, Encoding::Gzip));
  std::set<std::string> keys;
  for (Encoding e : {Encoding::Identity, Encoding::Gzip, Encoding::Brotli, Encoding::BrotliGzip}) {
    keys.insert(key(request("/a"), normalized, e));
  }
  CHECK(keys.size() == 4);
}

TEST_CASE("key: cookies per policy", "[key]") {
  CachePolicy p;
  SECTION("whitelist") {
    p.cookies = items(ItemBehavior::Whitelist, {"country", "lang"});
    CHECK(key(request("/a", "", {{"Cookie", "country=uk; session=1; lang=en"}}), p) ==
          key(request("/a", "", {{"Cookie", "lang=en"}, {"Cookie", "session=2;country=uk"}}), p));
    CHECK(key(request("/a", "", {{"Cookie", "country=uk"}}), p) !=
          key(request("/a", "", {{"Cookie", "country=UK"}}), p));
    CHECK(key(request("/a", "", {{"Cookie", "country=uk"}}), p) !=
          key(request("/a", "", {{"Cookie", "Country=uk"}}), p));
    // Malformed pairs are dropped (CloudFront forwards only name=value).
    CHECK(key(request("/a", "", {{"Cookie", "country; =uk; lang=en"}}), p) ==
          key(request("/a", "", {{"Cookie", "lang=en"}}), p));
  }
  SECTION("all and all-except") {
    p.cookies = items(ItemBehavior::All);
    CHECK(key(request("/a", "", {{"Cookie", "a=1; b=2"}}), p) ==
          key(request("/a", "", {{"Cookie", "b=2; a=1"}}), p));
    CHECK(key(request("/a", "", {{"Cookie", "a=1; a=2"}}), p) ==
          key(request("/a", "", {{"Cookie", "a=2; a=1"}}), p));
    CHECK(key(request("/a", "", {{"Cookie", "a=1"}}), p) !=
          key(request("/a", "", {{"Cookie", "a=1; b=2"}}), p));
    p.cookies = items(ItemBehavior::AllExcept, {"session"});
    CHECK(key(request("/a", "", {{"Cookie", "a=1; session=x"}}), p) ==
          key(request("/a", "", {{"Cookie", "session=y; a=1"}}), p));
  }
  SECTION("many cookies keep a deterministic key") {
    p.cookies = items(ItemBehavior::All);
    std::string many;
    for (int i = 0; i < 300; ++i) many += "c" + std::to_string(i) + "=" + std::to_string(i) + "; ";
    CHECK(key(request("/a", "", {{"Cookie", many}}), p) ==
          key(request("/a", "", {{"Cookie", many}}), p));
    CHECK(key(request("/a", "", {{"Cookie", many}}), p) !=
          key(request("/a", "", {{"Cookie", many + "x=1"}}), p));
  }
}

TEST_CASE("key: no collisions between different requests", "[key]") {
  CachePolicy p;
  p.query_strings = items(ItemBehavior::All);
  p.headers = items(ItemBehavior::Whitelist, {"x", "y"});
  p.cookies = items(ItemBehavior::All);
  std::vector<RequestHead> requests = {
      request("/a"),
      request("/a", "b"),
      request("/ab"),
      request("/a", "b=1&c=2"),
      request("/a", "b=1%26c%3D2"),
      request("/a", "b=1", {{"X", "c=2"}}),
      request("/a", "", {{"X", "a"}, {"Y", "b,c"}}),
      request("/a", "", {{"X", "a,b"}, {"Y", "c"}}),
      request("/a", "", {{"X", "a"}, {"X", "b"}}),
      request("/a", "", {{"X", "a,b"}}),
      request("/a", "", {{"X", ""}}),
      request("/a", "", {{"Y", ""}}),
      request("/a", "", {{"X", "V1:y"}}),
      request("/a", "", {{"X", "1:aN"}}),
      request("/a", "", {{"Cookie", "a=1; b=2"}}),
      request("/a", "", {{"Cookie", "a=1%3B b=2"}}),
      request("/a", "", {{"Cookie", "a=1"}, {"X", "b=2"}}),
      request("/a", "", {{"Cookie", "a="}}),
      request("/a", "", {{"Cookie", "a=C3:b=2"}}),
      request("/aQ3:b=1"),
      request("/a", "", {}, Method::Options),
      request("/a", "", {}, Method::Post),
  };
  std::set<std::string> keys;
  for (const RequestHead& r : requests) keys.insert(key(r, p));
  CHECK(keys.size() == requests.size());
  // And the encoding cannot be confused with anything before it.
  CHECK(key(request("/a"), p, Encoding::Gzip) != key(request("/a"), p, Encoding::Identity));
}

TEST_CASE("key: build_key reuses the buffer", "[key]") {
  CachePolicy p;
  std::string out;
  out.reserve(256);
  const char* data = out.data();
  build_key(out, "dist", request("/some/path", "q=1"), p, Encoding::Gzip);
  CHECK(out.data() == data);
  std::string first = out;
  build_key(out, "dist", request("/some/path", "q=1"), p, Encoding::Gzip);
  CHECK(out == first);
}

TEST_CASE("accept-encoding: normalization", "[key]") {
  CachePolicy both = both_encodings();
  CHECK(normalize_accept_encoding("", both) == Encoding::Identity);
  CHECK(normalize_accept_encoding("gzip, deflate, br", both) == Encoding::BrotliGzip);
  CHECK(normalize_accept_encoding("br,gzip", both) == Encoding::BrotliGzip);
  CHECK(normalize_accept_encoding("gzip", both) == Encoding::Gzip);
  CHECK(normalize_accept_encoding("GZip", both) == Encoding::Gzip);
  CHECK(normalize_accept_encoding("x-gzip", both) == Encoding::Gzip);
  CHECK(normalize_accept_encoding("br", both) == Encoding::Brotli);
  CHECK(normalize_accept_encoding("deflate, identity, zstd", both) == Encoding::Identity);
  // q-values (RFC 9110 §12.5.3).
  CHECK(normalize_accept_encoding("gzip;q=0, br", both) == Encoding::Brotli);
  CHECK(normalize_accept_encoding("gzip; q=0.000, br;q=0.5", both) == Encoding::Brotli);
  CHECK(normalize_accept_encoding("gzip;Q=0.8, br;q=1.0", both) == Encoding::BrotliGzip);
  CHECK(normalize_accept_encoding("gzip;q=abc", both) == Encoding::Identity);
  CHECK(normalize_accept_encoding("gzip, gzip;q=0", both) == Encoding::Identity);
  CHECK(normalize_accept_encoding("gzip;level=1;q=0", both) == Encoding::Identity);
  // "*".
  CHECK(normalize_accept_encoding("*", both) == Encoding::BrotliGzip);
  CHECK(normalize_accept_encoding("*;q=0", both) == Encoding::Identity);
  CHECK(normalize_accept_encoding("*, gzip;q=0", both) == Encoding::Brotli);
  CHECK(normalize_accept_encoding("br;q=0, *", both) == Encoding::Gzip);

  CachePolicy gzip_only;
  gzip_only.enable_accept_encoding_gzip = true;
  CHECK(normalize_accept_encoding("br, gzip", gzip_only) == Encoding::Gzip);
  CHECK(normalize_accept_encoding("br", gzip_only) == Encoding::Identity);
  CachePolicy br_only;
  br_only.enable_accept_encoding_brotli = true;
  CHECK(normalize_accept_encoding("br, gzip", br_only) == Encoding::Brotli);
  CHECK(normalize_accept_encoding("gzip", br_only) == Encoding::Identity);
  CHECK(normalize_accept_encoding("gzip, br", CachePolicy{}) == Encoding::Identity);

  CHECK(origin_accept_encoding(Encoding::Identity) == "identity");
  CHECK(origin_accept_encoding(Encoding::Gzip) == "gzip");
  CHECK(origin_accept_encoding(Encoding::Brotli) == "br");
  CHECK(origin_accept_encoding(Encoding::BrotliGzip) == "br,gzip");
}

TEST_CASE("forward: legacy mode sends everything as received", "[key][forward]") {
  ForwardRules f(nullptr, nullptr);
  CHECK(f.legacy());
  CHECK(f.header("Accept"));
  CHECK(f.header("X-Custom"));
  CHECK(f.header("Authorization"));
  CHECK(f.header("Accept-Encoding"));
  CHECK(f.header("CloudFront-Viewer-Country"));
  CHECK_FALSE(f.header("Host"));  // the exchange sends the origin's name
  CHECK_FALSE(f.cloudfront_header("CloudFront-Viewer-Country"));
  for (const char* owned : {"Connection", "Keep-Alive", "TE", "Upgrade", "Transfer-Encoding",
                            "Content-Length", "Expect", "Via", "X-Forwarded-For", "X-Amz-Cf-Id",
                            "Proxy", "Proxy-Authorization", "Cookie"}) {
    INFO(owned);
    CHECK_FALSE(f.header(owned));
  }
  std::string out;
  f.query("b=2&&a=1", out);
  CHECK(out == "b=2&&a=1");
  RequestHead r = request("/", "", {{"Cookie", "z=1; bad"}, {"Cookie", "a=2"}});
  f.cookies(r.headers, out);
  CHECK(out == "z=1; bad; a=2");
}

TEST_CASE("forward: CachingOptimized without an origin request policy", "[key][forward]") {
  CachePolicy p = caching_optimized();
  ForwardRules f(&p, nullptr);
  CHECK_FALSE(f.legacy());
  CHECK_FALSE(f.header("Accept"));
  CHECK_FALSE(f.header("User-Agent"));
  CHECK_FALSE(f.header("Host"));
  CHECK_FALSE(f.header("Accept-Encoding"));  // the normalized value goes instead
  CHECK_FALSE(f.header("Authorization", Method::Get));
  CHECK_FALSE(f.header("Authorization", Method::Head));
  CHECK_FALSE(f.header("Authorization", Method::Options));
  CHECK(f.header("Authorization", Method::Post));
  CHECK(f.header("authorization", Method::Delete));
  std::string out = "x";
  f.query("a=1&b=2", out);
  CHECK(out.empty());
  f.cookies(request("/", "", {{"Cookie", "a=1"}}).headers, out);
  CHECK(out.empty());
}

TEST_CASE("forward: AllViewer and its variants", "[key][forward]") {
  CachePolicy p = caching_optimized();
  OriginRequestPolicy all_viewer =
      orp(items(ItemBehavior::AllViewer), items(ItemBehavior::All), items(ItemBehavior::All));
  ForwardRules f(&p, &all_viewer);
  CHECK(f.header("Accept"));
  CHECK(f.header("Host"));
  CHECK(f.header("User-Agent"));
  CHECK_FALSE(f.header("Authorization"));  // never added by an origin request policy
  CHECK(f.header("Authorization", Method::Put));
  CHECK_FALSE(f.header("Accept-Encoding"));
  CHECK_FALSE(f.header("CloudFront-Viewer-Country"));  // viewer-supplied: never
  CHECK_FALSE(f.header("X-Edge-Location"));
  CHECK_FALSE(f.header("Cookie"));
  CHECK_FALSE(f.cloudfront_header("CloudFront-Viewer-Country"));
  std::string out;
  f.query("b=2&a=1", out);
  CHECK(out == "b=2&a=1");
  f.cookies(request("/", "", {{"Cookie", "z=1; bad; a=2"}, {"Cookie", "m=3"}}).headers, out);
  CHECK(out == "a=2; m=3; z=1");  // sorted by name, malformed dropped

  OriginRequestPolicy except_host = orp(items(ItemBehavior::AllExcept, {"host"}),
                                        items(ItemBehavior::All), items(ItemBehavior::All));
  ForwardRules g(&p, &except_host);
  CHECK_FALSE(g.header("Host"));
  CHECK(g.header("Accept"));

  OriginRequestPolicy with_cf =
      orp(items(ItemBehavior::AllViewerAndWhitelistCloudFront,
                {"cloudfront-viewer-country", "cloudfront-is-mobile-viewer"}),
          items(ItemBehavior::All), items(ItemBehavior::All));
  ForwardRules h(&p, &with_cf);
  CHECK(h.header("Accept"));
  CHECK(h.header("Host"));
  CHECK(h.cloudfront_header("CloudFront-Viewer-Country"));
  CHECK(h.cloudfront_header("cloudfront-is-mobile-viewer"));
  CHECK_FALSE(h.cloudfront_header("cloudfront-viewer-city"));
  CHECK_FALSE(h.header("CloudFront-Viewer-Country"));
}

TEST_CASE("forward: whitelist origin request policies", "[key][forward]") {
  CachePolicy p = caching_optimized();
  OriginRequestPolicy cors_s3 =
      orp(items(ItemBehavior::Whitelist,
                {"origin", "access-control-request-headers", "access-control-request-method"}),
          items(ItemBehavior::None), items(ItemBehavior::None));
  ForwardRules f(&p, &cors_s3);
  CHECK(f.header("Origin"));
  CHECK(f.header("Access-Control-Request-Method"));
  CHECK_FALSE(f.header("Accept"));
  CHECK_FALSE(f.header("Host"));

  OriginRequestPolicy host_only = orp(items(ItemBehavior::Whitelist, {"host"}),
                                      items(ItemBehavior::None), items(ItemBehavior::None));
  CHECK(ForwardRules(&p, &host_only).header("Host"));

  // MediaTailor's policy lists x-forwarded-for, which the exchange always writes itself.
  OriginRequestPolicy media_tailor =
      orp(items(ItemBehavior::Whitelist, {"origin", "user-agent", "x-forwarded-for"}),
          items(ItemBehavior::None), items(ItemBehavior::All));
  ForwardRules m(&p, &media_tailor);
  CHECK(m.header("User-Agent"));
  CHECK_FALSE(m.header("X-Forwarded-For"));
}

TEST_CASE("forward: cache policy keys always go to the origin", "[key][forward]") {
  CachePolicy ucc = use_origin_cache_control_headers(false);
  ForwardRules f(&ucc, nullptr);
  CHECK(f.header("Host"));
  CHECK(f.header("Origin"));
  CHECK(f.header("X-HTTP-Method-Override"));
  CHECK_FALSE(f.header("Accept"));
  std::string out;
  f.query("a=1", out);
  CHECK(out.empty());
  f.cookies(request("/", "", {{"Cookie", "b=1; a=2"}}).headers, out);
  CHECK(out == "a=2; b=1");

  CachePolicy uccq = use_origin_cache_control_headers(true);
  ForwardRules q(&uccq, nullptr);
  q.query("b=1&a=2", out);
  CHECK(out == "b=1&a=2");

  CachePolicy amp = amplify();
  ForwardRules a(&amp, nullptr);
  CHECK(a.header("Authorization", Method::Get));
  CHECK(a.cloudfront_header("CloudFront-Viewer-Country"));
  CHECK_FALSE(a.header("CloudFront-Viewer-Country"));

  CachePolicy mp = media_package();
  ForwardRules m(&mp, nullptr);
  m.query("aws.manifestfilter=x&other=1&start=5&M=1", out);
  CHECK(out == "aws.manifestfilter=x&start=5");
  CHECK(m.header("Origin"));
  // Gzip-only normalization still owns Accept-Encoding.
  CHECK_FALSE(m.header("Accept-Encoding"));

  // Without normalization, a whitelisted Accept-Encoding is a plain header.
  CachePolicy plain;
  plain.headers = items(ItemBehavior::Whitelist, {"accept-encoding"});
  CHECK(ForwardRules(&plain, nullptr).header("Accept-Encoding"));
}

TEST_CASE("forward: the union of both policies", "[key][forward]") {
  CachePolicy p;
  p.query_strings = items(ItemBehavior::Whitelist, {"a"});
  p.cookies = items(ItemBehavior::Whitelist, {"k"});
  p.headers = items(ItemBehavior::Whitelist, {"x-key"});
  OriginRequestPolicy o =
      orp(items(ItemBehavior::Whitelist, {"x-extra"}), items(ItemBehavior::Whitelist, {"c"}),
          items(ItemBehavior::Whitelist, {"b"}));
  ForwardRules f(&p, &o);
  CHECK(f.header("X-Key"));
  CHECK(f.header("X-Extra"));
  CHECK_FALSE(f.header("X-Other"));
  std::string out;
  f.query("z=0&b=2&a=1&b=3", out);
  CHECK(out == "b=2&a=1&b=3");
  f.cookies(request("/", "", {{"Cookie", "c=3; x=0; k=1"}}).headers, out);
  CHECK(out == "c=3; k=1");
  // An origin request policy without a cache policy: the cache policy selects nothing.
  ForwardRules only_orp(nullptr, &o);
  CHECK_FALSE(only_orp.legacy());
  CHECK(only_orp.header("X-Extra"));
  CHECK_FALSE(only_orp.header("X-Key"));
}
