// s3_origin in the config loader: defaults, where requests go (AWS's regional endpoint in
// virtual-hosted or path style, S3-compatible endpoints), validation with FILE:LINE:COL and key
// paths (bucket naming rules, region format, credentials variable names, unknown keys), and the
// pure helpers behind them (config/values.h).
#include <catch2/catch.hpp>
#include <string>

#include "config/loader.h"
#include "config/values.h"
#include "tests/unit/config/load_util.h"

using portico::config::Duration;
using portico::config::load_string;
using portico::config::Model;
using portico::config::OriginAccessControl;
using portico::config::OriginKind;
using portico::config::S3Origin;

namespace {

using portico::config::test::load_error;
using portico::config::test::load_ok;

// One listener, one distribution whose only origin (line 4) is `{id: o, s3_origin: {<kv>}}`.
std::string s3_config(const std::string& kv) {
  return "listeners: [{name: http, address: 127.0.0.1:8080}]\n"
         "distributions:\n"
         "  - id: web\n"
         "    origins: [{id: o, s3_origin: {" +
         kv +
         "}}]\n"
         "    default_cache_behavior: {target_origin_id: o}\n";
}

const S3Origin& s3_of(const Model& m) {
  REQUIRE(m.distributions[0].origins[0].kind == OriginKind::S3);
  return m.distributions[0].origins[0].s3;
}

}  // namespace

TEST_CASE("s3_origin defaults: AWS regional endpoint, virtual-hosted, SigV4, 403", "[config][s3]") {
  Model m = load_ok(s3_config("bucket: my-site, region: eu-west-3"));
  const S3Origin& s3 = s3_of(m);
  CHECK(s3.bucket == "my-site");
  CHECK(s3.region == "eu-west-3");
  CHECK(s3.endpoint.empty());
  CHECK_FALSE(s3.path_style);
  CHECK(s3.host == "my-site.s3.eu-west-3.amazonaws.com");
  CHECK(s3.port == 80);
  CHECK(s3.host_header == "my-site.s3.eu-west-3.amazonaws.com");
  CHECK(s3.path_prefix.empty());
  CHECK(s3.origin_access_control == OriginAccessControl::SigV4);
  CHECK(s3.credentials.access_key_id_env.empty());
  CHECK(s3.credentials.secret_access_key_env.empty());
  CHECK(s3.missing_object == 403);
  CHECK(s3.connection_timeout == Duration(10'000));
  CHECK(s3.connection_attempts == 3);
  CHECK(s3.origin_read_timeout == Duration(30'000));
  CHECK(s3.origin_keepalive_timeout == Duration(5'000));
  // No upstream TLS yet: the load says so.
  REQUIRE(m.warnings.size() == 1);
  CHECK(m.warnings[0] ==
        "t.yaml:4:34: distributions[0].origins[0].s3_origin: Portico has no upstream TLS yet "
        "(issue #6): requests to my-site.s3.eu-west-3.amazonaws.com go over plain http:// on "
        "port 80; signed requests cannot be forged, but objects and headers travel unencrypted");
}

TEST_CASE("s3_origin addressing", "[config][s3]") {
  SECTION("AWS path style puts the bucket in the path") {
    const S3Origin s3 =
        s3_of(load_ok(s3_config("bucket: b.with.dots, region: us-east-1, "
                                "path_style: true, origin_path: /v2")));
    CHECK(s3.host == "s3.us-east-1.amazonaws.com");
    CHECK(s3.host_header == "s3.us-east-1.amazonaws.com");
    CHECK(s3.path_prefix == "/b.with.dots/v2");
  }
  SECTION("China regions use amazonaws.com.cn") {
    CHECK(s3_of(load_ok(s3_config("bucket: bkt, region: cn-north-1"))).host ==
          "bkt.s3.cn-north-1.amazonaws.com.cn");
  }
  SECTION("an IP or localhost endpoint defaults to path style") {
    Model m =
        load_ok(s3_config("bucket: site, region: us-east-1, endpoint: \"http://127.0.0.1:9000\""));
    const S3Origin& s3 = s3_of(m);
    CHECK(s3.path_style);
    CHECK(s3.host == "127.0.0.1");
    CHECK(s3.port == 9000);
    CHECK(s3.host_header == "127.0.0.1:9000");
    CHECK(s3.path_prefix == "/site");
    CHECK(m.warnings.empty());  // loopback: nothing leaves the machine
    CHECK(s3_of(load_ok(s3_config("bucket: site, region: r, endpoint: \"http://localhost\"")))
              .host_header == "localhost");
    const S3Origin v6 =
        s3_of(load_ok(s3_config("bucket: site, region: garage, endpoint: \"http://[::1]:3900/\"")));
    CHECK(v6.host == "::1");
    CHECK(v6.host_header == "[::1]:3900");
    CHECK(v6.path_prefix == "/site");
  }
  SECTION("a host name endpoint defaults to virtual-hosted style") {
    Model m = load_ok(
        s3_config("bucket: site, region: minio, endpoint: \"http://s3.internal.example:9000\""));
    const S3Origin& s3 = s3_of(m);
    CHECK_FALSE(s3.path_style);
    CHECK(s3.host == "s3.internal.example");
    CHECK(s3.host_header == "site.s3.internal.example:9000");
    CHECK(s3.path_prefix.empty());
    REQUIRE(m.warnings.size() == 1);
    CHECK(m.warnings[0].find("endpoint: Portico has no upstream TLS yet (issue #6)") !=
          std::string::npos);
    const S3Origin ps =
        s3_of(load_ok(s3_config("bucket: site, region: minio, endpoint: "
                                "\"http://s3.internal.example\", path_style: true")));
    CHECK(ps.host_header == "s3.internal.example");
    CHECK(ps.path_prefix == "/site");
  }
}

TEST_CASE("s3_origin settings", "[config][s3]") {
  const S3Origin s3 = s3_of(load_ok(
      s3_config("bucket: site, region: us-east-1, endpoint: \"http://127.0.0.1:9000\", "
                "origin_access_control: sigv4, missing_object: 404, connection_timeout: 2s, "
                "connection_attempts: 1, origin_read_timeout: 60s, origin_keepalive_timeout: 10s, "
                "credentials: {access_key_id_env: MY_KEY, secret_access_key_env: MY_SECRET, "
                "session_token_env: MY_TOKEN}")));
  CHECK(s3.missing_object == 404);
  CHECK(s3.connection_timeout == Duration(2'000));
  CHECK(s3.connection_attempts == 1);
  CHECK(s3.origin_read_timeout == Duration(60'000));
  CHECK(s3.origin_keepalive_timeout == Duration(10'000));
  CHECK(s3.credentials.access_key_id_env == "MY_KEY");
  CHECK(s3.credentials.secret_access_key_env == "MY_SECRET");
  CHECK(s3.credentials.session_token_env == "MY_TOKEN");

  Model none =
      load_ok(s3_config("bucket: site, region: us-east-1, endpoint: \"http://127.0.0.1:9000\", "
                        "origin_access_control: none, credentials: {access_key_id_env: K, "
                        "secret_access_key_env: S}"));
  CHECK(s3_of(none).origin_access_control == OriginAccessControl::None);
  REQUIRE(none.warnings.size() == 1);
  CHECK(none.warnings[0] ==
        "t.yaml:4:145: distributions[0].origins[0].s3_origin.credentials: origin_access_control "
        "is none: requests are not signed and these credentials are not used");
}

TEST_CASE("error: s3_origin required keys and unknown keys", "[config][s3][error]") {
  CHECK(load_error(s3_config("region: us-east-1")) ==
        "t.yaml:4:34: distributions[0].origins[0].s3_origin.bucket: is required");
  CHECK(load_error(s3_config("bucket: b1b")) ==
        "t.yaml:4:34: distributions[0].origins[0].s3_origin.region: is required");
  CHECK(load_error(s3_config("bucket: b1b, region: us-east-1, pathstyle: true")) ==
        "t.yaml:4:67: distributions[0].origins[0].s3_origin.pathstyle: unknown key 'pathstyle' "
        "(did you mean 'path_style'?)");
  CHECK(load_error(s3_config("bucket: b1b, region: us-east-1, credentials: {access_key_id: X}")) ==
        "t.yaml:4:81: distributions[0].origins[0].s3_origin.credentials.access_key_id: unknown "
        "key 'access_key_id'");
}

TEST_CASE("error: s3_origin origin kinds are exclusive", "[config][s3][error]") {
  CHECK(load_error("listeners: [{name: http, address: 127.0.0.1:8080}]\ndistributions:\n"
                   "  - id: web\n"
                   "    origins: [{id: o, custom_origin: {url: \"http://h\"}, s3_origin: "
                   "{bucket: abc, region: us-east-1}}]\n"
                   "    default_cache_behavior: {target_origin_id: o}\n") ==
        "t.yaml:4:15: distributions[0].origins[0]: has more than one of custom_origin, "
        "directory_origin, s3_origin and load_balancer; pick one");
}

TEST_CASE("error: s3_origin bucket names follow S3's rules", "[config][s3][error]") {
  auto error_for = [](const std::string& bucket) {
    return load_error(s3_config("bucket: \"" + bucket + "\", region: us-east-1"));
  };
  CHECK(error_for("My_Bucket") ==
        "t.yaml:4:43: distributions[0].origins[0].s3_origin.bucket: invalid bucket name "
        "'My_Bucket': may contain only lowercase letters, digits, '.' and '-'");
  CHECK(error_for("ab").find("must be 3 to 63 characters long") != std::string::npos);
  CHECK(error_for("-abc").find("must start and end with a lowercase letter or a digit") !=
        std::string::npos);
  CHECK(error_for("a..b").find("two adjacent periods") != std::string::npos);
  CHECK(error_for("192.168.5.4").find("formatted as an IP address") != std::string::npos);
}

TEST_CASE("error: s3_origin region, endpoint, style and settings", "[config][s3][error]") {
  CHECK(load_error(s3_config("bucket: abc, region: US-East-1")) ==
        "t.yaml:4:56: distributions[0].origins[0].s3_origin.region: invalid region "
        "'US-East-1': expected an AWS region code such as us-east-1 or eu-west-3");
  CHECK(load_error(s3_config("bucket: abc, region: \"a/b\", endpoint: \"http://127.0.0.1:1\"")) ==
        "t.yaml:4:56: distributions[0].origins[0].s3_origin.region: invalid region 'a/b': "
        "expected letters, digits, '-' or '_' (at most 64), e.g. us-east-1");
  CHECK(load_error(s3_config("bucket: abc, region: us-east-1, endpoint: \"https://s3.local\"")) ==
        "t.yaml:4:77: distributions[0].origins[0].s3_origin.endpoint: https origins are not "
        "supported yet (use http://)");
  CHECK(load_error(s3_config("bucket: abc, region: us-east-1, endpoint: \"http://h/path\"")) ==
        "t.yaml:4:77: distributions[0].origins[0].s3_origin.endpoint: url 'http://h/path' must "
        "not have a path, query or fragment (put a path prefix in origin_path)");
  CHECK(load_error(s3_config("bucket: abc, region: us-east-1, endpoint: \"http://10.0.0.1\", "
                             "path_style: false")) ==
        "t.yaml:4:108: distributions[0].origins[0].s3_origin.path_style: virtual-hosted style "
        "needs an endpoint host name to put the bucket in front of; '10.0.0.1' is an address "
        "(use path_style: true)");
  CHECK(load_error(s3_config("bucket: abc, region: us-east-1, origin_access_control: oai")) ==
        "t.yaml:4:90: distributions[0].origins[0].s3_origin.origin_access_control: must be "
        "sigv4 or none, got 'oai'");
  CHECK(load_error(s3_config("bucket: abc, region: us-east-1, missing_object: 410")) ==
        "t.yaml:4:83: distributions[0].origins[0].s3_origin.missing_object: must be 403 (the "
        "bucket does not let the origin list it) or 404, got 410");
  CHECK(load_error(s3_config("bucket: abc, region: us-east-1, origin_path: x")) ==
        "t.yaml:4:80: distributions[0].origins[0].s3_origin.origin_path: must start with '/', "
        "got 'x'");
  CHECK(load_error(s3_config("bucket: abc, region: us-east-1, connection_attempts: 4")) ==
        "t.yaml:4:88: distributions[0].origins[0].s3_origin.connection_attempts: must be "
        "between 1 and 3, got 4");
}

TEST_CASE("error: s3_origin credentials name environment variables", "[config][s3][error]") {
  CHECK(load_error(s3_config("bucket: abc, region: us-east-1, credentials: "
                             "{access_key_id_env: K}")) ==
        "t.yaml:4:80: distributions[0].origins[0].s3_origin.credentials.secret_access_key_env: "
        "is required");
  // A value pasted where a name belongs is refused without being echoed in full.
  std::string e =
      load_error(s3_config("bucket: abc, region: us-east-1, credentials: "
                           "{access_key_id_env: K, secret_access_key_env: "
                           "\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"}"));
  CHECK(
      e.find("secret_access_key_env: must name an environment variable ([A-Za-z_][A-Za-z0-9_]*)") !=
      std::string::npos);
  CHECK(e.find("the value itself never goes in the config file") != std::string::npos);
}

TEST_CASE("s3 helpers: bucket names, regions, DNS suffix, IP addresses", "[config][s3]") {
  using portico::config::detail::aws_dns_suffix;
  using portico::config::detail::is_aws_region;
  using portico::config::detail::is_ip_address;
  using portico::config::detail::s3_bucket_name_problem;
  for (const char* ok : {"abc", "my-site", "b.with.dots", "123", "a-1.b-2",
                         "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123"}) {
    CHECK(s3_bucket_name_problem(ok).empty());
  }
  for (const char* bad : {"", "ab", "ABC", "a_b", "abc-", ".abc", "a..b", "10.1.2.3", "xn--abc",
                          "sthree-abc", "amzn-s3-demo-bucket", "abc-s3alias", "abc--ol-s3",
                          "abc.mrap", "abc--x-s3", "abc--table-s3", "a b",
                          "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234"}) {
    CHECK_FALSE(s3_bucket_name_problem(bad).empty());
  }
  for (const char* ok : {"us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1", "cn-north-1",
                         "il-central-1", "ca-west-1"}) {
    CHECK(is_aws_region(ok));
  }
  for (const char* bad : {"", "us-east", "useast1", "US-EAST-1", "us-east-1a", "us--east-1",
                          "-us-east-1", "u-east-1", "us-east-123", "us-east-"}) {
    CHECK_FALSE(is_aws_region(bad));
  }
  CHECK(aws_dns_suffix("cn-northwest-1") == "amazonaws.com.cn");
  CHECK(aws_dns_suffix("us-east-1") == "amazonaws.com");
  CHECK(is_ip_address("127.0.0.1"));
  CHECK(is_ip_address("::1"));
  CHECK_FALSE(is_ip_address("localhost"));
  CHECK_FALSE(is_ip_address("s3.amazonaws.com"));
}

TEST_CASE("the S3 example loads", "[config][s3]") {
  auto m = portico::config::load_file(std::string(PORTICO_SOURCE_DIR) + "/examples/s3-site.yaml");
  if (!m.ok()) FAIL(m.error().detail);
  const auto& d = m->distributions[0];
  CHECK(d.default_root_object == "index.html");
  const S3Origin& s3 = d.origins[0].s3;
  CHECK(s3.bucket == "site");
  CHECK(s3.host_header == "127.0.0.1:9000");
  CHECK(s3.path_prefix == "/site");
  CHECK(s3.credentials.secret_access_key_env == "S3_SITE_SECRET");
  CHECK(d.custom_error_responses.size() == 2);
  CHECK(m->warnings.empty());
}
