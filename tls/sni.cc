#include "tls/sni.h"

namespace portico::tls {

std::string normalize_server_name(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return {};
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_' || c == '*';
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
      ok = true;
    }
    if (!ok) return {};
    out += c;
  }
  return out;
}

SniTable::SniTable(std::vector<std::shared_ptr<const Certificate>> certificates,
                   config::UnknownSni unknown_sni)
    : certificates_(std::move(certificates)), unknown_sni_(unknown_sni) {
  for (const std::shared_ptr<const Certificate>& cert : certificates_) {
    for (const std::string& name : cert->names) {
      if (name.starts_with("*.")) {
        wildcard_.emplace(name.substr(2), cert.get());  // emplace keeps the first listed
      } else {
        exact_.emplace(name, cert.get());
      }
    }
  }
}

SniTable::Choice SniTable::choose(std::string_view server_name) const {
  const Certificate* fallback = certificates_.empty() ? nullptr : certificates_.front().get();
  if (server_name.empty()) return {fallback, SniMatch::NoSni};
  std::string name = normalize_server_name(server_name);
  if (!name.empty() && name.find('*') == std::string::npos) {
    if (auto it = exact_.find(name); it != exact_.end()) return {it->second, SniMatch::Exact};
    size_t dot = name.find('.');
    if (dot != std::string::npos && dot > 0) {
      if (auto it = wildcard_.find(name.substr(dot + 1)); it != wildcard_.end()) {
        return {it->second, SniMatch::Wildcard};
      }
    }
  }
  if (unknown_sni_ == config::UnknownSni::Reject) return {nullptr, SniMatch::Rejected};
  return {fallback, SniMatch::Default};
}

const char* sni_match_name(SniMatch m) {
  switch (m) {
    case SniMatch::Exact:
      return "exact";
    case SniMatch::Wildcard:
      return "wildcard";
    case SniMatch::NoSni:
      return "no-sni";
    case SniMatch::Default:
      return "default";
    case SniMatch::Rejected:
      return "rejected";
  }
  return "?";
}

}  // namespace portico::tls
