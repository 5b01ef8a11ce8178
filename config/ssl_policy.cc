#include "config/ssl_policy.h"

#include <array>

namespace portico::config {
namespace {

using V = TlsVersion;
using F = SslPolicyFamily;

// ---- CloudFront (viewer side). Orders are CloudFront's (s2n's cloudfront_* preferences); the
// developer guide's table gives the membership.

constexpr std::string_view kCfTls13[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                         "TLS_CHACHA20_POLY1305_SHA256"};
// TLSv1.3_2025 drops ChaCha20 (AES-GCM only).
constexpr std::string_view kCfTls13Aes[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"};

// TLSv1: TLSv1_2016 plus DES-CBC3-SHA.
constexpr std::string_view kCfTlsv1[] = {"ECDHE-ECDSA-AES128-GCM-SHA256",
                                         "ECDHE-RSA-AES128-GCM-SHA256",
                                         "ECDHE-ECDSA-AES128-SHA256",
                                         "ECDHE-RSA-AES128-SHA256",
                                         "ECDHE-ECDSA-AES128-SHA",
                                         "ECDHE-RSA-AES128-SHA",
                                         "ECDHE-ECDSA-AES256-GCM-SHA384",
                                         "ECDHE-RSA-AES256-GCM-SHA384",
                                         "ECDHE-ECDSA-CHACHA20-POLY1305",
                                         "ECDHE-RSA-CHACHA20-POLY1305",
                                         "ECDHE-ECDSA-AES256-SHA384",
                                         "ECDHE-RSA-AES256-SHA384",
                                         "ECDHE-ECDSA-AES256-SHA",
                                         "ECDHE-RSA-AES256-SHA",
                                         "AES128-GCM-SHA256",
                                         "AES256-GCM-SHA384",
                                         "AES128-SHA256",
                                         "AES256-SHA",
                                         "AES128-SHA",
                                         "DES-CBC3-SHA"};
// TLSv1_2016 and TLSv1.1_2016.
constexpr std::span<const std::string_view> kCfTlsv1_2016(kCfTlsv1, std::size(kCfTlsv1) - 1);
constexpr std::string_view kCf2018[] = {"ECDHE-ECDSA-AES128-GCM-SHA256",
                                        "ECDHE-RSA-AES128-GCM-SHA256",
                                        "ECDHE-ECDSA-AES128-SHA256",
                                        "ECDHE-RSA-AES128-SHA256",
                                        "ECDHE-ECDSA-AES256-GCM-SHA384",
                                        "ECDHE-RSA-AES256-GCM-SHA384",
                                        "ECDHE-ECDSA-CHACHA20-POLY1305",
                                        "ECDHE-RSA-CHACHA20-POLY1305",
                                        "ECDHE-ECDSA-AES256-SHA384",
                                        "ECDHE-RSA-AES256-SHA384",
                                        "AES128-GCM-SHA256",
                                        "AES256-GCM-SHA384",
                                        "AES128-SHA256"};
constexpr std::string_view kCf2019[] = {
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES256-SHA384",     "ECDHE-RSA-AES256-SHA384",
    "ECDHE-ECDSA-AES128-SHA256",     "ECDHE-RSA-AES128-SHA256"};
constexpr std::span<const std::string_view> kCf2021(kCf2019, 6);
constexpr std::span<const std::string_view> kCf2025(kCf2019, 4);  // AES-GCM with ECDHE only

// ---- ELBv2 (Application Load Balancer). Orders are DescribeSSLPolicies' cipher priorities.

constexpr std::string_view kElbTls13[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                          "TLS_CHACHA20_POLY1305_SHA256"};
// ELBSecurityPolicy-2016-08 (= 2015-05), TLS-1-1-2017-01, TLS-1-2-Ext-2018-06, TLS13-1-0/1-1.
constexpr std::string_view kElb2016[] = {"ECDHE-ECDSA-AES128-GCM-SHA256",
                                         "ECDHE-RSA-AES128-GCM-SHA256",
                                         "ECDHE-ECDSA-AES128-SHA256",
                                         "ECDHE-RSA-AES128-SHA256",
                                         "ECDHE-ECDSA-AES128-SHA",
                                         "ECDHE-RSA-AES128-SHA",
                                         "ECDHE-ECDSA-AES256-GCM-SHA384",
                                         "ECDHE-RSA-AES256-GCM-SHA384",
                                         "ECDHE-ECDSA-AES256-SHA384",
                                         "ECDHE-RSA-AES256-SHA384",
                                         "ECDHE-RSA-AES256-SHA",
                                         "ECDHE-ECDSA-AES256-SHA",
                                         "AES128-GCM-SHA256",
                                         "AES128-SHA256",
                                         "AES128-SHA",
                                         "AES256-GCM-SHA384",
                                         "AES256-SHA256",
                                         "AES256-SHA",
                                         "DES-CBC3-SHA"};
constexpr std::span<const std::string_view> kElbDefault(kElb2016, std::size(kElb2016) - 1);
constexpr std::span<const std::string_view> kElbTls10(kElb2016);  // TLS-1-0-2015-04: + 3DES
// TLS13-1-2-Ext2-2021-06: the 2016-08 list with the two ECDHE AES256-SHA suites the other way.
constexpr std::string_view kElbExt2[] = {"ECDHE-ECDSA-AES128-GCM-SHA256",
                                         "ECDHE-RSA-AES128-GCM-SHA256",
                                         "ECDHE-ECDSA-AES128-SHA256",
                                         "ECDHE-RSA-AES128-SHA256",
                                         "ECDHE-ECDSA-AES128-SHA",
                                         "ECDHE-RSA-AES128-SHA",
                                         "ECDHE-ECDSA-AES256-GCM-SHA384",
                                         "ECDHE-RSA-AES256-GCM-SHA384",
                                         "ECDHE-ECDSA-AES256-SHA384",
                                         "ECDHE-RSA-AES256-SHA384",
                                         "ECDHE-ECDSA-AES256-SHA",
                                         "ECDHE-RSA-AES256-SHA",
                                         "AES128-GCM-SHA256",
                                         "AES128-SHA256",
                                         "AES128-SHA",
                                         "AES256-GCM-SHA384",
                                         "AES256-SHA256",
                                         "AES256-SHA"};
// TLS-1-2-2017-01 and TLS13-1-2-Ext1-2021-06: no SHA-1 suites.
constexpr std::string_view kElbTls12[] = {"ECDHE-ECDSA-AES128-GCM-SHA256",
                                          "ECDHE-RSA-AES128-GCM-SHA256",
                                          "ECDHE-ECDSA-AES128-SHA256",
                                          "ECDHE-RSA-AES128-SHA256",
                                          "ECDHE-ECDSA-AES256-GCM-SHA384",
                                          "ECDHE-RSA-AES256-GCM-SHA384",
                                          "ECDHE-ECDSA-AES256-SHA384",
                                          "ECDHE-RSA-AES256-SHA384",
                                          "AES128-GCM-SHA256",
                                          "AES128-SHA256",
                                          "AES256-GCM-SHA384",
                                          "AES256-SHA256"};
// FS-1-2-Res-2019-08 and TLS13-1-2-2021-06: forward secret, no SHA-1.
constexpr std::span<const std::string_view> kElbFsRes2019(kElbTls12, 8);
// FS-2018-06, FS-1-1-2019-08, FS-1-2-2019-08: ECDHE only.
constexpr std::span<const std::string_view> kElbFs(kElb2016, 12);
// FS-1-2-Res-2020-10 and TLS13-1-2-Res-2021-06: ECDHE with AES-GCM only.
constexpr std::string_view kElbRes[] = {
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384"};

constexpr std::span<const std::string_view> kNone{};

const std::array<SslPolicy, 26> kPolicies = {{
    // CloudFront. SSLv3 is refused (unsupported_ssl_policy_reason).
    {"TLSv1", F::CloudFront, V::Tls1_0, V::Tls1_3, kCfTlsv1, kCfTls13},
    {"TLSv1_2016", F::CloudFront, V::Tls1_0, V::Tls1_3, kCfTlsv1_2016, kCfTls13},
    {"TLSv1.1_2016", F::CloudFront, V::Tls1_1, V::Tls1_3, kCfTlsv1_2016, kCfTls13},
    {"TLSv1.2_2018", F::CloudFront, V::Tls1_2, V::Tls1_3, kCf2018, kCfTls13},
    {"TLSv1.2_2019", F::CloudFront, V::Tls1_2, V::Tls1_3, kCf2019, kCfTls13},
    {"TLSv1.2_2021", F::CloudFront, V::Tls1_2, V::Tls1_3, kCf2021, kCfTls13},
    {"TLSv1.2_2025", F::CloudFront, V::Tls1_2, V::Tls1_3, kCf2025, kCfTls13},
    {"TLSv1.3_2025", F::CloudFront, V::Tls1_3, V::Tls1_3, kNone, kCfTls13Aes},
    // ELBv2, TLS 1.3 policies.
    {"ELBSecurityPolicy-TLS13-1-2-2021-06", F::Elb, V::Tls1_2, V::Tls1_3, kElbFsRes2019, kElbTls13},
    {"ELBSecurityPolicy-TLS13-1-2-Res-2021-06", F::Elb, V::Tls1_2, V::Tls1_3, kElbRes, kElbTls13},
    {"ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06", F::Elb, V::Tls1_2, V::Tls1_3, kElbTls12,
     kElbTls13},
    {"ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06", F::Elb, V::Tls1_2, V::Tls1_3, kElbExt2, kElbTls13},
    {"ELBSecurityPolicy-TLS13-1-1-2021-06", F::Elb, V::Tls1_1, V::Tls1_3, kElbDefault, kElbTls13},
    {"ELBSecurityPolicy-TLS13-1-0-2021-06", F::Elb, V::Tls1_0, V::Tls1_3, kElbDefault, kElbTls13},
    {"ELBSecurityPolicy-TLS13-1-3-2021-06", F::Elb, V::Tls1_3, V::Tls1_3, kNone, kElbTls13},
    // ELBv2, TLS 1.0-1.2 policies.
    {"ELBSecurityPolicy-2016-08", F::Elb, V::Tls1_0, V::Tls1_2, kElbDefault, kNone},
    {"ELBSecurityPolicy-2015-05", F::Elb, V::Tls1_0, V::Tls1_2, kElbDefault, kNone},
    {"ELBSecurityPolicy-TLS-1-0-2015-04", F::Elb, V::Tls1_0, V::Tls1_2, kElbTls10, kNone},
    {"ELBSecurityPolicy-TLS-1-1-2017-01", F::Elb, V::Tls1_1, V::Tls1_2, kElbDefault, kNone},
    {"ELBSecurityPolicy-TLS-1-2-2017-01", F::Elb, V::Tls1_2, V::Tls1_2, kElbTls12, kNone},
    {"ELBSecurityPolicy-TLS-1-2-Ext-2018-06", F::Elb, V::Tls1_2, V::Tls1_2, kElbDefault, kNone},
    {"ELBSecurityPolicy-FS-2018-06", F::Elb, V::Tls1_0, V::Tls1_2, kElbFs, kNone},
    {"ELBSecurityPolicy-FS-1-1-2019-08", F::Elb, V::Tls1_1, V::Tls1_2, kElbFs, kNone},
    {"ELBSecurityPolicy-FS-1-2-2019-08", F::Elb, V::Tls1_2, V::Tls1_2, kElbFs, kNone},
    {"ELBSecurityPolicy-FS-1-2-Res-2019-08", F::Elb, V::Tls1_2, V::Tls1_2, kElbFsRes2019, kNone},
    {"ELBSecurityPolicy-FS-1-2-Res-2020-10", F::Elb, V::Tls1_2, V::Tls1_2, kElbRes, kNone},
}};

}  // namespace

std::span<const SslPolicy> ssl_policies() { return kPolicies; }

const SslPolicy* find_ssl_policy(std::string_view name) {
  for (const SslPolicy& p : ssl_policies()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string_view unsupported_ssl_policy_reason(std::string_view name) {
  if (name == "SSLv3") {
    return "SSL 3.0 is broken (RFC 7568) and not supported; use TLSv1.2_2021 or later";
  }
  if (!name.starts_with("ELBSecurityPolicy-")) return "";
  if (name.find("-FIPS-") != std::string_view::npos) {
    return "FIPS policies need a FIPS 140-validated OpenSSL provider, which Portico does not "
           "load; use the same policy without -FIPS";
  }
  if (name.find("-PQ-") != std::string_view::npos) {
    return "post-quantum (ML-KEM) key exchange needs OpenSSL 3.5 or later; use the same policy "
           "without -PQ";
  }
  return "";
}

std::string_view tls_version_name(TlsVersion v) {
  switch (v) {
    case TlsVersion::Tls1_0:
      return "TLSv1";
    case TlsVersion::Tls1_1:
      return "TLSv1.1";
    case TlsVersion::Tls1_2:
      return "TLSv1.2";
    case TlsVersion::Tls1_3:
      return "TLSv1.3";
  }
  return "?";
}

}  // namespace portico::config
