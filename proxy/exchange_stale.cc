// Exchange's stale-if-error path: when revalidating a stale object fails (the origin cannot be
// reached, times out, or answers 5xx), the stale copy answers instead, within the window
// cache/stale_on_error.h works out (RFC 5861 §4, the behavior's or cache policy's
// stale_if_error, CloudFront's default), and keeps answering for the error caching minimum TTL
// without asking the origin again, as CloudFront does.
#include "cache/cache_control.h"
#include "cache/freshness.h"
#include "cache/stale_on_error.h"
#include "proxy/exchange.h"
#include "proxy/exchange_cache.h"
#include "proxy/worker.h"
#include "routing/router.h"

namespace portico::proxy {
namespace {

// "How CloudFront processes HTTP 4xx and 5xx status codes from your origin", the requested object
// is in the edge cache: "For the duration of the error caching minimum TTL (10 seconds by
// default), CloudFront continues to respond to viewer requests by serving the object from the
// edge cache." The distribution's error_caching_min_ttl for `status`, else that default.
int64_t error_caching_min_ttl(const config::Distribution& d, int status) {
  for (const config::CustomErrorResponse& e : d.custom_error_responses) {
    if (e.error_code == status) return e.error_caching_min_ttl;
  }
  return cache::kDefaultErrorCachingMinTtl;
}

}  // namespace

// `status`: the origin's 5xx, or the 502 / 504 Portico answers for an origin it cannot reach.
bool Exchange::serve_stale_on_error(int status) {
  CacheState& c = *cache_;
  if (!c.stale) return false;
  const int64_t age = c.stale->age_ms(wall_now_ms());
  const cache::Timing& t = c.stale->timing();
  const int64_t until = cache::stale_if_error_until_ms(
      t, cache::parse_cache_control(c.stale->head().headers),
      route_->behavior->configured_stale_if_error(), c.policy->max_ttl);
  if (age >= until) return false;
  cache::ObjectRef stale = std::move(c.stale);
  c.stale = {};
  stale->end_revalidation();
  redis_release(false);
  if (c.fill) {
    std::optional<cache::Timing> held =
        cache::error_hold_timing(t, age, error_caching_min_ttl(*distribution_, status), until);
    if (held && c.fill->state() == cache::Object::State::Pending) {
      // The stale copy, fresh for the hold: requests (and the waiters joined on this fill) are
      // answered from it without an origin request. Local only; Redis keeps what it had.
      core::ResponseHead head = stale->head();
      prepare_object(*c.fill, head);
      c.fill->set_ready(std::move(head), *held, stale->vary_key(), stale->body_ref());
      worker_.cache().insert(c.fill);
    } else {
      if (c.fill->state() == cache::Object::State::Pending) {
        c.fill->release(cache::Object::State::Failed);
      }
      worker_.cache().end_fill(c.fill);
    }
    c.fill = {};
  }
  release_upstream(false);
  dist_stats_->stale_served.add();
  if (detached_) {
    worker_.retire(this);
    return true;
  }
  if (detach_for_revalidation_) return true;
  deliver(stale, "Hit from cloudfront", "Hit");
  return true;
}

}  // namespace portico::proxy
