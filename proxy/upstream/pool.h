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
struct event;

namespace portico::proxy::upstream {

// One upstream connection: the bufferevent writes (write-first); reads go through `rev`, a
// persistent EV_READ event that stays registered for the connection's whole life. Whoever owns the
// connection (an Exchange, or the Pool while it is idle) sets `on_read`/`owner`, so handing it over
// costs no epoll_ctl.
struct Conn {
  bufferevent* bev = nullptr;
  event* rev = nullptr;
  void (*on_read)(void* owner, int fd, short what) = nullptr;
  void* owner = nullptr;
  bool reading = false;  // rev is pending
};

// Wraps a connected bufferevent (takes ownership).
Conn* make_conn(bufferevent* bev);
// Starts reading with `timeout` (nullptr: none); cheap when already reading (timer update only).
void conn_read(Conn* c, const struct timeval* timeout);
// Stops reading (backpressure, EOF).
void conn_pause(Conn* c);
// Frees the read event, then the bufferevent (which closes the fd), then the Conn.
void close_conn(Conn* c);

class Pool {
 public:
  explicit Pool(core::Loop& loop);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // An idle connection for `key` (bufferevent callbacks cleared; still reading, with `on_read`
  // pointing at the pool until the caller takes it over), or nullptr. The caller owns it then.
  Conn* acquire(const std::string& key);
  // Takes ownership of a connection whose last exchange ended cleanly and parks it for up to
  // `keepalive`.
  void release(const std::string& key, Conn* conn, std::chrono::milliseconds keepalive);
  // Closes every idle connection (shutdown).
  void close_all();
  size_t idle_count() const { return count_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Idle {
    Conn* conn;
    Clock::time_point expires;
  };
  static void on_idle_event(bufferevent* bev, short what, void* arg);
  static void on_idle_read(void* owner, int fd, short what);
  void drop(int fd);
  void sweep();
  std::vector<Idle>& stack_for(const std::string& key);

  core::Timer sweep_timer_;
  std::unordered_map<std::string, std::vector<Idle>> idle_;
  std::string last_key_;  // stack_for's memo
  std::vector<Idle>* last_stack_ = nullptr;
  size_t count_ = 0;
  static constexpr size_t kMaxIdlePerKey = 256;
};

}  // namespace portico::proxy::upstream
