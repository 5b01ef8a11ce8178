// A distribution origin `load_balancer: NAME`: resolved against `load_balancers:` with ALB's
// timeouts, and an unknown name or a second origin kind reported with file:line:column.
#include <catch2/catch.hpp>
#include <string>

#include "config/loader.h"
#include "tests/unit/config/load_util.h"

using Catch::Matchers::Contains;
using portico::config::load_string;
using portico::config::Model;
using portico::config::OriginKind;

namespace {

using portico::config::test::load_error;
using portico::config::test::load_ok;

// Line 5 holds the distribution's origin `{id: o, <origin>}`.
std::string lb_config(const std::string& origin) {
  return "listeners: [{name: http, address: 127.0.0.1:8080}]\n"
         "target_groups: [{name: v1, targets: [\"127.0.0.1:9001\"]}]\n"
         "load_balancers: [{name: api, default_actions: [{forward: {target_group: v1}}]}]\n"
         "distributions:\n"
         "  - {id: web, origins: [{id: o, " +
         origin + "}], default_cache_behavior: {target_origin_id: o}}\n";
}

}  // namespace

TEST_CASE("load_balancer origin resolves to the named load balancer", "[config][lb]") {
  auto r = load_string(lb_config("load_balancer: api"), "t.yaml", ".");
  if (!r.ok()) FAIL(r.error().detail);
  const Model& m = r.value();
  const auto& o = m.distributions[0].origins[0];
  REQUIRE(o.kind == OriginKind::LoadBalancer);
  CHECK(o.load_balancer.name == "api");
  CHECK(o.load_balancer.ref == m.find_load_balancer("api"));
  CHECK(o.load_balancer.connection_timeout.count() == 10'000);
  CHECK(o.load_balancer.read_timeout.count() == 60'000);
}

TEST_CASE("load_balancer origin errors", "[config][lb]") {
  CHECK_THAT(load_error(lb_config("load_balancer: nope")),
             Contains("t.yaml:5:") && Contains("unknown load balancer 'nope'") &&
                 Contains("(load_balancers: api)"));
  CHECK_THAT(load_error(lb_config("load_balancer: \"\"")), Contains("t.yaml:5:"));
  CHECK_THAT(load_error(lb_config("load_balancer: api, custom_origin: {url: \"http://a\"}")),
             Contains("has more than one of custom_origin, directory_origin, s3_origin and "
                      "load_balancer"));
}
