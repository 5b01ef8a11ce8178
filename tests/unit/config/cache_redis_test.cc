// The `cache.redis` block: one server or cluster seeds, defaults, limits, and errors that name
// FILE:LINE:COL and the key path.
#include <catch2/catch.hpp>
#include <string>

#include "config/loader.h"
#include "tests/unit/config/load_util.h"

using portico::config::load_string;
using portico::config::Model;

namespace {

using portico::config::test::load_error;
using portico::config::test::load_ok;

std::string with_cache(const std::string& cache) {
  return "cache: " + cache +
         "\nlisteners: [{name: http, address: 127.0.0.1:8080}]\n"
         "distributions:\n"
         "  - id: web\n"
         "    origins: [{id: api, custom_origin: {url: \"http://127.0.0.1:9001\"}}]\n"
         "    default_cache_behavior: {target_origin_id: api}\n";
}

}  // namespace

TEST_CASE("cache.redis absent: no shared tier", "[config][redis]") {
  Model m = load_ok(with_cache("{memory_size: 64MiB}"));
  CHECK_FALSE(m.cache.redis.enabled);
}

TEST_CASE("cache.redis with one server and defaults", "[config][redis]") {
  Model m = load_ok(with_cache("{redis: {address: 127.0.0.1:6379}}"));
  const auto& r = m.cache.redis;
  CHECK(r.enabled);
  CHECK_FALSE(r.cluster);
  REQUIRE(r.addresses.size() == 1);
  CHECK(r.addresses[0].host == "127.0.0.1");
  CHECK(r.addresses[0].port == 6379);
  CHECK(r.timeout.count() == 5);
  CHECK(r.connect_timeout.count() == 1000);
  CHECK(r.max_object_size == 8ull << 20);
  CHECK(r.key_prefix == "portico:");
  CHECK(r.db == 0);
  CHECK(r.password_env.empty());
  CHECK_FALSE(r.fleet_lock);
  CHECK(r.lock_timeout.count() == 10'000);
}

TEST_CASE("cache.redis: the issue's example and every field", "[config][redis]") {
  Model m =
      load_ok(with_cache("{memory_size: 512MiB, redis: {address: 127.0.0.1:6379, timeout: 5ms, "
                         "max_object_size: 8MiB, key_prefix: \"portico:\"}}"));
  CHECK(m.cache.memory_size == 512ull << 20);
  CHECK(m.cache.redis.max_object_size == 8ull << 20);

  Model all = load_ok(
      with_cache("{redis: {address: \"cache.example.internal:6380\", password_env: REDIS_PASS, "
                 "db: 3, timeout: 20ms, connect_timeout: 2s, max_object_size: 1MiB, key_prefix: "
                 "\"edge/\", fleet_lock: true, lock_timeout: 3s}}"));
  const auto& r = all.cache.redis;
  CHECK(r.addresses[0].host == "cache.example.internal");
  CHECK(r.addresses[0].port == 6380);
  CHECK(r.password_env == "REDIS_PASS");
  CHECK(r.db == 3);
  CHECK(r.timeout.count() == 20);
  CHECK(r.connect_timeout.count() == 2000);
  CHECK(r.max_object_size == 1ull << 20);
  CHECK(r.key_prefix == "edge/");
  CHECK(r.fleet_lock);
  CHECK(r.lock_timeout.count() == 3000);
}

TEST_CASE("cache.redis.cluster: seed nodes", "[config][redis]") {
  Model m =
      load_ok(with_cache("{redis: {cluster: [127.0.0.1:7000, 127.0.0.1:7001, \"[::1]:7002\"]}}"));
  const auto& r = m.cache.redis;
  CHECK(r.cluster);
  REQUIRE(r.addresses.size() == 3);
  CHECK(r.addresses[1].port == 7001);
  CHECK(r.addresses[2].host == "::1");
}

TEST_CASE("cache.redis errors", "[config][redis]") {
  CHECK(load_error(with_cache("{redis: {timeout: 5ms}}")) ==
        "t.yaml:1:16: cache.redis: needs exactly one of address (one server) or cluster (seed "
        "nodes of a Redis Cluster)");
  CHECK(load_error(with_cache("{redis: {address: 127.0.0.1:1, cluster: [127.0.0.1:2]}}"))
            .find("needs exactly one of") != std::string::npos);
  CHECK(load_error(with_cache("{redis: {address: 127.0.0.1}}")) ==
        "t.yaml:1:26: cache.redis.address: invalid address '127.0.0.1': expected host:port, e.g. "
        "127.0.0.1:6379 or redis.example:6379");
  CHECK(load_error(with_cache("{redis: {address: \"127.0.0.1:0\"}}")).find("expected 1-65535") !=
        std::string::npos);
  CHECK(load_error(with_cache("{redis: {cluster: []}}")) ==
        "t.yaml:1:26: cache.redis.cluster: must list at least one node (host:port)");
  CHECK(load_error(with_cache("{redis: {cluster: [127.0.0.1:1, bad]}}"))
            .find("cache.redis.cluster[1]: invalid address 'bad'") != std::string::npos);
  CHECK(load_error(with_cache("{redis: {cluster: [127.0.0.1:1], db: 2}}")) ==
        "t.yaml:1:45: cache.redis.db: Redis Cluster has only database 0");
  CHECK(load_error(with_cache("{redis: {address: 127.0.0.1:1, key_prefix: \"a{b}\"}}"))
            .find("without spaces, '{' or '}'") != std::string::npos);
  CHECK(load_error(with_cache("{redis: {address: 127.0.0.1:1, timeout: 0ms}}"))
            .find("cache.redis.timeout") != std::string::npos);
  CHECK(load_error(with_cache("{redis: {address: 127.0.0.1:1, tiemout: 5ms}}"))
            .find("did you mean 'timeout'") != std::string::npos);
}
