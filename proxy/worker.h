// Worker: one thread, one core::Loop, its listening sockets (SO_REUSEPORT), its downstream
// connections, its upstream pool and counters. Nothing on the request path is shared with other
// workers except the immutable Snapshot. Methods marked "any thread" post to the loop; the rest
// run on the worker's own thread.
#pragma once

#include <sys/socket.h>

#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/loop.h"
#include "proxy/metrics.h"
#include "proxy/request_id.h"
#include "proxy/snapshot.h"
#include "proxy/upstream/pool.h"

struct evconnlistener;

namespace portico::proxy {

class Server;
class Connection;

class Worker {
 public:
  Worker(Server& server, int index);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Main thread, before start(): a bound, listening, non-blocking socket for listener `name`.
  void add_listener(int fd, const std::string& name);
  // Main thread: spawns the thread.
  void start(SnapshotPtr snapshot);
  // Any thread: new exchanges use `snapshot` from now on.
  void set_snapshot(SnapshotPtr snapshot);
  // Any thread: stop accepting, close idle connections, finish in-flight ones; the loop exits when
  // the last connection closes.
  void begin_drain();
  // Any thread: close everything now and exit the loop.
  void stop_now();
  void join();

  // Loop thread only below.
  core::Loop& loop() { return loop_; }
  Server& server() { return server_; }
  int index() const { return index_; }
  const SnapshotPtr& snapshot() const { return snapshot_; }
  WorkerStats& stats() { return stats_; }
  upstream::Pool& pool() { return pool_; }
  RequestIdGenerator& ids() { return ids_; }
  bool draining() const { return draining_; }
  DistributionStats* distribution_stats(const config::Distribution* d);
  OriginStats* origin_stats(const OriginTarget* t);
  void on_connection_closed(Connection* c);

 private:
  static void on_accept(evconnlistener* l, int fd, sockaddr* addr, int len, void* arg);
  void apply_snapshot(SnapshotPtr snapshot);
  void maybe_finish_drain();

  Server& server_;
  int index_;
  core::Loop loop_;
  std::thread thread_;
  SnapshotPtr snapshot_;
  WorkerStats stats_;
  upstream::Pool pool_;
  RequestIdGenerator ids_;
  struct ListenerEntry {
    Worker* worker;
    std::string name;
    int fd;
    evconnlistener* listener;
  };
  std::vector<std::unique_ptr<ListenerEntry>> listeners_;
  std::unordered_set<Connection*> connections_;
  std::unordered_map<const void*, DistributionStats*> dist_stats_;
  std::unordered_map<const void*, OriginStats*> origin_stats_;
  bool draining_ = false;
};

}  // namespace portico::proxy
