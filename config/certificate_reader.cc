#include "config/certificate_reader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

#include "config/ssl_policy.h"
#include "config/values.h"
#include "core/http.h"

namespace portico::config::detail {
namespace {

// ACM quotas and limits (ACM User Guide, "Quotas"; RequestCertificate): 10 domain names per
// certificate by default, and the first name (the subject CN) at most 64 octets.
constexpr size_t kMaxDomains = 10;
constexpr size_t kMaxCommonName = 64;
constexpr size_t kMaxCertificateName = 128;
// Issued certificates: up to ten years; ACM's own are 395 days.
constexpr int64_t kMaxValidityDays = 3650;

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Certificate names become file names under state_dir, so they stay plain.
bool valid_certificate_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxCertificateName && name.front() != '.' &&
         name.front() != '-' && std::all_of(name.begin(), name.end(), name_char);
}

std::string resolve(const std::string& base_dir, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_relative()) p = std::filesystem::path(base_dir) / p;
  return p.lexically_normal().string();
}

// A list of strings; a lone scalar reads as a one-item list.
std::vector<Field> string_items(Diagnostics& diag, const Field& f) {
  if (f.present && f.node.IsScalar()) return {f};
  return list_items(diag, f);
}

void read_domains(Diagnostics& diag, const Field& f, Certificate& c) {
  std::vector<Field> items = string_items(diag, f);
  if (diag.failed()) return;
  if (items.empty()) {
    diag.error(f.mark, f.path, "must list at least one domain name");
    return;
  }
  if (items.size() > kMaxDomains) {
    diag.error(
        f.mark, f.path,
        "at most 10 domain names per certificate (ACM quota), got " + std::to_string(items.size()));
    return;
  }
  for (const Field& item : items) {
    std::string domain;
    if (!read_nonempty_string(diag, item, domain)) return;
    domain = core::to_lower(domain);
    if (domain.ends_with('.')) domain.pop_back();
    if (is_ip_address(domain)) {
      diag.error(item.mark, item.path,
                 quote(domain) + " is an IP address; certificates name DNS names only (as ACM)");
      return;
    }
    if (!is_alias(domain)) {
      diag.error(item.mark, item.path,
                 "invalid domain name " + quote(domain) +
                     ": a host name, or '*.' and a host name (the wildcard is the whole first "
                     "label)");
      return;
    }
    if (c.domains.empty() && domain.size() > kMaxCommonName) {
      diag.error(item.mark, item.path,
                 "the first domain name becomes the subject CN and may be at most 64 characters");
      return;
    }
    if (std::find(c.domains.begin(), c.domains.end(), domain) != c.domains.end()) {
      diag.error(item.mark, item.path, "domain " + quote(domain) + " is listed twice");
      return;
    }
    c.domains.push_back(std::move(domain));
  }
}

void read_key_algorithm(Diagnostics& diag, const Field& f, KeyAlgorithm& out) {
  std::string text;
  if (!read_nonempty_string(diag, f, text) || !f.present) return;
  if (text == "EC_prime256v1") {
    out = KeyAlgorithm::EcPrime256v1;
  } else if (text == "EC_secp384r1") {
    out = KeyAlgorithm::EcSecp384r1;
  } else if (text == "RSA_2048") {
    out = KeyAlgorithm::Rsa2048;
  } else {
    diag.error(f.mark, f.path,
               "must be EC_prime256v1, EC_secp384r1 or RSA_2048 (ACM's names), got " + quote(text));
  }
}

// An imported PEM file: resolved, and readable now (its content is checked by tls/).
void read_file(Diagnostics& diag, const Field& f, const std::string& base_dir, bool key,
               std::string& out) {
  std::string text;
  if (!read_nonempty_string(diag, f, text) || !f.present) return;
  out = resolve(base_dir, text);
  struct stat st {};
  std::string problem;
  if (::stat(out.c_str(), &st) != 0) {
    problem = std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    problem = "not a regular file";
  } else if (::access(out.c_str(), R_OK) != 0) {
    problem = std::strerror(errno);
  }
  if (!problem.empty()) {
    diag.error(f.mark, f.path, "cannot read " + out + ": " + problem);
    return;
  }
  if (key && (st.st_mode & 077) != 0) {
    diag.warn(f.mark, f.path, "private key " + out + " is readable by other users (chmod 600 it)");
  }
}

void read_certificate(Diagnostics& diag, const Field& item, const std::string& base_dir,
                      const Model& model, Certificate& c) {
  MapReader r(diag, item,
              {"name", "domains", "issuer", "validity_days", "renew_before_days", "key_algorithm",
               "certificate_file", "certificate_chain_file", "private_key_file"});
  c.loc = diag.loc(item.mark);
  c.key_path = item.path;
  Field name = r.require("name");
  if (read_nonempty_string(diag, name, c.name) && name.present) {
    if (!valid_certificate_name(c.name)) {
      diag.error(name.mark, name.path,
                 "invalid certificate name " + quote(c.name) +
                     ": 1-128 of A-Z a-z 0-9 . _ -, not starting with '.' or '-'");
    } else if (const Certificate* other = model.find_certificate(c.name)) {
      diag.error(name.mark, name.path,
                 "duplicate certificate name " + quote(c.name) + " (first defined at line " +
                     std::to_string(other->loc.line) + ")");
    }
  }
  if (diag.failed()) return;
  bool issued = r.has("domains");
  bool imported =
      r.has("certificate_file") || r.has("private_key_file") || r.has("certificate_chain_file");
  if (issued && imported) {
    diag.error(item.mark, item.path,
               "a certificate is either issued (domains) or imported (certificate_file, "
               "private_key_file), not both");
    return;
  }
  if (!issued && !imported) {
    diag.error(item.mark, item.path,
               "needs domains (issued by the local CA) or certificate_file and private_key_file "
               "(imported)");
    return;
  }
  if (imported) {
    c.type = CertificateType::Imported;
    for (std::string_view key : {"issuer", "validity_days", "renew_before_days", "key_algorithm"}) {
      Field g = r.get(key);
      if (g.present) {
        diag.error(g.mark, g.path, "only issued certificates (with domains) take " + quote(key));
        return;
      }
    }
    read_file(diag, r.require("certificate_file"), base_dir, false, c.certificate_file);
    read_file(diag, r.get("certificate_chain_file"), base_dir, false, c.certificate_chain_file);
    read_file(diag, r.require("private_key_file"), base_dir, true, c.private_key_file);
    return;
  }
  c.type = CertificateType::Issued;
  read_domains(diag, r.get("domains"), c);
  Field issuer = r.get("issuer");
  if (read_nonempty_string(diag, issuer, c.issuer) && c.issuer != "local-ca") {
    diag.error(issuer.mark, issuer.path,
               "must be local-ca (the only issuer Portico has), got " + quote(c.issuer));
  }
  Field validity = r.get("validity_days");
  Field renew = r.get("renew_before_days");
  bool ok = read_int_as(diag, validity, 1, kMaxValidityDays, c.validity_days);
  ok = read_int_as(diag, renew, 0, kMaxValidityDays, c.renew_before_days) && ok;
  if (ok && c.renew_before_days >= c.validity_days) {
    const Field& where = renew.present ? renew : validity;
    diag.error(where.mark, where.path,
               "renew_before_days (" + std::to_string(c.renew_before_days) +
                   ") must be less than validity_days (" + std::to_string(c.validity_days) + ")");
  }
  read_key_algorithm(diag, r.get("key_algorithm"), c.key_algorithm);
}

void read_ssl_policy(Diagnostics& diag, const Field& f, std::string& out) {
  std::string name;
  if (!read_nonempty_string(diag, f, name) || !f.present) return;
  if (find_ssl_policy(name) != nullptr) {
    out = name;
    return;
  }
  std::string_view reason = unsupported_ssl_policy_reason(name);
  if (!reason.empty()) {
    diag.error(f.mark, f.path, quote(name) + ": " + std::string(reason));
    return;
  }
  std::vector<std::string_view> names;
  for (const SslPolicy& p : ssl_policies()) names.push_back(p.name);
  std::string message = "unknown security policy " + quote(name);
  if (std::string s = closest_match(name, names); !s.empty()) {
    message += " (did you mean " + quote(s) + "?)";
  } else {
    message +=
        " (CloudFront's TLSv1 ... TLSv1.3_2025 or an ELBSecurityPolicy-* name; see "
        "docs/config.md)";
  }
  diag.error(f.mark, f.path, message);
}

void read_listener_certificates(Diagnostics& diag, const Field& f, const Model& model,
                                Listener& l) {
  std::vector<Field> items = string_items(diag, f);
  if (diag.failed()) return;
  if (items.empty()) {
    diag.error(f.mark, f.path, "must list at least one certificate (the first is the default)");
    return;
  }
  for (const Field& item : items) {
    std::string name;
    if (!read_nonempty_string(diag, item, name)) return;
    if (model.find_certificate(name) == nullptr) {
      std::vector<std::string_view> names;
      for (const Certificate& c : model.certificates) names.push_back(c.name);
      std::string message = "unknown certificate " + quote(name);
      if (std::string s = closest_match(name, names); !s.empty()) {
        message += " (did you mean " + quote(s) + "?)";
      } else if (names.empty()) {
        message += " (declare it under the top-level certificates:)";
      }
      diag.error(item.mark, item.path, message);
      return;
    }
    if (std::find(l.certificates.begin(), l.certificates.end(), name) != l.certificates.end()) {
      diag.error(item.mark, item.path, "certificate " + quote(name) + " is listed twice");
      return;
    }
    l.certificates.push_back(std::move(name));
  }
}

}  // namespace

void read_certificates(Diagnostics& diag, const Field& f, const std::string& base_dir,
                       Model& model) {
  std::vector<Field> items = list_items(diag, f);
  model.certificates.reserve(items.size());
  for (const Field& item : items) {
    Certificate c;
    read_certificate(diag, item, base_dir, model, c);
    if (diag.failed()) return;
    model.certificates.push_back(std::move(c));
  }
}

void read_state_dir(Diagnostics& diag, const Field& f, const std::string& base_dir, Model& model) {
  std::string dir = "var/portico";
  if (!read_nonempty_string(diag, f, dir)) return;
  model.state_dir = resolve(base_dir, dir);
}

bool read_listener_protocol(Diagnostics& diag, const MapReader& r, const Model& model,
                            bool load_balancer, Listener& l) {
  Field protocol = r.get("protocol");
  std::string proto = "HTTP";
  if (!read_string(diag, protocol, proto)) return false;
  if (proto == "HTTPS") {
    l.protocol = ListenerProtocol::Https;
  } else if (proto != "HTTP") {
    diag.error(protocol.mark, protocol.path, "must be HTTP or HTTPS, got " + quote(proto));
    return false;
  }
  Field certificates = r.get("certificates");
  Field policy = r.get("ssl_policy");
  Field http2 = r.get("http2");
  Field unknown_sni = r.get("unknown_sni");
  // http2: HTTPS offers h2 through ALPN; HTTP accepts h2c with prior knowledge (RFC 9113 §3.3).
  read_bool(diag, http2, l.http2);
  if (l.protocol == ListenerProtocol::Http) {
    for (const Field* g : {&certificates, &policy, &unknown_sni}) {
      if (g->present) {
        diag.error(g->mark, g->path, "only HTTPS listeners take this key (protocol is HTTP)");
        return false;
      }
    }
    return !diag.failed();
  }
  if (!certificates.present) {
    diag.error(r.mark(), certificates.path,
               "is required for HTTPS listeners (names from certificates:, the first is the "
               "default)");
    return false;
  }
  read_listener_certificates(diag, certificates, model, l);
  l.ssl_policy = std::string(load_balancer ? kDefaultElbSslPolicy : kDefaultCloudFrontSslPolicy);
  read_ssl_policy(diag, policy, l.ssl_policy);
  std::string mode;
  if (read_nonempty_string(diag, unknown_sni, mode) && unknown_sni.present) {
    if (mode == "reject") {
      l.unknown_sni = UnknownSni::Reject;
    } else if (mode != "default_certificate") {
      diag.error(unknown_sni.mark, unknown_sni.path,
                 "must be default_certificate or reject, got " + quote(mode));
    }
  }
  return !diag.failed();
}

}  // namespace portico::config::detail
