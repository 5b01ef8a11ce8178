#include "tls/certificate.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <ctime>

namespace portico::tls {
namespace {

core::Error config_error(std::string detail) {
  return core::Error::make(core::ErrorKind::Config, core::Side::Internal, std::move(detail));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

TimePoint asn1_time_point(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return TimePoint{};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string asn1_text(const ASN1_STRING* s) {
  if (s == nullptr) return {};
  const unsigned char* data = ASN1_STRING_get0_data(s);
  int len = ASN1_STRING_length(s);
  if (data == nullptr || len <= 0) return {};
  return std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(len));
}

std::string name_entry(const X509_NAME* name, int nid) {
  int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0) return {};
  return asn1_text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
}

std::string rfc2253(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
  return bio_contents(bio.get());
}

std::string serial_hex(const X509* x) {
  const ASN1_INTEGER* serial = X509_get0_serialNumber(x);
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  const unsigned char* data = ASN1_STRING_get0_data(serial);
  for (int i = 0; i < ASN1_STRING_length(serial); ++i) {
    if (!out.empty()) out += ':';
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 15];
  }
  return out;
}

std::vector<std::string> dns_names(X509* x, const std::string& cn) {
  std::vector<std::string> out;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  if (sans == nullptr) {
    if (!cn.empty()) out.push_back(lower(cn));
    return out;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
    if (gn->type != GEN_DNS) continue;
    std::string name = lower(asn1_text(gn->d.dNSName));
    if (name.ends_with('.')) name.pop_back();
    if (!name.empty()) out.push_back(std::move(name));
  }
  GENERAL_NAMES_free(sans);
  return out;
}

}  // namespace

std::string key_algorithm_name(const EVP_PKEY* key) {
  if (key == nullptr) return {};
  int bits = EVP_PKEY_get_bits(key);
  if (EVP_PKEY_is_a(key, "RSA")) return "RSA_" + std::to_string(bits);
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len) != 1) return {};
    std::string g(group, len);
    if (g == "prime256v1" || g == "P-256") return "EC_prime256v1";
    if (g == "secp384r1" || g == "P-384") return "EC_secp384r1";
    if (g == "secp521r1" || g == "P-521") return "EC_secp521r1";
    return "EC_" + g;
  }
  return {};
}

std::string_view key_algorithm_name(config::KeyAlgorithm alg) {
  switch (alg) {
    case config::KeyAlgorithm::EcPrime256v1:
      return "EC_prime256v1";
    case config::KeyAlgorithm::EcSecp384r1:
      return "EC_secp384r1";
    case config::KeyAlgorithm::Rsa2048:
      return "RSA_2048";
  }
  return "?";
}

std::string format_time(TimePoint t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[32];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

core::Result<std::shared_ptr<const Certificate>> parse_certificate(std::string name,
                                                                   config::CertificateType type,
                                                                   std::string_view cert_pem,
                                                                   std::string_view chain_pem,
                                                                   std::string_view key_pem) {
  ERR_clear_error();
  auto cert = std::make_shared<Certificate>();
  cert->name = std::move(name);
  cert->type = type;
  {
    BioPtr bio = memory_bio(cert_pem);
    cert->leaf.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert->leaf) {
      return config_error("no PEM certificate found (" + openssl_error("empty") + ")");
    }
    // A bundle in the certificate file: the rest is the chain (as nginx reads it).
    X509StackPtr chain(sk_X509_new_null());
    while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      sk_X509_push(chain.get(), extra);
    }
    ERR_clear_error();  // the loop ends on "no start line"
    cert->chain = std::move(chain);
  }
  if (!chain_pem.empty()) {
    BioPtr bio = memory_bio(chain_pem);
    int before = sk_X509_num(cert->chain.get());
    while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      sk_X509_push(cert->chain.get(), extra);
    }
    ERR_clear_error();
    if (sk_X509_num(cert->chain.get()) == before) {
      return config_error("the certificate chain holds no PEM certificate");
    }
  }
  {
    BioPtr bio = memory_bio(key_pem);
    // An empty passphrase callback: encrypted keys fail instead of prompting on the terminal.
    auto no_passphrase = [](char*, int, int, void*) -> int { return 0; };
    cert->key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
    if (!cert->key) {
      std::string why = openssl_error("no PEM private key found");
      return config_error("cannot read the private key: " + why +
                          " (it must be PEM and unencrypted)");
    }
  }
  cert->key_algorithm = key_algorithm_name(cert->key.get());
  if (cert->key_algorithm.empty()) {
    return config_error("unsupported private key type (RSA or EC keys only)");
  }
  if (X509_check_private_key(cert->leaf.get(), cert->key.get()) != 1) {
    ERR_clear_error();
    return config_error("the private key does not match the certificate");
  }
  const X509_NAME* subject = X509_get_subject_name(cert->leaf.get());
  cert->subject_cn = name_entry(subject, NID_commonName);
  cert->names = dns_names(cert->leaf.get(), cert->subject_cn);
  const X509_NAME* issuer = X509_get_issuer_name(cert->leaf.get());
  cert->issuer = name_entry(issuer, NID_commonName);
  if (cert->issuer.empty()) cert->issuer = rfc2253(issuer);
  cert->serial = serial_hex(cert->leaf.get());
  cert->not_before = asn1_time_point(X509_get0_notBefore(cert->leaf.get()));
  cert->not_after = asn1_time_point(X509_get0_notAfter(cert->leaf.get()));
  cert->cert_pem.assign(cert_pem);
  cert->chain_pem.assign(chain_pem);
  ERR_clear_error();
  return std::shared_ptr<const Certificate>(std::move(cert));
}

}  // namespace portico::tls
