// Fuzz target for cache::parse_cache_control, and through it plan_storage, plus the other header
// parsers of cache/ that take the same kind of input (Age, Accept-Encoding, Vary). The input is a
// Cache-Control value; a '\n' in it splits it into two field lines.
// Invariants: every delta-seconds value is in [0, 2^31]; field lists are non-empty lower-case
// names and are empty when the unqualified form is set; one line parses like the same value given
// as a field; a stored plan has a non-negative TTL within the policy's bounds (errors excepted)
// and no stale window when must_revalidate is set.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "cache/cache_control.h"
#include "cache/freshness.h"
#include "cache/key.h"
#include "cache/vary.h"

namespace {

using portico::cache::CacheControl;
using portico::cache::kMaxDeltaSeconds;

void check_delta(const std::optional<int64_t>& v) {
  if (v && (*v < 0 || *v > kMaxDeltaSeconds)) std::abort();
}

void check_fields(bool unqualified, const std::vector<std::string>& fields) {
  if (unqualified && !fields.empty()) std::abort();
  for (const std::string& f : fields) {
    if (f.empty()) std::abort();
    for (char c : f) {
      if (c >= 'A' && c <= 'Z') std::abort();
    }
  }
}

void check(const CacheControl& cc) {
  check_delta(cc.max_age);
  check_delta(cc.s_maxage);
  check_delta(cc.stale_while_revalidate);
  check_delta(cc.stale_if_error);
  check_fields(cc.no_cache, cc.no_cache_fields);
  check_fields(cc.private_, cc.private_fields);
}

bool same(const CacheControl& a, const CacheControl& b) {
  return a.no_store == b.no_store && a.no_cache == b.no_cache &&
         a.no_cache_fields == b.no_cache_fields && a.private_ == b.private_ &&
         a.private_fields == b.private_fields && a.public_ == b.public_ &&
         a.must_revalidate == b.must_revalidate && a.proxy_revalidate == b.proxy_revalidate &&
         a.no_transform == b.no_transform && a.immutable == b.immutable && a.max_age == b.max_age &&
         a.s_maxage == b.s_maxage && a.stale_while_revalidate == b.stale_while_revalidate &&
         a.stale_if_error == b.stale_if_error;
}

void check_plan(const portico::config::CachePolicy& p, const portico::core::Headers& h,
                int status) {
  using portico::cache::StoragePlan;
  for (bool auth : {false, true}) {
    StoragePlan plan = portico::cache::plan_storage(p, portico::core::Method::Get, status, h,
                                                    1'700'000'000, std::nullopt, auth);
    if (plan.reason == nullptr) std::abort();
    if (!plan.storable) continue;
    if (plan.ttl_s < 0 || plan.stale_while_revalidate_s < 0 || plan.stale_if_error_s < 0) {
      std::abort();
    }
    if (!plan.error_response && plan.ttl_s > p.max_ttl) std::abort();
    if (!plan.error_response && plan.ttl_s < p.min_ttl) std::abort();
    if (plan.must_revalidate &&
        (plan.stale_while_revalidate_s != 0 || plan.stale_if_error_s != 0)) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  CacheControl cc = portico::cache::parse_cache_control(input);
  check(cc);
  portico::core::Headers one;
  one.add("Cache-Control", input);
  if (!same(cc, portico::cache::parse_cache_control(one))) std::abort();

  portico::core::Headers two;
  size_t nl = input.find('\n');
  two.add("Cache-Control", input.substr(0, nl));
  if (nl != std::string_view::npos) two.add("cache-control", input.substr(nl + 1));
  check(portico::cache::parse_cache_control(two));

  portico::config::CachePolicy dflt;
  portico::config::CachePolicy min_ttl;
  min_ttl.min_ttl = 60;
  min_ttl.default_ttl = 300;
  min_ttl.max_ttl = 3'600;
  min_ttl.stale_if_error = 30;
  for (int status : {200, 302, 403, 404, 503}) {
    check_plan(dflt, two, status);
    check_plan(min_ttl, two, status);
  }

  // The same bytes as Age, Expires, Accept-Encoding and Vary values: no crash, sane results.
  portico::core::Headers other;
  other.add("Age", input);
  other.add("Date", input);
  other.add("Expires", input);
  other.add("Vary", input);
  if (portico::cache::corrected_initial_age(other, 10, 20) < 10) std::abort();
  check_plan(dflt, other, 200);
  min_ttl.enable_accept_encoding_gzip = true;
  min_ttl.enable_accept_encoding_brotli = true;
  portico::cache::Encoding e = portico::cache::normalize_accept_encoding(input, min_ttl);
  if (static_cast<int>(e) > 3) std::abort();
  std::string key;
  portico::cache::vary_key(other, two, e, key);
  std::string scratch;
  if (!portico::cache::vary_matches(other, key, two, e, scratch)) std::abort();
  return 0;
}
