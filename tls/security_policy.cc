#include "tls/security_policy.h"

#include <openssl/err.h>

#include <set>

#include "tls/openssl_handles.h"

namespace portico::tls {
namespace {

// Every TLS <= 1.2 cipher this OpenSSL build can offer, by OpenSSL name.
const std::set<std::string>& known_ciphers() {
  static const std::set<std::string> names = [] {
    std::set<std::string> out;
    SslCtxPtr ctx(SSL_CTX_new(TLS_method()));
    if (!ctx || SSL_CTX_set_cipher_list(ctx.get(), "ALL:COMPLEMENTOFALL:@SECLEVEL=0") != 1) {
      ERR_clear_error();
      return out;
    }
    STACK_OF(SSL_CIPHER)* list = SSL_CTX_get_ciphers(ctx.get());
    for (int i = 0; i < sk_SSL_CIPHER_num(list); ++i) {
      out.insert(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(list, i)));
    }
    return out;
  }();
  return names;
}

core::Error policy_error(const std::string& name, std::string_view what) {
  return core::Error::make(
      core::ErrorKind::Internal, core::Side::Internal,
      "security policy " + name + ": " + std::string(what) + ": " + openssl_error());
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += ':';
    out += p;
  }
  return out;
}

}  // namespace

std::string openssl_cipher_name(std::string_view aws_name) {
  std::string name(aws_name);
  if (name.starts_with("TLS_") && name.find("_WITH_") != std::string::npos) {
    const char* mapped = OPENSSL_cipher_name(name.c_str());
    if (mapped == nullptr || std::string_view(mapped) == "(NONE)") return {};
    name = mapped;
  }
  return known_ciphers().count(name) != 0 ? name : std::string();
}

int openssl_version(config::TlsVersion v) {
  switch (v) {
    case config::TlsVersion::Tls1_0:
      return TLS1_VERSION;
    case config::TlsVersion::Tls1_1:
      return TLS1_1_VERSION;
    case config::TlsVersion::Tls1_2:
      return TLS1_2_VERSION;
    case config::TlsVersion::Tls1_3:
      return TLS1_3_VERSION;
  }
  return TLS1_2_VERSION;
}

OpensslPolicy openssl_policy(const config::SslPolicy& policy) {
  OpensslPolicy p;
  p.name = std::string(policy.name);
  p.min_version = openssl_version(policy.min_version);
  p.max_version = openssl_version(policy.max_version);
  // OpenSSL 3 refuses TLS 1.0/1.1 (MD5-SHA1 and SHA-1 signatures) above security level 0.
  p.security_level = policy.min_version < config::TlsVersion::Tls1_2 ? 0 : 1;
  std::vector<std::string> ciphers;
  for (std::string_view aws : policy.ciphers) {
    std::string name = openssl_cipher_name(aws);
    if (name.empty()) {
      p.unavailable.emplace_back(aws);
    } else {
      ciphers.push_back(std::move(name));
    }
  }
  p.cipher_list = join(ciphers);
  std::vector<std::string> suites(policy.tls13_ciphers.begin(), policy.tls13_ciphers.end());
  p.ciphersuites = join(suites);
  return p;
}

core::Status apply_policy(SSL_CTX* ctx, const OpensslPolicy& p) {
  SSL_CTX_set_security_level(ctx, p.security_level);
  if (SSL_CTX_set_min_proto_version(ctx, p.min_version) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, p.max_version) != 1) {
    return policy_error(p.name, "cannot set protocol versions");
  }
  // TLS 1.3-only policies still need a valid (unused) TLS 1.2 list.
  const std::string& list = p.cipher_list.empty() ? "ECDHE-ECDSA-AES128-GCM-SHA256" : p.cipher_list;
  if (SSL_CTX_set_cipher_list(ctx, list.c_str()) != 1) {
    return policy_error(p.name, "no usable TLS 1.2 cipher");
  }
  if (SSL_CTX_set_ciphersuites(ctx, p.ciphersuites.c_str()) != 1) {
    return policy_error(p.name, "invalid TLS 1.3 suites");
  }
  SSL_CTX_set_security_level(ctx, p.security_level);
  return {};
}

core::Status apply_policy(SSL* ssl, const OpensslPolicy& p) {
  SSL_set_security_level(ssl, p.security_level);
  if (SSL_set_min_proto_version(ssl, p.min_version) != 1 ||
      SSL_set_max_proto_version(ssl, p.max_version) != 1) {
    return policy_error(p.name, "cannot set protocol versions");
  }
  const std::string& list = p.cipher_list.empty() ? "ECDHE-ECDSA-AES128-GCM-SHA256" : p.cipher_list;
  if (SSL_set_cipher_list(ssl, list.c_str()) != 1 ||
      SSL_set_ciphersuites(ssl, p.ciphersuites.c_str()) != 1) {
    return policy_error(p.name, "cannot set ciphers");
  }
  SSL_set_security_level(ssl, p.security_level);
  return {};
}

}  // namespace portico::tls
