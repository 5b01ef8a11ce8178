// Exchange's cache path: lookup in the shared MemoryStore, collapsing of concurrent misses onto
// one fill, revalidation of stale objects (RFC 9111 §4.3), stale-if-error / stale-while-revalidate
// (RFC 5861), and delivery from a stored object with Age (RFC 9111 §5.1), conditionals (RFC 9110
// §13) and ranges (§14) answered from the stored full object. The exchange that misses fills the
// object from the origin at the origin's pace; its own viewer and every joined viewer read the
// object as its bytes arrive, each at its own pace.
#include "proxy/exchange_cache.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include <algorithm>
#include <cstdio>

#include "cache/cache_control.h"
#include "cache/compression.h"
#include "cache/freshness.h"
#include "cache/key.h"
#include "cache/stale_on_error.h"
#include "cache/vary.h"
#include "core/clock.h"
#include "core/log.h"
#include "origin/conditional.h"
#include "proxy/connection.h"
#include "proxy/exchange.h"
#include "proxy/flush.h"
#include "proxy/response_writer.h"
#include "proxy/worker.h"
#include "routing/router.h"

namespace portico::proxy {
namespace {

bool is_unsafe(core::Method m) {
  return m == core::Method::Post || m == core::Method::Put || m == core::Method::Delete ||
         m == core::Method::Patch;
}

// Request fields a fill must not forward: the cache fetches the whole, current representation
// and answers the viewer's conditionals and ranges itself.
bool fill_drops(std::string_view name) {
  return core::iequals(name, "if-none-match") || core::iequals(name, "if-modified-since") ||
         core::iequals(name, "if-match") || core::iequals(name, "if-unmodified-since") ||
         core::iequals(name, "if-range") || core::iequals(name, "range") ||
         core::iequals(name, "accept-encoding");
}

// The freshness facts stored with an object (RFC 9111 §4.2.3 ages, the plan's lifetimes). The
// stale-if-error window is the behavior's (cache/stale_on_error.h), not the plan's policy floor.
cache::Timing timing_of(const cache::StoragePlan& plan, const core::Headers& headers,
                        int64_t request_s, int64_t now_ms, const config::CacheBehavior& b,
                        const config::CachePolicy& p) {
  cache::Timing t;
  t.request_time = request_s;
  t.response_time_ms = now_ms;
  t.corrected_initial_age = cache::corrected_initial_age(headers, request_s, now_ms / 1000);
  t.ttl = plan.ttl_s;
  t.stale_while_revalidate = plan.stale_while_revalidate_s;
  t.stale_if_error = cache::recorded_stale_if_error(cache::parse_cache_control(headers),
                                                    b.configured_stale_if_error(), p.max_ttl);
  t.must_revalidate = plan.must_revalidate;
  t.error_response = plan.error_response;
  return t;
}

}  // namespace

bool delivery_skips(std::string_view name) {
  return core::iequals(name, "content-length") || core::iequals(name, "via") ||
         core::iequals(name, "age") || core::iequals(name, "x-cache") ||
         core::iequals(name, "x-amz-cf-pop") || core::iequals(name, "x-amz-cf-id");
}

// ---- lookup ----

bool Exchange::start_cached(const routing::Route& route) {
  const config::CacheBehavior& b = *route.behavior;
  const config::CachePolicy* policy = b.cache_policy_ref;
  if (policy == nullptr) return false;  // legacy pass-through: no cache, everything forwarded
  cache_ = std::make_unique<CacheState>(worker_);
  cache_->policy = policy;
  cache_->rules = cache::ForwardRules(policy, b.origin_request_policy_ref);
  // CloudFront compresses nothing for a Range request: it reads the identity representation.
  // HTTP/1.0 viewers get no Accept-Encoding normalization either (CloudFront drops the header).
  cache_->encoding =
      req_.headers.has("range") || req_.version_minor == 0
          ? cache::Encoding::Identity
          : cache::normalize_accept_encoding(req_.headers.get_or("accept-encoding"), *policy);
  bool has_body = req_.framing == core::BodyFraming::Chunked ||
                  (req_.framing == core::BodyFraming::Length && req_.content_length > 0);
  // OPTIONS is cached when cached_methods has it, under its own key (build_key); not the
  // asterisk-form "OPTIONS *", which asks about the server, not a resource.
  bool cached_method = req_.method == core::Method::Get || req_.method == core::Method::Head ||
                       (req_.method == core::Method::Options && req_.path.starts_with('/'));
  if (is_unsafe(req_.method) || policy->caching_disabled() || has_body || !cached_method ||
      (b.cached_methods & core::method_bit(req_.method)) == 0) {
    return false;  // forwarded per the policies, never stored
  }
  cache::build_key(cache_->key, distribution_->id, req_, *policy, cache_->encoding);
  const core::Headers& rh = req_.headers;
  std::optional<cache::Encoding> enc = vary_encoding();
  std::string& scratch = cache_->scratch;
  auto matches = [&](const cache::Object& o) {
    return o.vary_in_key() || cache::vary_matches(o.head().headers, o.vary_key(), rh, enc, scratch);
  };
  on_lookup(worker_.cache().lookup(cache_->key, matches, true, distribution_->id, req_.path));
  return true;
}

void Exchange::on_lookup(cache::MemoryStore::Lookup found) {
  using Found = cache::MemoryStore::Found;
  switch (found.found) {
    case Found::Miss:
      if (redis_lookup(found.object)) return;  // local memory -> Redis -> origin
      dist_stats_->cache_misses.add();
      begin_fill(std::move(found.object), {});
      return;
    case Found::Joined:
      join_fill(std::move(found.object));
      return;
    case Found::Stored:
      break;
  }
  const cache::ObjectRef& o = found.object;
  int64_t age = o->age_ms(wall_now_ms());
  const cache::Timing& t = o->timing();
  // An edge that just got the fleet's invalidation log back has not applied what it missed:
  // what it holds is revalidated, not served, until it has.
  bool behind = worker_.redis() != nullptr && worker_.redis()->log().behind();
  if (age < t.ttl * 1000 && !behind) {
    dist_stats_->cache_hits.add();
    deliver(o, t.error_response ? "Error from cloudfront" : "Hit from cloudfront", "Hit");
    return;
  }
  // Stale. RFC 5861 §3: within stale-while-revalidate, serve it and refresh once in the
  // background (here: the next fill for the key; this exchange serves stale now).
  if (!behind && !t.must_revalidate && age < (t.ttl + t.stale_while_revalidate) * 1000) {
    dist_stats_->cache_hits.add();
    cache::MemoryStore::Lookup f;
    if (o->try_begin_revalidation()) {
      f = worker_.cache().begin_fill(cache_->key, distribution_->id, req_.path);
      // Another fill of the key is already on its way (a viewer's no-cache request, say): this
      // stale hit does not revalidate, so the next one may (the flag would otherwise stay set and
      // no stale hit would ever refresh the object again).
      if (f.found != Found::Miss || !f.object) o->end_revalidation();
    }
    if (f.found == Found::Miss && f.object) {
      // Serve the stale copy to this viewer and revalidate as a detached fill.
      cache_->stale = o;
      cache_->fill = std::move(f.object);
      redis_stamp();
      deliver(o, "Hit from cloudfront", "Hit");
      detach_for_revalidation_ = true;
      start_upstream();
      return;
    }
    deliver(o, "Hit from cloudfront", "Hit");
    return;
  }
  cache::MemoryStore::Lookup f =
      worker_.cache().begin_fill(cache_->key, distribution_->id, req_.path);
  if (f.found == Found::Joined) {
    dist_stats_->cache_misses.add();
    join_fill(std::move(f.object));
    return;
  }
  if (redis_lookup(f.object, o)) return;  // another edge may have refreshed it already
  dist_stats_->cache_misses.add();
  begin_fill(std::move(f.object), o);
}

void Exchange::join_fill(cache::ObjectRef object) {
  CacheState& c = *cache_;
  if (c.waiter_id == 0) c.waiter_id = worker_.add_cache_waiter(this);
  c.joined = std::move(object);
  c.wake_pending.store(false);
  if (c.joined->subscribe(&c)) {
    c.object_sub = c.joined.get();
    phase_ = Phase::Waiting;
    return;
  }
  on_cache_wake();
}

// The fill this exchange waited on moved on (or a body it delivers grew).
void Exchange::on_cache_wake() {
  if (!cache_) return;
  CacheState& c = *cache_;
  c.wake_pending.store(false, std::memory_order_release);
  unsubscribe_all();
  if (c.joined) {
    cache::ObjectRef o = std::move(c.joined);
    c.joined = {};
    switch (o->state()) {
      case cache::Object::State::Pending:
        join_fill(std::move(o));
        return;
      case cache::Object::State::Ready: {
        if (cache::vary_matches(o->head().headers, o->vary_key(), req_.headers, vary_encoding(),
                                c.scratch)) {
          dist_stats_->cache_hits.add();
          deliver(o, "Hit from cloudfront", "Hit");
          return;
        }
        bypass_cache();  // another variant is being filled: fetch this one uncollapsed
        return;
      }
      case cache::Object::State::Released:
      case cache::Object::State::Failed:
        bypass_cache();
        return;
    }
  }
  if (c.delivering) deliver_body();
}

// Fetch from the origin without storing (the response is not shareable, or a variant mismatch).
void Exchange::bypass_cache() {
  cache_->fill = {};
  phase_ = Phase::Routed;
  start_upstream();
}

void Exchange::begin_fill(cache::ObjectRef object, cache::ObjectRef stale) {
  cache_->fill = std::move(object);
  cache_->stale = std::move(stale);
  redis_stamp();
  start_upstream();
}

bool Exchange::fill_in_progress() const {
  return cache_ && cache_->fill && up_ != nullptr &&
         (phase_ == Phase::Connecting || phase_ == Phase::Waiting || cache_->filling);
}

void Exchange::detach() {
  write_log();
  unsubscribe_all();
  if (cache_) cache_->delivering = false;
  detached_ = true;
}

void Exchange::unsubscribe_all() {
  CacheState& c = *cache_;
  if (c.body_sub) {
    c.body_sub->unsubscribe(&c);
    c.body_sub = nullptr;
  }
  if (c.object_sub) {
    c.object_sub->unsubscribe(&c);
    c.object_sub = nullptr;
  }
}

// Precomputes what every hit on `o` would otherwise redo: the stored fields serialized for a full
// 200 (delivery_skips() applied), and whether Vary names only Accept-Encoding while the key holds
// the normalized encoding (the secondary key then never differs within a primary key).
void Exchange::prepare_object(cache::Object& o, const core::ResponseHead& head) {
  std::string wire;
  bool vary_other = false;
  for (const core::Header& f : head.headers) {
    if (core::iequals(f.name, "vary")) {
      for (size_t i = 0; i <= f.value.size();) {
        size_t comma = f.value.find(',', i);
        if (comma == std::string::npos) comma = f.value.size();
        std::string_view name = std::string_view(f.value).substr(i, comma - i);
        while (!name.empty() && (name.front() == ' ' || name.front() == '\t'))
          name.remove_prefix(1);
        while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
        if (!name.empty() && !core::iequals(name, "accept-encoding")) vary_other = true;
        i = comma + 1;
      }
    }
    if (delivery_skips(f.name)) continue;
    append_header(wire, f.name, f.value);
  }
  o.set_wire_headers(std::move(wire));
  o.set_vary_in_key(!vary_other && vary_encoding().has_value());
  if (const std::string* lm = head.headers.get("last-modified")) {
    o.set_last_modified(core::parse_http_date(lm->data(), lm->size()));
  }
}

// ---- fill: origin request and response ----

bool Exchange::filling() const { return cache_ && cache_->filling; }

// RFC 9111 §3.5: a response to a request whose Authorization reached the origin is stored only
// when the origin allows it, unless Authorization is part of the cache key (each credential then
// has its own entry, as with Managed-Amplify).
bool Exchange::authorization_shared() const {
  if (!req_.headers.has("authorization")) return false;
  if (!cache_->rules.header("authorization", core::Method::Get)) return false;
  const std::vector<std::string>& key = cache_->policy->headers.items;
  return std::find(key.begin(), key.end(), "authorization") == key.end();
}

// CloudFront ("Cache content based on cookies"): when a behavior forwards no cookies, it "removes
// Set-Cookie headers from responses before returning responses to your viewers".
bool Exchange::strips_set_cookie() const {
  if (!cache_) return false;
  const config::OriginRequestPolicy* orp = route_->behavior->origin_request_policy_ref;
  return cache_->policy->cookies.behavior == config::ItemBehavior::None &&
         (orp == nullptr || orp->cookies.behavior == config::ItemBehavior::None);
}

// Vary: Accept-Encoding compares the normalized encoding when the policy normalizes it.
std::optional<cache::Encoding> Exchange::vary_encoding() const {
  if (cache::normalizes_accept_encoding(*cache_->policy)) return cache_->encoding;
  return std::nullopt;
}

// Which viewer fields reach the origin: with policies, the cache key's plus the origin request
// policy's (CloudFront); Cookie is rebuilt by append_fill_request_headers. Without: all of them.
bool Exchange::forward_header(std::string_view name) const {
  if (!cache_) return true;
  if (core::iequals(name, "cookie")) return false;
  if (cache_->fill && fill_drops(name)) return false;
  return cache_->rules.header(name, req_.method);
}

std::string_view Exchange::origin_method_token() const {
  if (!filling() && !(cache_ && cache_->fill)) return req_.method_token;
  return req_.method == core::Method::Options ? std::string_view("OPTIONS")
                                              : std::string_view("GET");
}

void Exchange::append_forwarded_query(std::string& head) const {
  if (!req_.has_query) return;
  if (!cache_) {
    head += '?';
    head += req_.query;
    return;
  }
  std::string& q = cache_->scratch;
  q.clear();
  cache_->rules.query(req_.query, q);
  if (q.empty()) return;
  head += '?';
  head += q;
}

// Stops delivering. With `abort_fill` (destruction) or when no fill is under way, a fill this
// exchange owns is ended too, so its waiters go to the origin themselves.
void Exchange::cancel_cache(bool abort_fill) {
  CacheState& c = *cache_;
  unsubscribe_all();
  c.delivering = false;
  c.joined = {};
  if (c.redis_lookup != 0) {
    worker_.redis()->cancel(c.redis_lookup);
    c.redis_lookup = 0;
  }
  if (c.fill && (abort_fill || !fill_in_progress())) {
    redis_release(false);
    if (c.fill_body) c.fill_body->abort();
    if (c.fill->state() == cache::Object::State::Pending) {
      c.fill->release(cache::Object::State::Failed);
    }
    worker_.cache().end_fill(c.fill);
    if (c.stale) c.stale->end_revalidation();
    c.fill = {};
    c.filling = false;
  }
}

// Called while the origin request head is built (after the viewer's forwarded fields).
void Exchange::append_fill_request_headers(std::string& head) {
  CacheState& c = *cache_;
  std::string& cookies = c.scratch;
  cookies.clear();
  c.rules.cookies(req_.headers, cookies);
  if (!cookies.empty()) append_header(head, "Cookie", cookies);
  c.request_time_ms = wall_now_ms();
  // CloudFront sends the normalized Accept-Encoding of the cache key ("Serve compressed files").
  if (cache::normalizes_accept_encoding(*c.policy)) {
    append_header(head, "Accept-Encoding", cache::origin_accept_encoding(c.encoding));
  }
  if (!c.fill) return;
  if (c.stale && req_.method != core::Method::Options) {
    // RFC 9111 §4.3.1: validators of the stored response. Not for OPTIONS: a matching
    // If-None-Match on it asks for 412, not 304 (RFC 9110 §13.1.2), so it is fetched again.
    const core::Headers& h = c.stale->head().headers;
    if (const std::string* etag = h.get("etag")) append_header(head, "If-None-Match", *etag);
    if (const std::string* lm = h.get("last-modified")) {
      append_header(head, "If-Modified-Since", *lm);
    }
  }
}

// The origin's head for a fill. Returns true when the cache path took the response over.
bool Exchange::fill_response_head() {
  CacheState& c = *cache_;
  core::ResponseHead& h = *up_head_;
  int64_t now_ms = wall_now_ms();
  int64_t now = now_ms / 1000;
  // RFC 9111 §4.2.3's response_delay in whole seconds of the real delay (not of two truncated
  // clock readings, which would add a second whenever the exchange crosses a second boundary).
  int64_t request_s = now - (now_ms - c.request_time_ms) / 1000;
  cache::MemoryStore& store = worker_.cache();

  if (c.stale && h.status == 304) {
    // RFC 9111 §4.3.4: update the stored head with the 304's fields; the body is shared.
    core::ResponseHead merged;
    const core::ResponseHead& old = c.stale->head();
    merged.status = old.status;
    merged.reason = old.reason;
    h.headers.remove_hop_by_hop();
    for (const core::Header& f : old.headers) {
      if (!h.headers.has(f.name) || core::iequals(f.name, "content-length")) {
        merged.headers.add(f.name, f.value);
      }
    }
    for (const core::Header& f : h.headers) {
      if (!core::iequals(f.name, "content-length")) merged.headers.add(f.name, f.value);
    }
    cache::StoragePlan plan =
        cache::plan_storage(*c.policy, core::Method::Get, merged.status, merged.headers, now,
                            std::nullopt, authorization_shared());
    cache::Timing t =
        timing_of(plan, merged.headers, request_s, now_ms, *route_->behavior, *c.policy);
    t.error_response = c.stale->timing().error_response;
    prepare_object(*c.fill, merged);
    c.fill->set_ready(std::move(merged), t, c.stale->vary_key(), c.stale->body_ref());
    c.stale->end_revalidation();
    if (plan.storable) {
      store.insert(c.fill);
      redis_store(c.fill);
    } else {
      store.end_fill(c.fill);
      redis_release(true);
    }
    bool reusable = up_framing_ == core::BodyFraming::None && up_keep_alive_ && request_sent_;
    release_upstream(reusable);
    cache::ObjectRef refreshed = std::move(c.fill);
    c.fill = {};
    c.stale = {};
    if (detached_) {
      worker_.retire(this);
      return true;
    }
    if (detach_for_revalidation_) return true;
    deliver(refreshed, "RefreshHit from cloudfront", "RefreshHit");
    return true;
  }
  if (c.stale && h.status >= 500 && serve_stale_on_error(h.status)) return true;
  if (c.stale) c.stale->end_revalidation();

  std::optional<int64_t> error_ttl;
  for (const config::CustomErrorResponse& e : distribution_->custom_error_responses) {
    if (e.error_code == h.status) error_ttl = e.error_caching_min_ttl;
  }
  if (h.status >= 400) {
    bool page = false;
    for (const config::CustomErrorResponse& e : distribution_->custom_error_responses) {
      page = page || (e.error_code == h.status && !e.response_page_path.empty());
    }
    if (page && !detached_ && !detach_for_revalidation_ && error_page_status_ == 0) {
      redis_release(false);
      c.fill->release(cache::Object::State::Released);
      store.end_fill(c.fill);
      c.fill = {};
      c.stale = {};
      return try_error_page(h.status);
    }
  }
  cache::StoragePlan plan = cache::plan_storage(*c.policy, core::Method::Get, h.status, h.headers,
                                                now, error_ttl, authorization_shared());
  bool too_big =
      h.framing == core::BodyFraming::Length && h.content_length > store.max_object_bytes();
  if (!plan.storable || too_big) {
    PORTICO_DEBUG("cache: not storing %s: %s", req_.path.c_str(), too_big ? "size" : plan.reason);
    redis_release(true);  // the fleet's waiters go to the origin themselves
    c.fill->release(cache::Object::State::Released);
    store.end_fill(c.fill);
    c.fill = {};
    c.stale = {};
    if (detached_ || detach_for_revalidation_) {
      release_upstream(false);
      if (detached_) worker_.retire(this);
      return true;
    }
    return false;  // pass the response through
  }

  // Storable: the stored head is the origin's end-to-end fields (RFC 9111 §3.1).
  core::ResponseHead stored;
  stored.status = h.status;
  stored.reason = h.reason;
  h.headers.remove_hop_by_hop();
  std::string_view content_encoding = h.headers.get_or("content-encoding");
  cache::CacheControl cc = cache::parse_cache_control(h.headers);
  bool strip_cookies = strips_set_cookie();
  bool compress = route_->behavior->compress && c.encoding != cache::Encoding::Identity &&
                  h.status == 200 && content_encoding.empty() &&
                  cache::compressible_content_type(h.headers.get_or("content-type")) &&
                  cache::compressible_length(h.framing == core::BodyFraming::Length
                                                 ? static_cast<int64_t>(h.content_length)
                                                 : -1) &&
                  !cc.no_transform;
  for (const core::Header& f : h.headers) {
    if (core::iequals(f.name, "content-length")) continue;
    // RFC 9111 §5.2.2.4 / §5.2.2.7: fields named by no-cache="..." / private="..." are not stored.
    if (cc.strips_field(f.name)) continue;
    if (strip_cookies && core::iequals(f.name, "set-cookie")) continue;
    if (compress && core::iequals(f.name, "etag")) {
      std::optional<std::string> weak = cache::weaken_etag(f.value);
      if (weak) stored.headers.add(f.name, *weak);
      continue;
    }
    stored.headers.add(f.name, f.value);
  }
  if (compress) {
    // Brotli when the viewer takes both ("When the viewer supports both formats, CloudFront uses
    // Brotli").
    cache::Coding coding =
        c.encoding == cache::Encoding::Gzip ? cache::Coding::Gzip : cache::Coding::Brotli;
    c.compressor = cache::Compressor::create(coding, h.framing == core::BodyFraming::Length
                                                         ? static_cast<int64_t>(h.content_length)
                                                         : -1);
    stored.headers.add("Content-Encoding", cache::coding_token(coding));
  }
  if (c.policy->enable_accept_encoding_gzip || c.policy->enable_accept_encoding_brotli) {
    if (!stored.headers.has_token("vary", "accept-encoding")) {
      stored.headers.add("Vary", "Accept-Encoding");
    }
  }
  cache::Timing t = timing_of(plan, h.headers, request_s, now_ms, *route_->behavior, *c.policy);
  int64_t expected = (!compress && h.framing == core::BodyFraming::Length)
                         ? static_cast<int64_t>(h.content_length)
                         : -1;
  bool no_body = h.framing == core::BodyFraming::None ||
                 (h.framing == core::BodyFraming::Length && h.content_length == 0);
  c.fill_body = cache::BodyRef(cache::Body::create(no_body ? 0 : expected));
  std::string vary;
  cache::vary_key(stored.headers, req_.headers, vary_encoding(), vary);
  prepare_object(*c.fill, stored);
  c.fill->set_ready(std::move(stored), t, std::move(vary), c.fill_body);
  c.stale = {};
  c.filling = true;
  phase_ = Phase::Streaming;
  if (!detached_ && !detach_for_revalidation_) {
    deliver(c.fill, plan.error_response ? "Error from cloudfront" : "Miss from cloudfront",
            plan.error_response ? "Error" : "Miss");
  }
  if (no_body) {
    fill_finished();
    return true;
  }
  fill_from_upstream();
  return true;
}

// Moves what the origin sent into the fill body (at the origin's pace: the fill never waits for
// a viewer; its size is bounded by max_object_size).
void Exchange::fill_from_upstream() {
  CacheState& c = *cache_;
  if (!c.filling || c.overflow || up_ == nullptr) return;
  evbuffer* in = bufferevent_get_input(up_);
  while (!up_complete_) {
    size_t len = evbuffer_get_length(in);
    if (len == 0) break;
    if (up_framing_ == core::BodyFraming::Length && !c.compressor) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(len, up_remaining_));
      while (n > 0) {
        auto [p, room] = c.fill_body->reserve(n);
        if (room == 0) break;
        int got = evbuffer_remove(in, p, room);
        if (got <= 0) break;
        c.fill_body->commit(static_cast<size_t>(got));
        n -= static_cast<size_t>(got);
        up_remaining_ -= static_cast<uint64_t>(got);
        c.fill_in += static_cast<uint64_t>(got);
      }
      if (up_remaining_ == 0) up_complete_ = true;
    } else if (up_framing_ == core::BodyFraming::Chunked) {
      evbuffer_iovec vec{};
      if (evbuffer_peek(in, -1, nullptr, &vec, 1) < 1) break;
      size_t n =
          rparser_.feed(std::string_view(static_cast<const char*>(vec.iov_base), vec.iov_len));
      if (rparser_.phase() == http1::ParsePhase::Failed) {
        PORTICO_WARN("origin %s: invalid chunked body: %s", target_->stats_key.c_str(),
                     rparser_.error().detail.c_str());
        fill_failed(502, "The origin sent an invalid response.");
        return;
      }
      evbuffer_drain(in, n);
      if (n == 0 && !up_complete_) break;
    } else {
      // UntilClose, or Length through a compressor.
      size_t n = len;
      if (up_framing_ == core::BodyFraming::Length) {
        n = static_cast<size_t>(std::min<uint64_t>(len, up_remaining_));
      }
      evbuffer_iovec vec{};
      if (evbuffer_peek(in, static_cast<ev_ssize_t>(n), nullptr, &vec, 1) < 1) break;
      size_t take = std::min(n, vec.iov_len);
      fill_append(std::string_view(static_cast<const char*>(vec.iov_base), take));
      evbuffer_drain(in, take);
      if (up_framing_ == core::BodyFraming::Length) {
        up_remaining_ -= take;
        if (up_remaining_ == 0) up_complete_ = true;
      }
    }
    if (!c.filling || c.overflow) return;  // fill_append gave up (too large)
  }
  c.fill_body->notify();
  if (up_complete_) {
    fill_finished();
    return;
  }
  if (up_eof_ && evbuffer_get_length(in) == 0) {
    if (up_framing_ == core::BodyFraming::UntilClose) {
      up_complete_ = true;
      fill_finished();
    } else {
      PORTICO_WARN("origin %s: connection closed mid-body", target_->stats_key.c_str());
      fill_failed(502, "The origin closed the connection.");
    }
  }
}

void Exchange::fill_append(std::string_view data) {
  CacheState& c = *cache_;
  if (c.overflow) {
    c.overflow_stash.append(data);
    return;
  }
  c.fill_in += data.size();
  if (c.fill_in > worker_.cache().max_object_bytes()) {
    begin_overflow(data);
    return;
  }
  if (c.compressor) {
    c.scratch.clear();
    c.compressor->compress(data, c.scratch);
    c.fill_body->append(c.scratch);
  } else {
    c.fill_body->append(data);
  }
}

void Exchange::fill_finished() {
  CacheState& c = *cache_;
  if (c.compressor) {
    c.scratch.clear();
    c.compressor->finish(c.scratch);
    c.fill_body->append(c.scratch);
    c.compressor.reset();
  }
  c.filling = false;
  c.fill_body->finish();
  worker_.cache().insert(c.fill);
  redis_store(c.fill);
  bool reusable = !up_eof_ && up_framing_ != core::BodyFraming::UntilClose && request_sent_ &&
                  up_ != nullptr && evbuffer_get_length(bufferevent_get_input(up_)) == 0 &&
                  up_keep_alive_;
  release_upstream(reusable);
  c.fill = {};
  c.fill_body = {};
  if (detached_) worker_.retire(this);
}

// A response of unknown length grew past max_object_size: it is not stored. Viewers that joined
// the fill are cut off (their bytes stop, as for an origin failure); this exchange's own viewer
// gets the bytes already in the body, then the rest straight from the origin (pass-through).
void Exchange::begin_overflow(std::string_view pending) {
  CacheState& c = *cache_;
  PORTICO_WARN("cache: %s is over max_object_size; not stored", req_.path.c_str());
  if (detached_ || detach_for_revalidation_ || !c.delivering || c.compressor) {
    fill_failed(0, {});
    return;
  }
  redis_release(true);
  c.overflow = true;
  c.overflow_stash.assign(pending.data(), pending.size());
  paused_ = true;
  set_up_reading(false);
  worker_.cache().end_fill(c.fill);
  c.fill_body->abort();  // wakes every reader; ours switches in deliver_body()
}

void Exchange::switch_to_passthrough() {
  CacheState& c = *cache_;
  unsubscribe_all();
  c.delivering = false;
  c.overflow = false;
  c.filling = false;
  c.fill = {};
  down_chunked_ = c.chunked;
  write_down_body(c.overflow_stash);
  c.overflow_stash.clear();
  c.overflow_stash.shrink_to_fit();
  paused_ = false;
  if (!up_eof_) set_up_reading(true);
  relay_body();
}

// The fill cannot complete: readers that already started are cut off (the response is
// truncated, as for any origin failure mid-body); the key is free for the next request.
void Exchange::fill_failed(int status, std::string_view explanation) {
  CacheState& c = *cache_;
  c.filling = false;
  redis_release(false);
  release_upstream(false);
  if (c.fill_body) c.fill_body->abort();
  if (c.fill) {
    if (c.fill->state() == cache::Object::State::Pending) {
      c.fill->release(cache::Object::State::Failed);
    }
    worker_.cache().end_fill(c.fill);
  }
  if (c.stale) c.stale->end_revalidation();
  c.fill = {};
  c.compressor.reset();
  if (detached_) {
    worker_.retire(this);
    return;
  }
  if (status != 0 && !response_started_) fail(status, explanation);
}

// ---- the Redis tier ----

// After a local miss (`fill` is ours, Pending), or with the local `stale` copy to revalidate:
// asks Redis within the budget. False when the tier is absent or cannot answer now; the caller
// then goes to the origin.
bool Exchange::redis_lookup(const cache::ObjectRef& fill, const cache::ObjectRef& stale) {
  cache::RedisTier* tier = worker_.redis();
  CacheState& c = *cache_;
  if (tier == nullptr || !fill || c.redis_asked) return false;
  c.redis_asked = true;
  uint64_t id = tier->lookup(c.key, distribution_->id, req_.path, req_.headers, vary_encoding(),
                             [this](cache::RedisTier::Found f) { on_redis_found(std::move(f)); });
  if (id == 0) return false;
  // Local waiters join `fill` while Redis answers; cancel_cache() releases it if we go away.
  c.fill = fill;
  c.stale = stale;
  c.redis_lookup = id;
  phase_ = Phase::Waiting;
  return true;
}

void Exchange::on_redis_found(cache::RedisTier::Found found) {
  CacheState& c = *cache_;
  c.redis_lookup = 0;
  cache::ObjectRef fill = std::move(c.fill);
  cache::ObjectRef stale = std::move(c.stale);
  c.fill = {};
  c.stale = {};
  // With a local stale copy, only a fresh entry beats revalidating it.
  if (found.kind == cache::RedisTier::Found::Kind::Hit &&
      serve_from_redis(fill, found.entry, !stale)) {
    return;
  }
  c.redis_lock = found.lock_held;
  dist_stats_->cache_misses.add();
  begin_fill(std::move(fill), std::move(stale));
}

// A Redis entry becomes the local object `fill` (so local waiters and later requests hit it)
// and is delivered like a local hit, Age from its stored timing. A stale entry takes the local
// stale path (stale-while-revalidate, revalidation). False when it cannot serve this request:
// another Vary variant than the one read, or stale and chunked.
bool Exchange::serve_from_redis(const cache::ObjectRef& fill, cache::RedisEntry& entry,
                                bool allow_stale) {
  CacheState& c = *cache_;
  if (!cache::vary_matches(entry.head.headers, entry.vary_key, req_.headers, vary_encoding(),
                           c.scratch)) {
    return false;
  }
  const cache::Timing timing = entry.timing;
  int64_t now = wall_now_ms();
  int64_t age =
      timing.corrected_initial_age * 1000 + std::max<int64_t>(0, now - timing.response_time_ms);
  bool fresh = age < timing.ttl * 1000;
  bool chunked = entry.chunks > 0;
  if (!fresh && (chunked || !allow_stale)) return false;
  if (entry.body_length > worker_.cache().max_object_bytes()) return false;  // another config
  cache::BodyRef body(cache::Body::create(static_cast<int64_t>(entry.body_length)));
  if (!chunked) {
    body->append(entry.inline_body);
    body->finish();
  }
  core::ResponseHead head = std::move(entry.head);
  prepare_object(*fill, head);
  fill->set_ready(std::move(head), timing, entry.vary_key, body);
  if (chunked) {
    worker_.redis()->stream_body(std::move(entry), fill, body);  // inserts it when complete
  } else {
    worker_.cache().insert(fill);
  }
  if (!fresh) {
    on_lookup(cache::MemoryStore::Lookup{cache::MemoryStore::Found::Stored, fill});
    return true;
  }
  dist_stats_->cache_hits.add();
  deliver(fill, timing.error_response ? "Error from cloudfront" : "Hit from cloudfront", "Hit");
  return true;
}

// The invalidation log's state when an origin fetch begins: what the object is stamped with.
void Exchange::redis_stamp() {
  if (cache::RedisTier* tier = worker_.redis()) {
    cache_->redis_stamp = tier->log().stamp(distribution_->id);
  }
}

// A fill was stored locally: write it to Redis in the background (then free the fleet lock).
void Exchange::redis_store(const cache::ObjectRef& object) {
  cache::RedisTier* tier = worker_.redis();
  if (tier == nullptr) return;
  CacheState& c = *cache_;
  if (object->invalidated()) {
    redis_release(false);
    return;
  }
  tier->store(object, c.redis_stamp, c.redis_lock);
  c.redis_lock = false;
}

// The fill ended without an object for Redis: free the fleet lock if we hold it. `pass`: the
// response is not storable, so other edges go straight to the origin for a while.
void Exchange::redis_release(bool pass) {
  if (!cache_ || !cache_->redis_lock) return;
  cache_->redis_lock = false;
  worker_.redis()->release_lock(cache_->key, pass);
}

// RFC 9111 §4.4: a successful unsafe request invalidates the stored responses for its URI and for
// the URIs in Location / Content-Location (same host only; here: same distribution and path).
void Exchange::invalidate_after_unsafe() {
  if (!cache_ || !is_unsafe(req_.method) || status_ < 200 || status_ >= 400) return;
  cache::MemoryStore& store = worker_.cache();
  cache::RedisTier* tier = worker_.redis();
  const config::CachePolicy& p = *cache_->policy;
  std::string key;
  const bool options =
      (route_->behavior->cached_methods & core::method_bit(core::Method::Options)) != 0;
  auto drop = [&](std::string_view path, std::string_view query) {
    core::RequestHead r;
    r.path = path;
    r.query = query;
    r.has_query = !query.empty();
    r.headers = req_.headers;
    // GET's entries and, when this behavior caches OPTIONS, the OPTIONS ones (keyed apart).
    for (core::Method m : {core::Method::Get, core::Method::Options}) {
      if (m == core::Method::Options && !options) break;
      r.method = m;
      r.method_token = core::method_name(m);
      for (cache::Encoding e : {cache::Encoding::Identity, cache::Encoding::Gzip,
                                cache::Encoding::Brotli, cache::Encoding::BrotliGzip}) {
        cache::build_key(key, distribution_->id, r, p, e);
        store.remove_key(key);
        if (tier != nullptr) tier->remove(key);
      }
    }
  };
  drop(req_.path, req_.query);
  if (!up_head_) return;
  for (std::string_view name : {"location", "content-location"}) {
    const std::string* v = up_head_->headers.get(name);
    if (v == nullptr) continue;
    std::string_view u = *v;
    // Absolute URLs must name this request's host; relative references start with '/'.
    if (u.starts_with("http://") || u.starts_with("https://")) {
      u.remove_prefix(u.find("//") + 2);
      size_t slash = u.find('/');
      std::string_view host = u.substr(0, slash);
      if (!core::iequals(host, req_.authority) || slash == std::string_view::npos) continue;
      u.remove_prefix(slash);
    }
    if (!u.starts_with('/')) continue;
    size_t q = u.find('?');
    drop(u.substr(0, q), q == std::string_view::npos ? std::string_view() : u.substr(q + 1));
  }
}

}  // namespace portico::proxy
