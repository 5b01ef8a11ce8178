// Test helpers for the Redis tier: a real redis-server (Debian's /usr/bin/redis-server) on a
// loopback ephemeral port in a temporary folder, killed by PID when the test ends, and a way to
// run a core::Loop until a condition holds (polling the loop, never sleeping as synchronization).
// Tests that need Redis skip themselves when the binary is missing.
#pragma once

#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/loop.h"

namespace portico::test {

inline const char* kRedisServer = "/usr/bin/redis-server";
inline const char* kRedisCli = "/usr/bin/redis-cli";

inline bool have_redis() { return ::access(kRedisServer, X_OK) == 0; }

// First statement of a test that needs a real redis-server: skips (with a warning) without one.
#define PORTICO_SKIP_WITHOUT_REDIS()               \
  do {                                             \
    if (!::portico::test::have_redis()) {          \
      WARN("redis-server not installed: skipped"); \
      return;                                      \
    }                                              \
  } while (false)

// A port nothing listens on right now (bound to 0, then closed).
inline uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool port_accepts(uint16_t port);

// A free port whose Redis Cluster bus port (port + 10000) is valid and free too.
inline uint16_t free_cluster_port() {
  for (;;) {
    uint16_t p = free_port();
    if (p <= 55535 && !port_accepts(static_cast<uint16_t>(p + 10000))) return p;
  }
}

inline bool port_accepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Polls `pred` (with short pauses) until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Runs `loop` until `pred` holds or `timeout` passes; returns pred().
inline bool run_until(core::Loop& loop, const std::function<bool()>& pred,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  core::Timer tick(loop, [] {});
  while (!pred() && std::chrono::steady_clock::now() < deadline) {
    tick.arm(std::chrono::milliseconds(1));  // bounds each pass when nothing else is due
    event_base_loop(loop.base(), EVLOOP_ONCE);
  }
  return pred();
}

class RedisServer {
 public:
  // Starts redis-server on a free port with `extra` arguments ("--requirepass", "x", ...).
  explicit RedisServer(std::vector<std::string> extra = {}, uint16_t port = 0) : extra_(extra) {
    char tmpl[] = "/tmp/portico-redis-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    port_ = port != 0 ? port : free_port();
    start();
  }
  ~RedisServer() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }

  void start() {
    std::vector<std::string> args = {kRedisServer, "--port",       std::to_string(port_),
                                     "--bind",     "127.0.0.1",    "--save",
                                     "",           "--appendonly", "no",
                                     "--dir",      dir_,           "--loglevel",
                                     "warning",    "--daemonize",  "no"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::execv(kRedisServer, argv.data());
      ::_exit(127);
    }
    eventually([this] { return port_accepts(port_); });
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }

  // redis-cli against this server; returns its output (trailing newline removed).
  std::string cli(const std::string& args) const { return run_cli(port_, args); }

  static std::string run_cli(uint16_t port, const std::string& args) {
    std::string cmd =
        std::string(kRedisCli) + " -h 127.0.0.1 -p " + std::to_string(port) + " " + args + " 2>&1";
    std::string out;
    if (FILE* f = ::popen(cmd.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
      ::pclose(f);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

 private:
  std::vector<std::string> extra_;
  std::string dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// Three masters (and `replicas` replicas of each), created with redis-cli --cluster create.
class RedisCluster {
 public:
  explicit RedisCluster(int replicas = 0) {
    for (int i = 0; i < 3 * (1 + replicas); ++i) {
      nodes_.push_back(std::make_unique<RedisServer>(
          std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-config-file",
                                   "nodes.conf", "--cluster-node-timeout", "2000",
                                   "--repl-diskless-sync-delay", "0"},
          free_cluster_port()));
    }
    std::string addrs;
    for (auto& n : nodes_) addrs += " 127.0.0.1:" + std::to_string(n->port());
    RedisServer::run_cli(nodes_[0]->port(), "--cluster create" + addrs + " --cluster-replicas " +
                                                std::to_string(replicas) + " --cluster-yes");
    for (auto& n : nodes_) {
      eventually(
          [&] { return n->cli("cluster info").find("cluster_state:ok") != std::string::npos; });
    }
    // A replica whose first sync has not finished would not stand for election.
    for (auto& n : nodes_) {
      eventually([&] {
        std::string info = n->cli("info replication");
        return info.find("role:master") != std::string::npos ||
               info.find("master_link_status:up") != std::string::npos;
      });
    }
  }
  RedisServer& node(size_t i) { return *nodes_[i]; }
  size_t size() const { return nodes_.size(); }
  // The node id of node i.
  std::string id(size_t i) { return nodes_[i]->cli("cluster myid"); }
  bool is_master(size_t i) { return nodes_[i]->cli("role").rfind("master", 0) == 0; }

 private:
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace portico::test
