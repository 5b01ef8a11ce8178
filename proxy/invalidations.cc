#include "proxy/invalidations.h"

#include <ctime>
#include <random>

#include "core/log.h"
#include "proxy/admin_json.h"
#include "proxy/response_writer.h"
#include "proxy/shared_tier.h"

namespace portico::proxy {
namespace {

// CloudFront: at most 3,000 paths per invalidation ("Invalidation maximum"), 15 with '*'.
constexpr size_t kMaxPaths = 3000;
constexpr size_t kMaxWildcardPaths = 15;
constexpr size_t kKeep = 1000;

core::Error bad(std::string detail) {
  return core::Error::make(core::ErrorKind::ParseError, core::Side::Downstream, std::move(detail));
}

std::string iso_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

std::string json_quote(std::string_view s) { return "\"" + json_escape(s) + "\""; }

}  // namespace

core::Result<const Invalidation*> Invalidations::create(std::string_view distribution,
                                                        std::string_view body) {
  core::Result<std::vector<std::string>> paths = json_string_array(body, "paths");
  if (!paths.ok()) return paths.error();
  core::Result<std::string> ref = json_string(body, "caller_reference");
  if (!ref.ok()) return ref.error();
  if (paths->empty()) return bad("\"paths\" must not be empty");
  if (paths->size() > kMaxPaths) return bad("at most 3000 paths per invalidation");
  size_t wildcards = 0;
  for (const std::string& p : *paths) {
    if (p.empty() || p[0] != '/') return bad("path " + json_quote(p) + " must start with '/'");
    for (char c : p) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return bad("path " + json_quote(p) + " must not contain control characters");
      }
    }
    size_t star = p.find('*');
    if (star != std::string::npos) {
      if (star != p.size() - 1) return bad("path " + json_quote(p) + ": '*' must be last");
      ++wildcards;
    }
  }
  if (wildcards > kMaxWildcardPaths) return bad("at most 15 paths with '*' per invalidation");
  std::string ref_key = std::string(distribution) + '\n' + *ref;
  if (!ref->empty()) {
    for (const auto& [k, id] : caller_refs_) {
      if (k == ref_key) {
        if (const Invalidation* inv = find(distribution, id)) return inv;
      }
    }
  }
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  static std::mt19937_64 rng{std::random_device{}()};
  Invalidation inv;
  inv.id = "I";
  for (int i = 0; i < 13; ++i) inv.id += kAlphabet[rng() % (sizeof kAlphabet - 1)];
  inv.distribution = distribution;
  inv.paths = std::move(paths.value());
  inv.create_time = iso_now();
  if (done_.size() >= kKeep) done_.pop_front();
  done_.push_back(std::move(inv));
  Invalidation* p = &done_.back();
  if (!ref->empty()) caller_refs_.emplace_back(ref_key, p->id);
  // This edge stops serving the paths before the POST is answered: its memory is swept now, and
  // with the Redis tier, Redis entries for them are refused until the log brings this
  // invalidation back (a viewer's next request must not get the old object from Redis while
  // the append is on its way). The status still reads InProgress in the answer, as CloudFront's
  // does; Completed follows once the append is durable (or at once, without Redis).
  for (const std::string& path : p->paths)
    p->objects_removed += store_.invalidate(distribution, path);
  if (shared_ != nullptr) shared_->log().add_pending(distribution, p->id, p->paths);
  // The id, not the pointer, is captured (the deque may drop old entries).
  loop_.post([this, id = p->id, dist = std::string(distribution)] {
    Invalidation* target = nullptr;
    for (Invalidation& i : done_) {
      if (i.id == id && i.distribution == dist) target = &i;
    }
    if (target == nullptr) return;
    if (shared_ != nullptr) {
      publish(dist, id);
      return;
    }
    target->completed = true;
    PORTICO_INFO("invalidation %s distribution=%s paths=%zu removed=%llu", id.c_str(), dist.c_str(),
                 target->paths.size(), static_cast<unsigned long long>(target->objects_removed));
  });
  return static_cast<const Invalidation*>(p);
}

Invalidations::~Invalidations() = default;

Invalidation* Invalidations::find_mutable(std::string_view distribution, std::string_view id) {
  for (Invalidation& i : done_) {
    if (i.id == id && i.distribution == distribution) return &i;
  }
  return nullptr;
}

// Appends the invalidation to the fleet's log in Redis; Completed once it is durable there.
void Invalidations::publish(const std::string& distribution, const std::string& id) {
  Invalidation* inv = find_mutable(distribution, id);
  if (inv == nullptr) {
    retries_.erase(id);
    return;
  }
  shared_->feed().append(
      distribution, id, inv->paths, [this, distribution, id](core::Result<uint64_t> r) {
        Invalidation* target = find_mutable(distribution, id);
        if (target == nullptr) {
          retries_.erase(id);
          return;
        }
        if (!r.ok()) {
          Retry& retry = retries_[id];
          if (!retry.timer) {
            retry.timer = std::make_unique<core::Timer>(
                loop_, [this, distribution, id] { publish(distribution, id); });
          } else {
            retry.backoff =
                std::min<std::chrono::milliseconds>(retry.backoff * 2, std::chrono::seconds(2));
          }
          PORTICO_WARN("invalidation %s: not yet in the Redis log (%s); retrying in %lld ms",
                       id.c_str(), r.error().detail.c_str(),
                       static_cast<long long>(retry.backoff.count()));
          retry.timer->arm(retry.backoff);
          return;
        }
        retries_.erase(id);
        shared_->log().settle(distribution, id, r.value());
        // Objects this edge took from Redis or filled since the first sweep go too.
        for (const std::string& path : target->paths) {
          target->objects_removed += store_.invalidate(distribution, path);
        }
        target->completed = true;
        PORTICO_INFO("invalidation %s distribution=%s paths=%zu removed=%llu generation=%llu",
                     id.c_str(), distribution.c_str(), target->paths.size(),
                     static_cast<unsigned long long>(target->objects_removed),
                     static_cast<unsigned long long>(r.value()));
      });
}

const Invalidation* Invalidations::find(std::string_view distribution, std::string_view id) const {
  for (const Invalidation& i : done_) {
    if (i.id == id && i.distribution == distribution) return &i;
  }
  return nullptr;
}

std::vector<const Invalidation*> Invalidations::list(std::string_view distribution) const {
  std::vector<const Invalidation*> out;
  for (auto it = done_.rbegin(); it != done_.rend(); ++it) {
    if (it->distribution == distribution) out.push_back(&*it);
  }
  return out;
}

std::string Invalidations::to_json(const Invalidation& inv) {
  std::string out = "{\"id\":" + json_quote(inv.id) +
                    ",\"status\":" + json_quote(inv.completed ? "Completed" : "InProgress") +
                    ",\"create_time\":" + json_quote(inv.create_time) + ",\"paths\":[";
  for (size_t i = 0; i < inv.paths.size(); ++i) {
    if (i) out += ',';
    out += json_quote(inv.paths[i]);
  }
  out += "]}";
  return out;
}

}  // namespace portico::proxy
