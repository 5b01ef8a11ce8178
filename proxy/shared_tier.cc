#include "proxy/shared_tier.h"

#include <unistd.h>

#include <cstdlib>
#include <random>

#include "core/log.h"
#include "proxy/response_writer.h"
#include "proxy/server.h"

namespace portico::proxy {
namespace {

std::vector<std::string> distribution_ids(const config::Model& model) {
  std::vector<std::string> out;
  for (const config::Distribution& d : model.distributions) out.push_back(d.id);
  return out;
}

// "host-pid-random": names this edge's fleet locks (for humans reading Redis; any unique
// string would do).
std::string make_edge_id() {
  char host[64] = {};
  ::gethostname(host, sizeof host - 1);
  std::mt19937_64 rng{std::random_device{}()};
  return std::string(host) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(rng() % 1'000'000);
}

void counter(std::string& out, const char* name, const char* help, uint64_t v) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += " counter\n";
  out += name;
  out += ' ';
  out += std::to_string(v);
  out += '\n';
}

void gauge(std::string& out, const char* name, const char* help, int64_t v) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += " gauge\n";
  out += name;
  out += ' ';
  out += std::to_string(v);
  out += '\n';
}

}  // namespace

std::string redis_changes(const config::CacheRedis& running, const config::CacheRedis& loaded) {
  std::string out;
  auto note = [&](bool differs, const char* name) {
    if (!differs) return;
    if (!out.empty()) out += ", ";
    out += name;
  };
  auto same_addresses = [](const std::vector<config::RedisAddress>& a,
                           const std::vector<config::RedisAddress>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i].host != b[i].host || a[i].port != b[i].port) return false;
    }
    return true;
  };
  if (!loaded.enabled) {
    note(running.enabled, "removed");
    return out;
  }
  note(running.cluster != loaded.cluster || !same_addresses(running.addresses, loaded.addresses),
       running.cluster || loaded.cluster ? "cluster" : "address");
  note(running.password_env != loaded.password_env, "password_env");
  note(running.db != loaded.db, "db");
  note(running.timeout != loaded.timeout, "timeout");
  note(running.connect_timeout != loaded.connect_timeout, "connect_timeout");
  note(running.max_object_size != loaded.max_object_size, "max_object_size");
  note(running.key_prefix != loaded.key_prefix, "key_prefix");
  note(running.fleet_lock != loaded.fleet_lock, "fleet_lock");
  note(running.lock_timeout != loaded.lock_timeout, "lock_timeout");
  return out;
}

SharedTier::SharedTier(core::Loop& main_loop, const config::Model& model, cache::MemoryStore& store)
    : loop_(main_loop),
      config_(model.cache.redis),
      edge_id_(make_edge_id()),
      store_(store),
      distributions_(distribution_ids(model)) {
  if (!config_.password_env.empty()) {
    const char* p = std::getenv(config_.password_env.c_str());
    if (p == nullptr || *p == '\0') {
      PORTICO_WARN("cache.redis.password_env: %s is not set; connecting without AUTH",
                   config_.password_env.c_str());
    } else {
      password_ = p;
    }
  }
  cache::RedisLogOptions lo;
  lo.key_prefix = config_.key_prefix;
  lo.distributions = distributions_;
  lo.timeout = std::max<std::chrono::milliseconds>(config_.timeout * 20, config_.connect_timeout);
  feed_ = std::make_unique<cache::RedisLog>(
      loop_, client_options(), lo, log_, &stats_.client,
      [this](const std::string& distribution,
             const std::vector<cache::InvalidationLog::Entry>& entries) {
        // What another edge invalidated (or what this edge missed while away) leaves local
        // memory too.
        for (const cache::InvalidationLog::Entry& e : entries) {
          for (const std::string& p : e.paths) store_.invalidate(distribution, p);
        }
      });
}

SharedTier::~SharedTier() = default;

cache::RedisClientOptions SharedTier::client_options() const {
  cache::RedisClientOptions o;
  o.seeds = config_.addresses;
  o.cluster = config_.cluster;
  o.password = password_;
  o.db = config_.db;
  o.connect_timeout = config_.connect_timeout;
  return o;
}

void SharedTier::start() {
  std::string where;
  for (const config::RedisAddress& a : config_.addresses) {
    if (!where.empty()) where += ',';
    where += a.host + ":" + std::to_string(a.port);
  }
  PORTICO_INFO("redis tier: %s %s timeout=%lldms fleet_lock=%s",
               config_.cluster ? "cluster" : "server", where.c_str(),
               static_cast<long long>(config_.timeout.count()), config_.fleet_lock ? "on" : "off");
  feed_->start();
}

void SharedTier::set_distributions(const config::Model& model) {
  distributions_ = distribution_ids(model);
  feed_->set_distributions(distributions_);
  // Every worker's connections, budgets and locks were set up from the startup config; they
  // are not rebuilt under load. Say so rather than look applied.
  std::string changed = redis_changes(config_, model.cache.redis);
  if (!changed.empty()) {
    const config::SourceLoc& at =
        model.cache.redis.enabled ? model.cache.redis.loc : model.cache.loc;
    std::string where =
        at.file.empty() ? std::string() : " (" + at.file + ":" + std::to_string(at.line) + ")";
    PORTICO_WARN(
        "reload: cache.redis changed: %s%s; the running Redis tier keeps its startup "
        "settings until a restart",
        changed.c_str(), where.c_str());
  }
  restart_needed_ = !changed.empty();
}

std::unique_ptr<cache::RedisTier> SharedTier::make_worker_tier(core::Loop& loop) {
  cache::RedisTierOptions o;
  o.key_prefix = config_.key_prefix;
  o.timeout = config_.timeout;
  o.max_object_bytes = config_.max_object_size;
  o.fleet_lock = config_.fleet_lock;
  o.lock_timeout = config_.lock_timeout;
  o.edge_id = edge_id_;
  auto tier = std::make_unique<cache::RedisTier>(loop, client_options(), o, stats_, log_, store_);
  tier->start();
  return tier;
}

const char* SharedTier::breaker_state() const {
  const cache::RedisClientStats& c = stats_.client;
  if (c.connects.load() == 0) return "connecting";
  return c.nodes_ready.load() >= c.nodes_known.load() ? "closed" : "open";
}

bool SharedTier::ready() const {
  return std::string_view(breaker_state()) == "closed" && feed_->synced();
}

std::string SharedTier::stats_json() const {
  const cache::RedisTierStats& s = stats_;
  const cache::RedisClientStats& c = s.client;
  auto field = [](std::string& out, const char* name, uint64_t v) {
    out += ",\"";
    out += name;
    out += "\":";
    out += std::to_string(v);
  };
  std::string out = "{\"mode\":\"";
  out += config_.cluster ? "cluster" : "standalone";
  out += "\",\"ready\":";
  out += ready() ? "true" : "false";
  out += ",\"breaker\":\"";
  out += breaker_state();
  out += "\",\"nodes_ready\":" + std::to_string(c.nodes_ready.load());
  out += ",\"nodes\":" + std::to_string(c.nodes_known.load());
  field(out, "lookups", s.lookups.load());
  field(out, "hits", s.hits.load());
  field(out, "misses", s.misses.load());
  field(out, "errors", s.errors.load());
  field(out, "unavailable", s.unavailable.load());
  field(out, "hidden", s.hidden.load());
  field(out, "bad_entries", s.bad_entries.load());
  field(out, "writes", s.writes.load());
  field(out, "write_errors", s.write_errors.load());
  field(out, "write_skipped", s.write_skipped.load());
  field(out, "bytes_written", s.bytes_written.load());
  field(out, "bytes_read", s.bytes_read.load());
  field(out, "body_aborts", s.body_aborts.load());
  field(out, "lock_acquired", s.lock_acquired.load());
  field(out, "lock_waits", s.lock_waits.load());
  field(out, "lock_wait_hits", s.lock_wait_hits.load());
  field(out, "lock_timeouts", s.lock_timeouts.load());
  field(out, "lock_extensions", s.lock_extensions.load());
  field(out, "lock_lost", s.lock_lost.load());
  field(out, "vary_rereads", s.vary_rereads.load());
  field(out, "commands", c.commands.load());
  field(out, "timeouts", c.timeouts.load());
  field(out, "failures", c.failures.load());
  field(out, "moved", c.moved.load());
  field(out, "ask", c.ask.load());
  field(out, "slot_refreshes", c.slot_refreshes.load());
  field(out, "breaker_trips", c.breaker_trips.load());
  field(out, "connects", c.connects.load());
  field(out, "resolves", c.resolves.load());
  field(out, "resolve_failures", c.resolve_failures.load());
  out += ",\"restart_needed\":";
  out += restart_needed_ ? "true" : "false";
  out += ",\"invalidation_log\":{\"synced\":";
  out += feed_->synced() ? "true" : "false";
  out += ",\"distributions\":{";
  bool first = true;
  for (const std::string& d : distributions_) {
    if (!first) out += ',';
    first = false;
    out += "\"" + json_escape(d) + "\":{\"epoch\":\"" + json_escape(log_.epoch(d)) +
           "\",\"generation\":" + std::to_string(log_.generation(d)) + "}";
  }
  out += "}}}";
  return out;
}

void SharedTier::append_metrics(std::string& out) const {
  const cache::RedisTierStats& s = stats_;
  const cache::RedisClientStats& c = s.client;
  counter(out, "portico_redis_lookups_total", "Lookups sent to the Redis tier after a local miss.",
          s.lookups.load());
  counter(out, "portico_redis_hits_total", "Requests served from a Redis entry.", s.hits.load());
  counter(out, "portico_redis_misses_total", "Redis lookups that found no usable entry.",
          s.misses.load());
  counter(out, "portico_redis_errors_total",
          "Redis lookups that timed out or failed (served from the origin).", s.errors.load());
  counter(out, "portico_redis_unavailable_total",
          "Local misses not looked up in Redis (node down, breaker open, log not synced).",
          s.unavailable.load());
  counter(out, "portico_redis_hidden_total", "Redis entries hidden by a later invalidation.",
          s.hidden.load());
  counter(out, "portico_redis_writes_total", "Objects written to Redis.", s.writes.load());
  counter(out, "portico_redis_write_errors_total", "Redis write-backs that failed.",
          s.write_errors.load());
  counter(out, "portico_redis_write_skipped_total",
          "Objects not written to Redis (too large, expired, or write-back backlog).",
          s.write_skipped.load());
  counter(out, "portico_redis_bytes_read_total", "Bytes read from Redis entries.",
          s.bytes_read.load());
  counter(out, "portico_redis_bytes_written_total", "Body bytes written to Redis.",
          s.bytes_written.load());
  counter(out, "portico_redis_timeouts_total", "Redis commands past their deadline.",
          c.timeouts.load());
  counter(out, "portico_redis_breaker_trips_total",
          "Times a Redis node's breaker opened after repeated timeouts.", c.breaker_trips.load());
  counter(out, "portico_redis_moved_total", "Redis Cluster MOVED redirects followed.",
          c.moved.load());
  counter(out, "portico_redis_ask_total", "Redis Cluster ASK redirects followed.", c.ask.load());
  counter(out, "portico_redis_lock_waits_total",
          "Misses that waited on another edge's fill (fleet lock).", s.lock_waits.load());
  counter(out, "portico_redis_lock_wait_hits_total",
          "Waits on another edge's fill that ended with its object.", s.lock_wait_hits.load());
  counter(out, "portico_redis_lock_extensions_total",
          "Fleet locks renewed by their holder while its fill ran.", s.lock_extensions.load());
  counter(out, "portico_redis_resolve_failures_total",
          "Failed resolutions of a Redis node's host name.", c.resolve_failures.load());
  gauge(out, "portico_redis_nodes_ready", "Redis connections up (over every worker).",
        c.nodes_ready.load());
  gauge(out, "portico_redis_breaker_open", "1 when some Redis node is down or its breaker is open.",
        std::string_view(breaker_state()) == "closed" ? 0 : 1);
}

std::string cache_stats_json(Server& server) {
  const cache::StoreStats& st = server.cache().stats();
  std::string out = "{\"local\":{\"objects\":" + std::to_string(st.objects.load()) +
                    ",\"bytes\":" + std::to_string(st.bytes.load()) +
                    ",\"inserts\":" + std::to_string(st.inserts.load()) +
                    ",\"evictions\":" + std::to_string(st.evictions.load()) +
                    ",\"rejected\":" + std::to_string(st.rejected.load()) +
                    ",\"invalidated\":" + std::to_string(st.invalidated.load()) +
                    ",\"max_object_size\":" + std::to_string(server.cache().max_object_bytes()) +
                    "},\"redis\":";
  SharedTier* tier = server.shared_tier();
  out += tier != nullptr ? tier->stats_json() : "null";
  out += "}\n";
  return out;
}

}  // namespace portico::proxy
