// tls::LocalCa: the local certificate authority standing in for ACM's public CA. Created on first
// use in state_dir (ca.key mode 0600, ca.pem), persisted and reused; it signs leaf certificates
// for `certificates:` entries with domains (subjectAltName DNS names, wildcards included,
// serverAuth, CA:FALSE, SKI/AKI), so `openssl verify -CAfile ca.pem leaf.pem` passes. Also the
// small file helpers the Manager uses for state_dir (atomic writes, permissions).
// Immutable after loading; issue() may run on any thread.
#pragma once

#include <string>
#include <vector>

#include "config/model.h"
#include "core/result.h"
#include "tls/certificate.h"
#include "tls/openssl_handles.h"

namespace portico::tls {

class LocalCa {
 public:
  // A leaf and its key, PEM.
  struct Issued {
    std::string cert_pem;
    std::string key_pem;
  };

  // Loads state_dir/ca.{key,pem}, or creates both (and state_dir, mode 0700) when neither exists.
  // A lone ca.key or ca.pem, or a pair that does not match, is an error (never overwritten).
  // Creation is serialised by a lock file, so two processes sharing state_dir agree on one CA.
  static core::Result<LocalCa> load_or_create(const std::string& state_dir, TimePoint now);

  // Signs a new leaf for `domains` (first = subject CN), valid from now - 1 h for
  // `validity_days`, with a new key of `algorithm`.
  core::Result<Issued> issue(const std::vector<std::string>& domains,
                             config::KeyAlgorithm algorithm, int validity_days,
                             TimePoint now) const;

  // True when `leaf` carries this CA's name as issuer and its signature verifies with our key.
  bool signed_leaf(X509* leaf) const;

  const std::string& pem() const { return pem_; }
  X509* cert() const { return cert_.get(); }

  // The CA's validity: ten years.
  static constexpr int kValidityDays = 3650;

 private:
  LocalCa(X509Ptr cert, EvpPkeyPtr key, std::string pem)
      : cert_(std::move(cert)), key_(std::move(key)), pem_(std::move(pem)) {}

  // Shared so LocalCa stays copyable (its content never changes).
  std::shared_ptr<X509> cert_;
  std::shared_ptr<EVP_PKEY> key_;
  std::string pem_;
};

// state_dir helpers.
// Reads a whole file (at most 1 MiB). Errors name the path.
core::Result<std::string> read_text_file(const std::string& path);
// Writes `data` to `path` through a temporary file and rename(2), with `mode`.
core::Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode);
// mkdir -p with `mode` for the directories it creates.
core::Status make_dirs(const std::string& path, unsigned mode);

}  // namespace portico::tls
