#include "proxy/server.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <thread>

#include "config/loader.h"
#include "core/log.h"
#include "proxy/admin.h"
#include "proxy/admin_targets.h"
#include "proxy/shared_tier.h"
#include "proxy/upstream/prober.h"
#include "proxy/worker.h"
#include "tls/manager.h"

namespace portico::proxy {
namespace {

core::Result<int> listen_socket(const std::string& host, uint16_t port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  std::string h = host == "localhost" ? "127.0.0.1" : host;
  if (!h.empty() && h.front() == '[') h = h.substr(1, h.size() - 2);
  auto* in4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, h.c_str(), &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, h.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
  } else {
    return core::Error::make(core::ErrorKind::Config, core::Side::Internal,
                             "not a numeric address: " + host);
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return core::Error::make(core::ErrorKind::Internal, core::Side::Internal,
                             std::string("socket: ") + std::strerror(errno));
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 4096) != 0) {
    int err = errno;
    ::close(fd);
    return core::Error::make(
        core::ErrorKind::Internal, core::Side::Internal,
        "cannot listen on " + host + ":" + std::to_string(port) + ": " + std::strerror(err));
  }
  return fd;
}

uint16_t bound_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

std::string format_address(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos && host.front() != '[') {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

}  // namespace

Server::Server(ServerOptions options, std::shared_ptr<const config::Model> model)
    : options_(std::move(options)),
      model_(std::move(model)),
      settings_(model_->server),
      max_connections_(model_->server.max_connections) {}

Server::~Server() {
  workers_.clear();
  admin_.reset();
}

core::Status Server::bind_listeners() {
  // A load balancer's own listeners are bound like top-level ones; Exchange::start routes their
  // requests through that load balancer's rules (Snapshot::load_balancer_listeners).
  std::vector<const config::Listener*> all;
  for (const config::Listener& l : model_->listeners) all.push_back(&l);
  for (const config::LoadBalancer& lb : model_->load_balancers) {
    for (const config::Listener& l : lb.listeners) all.push_back(&l);
  }
  for (const config::Listener* lp : all) {
    const config::Listener& l = *lp;
    uint16_t port = l.port;
    ListenerOptions options;
    options.http2 = l.http2;  // HTTP: h2c prior knowledge; HTTPS: ALPN h2
    if (l.protocol == config::ListenerProtocol::Https) {
      options.tls = tls_ ? tls_->server_context(l.name) : nullptr;
      if (options.tls == nullptr) {
        return core::Error::make(core::ErrorKind::Config, core::Side::Internal,
                                 "listener " + l.name + ": no TLS context for this HTTPS listener");
      }
    }
    for (auto& w : workers_) {
      // The first socket may take an ephemeral port; the other workers join it (SO_REUSEPORT).
      core::Result<int> fd = listen_socket(l.host, port);
      if (!fd.ok()) return fd.error();
      if (port == 0) port = bound_port(*fd);
      w->add_listener(*fd, l.name, options);
    }
    bound_ports_[l.name] = port;
    PORTICO_INFO("listening name=%s address=%s", l.name.c_str(),
                 format_address(l.host, port).c_str());
  }
  return {};
}

void Server::poke_prober() {
  if (prober_) prober_->poke();
}

uint16_t Server::listener_port(std::string_view name) const {
  auto it = bound_ports_.find(std::string(name));
  return it == bound_ports_.end() ? 0 : it->second;
}

bool Server::has_distribution(std::string_view id) const {
  for (const config::Distribution& d : model_->distributions) {
    if (d.id == id) return true;
  }
  return false;
}

int Server::run() {
  signal(SIGPIPE, SIG_IGN);
  // Before any thread starts (the access log's, the workers'): they inherit the blocked mask,
  // so these signals reach only the main loop's signalfd (core/signals.h).
  core::Result<std::unique_ptr<core::Signals>> sigs =
      core::Signals::create(loop_, {SIGTERM, SIGINT, SIGHUP}, [this](int sig) { on_signal(sig); });
  if (!sigs.ok()) {
    PORTICO_ERROR("%s", sigs.error().detail.c_str());
    return 1;
  }
  signals_ = std::move(sigs.value());
  // Every connection is a descriptor (two when proxied): use the whole hard limit, as nginx's
  // worker_rlimit_nofile would.
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  int n = options_.workers > 0 ? options_.workers : model_->server.workers;
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  sticky_ = std::make_shared<const routing::StickyCodec>(routing::StickyKey::random());
  target_groups_ =
      std::make_shared<routing::TargetGroupSet>(*model_, std::chrono::steady_clock::now());
  core::Result<SnapshotPtr> snap = build_snapshot(model_, generation_, target_groups_, sticky_);
  if (!snap.ok()) {
    PORTICO_ERROR("%s", snap.error().detail.c_str());
    return 2;
  }
  snapshot_ = snap.value();
  for (const std::string& w : model_->warnings) PORTICO_WARN("%s", w.c_str());
  if (model_->access_log.enabled) {
    access_log_ = std::make_unique<AccessLog>(model_->access_log.path, n);
  }
  cache_ = std::make_unique<cache::MemoryStore>(model_->cache.memory_size,
                                                model_->cache.max_object_size);
  if (model_->cache.redis.enabled) {
    shared_tier_ = std::make_unique<SharedTier>(loop_, *model_, *cache_);
    shared_tier_->start();
  }
  invalidations_ = std::make_unique<Invalidations>(loop_, *cache_, shared_tier_.get());
  if (core::Status st = start_certificates(); !st.ok()) {
    PORTICO_ERROR("%s", st.error().detail.c_str());
    return st.error().kind == core::ErrorKind::Config ? 2 : 1;
  }
  for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(*this, i));
  if (core::Status st = bind_listeners(); !st.ok()) {
    PORTICO_ERROR("%s", st.error().detail.c_str());
    return 1;
  }
  if (model_->admin.enabled) {
    core::Result<int> fd = listen_socket(model_->admin.host, model_->admin.port);
    if (!fd.ok()) {
      PORTICO_ERROR("admin: %s", fd.error().detail.c_str());
      return 1;
    }
    admin_ = std::make_unique<Admin>(*this, loop_, *fd, model_->admin.token_env);
    PORTICO_INFO("listening name=admin address=%s",
                 format_address(model_->admin.host, bound_port(*fd)).c_str());
  }
  workers_running_ = n;
  for (auto& w : workers_) w->start(snapshot_);
  prober_ = std::make_unique<upstream::Prober>(loop_, [this] { return target_groups_; });
  prober_->poke();
  PORTICO_INFO("ready pid=%d workers=%d", static_cast<int>(getpid()), n);
  loop_.run();
  for (auto& w : workers_) w->join();
  if (access_log_) access_log_->stop();
  PORTICO_INFO("shutdown complete");
  return 0;
}

// The ACM stand-in: the local CA, issued and imported certificates and one SSL_CTX per HTTPS
// listener (tls/manager.h), ticked every second for file changes, renewals, expiry and ticket keys.
core::Status Server::start_certificates() {
  if (!needs_certificates(*model_)) return {};
  core::Result<std::unique_ptr<tls::Manager>> m = tls::Manager::create(*model_);
  if (!m.ok()) return m.error();
  tls_ = std::move(m.value());
  tls_tick_ = std::make_unique<core::Timer>(loop_, [this] {
    tls_->tick(std::chrono::system_clock::now());
    tls_tick_->arm(std::chrono::seconds(1));
  });
  tls_tick_->arm(std::chrono::seconds(1));
  return {};
}

bool Server::needs_certificates(const config::Model& m) {
  if (!m.certificates.empty()) return true;
  for (const config::Listener& l : m.listeners) {
    if (l.protocol == config::ListenerProtocol::Https) return true;
  }
  for (const config::LoadBalancer& lb : m.load_balancers) {
    for (const config::Listener& l : lb.listeners) {
      if (l.protocol == config::ListenerProtocol::Https) return true;
    }
  }
  return false;
}

void Server::on_signal(int sig) {
  if (sig == SIGHUP) {
    if (shutting_down_) return;  // draining: the config no longer matters
    core::Result<uint64_t> r = reload();
    (void)r;
    return;
  }
  if (shutting_down_) {
    // A second SIGTERM/SIGINT: stop without waiting for in-flight requests.
    for (auto& w : workers_) w->stop_now();
    return;
  }
  PORTICO_INFO("signal %d: draining (up to %lld ms)", sig,
               static_cast<long long>(settings_.shutdown_timeout.count()));
  shutdown();
}

void Server::shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  admin_.reset();
  for (auto& w : workers_) w->begin_drain();
  shutdown_deadline_ = std::make_unique<core::Timer>(loop_, [this] {
    PORTICO_WARN("shutdown deadline reached: closing remaining connections");
    for (auto& w : workers_) w->stop_now();
  });
  shutdown_deadline_->arm(settings_.shutdown_timeout);
}

void Server::worker_done() {
  loop_.post([this] {
    if (--workers_running_ == 0) event_base_loopbreak(loop_.base());
  });
}

core::Result<uint64_t> Server::reload() {
  core::Result<config::Model> loaded = config::load_file(options_.config_path);
  if (!loaded.ok()) {
    PORTICO_ERROR("reload failed: %s", loaded.error().detail.c_str());
    return loaded.error();
  }
  auto model = std::make_shared<const config::Model>(std::move(loaded.value()));
  // Registered targets, health and draining carry over to the new set's groups.
  auto groups = std::make_shared<routing::TargetGroupSet>(*model, std::chrono::steady_clock::now(),
                                                          target_groups_.get());
  core::Result<SnapshotPtr> snap = build_snapshot(model, generation_ + 1, groups, sticky_);
  if (!snap.ok()) {
    PORTICO_ERROR("reload failed: %s", snap.error().detail.c_str());
    return snap.error();
  }
  // Certificates and TLS listener settings apply to new handshakes; an invalid certificate
  // fails the whole reload.
  if (tls_) {
    if (core::Status st = tls_->apply(*model); !st.ok()) {
      PORTICO_ERROR("reload failed: %s", st.error().detail.c_str());
      return st.error();
    }
  } else if (needs_certificates(*model)) {
    PORTICO_WARN("reload: certificates take effect after a restart (no HTTPS listener at start)");
  }
  // Sockets stay as bound at startup: listener changes need a restart.
  bool listeners_changed = model->listeners.size() != model_->listeners.size();
  for (size_t i = 0; !listeners_changed && i < model->listeners.size(); ++i) {
    const config::Listener& a = model->listeners[i];
    const config::Listener& b = model_->listeners[i];
    listeners_changed = a.name != b.name || a.host != b.host || a.port != b.port;
  }
  if (listeners_changed) PORTICO_WARN("reload: listener changes take effect after a restart");
  for (const std::string& w : model->warnings) PORTICO_WARN("%s", w.c_str());
  ++generation_;
  model_ = model;
  target_groups_ = std::move(groups);
  snapshot_ = snap.value();
  for (auto& w : workers_) w->set_snapshot(snapshot_);
  if (shared_tier_) {
    shared_tier_->set_distributions(*model);
  } else if (model->cache.redis.enabled) {
    PORTICO_WARN("reload: cache.redis takes effect after a restart (no Redis tier at start)");
  }
  poke_prober();
  PORTICO_INFO("reload ok generation=%llu", static_cast<unsigned long long>(generation_));
  return generation_;
}

std::string Server::render_metrics() {
  struct Dist {
    uint64_t by_class[6] = {};
    uint64_t received = 0;
    uint64_t sent = 0;
    uint64_t hits = 0, misses = 0, stale = 0;
  };
  struct Orig {
    uint64_t requests = 0, connect_failures = 0, timeouts = 0, retries = 0;
    uint64_t buckets[kLatencyBuckets.size() + 1] = {};
    uint64_t count = 0, sum_us = 0;
  };
  std::map<std::string, Dist> dists;
  std::map<std::string, Orig> origins;
  std::map<std::string, TargetGroupTotals> groups;
  uint64_t accepted = 0, closed = 0, rejected = 0, parse_errors = 0;
  for (auto& w : workers_) {
    WorkerStats& s = w->stats();
    accepted += s.open_connections_added.get();
    closed += s.open_connections_removed.get();
    rejected += s.rejected_connections.get();
    parse_errors += s.parse_errors.get();
    std::lock_guard<std::mutex> lock(s.mu);
    for (auto& [id, d] : s.distributions) {
      Dist& o = dists[id];
      for (size_t i = 0; i < 6; ++i) o.by_class[i] += d->by_status_class[i].get();
      o.received += d->received_bytes.get();
      o.sent += d->sent_bytes.get();
      o.hits += d->cache_hits.get();
      o.misses += d->cache_misses.get();
      o.stale += d->stale_served.get();
    }
    for (auto& [name, st] : s.target_groups) {
      TargetGroupTotals& g = groups[name];
      g.requests += st->requests.get();
      g.target_5xx += st->target_5xx.get();
      g.elb_5xx += st->elb_5xx.get();
    }
    for (auto& [key, st] : s.origins) {
      Orig& o = origins[key];
      o.requests += st->requests.get();
      o.connect_failures += st->connect_failures.get();
      o.timeouts += st->timeouts.get();
      o.retries += st->retries.get();
      for (size_t i = 0; i < kLatencyBuckets.size() + 1; ++i) {
        o.buckets[i] += st->latency.buckets[i].get();
      }
      o.count += st->latency.count.get();
      o.sum_us += st->latency.sum_us.get();
    }
  }
  std::string out;
  out.reserve(4096);
  auto line = [&](const std::string& s) {
    out += s;
    out += '\n';
  };
  line("# HELP portico_requests_total Requests answered, by distribution and status class.");
  line("# TYPE portico_requests_total counter");
  static const char* kClass[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (auto& [id, d] : dists) {
    for (size_t i = 0; i < 6; ++i) {
      line("portico_requests_total{distribution=\"" + id + "\",status_class=\"" + kClass[i] +
           "\"} " + std::to_string(d.by_class[i]));
    }
  }
  line(
      "# HELP portico_received_bytes_total Bytes received from viewers (request heads and "
      "bodies).");
  line("# TYPE portico_received_bytes_total counter");
  for (auto& [id, d] : dists) {
    line("portico_received_bytes_total{distribution=\"" + id + "\"} " + std::to_string(d.received));
  }
  line("# HELP portico_cache_hits_total Requests served from a stored or in-flight object.");
  line("# TYPE portico_cache_hits_total counter");
  for (auto& [id, d] : dists) {
    line("portico_cache_hits_total{distribution=\"" + id + "\"} " + std::to_string(d.hits));
  }
  line("# HELP portico_cache_misses_total Cache fills started (misses and revalidations).");
  line("# TYPE portico_cache_misses_total counter");
  for (auto& [id, d] : dists) {
    line("portico_cache_misses_total{distribution=\"" + id + "\"} " + std::to_string(d.misses));
  }
  line("# HELP portico_cache_stale_served_total Stale objects served because the origin failed.");
  line("# TYPE portico_cache_stale_served_total counter");
  for (auto& [id, d] : dists) {
    line("portico_cache_stale_served_total{distribution=\"" + id + "\"} " +
         std::to_string(d.stale));
  }
  const cache::StoreStats& cs = cache_->stats();
  line("# HELP portico_cache_objects Objects in the memory cache.");
  line("# TYPE portico_cache_objects gauge");
  line("portico_cache_objects " + std::to_string(cs.objects.load()));
  line("# HELP portico_cache_bytes Bytes held by the memory cache.");
  line("# TYPE portico_cache_bytes gauge");
  line("portico_cache_bytes " + std::to_string(cs.bytes.load()));
  line("# HELP portico_cache_evictions_total Objects evicted to stay within cache.memory_size.");
  line("# TYPE portico_cache_evictions_total counter");
  line("portico_cache_evictions_total " + std::to_string(cs.evictions.load()));
  line(
      "# HELP portico_cache_invalidated_total Objects removed by invalidations and unsafe "
      "methods.");
  line("# TYPE portico_cache_invalidated_total counter");
  line("portico_cache_invalidated_total " + std::to_string(cs.invalidated.load()));
  line("# HELP portico_sent_bytes_total Bytes sent to viewers.");
  line("# TYPE portico_sent_bytes_total counter");
  for (auto& [id, d] : dists) {
    line("portico_sent_bytes_total{distribution=\"" + id + "\"} " + std::to_string(d.sent));
  }
  line("# HELP portico_open_connections Open downstream connections.");
  line("# TYPE portico_open_connections gauge");
  line("portico_open_connections " + std::to_string(accepted - closed));
  line("# HELP portico_connections_total Accepted downstream connections.");
  line("# TYPE portico_connections_total counter");
  line("portico_connections_total " + std::to_string(accepted));
  line(
      "# HELP portico_rejected_connections_total Connections refused over max_connections or while "
      "draining.");
  line("# TYPE portico_rejected_connections_total counter");
  line("portico_rejected_connections_total " + std::to_string(rejected));
  line("# HELP portico_bad_requests_total Malformed requests answered with 4xx and closed.");
  line("# TYPE portico_bad_requests_total counter");
  line("portico_bad_requests_total " + std::to_string(parse_errors));
  line("# HELP portico_origin_requests_total Requests sent to each origin.");
  line("# TYPE portico_origin_requests_total counter");
  for (auto& [k, o] : origins) {
    line("portico_origin_requests_total{origin=\"" + k + "\"} " + std::to_string(o.requests));
  }
  line("# TYPE portico_origin_connect_failures_total counter");
  for (auto& [k, o] : origins) {
    line("portico_origin_connect_failures_total{origin=\"" + k + "\"} " +
         std::to_string(o.connect_failures));
  }
  line("# TYPE portico_origin_timeouts_total counter");
  for (auto& [k, o] : origins) {
    line("portico_origin_timeouts_total{origin=\"" + k + "\"} " + std::to_string(o.timeouts));
  }
  line("# TYPE portico_origin_retries_total counter");
  for (auto& [k, o] : origins) {
    line("portico_origin_retries_total{origin=\"" + k + "\"} " + std::to_string(o.retries));
  }
  line("# HELP portico_origin_latency_seconds Time from request sent to response head received.");
  line("# TYPE portico_origin_latency_seconds histogram");
  for (auto& [k, o] : origins) {
    uint64_t cum = 0;
    for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      cum += o.buckets[i];
      char le[32];
      std::snprintf(le, sizeof le, "%g", kLatencyBuckets[i]);
      line("portico_origin_latency_seconds_bucket{origin=\"" + k + "\",le=\"" + le + "\"} " +
           std::to_string(cum));
    }
    cum += o.buckets[kLatencyBuckets.size()];
    line("portico_origin_latency_seconds_bucket{origin=\"" + k + "\",le=\"+Inf\"} " +
         std::to_string(cum));
    char sum[32];
    std::snprintf(sum, sizeof sum, "%.6f", static_cast<double>(o.sum_us) / 1e6);
    line("portico_origin_latency_seconds_sum{origin=\"" + k + "\"} " + sum);
    line("portico_origin_latency_seconds_count{origin=\"" + k + "\"} " + std::to_string(o.count));
  }
  if (target_groups_) {
    append_target_group_metrics(out, *target_groups_, groups, std::chrono::steady_clock::now());
  }
  if (tls_) append_tls_metrics(out, tls_->stats());
  if (shared_tier_) shared_tier_->append_metrics(out);
  return out;
}

// The certificate manager's counters (tls::Stats), Prometheus text.
void Server::append_tls_metrics(std::string& out, const tls::Stats& s) {
  struct Row {
    const char* name;
    const char* type;
    const char* help;
    uint64_t value;
  };
  const Row rows[] = {
      {"portico_tls_certificates", "gauge", "Certificates held (issued and imported).",
       s.certificates},
      {"portico_tls_certificates_expired", "gauge", "Certificates past not_after (still served).",
       s.certificates_expired},
      {"portico_tls_certificates_issued_total", "counter", "Certificates the local CA signed.",
       s.issued_total},
      {"portico_tls_certificates_renewed_total", "counter", "Issued certificates renewed.",
       s.renewed_total},
      {"portico_tls_renewal_failures_total", "counter", "Renewals that failed.",
       s.renewal_failures_total},
      {"portico_tls_file_reloads_total", "counter", "Changed certificate files swapped in.",
       s.file_reloads_total},
      {"portico_tls_file_reload_failures_total", "counter",
       "Changed certificate files refused (the old certificate kept).",
       s.file_reload_failures_total},
      {"portico_tls_imports_total", "counter", "Certificates imported through the admin API.",
       s.imports_total},
      {"portico_tls_ticket_key_rotations_total", "counter", "Session ticket key rotations.",
       s.ticket_key_rotations_total},
      {"portico_tls_handshake_setup_failures_total", "counter",
       "Handshakes whose certificate or policy could not be set.",
       s.handshake_setup_failures_total},
  };
  for (const Row& r : rows) {
    out += std::string("# HELP ") + r.name + " " + r.help + "\n# TYPE " + r.name + " " + r.type +
           "\n" + r.name + " " + std::to_string(r.value) + "\n";
  }
  out += "# HELP portico_tls_certificate_choices_total How SNI chose the certificate.\n";
  out += "# TYPE portico_tls_certificate_choices_total counter\n";
  const std::pair<const char*, uint64_t> choices[] = {
      {"exact", s.handshakes_sni_exact_total},       {"wildcard", s.handshakes_sni_wildcard_total},
      {"no_sni", s.handshakes_no_sni_total},         {"default", s.handshakes_sni_default_total},
      {"rejected", s.handshakes_sni_rejected_total},
  };
  for (const auto& [how, n] : choices) {
    out += std::string("portico_tls_certificate_choices_total{choice=\"") + how + "\"} " +
           std::to_string(n) + "\n";
  }
}

}  // namespace portico::proxy
