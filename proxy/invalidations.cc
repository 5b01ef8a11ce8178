#include "proxy/invalidations.h"

#include <ctime>
#include <random>

#include "core/log.h"
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

void skip_ws(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
}

// Reads a JSON string at s[i] == '"' (escapes \" \\ \/ \n \t \uXXXX for ASCII); i moves past it.
core::Result<std::string> read_string(std::string_view s, size_t& i) {
  if (i >= s.size() || s[i] != '"') return bad("expected a string");
  ++i;
  std::string out;
  while (i < s.size() && s[i] != '"') {
    char c = s[i++];
    if (static_cast<unsigned char>(c) < 0x20) return bad("control character in a string");
    if (c != '\\') {
      out += c;
      continue;
    }
    if (i >= s.size()) break;
    char e = s[i++];
    switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        if (i + 4 > s.size()) return bad("bad \\u escape");
        unsigned v = 0;
        for (int k = 0; k < 4; ++k) {
          char h = s[i++];
          v <<= 4;
          if (h >= '0' && h <= '9') {
            v |= static_cast<unsigned>(h - '0');
          } else if (h >= 'a' && h <= 'f') {
            v |= static_cast<unsigned>(h - 'a' + 10);
          } else if (h >= 'A' && h <= 'F') {
            v |= static_cast<unsigned>(h - 'A' + 10);
          } else {
            return bad("bad \\u escape");
          }
        }
        if (v >= 0x80) return bad("only ASCII \\u escapes are supported; send UTF-8");
        out += static_cast<char>(v);
        break;
      }
      default:
        return bad("bad escape in a string");
    }
  }
  if (i >= s.size()) return bad("unterminated string");
  ++i;
  return out;
}

// Finds "key": at the top level of a flat object; i is left after the ':'.
bool find_key(std::string_view s, std::string_view key, size_t& i) {
  i = 0;
  skip_ws(s, i);
  if (i >= s.size() || s[i] != '{') return false;
  ++i;
  for (;;) {
    skip_ws(s, i);
    if (i >= s.size() || s[i] == '}') return false;
    core::Result<std::string> k = read_string(s, i);
    if (!k.ok()) return false;
    skip_ws(s, i);
    if (i >= s.size() || s[i] != ':') return false;
    ++i;
    skip_ws(s, i);
    if (*k == key) return true;
    // Skip the value: a string, an array of strings, or a scalar.
    if (i < s.size() && s[i] == '"') {
      if (!read_string(s, i).ok()) return false;
    } else if (i < s.size() && s[i] == '[') {
      int depth = 0;
      while (i < s.size()) {
        if (s[i] == '"') {
          if (!read_string(s, i).ok()) return false;
          continue;
        }
        if (s[i] == '[') ++depth;
        if (s[i] == ']' && --depth == 0) {
          ++i;
          break;
        }
        ++i;
      }
    } else {
      while (i < s.size() && s[i] != ',' && s[i] != '}') ++i;
    }
    skip_ws(s, i);
    if (i < s.size() && s[i] == ',') ++i;
  }
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

core::Result<std::vector<std::string>> json_string_array(std::string_view json,
                                                         std::string_view key) {
  size_t i = 0;
  if (!find_key(json, key, i)) return bad("missing \"" + std::string(key) + "\"");
  if (i >= json.size() || json[i] != '[') return bad("\"" + std::string(key) + "\" must be a list");
  ++i;
  std::vector<std::string> out;
  for (;;) {
    skip_ws(json, i);
    if (i < json.size() && json[i] == ']') break;
    core::Result<std::string> v = read_string(json, i);
    if (!v.ok()) return v.error();
    out.push_back(std::move(v.value()));
    skip_ws(json, i);
    if (i < json.size() && json[i] == ',') {
      ++i;
      continue;
    }
    if (i < json.size() && json[i] == ']') break;
    return bad("\"" + std::string(key) + "\" must be a list of strings");
  }
  return out;
}

core::Result<std::string> json_string(std::string_view json, std::string_view key) {
  size_t i = 0;
  if (!find_key(json, key, i)) return std::string();
  return read_string(json, i);
}

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
