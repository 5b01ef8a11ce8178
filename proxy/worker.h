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

#include "cache/redis_tier.h"
#include "cache/store.h"
#include "core/loop.h"
#include "origin/sigv4.h"
#include "proxy/downstream.h"
#include "proxy/metrics.h"
#include "proxy/request_id.h"
#include "proxy/snapshot.h"
#include "proxy/upstream/pool.h"

struct evconnlistener;

namespace portico::proxy {

class Server;
class ClientConnection;
class Exchange;

class Worker {
 public:
  Worker(Server& server, int index);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Main thread, before start(): a bound, listening, non-blocking socket for listener `name`.
  void add_listener(int fd, const std::string& name, ListenerOptions options = {});
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
  // The SigV4 signer of an s3_origin that signs (target->s3->sign), for `snap` (the exchange's
  // snapshot, maybe older than the current one): one per worker per origin and generation,
  // made on first use and dropped when a new snapshot is applied (credentials are re-read on
  // reload).
  origin::Signer& s3_signer(const Snapshot& snap, const OriginTarget* target);
  void on_connection_closed(ClientConnection* c);
  // An HTTP/1 connection became an HTTP/2 session (same socket): track `fresh` instead of `old`
  // (which deletes itself), with no change to the connection counts.
  void replace_connection(ClientConnection* old, ClientConnection* fresh);
  cache::MemoryStore& cache();
  // This worker's side of the shared Redis tier (cache.redis), or null without one.
  cache::RedisTier* redis() { return redis_.get(); }

  // Exchanges waiting for a cache fill running on any worker. The fill's thread calls
  // post_cache_wake(id) (any thread); the exchange is woken on this loop if still registered.
  uint64_t add_cache_waiter(Exchange* e);
  void remove_cache_waiter(uint64_t id);
  void post_cache_wake(uint64_t id);
  // A filler whose viewer is gone (or answered) finishes its cache fill here; retire() deletes
  // it from a later callback.
  void adopt(std::unique_ptr<Exchange> e);
  void retire(Exchange* e);

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
    ListenerOptions options;
  };
  std::vector<std::unique_ptr<ListenerEntry>> listeners_;
  std::unordered_set<ClientConnection*> connections_;
  std::unordered_map<uint64_t, Exchange*> cache_waiters_;
  uint64_t next_waiter_id_ = 1;
  std::unordered_map<Exchange*, std::unique_ptr<Exchange>> adopted_;
  std::unordered_map<const void*, DistributionStats*> dist_stats_;
  std::unordered_map<const void*, OriginStats*> origin_stats_;
  struct SignerEntry {
    uint64_t generation;
    std::unique_ptr<origin::Signer> signer;
  };
  std::unordered_map<const OriginTarget*, SignerEntry> signers_;
  bool draining_ = false;
  std::unique_ptr<cache::RedisTier> redis_;  // declared after loop_: destroyed before it
};

}  // namespace portico::proxy
