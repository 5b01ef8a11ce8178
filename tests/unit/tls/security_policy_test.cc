// AWS security policies -> OpenSSL: protocol bounds, cipher lists in AWS's order, TLS 1.3
// suites, and handshakes that show a policy is enforced (a TLS 1.1 client is refused under
// TLSv1.2_2021, the server's cipher order wins, a reloaded policy applies to the same SSL_CTX).
#include "tls/security_policy.h"

#include <catch2/catch.hpp>

#include "config/ssl_policy.h"
#include "tls/manager.h"
#include "tls_test_util.h"

using portico::config::find_ssl_policy;
using portico::config::ssl_policies;
using portico::config::SslPolicy;
using portico::config::TlsVersion;
using portico::tls::apply_policy;
using portico::tls::Manager;
using portico::tls::openssl_cipher_name;
using portico::tls::openssl_policy;
using portico::tls::SslCtxPtr;
using portico::tls::testing::ClientOptions;
using portico::tls::testing::handshake;
using portico::tls::testing::load_model;
using portico::tls::testing::TempDir;

namespace {

// One EC certificate for example.test and an HTTPS listener `tls` with `policy`.
std::string https_config(const std::string& state, const std::string& policy) {
  return "state_dir: " + state +
         "\n"
         "certificates:\n"
         "  - {name: site, domains: [example.test]}\n"
         "listeners:\n"
         "  - {name: http, address: 127.0.0.1:0}\n"
         "  - {name: tls, address: 127.0.0.1:0, protocol: HTTPS, certificates: [site], "
         "ssl_policy: " +
         policy + "}\n";
}

std::unique_ptr<Manager> manager_with(const TempDir& dir, const std::string& policy) {
  auto m = Manager::create(load_model(https_config(dir.file("state"), policy), dir.path()));
  if (!m.ok()) FAIL(m.error().detail);
  return std::move(*m);
}

}  // namespace

TEST_CASE("policy: TLSv1.2_2021 maps to CloudFront's list", "[tls][policy]") {
  const SslPolicy* p = find_ssl_policy("TLSv1.2_2021");
  REQUIRE(p != nullptr);
  auto o = openssl_policy(*p);
  CHECK(o.min_version == TLS1_2_VERSION);
  CHECK(o.max_version == TLS1_3_VERSION);
  CHECK(o.security_level == 1);
  CHECK(o.cipher_list ==
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  CHECK(o.ciphersuites ==
        "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  CHECK(o.unavailable.empty());
}

TEST_CASE("policy: protocol bounds of the AWS names", "[tls][policy]") {
  struct Want {
    const char* name;
    TlsVersion min;
    TlsVersion max;
  };
  for (const Want& w : {
           Want{"TLSv1", TlsVersion::Tls1_0, TlsVersion::Tls1_3},
           Want{"TLSv1.1_2016", TlsVersion::Tls1_1, TlsVersion::Tls1_3},
           Want{"TLSv1.2_2019", TlsVersion::Tls1_2, TlsVersion::Tls1_3},
           Want{"TLSv1.3_2025", TlsVersion::Tls1_3, TlsVersion::Tls1_3},
           Want{"ELBSecurityPolicy-2016-08", TlsVersion::Tls1_0, TlsVersion::Tls1_2},
           Want{"ELBSecurityPolicy-TLS-1-2-2017-01", TlsVersion::Tls1_2, TlsVersion::Tls1_2},
           Want{"ELBSecurityPolicy-TLS13-1-2-2021-06", TlsVersion::Tls1_2, TlsVersion::Tls1_3},
           Want{"ELBSecurityPolicy-TLS13-1-3-2021-06", TlsVersion::Tls1_3, TlsVersion::Tls1_3},
           Want{"ELBSecurityPolicy-FS-1-2-Res-2020-10", TlsVersion::Tls1_2, TlsVersion::Tls1_2},
       }) {
    INFO(w.name);
    const SslPolicy* p = find_ssl_policy(w.name);
    REQUIRE(p != nullptr);
    CHECK(p->min_version == w.min);
    CHECK(p->max_version == w.max);
    CHECK(p->tls13_ciphers.empty() == (w.max != TlsVersion::Tls1_3));
    CHECK(p->ciphers.empty() == (w.min == TlsVersion::Tls1_3));
  }
  CHECK(find_ssl_policy("SSLv3") == nullptr);
  CHECK(find_ssl_policy("tlsv1.2_2021") == nullptr);
  CHECK(find_ssl_policy("TLSv1.3_2025")->tls13_ciphers.size() == 2);  // no ChaCha20
  CHECK(find_ssl_policy("ELBSecurityPolicy-TLS13-1-2-Res-2021-06")->ciphers.size() == 4);
}

TEST_CASE("policy: every AWS policy builds an SSL_CTX with its ciphers in order", "[tls][policy]") {
  for (const SslPolicy& p : ssl_policies()) {
    INFO(p.name);
    auto o = openssl_policy(p);
    CHECK(o.security_level == (p.min_version < TlsVersion::Tls1_2 ? 0 : 1));
    CHECK(o.unavailable.size() + (o.cipher_list.empty() ? 0 : 1) +
              static_cast<size_t>(std::count(o.cipher_list.begin(), o.cipher_list.end(), ':')) ==
          p.ciphers.size());
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    REQUIRE(apply_policy(ctx.get(), o).ok());
    CHECK(SSL_CTX_get_min_proto_version(ctx.get()) == o.min_version);
    CHECK(SSL_CTX_get_max_proto_version(ctx.get()) == o.max_version);
    std::string got12;
    std::string got13;
    STACK_OF(SSL_CIPHER)* list = SSL_CTX_get_ciphers(ctx.get());
    for (int i = 0; i < sk_SSL_CIPHER_num(list); ++i) {
      const SSL_CIPHER* c = sk_SSL_CIPHER_value(list, i);
      std::string name = SSL_CIPHER_get_name(c);
      std::string& out = name.starts_with("TLS_") ? got13 : got12;  // OpenSSL's TLS 1.3 names
      out += (out.empty() ? "" : ":") + name;
    }
    if (!o.cipher_list.empty()) CHECK(got12 == o.cipher_list);
    CHECK(got13 == o.ciphersuites);
  }
}

TEST_CASE("policy: cipher names translate, unknown ones are reported", "[tls][policy]") {
  CHECK(openssl_cipher_name("ECDHE-RSA-AES128-GCM-SHA256") == "ECDHE-RSA-AES128-GCM-SHA256");
  CHECK(openssl_cipher_name("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256") ==
        "ECDHE-RSA-AES128-GCM-SHA256");
  CHECK(openssl_cipher_name("TLS_RSA_WITH_AES_128_CBC_SHA") == "AES128-SHA");
  CHECK(openssl_cipher_name("RC4-MD5") == "");
  CHECK(openssl_cipher_name("NOT-A-CIPHER") == "");
  auto tlsv1 = openssl_policy(*find_ssl_policy("TLSv1"));
  // 3DES is in AWS's TLSv1 list; OpenSSL builds without it leave it out and say so.
  bool has_3des = !openssl_cipher_name("DES-CBC3-SHA").empty();
  CHECK((tlsv1.cipher_list.find("DES-CBC3-SHA") != std::string::npos) == has_3des);
  CHECK(tlsv1.unavailable.size() == (has_3des ? 0u : 1u));
}

TEST_CASE("policy: a TLS 1.1 client is refused under TLSv1.2_2021", "[tls][policy]") {
  TempDir dir;
  auto m = manager_with(dir, "TLSv1.2_2021");
  ClientOptions o;
  o.server_name = "example.test";
  o.max_version = TLS1_1_VERSION;
  auto r = handshake(m->server_context("tls"), o);
  CHECK_FALSE(r.ok);
  CHECK(r.server_alert == SSL_AD_PROTOCOL_VERSION);

  o.max_version = 0;
  auto modern = handshake(m->server_context("tls"), o);
  CHECK(modern.ok);
  CHECK(modern.version == TLS1_3_VERSION);
}

TEST_CASE("policy: TLSv1.1_2016 accepts TLS 1.1, TLSv1.3_2025 only TLS 1.3", "[tls][policy]") {
  TempDir dir;
  auto legacy = manager_with(dir, "TLSv1.1_2016");
  ClientOptions o;
  o.server_name = "example.test";
  o.max_version = TLS1_1_VERSION;
  auto r = handshake(legacy->server_context("tls"), o);
  CHECK(r.ok);
  CHECK(r.version == TLS1_1_VERSION);
  o.max_version = TLS1_VERSION;
  CHECK_FALSE(handshake(legacy->server_context("tls"), o).ok);

  TempDir dir2;
  auto strict = manager_with(dir2, "TLSv1.3_2025");
  ClientOptions t12;
  t12.server_name = "example.test";
  t12.max_version = TLS1_2_VERSION;
  CHECK_FALSE(handshake(strict->server_context("tls"), t12).ok);
  ClientOptions chacha;
  chacha.server_name = "example.test";
  chacha.ciphersuites = "TLS_CHACHA20_POLY1305_SHA256";
  CHECK_FALSE(handshake(strict->server_context("tls"), chacha).ok);
  chacha.ciphersuites = "TLS_AES_256_GCM_SHA384";
  auto ok = handshake(strict->server_context("tls"), chacha);
  CHECK(ok.ok);
  CHECK(ok.cipher == "TLS_AES_256_GCM_SHA384");
}

TEST_CASE("policy: ciphers outside the policy are refused; the server's order wins",
          "[tls][policy]") {
  TempDir dir;
  auto m2021 = manager_with(dir, "TLSv1.2_2021");
  ClientOptions cbc;
  cbc.server_name = "example.test";
  cbc.max_version = TLS1_2_VERSION;
  cbc.ciphers = "ECDHE-ECDSA-AES128-SHA256";
  CHECK_FALSE(handshake(m2021->server_context("tls"), cbc).ok);

  TempDir dir2;
  auto m2019 = manager_with(dir2, "TLSv1.2_2019");
  auto r = handshake(m2019->server_context("tls"), cbc);
  CHECK(r.ok);
  CHECK(r.cipher == "ECDHE-ECDSA-AES128-SHA256");

  ClientOptions prefer256;
  prefer256.server_name = "example.test";
  prefer256.max_version = TLS1_2_VERSION;
  prefer256.ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256";
  auto s = handshake(m2021->server_context("tls"), prefer256);
  CHECK(s.ok);
  CHECK(s.cipher == "ECDHE-ECDSA-AES128-GCM-SHA256");
}

TEST_CASE("policy: a reload changes the policy of the same SSL_CTX", "[tls][policy]") {
  TempDir dir;
  auto m = manager_with(dir, "TLSv1.2_2021");
  SSL_CTX* before = m->server_context("tls");
  ClientOptions t12;
  t12.server_name = "example.test";
  t12.max_version = TLS1_2_VERSION;
  CHECK(handshake(before, t12).ok);

  REQUIRE(
      m->apply(load_model(https_config(dir.file("state"), "ELBSecurityPolicy-TLS13-1-3-2021-06"),
                          dir.path()))
          .ok());
  CHECK(m->server_context("tls") == before);
  CHECK_FALSE(handshake(before, t12).ok);
  t12.max_version = 0;
  CHECK(handshake(before, t12).ok);

  // And back to a TLS 1.0 policy: the per-connection override lowers the security level too.
  REQUIRE(
      m->apply(load_model(https_config(dir.file("state"), "ELBSecurityPolicy-2016-08"), dir.path()))
          .ok());
  ClientOptions t10;
  t10.server_name = "example.test";
  t10.max_version = TLS1_VERSION;
  auto r = handshake(before, t10);
  CHECK(r.ok);
  CHECK(r.version == TLS1_VERSION);
}
