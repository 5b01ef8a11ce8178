// Vary (RFC 9110 §12.5.5, RFC 9111 §4.1): the secondary cache key that picks one stored variant
// of a primary key (cache/key.h), computed from the stored response's Vary and a request's
// headers. Pure functions; they allocate nothing beyond growing the caller's string, so the store
// can run them under its shard lock. Any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cache/key.h"
#include "core/http.h"

namespace portico::cache {

// True when a Vary field line of `response` lists "*" (RFC 9110 §12.5.5: the response varies on
// something outside the request headers, so no request matches it).
bool vary_star(const core::Headers& response);

// Writes the secondary key of request headers `request` for a response whose headers are
// `response` into `out` (cleared first; empty when there is no Vary). The field names of every
// Vary line are lower-cased, de-duplicated and sorted (up to 32; more follow in received order), so
// "Vary: B, a" and "Vary: A" + "Vary: b" give the same key. "*" is skipped: plan_storage() decides
// whether such a response is stored at all (CloudFront keeps one when the minimum TTL is above 0,
// and then serves it to every request). For each name the key holds the name and either an
// "absent" mark or the request's value: every field line of that name joined by ',', trimmed,
// runs of spaces and tabs collapsed to one space and dropped next to commas (RFC 9111 §4.1 allows
// normalizing whitespace where the field's syntax does). Values stay case-sensitive; an absent
// field differs from an empty one.
// Accept-Encoding: when the cache policy normalizes it, pass the request's Encoding. The primary
// key already holds it and the origin only saw the normalized value, so it is compared instead of
// the viewer's raw header, which would split the cache on irrelevant differences ("gzip, deflate,
// br" vs "br, gzip"). When the policy does not normalize, pass nullopt: the raw header counts.
void vary_key(const core::Headers& response, const core::Headers& request,
              std::optional<Encoding> encoding, std::string& out);

// True when `request` selects the stored variant whose response headers are `response` and whose
// secondary key (from vary_key() at store time) is `stored_key`. `scratch` is reused for the
// request's key. "*" is ignored, as in vary_key().
bool vary_matches(const core::Headers& response, std::string_view stored_key,
                  const core::Headers& request, std::optional<Encoding> encoding,
                  std::string& scratch);

}  // namespace portico::cache
