#include "tls/certificate_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "core/log.h"

namespace portico::tls {
namespace {

// How long a failed renewal waits before the next attempt.
constexpr std::chrono::hours kRenewalRetry{1};

core::Error config_error(std::string detail) {
  return core::Error::make(core::ErrorKind::Config, core::Side::Internal, std::move(detail));
}
core::Error bad_request(std::string detail) {
  return core::Error::make(core::ErrorKind::ParseError, core::Side::Downstream, std::move(detail));
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

std::string where(const config::Certificate& c) {
  std::string what = c.key_path.empty() ? "certificate " + c.name : c.key_path;
  if (c.loc.file.empty()) return what;
  return c.loc.file + ":" + std::to_string(c.loc.line) + ":" + std::to_string(c.loc.column) + ": " +
         what;
}

std::array<FileStamp, 3> stamps_of(const config::Certificate& c) {
  return {FileStamp::of(c.certificate_file),
          c.certificate_chain_file.empty() ? FileStamp{} : FileStamp::of(c.certificate_chain_file),
          FileStamp::of(c.private_key_file)};
}

// Reads and parses an imported certificate's files; `stamps` gets what the files looked like
// just before they were read (a write racing the read shows up as a change at the next tick).
core::Result<std::shared_ptr<const Certificate>> load_imported(const config::Certificate& c,
                                                               std::array<FileStamp, 3>& stamps) {
  stamps = stamps_of(c);
  core::Result<std::string> cert = read_text_file(c.certificate_file);
  if (!cert.ok()) return config_error(where(c) + ": " + cert.error().detail);
  std::string chain;
  if (!c.certificate_chain_file.empty()) {
    core::Result<std::string> text = read_text_file(c.certificate_chain_file);
    if (!text.ok()) return config_error(where(c) + ": " + text.error().detail);
    chain = std::move(*text);
  }
  core::Result<std::string> key = read_text_file(c.private_key_file);
  if (!key.ok()) return config_error(where(c) + ": " + key.error().detail);
  core::Result<std::shared_ptr<const Certificate>> parsed =
      parse_certificate(c.name, config::CertificateType::Imported, *cert, chain, *key);
  if (!parsed.ok()) {
    std::string files = c.certificate_file;
    if (!c.certificate_chain_file.empty()) files += ", " + c.certificate_chain_file;
    files += ", " + c.private_key_file;
    return config_error(where(c) + " (" + files + "): " + parsed.error().detail);
  }
  return parsed;
}

bool same_issued_config(const config::Certificate& a, const config::Certificate& b) {
  return a.type == config::CertificateType::Issued && b.type == a.type && a.domains == b.domains &&
         a.key_algorithm == b.key_algorithm && a.validity_days == b.validity_days &&
         a.renew_before_days == b.renew_before_days && a.issuer == b.issuer;
}

bool same_imported_config(const config::Certificate& a, const config::Certificate& b) {
  return a.type == config::CertificateType::Imported && b.type == a.type &&
         a.certificate_file == b.certificate_file &&
         a.certificate_chain_file == b.certificate_chain_file &&
         a.private_key_file == b.private_key_file;
}

bool same_names(std::vector<std::string> a, std::vector<std::string> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

TimePoint renew_at(const Certificate& cert, const config::Certificate& c) {
  return cert.not_after - std::chrono::hours(24) * c.renew_before_days;
}

std::string imported_dir(const std::string& state_dir) { return state_dir + "/imported"; }

config::Certificate api_config(const std::string& state_dir, const std::string& name,
                               bool with_chain) {
  config::Certificate c;
  c.name = name;
  c.type = config::CertificateType::Imported;
  std::string base = imported_dir(state_dir) + "/" + name;
  c.certificate_file = base + ".pem";
  c.private_key_file = base + ".key";
  if (with_chain) c.certificate_chain_file = base + ".chain.pem";
  c.key_path = c.certificate_file;
  return c;
}

}  // namespace

FileStamp FileStamp::of(const std::string& path) {
  FileStamp s;
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return s;
  s.exists = true;
  s.device = st.st_dev;
  s.inode = st.st_ino;
  s.size = st.st_size;
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return s;
}

bool valid_certificate_name(std::string_view name) {
  return !name.empty() && name.size() <= 128 && name.front() != '.' && name.front() != '-' &&
         std::all_of(name.begin(), name.end(), name_char);
}

std::string describe_origin(const CertificateStore::Entry& e) {
  if (e.source == CertificateStore::Source::Api) return e.config.certificate_file;
  return where(e.config);
}

TimePoint CertificateStore::Entry::renew_at() const { return tls::renew_at(*certificate, config); }

const CertificateStore::Entry* CertificateStore::find(std::string_view name) const {
  for (const Entry& e : entries_) {
    if (e.config.name == name) return &e;
  }
  return nullptr;
}

core::Status CertificateStore::ensure_ca(TimePoint now) {
  if (ca_) return {};
  core::Result<LocalCa> ca = LocalCa::load_or_create(state_dir_, now);
  if (!ca.ok()) return ca.error();
  ca_ = std::move(*ca);
  return {};
}

core::Result<std::shared_ptr<const Certificate>> CertificateStore::load_or_issue(
    const config::Certificate& c, TimePoint now, bool force_new, StoreCounters& counters) {
  if (core::Status s = ensure_ca(now); !s.ok())
    return config_error(where(c) + ": " + s.error().detail);
  std::string dir = state_dir_ + "/certificates";
  if (core::Status s = make_dirs(dir, 0700); !s.ok()) return s.error();
  std::string pem_path = dir + "/" + c.name + ".pem";
  std::string key_path = dir + "/" + c.name + ".key";
  std::string_view algorithm = key_algorithm_name(c.key_algorithm);
  if (!force_new && FileStamp::of(pem_path).exists && FileStamp::of(key_path).exists) {
    core::Result<std::string> pem = read_text_file(pem_path);
    core::Result<std::string> key = read_text_file(key_path);
    std::string why;
    if (pem.ok() && key.ok()) {
      core::Result<std::shared_ptr<const Certificate>> old =
          parse_certificate(c.name, config::CertificateType::Issued, *pem, "", *key);
      if (!old.ok()) {
        why = old.error().detail;
      } else if (!ca_->signed_leaf((*old)->leaf.get())) {
        why = "not signed by the current local CA";
      } else if (!same_names((*old)->names, c.domains)) {
        why = "its domains differ from the config";
      } else if ((*old)->key_algorithm != algorithm) {
        why = "its key algorithm differs from the config";
      } else if (now >= renew_at(**old, c)) {
        why = "it is inside its renewal window";
      } else {
        return old;
      }
    } else {
      why = pem.ok() ? key.error().detail : pem.error().detail;
    }
    PORTICO_INFO("tls: reissuing certificate %s: %s", c.name.c_str(), why.c_str());
  }
  core::Result<LocalCa::Issued> issued =
      ca_->issue(c.domains, c.key_algorithm, c.validity_days, now);
  if (!issued.ok()) return config_error(where(c) + ": " + issued.error().detail);
  // The key first: a crash in between leaves a mismatched pair, which the next start reissues.
  if (core::Status s = write_file_atomic(key_path, issued->key_pem, 0600); !s.ok())
    return s.error();
  if (core::Status s = write_file_atomic(pem_path, issued->cert_pem, 0644); !s.ok())
    return s.error();
  core::Result<std::shared_ptr<const Certificate>> cert = parse_certificate(
      c.name, config::CertificateType::Issued, issued->cert_pem, "", issued->key_pem);
  if (!cert.ok()) return config_error(where(c) + ": " + cert.error().detail);
  ++counters.issued;
  PORTICO_INFO("tls: issued certificate %s for %s, valid until %s", c.name.c_str(),
               c.domains.front().c_str(), format_time((*cert)->not_after).c_str());
  return cert;
}

core::Result<CertificateStore> CertificateStore::build(const config::Model& model,
                                                       const CertificateStore* previous,
                                                       TimePoint now, StoreCounters& counters) {
  CertificateStore s;
  s.state_dir_ = model.state_dir.empty() ? std::string("var/portico") : model.state_dir;
  if (previous != nullptr && previous->state_dir_ == s.state_dir_) s.ca_ = previous->ca_;
  for (const config::Certificate& c : model.certificates) {
    const Entry* old = previous != nullptr ? previous->find(c.name) : nullptr;
    if (old != nullptr && old->source != Source::Config) old = nullptr;
    Entry e;
    e.config = c;
    if (c.type == config::CertificateType::Issued) {
      if (old != nullptr && same_issued_config(old->config, c) && s.ca_ && now < old->renew_at()) {
        e.certificate = old->certificate;
        e.expired_reported = old->expired_reported;
      } else {
        core::Result<std::shared_ptr<const Certificate>> cert =
            s.load_or_issue(c, now, false, counters);
        if (!cert.ok()) return cert.error();
        e.certificate = std::move(*cert);
      }
    } else {
      std::array<FileStamp, 3> stamps = stamps_of(c);
      if (old != nullptr && same_imported_config(old->config, c) && old->stamps == stamps) {
        e.certificate = old->certificate;
        e.stamps = old->stamps;
        e.expired_reported = old->expired_reported;
      } else {
        core::Result<std::shared_ptr<const Certificate>> cert = load_imported(c, e.stamps);
        if (!cert.ok()) return cert.error();
        e.certificate = std::move(*cert);
      }
    }
    s.entries_.push_back(std::move(e));
  }
  // Earlier API imports, unless the config now declares the same name.
  std::error_code ec;
  for (const auto& file : std::filesystem::directory_iterator(imported_dir(s.state_dir_), ec)) {
    std::string fname = file.path().filename().string();
    if (!fname.ends_with(".pem") || fname.ends_with(".chain.pem")) continue;
    std::string name = fname.substr(0, fname.size() - 4);
    if (!valid_certificate_name(name) || s.find(name) != nullptr) continue;
    bool with_chain = FileStamp::of(imported_dir(s.state_dir_) + "/" + name + ".chain.pem").exists;
    Entry e;
    e.config = api_config(s.state_dir_, name, with_chain);
    e.source = Source::Api;
    const Entry* old = previous != nullptr ? previous->find(name) : nullptr;
    if (old != nullptr && old->source == Source::Api &&
        old->config.certificate_chain_file == e.config.certificate_chain_file &&
        old->stamps == stamps_of(e.config)) {
      e.certificate = old->certificate;
      e.stamps = old->stamps;
      e.expired_reported = old->expired_reported;
    } else {
      core::Result<std::shared_ptr<const Certificate>> cert = load_imported(e.config, e.stamps);
      if (!cert.ok()) {
        PORTICO_WARN("tls: skipping imported certificate %s: %s", name.c_str(),
                     cert.error().detail.c_str());
        continue;
      }
      e.certificate = std::move(*cert);
    }
    s.entries_.push_back(std::move(e));
  }
  return s;
}

core::Status CertificateStore::validate(const config::Model& model) {
  for (const config::Certificate& c : model.certificates) {
    if (c.type != config::CertificateType::Imported) continue;
    std::array<FileStamp, 3> stamps;
    core::Result<std::shared_ptr<const Certificate>> cert = load_imported(c, stamps);
    if (!cert.ok()) return cert.error();
  }
  return {};
}

bool CertificateStore::tick(TimePoint now, StoreCounters& counters) {
  bool changed = false;
  for (Entry& e : entries_) {
    if (e.config.type == config::CertificateType::Imported) {
      std::array<FileStamp, 3> stamps = stamps_of(e.config);
      if (stamps != e.stamps && !(e.refused && *e.refused == stamps)) {
        std::array<FileStamp, 3> read_stamps;
        core::Result<std::shared_ptr<const Certificate>> cert =
            load_imported(e.config, read_stamps);
        if (cert.ok()) {
          e.certificate = std::move(*cert);
          e.stamps = read_stamps;
          e.refused.reset();
          e.expired_reported = false;
          ++counters.file_reloads;
          changed = true;
          PORTICO_INFO("tls: reloaded certificate %s from %s (valid until %s)",
                       e.config.name.c_str(), e.config.certificate_file.c_str(),
                       format_time(e.certificate->not_after).c_str());
        } else {
          e.refused = read_stamps;
          ++counters.file_reload_failures;
          PORTICO_WARN("tls: keeping the current certificate %s: %s", e.config.name.c_str(),
                       cert.error().detail.c_str());
        }
      }
    } else if (now >= e.renew_at() && now >= e.next_renewal_attempt) {
      core::Result<std::shared_ptr<const Certificate>> cert =
          load_or_issue(e.config, now, true, counters);
      if (cert.ok()) {
        e.certificate = std::move(*cert);
        e.expired_reported = false;
        ++counters.renewed;
        changed = true;
      } else {
        e.next_renewal_attempt = now + kRenewalRetry;
        ++counters.renewal_failures;
        PORTICO_WARN("tls: cannot renew certificate %s (retrying in an hour): %s",
                     e.config.name.c_str(), cert.error().detail.c_str());
      }
    }
    if (e.certificate->expired(now) && !e.expired_reported) {
      e.expired_reported = true;
      ++counters.expired;
      PORTICO_WARN("tls: certificate %s (%s) expired at %s and is still served; replace it",
                   e.config.name.c_str(), describe_origin(e).c_str(),
                   format_time(e.certificate->not_after).c_str());
    }
  }
  return changed;
}

core::Result<const CertificateStore::Entry*> CertificateStore::renew(std::string_view name,
                                                                     TimePoint now,
                                                                     StoreCounters& counters) {
  for (Entry& e : entries_) {
    if (e.config.name != name) continue;
    if (e.config.type != config::CertificateType::Issued) {
      return core::Error::make(core::ErrorKind::ParseError, core::Side::Downstream,
                               "certificate " + e.config.name +
                                   " is imported: only certificates issued by local-ca renew");
    }
    core::Result<std::shared_ptr<const Certificate>> cert =
        load_or_issue(e.config, now, true, counters);
    if (!cert.ok()) return cert.error();
    e.certificate = std::move(*cert);
    e.expired_reported = false;
    ++counters.renewed;
    return &e;
  }
  return core::Error::make(core::ErrorKind::NotFound, core::Side::Downstream,
                           "no certificate named " + std::string(name));
}

core::Result<const CertificateStore::Entry*> CertificateStore::import(const std::string& name,
                                                                      std::string_view cert_pem,
                                                                      std::string_view chain_pem,
                                                                      std::string_view key_pem,
                                                                      TimePoint now) {
  if (!valid_certificate_name(name)) {
    return bad_request("invalid certificate name \"" + name +
                       "\": 1-128 of A-Z a-z 0-9 . _ -, not starting with '.' or '-'");
  }
  core::Result<std::shared_ptr<const Certificate>> parsed =
      parse_certificate(name, config::CertificateType::Imported, cert_pem, chain_pem, key_pem);
  if (!parsed.ok()) return bad_request(parsed.error().detail);
  const Certificate& cert = **parsed;
  if (cert.not_yet_valid(now) || cert.expired(now)) {
    return bad_request("the certificate is valid from " + format_time(cert.not_before) + " to " +
                       format_time(cert.not_after) +
                       "; only certificates valid now can be imported (as ACM)");
  }
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return e.config.name == name; });
  if (it != entries_.end() && it->config.type == config::CertificateType::Issued) {
    return bad_request("certificate " + name +
                       " is issued by local-ca; only imported certificates can be re-imported");
  }
  config::Certificate c =
      it != entries_.end() ? it->config : api_config(state_dir_, name, !chain_pem.empty());
  Source source = it != entries_.end() ? it->source : Source::Api;
  std::string cert_text(cert_pem);
  if (source == Source::Api) {
    if (core::Status s = make_dirs(imported_dir(state_dir_), 0700); !s.ok()) return s.error();
    std::string chain_path = imported_dir(state_dir_) + "/" + name + ".chain.pem";
    c.certificate_chain_file = chain_pem.empty() ? std::string() : chain_path;
    if (chain_pem.empty()) ::unlink(chain_path.c_str());
  } else if (c.certificate_chain_file.empty() && !chain_pem.empty()) {
    // No chain file configured: the chain follows the leaf in the certificate file.
    if (!cert_text.ends_with('\n')) cert_text += '\n';
    cert_text += chain_pem;
  }
  if (core::Status s = write_file_atomic(c.private_key_file, key_pem, 0600); !s.ok())
    return s.error();
  if (!c.certificate_chain_file.empty()) {
    if (core::Status s = write_file_atomic(c.certificate_chain_file, chain_pem, 0644); !s.ok())
      return s.error();
  }
  if (core::Status s = write_file_atomic(c.certificate_file, cert_text, 0644); !s.ok())
    return s.error();
  Entry e;
  e.config = std::move(c);
  e.source = source;
  e.certificate = std::move(*parsed);
  e.stamps = stamps_of(e.config);
  PORTICO_INFO("tls: imported certificate %s (%s), valid until %s", name.c_str(),
               e.config.certificate_file.c_str(), format_time(e.certificate->not_after).c_str());
  if (it != entries_.end()) {
    *it = std::move(e);
    return &*it;
  }
  entries_.push_back(std::move(e));
  return &entries_.back();
}

}  // namespace portico::tls
