#include "tls/manager.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>

#include "config/ssl_policy.h"
#include "core/log.h"
#include "tls/certificate_store.h"
#include "tls/json.h"
#include "tls/listener_tls.h"
#include "tls/local_ca.h"
#include "tls/security_policy.h"

namespace portico::tls {
namespace {

// What the Manager keeps of an HTTPS listener's config.
struct ListenerConfig {
  std::string name;
  std::vector<std::string> certificates;
  std::string ssl_policy;
  bool http2 = true;
  config::UnknownSni unknown_sni = config::UnknownSni::DefaultCertificate;
};

core::Error bad_request(std::string detail) {
  return core::Error::make(core::ErrorKind::ParseError, core::Side::Downstream, std::move(detail));
}
core::Error config_error(std::string detail) {
  return core::Error::make(core::ErrorKind::Config, core::Side::Internal, std::move(detail));
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

// ACM-shaped ARN with a stable UUID-like id derived from the certificate name.
std::string certificate_arn(const std::string& name) {
  std::string h = sha256_hex("portico certificate " + name);
  return "arn:portico:acm:local:000000000000:certificate/" + h.substr(0, 8) + "-" + h.substr(8, 4) +
         "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20, 12);
}

std::vector<ListenerConfig> https_listeners(const config::Model& model) {
  std::vector<ListenerConfig> out;
  auto add = [&](const config::Listener& l) {
    if (l.protocol != config::ListenerProtocol::Https) return;
    out.push_back(ListenerConfig{l.name, l.certificates, l.ssl_policy, l.http2, l.unknown_sni});
  };
  for (const config::Listener& l : model.listeners) add(l);
  for (const config::LoadBalancer& lb : model.load_balancers) {
    for (const config::Listener& l : lb.listeners) add(l);
  }
  return out;
}

const config::SslPolicy* policy_of(const ListenerConfig& l) {
  return config::find_ssl_policy(l.ssl_policy.empty() ? config::kDefaultCloudFrontSslPolicy
                                                      : std::string_view(l.ssl_policy));
}

std::string json_strings(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += json_quote(items[i]);
  }
  return out + "]";
}

}  // namespace

struct Manager::Impl {
  mutable std::mutex mu;  // everything but `listeners`
  CertificateStore store;
  StoreCounters counters;
  std::vector<ListenerConfig> listener_configs;
  TimePoint now{};
  uint64_t imports = 0;
  uint64_t rotations = 0;
  TicketKeys tickets;
  HandshakeCounters handshakes;

  // Never erased: a listener dropped by a reload keeps its SSL_CTX and last state.
  mutable std::mutex listeners_mu;
  std::map<std::string, std::unique_ptr<ListenerTls>, std::less<>> listeners;

  ListenerTls* find_listener(std::string_view name) const {
    std::lock_guard<std::mutex> lock(listeners_mu);
    auto it = listeners.find(name);
    return it == listeners.end() ? nullptr : it->second.get();
  }

  core::Status apply_locked(const config::Model& model, bool initial);
  void publish_locked();
  void tick_locked(TimePoint t);
  std::string entry_json_locked(const CertificateStore::Entry& e) const;
};

core::Status Manager::Impl::apply_locked(const config::Model& model, bool initial) {
  core::Result<CertificateStore> built =
      CertificateStore::build(model, initial ? nullptr : &store, now, counters);
  if (!built.ok()) return built.error();
  std::vector<ListenerConfig> configs = https_listeners(model);
  std::vector<std::unique_ptr<ListenerTls>> created;
  for (const ListenerConfig& l : configs) {
    for (const std::string& name : l.certificates) {
      if (built->find(name) == nullptr) {
        return config_error("listener " + l.name + ": unknown certificate " + name);
      }
    }
    if (l.certificates.empty()) {
      return config_error("listener " + l.name + ": an HTTPS listener needs a certificate");
    }
    const config::SslPolicy* policy = policy_of(l);
    if (policy == nullptr) {
      return config_error("listener " + l.name + ": unknown ssl_policy " + l.ssl_policy);
    }
    if (find_listener(l.name) != nullptr) continue;
    OpensslPolicy op = openssl_policy(*policy);
    core::Result<std::unique_ptr<ListenerTls>> lt =
        ListenerTls::create(l.name, op, tickets, handshakes);
    if (!lt.ok()) return lt.error();
    if (!op.unavailable.empty()) {
      std::string names;
      for (const std::string& n : op.unavailable) names += (names.empty() ? "" : ", ") + n;
      PORTICO_INFO("tls: listener %s: %s lists ciphers this OpenSSL lacks: %s", l.name.c_str(),
                   op.name.c_str(), names.c_str());
    }
    created.push_back(std::move(*lt));
  }
  store = std::move(*built);
  listener_configs = std::move(configs);
  {
    std::lock_guard<std::mutex> lock(listeners_mu);
    for (std::unique_ptr<ListenerTls>& lt : created) {
      std::string name = lt->name();
      listeners.emplace(std::move(name), std::move(lt));
    }
  }
  publish_locked();
  return {};
}

void Manager::Impl::publish_locked() {
  for (const ListenerConfig& l : listener_configs) {
    ListenerTls* lt = find_listener(l.name);
    const config::SslPolicy* policy = policy_of(l);
    if (lt == nullptr || policy == nullptr) continue;  // apply_locked checked both
    std::vector<std::shared_ptr<const Certificate>> certs;
    for (const std::string& name : l.certificates) {
      if (const CertificateStore::Entry* e = store.find(name)) certs.push_back(e->certificate);
    }
    auto state = std::make_shared<ListenerState>(SniTable(std::move(certs), l.unknown_sni),
                                                 openssl_policy(*policy));
    state->override_policy = state->policy.name != lt->ctx_policy();
    state->http2 = l.http2;
    lt->publish(std::move(state));
  }
}

void Manager::Impl::tick_locked(TimePoint t) {
  now = t;
  bool had_keys = !tickets.names().empty();
  if (tickets.rotate_if_due(now) && had_keys) ++rotations;
  if (store.tick(now, counters)) publish_locked();
}

std::string Manager::Impl::entry_json_locked(const CertificateStore::Entry& e) const {
  const Certificate& c = *e.certificate;
  bool issued = e.config.type == config::CertificateType::Issued;
  const char* status = c.expired(now) ? "EXPIRED" : c.not_yet_valid(now) ? "INACTIVE" : "ISSUED";
  std::vector<std::string> in_use_by;
  for (const ListenerConfig& l : listener_configs) {
    if (std::find(l.certificates.begin(), l.certificates.end(), e.config.name) !=
        l.certificates.end()) {
      in_use_by.push_back(l.name);
    }
  }
  std::string domain = !c.subject_cn.empty() ? c.subject_cn : c.names.empty() ? "" : c.names[0];
  std::string out =
      "{\"name\":" + json_quote(e.config.name) +
      ",\"certificate_arn\":" + json_quote(certificate_arn(e.config.name)) +
      ",\"type\":" + json_quote(issued ? "AMAZON_ISSUED" : "IMPORTED") +
      ",\"source\":" + json_quote(e.source == CertificateStore::Source::Api ? "api" : "config") +
      ",\"domain_name\":" + json_quote(domain) +
      ",\"subject_alternative_names\":" + json_strings(c.names) +
      ",\"issuer\":" + json_quote(c.issuer) + ",\"serial\":" + json_quote(c.serial) +
      ",\"key_algorithm\":" + json_quote(c.key_algorithm) +
      ",\"not_before\":" + json_quote(format_time(c.not_before)) +
      ",\"not_after\":" + json_quote(format_time(c.not_after)) +
      ",\"status\":" + json_quote(status) + ",\"in_use_by\":" + json_strings(in_use_by) +
      ",\"renewal_eligibility\":" + json_quote(issued ? "ELIGIBLE" : "INELIGIBLE");
  if (issued) {
    out += ",\"renew_after\":" + json_quote(format_time(e.renew_at()));
  } else {
    out += ",\"certificate_file\":" + json_quote(e.config.certificate_file);
  }
  return out + "}";
}

Manager::Manager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Manager::~Manager() = default;

core::Result<std::unique_ptr<Manager>> Manager::create(const config::Model& model) {
  return create(model, std::chrono::system_clock::now());
}

core::Result<std::unique_ptr<Manager>> Manager::create(const config::Model& model, TimePoint now) {
  auto impl = std::make_unique<Impl>();
  std::lock_guard<std::mutex> lock(impl->mu);
  impl->now = now;
  impl->tickets.rotate_if_due(now);
  if (core::Status s = impl->apply_locked(model, /*initial=*/true); !s.ok()) return s.error();
  impl->tick_locked(now);  // reports expired certificates found at startup
  return std::unique_ptr<Manager>(new Manager(std::move(impl)));
}

core::Status Manager::validate(const config::Model& model) {
  if (core::Status s = CertificateStore::validate(model); !s.ok()) return s;
  for (const ListenerConfig& l : https_listeners(model)) {
    if (policy_of(l) == nullptr) {
      return config_error("listener " + l.name + ": unknown ssl_policy " + l.ssl_policy);
    }
  }
  return {};
}

SSL_CTX* Manager::server_context(std::string_view listener_name) const {
  ListenerTls* lt = impl_->find_listener(listener_name);
  return lt == nullptr ? nullptr : lt->ctx();
}

core::Status Manager::apply(const config::Model& model) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  core::Status s = impl_->apply_locked(model, /*initial=*/false);
  if (!s.ok()) {
    PORTICO_WARN("tls: reload refused, keeping the current certificates: %s",
                 s.error().detail.c_str());
  }
  return s;
}

void Manager::tick(TimePoint now) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->tick_locked(now);
}

core::Result<std::string> Manager::import_json(std::string_view body) {
  core::Result<std::vector<std::pair<std::string, std::string>>> members =
      parse_string_object(body);
  if (!members.ok()) return members.error();
  std::string cert, key, chain, name, arn;
  for (auto& [k, v] : *members) {
    if (k == "certificate" || k == "Certificate") {
      cert = std::move(v);
    } else if (k == "private_key" || k == "PrivateKey") {
      key = std::move(v);
    } else if (k == "certificate_chain" || k == "CertificateChain") {
      chain = std::move(v);
    } else if (k == "name" || k == "Name") {
      name = std::move(v);
    } else if (k == "certificate_arn" || k == "CertificateArn") {
      arn = std::move(v);
    } else {
      return bad_request("unknown member \"" + k +
                         "\" (certificate, private_key, certificate_chain, name, "
                         "certificate_arn)");
    }
  }
  if (cert.empty() || key.empty()) {
    return bad_request("\"certificate\" and \"private_key\" (PEM) are required");
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!arn.empty()) {
    std::string by_arn;
    for (const CertificateStore::Entry& e : impl_->store.entries()) {
      if (certificate_arn(e.config.name) == arn) by_arn = e.config.name;
    }
    if (by_arn.empty()) {
      return core::Error::make(core::ErrorKind::NotFound, core::Side::Downstream,
                               "no certificate has ARN " + arn);
    }
    if (!name.empty() && name != by_arn) {
      return bad_request("certificate_arn names " + by_arn + ", not " + name);
    }
    name = by_arn;
  }
  if (name.empty()) name = "imported-" + sha256_hex(cert).substr(0, 12);
  core::Result<const CertificateStore::Entry*> entry =
      impl_->store.import(name, cert, chain, key, impl_->now);
  if (!entry.ok()) return entry.error();
  ++impl_->imports;
  impl_->publish_locked();
  return impl_->entry_json_locked(**entry);
}

core::Result<std::string> Manager::renew(std::string_view name) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  TimePoint now = std::max(impl_->now, std::chrono::system_clock::now());
  core::Result<const CertificateStore::Entry*> entry =
      impl_->store.renew(name, now, impl_->counters);
  if (!entry.ok()) return entry.error();
  impl_->publish_locked();
  PORTICO_INFO("tls: certificate %s renewed on request", std::string(name).c_str());
  return impl_->entry_json_locked(**entry);
}

std::string Manager::describe_json() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::string out = "{\"certificates\":[";
  bool first = true;
  for (const CertificateStore::Entry& e : impl_->store.entries()) {
    if (!first) out += ',';
    first = false;
    out += impl_->entry_json_locked(e);
  }
  return out + "]}";
}

Stats Manager::stats() const {
  Stats s;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    s.certificates = impl_->store.entries().size();
    for (const CertificateStore::Entry& e : impl_->store.entries()) {
      if (e.certificate->expired(impl_->now)) ++s.certificates_expired;
    }
    const StoreCounters& c = impl_->counters;
    s.expired_total = c.expired;
    s.issued_total = c.issued;
    s.renewed_total = c.renewed;
    s.renewal_failures_total = c.renewal_failures;
    s.file_reloads_total = c.file_reloads;
    s.file_reload_failures_total = c.file_reload_failures;
    s.imports_total = impl_->imports;
    s.ticket_key_rotations_total = impl_->rotations;
  }
  const HandshakeCounters& h = impl_->handshakes;
  s.handshakes_sni_exact_total = h.sni_exact.load(std::memory_order_relaxed);
  s.handshakes_sni_wildcard_total = h.sni_wildcard.load(std::memory_order_relaxed);
  s.handshakes_no_sni_total = h.no_sni.load(std::memory_order_relaxed);
  s.handshakes_sni_default_total = h.sni_default.load(std::memory_order_relaxed);
  s.handshakes_sni_rejected_total = h.sni_rejected.load(std::memory_order_relaxed);
  s.handshake_setup_failures_total = h.setup_failures.load(std::memory_order_relaxed);
  return s;
}

core::Result<std::string> Manager::export_ca(const std::string& state_dir) {
  core::Result<LocalCa> ca = LocalCa::load_or_create(state_dir, std::chrono::system_clock::now());
  if (!ca.ok()) return ca.error();
  return ca->pem();
}

std::vector<std::string> Manager::ticket_key_names_for_test() const {
  return impl_->tickets.names();
}

bool alpn_is_h2(const SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &data, &len);
  return len == 2 && data != nullptr && std::memcmp(data, "h2", 2) == 0;
}

}  // namespace portico::tls
