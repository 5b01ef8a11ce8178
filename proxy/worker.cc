#include "proxy/worker.h"

#include <event2/event.h>
#include <event2/listener.h>
#include <unistd.h>

#include "core/log.h"
#include "proxy/connection.h"
#include "proxy/exchange.h"
#include "proxy/server.h"
#include "proxy/shared_tier.h"

namespace portico::proxy {

Worker::Worker(Server& server, int index) : server_(server), index_(index), pool_(loop_) {}

Worker::~Worker() {
  join();
  adopted_.clear();
  for (ClientConnection* c : connections_) delete c;
  connections_.clear();
  for (auto& l : listeners_) {
    if (l->listener) evconnlistener_free(l->listener);
  }
}

void Worker::add_listener(int fd, const std::string& name, ListenerOptions options) {
  listeners_.push_back(
      std::make_unique<ListenerEntry>(ListenerEntry{this, name, fd, nullptr, options}));
}

void Worker::start(SnapshotPtr snapshot) {
  apply_snapshot(std::move(snapshot));
  // Before the thread runs: the tier's connections attach to this loop.
  if (SharedTier* shared = server_.shared_tier()) redis_ = shared->make_worker_tier(loop_);
  for (auto& l : listeners_) {
    // backlog 0: the socket is already listening (Server::bind_listeners).
    l->listener = evconnlistener_new(loop_.base(), &Worker::on_accept, l.get(),
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, l->fd);
  }
  thread_ = std::thread([this] {
    loop_.run();
    server_.worker_done();
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::set_snapshot(SnapshotPtr snapshot) {
  loop_.post([this, s = std::move(snapshot)]() mutable { apply_snapshot(std::move(s)); });
}

void Worker::apply_snapshot(SnapshotPtr snapshot) {
  snapshot_ = std::move(snapshot);
  dist_stats_.clear();
  origin_stats_.clear();
  signers_.clear();
  for (const config::Distribution& d : snapshot_->model->distributions) {
    dist_stats_[&d] = stats_.distribution(d.id);
  }
  for (const auto& [origin, target] : snapshot_->origins) {
    origin_stats_[&target] = stats_.origin(target.stats_key);
  }
}

DistributionStats* Worker::distribution_stats(const config::Distribution* d) {
  auto it = dist_stats_.find(d);
  if (it != dist_stats_.end()) return it->second;
  // An exchange that outlived a reload still holds the old snapshot's pointers.
  DistributionStats* s = stats_.distribution(d->id);
  dist_stats_[d] = s;
  return s;
}

OriginStats* Worker::origin_stats(const OriginTarget* t) {
  auto it = origin_stats_.find(t);
  if (it != origin_stats_.end()) return it->second;
  OriginStats* s = stats_.origin(t->stats_key);
  origin_stats_[t] = s;
  return s;
}

origin::Signer& Worker::s3_signer(const Snapshot& snap, const OriginTarget* target) {
  auto it = signers_.find(target);
  if (it != signers_.end() && it->second.generation == snap.generation) return *it->second.signer;
  const S3Access& s3 = *target->s3;
  auto signer = std::make_unique<origin::Signer>(s3.credentials, s3.region);
  origin::Signer& out = *signer;
  signers_[target] = SignerEntry{snap.generation, std::move(signer)};
  return out;
}

void Worker::on_accept(evconnlistener* /*l*/, int fd, sockaddr* addr, int len, void* arg) {
  auto* entry = static_cast<ListenerEntry*>(arg);
  Worker* self = entry->worker;
  Server& server = self->server_;
  if (self->draining_ ||
      server.open_connections().load(std::memory_order_relaxed) >= server.max_connections()) {
    self->stats_.rejected_connections.add();
    ::close(fd);
    return;
  }
  server.open_connections().fetch_add(1, std::memory_order_relaxed);
  self->stats_.open_connections_added.add();
  auto* c =
      new Connection(*self, fd, entry->name, addr, static_cast<socklen_t>(len), entry->options);
  self->connections_.insert(c);
  c->start();
}

void Worker::replace_connection(ClientConnection* old, ClientConnection* fresh) {
  connections_.erase(old);
  connections_.insert(fresh);
}

void Worker::on_connection_closed(ClientConnection* c) {
  connections_.erase(c);
  server_.open_connections().fetch_sub(1, std::memory_order_relaxed);
  stats_.open_connections_removed.add();
  delete c;
  maybe_finish_drain();
}

cache::MemoryStore& Worker::cache() { return server_.cache(); }

uint64_t Worker::add_cache_waiter(Exchange* e) {
  uint64_t id = next_waiter_id_++;
  cache_waiters_.emplace(id, e);
  return id;
}

void Worker::remove_cache_waiter(uint64_t id) { cache_waiters_.erase(id); }

void Worker::post_cache_wake(uint64_t id) {
  loop_.post([this, id] {
    auto it = cache_waiters_.find(id);
    if (it != cache_waiters_.end()) it->second->on_cache_wake();
  });
}

void Worker::adopt(std::unique_ptr<Exchange> e) {
  Exchange* raw = e.get();
  adopted_.emplace(raw, std::move(e));
}

void Worker::retire(Exchange* e) {
  loop_.post([this, e] { adopted_.erase(e); });
}

void Worker::begin_drain() {
  loop_.post([this] {
    if (draining_) return;
    draining_ = true;
    for (auto& l : listeners_) {
      if (l->listener) {
        evconnlistener_free(l->listener);
        l->listener = nullptr;
      }
    }
    pool_.close_all();
    std::vector<ClientConnection*> idle;
    std::vector<ClientConnection*> busy;
    for (ClientConnection* c : connections_) {
      (c->idle() ? idle : busy).push_back(c);
    }
    for (ClientConnection* c : idle) c->close_now();
    for (ClientConnection* c : busy) c->begin_drain();
    maybe_finish_drain();
  });
}

void Worker::maybe_finish_drain() {
  if (draining_ && connections_.empty()) {
    pool_.close_all();
    event_base_loopbreak(loop_.base());
  }
}

void Worker::stop_now() {
  loop_.post([this] {
    draining_ = true;
    std::vector<ClientConnection*> all(connections_.begin(), connections_.end());
    for (ClientConnection* c : all) c->close_now();
    pool_.close_all();
    event_base_loopbreak(loop_.base());
  });
}

}  // namespace portico::proxy
