// The Redis tier's manifest format, key names and expiry, and Redis Cluster hash slots.
#include "cache/redis_entry.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

#include "cache/redis_client.h"

namespace portico::cache {
namespace {

RedisEntry sample() {
  RedisEntry e;
  e.key = std::string("web\0G/index.html", 16);
  e.distribution = "web";
  e.path = "/index.html";
  e.epoch = "e1";
  e.generation = 42;
  e.head.status = 200;
  e.head.reason = "OK";
  e.head.headers.add("Content-Type", "text/html");
  e.head.headers.add("ETag", "\"abc\"");
  e.head.headers.add("Set-Cookie", "a=1");
  e.head.headers.add("Set-Cookie", "b=2");
  e.timing.request_time = 1'700'000'000;
  e.timing.response_time_ms = 1'700'000'000'123;
  e.timing.corrected_initial_age = 3;
  e.timing.ttl = 60;
  e.timing.stale_while_revalidate = 10;
  e.timing.stale_if_error = 20;
  e.timing.must_revalidate = false;
  e.timing.error_response = true;
  e.vary_key = "accept-encoding=gzip";
  e.inline_body = "hello";
  e.body_length = 5;
  return e;
}

}  // namespace

TEST_CASE("redis entry: a manifest round-trips every field", "[cache][redis]") {
  RedisEntry e = sample();
  std::string wire = encode_entry(e);
  core::Result<RedisEntry> d = decode_entry(wire);
  REQUIRE(d.ok());
  CHECK(d->key == e.key);
  CHECK(d->distribution == "web");
  CHECK(d->path == "/index.html");
  CHECK(d->epoch == "e1");
  CHECK(d->generation == 42);
  CHECK(d->head.status == 200);
  CHECK(d->head.reason == "OK");
  REQUIRE(d->head.headers.size() == 4);
  std::vector<std::string> cookies;
  for (const core::Header& h : d->head.headers) {
    if (h.name == "Set-Cookie") cookies.push_back(h.value);
  }
  CHECK(cookies == std::vector<std::string>{"a=1", "b=2"});
  CHECK(d->timing.request_time == e.timing.request_time);
  CHECK(d->timing.response_time_ms == e.timing.response_time_ms);
  CHECK(d->timing.corrected_initial_age == 3);
  CHECK(d->timing.ttl == 60);
  CHECK(d->timing.stale_while_revalidate == 10);
  CHECK(d->timing.stale_if_error == 20);
  CHECK_FALSE(d->timing.must_revalidate);
  CHECK(d->timing.error_response);
  CHECK(d->vary_key == "accept-encoding=gzip");
  CHECK(d->inline_body == "hello");
  CHECK(d->chunks == 0);
}

TEST_CASE("redis entry: chunked layout", "[cache][redis]") {
  RedisEntry e = sample();
  e.inline_body.clear();
  e.body_length = 3 * kRedisChunkBytes + 1;
  e.chunk_size = kRedisChunkBytes;
  e.chunks = 4;
  e.write_id = "w1";
  core::Result<RedisEntry> d = decode_entry(encode_entry(e));
  REQUIRE(d.ok());
  CHECK(d->chunks == 4);
  CHECK(d->write_id == "w1");
  CHECK(d->body_length == 3 * kRedisChunkBytes + 1);

  e.chunks = 3;  // does not cover the body
  CHECK_FALSE(decode_entry(encode_entry(e)).ok());
}

TEST_CASE("redis entry: garbage and truncation are rejected", "[cache][redis]") {
  CHECK_FALSE(decode_entry("").ok());
  CHECK_FALSE(decode_entry("nope").ok());
  std::string wire = encode_entry(sample());
  for (size_t n = 0; n < wire.size(); ++n) {
    CHECK_FALSE(decode_entry(std::string_view(wire).substr(0, n)).ok());
  }
  CHECK_FALSE(decode_entry(wire + "x").ok());
  RedisEntry bad = sample();
  bad.body_length = 6;  // inline body is 5 bytes
  CHECK_FALSE(decode_entry(encode_entry(bad)).ok());
}

// Found by tests/fuzz/cache_redis_entry_fuzz (corpus file timing_overflow): a manifest whose
// stale-while-revalidate was ~2^62 decoded fine, and the hit path's (ttl + window) * 1000
// overflowed int64_t. A value another writer (or a corrupt one) left in the shared Redis must be
// a bad entry instead.
TEST_CASE("redis entry: timing values out of range are rejected", "[cache][redis]") {
  auto decodes = [](auto&& change) {
    RedisEntry e = sample();
    change(e.timing);
    return decode_entry(encode_entry(e)).ok();
  };
  CHECK(decodes([](Timing&) {}));
  CHECK(decodes([](Timing& t) { t.ttl = kRedisMaxSeconds; }));
  CHECK(decodes([](Timing& t) { t.response_time_ms = kRedisMaxSeconds * 1000; }));
  CHECK(decodes([](Timing& t) { t.corrected_initial_age = 0; }));
  CHECK_FALSE(decodes([](Timing& t) { t.stale_while_revalidate = int64_t{1} << 62; }));
  CHECK_FALSE(decodes([](Timing& t) { t.ttl = kRedisMaxSeconds + 1; }));
  CHECK_FALSE(decodes([](Timing& t) { t.ttl = -1; }));
  CHECK_FALSE(decodes([](Timing& t) { t.stale_if_error = INT64_MAX; }));
  CHECK_FALSE(decodes([](Timing& t) { t.corrected_initial_age = INT64_MIN; }));
  CHECK_FALSE(decodes([](Timing& t) { t.request_time = -5; }));
  CHECK_FALSE(decodes([](Timing& t) { t.response_time_ms = INT64_MIN; }));
  CHECK_FALSE(decodes([](Timing& t) { t.response_time_ms = kRedisMaxSeconds * 1000 + 1; }));
}

TEST_CASE("redis entry: key names share one cluster slot per object", "[cache][redis]") {
  std::string m = redis_manifest_key("portico:", "some cache key");
  CHECK(m.starts_with("portico:{"));
  CHECK(m.size() == std::string("portico:{").size() + 17);
  std::string c0 = redis_chunk_key(m, "abcd", 0);
  std::string lock = redis_lock_key(m);
  CHECK(c0 == m + ":abcd:0");
  CHECK(RedisClient::hash_slot(m) == RedisClient::hash_slot(c0));
  CHECK(RedisClient::hash_slot(m) == RedisClient::hash_slot(lock));
  CHECK(redis_manifest_key("p:", "a") != redis_manifest_key("p:", "b"));
  CHECK(redis_manifest_key("p:", "a") == redis_manifest_key("p:", "a"));
  CHECK(redis_log_key("portico:", "web") == "portico:inv:{web}");
  CHECK(RedisClient::hash_slot(redis_log_key("x", "web")) ==
        RedisClient::hash_slot(redis_log_meta_key("x", "web")));
  CHECK(redis_log_channel("portico:") == "portico:invalidations");
}

TEST_CASE("redis entry: Vary index and variant keys", "[cache][redis]") {
  core::Headers h;
  h.add("Content-Type", "text/plain");
  h.add("Vary", "Accept-Encoding, X-Lang");
  h.add("vary", "*, x-lang ,Cookie");
  CHECK(redis_vary_names(h) == "accept-encoding,x-lang,cookie");
  core::Headers star;
  star.add("Vary", "*");
  CHECK(redis_vary_names(star).empty());
  CHECK(redis_vary_names(core::Headers{}).empty());

  RedisVaryIndex index{"0123456789abcdef", "accept-encoding,x-lang"};
  std::string encoded = encode_vary_index(index);
  CHECK(encoded == "PRV10123456789abcdefaccept-encoding,x-lang");
  std::optional<RedisVaryIndex> back = decode_vary_index(encoded);
  REQUIRE(back);
  CHECK(back->id == index.id);
  CHECK(back->names == index.names);
  CHECK_FALSE(decode_vary_index("PRV10123456789abcdef"));  // no names
  CHECK_FALSE(decode_vary_index("PRE1whatever-manifest-bytes"));
  RedisEntry e;
  e.key = "k";
  e.head.status = 200;
  CHECK_FALSE(decode_vary_index(encode_entry(e)));  // a manifest is never read as an index

  std::string m = redis_manifest_key("portico:", "some cache key");
  std::string v1 = redis_variant_key(m, "H6:x-langV2:en");
  std::string v2 = redis_variant_key(m, "H6:x-langV2:fr");
  CHECK(v1.starts_with(m + ":v:"));
  CHECK(v1 != v2);
  CHECK(v1 == redis_variant_key(m, "H6:x-langV2:en"));
  CHECK(RedisClient::hash_slot(v1) == RedisClient::hash_slot(m));
  CHECK(RedisClient::hash_slot(redis_lock_key(v1)) == RedisClient::hash_slot(m));
}

TEST_CASE("redis entry: expiry is what remains plus the stale windows", "[cache][redis]") {
  Timing t;
  t.response_time_ms = 1'000'000;
  t.corrected_initial_age = 2;
  t.ttl = 60;
  t.stale_while_revalidate = 30;
  t.stale_if_error = 100;
  // Age at now = 2 s + 10 s resident = 12 s; 60 + max(30, 100) = 160 s.
  CHECK(redis_expiry_ms(t, 1'010'000) == 148'000);
  t.must_revalidate = true;
  CHECK(redis_expiry_ms(t, 1'010'000) == 48'000);
  CHECK(redis_expiry_ms(t, 1'100'000) <= 0);
}

TEST_CASE("redis cluster hash slots (CRC16 XMODEM, hash tags)", "[cache][redis]") {
  // Values from the Redis Cluster specification and CLUSTER KEYSLOT.
  CHECK(RedisClient::hash_slot("123456789") == (0x31C3 % 16384));
  CHECK(RedisClient::hash_slot("foo") == 12182);
  CHECK(RedisClient::hash_slot("bar") == 5061);
  CHECK(RedisClient::hash_slot("{user1000}.following") == RedisClient::hash_slot("user1000"));
  CHECK(RedisClient::hash_slot("foo{}{bar}") == RedisClient::hash_slot("foo{}{bar}"));
  CHECK(RedisClient::hash_slot("foo{}{bar}") != RedisClient::hash_slot("bar"));  // empty tag
  CHECK(RedisClient::hash_slot("foo{{bar}}zap") == RedisClient::hash_slot("{bar"));
}

}  // namespace portico::cache
