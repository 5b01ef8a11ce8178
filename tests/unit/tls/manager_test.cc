// tls::Manager end to end, without sockets: certificates issued, persisted and renewed; SNI,
// ALPN and chain verification through real handshakes over memory BIOs; reloads; imported files
// watched; expired certificates; the admin JSON; ticket key rotation and session resumption.
#include "tls/manager.h"

#include <openssl/pem.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "tls/certificate.h"
#include "tls/json.h"
#include "tls/local_ca.h"
#include "tls_test_util.h"

using portico::config::KeyAlgorithm;
using portico::core::ErrorKind;
using portico::tls::alpn_is_h2;
using portico::tls::json_quote;
using portico::tls::LocalCa;
using portico::tls::Manager;
using portico::tls::X509Ptr;
using portico::tls::testing::ClientOptions;
using portico::tls::testing::handshake;
using portico::tls::testing::load_model;
using portico::tls::testing::read_file;
using portico::tls::testing::TempDir;

namespace {

using std::chrono::hours;
const auto kNow = std::chrono::system_clock::from_time_t(1'750'000'000);  // 2025-06-15
constexpr hours kDay{24};

std::unique_ptr<Manager> create(const portico::config::Model& model,
                                std::chrono::system_clock::time_point now = kNow) {
  auto m = Manager::create(model, now);
  if (!m.ok()) FAIL(m.error().detail);
  return std::move(*m);
}

X509Ptr load_ca(const std::string& state) {
  std::string pem = read_file(state + "/ca.pem");
  auto bio = portico::tls::memory_bio(pem);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// The value of a string member in describe_json's entry for `name` (naive, for tests).
std::string field(const std::string& json, const std::string& name, const std::string& key) {
  size_t at = json.find("{\"name\":\"" + name + "\"");
  if (at == std::string::npos) return "(no entry)";
  size_t end = json.find('}', at);
  std::string entry = json.substr(at, end - at);
  std::string k = "\"" + key + "\":";
  size_t p = entry.find(k);
  if (p == std::string::npos) return "(no key)";
  p += k.size();
  if (entry[p] == '[') return entry.substr(p, entry.find(']', p) - p + 1);
  size_t q = entry.find('"', p + 1);
  return entry.substr(p + 1, q - p - 1);
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

// An external CA for imported certificates.
struct ExternalCa {
  TempDir dir;
  LocalCa ca = std::move(LocalCa::load_or_create(dir.file("ext"), kNow - 365 * kDay).value());

  LocalCa::Issued issue(const std::string& domain, std::chrono::system_clock::time_point at = kNow,
                        int days = 90) {
    auto r = ca.issue({domain}, KeyAlgorithm::EcPrime256v1, days, at);
    REQUIRE(r.ok());
    return *r;
  }
};

const char* kSniListeners =
    "certificates:\n"
    "  - {name: default, domains: [default.test]}\n"
    "  - {name: wild, domains: [\"*.example.test\"]}\n"
    "  - {name: www, domains: [www.example.test, example.test], key_algorithm: RSA_2048}\n"
    "listeners:\n"
    "  - {name: http, address: 127.0.0.1:0}\n"
    "  - {name: tls, address: 127.0.0.1:0, protocol: HTTPS, certificates: [default, wild, www]}\n"
    "  - {name: strict, address: 127.0.0.1:0, protocol: HTTPS, certificates: [default, wild, www],"
    " unknown_sni: reject, http2: false}\n";

}  // namespace

TEST_CASE("manager: issues certificates into state_dir and reuses them", "[tls][manager]") {
  TempDir dir;
  std::string state = dir.file("state");
  auto model = load_model("state_dir: " + state + "\n" + kSniListeners, dir.path());
  auto m = create(model);
  CHECK(m->stats().issued_total == 3);
  CHECK(mode_of(state + "/ca.key") == 0600);
  CHECK(mode_of(state + "/certificates/www.key") == 0600);
  CHECK(mode_of(state + "/certificates/www.pem") == 0644);
  std::string json = m->describe_json();
  std::string serial = field(json, "www", "serial");
  CHECK(field(json, "www", "status") == "ISSUED");
  CHECK(field(json, "www", "type") == "AMAZON_ISSUED");
  CHECK(field(json, "www", "key_algorithm") == "RSA_2048");
  CHECK(field(json, "www", "in_use_by") == "[\"tls\",\"strict\"]");
  CHECK(field(json, "wild", "subject_alternative_names") == "[\"*.example.test\"]");

  // A restart a day later finds the same files.
  auto again = create(model, kNow + kDay);
  CHECK(again->stats().issued_total == 0);
  CHECK(field(again->describe_json(), "www", "serial") == serial);

  // Changed domains: reissued.
  std::string changed = kSniListeners;
  changed.replace(changed.find("www.example.test, example.test"), 30, "www.example.test");
  auto third = create(load_model("state_dir: " + state + "\n" + changed, dir.path()), kNow + kDay);
  CHECK(third->stats().issued_total == 1);
  CHECK(field(third->describe_json(), "www", "serial") != serial);
  CHECK(field(third->describe_json(), "www", "subject_alternative_names") ==
        "[\"www.example.test\"]");
}

TEST_CASE("manager: SNI picks exact, wildcard, default or rejects", "[tls][manager]") {
  TempDir dir;
  std::string state = dir.file("state");
  auto m = create(load_model("state_dir: " + state + "\n" + kSniListeners, dir.path()));
  X509Ptr ca = load_ca(state);
  REQUIRE(ca);
  CHECK(m->server_context("http") == nullptr);
  CHECK(m->server_context("nope") == nullptr);
  SSL_CTX* tls = m->server_context("tls");
  REQUIRE(tls != nullptr);

  struct Case {
    const char* sni;
    const char* cn;
  };
  for (const Case& c :
       {Case{"www.example.test", "www.example.test"}, Case{"EXAMPLE.test", "www.example.test"},
        Case{"api.example.test", "*.example.test"}, Case{"a.b.example.test", "default.test"},
        Case{"other.test", "default.test"}}) {
    INFO(c.sni);
    ClientOptions o;
    o.server_name = c.sni;
    o.trust = ca.get();
    o.verify_time = std::chrono::system_clock::to_time_t(kNow);
    auto r = handshake(tls, o);
    REQUIRE(r.ok);
    CHECK(r.peer_cn == c.cn);
    bool covered =
        std::string_view(c.sni) != "other.test" && std::string_view(c.sni) != "a.b.example.test";
    CHECK((r.verify_result == X509_V_OK) == covered);
  }
  auto no_sni = handshake(tls, ClientOptions{});
  REQUIRE(no_sni.ok);
  CHECK(no_sni.peer_cn == "default.test");

  ClientOptions unknown;
  unknown.server_name = "other.test";
  auto rejected = handshake(m->server_context("strict"), unknown);
  CHECK_FALSE(rejected.ok);
  CHECK(rejected.server_alert == SSL_AD_UNRECOGNIZED_NAME);
  auto strict_default = handshake(m->server_context("strict"), ClientOptions{});
  CHECK(strict_default.ok);

  auto s = m->stats();
  CHECK(s.handshakes_sni_exact_total == 2);
  CHECK(s.handshakes_sni_wildcard_total == 1);
  CHECK(s.handshakes_sni_default_total == 2);
  CHECK(s.handshakes_no_sni_total == 2);
  CHECK(s.handshakes_sni_rejected_total == 1);
}

TEST_CASE("manager: a HelloRetryRequest chooses again but counts once", "[tls][manager]") {
  TempDir dir;
  auto m = create(load_model("state_dir: " + dir.file("state") + "\n" + kSniListeners, dir.path()));
  ClientOptions o;
  o.server_name = "www.example.test";
  o.groups = "X448:P-256";  // a key share the listener does not take: it asks for P-256
  auto r = handshake(m->server_context("tls"), o);
  REQUIRE(r.ok);
  CHECK(r.peer_cn == "www.example.test");
  CHECK(SSL_get_negotiated_group(r.client.get()) == NID_X9_62_prime256v1);
  CHECK(m->stats().handshakes_sni_exact_total == 1);
}

TEST_CASE("manager: ALPN offers h2 then http/1.1, or http/1.1 only", "[tls][manager]") {
  TempDir dir;
  auto m = create(load_model("state_dir: " + dir.file("state") + "\n" + kSniListeners, dir.path()));
  ClientOptions o;
  o.server_name = "www.example.test";
  o.alpn = {"http/1.1", "h2"};
  auto r = handshake(m->server_context("tls"), o);
  REQUIRE(r.ok);
  CHECK(r.alpn == "h2");
  CHECK(alpn_is_h2(r.server.get()));

  auto h1 = handshake(m->server_context("strict"), o);
  REQUIRE(h1.ok);
  CHECK(h1.alpn == "http/1.1");
  CHECK_FALSE(alpn_is_h2(h1.server.get()));

  ClientOptions none;
  none.server_name = "www.example.test";
  auto plain = handshake(m->server_context("tls"), none);
  REQUIRE(plain.ok);
  CHECK(plain.alpn.empty());
  CHECK_FALSE(alpn_is_h2(plain.server.get()));

  ClientOptions only_h2;
  only_h2.server_name = "www.example.test";
  only_h2.alpn = {"h2"};
  auto refused = handshake(m->server_context("strict"), only_h2);
  CHECK_FALSE(refused.ok);
  CHECK(refused.server_alert == SSL_AD_NO_APPLICATION_PROTOCOL);
}

TEST_CASE("manager: issued certificates renew inside renew_before_days", "[tls][manager]") {
  TempDir dir;
  std::string state = dir.file("state");
  auto m = create(load_model("state_dir: " + state +
                                 "\ncertificates:\n"
                                 "  - {name: site, domains: [example.test], validity_days: 30,"
                                 " renew_before_days: 10}\n"
                                 "listeners:\n"
                                 "  - {name: http, address: 127.0.0.1:0}\n"
                                 "  - {name: tls, address: 127.0.0.1:0, protocol: HTTPS,"
                                 " certificates: [site]}\n",
                             dir.path()));
  std::string serial = field(m->describe_json(), "site", "serial");
  std::string not_after = field(m->describe_json(), "site", "not_after");
  m->tick(kNow + 19 * kDay);
  CHECK(field(m->describe_json(), "site", "serial") == serial);
  CHECK(m->stats().renewed_total == 0);
  m->tick(kNow + 20 * kDay + hours(2));
  CHECK(m->stats().renewed_total == 1);
  std::string renewed = field(m->describe_json(), "site", "serial");
  CHECK(renewed != serial);
  CHECK(field(m->describe_json(), "site", "not_after") > not_after);
  m->tick(kNow + 21 * kDay);
  CHECK(m->stats().renewed_total == 1);

  // New handshakes get the renewed certificate; a restart reuses it.
  X509Ptr ca = load_ca(state);
  ClientOptions o;
  o.server_name = "example.test";
  o.trust = ca.get();
  o.verify_time = std::chrono::system_clock::to_time_t(kNow + 21 * kDay);
  auto r = handshake(m->server_context("tls"), o);
  REQUIRE(r.ok);
  CHECK(r.verify_result == X509_V_OK);
  X509Ptr peer(SSL_get1_peer_certificate(r.client.get()));
  auto parsed = portico::tls::parse_certificate("peer", portico::config::CertificateType::Imported,
                                                read_file(state + "/certificates/site.pem"), "",
                                                read_file(state + "/certificates/site.key"));
  REQUIRE(parsed.ok());
  CHECK((*parsed)->serial == renewed);
  CHECK(X509_cmp(peer.get(), (*parsed)->leaf.get()) == 0);
  auto fresh = Manager::create(load_model("state_dir: " + state +
                                              "\ncertificates:\n"
                                              "  - {name: site, domains: [example.test],"
                                              " validity_days: 30, renew_before_days: 10}\n"
                                              "listeners: [{name: http, address: 127.0.0.1:0}]\n",
                                          dir.path()),
                               kNow + 21 * kDay);
  REQUIRE(fresh.ok());
  CHECK(field((*fresh)->describe_json(), "site", "serial") == renewed);
}

TEST_CASE("manager: apply swaps certificates under the same SSL_CTX", "[tls][manager]") {
  TempDir dir;
  std::string state = dir.file("state");
  auto config = [&](const std::string& cert) {
    return load_model("state_dir: " + state +
                          "\ncertificates:\n"
                          "  - {name: one, domains: [one.test]}\n"
                          "  - {name: two, domains: [two.test]}\n"
                          "listeners:\n"
                          "  - {name: http, address: 127.0.0.1:0}\n"
                          "  - {name: tls, address: 127.0.0.1:0, protocol: HTTPS, certificates: [" +
                          cert + "]}\n",
                      dir.path());
  };
  auto m = create(config("one"));
  SSL_CTX* ctx = m->server_context("tls");
  auto before = handshake(ctx, ClientOptions{});
  REQUIRE(before.ok);
  CHECK(before.peer_cn == "one.test");
  REQUIRE(m->apply(config("two")).ok());
  CHECK(m->server_context("tls") == ctx);
  auto after = handshake(ctx, ClientOptions{});
  REQUIRE(after.ok);
  CHECK(after.peer_cn == "two.test");
  // The connection made before keeps its certificate.
  X509Ptr old_peer(SSL_get1_peer_certificate(before.client.get()));
  char cn[64] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(old_peer.get()), NID_commonName, cn, sizeof cn);
  CHECK(std::string(cn) == "one.test");

  // A listener dropped by a reload keeps a valid context.
  REQUIRE(m->apply(load_model("state_dir: " + state +
                                  "\nlisteners: [{name: http, address: 127.0.0.1:0}]\n",
                              dir.path()))
              .ok());
  CHECK(m->server_context("tls") == ctx);
  CHECK(field(m->describe_json(), "one", "name") == "(no entry)");
}

TEST_CASE("manager: imported files are checked; errors name the config line and files",
          "[tls][manager]") {
  TempDir dir;
  ExternalCa ext;
  auto a = ext.issue("a.test");
  auto b = ext.issue("b.test");
  dir.write("a.pem", a.cert_pem);
  dir.write("b.key", b.key_pem);
  ::chmod(dir.file("b.key").c_str(), 0600);
  auto model = load_model("state_dir: " + dir.file("state") +
                              "\ncertificates:\n"
                              "  - {name: mine, certificate_file: a.pem, private_key_file: b.key}\n"
                              "listeners:\n"
                              "  - {name: http, address: 127.0.0.1:0}\n"
                              "  - {name: tls, address: 127.0.0.1:0, protocol: HTTPS,"
                              " certificates: [mine]}\n",
                          dir.path());
  auto v = Manager::validate(model);
  REQUIRE_FALSE(v.ok());
  CHECK(v.error().kind == ErrorKind::Config);
  CHECK_THAT(v.error().detail, Catch::StartsWith("t.yaml:7:5: certificates[0] ("));
  CHECK_THAT(v.error().detail, Catch::Contains(dir.file("a.pem")));
  CHECK_THAT(v.error().detail, Catch::EndsWith("the private key does not match the certificate"));
  auto m = Manager::create(model, kNow);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().detail == v.error().detail);
  // validate() never touches state_dir.
  CHECK_FALSE(std::filesystem::exists(dir.file("state")));
}

TEST_CASE("manager: changed imported files are re-read; bad ones are refused", "[tls][manager]") {
  TempDir dir;
  ExternalCa ext;
  auto first = ext.issue("first.test");
  dir.write("site.pem", first.cert_pem);
  dir.write("site.key", first.key_pem);
  dir.write("chain.pem", ext.ca.pem());
  auto m = create(load_model("state_dir: " + dir.file("state") +
                                 "\ncertificates:\n"
                                 "  - {name: site, certificate_file: site.pem,"
                                 " private_key_file: site.key, certificate_chain_file: chain.pem}\n"
                                 "listeners:\n"
                                 "  - {name: http, address: 127.0.0.1:0}\n"
                                 "  - {name: tls, address: 127.0.0.1:0, protocol: HTTPS,"
                                 " certificates: [site]}\n",
                             dir.path()));
  CHECK(field(m->describe_json(), "site", "type") == "IMPORTED");
  CHECK(field(m->describe_json(), "site", "issuer").starts_with("Portico Local CA"));
  m->tick(kNow + std::chrono::seconds(1));
  CHECK(m->stats().file_reloads_total == 0);

  auto second = ext.issue("second.test");
  dir.write("site.key", second.key_pem);
  dir.write("site.pem", second.cert_pem);
  m->tick(kNow + std::chrono::seconds(2));
  CHECK(m->stats().file_reloads_total == 1);
  auto r = handshake(m->server_context("tls"), ClientOptions{});
  REQUIRE(r.ok);
  CHECK(r.peer_cn == "second.test");
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(r.client.get());
  CHECK(sk_X509_num(chain) == 2);  // leaf + the chain file's certificate

  // A key that does not match: logged, counted once, the old certificate kept.
  dir.write("site.key", first.key_pem);
  m->tick(kNow + std::chrono::seconds(3));
  m->tick(kNow + std::chrono::seconds(4));
  CHECK(m->stats().file_reload_failures_total == 1);
  CHECK(m->stats().file_reloads_total == 1);
  auto kept = handshake(m->server_context("tls"), ClientOptions{});
  REQUIRE(kept.ok);
  CHECK(kept.peer_cn == "second.test");

  // Fixed: swapped in.
  dir.write("site.pem", first.cert_pem);
  m->tick(kNow + std::chrono::seconds(5));
  CHECK(m->stats().file_reloads_total == 2);
  auto fixed = handshake(m->server_context("tls"), ClientOptions{});
  REQUIRE(fixed.ok);
  CHECK(fixed.peer_cn == "first.test");
}

TEST_CASE("manager: an expired imported certificate is EXPIRED, logged once, counted",
          "[tls][manager]") {
  TempDir dir;
  ExternalCa ext;
  auto old = ext.issue("old.test", kNow - 100 * kDay, 30);
  dir.write("old.pem", old.cert_pem);
  dir.write("old.key", old.key_pem);
  auto m = create(load_model("state_dir: " + dir.file("state") +
                                 "\ncertificates:\n"
                                 "  - {name: old, certificate_file: old.pem,"
                                 " private_key_file: old.key}\n"
                                 "listeners:\n"
                                 "  - {name: http, address: 127.0.0.1:0}\n"
                                 "  - {name: tls, address: 127.0.0.1:0, protocol: HTTPS,"
                                 " certificates: [old]}\n",
                             dir.path()));
  CHECK(field(m->describe_json(), "old", "status") == "EXPIRED");
  CHECK(field(m->describe_json(), "old", "renewal_eligibility") == "INELIGIBLE");
  m->tick(kNow + hours(1));
  auto s = m->stats();
  CHECK(s.certificates == 1);
  CHECK(s.certificates_expired == 1);
  CHECK(s.expired_total == 1);
  // Still served (as ACM-attached listeners do); clients decide.
  CHECK(handshake(m->server_context("tls"), ClientOptions{}).ok);
}

TEST_CASE("manager: describe_json looks like DescribeCertificate", "[tls][manager]") {
  TempDir dir;
  auto m = create(load_model("state_dir: " + dir.file("state") + "\n" + kSniListeners, dir.path()));
  std::string json = m->describe_json();
  CHECK(json.starts_with("{\"certificates\":[{\"name\":\"default\","));
  std::string arn = field(json, "wild", "certificate_arn");
  CHECK(arn.starts_with("arn:portico:acm:local:000000000000:certificate/"));
  CHECK(arn.size() == std::string("arn:portico:acm:local:000000000000:certificate/").size() + 36);
  CHECK(field(json, "wild", "domain_name") == "*.example.test");
  CHECK(field(json, "wild", "status") == "ISSUED");
  CHECK(field(json, "wild", "renewal_eligibility") == "ELIGIBLE");
  CHECK(field(json, "wild", "not_before") == "2025-06-15T14:06:40Z");
  CHECK(field(json, "wild", "not_after") == "2026-07-15T15:06:40Z");    // 395 days
  CHECK(field(json, "wild", "renew_after") == "2026-05-16T15:06:40Z");  // 60 days before
  CHECK(field(json, "wild", "source") == "config");
  // The ARN is stable across restarts.
  auto again =
      create(load_model("state_dir: " + dir.file("state") + "\n" + kSniListeners, dir.path()));
  CHECK(field(again->describe_json(), "wild", "certificate_arn") == arn);
}

TEST_CASE("manager: import_json stores, re-imports and refuses like ImportCertificate",
          "[tls][manager]") {
  TempDir dir;
  ExternalCa ext;
  std::string state = dir.file("state");
  auto model = load_model("state_dir: " + state + "\n" + kSniListeners, dir.path());
  auto m = create(model);
  auto one = ext.issue("api.test");
  auto r = m->import_json("{\"name\": \"api\", \"certificate\": " + json_quote(one.cert_pem) +
                          ", \"private_key\": " + json_quote(one.key_pem) + "}");
  REQUIRE(r.ok());
  CHECK(field(*r, "api", "source") == "api");
  CHECK(field(*r, "api", "in_use_by") == "[]");
  CHECK(read_file(state + "/imported/api.pem") == one.cert_pem);
  CHECK(mode_of(state + "/imported/api.key") == 0600);
  CHECK(m->stats().imports_total == 1);
  std::string arn = field(*r, "api", "certificate_arn");

  // Re-import by ARN (ACM's PascalCase names), with a chain.
  auto two = ext.issue("api.test");
  auto re = m->import_json("{\"CertificateArn\": " + json_quote(arn) +
                           ", \"Certificate\": " + json_quote(two.cert_pem) +
                           ", \"PrivateKey\": " + json_quote(two.key_pem) +
                           ", \"CertificateChain\": " + json_quote(ext.ca.pem()) + "}");
  REQUIRE(re.ok());
  CHECK(field(*re, "api", "serial") != field(*r, "api", "serial"));
  CHECK(read_file(state + "/imported/api.chain.pem") == ext.ca.pem());

  // A restart finds the API import.
  auto restarted = create(model, kNow + hours(1));
  CHECK(field(restarted->describe_json(), "api", "serial") == field(*re, "api", "serial"));
  CHECK(field(restarted->describe_json(), "api", "certificate_arn") == arn);

  // Refusals.
  auto issued = m->import_json("{\"name\": \"www\", \"certificate\": " + json_quote(one.cert_pem) +
                               ", \"private_key\": " + json_quote(one.key_pem) + "}");
  REQUIRE_FALSE(issued.ok());
  CHECK(issued.error().kind == ErrorKind::ParseError);
  CHECK_THAT(issued.error().detail, Catch::Contains("issued by local-ca"));
  auto expired = ext.issue("old.test", kNow - 100 * kDay, 30);
  auto late = m->import_json("{\"certificate\": " + json_quote(expired.cert_pem) +
                             ", \"private_key\": " + json_quote(expired.key_pem) + "}");
  REQUIRE_FALSE(late.ok());
  CHECK_THAT(late.error().detail, Catch::Contains("only certificates valid now"));
  auto mismatch = m->import_json("{\"certificate\": " + json_quote(one.cert_pem) +
                                 ", \"private_key\": " + json_quote(two.key_pem) + "}");
  REQUIRE_FALSE(mismatch.ok());
  CHECK_THAT(mismatch.error().detail, Catch::Contains("does not match"));
  CHECK(m->import_json("{\"certificate\": 1}").error().kind == ErrorKind::ParseError);
  CHECK_THAT(m->import_json("{\"cert\": \"x\"}").error().detail,
             Catch::Contains("unknown member \"cert\""));
  CHECK(m->import_json("{\"certificate_arn\": \"arn:nope\", \"certificate\": \"x\", "
                       "\"private_key\": \"y\"}")
            .error()
            .kind == ErrorKind::NotFound);
  CHECK(m->stats().imports_total == 2);

  // A default name when none is given.
  auto unnamed = ext.issue("unnamed.test");
  auto u = m->import_json("{\"certificate\": " + json_quote(unnamed.cert_pem) +
                          ", \"private_key\": " + json_quote(unnamed.key_pem) + "}");
  REQUIRE(u.ok());
  CHECK(u->starts_with("{\"name\":\"imported-"));
}

TEST_CASE("manager: re-importing a config certificate rewrites its files", "[tls][manager]") {
  TempDir dir;
  ExternalCa ext;
  auto first = ext.issue("site.test");
  dir.write("site.pem", first.cert_pem);
  dir.write("site.key", first.key_pem);
  auto m = create(load_model("state_dir: " + dir.file("state") +
                                 "\ncertificates:\n"
                                 "  - {name: site, certificate_file: site.pem,"
                                 " private_key_file: site.key}\n"
                                 "listeners: [{name: http, address: 127.0.0.1:0}]\n",
                             dir.path()));
  auto second = ext.issue("site.test");
  auto r = m->import_json("{\"name\": \"site\", \"certificate\": " + json_quote(second.cert_pem) +
                          ", \"private_key\": " + json_quote(second.key_pem) +
                          ", \"certificate_chain\": " + json_quote(ext.ca.pem()) + "}");
  REQUIRE(r.ok());
  CHECK(field(*r, "site", "source") == "config");
  CHECK(read_file(dir.file("site.pem")) == second.cert_pem + ext.ca.pem());
  CHECK(read_file(dir.file("site.key")) == second.key_pem);
  m->tick(kNow + hours(1));
  CHECK(m->stats().file_reloads_total == 0);  // the Manager wrote them itself
}

TEST_CASE("manager: ticket keys rotate hourly and the previous key still resumes",
          "[tls][manager]") {
  TempDir dir;
  auto m = create(load_model("state_dir: " + dir.file("state") + "\n" + kSniListeners, dir.path()));
  SSL_CTX* ctx = m->server_context("tls");
  CHECK(m->ticket_key_names_for_test().size() == 1);
  std::string first_key = m->ticket_key_names_for_test()[0];

  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    INFO(version);
    ClientOptions o;
    o.server_name = "www.example.test";
    o.max_version = version;
    o.min_version = version;
    auto full = handshake(ctx, o);
    REQUIRE(full.ok);
    CHECK_FALSE(full.reused);
    // One ticket per full handshake (s2n's default; OpenSSL's own is two in TLS 1.3).
    CHECK(full.tickets == 1);
    SSL_SESSION* session = SSL_get1_session(full.client.get());
    REQUIRE(session != nullptr);
    o.session = session;
    auto resumed = handshake(ctx, o);
    CHECK(resumed.ok);
    CHECK(resumed.reused);
    SSL_SESSION_free(session);
    if (version == TLS1_2_VERSION) {
      CHECK(resumed.tickets == 0);  // the ticket stays valid: not renewed under the same key
      continue;
    }
    // TLS 1.3: a fresh ticket on every resumption (RFC 8446 §C.4, clients use each once), and
    // the client resumes with it in turn.
    CHECK(resumed.tickets == 1);
    session = SSL_get1_session(resumed.client.get());
    REQUIRE(session != nullptr);
    o.session = session;
    auto again = handshake(ctx, o);
    CHECK(again.ok);
    CHECK(again.reused);
    CHECK(again.tickets == 1);
    SSL_SESSION_free(session);
  }

  ClientOptions o;
  o.server_name = "www.example.test";
  o.max_version = TLS1_2_VERSION;
  auto full = handshake(ctx, o);
  REQUIRE(full.ok);
  SSL_SESSION* session = SSL_get1_session(full.client.get());
  REQUIRE(session != nullptr);

  m->tick(kNow + std::chrono::minutes(59));
  CHECK(m->ticket_key_names_for_test() == std::vector<std::string>{first_key});
  m->tick(kNow + hours(1));
  auto names = m->ticket_key_names_for_test();
  REQUIRE(names.size() == 2);
  CHECK(names[1] == first_key);
  CHECK(m->stats().ticket_key_rotations_total == 1);
  o.session = session;
  auto after_one = handshake(ctx, o);
  CHECK(after_one.ok);
  CHECK(after_one.reused);

  m->tick(kNow + hours(2));
  CHECK(m->ticket_key_names_for_test().size() == 2);
  CHECK(m->ticket_key_names_for_test()[1] != first_key);
  auto after_two = handshake(ctx, o);
  CHECK(after_two.ok);
  CHECK_FALSE(after_two.reused);  // the key that sealed the ticket is gone: full handshake
  SSL_SESSION_free(session);
}

TEST_CASE("manager: session ids resume from the server-side cache", "[tls][manager]") {
  TempDir dir;
  auto m = create(load_model("state_dir: " + dir.file("state") + "\n" + kSniListeners, dir.path()));
  ClientOptions o;
  o.server_name = "www.example.test";
  o.max_version = TLS1_2_VERSION;
  o.no_ticket = true;
  auto full = handshake(m->server_context("tls"), o);
  REQUIRE(full.ok);
  SSL_SESSION* session = SSL_get1_session(full.client.get());
  REQUIRE(session != nullptr);
  unsigned int id_len = 0;
  SSL_SESSION_get_id(session, &id_len);
  CHECK(id_len > 0);
  o.session = session;
  auto resumed = handshake(m->server_context("tls"), o);
  CHECK(resumed.ok);
  CHECK(resumed.reused);
  // Another listener does not resume it (its own session id context).
  auto elsewhere = handshake(m->server_context("strict"), o);
  CHECK(elsewhere.ok);
  CHECK_FALSE(elsewhere.reused);
  SSL_SESSION_free(session);
}

TEST_CASE("manager: load balancer HTTPS listeners get contexts with ALB's default policy",
          "[tls][manager]") {
  TempDir dir;
  auto m = create(load_model("state_dir: " + dir.file("state") +
                                 "\ncertificates: [{name: site, domains: [lb.test]}]\n"
                                 "listeners: [{name: http, address: 127.0.0.1:0}]\n"
                                 "target_groups: [{name: tg, targets: [\"127.0.0.1:9001\"]}]\n"
                                 "load_balancers:\n"
                                 "  - name: alb\n"
                                 "    listeners: [{name: alb-https, address: 127.0.0.1:0,"
                                 " protocol: HTTPS, certificates: [site]}]\n"
                                 "    default_actions: [{forward: {target_group: tg}}]\n",
                             dir.path()));
  ClientOptions o;
  o.server_name = "lb.test";
  o.max_version = TLS1_1_VERSION;
  CHECK_FALSE(handshake(m->server_context("alb-https"), o).ok);
  o.max_version = 0;
  auto r = handshake(m->server_context("alb-https"), o);
  REQUIRE(r.ok);
  CHECK(r.peer_cn == "lb.test");
  CHECK(field(m->describe_json(), "site", "in_use_by") == "[\"alb-https\"]");
}

TEST_CASE("manager: export_ca returns the root, creating the CA once", "[tls][manager]") {
  TempDir dir;
  auto pem = Manager::export_ca(dir.file("state"));
  REQUIRE(pem.ok());
  CHECK(pem->starts_with("-----BEGIN CERTIFICATE-----"));
  auto again = Manager::export_ca(dir.file("state"));
  REQUIRE(again.ok());
  CHECK(*again == *pem);
  auto m = create(load_model("state_dir: " + dir.file("state") + "\n" + kSniListeners, dir.path()));
  CHECK(read_file(dir.file("state/ca.pem")) == *pem);
}
