#include "cache/invalidation_log.h"

#include <algorithm>

namespace portico::cache {

bool InvalidationLog::path_matches(std::string_view pattern, std::string_view path) {
  if (pattern.ends_with('*')) return path.starts_with(pattern.substr(0, pattern.size() - 1));
  return path == pattern;
}

InvalidationLog::Stamp InvalidationLog::stamp(std::string_view distribution) const {
  std::lock_guard lock(mu_);
  Stamp s;
  auto it = dists_.find(distribution);
  if (it == dists_.end() || !it->second.synced) return s;
  s.known = true;
  s.epoch = it->second.epoch;
  s.generation = it->second.generation;
  return s;
}

bool InvalidationLog::admits(std::string_view distribution, std::string_view path,
                             std::string_view epoch, uint64_t generation) const {
  std::lock_guard lock(mu_);
  auto it = dists_.find(distribution);
  if (it == dists_.end() || !it->second.synced) return false;
  const Dist& d = it->second;
  if (epoch != d.epoch || generation < d.floor) return false;
  if (auto p = pending_.find(distribution); p != pending_.end()) {
    for (const Pending& e : p->second) {
      if (e.generation != 0 && generation >= e.generation) continue;
      for (const std::string& pattern : e.paths) {
        if (path_matches(pattern, path)) return false;
      }
    }
  }
  // Newest first: an entry stored recently has few (usually no) later invalidations to check.
  for (auto e = d.entries.rbegin(); e != d.entries.rend() && e->generation > generation; ++e) {
    for (const std::string& p : e->paths) {
      if (path_matches(p, path)) return false;
    }
  }
  return true;
}

std::vector<InvalidationLog::Entry> InvalidationLog::apply(std::string_view distribution,
                                                           std::string_view epoch, uint64_t floor,
                                                           std::vector<Entry> entries) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.generation < b.generation; });
  std::lock_guard lock(mu_);
  auto it = dists_.find(distribution);
  if (it == dists_.end()) it = dists_.emplace(std::string(distribution), Dist{}).first;
  Dist& d = it->second;
  if (d.epoch != epoch) {
    d = Dist{};
    d.epoch = std::string(epoch);
    if (auto p = pending_.find(distribution); p != pending_.end()) {
      std::erase_if(p->second, [](const Pending& e) { return e.generation != 0; });
    }
  }
  d.synced = true;
  d.floor = std::max(d.floor, floor);
  std::vector<Entry> applied;
  for (Entry& e : entries) {
    if (e.generation <= d.generation) continue;
    d.generation = e.generation;
    applied.push_back(e);
    d.entries.push_back(std::move(e));
  }
  while (d.entries.size() > keep_) {
    d.floor = std::max(d.floor, d.entries.front().generation);
    d.entries.pop_front();
  }
  drop_covered(distribution, d, applied);
  return applied;
}

void InvalidationLog::drop_covered(std::string_view distribution, const Dist& d,
                                   const std::vector<Entry>& applied) {
  auto p = pending_.find(distribution);
  if (p == pending_.end()) return;
  std::erase_if(p->second, [&](const Pending& e) {
    if (e.generation != 0 && e.generation <= d.generation) return true;
    return std::any_of(applied.begin(), applied.end(),
                       [&](const Entry& a) { return a.id == e.id; });
  });
  if (p->second.empty()) pending_.erase(p);
}

void InvalidationLog::add_pending(std::string_view distribution, std::string_view id,
                                  std::vector<std::string> paths) {
  std::lock_guard lock(mu_);
  auto p = pending_.find(distribution);
  if (p == pending_.end())
    p = pending_.emplace(std::string(distribution), std::vector<Pending>{}).first;
  p->second.push_back(Pending{std::string(id), std::move(paths), 0});
}

void InvalidationLog::settle(std::string_view distribution, std::string_view id,
                             uint64_t generation) {
  std::lock_guard lock(mu_);
  auto p = pending_.find(distribution);
  if (p == pending_.end()) return;
  for (Pending& e : p->second) {
    if (e.id == id) e.generation = generation;
  }
  auto it = dists_.find(distribution);
  if (it != dists_.end()) drop_covered(distribution, it->second, {});
}

size_t InvalidationLog::pending(std::string_view distribution) const {
  std::lock_guard lock(mu_);
  auto p = pending_.find(distribution);
  return p == pending_.end() ? 0 : p->second.size();
}

uint64_t InvalidationLog::generation(std::string_view distribution) const {
  std::lock_guard lock(mu_);
  auto it = dists_.find(distribution);
  return it == dists_.end() ? 0 : it->second.generation;
}

std::string InvalidationLog::epoch(std::string_view distribution) const {
  std::lock_guard lock(mu_);
  auto it = dists_.find(distribution);
  return it == dists_.end() ? std::string() : it->second.epoch;
}

void InvalidationLog::unsync(std::string_view distribution) {
  std::lock_guard lock(mu_);
  auto it = dists_.find(distribution);
  if (it != dists_.end()) it->second.synced = false;
}

bool InvalidationLog::synced(std::string_view distribution) const {
  std::lock_guard lock(mu_);
  auto it = dists_.find(distribution);
  return it != dists_.end() && it->second.synced;
}

std::string InvalidationLog::encode_paths(std::string_view id,
                                          const std::vector<std::string>& paths) {
  std::string out(id);
  for (const std::string& p : paths) {
    out += '\n';
    out += p;
  }
  return out;
}

InvalidationLog::Entry InvalidationLog::decode_paths(uint64_t generation, std::string_view member) {
  Entry e;
  e.generation = generation;
  size_t nl = member.find('\n');
  e.id = std::string(member.substr(0, nl));
  while (nl != std::string_view::npos) {
    member.remove_prefix(nl + 1);
    nl = member.find('\n');
    e.paths.emplace_back(member.substr(0, nl));
  }
  return e;
}

}  // namespace portico::cache
