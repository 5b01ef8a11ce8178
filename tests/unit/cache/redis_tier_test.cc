// Two "edges" (each a MemoryStore + RedisTier + RedisLog on one loop) sharing a real
// redis-server: write-back and lookup (inline and chunked), partial writes never visible, Vary
// variants side by side, invalidations through the log hiding entries on the other edge, and
// the fleet lock (one filler, waiters served from its write, a slow holder renewing its lock, a
// dead holder's lock expiring).
#include "cache/redis_tier.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "cache/redis_entry.h"
#include "cache/redis_log.h"
#include "cache/vary.h"
#include "redis_test_util.h"

namespace portico::cache {
namespace {

using namespace std::chrono_literals;
using test::RedisServer;
using test::run_until;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Edge {
  Edge(core::Loop& loop, uint16_t port, const std::string& name, bool fleet_lock = false,
       std::chrono::milliseconds lock_timeout = 2000ms)
      : store(64 << 20, 16 << 20) {
    RedisClientOptions c;
    c.seeds.push_back(config::RedisAddress{"127.0.0.1", port});
    c.backoff_min = 10ms;
    c.backoff_max = 100ms;
    RedisTierOptions o;
    o.key_prefix = "t:";
    o.timeout = 200ms;  // generous: sanitizers
    o.fleet_lock = fleet_lock;
    o.lock_timeout = lock_timeout;
    o.edge_id = name;
    tier = std::make_unique<RedisTier>(loop, c, o, stats, log, store);
    RedisLogOptions lo;
    lo.key_prefix = "t:";
    lo.distributions = {"web"};
    lo.poll = 5000ms;
    feed = std::make_unique<RedisLog>(
        loop, c, lo, log, &stats.client,
        [this](const std::string& d, const std::vector<InvalidationLog::Entry>& entries) {
          applied_entries += entries.size();
          for (const auto& e : entries) {
            for (const auto& p : e.paths) store.invalidate(d, p);
          }
        });
    tier->start();
    feed->start();
  }
  bool ready() { return tier->client().all_ready() && feed->synced(); }

  // A stored local object, as a fill from the origin leaves it.
  ObjectRef fill(const std::string& key, const std::string& path, const std::string& body,
                 int64_t ttl = 60) {
    MemoryStore::Lookup l = store.lookup(
        key, [](const Object&) { return false; }, true, "web", path);
    REQUIRE(l.object);
    BodyRef b(Body::create(static_cast<int64_t>(body.size())));
    b->append(body);
    b->finish();
    core::ResponseHead head;
    head.status = 200;
    head.reason = "OK";
    head.headers.add("Content-Type", "text/plain");
    head.headers.add("ETag", "\"v1\"");
    Timing t;
    t.response_time_ms = now_ms() - 2000;  // two seconds old
    t.ttl = ttl;
    l.object->set_ready(std::move(head), t, "", b);
    store.insert(l.object);
    return l.object;
  }

  // A stored local variant of a response with `Vary: X-Lang`, filled for a request whose X-Lang
  // is `lang` ("" = none).
  ObjectRef fill_variant(const std::string& key, const std::string& path, const std::string& body,
                         const std::string& lang, int64_t ttl = 60) {
    MemoryStore::Lookup l = store.lookup(
        key, [](const Object&) { return false; }, true, "web", path);
    REQUIRE(l.object);
    BodyRef b(Body::create(static_cast<int64_t>(body.size())));
    b->append(body);
    b->finish();
    core::ResponseHead head;
    head.status = 200;
    head.reason = "OK";
    head.headers.add("Content-Type", "text/plain");
    head.headers.add("Vary", "X-Lang");
    Timing t;
    t.response_time_ms = now_ms() - 2000;
    t.ttl = ttl;
    std::string vk;
    vary_key(head.headers, lang_request(lang), std::nullopt, vk);
    l.object->set_ready(std::move(head), t, vk, b);
    store.insert(l.object);
    return l.object;
  }

  static core::Headers lang_request(const std::string& lang) {
    core::Headers h;
    h.add("Accept", "*/*");
    if (!lang.empty()) h.add("X-Lang", lang);
    return h;
  }

  std::optional<RedisTier::Found> lookup(core::Loop& loop, const std::string& key,
                                         const std::string& path,
                                         const core::Headers& request = {}) {
    std::optional<RedisTier::Found> out;
    uint64_t id = tier->lookup(key, "web", path, request, std::nullopt,
                               [&](RedisTier::Found f) { out = std::move(f); });
    if (id == 0) return std::nullopt;
    run_until(loop, [&] { return out.has_value(); });
    return out;
  }

  MemoryStore store;
  RedisTierStats stats;
  InvalidationLog log;
  std::unique_ptr<RedisTier> tier;
  std::unique_ptr<RedisLog> feed;
  size_t applied_entries = 0;  // log entries on_applied reported
};

// A redis-server and two edges ("a" and "b") on one loop, both ready.
struct Fleet {
  Fleet() : a(loop, server.port(), "a"), b(loop, server.port(), "b") {
    REQUIRE(run_until(loop, [&] { return a.ready() && b.ready(); }));
  }
  RedisServer server;
  core::Loop loop;
  Edge a;
  Edge b;
};

std::string big_body(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 1000) % 26);
  return s;
}

}  // namespace

TEST_CASE("redis tier: an object filled on one edge is a hit on another", "[cache][redis]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  Fleet f;

  std::optional<RedisTier::Found> miss = f.b.lookup(f.loop, "K1", "/x");
  REQUIRE(miss);
  CHECK(miss->kind == RedisTier::Found::Kind::Miss);

  ObjectRef o = f.a.fill("K1", "/x", "hello redis");
  f.a.tier->store(o, f.a.log.stamp("web"), false);
  REQUIRE(run_until(f.loop, [&] { return f.a.stats.writes.load() == 1; }));
  std::optional<RedisTier::Found> hit = f.b.lookup(f.loop, "K1", "/x");
  REQUIRE(hit);
  REQUIRE(hit->kind == RedisTier::Found::Kind::Hit);
  const RedisEntry& e = hit->entry;
  CHECK(e.inline_body == "hello redis");
  CHECK(e.head.status == 200);
  CHECK(e.head.headers.get_or("etag") == "\"v1\"");
  CHECK(e.timing.response_time_ms == o->timing().response_time_ms);
  CHECK(e.timing.ttl == 60);
  // Redis expires the entry with the object: about 58 s left.
  int64_t pttl = std::stoll(f.server.cli("PTTL " + redis_manifest_key("t:", "K1")));
  CHECK(pttl > 50'000);
  CHECK(pttl <= 58'000);
  CHECK(f.b.stats.hits.load() == 1);
  CHECK(f.b.stats.misses.load() == 1);

  // Another key whose name hashes alike would be rejected: the manifest holds the full key.
  f.server.cli("COPY " + redis_manifest_key("t:", "K1") + " " + redis_manifest_key("t:", "K2"));
  std::optional<RedisTier::Found> other = f.b.lookup(f.loop, "K2", "/x");
  REQUIRE(other);
  CHECK(other->kind == RedisTier::Found::Kind::Miss);
  CHECK(f.b.stats.bad_entries.load() == 1);

  // Expired objects are not written.
  ObjectRef old = f.a.fill("K3", "/old", "old", 1);
  f.a.tier->store(old, f.a.log.stamp("web"), false);
  CHECK(f.a.stats.write_skipped.load() == 1);
}

TEST_CASE("redis tier: chunked bodies stream in; a partial write is never visible",
          "[cache][redis]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  Fleet f;

  std::string body = big_body(9 * kRedisChunkBytes + 12345);  // 10 chunks
  ObjectRef o = f.a.fill("BIG", "/big", body);
  f.a.tier->store(o, f.a.log.stamp("web"), false);
  // The chunks are on their way; the manifest goes last, so the object is not visible yet.
  std::optional<RedisTier::Found> early = f.b.lookup(f.loop, "BIG", "/big");
  REQUIRE(early);
  CHECK(early->kind == RedisTier::Found::Kind::Miss);
  REQUIRE(run_until(f.loop, [&] { return f.a.stats.writes.load() == 1; }));

  std::optional<RedisTier::Found> hit = f.b.lookup(f.loop, "BIG", "/big");
  REQUIRE(hit);
  REQUIRE(hit->kind == RedisTier::Found::Kind::Hit);
  CHECK(hit->entry.chunks == 10);
  CHECK(hit->entry.body_length == body.size());

  MemoryStore::Lookup l = f.b.store.lookup(
      "BIG", [](const Object&) { return false; }, true, "web", "/big");
  REQUIRE(l.object);
  BodyRef bb(Body::create(static_cast<int64_t>(body.size())));
  core::ResponseHead head = hit->entry.head;
  l.object->set_ready(std::move(head), hit->entry.timing, hit->entry.vary_key, bb);
  f.b.tier->stream_body(hit->entry, l.object, bb);
  REQUIRE(run_until(f.loop, [&] { return bb->state() != Body::State::Filling; }));
  CHECK(bb->state() == Body::State::Complete);
  std::string got;
  for (uint64_t at = 0; at < bb->available();) {
    std::string_view v = bb->peek(at);
    got.append(v);
    at += v.size();
  }
  CHECK(got == body);
  // The streamed object is now a local hit.
  MemoryStore::Lookup again = f.b.store.lookup(
      "BIG", [](const Object&) { return true; }, false, "web", "/big");
  CHECK(again.found == MemoryStore::Found::Stored);

  // A chunk gone missing (evicted) cuts the readers off instead of serving a hole.
  f.server.cli("DEL " + redis_chunk_key(redis_manifest_key("t:", "BIG"), hit->entry.write_id, 3));
  MemoryStore::Lookup l2 = f.b.store.lookup(
      "BIG2", [](const Object&) { return false; }, true, "web", "/big");
  BodyRef bb2(Body::create(static_cast<int64_t>(body.size())));
  core::ResponseHead head2 = hit->entry.head;
  l2.object->set_ready(std::move(head2), hit->entry.timing, "", bb2);
  f.b.tier->stream_body(hit->entry, l2.object, bb2);
  REQUIRE(run_until(f.loop, [&] { return bb2->state() != Body::State::Filling; }));
  CHECK(bb2->state() == Body::State::Aborted);
  CHECK(f.b.stats.body_aborts.load() == 1);
}

TEST_CASE("redis tier: an invalidation on one edge hides the entry on the other",
          "[cache][redis]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  Fleet f;

  ObjectRef o = f.a.fill("K", "/img/logo.png", "v1");
  f.a.tier->store(o, f.a.log.stamp("web"), false);
  REQUIRE(run_until(f.loop, [&] { return f.a.stats.writes.load() == 1; }));
  f.b.fill("K", "/img/logo.png", "v1");  // b holds it locally too
  REQUIRE(f.b.lookup(f.loop, "K", "/img/logo.png")->kind == RedisTier::Found::Kind::Hit);

  std::optional<core::Result<uint64_t>> done;
  f.a.feed->append("web", "I1", {"/img/*"}, [&](core::Result<uint64_t> r) { done = r; });
  REQUIRE(run_until(f.loop, [&] { return done.has_value(); }));
  REQUIRE(done->ok());
  CHECK(done->value() == 1);
  CHECK(f.a.log.generation("web") == 1);  // applied here before reporting
  // b hears of it through pub/sub, sweeps its memory and hides the Redis entry.
  REQUIRE(run_until(
      f.loop, [&] { return f.b.log.generation("web") == 1; }, 2s));
  CHECK(f.b.store.stats().invalidated.load() == 1);
  std::optional<RedisTier::Found> after = f.b.lookup(f.loop, "K", "/img/logo.png");
  REQUIRE(after);
  CHECK(after->kind == RedisTier::Found::Kind::Miss);
  CHECK(f.b.stats.hidden.load() == 1);

  // A third edge starting now reads the whole log before it serves anything from Redis.
  ObjectRef stale = f.a.fill("K2", "/img/x.png", "v1");
  InvalidationLog::Stamp before;  // as if stamped by an edge that had not seen I1
  before.known = true;
  before.epoch = f.a.log.epoch("web");
  before.generation = 0;
  f.a.tier->store(stale, before, false);
  REQUIRE(run_until(f.loop, [&] { return f.a.stats.writes.load() == 2; }));
  Edge c(f.loop, f.server.port(), "c");
  CHECK(c.lookup(f.loop, "K2", "/img/x.png") == std::nullopt);  // log not synced yet: not asked
  REQUIRE(run_until(f.loop, [&] { return c.ready(); }));
  CHECK(c.log.generation("web") == 1);
  CHECK(c.lookup(f.loop, "K2", "/img/x.png")->kind == RedisTier::Found::Kind::Miss);
}

TEST_CASE("redis tier: an append retried after a timeout is in the log once", "[cache][redis]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  Fleet f;
  const std::string meta = redis_log_meta_key("t:", "web");

  // Redis stalls past the client's timeout with the append in its socket: the edge sees a
  // failure, and Redis runs the script once it is back.
  f.server.pause();
  std::optional<core::Result<uint64_t>> first;
  f.a.feed->append("web", "I1", {"/img/*"}, [&](core::Result<uint64_t> r) { first = r; });
  REQUIRE(run_until(
      f.loop, [&] { return first.has_value(); }, 5s));
  CHECK_FALSE(first->ok());
  f.server.resume();
  REQUIRE(run_until(f.loop, [&] { return f.server.cli("HGET " + meta + " gen") == "1"; }));

  // The edge's retry of the same invalidation finds it there and gets its generation.
  REQUIRE(run_until(f.loop, [&] { return f.a.ready() && f.b.ready(); }));
  std::optional<core::Result<uint64_t>> retry;
  f.a.feed->append("web", "I1", {"/img/*"}, [&](core::Result<uint64_t> r) { retry = r; });
  REQUIRE(run_until(f.loop, [&] { return retry.has_value(); }));
  REQUIRE(retry->ok());
  CHECK(retry->value() == 1);
  CHECK(f.server.cli("HGET " + meta + " gen") == "1");
  CHECK(f.server.cli("ZCARD " + redis_log_key("t:", "web")) == "1");

  // The next invalidation is generation 2; b applied I1 once (at 1), never again.
  std::optional<core::Result<uint64_t>> next;
  f.a.feed->append("web", "I2", {"/css/*"}, [&](core::Result<uint64_t> r) { next = r; });
  REQUIRE(run_until(f.loop, [&] { return next.has_value(); }));
  REQUIRE(next->ok());
  CHECK(next->value() == 2);
  REQUIRE(run_until(
      f.loop, [&] { return f.b.log.generation("web") == 2; }, 2s));
  CHECK(f.b.applied_entries == 2);
}

TEST_CASE("redis tier: the fleet lock makes one filler; waiters get its object", "[cache][redis]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  RedisServer server;
  core::Loop loop;
  Edge a(loop, server.port(), "a", true);
  Edge b(loop, server.port(), "b", true);
  REQUIRE(run_until(loop, [&] { return a.ready() && b.ready(); }));

  std::optional<RedisTier::Found> fa;
  std::optional<RedisTier::Found> fb;
  a.tier->lookup("L", "web", "/l", [&](RedisTier::Found f) { fa = std::move(f); });
  REQUIRE(run_until(loop, [&] { return fa.has_value(); }));
  CHECK(fa->kind == RedisTier::Found::Kind::Miss);
  CHECK(fa->lock_held);
  b.tier->lookup("L", "web", "/l", [&](RedisTier::Found f) { fb = std::move(f); });
  run_until(
      loop, [] { return false; }, 50ms);
  CHECK_FALSE(fb.has_value());  // waiting on a's fill
  CHECK(b.stats.lock_waits.load() == 1);

  ObjectRef o = a.fill("L", "/l", "filled once");
  a.tier->store(o, a.log.stamp("web"), true);
  REQUIRE(run_until(loop, [&] { return fb.has_value(); }));
  CHECK(fb->kind == RedisTier::Found::Kind::Hit);
  CHECK(fb->entry.inline_body == "filled once");
  CHECK(b.stats.lock_wait_hits.load() == 1);
  REQUIRE(run_until(loop, [&] {
    return server.cli("EXISTS " + redis_lock_key(redis_manifest_key("t:", "L"))) == "0";
  }));

  // Not storable: "pass" sends the waiters to the origin at once.
  fa.reset();
  fb.reset();
  a.tier->lookup("P", "web", "/p", [&](RedisTier::Found f) { fa = std::move(f); });
  REQUIRE(run_until(loop, [&] { return fa.has_value(); }));
  REQUIRE(fa->lock_held);
  b.tier->lookup("P", "web", "/p", [&](RedisTier::Found f) { fb = std::move(f); });
  run_until(
      loop, [] { return false; }, 20ms);
  a.tier->release_lock("P", true);
  REQUIRE(run_until(loop, [&] { return fb.has_value(); }));
  CHECK(fb->kind == RedisTier::Found::Kind::Miss);
  CHECK_FALSE(fb->lock_held);
}

TEST_CASE("redis tier: a dead lock holder's lock expires and another edge fills",
          "[cache][redis]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  RedisServer server;
  core::Loop loop;
  auto a = std::make_unique<Edge>(loop, server.port(), "a", true, 300ms);
  Edge b(loop, server.port(), "b", true, 300ms);
  REQUIRE(run_until(loop, [&] { return a->ready() && b.ready(); }));
  std::optional<RedisTier::Found> fa;
  a->tier->lookup("D", "web", "/d", [&](RedisTier::Found f) { fa = std::move(f); });
  REQUIRE(run_until(loop, [&] { return fa.has_value(); }));
  REQUIRE(fa->lock_held);
  a.reset();  // the holder dies without releasing

  std::optional<RedisTier::Found> fb;
  auto t0 = std::chrono::steady_clock::now();
  b.tier->lookup("D", "web", "/d", [&](RedisTier::Found f) { fb = std::move(f); });
  REQUIRE(run_until(
      loop, [&] { return fb.has_value(); }, 5s));
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(fb->kind == RedisTier::Found::Kind::Miss);
  CHECK(fb->lock_held);  // b took over the fill
  CHECK(waited < 2s);
}

TEST_CASE("redis tier: Vary variants of one key live side by side", "[cache][redis]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  Fleet f;
  auto hit_body = [&](const std::string& lang) -> std::string {
    std::optional<RedisTier::Found> found = f.b.lookup(f.loop, "V", "/v", Edge::lang_request(lang));
    REQUIRE(found);
    if (found->kind != RedisTier::Found::Kind::Hit) return "<miss>";
    return found->entry.inline_body;
  };

  f.a.tier->store(f.a.fill_variant("V", "/v", "hello", "en"), f.a.log.stamp("web"), false);
  f.a.tier->store(f.a.fill_variant("V", "/v", "bonjour", "fr"), f.a.log.stamp("web"), false);
  f.a.tier->store(f.a.fill_variant("V", "/v", "no language", ""), f.a.log.stamp("web"), false);
  REQUIRE(run_until(f.loop, [&] { return f.a.stats.writes.load() == 3; }));

  CHECK(hit_body("en") == "hello");
  CHECK(f.b.stats.vary_rereads.load() == 1);  // the index first, then the variant
  CHECK(hit_body("fr") == "bonjour");
  CHECK(hit_body("") == "no language");
  CHECK(f.b.stats.vary_rereads.load() == 1);  // the index's names known: one round trip each
  CHECK(hit_body("de") == "<miss>");
  CHECK(f.b.stats.hits.load() == 3);
  std::optional<RedisTier::Found> en = f.b.lookup(f.loop, "V", "/v", Edge::lang_request("en"));
  REQUIRE(en->kind == RedisTier::Found::Kind::Hit);
  CHECK(en->entry.head.headers.get_or("vary") == "X-Lang");
  std::string want;
  vary_key(en->entry.head.headers, Edge::lang_request("en"), std::nullopt, want);
  CHECK(en->entry.vary_key == want);

  // The index outlives every variant: a longer-lived one raises its expiry.
  std::string manifest = redis_manifest_key("t:", "V");
  std::string de_key;
  vary_key(en->entry.head.headers, Edge::lang_request("de"), std::nullopt, de_key);
  f.a.tier->store(f.a.fill_variant("V", "/v", "hallo", "de", 600), f.a.log.stamp("web"), false);
  REQUIRE(run_until(f.loop, [&] { return f.a.stats.writes.load() == 4; }));
  int64_t index_ttl = std::stoll(f.server.cli("PTTL " + manifest));
  int64_t de_ttl = std::stoll(f.server.cli("PTTL " + redis_variant_key(manifest, de_key)));
  CHECK(index_ttl > 590'000);
  CHECK(de_ttl > 590'000);
  CHECK(index_ttl >= de_ttl - 1000);
  CHECK(hit_body("de") == "hallo");

  // One invalidation of the path hides every variant.
  std::optional<core::Result<uint64_t>> done;
  f.a.feed->append("web", "I1", {"/v"}, [&](core::Result<uint64_t> r) { done = r; });
  REQUIRE(run_until(
      f.loop, [&] { return done.has_value() && f.b.log.generation("web") == 1; }, 2s));
  CHECK(hit_body("en") == "<miss>");
  CHECK(hit_body("fr") == "<miss>");
  CHECK(hit_body("de") == "<miss>");
  CHECK(f.b.stats.hidden.load() == 3);

  // Filled again, then removed (an unsafe method on the URL): every variant goes, and a new
  // write does not bring the others back.
  f.a.tier->store(f.a.fill_variant("V", "/v", "hello 2", "en"), f.a.log.stamp("web"), false);
  f.a.tier->store(f.a.fill_variant("V", "/v", "bonjour 2", "fr"), f.a.log.stamp("web"), false);
  REQUIRE(run_until(f.loop, [&] { return f.a.stats.writes.load() == 6; }));
  CHECK(hit_body("en") == "hello 2");
  CHECK(hit_body("fr") == "bonjour 2");
  f.a.tier->remove("V");
  REQUIRE(run_until(f.loop, [&] { return f.server.cli("EXISTS " + manifest) == "0"; }));
  CHECK(hit_body("en") == "<miss>");
  f.a.tier->store(f.a.fill_variant("V", "/v", "bonjour 3", "fr"), f.a.log.stamp("web"), false);
  REQUIRE(run_until(f.loop, [&] { return f.a.stats.writes.load() == 7; }));
  CHECK(hit_body("fr") == "bonjour 3");
  CHECK(hit_body("en") == "<miss>");  // written under the removed index: retired
}

TEST_CASE("redis tier: with Vary known, the fleet lock is per variant", "[cache][redis]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  RedisServer server;
  core::Loop loop;
  Edge a(loop, server.port(), "a", true);
  Edge b(loop, server.port(), "b", true);
  REQUIRE(run_until(loop, [&] { return a.ready() && b.ready(); }));
  a.tier->store(a.fill_variant("W", "/w", "hello", "en"), a.log.stamp("web"), false);
  REQUIRE(run_until(loop, [&] { return a.stats.writes.load() == 1; }));

  std::optional<RedisTier::Found> fa;
  std::optional<RedisTier::Found> fb;
  a.tier->lookup("W", "web", "/w", Edge::lang_request("fr"), std::nullopt,
                 [&](RedisTier::Found f) { fa = std::move(f); });
  REQUIRE(run_until(loop, [&] { return fa.has_value(); }));
  REQUIRE(fa->kind == RedisTier::Found::Kind::Miss);
  CHECK(fa->lock_held);
  // Another variant is not held up by a's fill of "fr"...
  b.tier->lookup("W", "web", "/w", Edge::lang_request("de"), std::nullopt,
                 [&](RedisTier::Found f) { fb = std::move(f); });
  REQUIRE(run_until(loop, [&] { return fb.has_value(); }));
  CHECK(fb->kind == RedisTier::Found::Kind::Miss);
  CHECK(fb->lock_held);
  // ...while the same one waits for it.
  fb.reset();
  b.tier->lookup("W", "web", "/w", Edge::lang_request("fr"), std::nullopt,
                 [&](RedisTier::Found f) { fb = std::move(f); });
  run_until(
      loop, [] { return false; }, 50ms);
  CHECK_FALSE(fb.has_value());
  a.tier->store(a.fill_variant("W", "/w", "bonjour", "fr"), a.log.stamp("web"), true);
  REQUIRE(run_until(loop, [&] { return fb.has_value(); }));
  REQUIRE(fb->kind == RedisTier::Found::Kind::Hit);
  CHECK(fb->entry.inline_body == "bonjour");
  b.tier->release_lock("W", false);
}

TEST_CASE("redis tier: a holder renews its lock while its fill outlasts lock_timeout",
          "[cache][redis]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  RedisServer server;
  core::Loop loop;
  Edge a(loop, server.port(), "a", true, 200ms);
  Edge b(loop, server.port(), "b", true, 200ms);
  REQUIRE(run_until(loop, [&] { return a.ready() && b.ready(); }));
  std::optional<RedisTier::Found> fa;
  std::optional<RedisTier::Found> fb;
  a.tier->lookup("S", "web", "/s", [&](RedisTier::Found f) { fa = std::move(f); });
  REQUIRE(run_until(loop, [&] { return fa.has_value(); }));
  REQUIRE(fa->lock_held);
  b.tier->lookup("S", "web", "/s", [&](RedisTier::Found f) { fb = std::move(f); });
  // Four lock lifetimes: a's fill is still running, so b keeps waiting instead of fetching.
  run_until(
      loop, [] { return false; }, 800ms);
  CHECK_FALSE(fb.has_value());
  CHECK(a.stats.lock_extensions.load() >= 3);
  CHECK(a.stats.lock_lost.load() == 0);
  std::string lock = redis_lock_key(redis_manifest_key("t:", "S"));
  CHECK(server.cli("EXISTS " + lock) == "1");
  int64_t pttl = std::stoll(server.cli("PTTL " + lock));
  CHECK(pttl > 0);
  CHECK(pttl <= 200);

  ObjectRef o = a.fill("S", "/s", "slow but once");
  a.tier->store(o, a.log.stamp("web"), true);
  REQUIRE(run_until(loop, [&] { return fb.has_value(); }));
  CHECK(fb->kind == RedisTier::Found::Kind::Hit);
  CHECK(fb->entry.inline_body == "slow but once");
  CHECK(b.stats.lock_timeouts.load() == 0);
  // Released: no more renewals.
  REQUIRE(run_until(loop, [&] { return server.cli("EXISTS " + lock) == "0"; }));
  uint64_t renewed = a.stats.lock_extensions.load();
  run_until(
      loop, [] { return false; }, 300ms);
  CHECK(a.stats.lock_extensions.load() == renewed);
}

TEST_CASE("redis tier: Redis down means not asked, never an error", "[cache][redis]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  auto server = std::make_unique<RedisServer>();
  core::Loop loop;
  Edge a(loop, server->port(), "a");
  REQUIRE(run_until(loop, [&] { return a.ready(); }));
  server->stop();
  REQUIRE(run_until(loop, [&] { return !a.tier->client().all_ready(); }));
  CHECK(a.lookup(loop, "K", "/k") == std::nullopt);
  ObjectRef o = a.fill("K", "/k", "body");
  a.tier->store(o, a.log.stamp("web"), false);  // dropped quietly
  run_until(
      loop, [] { return false; }, 20ms);
  CHECK(a.stats.writes.load() == 0);
}

}  // namespace portico::cache
