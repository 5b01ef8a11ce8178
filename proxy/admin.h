// Admin listener (loopback by default) on the main thread's loop: GET /healthz, GET /metrics
// (Prometheus text), POST /reload. Every non-GET request needs "Authorization: Bearer <token>",
// the token read from the environment variable named by admin.token_env; when that variable is
// unset or empty, non-GET requests are refused (403). One request per connection.
#pragma once

#include <sys/socket.h>

#include <memory>
#include <string>
#include <unordered_set>

struct evconnlistener;

namespace portico::core {
class Loop;
}

namespace portico::proxy {

class Server;

class Admin {
 public:
  // `fd` is a bound, listening socket; Admin owns it.
  Admin(Server& server, core::Loop& loop, int fd, std::string token_env);
  ~Admin();
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  class Session;
  void session_done(Session* s);

 private:
  static void on_accept(evconnlistener* l, int fd, sockaddr* addr, int len, void* arg);

  Server& server_;
  core::Loop& loop_;
  std::string token_env_;
  evconnlistener* listener_ = nullptr;
  std::unordered_set<Session*> sessions_;
};

}  // namespace portico::proxy
