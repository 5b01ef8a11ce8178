// AWS's predefined TLS security policies, as plain data: CloudFront's viewer policies
// (ViewerCertificate.MinimumProtocolVersion: TLSv1 ... TLSv1.3_2025) and the ELBv2 policies of
// Application Load Balancers (DescribeSSLPolicies: ELBSecurityPolicy-*). Each lists the protocol
// versions and ciphers AWS documents, in AWS's order of preference, under AWS's names (which are
// OpenSSL's spellings); tls/ turns them into OpenSSL settings. Static tables; any thread.
// Sources: CloudFront Developer Guide "Supported protocols and ciphers between viewers and
// CloudFront"; ALB User Guide "Security policies for your Application Load Balancer".
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace portico::config {

enum class TlsVersion : uint8_t { Tls1_0, Tls1_1, Tls1_2, Tls1_3 };

enum class SslPolicyFamily : uint8_t { CloudFront, Elb };

struct SslPolicy {
  std::string_view name;
  SslPolicyFamily family = SslPolicyFamily::CloudFront;
  TlsVersion min_version = TlsVersion::Tls1_2;
  TlsVersion max_version = TlsVersion::Tls1_3;
  std::span<const std::string_view> ciphers;        // TLS 1.0-1.2 suites, preference order
  std::span<const std::string_view> tls13_ciphers;  // TLS 1.3 suites; empty when max < 1.3
};

// Defaults: CloudFront's recommended viewer policy for top-level listeners, the ALB console's
// TLS 1.3 policy for load balancer listeners.
inline constexpr std::string_view kDefaultCloudFrontSslPolicy = "TLSv1.2_2021";
inline constexpr std::string_view kDefaultElbSslPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06";

// Every supported policy, CloudFront's first.
std::span<const SslPolicy> ssl_policies();

// The policy named `name` (exact, case-sensitive, as AWS spells it), or nullptr.
const SslPolicy* find_ssl_policy(std::string_view name);

// Why a name AWS knows is refused here ("" when it is not one of those): SSLv3, and the ELB FIPS
// and post-quantum (PQ) policies.
std::string_view unsupported_ssl_policy_reason(std::string_view name);

std::string_view tls_version_name(TlsVersion v);  // "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"

}  // namespace portico::config
