// Fuzz target for cache::decode_entry and cache::decode_vary_index: the bytes are a value read
// from the shared Redis tier, which other processes (and other versions) write, so anything may
// be there. Decoding must fail cleanly on garbage and never allocate more than the input holds.
// Invariants, whenever a manifest decodes: a status in 100..999, at most 1024 fields, a
// consistent body layout (inline body of body_length bytes, or ceil(body_length / chunk_size)
// chunks with a write id), timing values the hit path can turn into milliseconds and ages without
// overflow; encode_entry() gives back exactly the input's size and decodes to an equal entry;
// every strict prefix (truncation) and the input plus a trailing byte fail. A Vary index keeps
// its 16-byte id and non-empty names, and encodes back to the same bytes.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "cache/redis_entry.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using portico::cache::RedisEntry;
using portico::cache::RedisVaryIndex;
using portico::cache::Timing;

bool same_headers(const portico::core::Headers& a, const portico::core::Headers& b) {
  if (a.size() != b.size()) return false;
  return std::equal(a.begin(), a.end(), b.begin(), [](const auto& x, const auto& y) {
    return x.name == y.name && x.value == y.value;
  });
}

bool same(const RedisEntry& a, const RedisEntry& b) {
  const Timing& s = a.timing;
  const Timing& t = b.timing;
  return a.key == b.key && a.distribution == b.distribution && a.path == b.path &&
         a.epoch == b.epoch && a.generation == b.generation && a.head.status == b.head.status &&
         a.head.reason == b.head.reason && same_headers(a.head.headers, b.head.headers) &&
         s.request_time == t.request_time && s.response_time_ms == t.response_time_ms &&
         s.corrected_initial_age == t.corrected_initial_age && s.ttl == t.ttl &&
         s.stale_while_revalidate == t.stale_while_revalidate &&
         s.stale_if_error == t.stale_if_error && s.must_revalidate == t.must_revalidate &&
         s.error_response == t.error_response && a.vary_key == b.vary_key &&
         a.body_length == b.body_length && a.chunk_size == b.chunk_size && a.chunks == b.chunks &&
         a.write_id == b.write_id && a.inline_body == b.inline_body;
}

// The millisecond arithmetic a Redis hit goes through (proxy's serve_from_redis, Object::age_ms,
// the stale windows, redis_expiry_ms) for any wall clock up to the year ~3100: none may overflow.
void check_timing(const Timing& t) {
  for (int64_t now_ms : {int64_t{0}, int64_t{1'700'000'000'000}, int64_t{1} << 45}) {
    int64_t age = 0;
    int64_t resident = 0;
    FUZZ_CHECK(!__builtin_sub_overflow(now_ms, t.response_time_ms, &resident));
    FUZZ_CHECK(!__builtin_mul_overflow(t.corrected_initial_age, 1000, &age));
    FUZZ_CHECK(!__builtin_add_overflow(age, std::max<int64_t>(0, resident), &age));
    for (int64_t window : {int64_t{0}, t.stale_while_revalidate, t.stale_if_error}) {
      int64_t end = 0;
      FUZZ_CHECK(!__builtin_add_overflow(t.ttl, window, &end));
      FUZZ_CHECK(!__builtin_mul_overflow(end, 1000, &end));
      FUZZ_CHECK(!__builtin_sub_overflow(end, age, &end));
    }
    (void)portico::cache::redis_expiry_ms(t, now_ms);
  }
}

void check_entry(std::string_view input, const RedisEntry& e) {
  FUZZ_CHECK(e.head.status >= 100 && e.head.status <= 999);
  FUZZ_CHECK(e.head.headers.size() <= 1024);
  if (e.chunks == 0) {
    FUZZ_CHECK(e.inline_body.size() == e.body_length);
  } else {
    FUZZ_CHECK(e.chunk_size > 0 && e.inline_body.empty() && !e.write_id.empty());
    FUZZ_CHECK((e.body_length + e.chunk_size - 1) / e.chunk_size == e.chunks);
    FUZZ_CHECK(e.body_length <= uint64_t{e.chunks} * e.chunk_size);
  }
  check_timing(e.timing);

  const std::string again = portico::cache::encode_entry(e);
  FUZZ_CHECK(again.size() == input.size());
  portico::core::Result<RedisEntry> d = portico::cache::decode_entry(again);
  FUZZ_CHECK(d.ok());
  FUZZ_CHECK(same(e, *d));
  FUZZ_CHECK(portico::cache::encode_entry(*d) == again);

  // Truncated or with trailing bytes: rejected.
  FUZZ_CHECK(!portico::cache::decode_entry(input.substr(0, input.size() - 1)).ok());
  FUZZ_CHECK(!portico::cache::decode_entry(input.substr(0, input.size() / 2)).ok());
  FUZZ_CHECK(!portico::cache::decode_entry(std::string(input) + '\0').ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  portico::core::Result<RedisEntry> e = portico::cache::decode_entry(input);
  if (e.ok()) {
    check_entry(input, *e);
  } else {
    FUZZ_CHECK(e.error().kind == portico::core::ErrorKind::StoreFailed);
  }

  std::optional<RedisVaryIndex> index = portico::cache::decode_vary_index(input);
  if (index) {
    FUZZ_CHECK(!e.ok());  // a value is a manifest or an index, never both
    FUZZ_CHECK(index->id.size() == portico::cache::kRedisVaryIdLength);
    FUZZ_CHECK(!index->names.empty());
    const std::string again = portico::cache::encode_vary_index(*index);
    FUZZ_CHECK(again == input);
    std::optional<RedisVaryIndex> d = portico::cache::decode_vary_index(again);
    FUZZ_CHECK(d && d->id == index->id && d->names == index->names);
  } else {
    FUZZ_CHECK(!input.starts_with(portico::cache::kRedisVaryIndexMagic) ||
               input.size() <= portico::cache::kRedisVaryIndexMagic.size() +
                                   portico::cache::kRedisVaryIdLength);
  }
  return 0;
}
