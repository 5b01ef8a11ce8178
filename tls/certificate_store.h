// tls::CertificateStore: the certificates a Manager holds, by name, with where each came from:
// issued by the local CA (state_dir/certificates/NAME.{pem,key}, reused across restarts while
// they still match the config and lie outside the renewal window), imported from the config's
// PEM files (watched by mtime/size/inode), or imported through the admin API
// (state_dir/imported/NAME.{pem,key[,chain.pem]}). A store is a value: build() makes a new one
// from a config, reusing what is unchanged from the previous store, and the Manager swaps it in.
// Not thread-safe; the Manager serialises all calls. Does disk I/O and key generation.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "core/result.h"
#include "tls/certificate.h"
#include "tls/local_ca.h"

namespace portico::tls {

// What a file looked like when last read; a change in any field means "read it again".
struct FileStamp {
  bool exists = false;
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;

  static FileStamp of(const std::string& path);
  bool operator==(const FileStamp&) const = default;
};

// Events the store counts; the Manager turns them into Stats.
struct StoreCounters {
  uint64_t issued = 0;
  uint64_t renewed = 0;
  uint64_t renewal_failures = 0;
  uint64_t file_reloads = 0;
  uint64_t file_reload_failures = 0;
  uint64_t expired = 0;
};

class CertificateStore {
 public:
  enum class Source : uint8_t { Config, Api };

  struct Entry {
    config::Certificate config;  // for API imports: synthesized, files in state_dir/imported
    Source source = Source::Config;
    std::shared_ptr<const Certificate> certificate;   // never null
    std::array<FileStamp, 3> stamps{};                // imported: certificate, chain, key files
    std::optional<std::array<FileStamp, 3>> refused;  // stamps of files that failed to load
    bool expired_reported = false;
    TimePoint next_renewal_attempt{};

    // For issued certificates: when renewal starts (not_after - renew_before_days).
    TimePoint renew_at() const;
  };

  // Builds the store for `model` at `now`. Entries of `previous` whose config is unchanged are
  // kept as they are (files unchanged, not due for renewal); everything else is loaded, or
  // issued by the local CA (created in state_dir on first need). Errors name the config entry.
  static core::Result<CertificateStore> build(const config::Model& model,
                                              const CertificateStore* previous, TimePoint now,
                                              StoreCounters& counters);

  // Checks the imported files of `model` (PEM, key matching, chain) without touching state_dir.
  static core::Status validate(const config::Model& model);

  // Re-reads changed imported files, renews issued certificates that are due, reports newly
  // expired certificates. True when any certificate was replaced.
  bool tick(TimePoint now, StoreCounters& counters);

  // Imports (or re-imports) `name` from PEM text, ACM ImportCertificate style. The certificate
  // must be inside its validity period. Existing config imports get their files rewritten; new
  // names go to state_dir/imported. Errors: ParseError for bad input, Internal for I/O.
  core::Result<const Entry*> import(const std::string& name, std::string_view cert_pem,
                                    std::string_view chain_pem, std::string_view key_pem,
                                    TimePoint now);

  // ACM RenewCertificate: issues `name` (an issued certificate) anew now, whatever its window.
  // NotFound for an unknown name, ParseError for an imported one.
  core::Result<const Entry*> renew(std::string_view name, TimePoint now, StoreCounters& counters);

  const Entry* find(std::string_view name) const;
  const std::vector<Entry>& entries() const { return entries_; }
  const std::string& state_dir() const { return state_dir_; }

 private:
  core::Status ensure_ca(TimePoint now);
  core::Result<std::shared_ptr<const Certificate>> load_or_issue(const config::Certificate& c,
                                                                 TimePoint now, bool force_new,
                                                                 StoreCounters& counters);

  std::string state_dir_;
  std::optional<LocalCa> ca_;
  std::vector<Entry> entries_;
};

// "FILE:LINE:COL: certificates[N]" for a config entry; the state_dir files for API imports.
std::string describe_origin(const CertificateStore::Entry& e);

// A certificate name usable as a file name: 1-128 of A-Z a-z 0-9 . _ -, not starting with '.' or
// '-' (the rule config/ applies to `certificates[].name`).
bool valid_certificate_name(std::string_view name);

}  // namespace portico::tls
