// tls::SniTable: exact names beat wildcards beat the listener default; wildcards cover exactly
// one label; names are case-insensitive; unknown names get the default or a rejection.
#include "tls/sni.h"

#include <catch2/catch.hpp>

using portico::config::UnknownSni;
using portico::tls::Certificate;
using portico::tls::normalize_server_name;
using portico::tls::SniMatch;
using portico::tls::SniTable;

namespace {

std::shared_ptr<const Certificate> cert(const std::string& name, std::vector<std::string> names) {
  auto c = std::make_shared<Certificate>();
  c->name = name;
  c->names = std::move(names);
  return c;
}

const std::string& chosen(const SniTable& t, std::string_view sni) {
  static const std::string kNone = "(none)";
  const Certificate* c = t.choose(sni).certificate;
  return c == nullptr ? kNone : c->name;
}

}  // namespace

TEST_CASE("SNI: exact beats wildcard beats default", "[tls][sni]") {
  SniTable t({cert("default", {"default.test"}), cert("wild", {"*.example.test"}),
              cert("www", {"www.example.test", "example.test"})},
             UnknownSni::DefaultCertificate);
  CHECK(chosen(t, "www.example.test") == "www");
  CHECK(t.choose("www.example.test").match == SniMatch::Exact);
  CHECK(chosen(t, "api.example.test") == "wild");
  CHECK(t.choose("api.example.test").match == SniMatch::Wildcard);
  CHECK(chosen(t, "example.test") == "www");
  CHECK(chosen(t, "default.test") == "default");
  CHECK(chosen(t, "other.test") == "default");
  CHECK(t.choose("other.test").match == SniMatch::Default);
  CHECK(chosen(t, "") == "default");
  CHECK(t.choose("").match == SniMatch::NoSni);
}

TEST_CASE("SNI: a wildcard covers exactly one label", "[tls][sni]") {
  SniTable t({cert("default", {"default.test"}), cert("wild", {"*.example.test"})},
             UnknownSni::DefaultCertificate);
  CHECK(chosen(t, "a.example.test") == "wild");
  CHECK(chosen(t, "a.b.example.test") == "default");
  CHECK(chosen(t, "example.test") == "default");
  CHECK(chosen(t, ".example.test") == "default");
  // A client cannot ask for the wildcard itself.
  CHECK(chosen(t, "*.example.test") == "default");
}

TEST_CASE("SNI: case-insensitive, trailing dot ignored", "[tls][sni]") {
  SniTable t({cert("default", {"default.test"}), cert("www", {"www.example.test"}),
              cert("wild", {"*.example.test"})},
             UnknownSni::Reject);
  CHECK(chosen(t, "WWW.Example.TEST") == "www");
  CHECK(chosen(t, "www.example.test.") == "www");
  CHECK(chosen(t, "API.EXAMPLE.TEST") == "wild");
  CHECK(normalize_server_name("Www.Example.TEST.") == "www.example.test");
  CHECK(normalize_server_name("bad name") == "");
  CHECK(normalize_server_name("?") == "");
}

TEST_CASE("SNI: unknown_sni reject, but no SNI still gets the default", "[tls][sni]") {
  SniTable t({cert("default", {"default.test"}), cert("wild", {"*.example.test"})},
             UnknownSni::Reject);
  CHECK(t.choose("other.test").match == SniMatch::Rejected);
  CHECK(t.choose("other.test").certificate == nullptr);
  CHECK(t.choose("a.b.example.test").match == SniMatch::Rejected);
  CHECK(t.choose("?").match == SniMatch::Rejected);  // malformed server_name
  CHECK(t.choose("").match == SniMatch::NoSni);
  CHECK(chosen(t, "") == "default");
  CHECK(chosen(t, "a.example.test") == "wild");
}

TEST_CASE("SNI: the certificate listed first wins a tie", "[tls][sni]") {
  SniTable t({cert("one", {"a.test", "*.b.test"}), cert("two", {"a.test", "*.b.test"})},
             UnknownSni::DefaultCertificate);
  CHECK(chosen(t, "a.test") == "one");
  CHECK(chosen(t, "x.b.test") == "one");
  SniTable u({cert("two", {"a.test"}), cert("one", {"a.test"})}, UnknownSni::DefaultCertificate);
  CHECK(chosen(u, "a.test") == "two");
}
