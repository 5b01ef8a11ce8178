// cache::RedisClient: non-blocking Redis on one core::Loop (hiredis's libevent adapter), for the
// shared cache tier. One client per worker loop (and one on the main loop for invalidations);
// every method runs on that loop's thread. Commands are pipelined on one connection per node,
// each with its own deadline enforced by our timers (hiredis 0.14 has no async timeouts). A
// node that keeps failing trips its breaker: the connection is dropped and commands to it fail
// at once until a reconnect (exponential backoff) answers a PING. With `cluster`, keys are routed
// by hash slot (CLUSTER SLOTS), MOVED and ASK are followed and the map is refreshed on topology
// changes; hiredis knows nothing of clusters. A node named by a host name (an ElastiCache
// endpoint) is resolved with getaddrinfo on a short-lived helper thread, never on the loop
// (hiredis would resolve it there, blocking the worker); the answer is posted back to the loop.
// Its addresses are tried in turn, and the name is resolved again once they all failed or a
// connection that was up is lost (a failover moves the name). Callbacks never fire inside
// command() and never after the client is destroyed. hiredis's own types stay in redis_client.cc.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/model.h"
#include "core/loop.h"
#include "core/result.h"

struct event;
struct redisAsyncContext;

namespace portico::cache {

// A reply, copied out of hiredis (RESP2 types).
struct RedisReply {
  enum class Type : uint8_t { Nil, String, Status, Integer, Array, Error };
  Type type = Type::Nil;
  std::string str;  // String, Status and Error
  int64_t integer = 0;
  std::vector<RedisReply> elements;

  bool nil() const { return type == Type::Nil; }
  bool is_error() const { return type == Type::Error; }
  bool is_string() const { return type == Type::String; }
};

// Counters of one or more clients (atomics: workers share one instance).
struct RedisClientStats {
  std::atomic<uint64_t> commands{0};
  std::atomic<uint64_t> timeouts{0};
  std::atomic<uint64_t> failures{0};  // connection lost, refused, or a node not ready
  std::atomic<uint64_t> moved{0};
  std::atomic<uint64_t> ask{0};
  std::atomic<uint64_t> slot_refreshes{0};
  std::atomic<uint64_t> breaker_trips{0};
  std::atomic<uint64_t> connects{0};  // connections that became ready
  std::atomic<uint64_t> resolves{0};  // host names resolved (off the loop)
  std::atomic<uint64_t> resolve_failures{0};
  std::atomic<int64_t> nodes_ready{0};  // gauge, summed over clients
  std::atomic<int64_t> nodes_known{0};  // gauge, summed over clients
};

struct RedisClientOptions {
  std::vector<config::RedisAddress> seeds;  // the server, or the cluster's seed nodes
  bool cluster = false;
  std::string password;  // "" = no AUTH
  int db = 0;
  std::chrono::milliseconds connect_timeout{1000};
  // A node's breaker opens after this many consecutive timeouts or failures.
  int breaker_failures = 3;
  std::chrono::milliseconds backoff_min{50};
  std::chrono::milliseconds backoff_max{1000};
  // Test hook: replaces getaddrinfo for host names. Runs on the helper thread; fills `out` with
  // addresses (text) or returns an error message.
  std::function<std::string(const std::string& host, std::vector<std::string>& out)>
      resolve_for_test;
};

using RedisArgs = std::vector<std::string>;
using RedisCallback = std::function<void(core::Result<RedisReply>)>;

class RedisClient {
 public:
  RedisClient(core::Loop& loop, RedisClientOptions options, RedisClientStats* stats);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Connects to the seeds (and, with `cluster`, loads the slot map). Called once.
  void start();

  // Sends `args` to the node owning `key` (cluster; any node when `key` is empty) or to the
  // server. `cb` runs exactly once on this loop, never inside command(): with the reply (error
  // replies included, except MOVED/ASK, which are followed), or with Timeout after `timeout`,
  // or ConnectFailed when the node is down, its breaker open, or the connection is lost.
  void command(std::string_view key, RedisArgs args, std::chrono::milliseconds timeout,
               RedisCallback cb);

  // True when a command for `key` would be sent now (its node is connected and healthy).
  bool ready(std::string_view key) const;
  // True when every known node is ready (and, with `cluster`, the slot map is loaded).
  bool all_ready() const;
  // "closed" (all nodes ready), "open" (some node down or probing) or "connecting" (never yet
  // connected).
  const char* breaker_state() const;

  // Keeps a dedicated connection SUBSCRIBEd to `channel` (reconnecting with backoff).
  // `on_message(payload)` runs per message; `on_subscribed()` each time the subscription is
  // (re)established, so the caller can catch up on what it missed while disconnected;
  // `on_lost()` each time an established subscription is lost (messages may be missed from now).
  void subscribe(std::string channel, std::function<void(std::string_view)> on_message,
                 std::function<void()> on_subscribed, std::function<void()> on_lost = nullptr);

  // Redis Cluster's slot of `key`: CRC16 (XMODEM) of the key, or of its first non-empty {tag},
  // modulo 16384.
  static uint16_t hash_slot(std::string_view key);

  // Test hooks: drops every connection now, as if the server had closed them.
  void drop_connections_for_test();

 private:
  struct Node;
  struct Command;
  struct Subscriber;
  struct Resolver;
  class EvTimer;
  using Clock = std::chrono::steady_clock;

  Node* node_for(std::string_view key) const;
  Node* node_named(const std::string& host, uint16_t port);
  void connect(Node& n);
  void resolve(Node& n);
  void on_resolved(Node& n, uint64_t token, std::vector<std::string> addrs,
                   const std::string& error);
  void drop(Node& n, const char* why);
  void node_ready(Node& n);
  void send(Command& c, Node& n);
  void on_reply(Node& n, uint64_t id, const RedisReply* reply, bool connection_lost);
  void complete(uint64_t id, core::Result<RedisReply> result);
  void fail_soon(uint64_t id, core::Error error);
  void run_deferred();
  void arm_deadlines();
  void on_deadlines();
  void refresh_slots();
  void apply_slots(const RedisReply& reply);
  void mark_down(Node& n, const char* why);
  void sub_connect();
  void sub_lost(bool free_context);

  static void on_connect_cb(const ::redisAsyncContext* ac, int status);
  static void on_disconnect_cb(const ::redisAsyncContext* ac, int status);
  static void on_reply_cb(::redisAsyncContext* ac, void* reply, void* privdata);
  static void on_setup_cb(::redisAsyncContext* ac, void* reply, void* privdata);
  static void on_sub_cb(::redisAsyncContext* ac, void* reply, void* privdata);
  static void on_sub_connect_cb(const ::redisAsyncContext* ac, int status);
  static void on_sub_disconnect_cb(const ::redisAsyncContext* ac, int status);

  core::Loop& loop_;
  RedisClientOptions options_;
  RedisClientStats* stats_;
  bool closing_ = false;
  bool started_ = false;
  bool ever_ready_ = false;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Command>> commands_;
  using Deadline = std::pair<Clock::time_point, uint64_t>;
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines_;
  std::unique_ptr<EvTimer> deadline_timer_;
  Clock::time_point deadline_armed_for_{};
  std::vector<std::pair<uint64_t, core::Error>> deferred_;
  std::unique_ptr<EvTimer> deferred_timer_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Node*> slots_;  // cluster: owner of each of the 16384 slots (null = unknown)
  bool slots_loaded_ = false;
  bool refreshing_ = false;
  bool refresh_again_ = false;
  Clock::time_point last_refresh_{};
  std::unique_ptr<EvTimer> refresh_timer_;
  std::unique_ptr<Subscriber> sub_;
  std::shared_ptr<Resolver> resolver_;  // shared with helper threads resolving host names
  uint64_t next_resolve_ = 1;
};

}  // namespace portico::cache
