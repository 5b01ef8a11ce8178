#include "cache/redis_client.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <system_error>
#include <thread>

#include "core/log.h"

namespace portico::cache {
namespace {

constexpr int kSlots = 16384;
constexpr int kMaxRedirects = 5;
// CLUSTER SLOTS at most this often, however many MOVED replies arrive.
constexpr auto kRefreshInterval = std::chrono::milliseconds(100);
// While a slot owner is down (failover in progress), how often the map is read again.
constexpr auto kDownRefreshInterval = std::chrono::milliseconds(1000);
// Setup replies (AUTH, SELECT, PING) carry these tags as privdata.
constexpr uintptr_t kSetupStep = 1;
constexpr uintptr_t kSetupPing = 2;

void* id_to_ptr(uint64_t id) { return reinterpret_cast<void*>(static_cast<uintptr_t>(id)); }
uint64_t ptr_to_id(void* p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); }

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::String;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::Status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::Error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::Integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::Array;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::Nil;
      break;
  }
  return out;
}

core::Error failure(core::ErrorKind kind, std::string detail) {
  return core::Error::make(kind, core::Side::Upstream, std::move(detail), true);
}

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381".
bool parse_redirect(std::string_view e, int& slot, std::string& host, uint16_t& port) {
  size_t sp1 = e.find(' ');
  if (sp1 == std::string_view::npos) return false;
  size_t sp2 = e.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return false;
  std::string_view slot_text = e.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view addr = e.substr(sp2 + 1);
  size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos) return false;
  auto [p1, e1] = std::from_chars(slot_text.data(), slot_text.data() + slot_text.size(), slot);
  unsigned port_value = 0;
  std::string_view port_text = addr.substr(colon + 1);
  auto [p2, e2] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port_value);
  if (e1 != std::errc() || e2 != std::errc() || slot < 0 || slot >= kSlots || port_value == 0 ||
      port_value > 65535) {
    return false;
  }
  host = std::string(addr.substr(0, colon));
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  port = static_cast<uint16_t>(port_value);
  return true;
}

bool ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// getaddrinfo (blocking: helper threads only). Returns "" and the addresses, or an error.
std::string system_resolve(const std::string& host, std::vector<std::string>& out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) return ::gai_strerror(rc);
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* addr = nullptr;
    if (a->ai_family == AF_INET) {
      addr = &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr;
    } else if (a->ai_family == AF_INET6) {
      addr = &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr;
    }
    if (addr == nullptr || ::inet_ntop(a->ai_family, addr, text, sizeof text) == nullptr) continue;
    if (std::find(out.begin(), out.end(), text) == out.end()) out.emplace_back(text);
  }
  ::freeaddrinfo(res);
  return out.empty() ? "no addresses" : "";
}

}  // namespace

// What helper threads resolving host names share with the client: they post their answer to
// `loop` only while the client lives (the destructor clears both under the mutex).
struct RedisClient::Resolver {
  std::mutex mu;
  core::Loop* loop = nullptr;
  RedisClient* client = nullptr;
};

// A libevent timer with microsecond resolution (core::Timer's common timeouts suit fixed
// durations; deadlines here vary).
class RedisClient::EvTimer {
 public:
  EvTimer(core::Loop& loop, std::function<void()> cb) : cb_(std::move(cb)) {
    ev_ = evtimer_new(loop.base(), &EvTimer::fire, this);
  }
  ~EvTimer() { event_free(ev_); }
  EvTimer(const EvTimer&) = delete;
  EvTimer& operator=(const EvTimer&) = delete;
  void arm(std::chrono::microseconds after) {
    if (after.count() < 0) after = std::chrono::microseconds(0);
    timeval tv{static_cast<time_t>(after.count() / 1'000'000),
               static_cast<suseconds_t>(after.count() % 1'000'000)};
    evtimer_add(ev_, &tv);
  }
  void cancel() { evtimer_del(ev_); }
  bool armed() const { return evtimer_pending(ev_, nullptr) != 0; }

 private:
  static void fire(evutil_socket_t /*fd*/, short /*what*/, void* arg) {
    static_cast<EvTimer*>(arg)->cb_();
  }
  event* ev_;
  std::function<void()> cb_;
};

struct RedisClient::Node {
  enum class State : uint8_t { Down, Connecting, Ready };
  RedisClient* client = nullptr;
  std::string host;
  uint16_t port = 0;
  std::string name;                // host:port, for logs
  bool literal = false;            // `host` is an IP address (no resolving)
  std::vector<std::string> addrs;  // `host`'s addresses (a name), tried in turn
  size_t next_addr = 0;
  std::string addr;              // the address connected (or being connected) to
  uint64_t resolving = 0;        // the resolution in flight (0: none)
  bool resolve_failing = false;  // logged once per streak
  State state = State::Down;
  redisAsyncContext* ac = nullptr;
  int failures = 0;  // consecutive timeouts / failures while ready
  std::chrono::milliseconds backoff{0};
  bool counted_ready = false;
  bool owns_slots = false;
  bool was_ready = false;
  std::unique_ptr<EvTimer> retry;
  std::unique_ptr<EvTimer> connect_deadline;
};

struct RedisClient::Command {
  uint64_t id = 0;
  std::string key;
  RedisArgs args;
  RedisCallback cb;
  Clock::time_point deadline;
  Node* node = nullptr;  // where it was last sent
  int redirects = 0;
};

struct RedisClient::Subscriber {
  RedisClient* client = nullptr;
  std::string channel;
  std::function<void(std::string_view)> on_message;
  std::function<void()> on_subscribed;
  std::function<void()> on_lost;
  redisAsyncContext* ac = nullptr;
  size_t next_node = 0;
  std::chrono::milliseconds backoff{0};
  bool subscribed = false;
  std::unique_ptr<EvTimer> retry;
  std::unique_ptr<EvTimer> connect_deadline;
};

RedisClient::RedisClient(core::Loop& loop, RedisClientOptions options, RedisClientStats* stats)
    : loop_(loop), options_(std::move(options)), stats_(stats) {
  deadline_timer_ = std::make_unique<EvTimer>(loop_, [this] { on_deadlines(); });
  deferred_timer_ = std::make_unique<EvTimer>(loop_, [this] { run_deferred(); });
  refresh_timer_ = std::make_unique<EvTimer>(loop_, [this] { refresh_slots(); });
  if (options_.cluster) slots_.assign(kSlots, nullptr);
  resolver_ = std::make_shared<Resolver>();
  resolver_->loop = &loop_;
  resolver_->client = this;
}

RedisClient::~RedisClient() {
  closing_ = true;  // hiredis runs pending callbacks with NULL replies: they must do nothing
  {
    std::lock_guard<std::mutex> g(resolver_->mu);
    resolver_->loop = nullptr;
    resolver_->client = nullptr;
  }
  for (auto& n : nodes_) {
    if (n->ac != nullptr) {
      redisAsyncContext* ac = n->ac;
      n->ac = nullptr;
      redisAsyncFree(ac);
    }
    if (n->counted_ready) stats_->nodes_ready.fetch_sub(1, std::memory_order_relaxed);
    stats_->nodes_known.fetch_sub(1, std::memory_order_relaxed);
  }
  if (sub_ && sub_->ac != nullptr) {
    redisAsyncContext* ac = sub_->ac;
    sub_->ac = nullptr;
    redisAsyncFree(ac);
  }
}

void RedisClient::start() {
  if (started_) return;
  started_ = true;
  for (const config::RedisAddress& a : options_.seeds) node_named(a.host, a.port);
}

uint16_t RedisClient::hash_slot(std::string_view key) {
  size_t open = key.find('{');
  if (open != std::string_view::npos) {
    size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  uint16_t crc = 0;
  for (char ch : key) {
    crc = static_cast<uint16_t>(crc ^ (static_cast<uint16_t>(static_cast<uint8_t>(ch)) << 8));
    for (int i = 0; i < 8; ++i) {
      crc = (crc & 0x8000) != 0 ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                                : static_cast<uint16_t>(crc << 1);
    }
  }
  return static_cast<uint16_t>(crc % kSlots);
}

// ---- nodes ----

RedisClient::Node* RedisClient::node_named(const std::string& host, uint16_t port) {
  for (auto& n : nodes_) {
    if (n->port == port && n->host == host) return n.get();
  }
  auto n = std::make_unique<Node>();
  n->client = this;
  n->host = host;
  n->port = port;
  n->name =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  n->literal = ip_literal(host);
  Node* raw = n.get();
  n->retry = std::make_unique<EvTimer>(loop_, [this, raw] { connect(*raw); });
  n->connect_deadline =
      std::make_unique<EvTimer>(loop_, [this, raw] { drop(*raw, "connect timed out"); });
  nodes_.push_back(std::move(n));
  stats_->nodes_known.fetch_add(1, std::memory_order_relaxed);
  connect(*raw);
  return raw;
}

RedisClient::Node* RedisClient::node_for(std::string_view key) const {
  if (nodes_.empty()) return nullptr;
  if (!options_.cluster) return nodes_[0].get();
  if (!key.empty() && slots_loaded_) {
    if (Node* n = slots_[hash_slot(key)]) return n;
  }
  for (const auto& n : nodes_) {
    if (n->state == Node::State::Ready) return n.get();
  }
  return nodes_[0].get();
}

void RedisClient::connect(Node& n) {
  if (closing_ || n.ac != nullptr || n.resolving != 0) return;
  n.state = Node::State::Connecting;
  if (!n.literal && n.next_addr >= n.addrs.size()) {
    resolve(n);  // connects when the answer is back
    return;
  }
  n.addr = n.literal ? n.host : n.addrs[n.next_addr++];
  redisAsyncContext* ac = redisAsyncConnect(n.addr.c_str(), n.port);
  if (ac == nullptr || ac->err != 0) {
    PORTICO_DEBUG("redis %s: %s", n.name.c_str(), ac ? ac->errstr : "out of memory");
    if (ac != nullptr) redisAsyncFree(ac);
    mark_down(n, "connect failed");
    return;
  }
  ac->data = &n;
  redisEnableKeepAlive(&ac->c);
  redisLibeventAttach(ac, loop_.base());
  redisAsyncSetConnectCallback(ac, &RedisClient::on_connect_cb);
  redisAsyncSetDisconnectCallback(ac, &RedisClient::on_disconnect_cb);
  n.ac = ac;
  // AUTH, SELECT and a PING are pipelined right away; the node takes commands once PING answers.
  if (!options_.password.empty()) {
    const char* argv[] = {"AUTH", options_.password.c_str()};
    size_t lens[] = {4, options_.password.size()};
    redisAsyncCommandArgv(ac, &RedisClient::on_setup_cb, reinterpret_cast<void*>(kSetupStep), 2,
                          argv, lens);
  }
  if (options_.db != 0 && !options_.cluster) {
    std::string db = std::to_string(options_.db);
    const char* argv[] = {"SELECT", db.c_str()};
    size_t lens[] = {6, db.size()};
    redisAsyncCommandArgv(ac, &RedisClient::on_setup_cb, reinterpret_cast<void*>(kSetupStep), 2,
                          argv, lens);
  }
  redisAsyncCommand(ac, &RedisClient::on_setup_cb, reinterpret_cast<void*>(kSetupPing), "PING");
  n.connect_deadline->arm(options_.connect_timeout);
}

// getaddrinfo may wait seconds on a DNS server: it runs on a helper thread, and the node stays
// Connecting (commands to it fail fast) until the answer is posted back. No connect deadline
// meanwhile: the resolver has its own timeouts, and one resolution per node is in flight.
void RedisClient::resolve(Node& n) {
  uint64_t token = next_resolve_++;
  n.resolving = token;
  stats_->resolves.fetch_add(1, std::memory_order_relaxed);
  Node* node = &n;
  try {
    std::thread([r = resolver_, host = n.host, token, node, fn = options_.resolve_for_test] {
      std::vector<std::string> addrs;
      std::string error = fn ? fn(host, addrs) : system_resolve(host, addrs);
      if (error.empty() && addrs.empty()) error = "no addresses";
      std::lock_guard<std::mutex> g(r->mu);
      if (r->loop == nullptr) return;
      r->loop->post([r, token, node, addrs = std::move(addrs), error = std::move(error)]() mutable {
        RedisClient* self = nullptr;
        {
          std::lock_guard<std::mutex> g2(r->mu);
          self = r->client;
        }
        if (self != nullptr) self->on_resolved(*node, token, std::move(addrs), error);
      });
    }).detach();
  } catch (const std::system_error& e) {
    n.resolving = 0;
    on_resolved(n, 0, {}, e.what());
  }
}

void RedisClient::on_resolved(Node& n, uint64_t token, std::vector<std::string> addrs,
                              const std::string& error) {
  if (closing_ || n.resolving != token) return;  // cancelled: the node went down meanwhile
  n.resolving = 0;
  if (!error.empty()) {
    stats_->resolve_failures.fetch_add(1, std::memory_order_relaxed);
    if (!n.resolve_failing)
      PORTICO_WARN("redis %s: cannot resolve: %s", n.name.c_str(), error.c_str());
    n.resolve_failing = true;
    mark_down(n, "host name not resolved");
    return;
  }
  if (n.resolve_failing) PORTICO_INFO("redis %s: resolved again", n.name.c_str());
  n.resolve_failing = false;
  PORTICO_DEBUG("redis %s: resolved to %s%s", n.name.c_str(), addrs[0].c_str(),
                addrs.size() > 1 ? " (and more)" : "");
  n.addrs = std::move(addrs);
  n.next_addr = 0;
  n.state = Node::State::Down;
  connect(n);
}

void RedisClient::drop(Node& n, const char* why) {
  // Down first: freeing runs the pending callbacks, whose owners may send new commands, and
  // those must fail fast rather than reach a context being freed.
  redisAsyncContext* ac = n.ac;
  n.ac = nullptr;
  mark_down(n, why);
  if (ac != nullptr) redisAsyncFree(ac);
}

void RedisClient::mark_down(Node& n, const char* why) {
  if (closing_) return;
  bool was_ready = n.state == Node::State::Ready;
  n.state = Node::State::Down;
  n.failures = 0;
  n.resolving = 0;  // an answer still on its way is ignored
  // A name's addresses are looked up again once every one failed (connect() does) or after a
  // connection that was up is lost: the name may point elsewhere now.
  if (was_ready) n.addrs.clear();
  if (n.counted_ready) {
    n.counted_ready = false;
    stats_->nodes_ready.fetch_sub(1, std::memory_order_relaxed);
  }
  n.connect_deadline->cancel();
  n.backoff =
      n.backoff.count() == 0 ? options_.backoff_min : std::min(n.backoff * 2, options_.backoff_max);
  n.retry->arm(n.backoff);
  if (was_ready) {
    PORTICO_WARN("redis %s: %s; reconnecting", n.name.c_str(), why);
  } else {
    PORTICO_DEBUG("redis %s: %s; retry in %lld ms", n.name.c_str(), why,
                  static_cast<long long>(n.backoff.count()));
  }
  if (options_.cluster) refresh_slots();
}

void RedisClient::node_ready(Node& n) {
  n.state = Node::State::Ready;
  n.failures = 0;
  n.backoff = std::chrono::milliseconds(0);
  n.connect_deadline->cancel();
  if (!n.counted_ready) {
    n.counted_ready = true;
    stats_->nodes_ready.fetch_add(1, std::memory_order_relaxed);
  }
  stats_->connects.fetch_add(1, std::memory_order_relaxed);
  if (n.was_ready) {
    PORTICO_INFO("redis %s: reconnected", n.name.c_str());
  } else {
    PORTICO_DEBUG("redis %s: connected", n.name.c_str());
  }
  n.was_ready = true;
  ever_ready_ = true;
  if (options_.cluster) refresh_slots();
  if (sub_ && sub_->ac == nullptr && !sub_->retry->armed()) sub_connect();
}

void RedisClient::on_connect_cb(const redisAsyncContext* ac, int status) {
  auto* n = static_cast<Node*>(ac->data);
  RedisClient* self = n->client;
  if (self->closing_ || n->ac != ac || status == REDIS_OK) return;
  // hiredis frees the context after this callback; it must not be touched again.
  n->ac = nullptr;
  self->mark_down(*n, ac->errstr[0] != '\0' ? ac->errstr : "connect failed");
}

void RedisClient::on_disconnect_cb(const redisAsyncContext* ac, int /*status*/) {
  auto* n = static_cast<Node*>(ac->data);
  RedisClient* self = n->client;
  if (self->closing_ || n->ac != ac) return;
  n->ac = nullptr;
  self->mark_down(*n, "connection lost");
}

void RedisClient::on_setup_cb(redisAsyncContext* ac, void* r, void* privdata) {
  auto* n = static_cast<Node*>(ac->data);
  RedisClient* self = n->client;
  if (self->closing_ || n->ac != ac || r == nullptr) return;
  auto* reply = static_cast<redisReply*>(r);
  if (reply->type == REDIS_REPLY_ERROR) {
    PORTICO_WARN("redis %s: %.*s", n->name.c_str(), static_cast<int>(reply->len), reply->str);
    self->drop(*n, "setup failed");  // inside a callback: hiredis frees after it returns
    return;
  }
  if (reinterpret_cast<uintptr_t>(privdata) == kSetupPing) self->node_ready(*n);
}

// ---- commands ----

void RedisClient::command(std::string_view key, RedisArgs args, std::chrono::milliseconds timeout,
                          RedisCallback cb) {
  auto c = std::make_unique<Command>();
  c->id = next_id_++;
  c->key = std::string(key);
  c->args = std::move(args);
  c->cb = std::move(cb);
  c->deadline = Clock::now() + timeout;
  Command& ref = *c;
  commands_.emplace(ref.id, std::move(c));
  deadlines_.emplace(ref.deadline, ref.id);
  arm_deadlines();
  stats_->commands.fetch_add(1, std::memory_order_relaxed);
  Node* n = node_for(ref.key);
  if (n == nullptr || n->state != Node::State::Ready) {
    stats_->failures.fetch_add(1, std::memory_order_relaxed);
    fail_soon(ref.id, failure(core::ErrorKind::ConnectFailed, "redis node not ready"));
    if (options_.cluster && n != nullptr && n->state == Node::State::Down) refresh_slots();
    return;
  }
  send(ref, *n);
}

void RedisClient::send(Command& c, Node& n) {
  c.node = &n;
  if (n.ac == nullptr) {
    fail_soon(c.id, failure(core::ErrorKind::ConnectFailed, "redis node not ready"));
    return;
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(c.args.size());
  lens.reserve(c.args.size());
  for (const std::string& a : c.args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  int rc = redisAsyncCommandArgv(n.ac, &RedisClient::on_reply_cb, id_to_ptr(c.id),
                                 static_cast<int>(argv.size()), argv.data(), lens.data());
  if (rc != REDIS_OK) fail_soon(c.id, failure(core::ErrorKind::ConnectFailed, "redis send failed"));
}

bool RedisClient::ready(std::string_view key) const {
  Node* n = node_for(key);
  return n != nullptr && n->state == Node::State::Ready;
}

bool RedisClient::all_ready() const {
  if (nodes_.empty()) return false;
  if (!options_.cluster) return nodes_[0]->state == Node::State::Ready;
  if (!slots_loaded_) return false;
  for (const auto& n : nodes_) {
    if (n->owns_slots && n->state != Node::State::Ready) return false;
  }
  return true;
}

const char* RedisClient::breaker_state() const {
  if (!ever_ready_) return "connecting";
  return all_ready() ? "closed" : "open";
}

void RedisClient::on_reply_cb(redisAsyncContext* ac, void* r, void* privdata) {
  auto* n = static_cast<Node*>(ac->data);
  RedisClient* self = n->client;
  if (self->closing_) return;
  uint64_t id = ptr_to_id(privdata);
  if (r == nullptr) {
    // hiredis is freeing this context (connection lost): the node is down from now on.
    if (n->ac == ac) {
      n->ac = nullptr;
      self->mark_down(*n, "connection lost");
    }
    self->on_reply(*n, id, nullptr, true);
    return;
  }
  if (!self->commands_.contains(id)) return;  // timed out already
  RedisReply reply = convert(static_cast<redisReply*>(r));
  self->on_reply(*n, id, &reply, false);
}

void RedisClient::on_reply(Node& n, uint64_t id, const RedisReply* reply, bool connection_lost) {
  auto it = commands_.find(id);
  if (it == commands_.end()) return;
  Command& c = *it->second;
  if (connection_lost) {
    stats_->failures.fetch_add(1, std::memory_order_relaxed);
    complete(id, failure(core::ErrorKind::ConnectFailed, "redis connection lost"));
    return;
  }
  n.failures = 0;
  if (options_.cluster && reply->is_error()) {
    std::string_view e = reply->str;
    bool moved = e.starts_with("MOVED ");
    bool ask = e.starts_with("ASK ");
    if (moved || ask) {
      int slot = 0;
      std::string host;
      uint16_t port = 0;
      if (!parse_redirect(e, slot, host, port)) {
        complete(id, failure(core::ErrorKind::StoreFailed, "bad redirect: " + std::string(e)));
        return;
      }
      if (host.empty()) host = n.host;
      Node* target = node_named(host, port);
      if (moved) {
        stats_->moved.fetch_add(1, std::memory_order_relaxed);
        slots_[static_cast<size_t>(slot)] = target;
        target->owns_slots = true;
        refresh_slots();
      } else {
        stats_->ask.fetch_add(1, std::memory_order_relaxed);
      }
      if (++c.redirects > kMaxRedirects || Clock::now() >= c.deadline) {
        complete(id, failure(core::ErrorKind::StoreFailed, "too many redirects"));
        return;
      }
      if (target->state != Node::State::Ready) {
        complete(id, failure(core::ErrorKind::ConnectFailed, "redis node not ready"));
        return;
      }
      if (ask) redisAsyncCommand(target->ac, nullptr, nullptr, "ASKING");
      send(c, *target);
      return;
    }
    if (e.starts_with("CLUSTERDOWN") || e.starts_with("TRYAGAIN")) refresh_slots();
  }
  RedisReply out = *reply;
  complete(id, std::move(out));
}

void RedisClient::complete(uint64_t id, core::Result<RedisReply> result) {
  auto it = commands_.find(id);
  if (it == commands_.end()) return;
  RedisCallback cb = std::move(it->second->cb);
  commands_.erase(it);
  if (cb) cb(std::move(result));
}

void RedisClient::fail_soon(uint64_t id, core::Error error) {
  deferred_.emplace_back(id, std::move(error));
  if (!deferred_timer_->armed()) deferred_timer_->arm(std::chrono::microseconds(0));
}

void RedisClient::run_deferred() {
  std::vector<std::pair<uint64_t, core::Error>> work;
  work.swap(deferred_);
  for (auto& [id, error] : work) complete(id, std::move(error));
}

void RedisClient::arm_deadlines() {
  if (deadlines_.empty()) return;
  Clock::time_point first = deadlines_.top().first;
  if (deadline_timer_->armed() && deadline_armed_for_ <= first) return;
  deadline_armed_for_ = first;
  deadline_timer_->arm(std::chrono::duration_cast<std::chrono::microseconds>(
      first - Clock::now() + std::chrono::microseconds(1)));
}

void RedisClient::on_deadlines() {
  Clock::time_point now = Clock::now();
  while (!deadlines_.empty() && deadlines_.top().first <= now) {
    uint64_t id = deadlines_.top().second;
    deadlines_.pop();
    auto it = commands_.find(id);
    if (it == commands_.end()) continue;
    Node* n = it->second->node;
    stats_->timeouts.fetch_add(1, std::memory_order_relaxed);
    complete(id, failure(core::ErrorKind::Timeout, "redis timed out"));
    // The breaker: a node that keeps timing out is dropped (its other commands fail at once) and
    // takes no commands until a reconnect answers PING.
    if (n != nullptr && n->state == Node::State::Ready &&
        ++n->failures >= options_.breaker_failures) {
      stats_->breaker_trips.fetch_add(1, std::memory_order_relaxed);
      drop(*n, "breaker open after repeated timeouts");
    }
  }
  arm_deadlines();
}

// ---- cluster slot map ----

void RedisClient::refresh_slots() {
  if (!options_.cluster || closing_) return;
  if (refreshing_) {
    refresh_again_ = true;
    return;
  }
  Clock::time_point now = Clock::now();
  if (now - last_refresh_ < kRefreshInterval) {
    if (!refresh_timer_->armed()) {
      refresh_timer_->arm(std::chrono::duration_cast<std::chrono::microseconds>(
          last_refresh_ + kRefreshInterval - now));
    }
    return;
  }
  Node* from = nullptr;
  for (auto& n : nodes_) {
    if (n->state == Node::State::Ready) {
      from = n.get();
      break;
    }
  }
  if (from == nullptr) return;  // node_ready() asks again
  refreshing_ = true;
  refresh_again_ = false;
  last_refresh_ = now;
  command({}, {"CLUSTER", "SLOTS"}, options_.connect_timeout, [this](core::Result<RedisReply> r) {
    refreshing_ = false;
    if (r.ok() && r->type == RedisReply::Type::Array) {
      apply_slots(*r);
    } else {
      refresh_again_ = true;
    }
    if (refresh_again_) {
      refresh_slots();
    } else if (!all_ready() && !refresh_timer_->armed()) {
      // A slot owner is down: keep looking until the cluster promotes a replica.
      refresh_timer_->arm(kDownRefreshInterval);
    }
  });
}

void RedisClient::apply_slots(const RedisReply& reply) {
  std::vector<Node*> map(kSlots, nullptr);
  std::vector<Node*> owners;
  for (const RedisReply& range : reply.elements) {
    if (range.type != RedisReply::Type::Array || range.elements.size() < 3) continue;
    const RedisReply& master = range.elements[2];
    if (master.type != RedisReply::Type::Array || master.elements.size() < 2) continue;
    int64_t first = range.elements[0].integer;
    int64_t last = range.elements[1].integer;
    std::string host = master.elements[0].str;
    int64_t port = master.elements[1].integer;
    if (first < 0 || last >= kSlots || first > last || port <= 0 || port > 65535) continue;
    if (host.empty() && !options_.seeds.empty()) host = options_.seeds[0].host;
    Node* n = node_named(host, static_cast<uint16_t>(port));
    owners.push_back(n);
    for (int64_t s = first; s <= last; ++s) map[static_cast<size_t>(s)] = n;
  }
  for (auto& n : nodes_) {
    n->owns_slots = std::find(owners.begin(), owners.end(), n.get()) != owners.end();
  }
  slots_.swap(map);
  slots_loaded_ = true;
  stats_->slot_refreshes.fetch_add(1, std::memory_order_relaxed);
}

// ---- pub/sub ----

void RedisClient::subscribe(std::string channel, std::function<void(std::string_view)> on_message,
                            std::function<void()> on_subscribed, std::function<void()> on_lost) {
  sub_ = std::make_unique<Subscriber>();
  sub_->client = this;
  sub_->channel = std::move(channel);
  sub_->on_message = std::move(on_message);
  sub_->on_subscribed = std::move(on_subscribed);
  sub_->on_lost = std::move(on_lost);
  sub_->retry = std::make_unique<EvTimer>(loop_, [this] { sub_connect(); });
  sub_->connect_deadline = std::make_unique<EvTimer>(loop_, [this] { sub_lost(true); });
  sub_connect();
}

void RedisClient::sub_connect() {
  Subscriber& s = *sub_;
  if (closing_ || s.ac != nullptr || nodes_.empty()) return;
  // Any ready node will do (a cluster forwards PUBLISH to every node), at the address its
  // connection uses, so the subscriber never resolves a name. None ready: node_ready() calls
  // again.
  const Node* target = nullptr;
  for (size_t i = 0; i < nodes_.size() && target == nullptr; ++i) {
    const Node& n = *nodes_[(s.next_node + i) % nodes_.size()];
    if (n.state == Node::State::Ready && !n.addr.empty()) {
      target = &n;
      s.next_node += i;
    }
  }
  if (target == nullptr) return;
  redisAsyncContext* ac = redisAsyncConnect(target->addr.c_str(), target->port);
  if (ac == nullptr || ac->err != 0) {
    if (ac != nullptr) redisAsyncFree(ac);
    sub_lost(false);
    return;
  }
  ac->data = &s;
  redisEnableKeepAlive(&ac->c);
  redisLibeventAttach(ac, loop_.base());
  redisAsyncSetConnectCallback(ac, &RedisClient::on_sub_connect_cb);
  redisAsyncSetDisconnectCallback(ac, &RedisClient::on_sub_disconnect_cb);
  s.ac = ac;
  if (!options_.password.empty()) {
    const char* argv[] = {"AUTH", options_.password.c_str()};
    size_t lens[] = {4, options_.password.size()};
    redisAsyncCommandArgv(ac, nullptr, nullptr, 2, argv, lens);
  }
  const char* argv[] = {"SUBSCRIBE", s.channel.c_str()};
  size_t lens[] = {9, s.channel.size()};
  redisAsyncCommandArgv(ac, &RedisClient::on_sub_cb, &s, 2, argv, lens);
  s.connect_deadline->arm(options_.connect_timeout);
}

void RedisClient::sub_lost(bool free_context) {
  Subscriber& s = *sub_;
  if (closing_) return;
  if (free_context && s.ac != nullptr) {
    redisAsyncContext* ac = s.ac;
    s.ac = nullptr;
    redisAsyncFree(ac);
  }
  s.ac = nullptr;
  bool was_subscribed = s.subscribed;
  if (was_subscribed)
    PORTICO_WARN("redis: subscription to %s lost; reconnecting", s.channel.c_str());
  s.subscribed = false;
  s.connect_deadline->cancel();
  ++s.next_node;
  s.backoff =
      s.backoff.count() == 0 ? options_.backoff_min : std::min(s.backoff * 2, options_.backoff_max);
  s.retry->arm(s.backoff);
  if (was_subscribed && s.on_lost) s.on_lost();
}

void RedisClient::on_sub_connect_cb(const redisAsyncContext* ac, int status) {
  auto* s = static_cast<Subscriber*>(ac->data);
  if (s->client->closing_ || s->ac != ac || status == REDIS_OK) return;
  s->ac = nullptr;  // hiredis frees it
  s->client->sub_lost(false);
}

void RedisClient::on_sub_disconnect_cb(const redisAsyncContext* ac, int /*status*/) {
  auto* s = static_cast<Subscriber*>(ac->data);
  if (s->client->closing_ || s->ac != ac) return;
  s->ac = nullptr;
  s->client->sub_lost(false);
}

void RedisClient::on_sub_cb(redisAsyncContext* ac, void* r, void* privdata) {
  auto* s = static_cast<Subscriber*>(privdata);
  if (s->client->closing_ || s->ac != ac || r == nullptr) return;
  auto* reply = static_cast<redisReply*>(r);
  if (reply->type == REDIS_REPLY_ERROR) {
    PORTICO_WARN("redis: SUBSCRIBE %s: %.*s", s->channel.c_str(), static_cast<int>(reply->len),
                 reply->str);
    s->client->sub_lost(true);  // inside a callback: hiredis frees after it returns
    return;
  }
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
  std::string_view kind(reply->element[0]->str, reply->element[0]->len);
  if (kind == "subscribe") {
    s->subscribed = true;
    s->backoff = std::chrono::milliseconds(0);
    s->connect_deadline->cancel();
    if (s->on_subscribed) s->on_subscribed();
  } else if (kind == "message" && reply->element[2]->type == REDIS_REPLY_STRING) {
    if (s->on_message)
      s->on_message(std::string_view(reply->element[2]->str, reply->element[2]->len));
  }
}

void RedisClient::drop_connections_for_test() {
  for (auto& n : nodes_) drop(*n, "dropped for test");
}

}  // namespace portico::cache
