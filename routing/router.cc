#include "routing/router.h"

#include <algorithm>

#include "core/assert.h"

namespace portico::routing {

std::string_view normalize_host(std::string_view host, std::array<char, kMaxHostBytes>& buf) {
  if (!host.empty() && host.front() == '[') {
    // IPv6 literal: keep the brackets, drop what follows ']' (the port).
    size_t close = host.find(']');
    if (close == std::string_view::npos) return {};
    host = host.substr(0, close + 1);
  } else {
    host = host.substr(0, host.find(':'));
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  }
  if (host.empty() || host.size() > buf.size()) return {};
  for (size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
  }
  return std::string_view(buf.data(), host.size());
}

bool method_allowed(const config::CacheBehavior& behavior, core::Method method) {
  uint32_t mask = behavior.allowed_methods;
  if (mask == 0) mask = core::method_bit(core::Method::Get) | core::method_bit(core::Method::Head);
  return (mask & core::method_bit(method)) != 0;
}

const config::Origin* find_origin(const config::Distribution& distribution, std::string_view id) {
  for (const config::Origin& o : distribution.origins) {
    if (o.id == id) return &o;
  }
  return nullptr;
}

Router::Router(std::shared_ptr<const config::Model> model) : model_(std::move(model)) {
  PORTICO_CHECK(model_ != nullptr);
  for (const config::Distribution& d : model_->distributions) {
    if (!d.enabled) continue;
    CompiledDistribution cd;
    cd.distribution = &d;
    cd.patterns.reserve(d.cache_behaviors.size());
    cd.routes.reserve(d.cache_behaviors.size() + 1);
    for (size_t i = 0; i <= d.cache_behaviors.size(); ++i) {
      bool is_default = i == d.cache_behaviors.size();
      const config::CacheBehavior& b = is_default ? d.default_cache_behavior : d.cache_behaviors[i];
      if (!is_default) cd.patterns.emplace_back(b.path_pattern);
      cd.routes.push_back(Route{&d, &b, find_origin(d, b.target_origin_id),
                                is_default ? Route::kDefaultBehavior : static_cast<uint32_t>(i)});
    }
    distributions_.push_back(std::move(cd));
  }

  for (const config::Listener& l : model_->listeners) {
    if (listeners_.contains(l.name)) continue;
    build_table(listeners_[l.name], l.name, false);
  }
  // Listener names a distribution mentions but the listener list lacks (the loader rejects these;
  // hand-built models may not) still get a table, so decide() treats them like declared ones.
  for (const CompiledDistribution& cd : distributions_) {
    for (const std::string& name : cd.distribution->listeners) {
      if (listeners_.contains(name)) continue;
      build_table(listeners_[name], name, false);
    }
  }
  build_table(unknown_listener_, {}, true);
}

void Router::build_table(ListenerTable& table, std::string_view listener_name,
                         bool every_only) const {
  for (uint32_t i = 0; i < distributions_.size(); ++i) {
    const config::Distribution& d = *distributions_[i].distribution;
    bool attached = d.listeners.empty();
    if (!attached && !every_only) {
      attached =
          std::find(d.listeners.begin(), d.listeners.end(), listener_name) != d.listeners.end();
    }
    if (!attached) continue;
    if (table.default_distribution == kNone) table.default_distribution = i;
    for (const std::string& alias : d.aliases) {
      std::array<char, kMaxHostBytes> buf;
      if (alias.starts_with("*.")) {
        std::string_view suffix = normalize_host(std::string_view(alias).substr(1), buf);
        if (suffix.size() > 1) table.wildcards.push_back(Wildcard{std::string(suffix), i});
      } else {
        std::string_view name = normalize_host(alias, buf);
        // First enabled distribution in config order keeps a duplicated alias.
        if (!name.empty()) table.exact.try_emplace(std::string(name), i);
      }
    }
  }
  std::stable_sort(
      table.wildcards.begin(), table.wildcards.end(),
      [](const Wildcard& a, const Wildcard& b) { return a.suffix.size() > b.suffix.size(); });
}

uint32_t Router::choose_distribution(const ListenerTable& table, std::string_view host) const {
  if (table.exact.empty() && table.wildcards.empty()) return table.default_distribution;
  std::array<char, kMaxHostBytes> buf;
  std::string_view name = normalize_host(host, buf);
  if (!name.empty()) {
    if (auto it = table.exact.find(name); it != table.exact.end()) return it->second;
    // "*.example.test" matches one or more labels before ".example.test", never the apex.
    for (const Wildcard& w : table.wildcards) {
      if (name.size() > w.suffix.size() && name.ends_with(w.suffix)) return w.distribution;
    }
  }
  return table.default_distribution;
}

const Route* Router::decide(std::string_view listener_name, std::string_view host,
                            std::string_view path) const {
  const ListenerTable* table = &unknown_listener_;
  if (auto it = listeners_.find(listener_name); it != listeners_.end()) table = &it->second;
  uint32_t index = choose_distribution(*table, host);
  if (index == kNone) return nullptr;
  const CompiledDistribution& cd = distributions_[index];
  for (size_t i = 0; i < cd.patterns.size(); ++i) {
    if (cd.patterns[i].matches(path)) return &cd.routes[i];
  }
  return &cd.routes.back();
}

}  // namespace portico::routing
