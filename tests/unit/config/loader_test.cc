// config::load_string / load_file: valid configs map onto the Model with CloudFront's defaults,
// and every validation error names FILE:LINE:COL and the key path.
#include "config/loader.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/values.h"
#include "core/http.h"
#include "tests/unit/config/load_util.h"

using portico::config::Duration;
using portico::config::load_file;
using portico::config::load_string;
using portico::config::Model;
using portico::core::Method;
using portico::core::method_bit;

namespace {

using portico::config::test::load_error;
using portico::config::test::load_ok;

constexpr uint32_t kGetHead = method_bit(Method::Get) | method_bit(Method::Head);
constexpr uint32_t kAll = kGetHead | method_bit(Method::Options) | method_bit(Method::Put) |
                          method_bit(Method::Post) | method_bit(Method::Patch) |
                          method_bit(Method::Delete);

// A fresh folder with a `site/` directory and a `file.txt`, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "portico-config-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
    std::filesystem::create_directory(path_ + "/site");
    std::ofstream(path_ + "/file.txt") << "x";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One listener, one distribution with one custom origin; `extra` is appended at the top level.
std::string minimal(const std::string& extra = "") {
  return "listeners: [{name: http, address: 127.0.0.1:8080}]\n"
         "distributions:\n"
         "  - id: web\n"
         "    origins: [{id: api, custom_origin: {url: \"http://127.0.0.1:9001\"}}]\n"
         "    default_cache_behavior: {target_origin_id: api}\n" +
         extra;
}

// Like minimal() but with `origin` (a flow map) as the only origin, on line 3.
std::string with_origin(const std::string& origin) {
  return "listeners: [{name: http, address: 127.0.0.1:8080}]\n"
         "distributions:\n"
         "  - id: web\n"
         "    origins: [" +
         origin +
         "]\n"
         "    default_cache_behavior: {target_origin_id: o}\n";
}

// Like minimal() but with `behaviors` as the cache_behaviors list, on line 6.
std::string with_behaviors(const std::string& behaviors) {
  return minimal() + "    cache_behaviors:\n" + behaviors;
}

}  // namespace

TEST_CASE("the contract example parses with every value", "[config]") {
  TempDir dir;
  const std::string yaml = R"(server:
  workers: 2
  max_connections: 5000
  client_header_timeout: 10s
  client_body_timeout: 250ms
  idle_timeout: 5m
  shutdown_timeout: 1h
  max_request_line_bytes: 4096
  max_header_bytes: 64KiB
  max_header_count: 50
  max_body_bytes: 512MiB
  pop: LOCAL2-P3
listeners:
  - { name: http, address: 127.0.0.1:8080, protocol: HTTP }
  - { name: v6, address: "[::1]:0" }
distributions:
  - id: web
    enabled: false
    comment: "a comment"
    listeners: [http]
    aliases: [LocalHost, "*.example.test"]
    default_root_object: index.html
    via_host: abc.cloudfront.net
    origins:
      - { id: site, directory_origin: { path: ./site } }
      - id: api
        custom_origin: { url: "http://127.0.0.1:9001", origin_path: /v1, connection_timeout: 9s, connection_attempts: 2, origin_read_timeout: 31s, origin_keepalive_timeout: 6s }
        custom_headers: [ { header_name: X-From-Edge, header_value: "1" } ]
    default_cache_behavior: { target_origin_id: site, viewer_protocol_policy: allow-all }
    cache_behaviors:
      - { path_pattern: "/api/*", target_origin_id: api, allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE] }
admin: { address: 127.0.0.1:9902, token_env: MY_TOKEN }
access_log: { enabled: true, path: "-" }
)";
  Model m = load_ok(yaml, dir.path());
  CHECK(m.source_file.empty());
  CHECK(m.warnings.empty());

  CHECK(m.server.workers == 2);
  CHECK(m.server.max_connections == 5000);
  CHECK(m.server.client_header_timeout == Duration(10'000));
  CHECK(m.server.client_body_timeout == Duration(250));
  CHECK(m.server.idle_timeout == Duration(300'000));
  CHECK(m.server.shutdown_timeout == Duration(3'600'000));
  CHECK(m.server.max_request_line_bytes == 4096);
  CHECK(m.server.max_header_bytes == 65'536);
  CHECK(m.server.max_header_count == 50);
  CHECK(m.server.max_body_bytes == 512ull * 1024 * 1024);
  CHECK(m.server.pop == "LOCAL2-P3");

  REQUIRE(m.listeners.size() == 2);
  CHECK(m.listeners[0].name == "http");
  CHECK(m.listeners[0].host == "127.0.0.1");
  CHECK(m.listeners[0].port == 8080);
  CHECK(m.listeners[0].protocol == portico::config::ListenerProtocol::Http);
  CHECK(m.listeners[0].loc.file == "t.yaml");
  CHECK(m.listeners[0].loc.line == 14);
  CHECK(m.listeners[0].loc.column == 5);
  CHECK(m.listeners[1].host == "::1");
  CHECK(m.listeners[1].port == 0);
  CHECK(m.find_listener("v6") == &m.listeners[1]);

  REQUIRE(m.distributions.size() == 1);
  const auto& d = m.distributions[0];
  CHECK(d.id == "web");
  CHECK_FALSE(d.enabled);
  CHECK(d.comment == "a comment");
  CHECK(d.listeners == std::vector<std::string>{"http"});
  CHECK(d.aliases == std::vector<std::string>{"localhost", "*.example.test"});
  CHECK(d.default_root_object == "index.html");
  CHECK(d.via_host == "abc.cloudfront.net");
  CHECK(d.loc.line == 17);

  REQUIRE(d.origins.size() == 2);
  CHECK(d.origins[0].id == "site");
  CHECK(d.origins[0].kind == portico::config::OriginKind::Directory);
  CHECK(d.origins[0].directory.path == std::filesystem::canonical(dir.path() + "/site").string());
  const auto& api = d.origins[1];
  CHECK(api.kind == portico::config::OriginKind::Custom);
  CHECK(api.custom.url == "http://127.0.0.1:9001");
  CHECK(api.custom.scheme == "http");
  CHECK(api.custom.host == "127.0.0.1");
  CHECK(api.custom.port == 9001);
  CHECK(api.custom.origin_path == "/v1");
  CHECK(api.custom.connection_timeout == Duration(9'000));
  CHECK(api.custom.connection_attempts == 2);
  CHECK(api.custom.origin_read_timeout == Duration(31'000));
  CHECK(api.custom.origin_keepalive_timeout == Duration(6'000));
  REQUIRE(api.custom_headers.size() == 1);
  CHECK(api.custom_headers[0].header_name == "X-From-Edge");
  CHECK(api.custom_headers[0].header_value == "1");

  CHECK(d.default_cache_behavior.path_pattern.empty());
  CHECK(d.default_cache_behavior.target_origin_id == "site");
  CHECK(d.default_cache_behavior.allowed_methods == kGetHead);
  CHECK(d.default_cache_behavior.cached_methods == kGetHead);
  REQUIRE(d.cache_behaviors.size() == 1);
  CHECK(d.cache_behaviors[0].path_pattern == "/api/*");
  CHECK(d.cache_behaviors[0].target_origin_id == "api");
  CHECK(d.cache_behaviors[0].allowed_methods == kAll);
  CHECK(d.cache_behaviors[0].loc.line == 31);

  CHECK(m.admin.enabled);
  CHECK(m.admin.host == "127.0.0.1");
  CHECK(m.admin.port == 9902);
  CHECK(m.admin.token_env == "MY_TOKEN");
  CHECK(m.access_log.enabled);
  CHECK(m.access_log.path == "-");
}

TEST_CASE("defaults fill everything left out", "[config]") {
  Model m = load_ok(minimal());
  const portico::config::Server defaults;
  CHECK(m.server.workers == defaults.workers);
  CHECK(m.server.max_connections == 10'000);
  CHECK(m.server.idle_timeout == Duration(60'000));
  CHECK(m.server.max_header_bytes == 65'536);
  CHECK(m.server.max_body_bytes == 0);
  CHECK(m.server.pop == "LOCAL1-P1");

  CHECK(m.listeners[0].protocol == portico::config::ListenerProtocol::Http);
  const auto& d = m.distributions[0];
  CHECK(d.enabled);
  CHECK(d.listeners.empty());  // every listener
  CHECK(d.aliases.empty());
  CHECK(d.default_root_object.empty());
  CHECK(d.via_host == portico::config::detail::default_via_host("web"));
  const auto& c = d.origins[0].custom;
  CHECK(c.port == 9001);
  CHECK(c.origin_path.empty());
  CHECK(c.connection_timeout == Duration(10'000));
  CHECK(c.connection_attempts == 3);
  CHECK(c.origin_read_timeout == Duration(30'000));
  CHECK(c.origin_keepalive_timeout == Duration(5'000));
  const auto& b = d.default_cache_behavior;
  CHECK(b.viewer_protocol_policy == portico::config::ViewerProtocolPolicy::AllowAll);
  CHECK(b.allowed_methods == kGetHead);
  CHECK(b.cached_methods == kGetHead);
  CHECK_FALSE(b.compress);
  CHECK(d.cache_behaviors.empty());

  CHECK_FALSE(m.admin.enabled);
  CHECK(m.admin.host == "127.0.0.1");
  CHECK(m.admin.port == 9901);
  CHECK_FALSE(m.access_log.enabled);
  CHECK(m.warnings.empty());
}

TEST_CASE("via_host defaults to a stable FNV-1a name", "[config]") {
  using portico::config::detail::default_via_host;
  using portico::config::detail::fnv1a64;
  CHECK(fnv1a64("") == 0xcbf29ce484222325ull);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cull);
  CHECK(default_via_host("a") == "af63dc4c8601ec8c.cloudfront.net");
  std::string web = default_via_host("web");
  CHECK(web.size() == 16 + std::string(".cloudfront.net").size());
  CHECK(web.find_first_not_of("0123456789abcdef") == 16);
  CHECK(default_via_host("web2") != web);
}

TEST_CASE("reserved keys are accepted", "[config]") {
  const std::string behaviors =
      "      - {path_pattern: /a, target_origin_id: api, cache_policy: Managed-CachingOptimized,\n"
      "         origin_request_policy: Managed-AllViewer, compress: true,\n"
      "         allowed_methods: [OPTIONS, HEAD, GET], cached_methods: [GET, HEAD, OPTIONS]}\n";
  Model m = load_ok(with_behaviors(behaviors) +
                    "cache_policies: [{name: x}]\norigin_request_policies: []\n"
                    "load_balancers: []\ntarget_groups: []\ncertificates: []\ncache: {}\n"
                    "state_dir: /var/lib/portico\n");
  // Only the note that CachingOptimized keys no CORS preflight headers for the cached OPTIONS.
  REQUIRE(m.warnings.size() == 1);
  CHECK_THAT(m.warnings[0], Catch::Contains("OPTIONS responses are cached"));
  const auto& b = m.distributions[0].cache_behaviors[0];
  CHECK(b.cache_policy == "Managed-CachingOptimized");
  CHECK(b.origin_request_policy == "Managed-AllViewer");
  CHECK(b.cache_policy_ref == m.find_cache_policy("Managed-CachingOptimized"));
  CHECK(b.origin_request_policy_ref == m.find_origin_request_policy("Managed-AllViewer"));
  CHECK(b.compress);
  CHECK(b.allowed_methods == (kGetHead | method_bit(Method::Options)));
  CHECK(b.cached_methods == (kGetHead | method_bit(Method::Options)));

  CHECK_THAT(load_error("listeners: [{name: http, address: 127.0.0.1:80, ssl_policy: x}]\n" +
                        minimal().substr(minimal().find('\n') + 1)),
             Catch::Contains("listeners[0].ssl_policy: only HTTPS listeners take this key"));
}

TEST_CASE("https viewer policies load quietly; a public admin address warns", "[config]") {
  Model m = load_ok(with_behaviors("      - {path_pattern: /a, target_origin_id: api, "
                                   "viewer_protocol_policy: redirect-to-https}\n") +
                    "admin: {address: 0.0.0.0:9901}\n");
  CHECK(m.distributions[0].cache_behaviors[0].viewer_protocol_policy ==
        portico::config::ViewerProtocolPolicy::RedirectToHttps);
  REQUIRE(m.warnings.size() == 1);
  CHECK(m.warnings[0] ==
        "t.yaml:8:18: admin.address: admin address 0.0.0.0:9901 is not loopback: anyone who can "
        "reach it can read stats");
  CHECK(m.admin.enabled);
  CHECK(m.admin.host == "0.0.0.0");
}

TEST_CASE("admin and access_log blocks", "[config]") {
  Model m = load_ok(minimal("admin: {}\naccess_log: {path: logs/access.log}\n"), "/srv/edge");
  CHECK(m.admin.enabled);
  CHECK(m.admin.port == 9901);
  CHECK(m.access_log.enabled);
  CHECK(m.access_log.path == "/srv/edge/logs/access.log");
  Model off =
      load_ok(minimal("admin: {enabled: false, address: \"[::1]:0\"}\n"
                      "access_log: {enabled: false}\n"));
  CHECK_FALSE(off.admin.enabled);
  CHECK(off.admin.host == "::1");
  CHECK_FALSE(off.access_log.enabled);
}

TEST_CASE("load_file resolves directory origins next to the file", "[config]") {
  TempDir dir;
  const std::string file = dir.path() + "/portico.yaml";
  std::ofstream(file) << "listeners: [{name: a, address: localhost:0}]\n"
                         "distributions:\n"
                         "  - id: d\n"
                         "    origins: [{id: s, directory_origin: {path: site}}]\n"
                         "    default_cache_behavior: {target_origin_id: s}\n";
  auto m = load_file(file);
  REQUIRE(m.ok());
  CHECK(m->source_file == file);
  CHECK(m->distributions[0].origins[0].directory.path ==
        std::filesystem::canonical(dir.path() + "/site").string());

  auto missing = load_file(dir.path() + "/nope.yaml");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().detail ==
        dir.path() + "/nope.yaml: cannot read config file: No such file or directory");
}

TEST_CASE("the served example loads", "[config]") {
  const std::string file = std::string(PORTICO_SOURCE_DIR) + "/examples/portico.yaml";
  auto m = load_file(file);
  if (!m.ok()) FAIL(m.error().detail);  // needs examples/site to exist
  CHECK(m->listeners[0].port == 8080);
  CHECK(m->admin.port == 9901);
  const auto& d = m->distributions[0];
  CHECK(d.aliases == std::vector<std::string>{"localhost", "*.example.test"});
  CHECK(d.origins[0].directory.path ==
        std::filesystem::canonical(std::string(PORTICO_SOURCE_DIR) + "/examples/site").string());
  CHECK(d.origins[1].custom.port == 9001);
  CHECK(d.cache_behaviors[0].path_pattern == "/api/time");
  CHECK(d.cache_behaviors[0].cache_policy_ref != nullptr);
  CHECK(d.cache_behaviors[1].allowed_methods == kAll);
  CHECK(d.cache_behaviors[1].cache_policy == "Managed-CachingDisabled");
  CHECK(m->access_log.enabled);
}

TEST_CASE("parse_duration", "[config]") {
  using portico::config::parse_duration;
  CHECK(*parse_duration("10s") == Duration(10'000));
  CHECK(*parse_duration("250ms") == Duration(250));
  CHECK(*parse_duration("5m") == Duration(300'000));
  CHECK(*parse_duration("1h") == Duration(3'600'000));
  CHECK(*parse_duration("7") == Duration(7'000));
  CHECK(*parse_duration("0") == Duration(0));
  for (const char* bad :
       {"", "-1s", "1.5s", "s", "10 s", "10sec", "1d", "+1s", "99999999999999999h"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration(bad).ok());
  }
  CHECK(parse_duration("10x").error().detail ==
        "invalid duration '10x': expected a whole number with unit ms, s, m or h (e.g. 250ms, "
        "10s, 5m), or a bare number of seconds");
}

TEST_CASE("parse_size", "[config]") {
  using portico::config::parse_size;
  CHECK(*parse_size("100") == 100);
  CHECK(*parse_size("512MiB") == 512ull * 1024 * 1024);
  CHECK(*parse_size("64KiB") == 65'536);
  CHECK(*parse_size("1GiB") == 1024ull * 1024 * 1024);
  CHECK(*parse_size("1GB") == 1'000'000'000);
  CHECK(*parse_size("1KB") == 1000);
  CHECK(*parse_size("3B") == 3);
  for (const char* bad :
       {"", "-1", "1.5MiB", "MiB", "1 KB", "1kib", "1PB", "99999999999999999999"}) {
    INFO(bad);
    CHECK_FALSE(parse_size(bad).ok());
  }
}

// ---- Errors: one per rule, each with FILE:LINE:COL: KEY.PATH: message. ----

TEST_CASE("error: YAML syntax", "[config][error]") {
  CHECK(load_error("listeners: [a, b\n") == "t.yaml:2:1: end of sequence flow not found");
}

TEST_CASE("error: empty file, non-map top level, several documents", "[config][error]") {
  CHECK(load_error("") == "t.yaml:1:1: the config is empty");
  CHECK(load_error("# nothing\n") == "t.yaml:1:1: the config is empty");
  CHECK(load_error("- a\n") ==
        "t.yaml:1:1: the top level of a config must be a map (server, listeners, ...)");
  CHECK(load_error(minimal() + "---\nx: 1\n") ==
        "t.yaml:6:1: a config must be a single YAML document");
}

TEST_CASE("error: a stray comma does not hang yaml-cpp", "[config][error]") {
  // yaml-cpp 0.7's LoadAll loops forever on this (jbeder/yaml-cpp#1040).
  CHECK(load_error(",\n") ==
        "t.yaml:1:1: the top level of a config must be a map (server, listeners, ...)");
  CHECK(load_error(minimal() + ",\n") == "t.yaml:6:1: end of map not found");
}

TEST_CASE("error: unknown keys, with a suggestion when close", "[config][error]") {
  CHECK(load_error(minimal("sever: {}\n")) ==
        "t.yaml:6:1: sever: unknown key 'sever' (did you mean 'server'?)");
  CHECK(load_error(minimal("frobnicate: 1\n")) ==
        "t.yaml:6:1: frobnicate: unknown key 'frobnicate'");
  CHECK(load_error("listeners: [{name: a, adress: 1.2.3.4:5}]\n") ==
        "t.yaml:1:23: listeners[0].adress: unknown key 'adress' (did you mean 'address'?)");
}

TEST_CASE("error: duplicate key", "[config][error]") {
  CHECK(load_error(minimal("server: {workers: 1, workers: 2}\n")) ==
        "t.yaml:6:22: server.workers: duplicate key 'workers'");
}

TEST_CASE("error: wrong value types", "[config][error]") {
  CHECK(load_error(minimal("server: [1]\n")) == "t.yaml:6:9: server: expected a map, got a list");
  CHECK(load_error(minimal("server: {workers: [1]}\n")) ==
        "t.yaml:6:19: server.workers: expected an integer, got a list");
  CHECK(load_error("listeners: http\n") == "t.yaml:1:12: listeners: expected a list, got 'http'");
  CHECK(load_error(minimal("admin: {enabled: maybe}\n")) ==
        "t.yaml:6:18: admin.enabled: expected true or false, got 'maybe'");
}

TEST_CASE("error: listeners required and non-empty", "[config][error]") {
  CHECK(load_error("distributions: []\n") == "t.yaml:1:1: listeners: is required");
  CHECK(load_error("listeners: []\n") == "t.yaml:1:12: listeners: must list at least one listener");
}

TEST_CASE("error: listener name required and unique", "[config][error]") {
  CHECK(load_error("listeners: [{address: 1.2.3.4:5}]\n") ==
        "t.yaml:1:13: listeners[0].name: is required");
  CHECK(load_error("listeners:\n  - {name: a, address: 127.0.0.1:1}\n"
                   "  - {name: a, address: 127.0.0.1:2}\n") ==
        "t.yaml:3:12: listeners[1].name: duplicate listener name 'a' (first defined at line 2)");
}

TEST_CASE("error: listener address", "[config][error]") {
  CHECK(load_error("listeners: [{name: a, address: 1.2.3.4}]\n") ==
        "t.yaml:1:32: listeners[0].address: address '1.2.3.4' has no port: expected host:port");
  CHECK(load_error("listeners: [{name: a, address: 1.2.3.4:65536}]\n") ==
        "t.yaml:1:32: listeners[0].address: invalid port in address '1.2.3.4:65536': expected "
        "0-65535");
  CHECK(load_error("listeners: [{name: a, address: example.com:80}]\n") ==
        "t.yaml:1:32: listeners[0].address: invalid host in address 'example.com:80': expected "
        "an IPv4 address, [IPv6 address] or localhost");
  CHECK(load_error("listeners: [{name: a, address: \"::1:80\"}]\n") ==
        "t.yaml:1:32: listeners[0].address: invalid address '::1:80': expected host:port, e.g. "
        "127.0.0.1:8080 or [::1]:8080");
  CHECK(load_error("listeners:\n  - {name: a, address: 127.0.0.1:1}\n"
                   "  - {name: b, address: 127.0.0.1:1}\n") ==
        "t.yaml:3:24: listeners[1].address: address 127.0.0.1:1 is already used by listener 'a'");
}

TEST_CASE("error: listener protocol", "[config][error]") {
  CHECK(load_error("listeners: [{name: a, address: 1.2.3.4:5, protocol: HTTPS}]\n") ==
        "t.yaml:1:13: listeners[0].certificates: is required for HTTPS listeners (names from "
        "certificates:, the first is the default)");
  CHECK(load_error("listeners: [{name: a, address: 1.2.3.4:5, protocol: http}]\n") ==
        "t.yaml:1:53: listeners[0].protocol: must be HTTP or HTTPS, got 'http'");
}

TEST_CASE("error: distributions required, non-empty, unique ids", "[config][error]") {
  CHECK(load_error("listeners: [{name: a, address: 1.2.3.4:5}]\n") ==
        "t.yaml:1:1: distributions: is required");
  CHECK(load_error("listeners: [{name: a, address: 1.2.3.4:5}]\ndistributions: []\n") ==
        "t.yaml:2:16: distributions: must list at least one distribution");
  std::string dist =
      "  - {id: web, origins: [{id: o, custom_origin: {url: \"http://h\"}}], "
      "default_cache_behavior: {target_origin_id: o}}\n";
  CHECK(load_error("listeners: [{name: a, address: 1.2.3.4:5}]\ndistributions:\n" + dist + dist) ==
        "t.yaml:4:10: distributions[1].id: duplicate distribution id 'web' (first defined at line "
        "3)");
}

TEST_CASE("error: distribution listeners must exist", "[config][error]") {
  std::string yaml = minimal();
  yaml.insert(yaml.find("    origins"), "    listeners: [http, https]\n");
  CHECK(load_error(yaml) ==
        "t.yaml:4:23: distributions[0].listeners[1]: unknown listener 'https' (listeners: http)");
  yaml = minimal();
  yaml.insert(yaml.find("    origins"), "    listeners: []\n");
  CHECK(load_error(yaml) ==
        "t.yaml:4:16: distributions[0].listeners: must name at least one listener (leave the key "
        "out to use every listener)");
}

TEST_CASE("error: aliases must be host names or *. wildcards", "[config][error]") {
  std::string yaml = minimal();
  yaml.insert(yaml.find("    origins"), "    aliases: [ok.test, \"a.*.test\"]\n");
  CHECK(load_error(yaml) ==
        "t.yaml:4:24: distributions[0].aliases[1]: invalid alias 'a.*.test': expected a host name "
        "or '*.' followed by a host name");
  yaml = minimal();
  yaml.insert(yaml.find("    origins"), "    aliases: [A.test, a.TEST]\n");
  CHECK(load_error(yaml) ==
        "t.yaml:4:23: distributions[0].aliases[1]: alias 'a.test' is listed twice");
}

TEST_CASE("error: aliases unique across distributions sharing a listener", "[config][error]") {
  const std::string head =
      "listeners: [{name: a, address: 127.0.0.1:1}, {name: b, address: 127.0.0.1:2}]\n"
      "distributions:\n";
  auto dist = [](const std::string& id, const std::string& listeners) {
    return "  - {id: " + id + listeners +
           ", aliases: [x.test], origins: [{id: o, custom_origin: {url: \"http://h\"}}], "
           "default_cache_behavior: {target_origin_id: o}}\n";
  };
  CHECK(load_error(head + dist("d1", "") + dist("d2", ", listeners: [b]")) ==
        "t.yaml:4:40: distributions[1].aliases[0]: alias 'x.test' is already used by distribution "
        "'d1' (distributions[0].aliases[0]) on a shared listener");
  Model ok = load_ok(head + dist("d1", ", listeners: [a]") + dist("d2", ", listeners: [b]"));
  CHECK(ok.distributions.size() == 2);
}

TEST_CASE("error: default_root_object must not start with a slash", "[config][error]") {
  std::string yaml = minimal();
  yaml.insert(yaml.find("    origins"), "    default_root_object: /index.html\n");
  CHECK(load_error(yaml) ==
        "t.yaml:4:26: distributions[0].default_root_object: must not start with '/' (write "
        "'index.html')");
}

TEST_CASE("error: origins required, non-empty, unique", "[config][error]") {
  CHECK(load_error("listeners: [{name: a, address: 1.2.3.4:5}]\ndistributions:\n"
                   "  - {id: d, default_cache_behavior: {target_origin_id: o}}\n") ==
        "t.yaml:3:5: distributions[0].origins: is required");
  CHECK(load_error(with_origin("")) ==
        "t.yaml:4:14: distributions[0].origins: must list at least one origin");
  CHECK(load_error(with_origin("{id: o, directory_origin: {path: .}}, {id: o, directory_origin: "
                               "{path: .}}")) ==
        "t.yaml:4:58: distributions[0].origins[1].id: duplicate origin id 'o' (first defined at "
        "line 4)");
}

TEST_CASE("error: origin kind", "[config][error]") {
  CHECK(load_error(with_origin("{id: o}")) ==
        "t.yaml:4:15: distributions[0].origins[0]: needs exactly one of custom_origin, "
        "directory_origin, s3_origin or load_balancer");
  CHECK(load_error(with_origin(
            "{id: o, directory_origin: {path: .}, custom_origin: {url: \"http://h\"}}")) ==
        "t.yaml:4:15: distributions[0].origins[0]: has more than one of custom_origin, "
        "directory_origin, s3_origin and load_balancer; pick one");
  CHECK(load_error(with_origin("{id: o, s3_origin: {bucket: b}}")) ==
        "t.yaml:4:43: distributions[0].origins[0].s3_origin.bucket: invalid bucket name 'b': must "
        "be 3 to 63 characters long");
}

TEST_CASE("error: custom_origin url", "[config][error]") {
  CHECK(load_error(with_origin("{id: o, custom_origin: {}}")) ==
        "t.yaml:4:38: distributions[0].origins[0].custom_origin.url: is required");
  CHECK(load_error(with_origin("{id: o, custom_origin: {url: \"https://h\"}}")) ==
        "t.yaml:4:44: distributions[0].origins[0].custom_origin.url: https origins are not "
        "supported yet (use http://)");
  CHECK(load_error(with_origin("{id: o, custom_origin: {url: \"http://h/v1\"}}")) ==
        "t.yaml:4:44: distributions[0].origins[0].custom_origin.url: url 'http://h/v1' must not "
        "have a path, query or fragment (put a path prefix in origin_path)");
  CHECK(load_error(with_origin("{id: o, custom_origin: {url: \"http://h?x\"}}")) ==
        "t.yaml:4:44: distributions[0].origins[0].custom_origin.url: url 'http://h?x' must not "
        "have a path, query or fragment (put a path prefix in origin_path)");
  CHECK(load_error(with_origin("{id: o, custom_origin: {url: \"ftp://h\"}}")) ==
        "t.yaml:4:44: distributions[0].origins[0].custom_origin.url: invalid url 'ftp://h': "
        "expected http://host[:port]");
  CHECK(load_error(with_origin("{id: o, custom_origin: {url: \"http://h:0\"}}")) ==
        "t.yaml:4:44: distributions[0].origins[0].custom_origin.url: invalid port in url "
        "'http://h:0': expected 1-65535");
  Model m = load_ok(with_origin("{id: o, custom_origin: {url: \"http://[::1]:81/\"}}"));
  CHECK(m.distributions[0].origins[0].custom.host == "::1");
  CHECK(m.distributions[0].origins[0].custom.port == 81);
}

TEST_CASE("error: custom_origin origin_path", "[config][error]") {
  CHECK(load_error(with_origin("{id: o, custom_origin: {url: \"http://h\", origin_path: v1}}")) ==
        "t.yaml:4:69: distributions[0].origins[0].custom_origin.origin_path: must start with '/', "
        "got 'v1'");
  CHECK(load_error(with_origin("{id: o, custom_origin: {url: \"http://h\", origin_path: /v1/}}")) ==
        "t.yaml:4:69: distributions[0].origins[0].custom_origin.origin_path: must not end with "
        "'/' (write '/v1')");
}

TEST_CASE("error: custom_origin timeouts and attempts use CloudFront's ranges", "[config][error]") {
  auto origin = [](const std::string& kv) {
    return with_origin("{id: o, custom_origin: {url: \"http://h\", " + kv + "}}");
  };
  CHECK(load_error(origin("connection_timeout: 11s")) ==
        "t.yaml:4:76: distributions[0].origins[0].custom_origin.connection_timeout: must be "
        "between 1s and 10s, got 11s");
  CHECK(load_error(origin("connection_attempts: 4")) ==
        "t.yaml:4:77: distributions[0].origins[0].custom_origin.connection_attempts: must be "
        "between 1 and 3, got 4");
  CHECK(load_error(origin("origin_read_timeout: 181s")) ==
        "t.yaml:4:77: distributions[0].origins[0].custom_origin.origin_read_timeout: must be "
        "between 1s and 3m, got 181s");
  CHECK(load_error(origin("origin_keepalive_timeout: 500ms")) ==
        "t.yaml:4:82: distributions[0].origins[0].custom_origin.origin_keepalive_timeout: must be "
        "between 1s and 3m, got 500ms");
}

TEST_CASE("error: directory_origin path must be an existing directory", "[config][error]") {
  TempDir dir;
  CHECK(load_error(with_origin("{id: o, directory_origin: {path: missing}}"), dir.path()) ==
        "t.yaml:4:48: distributions[0].origins[0].directory_origin.path: directory 'missing' (" +
            dir.path() + "/missing) does not exist: No such file or directory");
  CHECK(load_error(with_origin("{id: o, directory_origin: {path: file.txt}}"), dir.path()) ==
        "t.yaml:4:48: distributions[0].origins[0].directory_origin.path: 'file.txt' (" +
            std::filesystem::canonical(dir.path()).string() + "/file.txt) is not a directory");
}

TEST_CASE("error: custom_headers", "[config][error]") {
  CHECK(load_error(with_origin("{id: o, directory_origin: {path: .}, custom_headers: "
                               "[{header_name: \"Bad Name\", header_value: x}]}")) ==
        "t.yaml:4:83: distributions[0].origins[0].custom_headers[0].header_name: invalid header "
        "name 'Bad Name'");
}

TEST_CASE("error: default_cache_behavior required and has no path_pattern", "[config][error]") {
  CHECK(load_error("listeners: [{name: a, address: 1.2.3.4:5}]\ndistributions:\n"
                   "  - {id: d, origins: [{id: o, directory_origin: {path: .}}]}\n") ==
        "t.yaml:3:5: distributions[0].default_cache_behavior: is required");
  std::string yaml = minimal();
  yaml.replace(yaml.find("{target_origin_id: api}"), 23,
               "{target_origin_id: api, path_pattern: \"*\"}");
  CHECK(load_error(yaml) ==
        "t.yaml:5:67: distributions[0].default_cache_behavior.path_pattern: the default cache "
        "behavior has no path_pattern (it matches every request)");
}

TEST_CASE("error: target_origin_id must name an origin", "[config][error]") {
  CHECK(load_error(with_behaviors("      - {path_pattern: /a, target_origin_id: nope}\n")) ==
        "t.yaml:7:46: distributions[0].cache_behaviors[0].target_origin_id: unknown origin 'nope' "
        "(origins of distribution 'web': api)");
}

TEST_CASE("error: path_pattern required, non-empty, unique", "[config][error]") {
  CHECK(load_error(with_behaviors("      - {target_origin_id: api}\n")) ==
        "t.yaml:7:9: distributions[0].cache_behaviors[0].path_pattern: is required");
  CHECK(load_error(with_behaviors("      - {path_pattern: \"\", target_origin_id: api}\n")) ==
        "t.yaml:7:24: distributions[0].cache_behaviors[0].path_pattern: must not be empty");
  CHECK(load_error(with_behaviors("      - {path_pattern: \"/a b\", target_origin_id: api}\n")) ==
        "t.yaml:7:24: distributions[0].cache_behaviors[0].path_pattern: invalid path_pattern "
        "'/a b': allowed are A-Z a-z 0-9 _ - . $ / ~ \" ' @ : + & and the wildcards * ?");
  CHECK(load_error(with_behaviors("      - {path_pattern: \"/img/*\", target_origin_id: api}\n"
                                  "      - {path_pattern: \"img/*\", target_origin_id: api}\n")) ==
        "t.yaml:8:9: distributions[0].cache_behaviors[1].path_pattern: duplicate path_pattern "
        "'img/*' (same as distributions[0].cache_behaviors[0])");
}

TEST_CASE("error: allowed_methods must be one of CloudFront's sets", "[config][error]") {
  CHECK(load_error(with_behaviors(
            "      - {path_pattern: /a, target_origin_id: api, allowed_methods: [GET, POST]}\n")) ==
        "t.yaml:7:68: distributions[0].cache_behaviors[0].allowed_methods: must be one of "
        "CloudFront's sets [GET, HEAD], [GET, HEAD, OPTIONS] or [GET, HEAD, OPTIONS, PUT, POST, "
        "PATCH, DELETE]");
  CHECK(load_error(with_behaviors(
            "      - {path_pattern: /a, target_origin_id: api, allowed_methods: [GET, get]}\n")) ==
        "t.yaml:7:74: distributions[0].cache_behaviors[0].allowed_methods[1]: unknown method "
        "'get' (expected GET, HEAD, OPTIONS, PUT, POST, PATCH or DELETE)");
}

TEST_CASE("error: cached_methods", "[config][error]") {
  CHECK(load_error(with_behaviors("      - {path_pattern: /a, target_origin_id: api, "
                                  "cached_methods: [GET, HEAD, OPTIONS]}\n")) ==
        "t.yaml:7:67: distributions[0].cache_behaviors[0].cached_methods: must be a subset of "
        "allowed_methods");
}

TEST_CASE("error: viewer_protocol_policy", "[config][error]") {
  CHECK(load_error(with_behaviors("      - {path_pattern: /a, target_origin_id: api, "
                                  "viewer_protocol_policy: http-only}\n")) ==
        "t.yaml:7:75: distributions[0].cache_behaviors[0].viewer_protocol_policy: must be "
        "allow-all, redirect-to-https or https-only, got 'http-only'");
}

TEST_CASE("error: durations and sizes", "[config][error]") {
  CHECK(load_error(minimal("server: {idle_timeout: soon}\n")) ==
        "t.yaml:6:24: server.idle_timeout: invalid duration 'soon': expected a whole number with "
        "unit ms, s, m or h (e.g. 250ms, 10s, 5m), or a bare number of seconds");
  CHECK(load_error(minimal("server: {idle_timeout: -5s}\n")) ==
        "t.yaml:6:24: server.idle_timeout: invalid duration '-5s': expected a whole number with "
        "unit ms, s, m or h (e.g. 250ms, 10s, 5m), or a bare number of seconds");
  CHECK(load_error(minimal("server: {max_header_bytes: 1XB}\n")) ==
        "t.yaml:6:28: server.max_header_bytes: invalid size '1XB': expected a whole number of "
        "bytes, optionally with unit B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB "
        "(powers of 1024)");
  CHECK(load_error(minimal("server: {max_header_bytes: 8GiB}\n")) ==
        "t.yaml:6:28: server.max_header_bytes: must be between 1 and 4294967295 bytes, got 8GiB");
}

TEST_CASE("error: server limits", "[config][error]") {
  CHECK(load_error(minimal("server: {workers: 300}\n")) ==
        "t.yaml:6:19: server.workers: must be between 0 and 256, got 300");
  CHECK(load_error(minimal("server: {max_connections: 0}\n")) ==
        "t.yaml:6:27: server.max_connections: must be between 1 and 10000000, got 0");
  CHECK(load_error(minimal("server: {idle_timeout: 0s}\n")) ==
        "t.yaml:6:24: server.idle_timeout: must be between 1ms and 24h, got 0s");
  CHECK(load_error(minimal("server: {pop: \"A B\"}\n")) ==
        "t.yaml:6:15: server.pop: must be letters, digits and '-' (e.g. LOCAL1-P1), got 'A B'");
}

TEST_CASE("error: admin address", "[config][error]") {
  CHECK(load_error(minimal("admin: {address: 127.0.0.1}\n")) ==
        "t.yaml:6:18: admin.address: address '127.0.0.1' has no port: expected host:port");
  CHECK(load_error(minimal("admin: {address: 127.0.0.1:8080}\n")) ==
        "t.yaml:6:18: admin.address: address 127.0.0.1:8080 is already used by listener 'http'");
}

TEST_CASE("error: control characters are escaped in messages", "[config][error]") {
  CHECK(load_error(minimal("\"a\\x01\": 1\n")) == "t.yaml:6:1: a\\x01: unknown key 'a\\x01'");
}
