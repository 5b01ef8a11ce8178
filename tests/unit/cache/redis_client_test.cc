// RedisClient against a real redis-server started by the test on a loopback ephemeral port:
// pipelining, our own deadlines, the breaker, reconnects with backoff, AUTH/SELECT, pub/sub,
// and Redis Cluster routing with MOVED/ASK during a live reshard. Skipped without redis-server.
#include "cache/redis_client.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "redis_test_util.h"

namespace portico::cache {
namespace {

using namespace std::chrono_literals;
using test::RedisCluster;
using test::RedisServer;
using test::run_until;

RedisClientOptions options_for(uint16_t port) {
  RedisClientOptions o;
  o.seeds.push_back(config::RedisAddress{"127.0.0.1", port});
  o.connect_timeout = 500ms;
  o.backoff_min = 10ms;
  o.backoff_max = 100ms;
  return o;
}

// Sends one command and runs the loop until it answers.
core::Result<RedisReply> call(core::Loop& loop, RedisClient& c, std::string_view key,
                              RedisArgs args, std::chrono::milliseconds timeout = 1000ms) {
  std::optional<core::Result<RedisReply>> out;
  c.command(key, std::move(args), timeout, [&](core::Result<RedisReply> r) { out = std::move(r); });
  run_until(loop, [&] { return out.has_value(); });
  REQUIRE(out.has_value());
  return std::move(*out);
}

}  // namespace

TEST_CASE("redis client: pipelined commands and replies", "[cache][redis]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  RedisServer server;
  core::Loop loop;
  RedisClientStats stats;
  RedisClient c(loop, options_for(server.port()), &stats);
  CHECK(std::string(c.breaker_state()) == "connecting");
  c.start();
  REQUIRE(run_until(loop, [&] { return c.all_ready(); }));
  CHECK(std::string(c.breaker_state()) == "closed");
  CHECK(stats.nodes_ready.load() == 1);

  constexpr int kN = 500;
  int done = 0;
  int ok = 0;
  for (int i = 0; i < kN; ++i) {
    std::string value(static_cast<size_t>(i), static_cast<char>('a' + i % 26));
    c.command("k", {"SET", "key" + std::to_string(i), value}, 1000ms,
              [&](core::Result<RedisReply> r) {
                ++done;
                ok += r.ok() && r->type == RedisReply::Type::Status && r->str == "OK";
              });
  }
  std::vector<std::string> got(kN);
  for (int i = 0; i < kN; ++i) {
    c.command("k", {"GET", "key" + std::to_string(i)}, 1000ms, [&, i](core::Result<RedisReply> r) {
      ++done;
      if (r.ok() && r->is_string()) got[static_cast<size_t>(i)] = r->str;
    });
  }
  REQUIRE(run_until(loop, [&] { return done == 2 * kN; }));
  CHECK(ok == kN);
  for (int i = 0; i < kN; ++i) CHECK(got[static_cast<size_t>(i)].size() == static_cast<size_t>(i));

  core::Result<RedisReply> missing = call(loop, c, "x", {"GET", "nope"});
  REQUIRE(missing.ok());
  CHECK(missing->nil());
  core::Result<RedisReply> err = call(loop, c, "x", {"INCR", "key30"});
  REQUIRE(err.ok());
  CHECK(err->is_error());
  core::Result<RedisReply> arr = call(loop, c, "x", {"MGET", "key1", "nope", "key2"});
  REQUIRE(arr.ok());
  REQUIRE(arr->elements.size() == 3);
  CHECK(arr->elements[0].str == "b");
  CHECK(arr->elements[1].nil());
  CHECK(arr->elements[2].str == "cc");
  // Binary-safe values.
  std::string bin("a\0b\r\n", 5);
  REQUIRE(call(loop, c, "x", {"SET", "bin", bin}).ok());
  CHECK(call(loop, c, "x", {"GET", "bin"})->str == bin);
}

TEST_CASE("redis client: deadlines, the breaker, and recovery from a stalled server",
          "[cache][redis]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  RedisServer server;
  core::Loop loop;
  RedisClientStats stats;
  RedisClientOptions o = options_for(server.port());
  o.breaker_failures = 3;
  o.connect_timeout = 100ms;
  RedisClient c(loop, o, &stats);
  c.start();
  REQUIRE(run_until(loop, [&] { return c.all_ready(); }));

  server.pause();  // SIGSTOP: the socket stays open, nothing answers
  int timeouts = 0;
  int failed_fast = 0;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    core::Result<RedisReply> r = call(loop, c, "k", {"GET", "k"}, 20ms);
    REQUIRE_FALSE(r.ok());
    timeouts += r.error().kind == core::ErrorKind::Timeout;
  }
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(timeouts == 3);
  CHECK(took < 1s);
  CHECK(stats.breaker_trips.load() == 1);
  CHECK(std::string(c.breaker_state()) == "open");
  // Open: commands fail at once, without waiting for their deadline.
  for (int i = 0; i < 20; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    core::Result<RedisReply> r = call(loop, c, "k", {"GET", "k"}, 200ms);
    REQUIRE_FALSE(r.ok());
    failed_fast += r.error().kind == core::ErrorKind::ConnectFailed &&
                   std::chrono::steady_clock::now() - t0 < 50ms;
  }
  CHECK(failed_fast == 20);

  server.resume();
  REQUIRE(run_until(
      loop, [&] { return c.all_ready(); }, 5s));
  CHECK(std::string(c.breaker_state()) == "closed");
  core::Result<RedisReply> r = call(loop, c, "k", {"PING"});
  REQUIRE(r.ok());
  CHECK(r->str == "PONG");
}

TEST_CASE("redis client: a killed server fails fast, then reconnects", "[cache][redis]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  RedisServer server;
  core::Loop loop;
  RedisClientStats stats;
  RedisClient c(loop, options_for(server.port()), &stats);
  c.start();
  REQUIRE(run_until(loop, [&] { return c.all_ready(); }));
  REQUIRE(call(loop, c, "k", {"SET", "a", "1"}).ok());

  // In flight when the server dies: the command fails (no reply, no hang).
  std::optional<core::Result<RedisReply>> pending;
  c.command("k", {"BLPOP", "never", "5"}, 10s,
            [&](core::Result<RedisReply> r) { pending = std::move(r); });
  run_until(
      loop, [] { return false; }, 20ms);
  server.stop();
  REQUIRE(run_until(
      loop, [&] { return pending.has_value(); }, 2s));
  CHECK_FALSE(pending->ok());
  CHECK(pending->error().kind == core::ErrorKind::ConnectFailed);
  CHECK_FALSE(c.all_ready());
  core::Result<RedisReply> r = call(loop, c, "k", {"GET", "a"}, 100ms);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == core::ErrorKind::ConnectFailed);

  server.start();  // same port, empty dataset
  REQUIRE(run_until(
      loop, [&] { return c.all_ready(); }, 5s));
  core::Result<RedisReply> after = call(loop, c, "k", {"GET", "a"});
  REQUIRE(after.ok());
  CHECK(after->nil());
  CHECK(stats.connects.load() >= 2);
}

TEST_CASE("redis client: AUTH and SELECT", "[cache][redis]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  RedisServer server({"--requirepass", "s3cret"});
  core::Loop loop;
  RedisClientStats stats;
  RedisClientOptions o = options_for(server.port());
  o.password = "s3cret";
  o.db = 3;
  RedisClient c(loop, o, &stats);
  c.start();
  REQUIRE(run_until(loop, [&] { return c.all_ready(); }));
  REQUIRE(call(loop, c, "k", {"SET", "in3", "yes"}).ok());
  CHECK(server.cli("-a s3cret --no-auth-warning -n 3 GET in3") == "yes");
  CHECK(server.cli("-a s3cret --no-auth-warning -n 0 EXISTS in3") == "0");

  RedisClientOptions wrong = options_for(server.port());
  wrong.password = "nope";
  RedisClient bad(loop, wrong, &stats);
  bad.start();
  run_until(
      loop, [] { return false; }, 100ms);
  CHECK_FALSE(bad.all_ready());
}

TEST_CASE("redis client: pub/sub, resubscribed after a restart", "[cache][redis]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  RedisServer server;
  core::Loop loop;
  RedisClientStats stats;
  RedisClient c(loop, options_for(server.port()), &stats);
  c.start();
  int subscribed = 0;
  std::vector<std::string> messages;
  c.subscribe(
      "chan", [&](std::string_view m) { messages.emplace_back(m); }, [&] { ++subscribed; });
  REQUIRE(run_until(loop, [&] { return c.all_ready() && subscribed == 1; }));
  REQUIRE(call(loop, c, "", {"PUBLISH", "chan", "hello"}).ok());
  REQUIRE(run_until(loop, [&] { return messages.size() == 1; }));
  CHECK(messages[0] == "hello");

  server.stop();
  server.start();
  REQUIRE(run_until(
      loop, [&] { return subscribed == 2 && c.all_ready(); }, 5s));
  REQUIRE(call(loop, c, "", {"PUBLISH", "chan", "again"}).ok());
  REQUIRE(run_until(loop, [&] { return messages.size() == 2; }));
  CHECK(messages[1] == "again");
}

TEST_CASE("redis client: a host name is resolved off the loop", "[cache][redis]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  RedisServer server;
  core::Loop loop;

  SECTION("localhost, through the system resolver") {
    RedisClientStats stats;
    RedisClientOptions o = options_for(server.port());
    o.seeds[0].host = "localhost";
    RedisClient c(loop, o, &stats);
    c.start();
    // ::1 may come first and refuse (the server binds 127.0.0.1): the next address is tried.
    REQUIRE(run_until(
        loop, [&] { return c.all_ready(); }, 5s));
    CHECK(stats.resolves.load() >= 1);
    CHECK(stats.resolve_failures.load() == 0);
    core::Result<RedisReply> pong = call(loop, c, "", {"PING"});
    REQUIRE(pong.ok());
    CHECK(pong->str == "PONG");
  }

  SECTION("a slow resolver never stalls the loop; a lost connection resolves again") {
    RedisClientStats stats;
    RedisClientOptions o = options_for(server.port());
    o.seeds[0].host = "redis.portico.test";
    std::atomic<int> asked{0};
    o.resolve_for_test = [&](const std::string& host, std::vector<std::string>& out) {
      ++asked;
      std::this_thread::sleep_for(300ms);  // a DNS server taking its time
      if (host != "redis.portico.test") return std::string("unknown host");
      out.push_back("127.0.0.1");
      return std::string();
    };
    RedisClient c(loop, o, &stats);
    // The loop keeps its pace while the name resolves: a 5 ms tick keeps firing.
    int ticks = 0;
    std::function<void()> rearm;
    core::Timer ticker(loop, [&] {
      ++ticks;
      rearm();
    });
    rearm = [&] { ticker.arm(5ms); };
    auto t0 = std::chrono::steady_clock::now();
    c.start();
    CHECK(std::chrono::steady_clock::now() - t0 < 100ms);  // start() did not wait for it
    rearm();
    CHECK_FALSE(c.ready(""));
    std::optional<core::Result<RedisReply>> early;
    c.command("", {"PING"}, 1000ms, [&](core::Result<RedisReply> r) { early = std::move(r); });
    REQUIRE(run_until(
        loop, [&] { return early.has_value(); }, 100ms));
    CHECK_FALSE(early->ok());  // not connected yet: fails fast, never waits on the resolver
    REQUIRE(run_until(
        loop, [&] { return c.all_ready(); }, 5s));
    auto took = std::chrono::steady_clock::now() - t0;
    CHECK(took >= 300ms);
    // One tick per 5 ms while resolving (sanitizers slow it; a blocked loop would give ~0).
    CHECK(ticks >= 20);
    CHECK(asked.load() == 1);
    CHECK(stats.resolves.load() == 1);

    // Connection lost: the name may point elsewhere now, so it is resolved again.
    c.drop_connections_for_test();
    REQUIRE(run_until(
        loop, [&] { return c.all_ready(); }, 5s));
    CHECK(asked.load() == 2);
    ticker.cancel();
  }

  SECTION("a name that does not resolve is a node down, retried with backoff") {
    RedisClientStats stats;
    RedisClientOptions o = options_for(server.port());
    o.seeds[0].host = "nowhere.portico.test";
    o.resolve_for_test = [](const std::string&, std::vector<std::string>&) {
      return std::string("Name or service not known");
    };
    RedisClient c(loop, o, &stats);
    c.start();
    REQUIRE(run_until(
        loop, [&] { return stats.resolve_failures.load() >= 3; }, 5s));
    CHECK_FALSE(c.all_ready());
    CHECK(std::string(c.breaker_state()) == "connecting");
  }
}

TEST_CASE("redis client: cluster routing, MOVED and ASK through a live reshard",
          "[cache][redis][cluster]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  RedisCluster cluster;
  core::Loop loop;
  RedisClientStats stats;
  RedisClientOptions o = options_for(cluster.node(0).port());  // one seed is enough
  o.cluster = true;
  RedisClient c(loop, o, &stats);
  c.start();
  REQUIRE(run_until(loop, [&] { return c.all_ready(); }));
  CHECK(stats.nodes_ready.load() == 3);

  constexpr int kKeys = 300;
  auto write_all = [&](const std::string& tag) {
    int done = 0;
    int ok = 0;
    for (int i = 0; i < kKeys; ++i) {
      std::string key = "k" + std::to_string(i);
      c.command(key, {"SET", key, tag + std::to_string(i)}, 2000ms,
                [&](core::Result<RedisReply> r) {
                  ++done;
                  ok += r.ok() && !r->is_error();
                });
    }
    run_until(loop, [&] { return done == kKeys; });
    return ok;
  };
  auto read_all = [&](const std::string& tag) {
    int done = 0;
    int ok = 0;
    for (int i = 0; i < kKeys; ++i) {
      std::string key = "k" + std::to_string(i);
      c.command(key, {"GET", key}, 2000ms, [&, i](core::Result<RedisReply> r) {
        ++done;
        ok += r.ok() && r->is_string() && r->str == tag + std::to_string(i);
      });
    }
    run_until(loop, [&] { return done == kKeys; });
    return ok;
  };
  CHECK(write_all("a") == kKeys);
  CHECK(read_all("a") == kKeys);
  CHECK(stats.moved.load() == 0);  // the slot map routed every key

  // Move 1000 slots from node 0 to node 1 while reading and writing.
  std::string from = cluster.id(0);
  std::string to = cluster.id(1);
  std::string cmd = std::string(test::kRedisCli) +
                    " --cluster reshard 127.0.0.1:" + std::to_string(cluster.node(0).port()) +
                    " --cluster-from " + from + " --cluster-to " + to +
                    " --cluster-slots 1000 --cluster-yes --cluster-pipeline 10 > /dev/null 2>&1";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int rounds = 0;
  int failures = 0;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    std::string tag = "r" + std::to_string(rounds++) + "-";
    failures += kKeys - write_all(tag);
    failures += kKeys - read_all(tag);
  }
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(rounds > 0);
  CHECK(failures == 0);
  CHECK(write_all("z") == kKeys);
  CHECK(read_all("z") == kKeys);
  CHECK(stats.moved.load() + stats.ask.load() > 0);
  CHECK(stats.slot_refreshes.load() >= 2);
}

TEST_CASE("redis client: cluster failover (a master killed, its replica promoted)",
          "[cache][redis][cluster]") {
  PORTICO_SKIP_WITHOUT_REDIS();
  RedisCluster cluster(1);
  size_t victim = 0;
  while (victim < cluster.size() && !cluster.is_master(victim)) ++victim;
  REQUIRE(victim < cluster.size());
  core::Loop loop;
  RedisClientStats stats;
  RedisClientOptions o = options_for(cluster.node((victim + 1) % cluster.size()).port());
  o.cluster = true;
  RedisClient c(loop, o, &stats);
  c.start();
  REQUIRE(run_until(loop, [&] { return c.all_ready(); }));

  constexpr int kKeys = 200;
  auto write_all = [&] {
    int done = 0;
    int ok = 0;
    for (int i = 0; i < kKeys; ++i) {
      std::string key = "f" + std::to_string(i);
      c.command(key, {"SET", key, "v"}, 500ms, [&](core::Result<RedisReply> r) {
        ++done;
        ok += r.ok() && !r->is_error();
      });
    }
    run_until(loop, [&] { return done == kKeys; });
    return ok;
  };
  REQUIRE(write_all() == kKeys);
  cluster.node(victim).stop();
  auto t0 = std::chrono::steady_clock::now();
  // Commands for the dead master's slots fail fast until the cluster promotes its replica and
  // the slot map (refreshed while an owner is down) routes them there.
  int partial = write_all();
  CHECK(partial < kKeys);
  CHECK(partial > 0);  // the other masters' keys never stopped working
  bool recovered = false;
  while (!recovered && std::chrono::steady_clock::now() - t0 < 30s) {
    run_until(
        loop, [] { return false; }, 100ms);
    recovered = write_all() == kKeys;
  }
  CHECK(recovered);
  INFO("recovered after " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - t0)
                                 .count()
                          << " ms");
  CHECK(stats.slot_refreshes.load() >= 2);
}

}  // namespace portico::cache
