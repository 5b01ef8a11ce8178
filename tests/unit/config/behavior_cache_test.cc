// A cache behavior's caching settings beyond its policies: stale_if_error (the behavior's,
// overriding its cache policy's, else CloudFront's default) and cached_methods with OPTIONS
// (the warning when the cache key cannot tell CORS preflights apart).
#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "config/loader.h"
#include "core/http.h"
#include "tests/unit/config/load_util.h"

using portico::config::CacheBehavior;
using portico::config::load_string;
using portico::config::Model;

namespace {

using portico::config::test::load_error;
using portico::config::test::load_ok;

// Cache policies `policies` (lines from 1), then a distribution whose behaviors are `behaviors`
// (flow maps, one per line, from line N+7 when `policies` has N lines).
std::string config(const std::string& policies, const std::string& behaviors) {
  return policies +
         "listeners: [{name: http, address: 127.0.0.1:8080}]\n"
         "distributions:\n"
         "  - id: web\n"
         "    origins: [{id: api, custom_origin: {url: \"http://127.0.0.1:9001\"}}]\n"
         "    default_cache_behavior: {target_origin_id: api}\n"
         "    cache_behaviors:\n" +
         behaviors;
}

const std::string kPolicies =
    "cache_policies:\n"
    "  - {name: unset}\n"
    "  - {name: zero, stale_if_error: 0}\n"
    "  - {name: five_min, stale_if_error: 300}\n"
    "  - name: cors\n"
    "    cache_key: {headers: [Origin, Access-Control-Request-Method, "
    "Access-Control-Request-Headers]}\n";

}  // namespace

TEST_CASE("stale_if_error: the behavior's, else the policy's, else CloudFront's default",
          "[config][behavior]") {
  Model m =
      load_ok(config(kPolicies,
                     "      - {path_pattern: /a, target_origin_id: api, cache_policy: unset}\n"
                     "      - {path_pattern: /b, target_origin_id: api, cache_policy: zero}\n"
                     "      - {path_pattern: /c, target_origin_id: api, cache_policy: five_min}\n"
                     "      - {path_pattern: /d, target_origin_id: api, cache_policy: five_min, "
                     "stale_if_error: 5}\n"
                     "      - {path_pattern: /e, target_origin_id: api, cache_policy: five_min, "
                     "stale_if_error: 0}\n"
                     "      - {path_pattern: /f, target_origin_id: api, cache_policy: unset, "
                     "stale_if_error: 3153600000}\n"
                     "      - {path_pattern: /g, target_origin_id: api, cache_policy: "
                     "Managed-CachingOptimized}\n"));
  CHECK(m.warnings.empty());
  const auto& bs = m.distributions[0].cache_behaviors;
  REQUIRE(bs.size() == 7);
  CHECK_FALSE(m.find_cache_policy("unset")->has_stale_if_error);
  CHECK(m.find_cache_policy("zero")->has_stale_if_error);
  CHECK(m.find_cache_policy("five_min")->has_stale_if_error);
  CHECK(bs[0].configured_stale_if_error() == std::nullopt);
  CHECK(bs[1].configured_stale_if_error() == std::optional<int64_t>(0));
  CHECK(bs[2].configured_stale_if_error() == std::optional<int64_t>(300));
  CHECK(bs[3].stale_if_error == std::optional<int64_t>(5));
  CHECK(bs[3].configured_stale_if_error() == std::optional<int64_t>(5));
  CHECK(bs[4].configured_stale_if_error() == std::optional<int64_t>(0));
  CHECK(bs[5].configured_stale_if_error() == std::optional<int64_t>(3'153'600'000));
  CHECK(bs[6].configured_stale_if_error() == std::nullopt);  // managed policies set none
  CHECK(m.distributions[0].default_cache_behavior.stale_if_error == std::nullopt);
  CHECK(m.distributions[0].default_cache_behavior.configured_stale_if_error() == std::nullopt);
}

TEST_CASE("stale_if_error: errors and no-effect warnings", "[config][behavior]") {
  CHECK(load_error(config(kPolicies,
                          "      - {path_pattern: /a, target_origin_id: api, cache_policy: "
                          "unset, stale_if_error: -1}\n")) ==
        "t.yaml:13:88: distributions[0].cache_behaviors[0].stale_if_error: must be between 0 "
        "and 3153600000, got -1");
  CHECK(load_error(config(kPolicies,
                          "      - {path_pattern: /a, target_origin_id: api, cache_policy: "
                          "unset, stale_if_error: 10s}\n")) ==
        "t.yaml:13:88: distributions[0].cache_behaviors[0].stale_if_error: expected an integer, "
        "got '10s'");
  Model m = load_ok(
      config("",
             "      - {path_pattern: /a, target_origin_id: api, stale_if_error: 60}\n"
             "      - {path_pattern: /b, target_origin_id: api, stale_if_error: 60, cache_policy: "
             "Managed-CachingDisabled}\n"));
  REQUIRE(m.warnings.size() == 2);
  CHECK(m.warnings[0] ==
        "t.yaml:7:67: distributions[0].cache_behaviors[0].stale_if_error: stale_if_error has no "
        "effect: the behavior caches nothing (no cache_policy)");
  CHECK(m.warnings[1] ==
        "t.yaml:8:67: distributions[0].cache_behaviors[1].stale_if_error: stale_if_error has no "
        "effect: the behavior caches nothing (cache policy 'Managed-CachingDisabled' disables "
        "caching)");
}

TEST_CASE("cached OPTIONS: warned about unless the key holds the CORS preflight headers",
          "[config][behavior]") {
  const std::string methods =
      "allowed_methods: [GET, HEAD, OPTIONS], cached_methods: [GET, HEAD, OPTIONS]";
  Model m = load_ok(config(
      kPolicies, "      - {path_pattern: /a, target_origin_id: api, cache_policy: cors, " +
                     methods +
                     "}\n"
                     "      - {path_pattern: /b, target_origin_id: api, cache_policy: "
                     "Managed-CachingDisabled, " +
                     methods +
                     "}\n"
                     "      - {path_pattern: /c, target_origin_id: api, " +
                     methods +
                     "}\n"
                     "      - {path_pattern: /d, target_origin_id: api, cache_policy: unset, "
                     "allowed_methods: [GET, HEAD, OPTIONS]}\n"));
  CHECK(m.warnings.empty());
  const CacheBehavior& a = m.distributions[0].cache_behaviors[0];
  CHECK((a.cached_methods & portico::core::method_bit(portico::core::Method::Options)) != 0);

  m = load_ok(config(
      kPolicies,
      "      - {path_pattern: /a, target_origin_id: api, cache_policy: unset, " + methods + "}\n"));
  REQUIRE(m.warnings.size() == 1);
  CHECK(m.warnings[0] ==
        "t.yaml:13:127: distributions[0].cache_behaviors[0].cached_methods: OPTIONS responses "
        "are cached but cache policy 'unset' does not key on origin, "
        "access-control-request-method, access-control-request-headers: CORS preflight answers "
        "are then shared across viewers unless the origin sends Vary for them");
}
