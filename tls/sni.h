// tls::SniTable: which certificate an HTTPS listener serves for a ClientHello's server name
// (RFC 6066 §3). An exact name beats a wildcard, which beats the listener's default certificate
// (its first); `*.example.test` covers exactly one more label (RFC 6125 §6.4.3), so it matches
// a.example.test but neither example.test nor a.b.example.test. Names compare case-insensitively,
// a trailing dot ignored. When several certificates cover a name, the one listed first wins.
// Immutable after construction; choose() runs on any thread without locks or I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/model.h"
#include "tls/certificate.h"

namespace portico::tls {

enum class SniMatch : uint8_t {
  Exact,     // a certificate names the server name
  Wildcard,  // a certificate's *.parent covers it
  NoSni,     // the client sent no server name: the default certificate
  Default,   // nothing covers the name: the default certificate (unknown_sni: default_certificate)
  Rejected,  // nothing covers the name and unknown_sni is reject: alert unrecognized_name
};

class SniTable {
 public:
  struct Choice {
    const Certificate* certificate = nullptr;  // null only when Rejected
    SniMatch match = SniMatch::Default;
  };

  // `certificates` in the listener's order (the first is the default); none null.
  SniTable(std::vector<std::shared_ptr<const Certificate>> certificates,
           config::UnknownSni unknown_sni);

  // `server_name` as the client sent it ("" = no SNI).
  Choice choose(std::string_view server_name) const;

  const std::vector<std::shared_ptr<const Certificate>>& certificates() const {
    return certificates_;
  }

 private:
  std::vector<std::shared_ptr<const Certificate>> certificates_;
  config::UnknownSni unknown_sni_;
  std::unordered_map<std::string, const Certificate*> exact_;
  std::unordered_map<std::string, const Certificate*> wildcard_;  // keyed by the parent name
};

// "Www.Example.TEST." -> "www.example.test"; "" when `name` is not a plausible host name.
std::string normalize_server_name(std::string_view name);

const char* sni_match_name(SniMatch m);

}  // namespace portico::tls
