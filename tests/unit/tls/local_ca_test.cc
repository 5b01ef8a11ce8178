// tls::LocalCa: created once in state_dir with private permissions, reused afterwards, and the
// leaves it issues verify against it (X509_verify_cert with the CA in a store, host names
// included) and carry the extensions a server certificate needs.
#include "tls/local_ca.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "tls/certificate.h"
#include "tls_test_util.h"

using portico::config::CertificateType;
using portico::config::KeyAlgorithm;
using portico::tls::LocalCa;
using portico::tls::parse_certificate;
using portico::tls::X509Ptr;
using portico::tls::testing::read_file;
using portico::tls::testing::TempDir;

namespace {

const auto kNow = std::chrono::system_clock::from_time_t(1'750'000'000);  // 2025-06-15

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

X509Ptr parse_pem(const std::string& pem) {
  auto bio = portico::tls::memory_bio(pem);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// X509_verify_cert of `leaf` against a store holding only `ca`, at `when`, optionally for `host`.
int verify(X509* ca, X509* leaf, std::chrono::system_clock::time_point when,
           const std::string& host = "") {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_time(param, std::chrono::system_clock::to_time_t(when));
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  if (!host.empty()) X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  int ok = X509_verify_cert(ctx);
  int err = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

}  // namespace

TEST_CASE("local CA: created with private permissions, then reused", "[tls][ca]") {
  TempDir dir;
  std::string state = dir.file("state");
  auto ca = LocalCa::load_or_create(state, kNow);
  REQUIRE(ca.ok());
  CHECK(mode_of(state) == 0700);
  CHECK(mode_of(state + "/ca.key") == 0600);
  CHECK(mode_of(state + "/ca.pem") == 0644);
  CHECK(read_file(state + "/ca.pem") == ca->pem());
  CHECK(X509_check_ca(ca->cert()) >= 1);

  auto again = LocalCa::load_or_create(state, kNow + std::chrono::hours(24));
  REQUIRE(again.ok());
  CHECK(again->pem() == ca->pem());
}

TEST_CASE("local CA: a lone key or certificate is an error, never overwritten", "[tls][ca]") {
  TempDir dir;
  std::string state = dir.file("state");
  REQUIRE(LocalCa::load_or_create(state, kNow).ok());
  std::string key = read_file(state + "/ca.key");
  std::filesystem::remove(state + "/ca.pem");
  auto r = LocalCa::load_or_create(state, kNow);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().detail, Catch::Contains("ca.pem is missing"));
  CHECK(read_file(state + "/ca.key") == key);
}

TEST_CASE("local CA: issued leaves verify and carry server extensions", "[tls][ca]") {
  TempDir dir;
  auto ca = LocalCa::load_or_create(dir.file("state"), kNow);
  REQUIRE(ca.ok());
  auto issued = ca->issue({"example.test", "*.example.test"}, KeyAlgorithm::EcPrime256v1, 90, kNow);
  REQUIRE(issued.ok());
  X509Ptr leaf = parse_pem(issued->cert_pem);
  REQUIRE(leaf);

  CHECK(verify(ca->cert(), leaf.get(), kNow) == X509_V_OK);
  CHECK(verify(ca->cert(), leaf.get(), kNow, "example.test") == X509_V_OK);
  CHECK(verify(ca->cert(), leaf.get(), kNow, "api.example.test") == X509_V_OK);
  CHECK(verify(ca->cert(), leaf.get(), kNow, "a.b.example.test") == X509_V_ERR_HOSTNAME_MISMATCH);
  CHECK(verify(ca->cert(), leaf.get(), kNow + std::chrono::hours(24 * 91)) ==
        X509_V_ERR_CERT_HAS_EXPIRED);
  CHECK(ca->signed_leaf(leaf.get()));

  // CA:FALSE, serverAuth, digitalSignature, SKI and an AKI naming the CA's key.
  CHECK(X509_check_ca(leaf.get()) == 0);
  CHECK((X509_get_extended_key_usage(leaf.get()) & XKU_SSL_SERVER) != 0);
  CHECK((X509_get_key_usage(leaf.get()) & KU_DIGITAL_SIGNATURE) != 0);
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(leaf.get());
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(leaf.get());
  const ASN1_OCTET_STRING* ca_ski = X509_get0_subject_key_id(ca->cert());
  REQUIRE(ski != nullptr);
  REQUIRE(aki != nullptr);
  REQUIRE(ca_ski != nullptr);
  CHECK(ASN1_OCTET_STRING_cmp(aki, ca_ski) == 0);
  CHECK(X509_get_version(leaf.get()) == X509_VERSION_3);

  auto parsed =
      parse_certificate("site", CertificateType::Issued, issued->cert_pem, "", issued->key_pem);
  REQUIRE(parsed.ok());
  CHECK((*parsed)->names == std::vector<std::string>{"example.test", "*.example.test"});
  CHECK((*parsed)->subject_cn == "example.test");
  CHECK((*parsed)->key_algorithm == "EC_prime256v1");
  CHECK((*parsed)->not_after - (*parsed)->not_before ==
        std::chrono::hours(24 * 90) + std::chrono::hours(1));
  CHECK((*parsed)->issuer.starts_with("Portico Local CA "));
}

TEST_CASE("local CA: RSA and P-384 leaves", "[tls][ca]") {
  TempDir dir;
  auto ca = LocalCa::load_or_create(dir.file("state"), kNow);
  REQUIRE(ca.ok());
  for (auto [alg, name] : {std::pair{KeyAlgorithm::Rsa2048, "RSA_2048"},
                           std::pair{KeyAlgorithm::EcSecp384r1, "EC_secp384r1"}}) {
    auto issued = ca->issue({"rsa.test"}, alg, 30, kNow);
    REQUIRE(issued.ok());
    auto parsed =
        parse_certificate("x", CertificateType::Issued, issued->cert_pem, "", issued->key_pem);
    REQUIRE(parsed.ok());
    CHECK((*parsed)->key_algorithm == name);
    CHECK(verify(ca->cert(), (*parsed)->leaf.get(), kNow, "rsa.test") == X509_V_OK);
  }
}

TEST_CASE("parse_certificate: a key from another certificate is refused", "[tls][ca]") {
  TempDir dir;
  auto ca = LocalCa::load_or_create(dir.file("state"), kNow);
  REQUIRE(ca.ok());
  auto a = ca->issue({"a.test"}, KeyAlgorithm::EcPrime256v1, 30, kNow);
  auto b = ca->issue({"b.test"}, KeyAlgorithm::EcPrime256v1, 30, kNow);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  auto r = parse_certificate("x", CertificateType::Imported, a->cert_pem, "", b->key_pem);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().detail == "the private key does not match the certificate");
  auto garbage = parse_certificate("x", CertificateType::Imported, "not pem", "", a->key_pem);
  REQUIRE_FALSE(garbage.ok());
  CHECK_THAT(garbage.error().detail, Catch::StartsWith("no PEM certificate found"));
  auto no_key = parse_certificate("x", CertificateType::Imported, a->cert_pem, "", "junk");
  REQUIRE_FALSE(no_key.ok());
  CHECK_THAT(no_key.error().detail, Catch::Contains("cannot read the private key"));
  auto bad_chain =
      parse_certificate("x", CertificateType::Imported, a->cert_pem, "junk", a->key_pem);
  REQUIRE_FALSE(bad_chain.ok());
  CHECK_THAT(bad_chain.error().detail, Catch::Contains("chain holds no PEM certificate"));
  auto chained =
      parse_certificate("x", CertificateType::Imported, a->cert_pem, ca->pem(), a->key_pem);
  REQUIRE(chained.ok());
  CHECK(sk_X509_num((*chained)->chain.get()) == 1);
}
