// `certificates:`, `state_dir:` and the HTTPS keys of listeners: ACM's defaults and names, AWS's
// security policy names, and errors that name FILE:LINE:COL and the key path.
#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/loader.h"
#include "config/ssl_policy.h"
#include "tests/unit/config/load_util.h"

using Catch::Contains;
using portico::config::CertificateType;
using portico::config::KeyAlgorithm;
using portico::config::ListenerProtocol;
using portico::config::load_string;
using portico::config::Model;
using portico::config::UnknownSni;

namespace {

using portico::config::test::load_error;
using portico::config::test::load_ok;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "portico-cert-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
    std::filesystem::create_directory(path_ + "/tls");
    for (const char* f : {"tls/site.pem", "tls/site.key", "tls/chain.pem"}) {
      std::ofstream(path_ + "/" + f) << "x";
    }
    ::chmod((path_ + "/tls/site.key").c_str(), 0600);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Lines 1-4: one distribution; `extra` starts on line 5.
std::string with(const std::string& extra) {
  return "distributions:\n"
         "  - id: web\n"
         "    origins: [{id: api, custom_origin: {url: \"http://127.0.0.1:9001\"}}]\n"
         "    default_cache_behavior: {target_origin_id: api}\n" +
         extra;
}

const std::string kHttp = "listeners: [{name: http, address: 127.0.0.1:8080}]\n";

// An HTTPS listener (line 7) using certificate `site` (line 6) with `fields` added to it.
std::string https(const std::string& fields) {
  return with(
      "certificates:\n"
      "  - {name: site, domains: [example.test]}\n"
      "listeners: [{name: tls, address: 127.0.0.1:8443, protocol: HTTPS, certificates: [site]" +
      fields + "}]\n");
}

}  // namespace

TEST_CASE("certificates: issued with ACM's defaults", "[config][tls]") {
  Model m =
      load_ok(with("certificates:\n"
                   "  - name: site\n"
                   "    domains: [Example.TEST, \"*.example.test\", www.example.test.]\n"
                   "  - {name: rsa, domains: [rsa.test], key_algorithm: RSA_2048,"
                   " validity_days: 30, renew_before_days: 7, issuer: local-ca}\n" +
                   kHttp));
  REQUIRE(m.certificates.size() == 2);
  const auto& c = m.certificates[0];
  CHECK(c.name == "site");
  CHECK(c.type == CertificateType::Issued);
  CHECK(c.domains ==
        std::vector<std::string>{"example.test", "*.example.test", "www.example.test"});
  CHECK(c.validity_days == 395);
  CHECK(c.renew_before_days == 60);
  CHECK(c.key_algorithm == KeyAlgorithm::EcPrime256v1);
  CHECK(c.loc.line == 6);
  CHECK(c.key_path == "certificates[0]");
  CHECK(m.certificates[1].key_algorithm == KeyAlgorithm::Rsa2048);
  CHECK(m.certificates[1].validity_days == 30);
  CHECK(m.certificates[1].renew_before_days == 7);
  CHECK(m.find_certificate("rsa") == &m.certificates[1]);
}

TEST_CASE("certificates: imported files resolve against the config folder", "[config][tls]") {
  TempDir dir;
  Model m =
      load_ok(with("certificates:\n"
                   "  - {name: site, certificate_file: tls/site.pem,"
                   " private_key_file: tls/site.key, certificate_chain_file: tls/chain.pem}\n" +
                   kHttp),
              dir.path());
  const auto& c = m.certificates[0];
  CHECK(c.type == CertificateType::Imported);
  CHECK(c.certificate_file == dir.path() + "/tls/site.pem");
  CHECK(c.private_key_file == dir.path() + "/tls/site.key");
  CHECK(c.certificate_chain_file == dir.path() + "/tls/chain.pem");
  CHECK(m.warnings.empty());

  ::chmod((dir.path() + "/tls/site.key").c_str(), 0644);
  Model loose = load_ok(with("certificates:\n"
                             "  - {name: site, certificate_file: tls/site.pem,"
                             " private_key_file: tls/site.key}\n" +
                             kHttp),
                        dir.path());
  REQUIRE(loose.warnings.size() == 1);
  CHECK_THAT(loose.warnings[0], Contains("readable by other users"));
}

TEST_CASE("state_dir: default next to the config, relative or absolute", "[config][tls]") {
  TempDir dir;
  CHECK(load_ok(with(kHttp), dir.path()).state_dir == dir.path() + "/var/portico");
  CHECK(load_ok(with(kHttp + "state_dir: run/state\n"), dir.path()).state_dir ==
        dir.path() + "/run/state");
  CHECK(load_ok(with(kHttp + "state_dir: /var/lib/portico\n"), dir.path()).state_dir ==
        "/var/lib/portico");
  CHECK_THAT(load_error(with(kHttp + "state_dir: \"\"\n")),
             Contains("state_dir: must not be empty"));
}

TEST_CASE("listeners: HTTPS keys and their defaults", "[config][tls]") {
  Model m = load_ok(https(""));
  const auto& l = m.listeners[0];
  CHECK(l.protocol == ListenerProtocol::Https);
  CHECK(l.certificates == std::vector<std::string>{"site"});
  CHECK(l.ssl_policy == "TLSv1.2_2021");
  CHECK(l.http2);
  CHECK(l.unknown_sni == UnknownSni::DefaultCertificate);

  Model n = load_ok(
      https(", ssl_policy: ELBSecurityPolicy-TLS13-1-2-Res-2021-06, http2: false, unknown_sni: "
            "reject"));
  CHECK(n.listeners[0].ssl_policy == "ELBSecurityPolicy-TLS13-1-2-Res-2021-06");
  CHECK_FALSE(n.listeners[0].http2);
  CHECK(n.listeners[0].unknown_sni == UnknownSni::Reject);

  // A single name reads as a list; HTTP listeners keep empty HTTPS fields.
  Model o =
      load_ok(with("certificates: [{name: a, domains: [a.test]}, {name: b, domains: [b.test]}]\n"
                   "listeners:\n"
                   "  - {name: tls, address: 127.0.0.1:8443, protocol: HTTPS, certificates: b}\n"
                   "  - {name: http, address: 127.0.0.1:8080}\n"));
  CHECK(o.listeners[0].certificates == std::vector<std::string>{"b"});
  CHECK(o.listeners[1].certificates.empty());
  CHECK(o.listeners[1].ssl_policy.empty());
  CHECK(o.listeners[1].http2);  // h2c with prior knowledge

  Model p = load_ok(with("listeners: [{name: h, address: 127.0.0.1:1, http2: false}]\n"));
  CHECK_FALSE(p.listeners[0].http2);
}

TEST_CASE("listeners: load balancer HTTPS listeners default to ALB's policy", "[config][tls]") {
  Model m = load_ok(with("certificates: [{name: site, domains: [lb.test]}]\n" + kHttp +
                         "target_groups: [{name: tg, targets: [\"127.0.0.1:9001\"]}]\n"
                         "load_balancers:\n"
                         "  - name: alb\n"
                         "    listeners:\n"
                         "      - {name: https, address: 127.0.0.1:8443, protocol: HTTPS,"
                         " certificates: [site]}\n"
                         "      - {name: old, address: 127.0.0.1:8444, protocol: HTTPS,"
                         " certificates: [site], ssl_policy: ELBSecurityPolicy-2016-08}\n"
                         "    default_actions: [{forward: {target_group: tg}}]\n"));
  const auto& ls = m.load_balancers[0].listeners;
  REQUIRE(ls.size() == 2);
  CHECK(ls[0].protocol == ListenerProtocol::Https);
  CHECK(ls[0].ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06");
  CHECK(ls[1].ssl_policy == "ELBSecurityPolicy-2016-08");
  CHECK_THAT(load_error(with("certificates: [{name: site, domains: [lb.test]}]\n" + kHttp +
                             "target_groups: [{name: tg, targets: [\"127.0.0.1:9001\"]}]\n"
                             "load_balancers:\n"
                             "  - name: alb\n"
                             "    listeners: [{name: https, address: 127.0.0.1:8443,"
                             " protocol: HTTPS, certificates: [sitee]}]\n"
                             "    default_actions: [{forward: {target_group: tg}}]\n")),
             Contains("load_balancers[0].listeners[0].certificates[0]: unknown certificate "
                      "'sitee' (did you mean 'site'?)"));
}

TEST_CASE("error: listener HTTPS keys", "[config][tls][error]") {
  CHECK(load_error(https("").replace(https("").find("[site]"), 6, "[sitee]")) ==
        "t.yaml:7:82: listeners[0].certificates[0]: unknown certificate 'sitee' (did you mean "
        "'site'?)");
  CHECK(load_error(https("").replace(https("").find("[site]"), 6, "[other]")) ==
        "t.yaml:7:82: listeners[0].certificates[0]: unknown certificate 'other'");
  CHECK(load_error(https("").replace(https("").find("[site]"), 6, "[]")) ==
        "t.yaml:7:81: listeners[0].certificates: must list at least one certificate (the first is "
        "the default)");
  CHECK(load_error(https("").replace(https("").find("[site]"), 6, "[site, site]")) ==
        "t.yaml:7:88: listeners[0].certificates[1]: certificate 'site' is listed twice");
  CHECK(load_error(https(", ssl_policy: SSLv3")) ==
        "t.yaml:7:101: listeners[0].ssl_policy: 'SSLv3': SSL 3.0 is broken (RFC 7568) and not "
        "supported; use TLSv1.2_2021 or later");
  CHECK_THAT(load_error(https(", ssl_policy: TLSv1.2_2022")),
             Contains("unknown security policy 'TLSv1.2_2022' (did you mean"));
  CHECK_THAT(load_error(https(", ssl_policy: ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04")),
             Contains("FIPS policies need"));
  CHECK_THAT(load_error(https(", ssl_policy: ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09")),
             Contains("post-quantum"));
  CHECK_THAT(load_error(https(", ssl_policy: nonsense")),
             Contains("unknown security policy 'nonsense' (CloudFront's TLSv1"));
  CHECK_THAT(load_error(https(", unknown_sni: drop")),
             Contains("unknown_sni: must be default_certificate or reject, got 'drop'"));
  CHECK_THAT(load_error(https(", http2: maybe")), Contains("http2: expected true or false"));
  CHECK_THAT(load_error(with("listeners: [{name: h, address: 127.0.0.1:1, http2: 3}]\n")),
             Contains("listeners[0].http2: expected true or false"));
  CHECK_THAT(
      load_error(with("certificates: [{name: site, domains: [a.test]}]\n"
                      "listeners: [{name: h, address: 127.0.0.1:1, certificates: [site]}]\n")),
      Contains("listeners[0].certificates: only HTTPS listeners take this key"));
}

TEST_CASE("error: certificates", "[config][tls][error]") {
  auto err = [](const std::string& item) {
    return load_error(with("certificates:\n  - " + item + "\n" + kHttp));
  };
  CHECK(err("{name: site}") ==
        "t.yaml:6:5: certificates[0]: needs domains (issued by the local CA) or certificate_file "
        "and private_key_file (imported)");
  CHECK(err("{name: site, domains: [a.test], certificate_file: x.pem}") ==
        "t.yaml:6:5: certificates[0]: a certificate is either issued (domains) or imported "
        "(certificate_file, private_key_file), not both");
  CHECK_THAT(err("{name: ../evil, domains: [a.test]}"), Contains("invalid certificate name"));
  CHECK_THAT(err("{domains: [a.test]}"), Contains("certificates[0].name: is required"));
  CHECK_THAT(err("{name: s, domains: []}"), Contains("must list at least one domain name"));
  CHECK_THAT(err("{name: s, domains: [\"a b.test\"]}"), Contains("invalid domain name 'a b.test'"));
  CHECK_THAT(err("{name: s, domains: [\"*.*.test\"]}"), Contains("invalid domain name"));
  CHECK_THAT(err("{name: s, domains: [10.0.0.1]}"), Contains("is an IP address"));
  CHECK_THAT(err("{name: s, domains: [a.test, A.test]}"), Contains("'a.test' is listed twice"));
  CHECK_THAT(err("{name: s, domains: [" + std::string(60, 'a') + ".test]}"),
             Contains("at most 64 characters"));
  CHECK_THAT(err("{name: s, domains: [a,b,c,d,e,f,g,h,i,j,k]}"),
             Contains("at most 10 domain names per certificate (ACM quota), got 11"));
  CHECK_THAT(err("{name: s, domains: [a.test], validity_days: 30}"),
             Contains("renew_before_days (60) must be less than validity_days (30)"));
  CHECK_THAT(err("{name: s, domains: [a.test], validity_days: 0}"),
             Contains("validity_days: must be between 1 and 3650"));
  CHECK_THAT(err("{name: s, domains: [a.test], key_algorithm: RSA_4096}"),
             Contains("must be EC_prime256v1, EC_secp384r1 or RSA_2048 (ACM's names), got "
                      "'RSA_4096'"));
  CHECK_THAT(err("{name: s, domains: [a.test], issuer: letsencrypt}"),
             Contains("must be local-ca"));
  CHECK_THAT(err("{name: s, certificate_file: x.pem, private_key_file: x.key, validity_days: 9}"),
             Contains("only issued certificates (with domains) take 'validity_days'"));
  CHECK_THAT(load_error(with("certificates:\n  - {name: s, domains: [a.test]}\n"
                             "  - {name: s, domains: [b.test]}\n" +
                             kHttp)),
             Contains("certificates[1].name: duplicate certificate name 's' (first defined at "
                      "line 6)"));
}

TEST_CASE("error: imported files must be readable", "[config][tls][error]") {
  TempDir dir;
  CHECK(load_error(with("certificates:\n"
                        "  - {name: s, certificate_file: tls/missing.pem,"
                        " private_key_file: tls/site.key}\n" +
                        kHttp),
                   dir.path()) == "t.yaml:6:33: certificates[0].certificate_file: cannot read " +
                                      dir.path() + "/tls/missing.pem: No such file or directory");
  CHECK_THAT(
      load_error(with("certificates:\n  - {name: s, certificate_file: tls/site.pem}\n" + kHttp),
                 dir.path()),
      Contains("certificates[0].private_key_file: is required"));
  CHECK_THAT(load_error(with("certificates:\n"
                             "  - {name: s, certificate_file: tls,"
                             " private_key_file: tls/site.key}\n" +
                             kHttp),
                        dir.path()),
             Contains("/tls: not a regular file"));
}

TEST_CASE("ssl policies: names, families and defaults", "[config][tls]") {
  using portico::config::find_ssl_policy;
  using portico::config::SslPolicyFamily;
  size_t cloudfront = 0;
  for (const auto& p : portico::config::ssl_policies()) {
    if (p.family == SslPolicyFamily::CloudFront) ++cloudfront;
    CHECK((p.family == SslPolicyFamily::Elb) == p.name.starts_with("ELBSecurityPolicy-"));
    CHECK_FALSE((p.ciphers.empty() && p.tls13_ciphers.empty()));
  }
  CHECK(cloudfront == 8);
  CHECK(find_ssl_policy(portico::config::kDefaultCloudFrontSslPolicy) != nullptr);
  CHECK(find_ssl_policy(portico::config::kDefaultElbSslPolicy) != nullptr);
  CHECK(find_ssl_policy("ELBSecurityPolicy-2015-05")->ciphers.size() ==
        find_ssl_policy("ELBSecurityPolicy-2016-08")->ciphers.size());
  CHECK(find_ssl_policy("ELBSecurityPolicy-TLS-1-0-2015-04")->ciphers.back() == "DES-CBC3-SHA");
}
