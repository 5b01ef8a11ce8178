// Per-worker keep-alive pool of idle upstream HTTP/1.1 connections, keyed by "host:port".
// Idle connections are watched: any byte or EOF from the origin while idle closes them, as does
// origin_keepalive_timeout. LIFO reuse keeps the warmest connection busy. Loop thread only.
#pragma once

#include <chrono>
#include <list>
#include <string>
#include <unordered_map>

struct bufferevent;
struct event;

namespace portico::core {
class Loop;
}

namespace portico::proxy::upstream {

class Pool {
 public:
  explicit Pool(core::Loop& loop);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // An idle connection for `key` with callbacks cleared and timeouts unset, or nullptr. The caller
  // owns it afterwards.
  bufferevent* acquire(const std::string& key);
  // Takes ownership of a connection whose last exchange ended cleanly and parks it for up to
  // `keepalive`.
  void release(const std::string& key, bufferevent* bev, std::chrono::milliseconds keepalive);
  // Closes every idle connection (shutdown).
  void close_all();
  size_t idle_count() const { return count_; }

 private:
  struct Idle {
    Pool* pool;
    std::string key;
    bufferevent* bev;
    event* timer;
  };
  using List = std::list<Idle>;
  static void on_idle_event(bufferevent* bev, short what, void* arg);
  static void on_idle_read(bufferevent* bev, void* arg);
  static void on_idle_timeout(int fd, short what, void* arg);
  void drop(Idle* idle);

  core::Loop& loop_;
  std::unordered_map<std::string, List> idle_;
  size_t count_ = 0;
  static constexpr size_t kMaxIdlePerKey = 256;
};

}  // namespace portico::proxy::upstream
