// tls::Certificate: one served certificate as loaded into memory: the leaf, its chain, its private
// key and the facts describe_json and SNI need (names, validity, issuer, serial, key algorithm).
// Immutable once built and shared as shared_ptr<const Certificate>; handshakes on any thread read
// it while the Manager swaps in new ones. config::Certificate is the declaration it comes from.
// Parsing does no I/O: callers read the PEM text.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "core/result.h"
#include "tls/openssl_handles.h"

namespace portico::tls {

using TimePoint = std::chrono::system_clock::time_point;

struct Certificate {
  std::string name;
  config::CertificateType type = config::CertificateType::Issued;
  X509Ptr leaf;
  X509StackPtr chain;  // intermediates sent after the leaf; never null (maybe empty)
  EvpPkeyPtr key;
  // DNS names the certificate covers, lower-cased: its subjectAltName dNSNames, or its subject CN
  // when it has no SAN extension. "*.x" entries are wildcards.
  std::vector<std::string> names;
  std::string subject_cn;     // "" when none
  std::string issuer;         // issuer CN, else the issuer DN (RFC 2253)
  std::string serial;         // lower-case hex bytes joined by ':', as ACM shows it
  std::string key_algorithm;  // ACM's names: EC_prime256v1, EC_secp384r1, RSA_2048, ...
  TimePoint not_before;
  TimePoint not_after;
  std::string cert_pem;   // the leaf
  std::string chain_pem;  // "" when no chain

  bool expired(TimePoint now) const { return now >= not_after; }
  bool not_yet_valid(TimePoint now) const { return now < not_before; }
};

// Parses a PEM leaf, optional PEM chain and a PEM private key (unencrypted, PKCS#8 or
// traditional) and checks that the key matches the leaf. Errors (kind Config) say which part is
// wrong, without file names: callers prefix those.
core::Result<std::shared_ptr<const Certificate>> parse_certificate(std::string name,
                                                                   config::CertificateType type,
                                                                   std::string_view cert_pem,
                                                                   std::string_view chain_pem,
                                                                   std::string_view key_pem);

// ACM's KeyAlgorithm name for a key: "EC_prime256v1", "EC_secp384r1", "EC_secp521r1",
// "RSA_2048", "RSA_3072", ...; "" for a key type TLS servers here cannot use.
std::string key_algorithm_name(const EVP_PKEY* key);

// The key algorithm config name ("EC_prime256v1", ...).
std::string_view key_algorithm_name(config::KeyAlgorithm alg);

// ISO 8601 UTC, second precision ("2025-01-31T12:00:00Z").
std::string format_time(TimePoint t);

}  // namespace portico::tls
