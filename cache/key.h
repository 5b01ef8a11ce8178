// Cache keys and origin-request filtering from CloudFront cache policies and origin request
// policies: the normalized Accept-Encoding, the primary cache key, and ForwardRules (what of a
// viewer request goes to the origin). Pure functions and a value class that only references the
// policies (they live in the caller's config::Model snapshot); any thread. AWS pages followed:
// "Control the cache key with a policy", "Cache content based on query strings / cookies / request
// headers", "Serve compressed files", "HTTP request headers and CloudFront behavior".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "config/model.h"
#include "core/http.h"

namespace portico::cache {

// The normalized Accept-Encoding CloudFront puts in the cache key and sends to the origin. Beyond
// the three single codings, BrotliGzip is CloudFront's "Accept-Encoding: br,gzip": a viewer that
// accepts both, under a policy that enables both, gets its own key (the origin may answer such a
// request with either coding, so it must not share an entry with br-only or gzip-only viewers).
// When serving or compressing at the edge, BrotliGzip prefers Brotli ("When the viewer supports
// both formats, CloudFront uses Brotli").
enum class Encoding : uint8_t { Identity, Gzip, Brotli, BrotliGzip };

// CloudFront's normalization ("Cache compressed objects"): gzip counts only when the policy
// enables gzip, br only when it enables Brotli; other codings are dropped. Where CloudFront's page
// is silent we follow RFC 9110 §12.5.3: coding names are case-insensitive ("x-gzip" is gzip,
// §8.4.1.3); q=0 (or an unparseable q) refuses a coding, and a refusal anywhere in the list wins
// over an acceptance; "*" with q > 0 accepts every coding not listed explicitly. Pass "" when the
// request has no Accept-Encoding or is HTTP/1.0 (CloudFront drops the header for HTTP/1.0).
Encoding normalize_accept_encoding(std::string_view accept_encoding, const config::CachePolicy& p);

// True when the policy enables gzip or Brotli, i.e. Accept-Encoding is CloudFront's to normalize
// (and never a plain header of the cache key or of the origin request).
bool normalizes_accept_encoding(const config::CachePolicy& p);

// The Accept-Encoding value to send to the origin when normalizes_accept_encoding(): "identity",
// "gzip", "br" or "br,gzip" (CloudFront sends "identity" when the viewer accepts neither).
std::string_view origin_accept_encoding(Encoding e);

// Writes the primary cache key of `req` under policy `p` into `out` (cleared first; only its
// capacity grows, nothing else is allocated). The key holds, each as tag + decimal length + ':' +
// bytes so no two different inputs can produce the same key:
// - the distribution id; "G" for GET and HEAD (they share entries), else the method token;
// - the path as received (still percent-encoded, case-sensitive);
// - the query parameters the policy selects (None / Whitelist / AllExcept / All by name,
//   case-sensitive), as received and in received order: CloudFront's guide says "the order of
//   parameters matters in query strings" and caches ?a=1&b=2 and ?b=2&a=1 separately;
// - for each whitelisted header, in the policy's order (so the viewer's header order never
//   matters), each of its field values as received (values are case-sensitive), or an "absent"
//   mark; `host` reads req.authority. Cookie and (when normalized) Accept-Encoding are skipped:
//   they have their own parts;
// - the selected cookies (well-formed name=value pairs only), sorted by name then value, since
//   CloudFront sorts cookies; with more than 128 selected cookies the received order is kept;
// - `e` (0 = Identity .. 3 = BrotliGzip).
// Callers pass the Encoding from normalize_accept_encoding (Identity when the policy normalizes
// nothing).
void build_key(std::string& out, std::string_view distribution_id, const core::RequestHead& req,
               const config::CachePolicy& p, Encoding e);

// What of a viewer request goes to the origin: everything in the cache key plus what the origin
// request policy adds ("Control origin requests with a policy"). With both policies null, Portico's
// legacy mode: every viewer header, cookie and query string goes as received. A null cache policy
// with a non-null origin request policy (CloudFront rejects that) reads as a cache policy that
// selects nothing. Only references the policies: they must outlive the object.
class ForwardRules {
 public:
  ForwardRules(const config::CachePolicy* cache_policy,
               const config::OriginRequestPolicy* origin_request_policy)
      : cache_(cache_policy), origin_(origin_request_policy) {}

  bool legacy() const { return cache_ == nullptr && origin_ == nullptr; }

  // True when the viewer's field `name` (any case) is copied to the origin request of a `m`
  // request. Always false, whatever the policies say, for fields the exchange writes or handles
  // itself: hop-by-hop fields (RFC 9110 §7.6.1), Content-Length, Transfer-Encoding, Expect, Via,
  // X-Forwarded-For, X-Amz-Cf-Id, Proxy (httpoxy), and Cookie (use cookies()). Then:
  // - Host: only when a policy selects it (cache policy whitelist, origin request policy
  //   whitelist, AllViewer, AllViewerAndWhitelistCloudFront, AllExcept without host); otherwise
  //   the exchange sends the origin's own name, as CloudFront does (and legacy mode did);
  // - Accept-Encoding: false when the cache policy normalizes it (origin_accept_encoding());
  // - in policy mode, Authorization goes when the cache policy whitelists it, and for methods
  //   other than GET, HEAD and OPTIONS; origin request policies never add it (CloudFront refuses
  //   Authorization there and strips it from GET/HEAD; we also strip it from OPTIONS, whose
  //   responses a behavior may cache);
  // - in policy mode, CloudFront-* and X-Edge-* viewer fields never go: CloudFront generates the
  //   former (see cloudfront_header()) and removes the latter;
  // - anything else goes in legacy mode, or when either policy selects it.
  bool header(std::string_view name, core::Method m = core::Method::Get) const;

  // True when a policy asks for the CloudFront-generated header `name` (e.g.
  // "cloudfront-viewer-country"; any case): the exchange adds it with its own value.
  bool cloudfront_header(std::string_view name) const;

  // Writes the query string to send (without '?') into `out` (cleared first): the parameters
  // either policy selects, in received order, joined by '&' (empty segments dropped). Legacy mode
  // copies `raw_query` as is.
  void query(std::string_view raw_query, std::string& out) const;

  // Writes the Cookie value to send into `out` (cleared first; "" means send no Cookie): the
  // well-formed name=value pairs of every Cookie field that either policy selects, sorted by name
  // ("CloudFront sorts the cookies in natural order by cookie name before forwarding") and joined
  // by "; ". Legacy mode joins the Cookie field values as received.
  void cookies(const core::Headers& req, std::string& out) const;

 private:
  const config::CachePolicy* cache_;
  const config::OriginRequestPolicy* origin_;
};

}  // namespace portico::cache
