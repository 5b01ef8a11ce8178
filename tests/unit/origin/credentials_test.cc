// Credential resolution (explicit env names, AWS_* env, shared credentials file) with an injected
// environment, and the rule that no secret ever reaches an error, a log string or redacted().
#include "origin/credentials.h"

#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace fs = std::filesystem;
using portico::core::ErrorKind;
using portico::origin::Credentials;
using portico::origin::CredentialsConfig;
using portico::origin::EnvLookup;
using portico::origin::parse_shared_credentials;
using portico::origin::resolve_credentials;

namespace {

constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr const char* kToken = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN//+==";

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// A scratch folder holding credentials files, removed at the end of the test case.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "portico-cred-test-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string write(const std::string& rel, const std::string& text) const {
    fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

const std::string kFile =
    "# comment line with = sign\n"
    "; another comment\n"
    "[default]\n"
    "aws_access_key_id = AKIADEFAULTKEY000001\n"
    "aws_secret_access_key=" +
    std::string(kSecret) +
    "\n"
    "\n"
    "[prod]\r\n"
    "AWS_Access_Key_ID = AKIAPRODKEY000000002\r\n"
    "aws_secret_access_key = prod/secret+value\r\n"
    "aws_session_token = " +
    std::string(kToken) +
    "\r\n"
    "region = eu-west-1\r\n"
    "[legacy]\n"
    "aws_access_key_id=AKIALEGACY0000000003\n"
    "aws_secret_access_key=legacy-secret\n"
    "aws_security_token=legacy-token\n"
    "[half]\n"
    "aws_access_key_id=AKIAHALF000000000004\n"
    "[garbage]\n"
    "aws_access_key_id=AKIAGARBAGE000000005\n"
    "SuperSecretPastedWithoutKey\n";

// Every error string and log-facing field must be free of every secret used in these tests.
void require_no_secret(const std::string& s) {
  for (const char* secret : {kSecret, kToken, "prod/secret+value", "legacy-secret", "legacy-token",
                             "SuperSecretPastedWithoutKey", "env-secret-value"}) {
    INFO("string: " << s);
    CHECK(s.find(secret) == std::string::npos);
  }
}

}  // namespace

TEST_CASE("credentials: redacted() shows 4 characters of the key id", "[credentials]") {
  Credentials c{"AKIAIOSFODNN7EXAMPLE", kSecret, kToken, "test"};
  CHECK(c.redacted() == "AKIA…");
  require_no_secret(c.redacted());
  CHECK(Credentials{"AKIA", "x", "", ""}.redacted() == "…");
  CHECK(Credentials{"", "x", "", ""}.redacted() == "…");
}

TEST_CASE("credentials: explicit env variable names from config", "[credentials]") {
  CredentialsConfig cfg{"MY_KEY_ID", "MY_SECRET", ""};
  auto env = env_of({{"MY_KEY_ID", "AKIAEXPLICIT00000001"},
                     {"MY_SECRET", "env-secret-value"},
                     {"AWS_ACCESS_KEY_ID", "AKIAIGNORED000000000"},
                     {"AWS_SECRET_ACCESS_KEY", "ignored"}});
  auto c = resolve_credentials(cfg, env);
  REQUIRE(c.ok());
  CHECK(c->access_key_id == "AKIAEXPLICIT00000001");
  CHECK(c->secret_access_key == "env-secret-value");
  CHECK(c->session_token.empty());
  CHECK(c->source == "env MY_KEY_ID");

  SECTION("with a session token variable") {
    cfg.session_token_env = "MY_TOKEN";
    auto missing = resolve_credentials(cfg, env);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().detail.find("MY_TOKEN") != std::string::npos);
    auto with = resolve_credentials(
        cfg, env_of({{"MY_KEY_ID", "A1234"}, {"MY_SECRET", "s"}, {"MY_TOKEN", kToken}}));
    REQUIRE(with.ok());
    CHECK(with->session_token == kToken);
  }
  SECTION("a named variable that is unset or empty is an error, with no fallback") {
    auto r = resolve_credentials(cfg, env_of({{"MY_KEY_ID", "AKIAEXPLICIT00000001"},
                                              {"MY_SECRET", ""},
                                              {"AWS_ACCESS_KEY_ID", "AKIAIGNORED000000000"},
                                              {"AWS_SECRET_ACCESS_KEY", "ignored"}}));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::Config);
    CHECK(r.error().detail.find("MY_SECRET") != std::string::npos);
    require_no_secret(r.error().detail);
  }
  SECTION("only one of the pair named") {
    auto r = resolve_credentials(CredentialsConfig{"MY_KEY_ID", "", ""}, env);
    REQUIRE_FALSE(r.ok());
    require_no_secret(r.error().detail);
  }
}

TEST_CASE("credentials: AWS_* environment variables", "[credentials]") {
  auto c = resolve_credentials({}, env_of({{"AWS_ACCESS_KEY_ID", "AKIAENV0000000000001"},
                                           {"AWS_SECRET_ACCESS_KEY", kSecret},
                                           {"AWS_SESSION_TOKEN", kToken},
                                           {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"}}));
  REQUIRE(c.ok());
  CHECK(c->access_key_id == "AKIAENV0000000000001");
  CHECK(c->secret_access_key == kSecret);
  CHECK(c->session_token == kToken);
  CHECK(c->source == "env AWS_ACCESS_KEY_ID");
  require_no_secret(c->source);

  SECTION("half a pair is refused, not completed from the file") {
    TempDir dir;
    std::string file = dir.write("credentials", kFile);
    auto r = resolve_credentials({}, env_of({{"AWS_SECRET_ACCESS_KEY", "env-secret-value"},
                                             {"AWS_SHARED_CREDENTIALS_FILE", file}}));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().detail.find("AWS_ACCESS_KEY_ID") != std::string::npos);
    require_no_secret(r.error().detail);
  }
}

TEST_CASE("credentials: shared credentials file", "[credentials]") {
  TempDir dir;
  std::string file = dir.write("credentials", kFile);

  SECTION("default profile via AWS_SHARED_CREDENTIALS_FILE") {
    auto c = resolve_credentials({}, env_of({{"AWS_SHARED_CREDENTIALS_FILE", file}}));
    REQUIRE(c.ok());
    CHECK(c->access_key_id == "AKIADEFAULTKEY000001");
    CHECK(c->secret_access_key == kSecret);
    CHECK(c->session_token.empty());
    CHECK(c->source == "file " + file + " [default]");
  }
  SECTION("AWS_PROFILE, CRLF lines, case-insensitive keys, session token") {
    auto c = resolve_credentials(
        {}, env_of({{"AWS_SHARED_CREDENTIALS_FILE", file}, {"AWS_PROFILE", "prod"}}));
    REQUIRE(c.ok());
    CHECK(c->access_key_id == "AKIAPRODKEY000000002");
    CHECK(c->secret_access_key == "prod/secret+value");
    CHECK(c->session_token == kToken);
  }
  SECTION("legacy aws_security_token") {
    auto c = resolve_credentials(
        {}, env_of({{"AWS_SHARED_CREDENTIALS_FILE", file}, {"AWS_PROFILE", "legacy"}}));
    REQUIRE(c.ok());
    CHECK(c->session_token == "legacy-token");
  }
  SECTION("~/.aws/credentials from HOME") {
    TempDir home;
    home.write(".aws/credentials", kFile);
    auto c = resolve_credentials({}, env_of({{"HOME", home.path()}, {"AWS_PROFILE", "prod"}}));
    REQUIRE(c.ok());
    CHECK(c->access_key_id == "AKIAPRODKEY000000002");
  }
  SECTION("errors name the file and profile, never a value") {
    for (const char* profile : {"missing", "half", "garbage"}) {
      auto r = resolve_credentials(
          {}, env_of({{"AWS_SHARED_CREDENTIALS_FILE", file}, {"AWS_PROFILE", profile}}));
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().kind == ErrorKind::Config);
      CHECK(r.error().detail.find(file) != std::string::npos);
      require_no_secret(r.error().detail);
    }
    auto garbage = parse_shared_credentials(kFile, "garbage", "f");
    REQUIRE_FALSE(garbage.ok());
    CHECK(garbage.error().detail == "credentials file f line 20: expected 'key = value'");
  }
  SECTION("no credentials anywhere") {
    auto r = resolve_credentials({}, env_of({{"HOME", dir.path() + "/nohome"}}));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().detail.find("/nohome/.aws/credentials") != std::string::npos);
    auto r2 = resolve_credentials({}, env_of({}));
    REQUIRE_FALSE(r2.ok());
  }
}

TEST_CASE("credentials: the process environment is the default lookup", "[credentials]") {
  // Only reads: the test runner's environment has no AWS keys of ours to find.
  ::setenv("PORTICO_TEST_CRED_ID", "AKIAPROCESS000000001", 1);
  ::setenv("PORTICO_TEST_CRED_SECRET", "env-secret-value", 1);
  auto c = resolve_credentials(
      CredentialsConfig{"PORTICO_TEST_CRED_ID", "PORTICO_TEST_CRED_SECRET", ""});
  ::unsetenv("PORTICO_TEST_CRED_ID");
  ::unsetenv("PORTICO_TEST_CRED_SECRET");
  REQUIRE(c.ok());
  CHECK(c->access_key_id == "AKIAPROCESS000000001");
  CHECK(c->redacted() == "AKIA…");
}
