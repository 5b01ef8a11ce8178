// Per-worker keep-alive pool of idle upstream HTTP/1.1 connections, keyed by "host:port".
// Idle connections are watched: any byte or EOF from the origin while idle closes them.
// origin_keepalive_timeout is enforced lazily (checked when a connection is lent) plus a sweep
// once a second while anything is parked, so parking and lending cost no timer or allocation.
// LIFO reuse keeps the warmest connection busy. Loop thread only.
#pragma once

#include <chrono>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/loop.h"

struct bufferevent;

namespace portico::proxy::upstream {

class Pool {
 public:
  explicit Pool(core::Loop& loop);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // An idle connection for `key` with callbacks cleared, or nullptr. The caller owns it afterwards.
  bufferevent* acquire(const std::string& key);
  // Takes ownership of a connection whose last exchange ended cleanly and parks it for up to
  // `keepalive`.
  void release(const std::string& key, bufferevent* bev, std::chrono::milliseconds keepalive);
  // Closes every idle connection (shutdown).
  void close_all();
  size_t idle_count() const { return count_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Idle {
    bufferevent* bev;
    Clock::time_point expires;
  };
  static void on_idle_event(bufferevent* bev, short what, void* arg);
  static void on_idle_read(bufferevent* bev, void* arg);
  void drop(bufferevent* bev);
  void sweep();

  core::Timer sweep_timer_;
  std::unordered_map<std::string, std::vector<Idle>> idle_;
  size_t count_ = 0;
  static constexpr size_t kMaxIdlePerKey = 256;
};

}  // namespace portico::proxy::upstream
