// Server: the process. Owns the main loop (signals, admin listener, reload), the workers, the
// listening sockets and the access log. Config snapshots are built here on the main thread and
// handed to each worker; a failed reload leaves the old snapshot serving.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/store.h"
#include "config/model.h"
#include "core/loop.h"
#include "core/result.h"
#include "core/signals.h"
#include "proxy/access_log.h"
#include "proxy/invalidations.h"
#include "proxy/snapshot.h"

namespace portico::tls {
class Manager;
struct Stats;
}  // namespace portico::tls

namespace portico::proxy {

class Worker;
class Admin;
class SharedTier;
namespace upstream {
class Prober;
}

struct ServerOptions {
  std::string config_path;
  int workers = 0;  // 0 = from config, else one per core
};

class Server {
 public:
  Server(ServerOptions options, std::shared_ptr<const config::Model> model);
  ~Server();

  // Binds, starts workers, runs the main loop until shutdown; returns the exit code.
  int run();

  // Main thread: re-reads the config file and swaps it in. Returns the new generation or the
  // validation error (the old config keeps serving).
  core::Result<uint64_t> reload();
  // Main thread: Prometheus text exposition of every worker's counters.
  std::string render_metrics();
  // Main thread: begins graceful shutdown (SIGTERM).
  void shutdown();

  // Any thread.
  AccessLog* access_log() { return access_log_.get(); }
  std::atomic<int>& open_connections() { return open_connections_; }
  int max_connections() const { return max_connections_; }
  const config::Server& settings() const { return settings_; }
  // The process-wide cache (sized by the config at startup; later reloads do not resize it).
  cache::MemoryStore& cache() { return *cache_; }
  // The shared Redis tier (cache.redis), or null without one. Made before the workers start.
  SharedTier* shared_tier() { return shared_tier_.get(); }
  // Main thread.
  Invalidations& invalidations() { return *invalidations_; }
  // The certificate manager (ACM stand-in); null when the config has no HTTPS listener and no
  // certificate.
  tls::Manager* certificates() { return tls_.get(); }
  bool has_distribution(std::string_view id) const;
  // The port listener `name` is bound to (0: unknown). Written before the workers start.
  uint16_t listener_port(std::string_view name) const;
  // Main thread: the live target groups of the current snapshot (admin API, prober, metrics).
  const std::shared_ptr<routing::TargetGroupSet>& target_groups() const { return target_groups_; }
  // Main thread: probe what is due now (after targets were registered through the admin API).
  void poke_prober();

  // Called by a worker (any thread) when its loop has exited after draining.
  void worker_done();

 private:
  core::Status bind_listeners();
  core::Status start_certificates();
  static bool needs_certificates(const config::Model& m);
  static void append_tls_metrics(std::string& out, const tls::Stats& s);
  void on_signal(int sig);

  ServerOptions options_;
  core::Loop loop_;
  std::shared_ptr<const config::Model> model_;
  SnapshotPtr snapshot_;
  uint64_t generation_ = 1;
  // One TargetGroup per target group for the whole process, rebuilt from the previous set on
  // reload; one sticky-cookie key per process.
  std::shared_ptr<routing::TargetGroupSet> target_groups_;
  std::shared_ptr<const routing::StickyCodec> sticky_;
  std::unique_ptr<upstream::Prober> prober_;  // the process's one health checker
  config::Server settings_;
  int max_connections_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unordered_map<std::string, uint16_t> bound_ports_;
  std::unique_ptr<Admin> admin_;
  std::unique_ptr<AccessLog> access_log_;
  std::unique_ptr<cache::MemoryStore> cache_;
  std::unique_ptr<SharedTier> shared_tier_;
  std::unique_ptr<Invalidations> invalidations_;
  std::unique_ptr<tls::Manager> tls_;
  std::unique_ptr<core::Timer> tls_tick_;
  std::atomic<int> open_connections_{0};
  std::atomic<int> workers_running_{0};
  bool shutting_down_ = false;
  std::unique_ptr<core::Timer> shutdown_deadline_;
  std::unique_ptr<core::Signals> signals_;
};

}  // namespace portico::proxy
