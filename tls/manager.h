// tls::Manager: Portico's stand-in for ACM plus the TLS side of CloudFront and ALB listeners. It
// owns the local CA (state_dir), the certificates (issued by the local CA and renewed inside
// renew_before_days, or imported from PEM files, watched and re-read when they change, or
// imported through the admin API), one SSL_CTX per HTTPS listener (AWS security policy, SNI
// choice, ALPN h2/http/1.1, server-side session cache, session tickets with hourly key
// rotation), and the counters the proxy's metrics read.
// Threads: server_context(), stats(), describe_json() and every handshake callback may run on any
// thread; create/apply/tick/import_json are meant for the main loop (they serialise on a mutex and
// may do disk I/O and key generation, never inside a handshake). Lifetime: the Manager must
// outlive every SSL made from its contexts (it lives for the process). RFC 8446, RFC 5246,
// RFC 6066 §3 (SNI), RFC 7301 (ALPN), RFC 5077 (tickets), RFC 5280 (certificates).
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "core/result.h"

namespace portico::tls {

// Counters for the proxy's metrics. Gauges are computed at the time of the last tick.
struct Stats {
  uint64_t certificates = 0;          // gauge: certificates held (config and API imports)
  uint64_t certificates_expired = 0;  // gauge: certificates whose status is EXPIRED
  uint64_t expired_total = 0;         // certificates found expired (each logged once)
  uint64_t issued_total = 0;          // leaves the local CA signed (first issues and renewals)
  uint64_t renewed_total = 0;         // issued certificates renewed inside renew_before_days
  uint64_t renewal_failures_total = 0;
  uint64_t file_reloads_total = 0;          // changed imported files swapped in
  uint64_t file_reload_failures_total = 0;  // changed imported files refused (old ones kept)
  uint64_t imports_total = 0;               // POST /certificates accepted
  uint64_t ticket_key_rotations_total = 0;
  uint64_t handshakes_sni_exact_total = 0;      // certificate chosen by an exact name
  uint64_t handshakes_sni_wildcard_total = 0;   // ... by a wildcard
  uint64_t handshakes_no_sni_total = 0;         // no server name: the default certificate
  uint64_t handshakes_sni_default_total = 0;    // unknown name: the default certificate
  uint64_t handshakes_sni_rejected_total = 0;   // unknown name: alert unrecognized_name
  uint64_t handshake_setup_failures_total = 0;  // certificate or policy could not be set
};

class Manager {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  // Loads or creates the local CA in model.state_dir (only when a certificate is issued), issues
  // or reloads issued certificates (state_dir/certificates/NAME.{pem,key}), reads imported PEM
  // files and earlier API imports (state_dir/imported/), and builds one SSL_CTX per HTTPS
  // listener, top-level and load balancer ones, by listener name. Errors name the config
  // location, the certificate and the file.
  static core::Result<std::unique_ptr<Manager>> create(const config::Model& model);
  // Same at a given time (tests; `now` is also the first tick).
  static core::Result<std::unique_ptr<Manager>> create(const config::Model& model, TimePoint now);

  // Checks what create() would read from imported files (PEM syntax, key matching the
  // certificate, chain) without touching state_dir. For `portico check` and startup, exit 2.
  static core::Status validate(const config::Model& model);

  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // The SSL_CTX of an HTTPS listener, or nullptr for an unknown or HTTP listener. Valid for the
  // Manager's life, also after a reload drops the listener; the certificates and policy it serves
  // come from the current snapshot, so apply() and tick() change new handshakes only.
  SSL_CTX* server_context(std::string_view listener_name) const;

  // Applies a reloaded config: certificates added, changed or removed, listeners added or changed
  // (policy, certificates, http2, unknown_sni), state_dir. On error nothing changes.
  core::Status apply(const config::Model& model);

  // Called about every second from the main loop: re-reads imported files whose mtime, size or
  // inode changed (an invalid new file is logged and counted, the old certificate kept), renews
  // issued certificates inside renew_before_days, logs and counts certificates that expired,
  // rotates ticket keys. `now` is also the time describe_json() and stats() judge by.
  void tick(TimePoint now);

  // POST /certificates: a JSON object like ACM's ImportCertificate, {"certificate": PEM,
  // "private_key": PEM, "certificate_chain"?: PEM, "name"?: NAME, "certificate_arn"?: ARN} (ACM's
  // PascalCase names are accepted too). An existing imported certificate (by name or ARN) is
  // replaced, its files rewritten; a new one is stored in state_dir/imported/. Returns the
  // certificate's describe entry. Errors: ParseError for a bad request (400), Internal for I/O.
  core::Result<std::string> import_json(std::string_view body);

  // GET /certificates: {"certificates": [{name, certificate_arn, type, domain_name,
  // subject_alternative_names, issuer, serial, key_algorithm, not_before, not_after, status
  // (ISSUED | EXPIRED | INACTIVE), in_use_by (listener names), renewal_eligibility, ...}]}.
  std::string describe_json() const;

  // POST /certificates/{name}/renew, like ACM's RenewCertificate for private certificates: the
  // local CA issues `name` anew now; new handshakes get it. Returns its describe entry. Errors:
  // NotFound (unknown name), ParseError (an imported certificate), Internal.
  core::Result<std::string> renew(std::string_view name);

  Stats stats() const;

  // The local CA's root certificate, PEM (`portico ca export`); creates the CA when state_dir has
  // none yet.
  static core::Result<std::string> export_ca(const std::string& state_dir);

  // Hex names of the ticket keys, current first.
  std::vector<std::string> ticket_key_names_for_test() const;

 private:
  struct Impl;
  explicit Manager(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

// ALPN: the listener offers "h2" then "http/1.1" when its http2 is true (the default), else
// "http/1.1" only. True when the handshake on `ssl` selected h2.
bool alpn_is_h2(const SSL* ssl);

}  // namespace portico::tls
