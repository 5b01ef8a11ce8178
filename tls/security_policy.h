// OpenSSL settings for an AWS security policy (config/ssl_policy.h): protocol version bounds, the
// TLS 1.0-1.2 cipher list and the TLS 1.3 suites in AWS's preference order (the server's order
// wins, as on CloudFront and ALB), and the security level legacy protocols need. AWS writes
// TLS <= 1.2 ciphers with OpenSSL's names; RFC names (TLS_ECDHE_RSA_WITH_...) are translated too.
// Ciphers this OpenSSL build lacks (3DES on Debian 12) are left out and listed. Pure functions
// plus setters; any thread.
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/ssl_policy.h"
#include "core/result.h"

namespace portico::tls {

struct OpensslPolicy {
  std::string name;  // the AWS policy name
  int min_version = TLS1_2_VERSION;
  int max_version = TLS1_3_VERSION;
  std::string cipher_list;   // for SSL_CTX_set_cipher_list; "" when TLS 1.3 only
  std::string ciphersuites;  // for SSL_CTX_set_ciphersuites; "" when TLS 1.2 at most
  int security_level = 1;    // 0 when the policy allows TLS 1.0/1.1 (OpenSSL 3 needs it)
  std::vector<std::string> unavailable;  // AWS cipher names this OpenSSL cannot offer
};

OpensslPolicy openssl_policy(const config::SslPolicy& policy);

// The OpenSSL name for an AWS/RFC cipher name, or "" when this OpenSSL does not know it.
std::string openssl_cipher_name(std::string_view aws_name);

int openssl_version(config::TlsVersion v);

// Applies `p` to a context (at creation) or to one connection (from the ClientHello callback,
// before version and cipher negotiation). Errors name the policy.
core::Status apply_policy(SSL_CTX* ctx, const OpensslPolicy& p);
core::Status apply_policy(SSL* ssl, const OpensslPolicy& p);

}  // namespace portico::tls
