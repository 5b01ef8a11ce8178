// `target_groups:` and `load_balancers:`: the issue's example loads exactly, every field maps onto
// the Model with ELBv2's defaults, and every ELBv2 rule or quota the loader enforces reports
// FILE:LINE:COL and the key path.
#include <catch2/catch.hpp>
#include <string>

#include "config/loader.h"
#include "tests/unit/config/load_util.h"

using portico::config::Duration;
using portico::config::ForwardAction;
using portico::config::HealthCheck;
using portico::config::ListenerRule;
using portico::config::load_string;
using portico::config::LoadBalancer;
using portico::config::LoadBalancingAlgorithm;
using portico::config::Model;
using portico::config::RuleActionType;
using portico::config::StickinessType;
using portico::config::TargetGroup;

namespace {

using portico::config::test::load_error;
using portico::config::test::load_ok;

// One listener and one distribution (lines 1-5); blocks follow from line 6.
const std::string kHead =
    "listeners: [{name: http, address: 127.0.0.1:8080}]\n"
    "distributions:\n"
    "  - id: web\n"
    "    origins: [{id: api, custom_origin: {url: \"http://127.0.0.1:9001\"}}]\n"
    "    default_cache_behavior: {target_origin_id: api}\n";

// Target groups `v1` and `v2` (lines 7-8) and a load balancer `api` whose only rule is `rule` (a
// flow-map body, on line 12) and whose default forwards to v1.
std::string with_rule(const std::string& rule) {
  return kHead +
         "target_groups:\n"
         "  - {name: v1, targets: [\"127.0.0.1:9001\"]}\n"
         "  - {name: v2, targets: [\"127.0.0.1:9002\"]}\n"
         "load_balancers:\n"
         "  - name: api\n"
         "    rules:\n"
         "      - {" +
         rule +
         "}\n"
         "    default_actions: [{forward: {target_group: v1}}]\n";
}

// A config whose only target group is `v1` with `fields` (block map indented by 4, from line 8).
std::string group(const std::string& fields) {
  return kHead + "target_groups:\n  - name: v1\n" + fields;
}

std::string cond(const std::string& conditions) {
  return with_rule("priority: 10, conditions: " + conditions +
                   ", actions: [{forward: {target_group: v2}}]");
}

std::string action(const std::string& a) {
  return with_rule("priority: 10, conditions: {path_pattern: [/x]}, actions: [" + a + "]");
}

const TargetGroup& tg(const Model& m, const std::string& name) {
  const TargetGroup* g = m.find_target_group(name);
  REQUIRE(g != nullptr);
  return *g;
}

}  // namespace

TEST_CASE("the issue's load balancer example loads exactly", "[config][lb]") {
  const std::string yaml = kHead + R"(load_balancers:
  - name: api
    listeners: [ { name: alb, address: 127.0.0.1:8081, protocol: HTTP } ]
    rules:
      - priority: 10
        conditions: { path_pattern: ["/api/v2/*"], http_request_method: [GET, POST] }
        actions: [ { forward: { target_groups: [ { name: v2, weight: 90 }, { name: v1, weight: 10 } ] } } ]
      - priority: 20
        conditions: { host_header: ["old.example.test"] }
        actions: [ { redirect: { host: "new.example.test", path: "/#{path}", status_code: HTTP_301 } } ]
      - priority: 30
        conditions: { path_pattern: ["/maintenance"] }
        actions: [ { fixed_response: { status_code: 503, content_type: text/plain, message_body: "back soon" } } ]
    default_actions: [ { forward: { target_group: v1 } } ]
target_groups:
  - name: v1
    targets: ["127.0.0.1:9001", "127.0.0.1:9002"]
    health_check: { path: /health, interval: 30s, timeout: 5s, healthy_threshold: 5, unhealthy_threshold: 2, matcher: "200" }
    load_balancing_algorithm: round_robin
    stickiness: { enabled: true, type: lb_cookie, duration: 86400 }
    deregistration_delay: 300
  - name: v2
    targets: ["127.0.0.1:9003"]
)";
  Model m = load_ok(yaml);
  // v1 is sticky but the weighted forward has no group-level stickiness (ALB asks for it).
  REQUIRE(m.warnings.size() == 1);
  CHECK_THAT(m.warnings[0], Catch::Matchers::Contains("t.yaml:12:48: load_balancers[0].rules[0]."
                                                      "actions[0].forward.target_groups: target "
                                                      "group 'v1' is sticky"));
  REQUIRE(m.load_balancers.size() == 1);
  const LoadBalancer* lb = m.find_load_balancer("api");
  REQUIRE(lb == &m.load_balancers[0]);
  CHECK(m.find_load_balancer("nope") == nullptr);
  CHECK(lb->loc.line == 7);
  REQUIRE(lb->listeners.size() == 1);
  CHECK(lb->listeners[0].name == "alb");
  CHECK(lb->listeners[0].host == "127.0.0.1");
  CHECK(lb->listeners[0].port == 8081);
  CHECK(m.listeners.size() == 1);  // load balancer listeners stay with their load balancer

  REQUIRE(lb->rules.size() == 3);
  const ListenerRule& r10 = lb->rules[0];
  CHECK(r10.priority == 10);
  CHECK(r10.conditions.path_pattern == std::vector<std::string>{"/api/v2/*"});
  CHECK(r10.conditions.http_request_method == std::vector<std::string>{"GET", "POST"});
  REQUIRE(r10.action.type == RuleActionType::Forward);
  const ForwardAction& fwd = r10.action.forward;
  REQUIRE(fwd.target_groups.size() == 2);
  CHECK(fwd.target_groups[0].name == "v2");
  CHECK(fwd.target_groups[0].weight == 90);
  CHECK(fwd.target_groups[0].ref == &tg(m, "v2"));
  CHECK(fwd.target_groups[1].weight == 10);
  CHECK(fwd.target_groups[1].ref == &tg(m, "v1"));
  CHECK_FALSE(fwd.stickiness_enabled);

  const ListenerRule& r20 = lb->rules[1];
  CHECK(r20.conditions.host_header == std::vector<std::string>{"old.example.test"});
  REQUIRE(r20.action.type == RuleActionType::Redirect);
  CHECK(r20.action.redirect.protocol == "#{protocol}");
  CHECK(r20.action.redirect.host == "new.example.test");
  CHECK(r20.action.redirect.port == "#{port}");
  CHECK(r20.action.redirect.path == "/#{path}");
  CHECK(r20.action.redirect.query == "#{query}");
  CHECK(r20.action.redirect.status_code == 301);

  const ListenerRule& r30 = lb->rules[2];
  REQUIRE(r30.action.type == RuleActionType::FixedResponse);
  CHECK(r30.action.fixed_response.status_code == 503);
  CHECK(r30.action.fixed_response.content_type == "text/plain");
  CHECK(r30.action.fixed_response.message_body == "back soon");

  REQUIRE(lb->default_action.type == RuleActionType::Forward);
  REQUIRE(lb->default_action.forward.target_groups.size() == 1);
  CHECK(lb->default_action.forward.target_groups[0].ref == &tg(m, "v1"));
  CHECK(lb->default_action.forward.target_groups[0].weight == 1);

  const TargetGroup& v1 = tg(m, "v1");
  REQUIRE(v1.targets.size() == 2);
  CHECK(v1.targets[0].id == "127.0.0.1");
  CHECK(v1.targets[0].port == 9001);
  CHECK(v1.targets[1].port == 9002);
  CHECK(v1.health_check.path == "/health");
  CHECK(v1.health_check.interval == Duration{30'000});
  CHECK(v1.health_check.timeout == Duration{5'000});
  CHECK(v1.health_check.healthy_threshold == 5);
  CHECK(v1.health_check.unhealthy_threshold == 2);
  CHECK(v1.health_check.matches(200));
  CHECK_FALSE(v1.health_check.matches(204));
  CHECK(v1.load_balancing_algorithm == LoadBalancingAlgorithm::RoundRobin);
  CHECK(v1.stickiness.enabled);
  CHECK(v1.stickiness.type == StickinessType::LbCookie);
  CHECK(v1.stickiness.duration == Duration{86'400'000});
  CHECK(v1.deregistration_delay == Duration{300'000});
}

TEST_CASE("target group: ELBv2 defaults", "[config][lb]") {
  Model m = load_ok(group("    targets: [\"10.0.1.5\", {id: \"10.0.1.6\", port: 8080}]\n"));
  const TargetGroup& g = tg(m, "v1");
  CHECK(g.port == 80);
  REQUIRE(g.targets.size() == 2);
  CHECK(g.targets[0].port == 80);  // the group's port
  CHECK(g.targets[1].port == 8080);
  const HealthCheck& hc = g.health_check;
  CHECK(hc.enabled);
  CHECK(hc.path == "/");
  CHECK(hc.port == 0);  // traffic-port
  CHECK(hc.interval == Duration{30'000});
  CHECK(hc.timeout == Duration{5'000});
  CHECK(hc.healthy_threshold == 5);
  CHECK(hc.unhealthy_threshold == 2);
  CHECK(hc.matcher == "200");
  CHECK(g.load_balancing_algorithm == LoadBalancingAlgorithm::RoundRobin);
  CHECK_FALSE(g.stickiness.enabled);
  CHECK(g.stickiness.duration == Duration{86'400'000});
  CHECK(g.slow_start == Duration{0});
  CHECK(g.deregistration_delay == Duration{300'000});
}

TEST_CASE("target group: every field", "[config][lb]") {
  Model m = load_ok(group(
      "    port: 8080\n"
      "    targets: [\"[2001:db8::0005]:9000\", \"2001:db8::6\", \"10.0.0.1:81\"]\n"
      "    health_check: {enabled: false, path: \"/ping?x=1\", port: 9999, interval: 10s, "
      "timeout: 2s, healthy_threshold: 3, unhealthy_threshold: 4, matcher: \"200,202,300-399\"}\n"
      "    load_balancing_algorithm: least_outstanding_requests\n"
      "    stickiness: {enabled: true, type: app_cookie, duration: 1h, cookie_name: SESSION}\n"
      "    slow_start: 30s\n"
      "    deregistration_delay: 0\n"));
  const TargetGroup& g = tg(m, "v1");
  REQUIRE(g.targets.size() == 3);
  CHECK(g.targets[0].id == "2001:db8::5");  // canonical form
  CHECK(g.targets[0].port == 9000);
  CHECK(g.targets[1].id == "2001:db8::6");
  CHECK(g.targets[1].port == 8080);
  CHECK(g.targets[2].port == 81);
  CHECK_FALSE(g.health_check.enabled);
  CHECK(g.health_check.path == "/ping?x=1");
  CHECK(g.health_check.port == 9999);
  CHECK(g.health_check.healthy_threshold == 3);
  CHECK(g.health_check.unhealthy_threshold == 4);
  CHECK(g.health_check.matches(202));
  CHECK(g.health_check.matches(350));
  CHECK_FALSE(g.health_check.matches(201));
  CHECK(g.load_balancing_algorithm == LoadBalancingAlgorithm::LeastOutstandingRequests);
  CHECK(g.stickiness.type == StickinessType::AppCookie);
  CHECK(g.stickiness.cookie_name == "SESSION");
  CHECK(g.stickiness.duration == Duration{3'600'000});
  CHECK(g.slow_start == Duration{30'000});
  CHECK(g.deregistration_delay == Duration{0});
  m =
      load_ok(group("    health_check: {port: traffic-port}\n"
                    "    load_balancing_algorithm: weighted_random\n"));
  CHECK(tg(m, "v1").health_check.port == 0);
  CHECK(tg(m, "v1").load_balancing_algorithm == LoadBalancingAlgorithm::WeightedRandom);
}

TEST_CASE("target group: ELBv2 ranges and names", "[config][lb]") {
  using Catch::Matchers::Contains;
  CHECK_THAT(load_error(group("    health_check: {interval: 4s}\n")),
             Contains("t.yaml:8:30: target_groups[0].health_check.interval: must be between 5s "
                      "and 5m"));
  CHECK_THAT(load_error(group("    health_check: {timeout: 121s}\n")), Contains("timeout"));
  CHECK_THAT(load_error(group("    health_check: {interval: 5s, timeout: 5s}\n")),
             Contains("timeout (5s) must be less than interval (5s)"));
  CHECK_THAT(load_error(group("    health_check: {healthy_threshold: 11}\n")),
             Contains("must be between 2 and 10"));
  CHECK_THAT(load_error(group("    health_check: {unhealthy_threshold: 1}\n")),
             Contains("must be between 2 and 10"));
  CHECK_THAT(load_error(group("    health_check: {matcher: \"200-199\"}\n")),
             Contains("invalid matcher '200-199'"));
  CHECK_THAT(load_error(group("    health_check: {matcher: \"500\"}\n")),
             Contains("codes 200-499"));
  CHECK_THAT(load_error(group("    health_check: {path: health}\n")),
             Contains("must be a path starting with '/'"));
  CHECK_THAT(load_error(group("    health_check: {protocol: HTTPS}\n")),
             Contains("HTTPS health checks are not supported yet"));
  CHECK_THAT(load_error(group("    slow_start: 10s\n")),
             Contains("must be 0 (off) or between 30s and 15m"));
  CHECK_THAT(load_error(group("    slow_start: 901s\n")), Contains("slow_start"));
  CHECK_THAT(load_error(group("    deregistration_delay: 3601\n")),
             Contains("must be between 0s and 1h"));
  CHECK_THAT(load_error(group("    load_balancing_algorithm: random\n")),
             Contains("must be round_robin, least_outstanding_requests or weighted_random"));
  CHECK_THAT(load_error(group("    stickiness: {enabled: true, type: app_cookie}\n")),
             Contains("cookie_name: is required for app_cookie stickiness"));
  CHECK_THAT(load_error(group("    stickiness: {type: app_cookie, cookie_name: AWSALBAPP}\n")),
             Contains("reserved"));
  CHECK_THAT(load_error(group("    stickiness: {cookie_name: x}\n")),
             Contains("only app_cookie stickiness takes a cookie_name"));
  CHECK_THAT(load_error(group("    stickiness: {duration: 604801}\n")), Contains("duration"));
  CHECK_THAT(load_error(group("    targets: [\"localhost:9001\"]\n")),
             Contains("t.yaml:8:15: target_groups[0].targets[0]: target id 'localhost' is not an "
                      "IP address"));
  CHECK_THAT(load_error(group("    targets: [\"127.0.0.1:9001\", {id: 127.0.0.1, port: 9001}]\n")),
             Contains("targets[1]: target '127.0.0.1' is listed twice"));
  CHECK_THAT(load_error(group("    targets: [\"127.0.0.1:0\"]\n")), Contains("expected IP:PORT"));
  CHECK_THAT(load_error(kHead + "target_groups:\n  - name: -bad\n"),
             Contains("invalid target group name '-bad'"));
  CHECK_THAT(load_error(kHead + "target_groups:\n  - name: a\n  - name: a\n"),
             Contains("target_groups[1].name: duplicate target group name 'a' (first defined at "
                      "line 7)"));
  CHECK_THAT(load_error(kHead + "target_groups:\n  - name: a23456789012345678901234567890123\n"),
             Contains("at most 32"));
}

TEST_CASE("load balancer: rules are sorted by priority; conditions in list form", "[config][lb]") {
  Model m = load_ok(kHead +
                    "target_groups: [{name: v1}]\n"
                    "load_balancers:\n"
                    "  - name: api\n"
                    "    rules:\n"
                    "      - priority: 50000\n"
                    "        conditions:\n"
                    "          - http_header: {name: User-Agent, values: [\"*Chrome*\"]}\n"
                    "          - http_header: {name: X-Env, values: [beta]}\n"
                    "          - query_string: [{key: version, value: v1}, {value: example}]\n"
                    "        actions: [{fixed_response: {status_code: 200}}]\n"
                    "      - priority: 1\n"
                    "        conditions: {source_ip: [\"192.0.2.0/24\", \"2001:db8::/32\"]}\n"
                    "        actions: [{fixed_response: {status_code: 404}}]\n"
                    "    default_actions: [{fixed_response: {status_code: 503}}]\n");
  const LoadBalancer& lb = m.load_balancers[0];
  REQUIRE(lb.rules.size() == 2);
  CHECK(lb.rules[0].priority == 1);
  CHECK(lb.rules[0].conditions.source_ip.size() == 2);
  const auto& c = lb.rules[1].conditions;
  REQUIRE(c.http_header.size() == 2);
  CHECK(c.http_header[0].name == "user-agent");
  CHECK(c.http_header[1].values == std::vector<std::string>{"beta"});
  REQUIRE(c.query_string.size() == 1);
  REQUIRE(c.query_string[0].size() == 2);
  CHECK(c.query_string[0][0].has_key);
  CHECK(c.query_string[0][0].key == "version");
  CHECK_FALSE(c.query_string[0][1].has_key);
  CHECK(c.query_string[0][1].value == "example");
  CHECK(lb.default_action.type == RuleActionType::FixedResponse);
}

TEST_CASE("load balancer: condition errors", "[config][lb]") {
  using Catch::Matchers::Contains;
  CHECK_THAT(load_error(cond("{path_pattern: [/a, /b, /c, /d]}")),
             Contains("t.yaml:12:51: load_balancers[0].rules[0].conditions.path_pattern: at most "
                      "3 values per condition"));
  CHECK_THAT(
      load_error(cond("{path_pattern: [/a, /b, /c], http_request_method: [GET, PUT, HEAD]}")),
      Contains("at most 5 condition values in all"));
  CHECK_THAT(load_error(cond("{path_pattern: [\"/*/*/*\"], host_header: [\"*.*.*.test\"]}")),
             Contains("at most 5 wildcards"));
  CHECK_THAT(load_error(cond("{source_ip: [10.0.0.0]}")), Contains("invalid CIDR '10.0.0.0'"));
  CHECK_THAT(load_error(cond("{source_ip: [\"10.0.0.0/33\"]}")), Contains("invalid CIDR"));
  CHECK_THAT(load_error(cond("{source_ip: [\"::/129\"]}")), Contains("invalid CIDR"));
  CHECK_THAT(load_error(cond("{source_ip: [\"::ffff:10.0.0.0/104\"]}")), Contains("invalid CIDR"));
  CHECK_THAT(load_error(cond("{host_header: [localhost]}")), Contains("invalid host name"));
  CHECK_THAT(load_error(cond("{host_header: [\"a.b1\"]}")), Contains("only letters after"));
  CHECK_THAT(load_error(cond("{path_pattern: [\"/a b\"]}")), Contains("invalid path pattern"));
  CHECK_THAT(load_error(cond("{http_request_method: [get]}")), Contains("invalid method 'get'"));
  CHECK_THAT(load_error(cond("{http_header: {name: Host, values: [a]}}")),
             Contains("use a host_header condition"));
  CHECK_THAT(load_error(cond("{http_header: {name: \"X*\", values: [a]}}")),
             Contains("invalid header name"));
  CHECK_THAT(load_error(cond("{query_string: [{key: k}]}")), Contains("value: is required"));
  CHECK_THAT(load_error(cond("{path_pattern: []}")), Contains("must list at least one value"));
  CHECK_THAT(load_error(cond("{}")), Contains("a rule needs at least one condition"));
  CHECK_THAT(load_error(cond("[{path_pattern: [/a]}, {path_pattern: [/b]}]")),
             Contains("at most one path_pattern condition"));
  CHECK_THAT(load_error(cond("{path_patern: [/a]}")), Contains("did you mean 'path_pattern'"));
  // A warning, not an error: host bits after the prefix.
  Model m = load_ok(cond("{source_ip: [\"10.0.0.1/8\"]}"));
  REQUIRE(m.warnings.size() == 1);
  CHECK_THAT(m.warnings[0], Contains("has bits set after the prefix"));
}

TEST_CASE("load balancer: rule, action and name errors", "[config][lb]") {
  using Catch::Matchers::Contains;
  CHECK_THAT(load_error(with_rule(
                 "priority: 10, conditions: {path_pattern: [/b]}, actions: [{fixed_response: "
                 "{status_code: 200}}]}\n      - {priority: 10, conditions: "
                 "{path_pattern: [/a]}, actions: [{fixed_response: {status_code: "
                 "200}}]")),
             Contains("duplicate priority 10 (first used at line 12)"));
  CHECK_THAT(load_error(with_rule("conditions: {path_pattern: [/a]}, actions: [{fixed_response: "
                                  "{status_code: 200}}], priority: 50001")),
             Contains("must be between 1 and 50000"));
  CHECK_THAT(load_error(action("{forward: {target_group: v3}}")),
             Contains("unknown target group 'v3', did you mean 'v1'?"));
  CHECK_THAT(load_error(action("{forward: {target_group: v1, target_groups: [{name: v2}]}}")),
             Contains("needs exactly one of target_group or target_groups"));
  CHECK_THAT(load_error(action("{forward: {target_groups: [{name: v1}, {name: v1}]}}")),
             Contains("'v1' is listed twice"));
  CHECK_THAT(load_error(action("{forward: {target_groups: [{name: v1, weight: 1000}]}}")),
             Contains("must be between 0 and 999"));
  CHECK_THAT(load_error(action("{forward: {target_groups: [{name: v1, weight: 0}]}}")),
             Contains("at least one target group needs a weight above 0"));
  CHECK_THAT(load_error(action("{forward: {target_group: v1, stickiness: {enabled: true}}}")),
             Contains("duration: is required when stickiness is enabled"));
  CHECK_THAT(load_error(action("{redirect: {status_code: HTTP_301}}")),
             Contains("would redirect to the same URL"));
  CHECK_THAT(load_error(action("{redirect: {path: \"/#{query}\", status_code: HTTP_302}}")),
             Contains("'#{query}' cannot be used in the path"));
  CHECK_THAT(load_error(action("{redirect: {protocol: FTP, status_code: HTTP_302}}")),
             Contains("must be HTTP, HTTPS or #{protocol}"));
  CHECK_THAT(load_error(action("{redirect: {port: \"70000\", status_code: HTTP_302}}")),
             Contains("must be a port 1-65535 or #{port}"));
  CHECK_THAT(load_error(action("{redirect: {host: x.test, status_code: 301}}")),
             Contains("must be HTTP_301 or HTTP_302"));
  CHECK_THAT(load_error(action("{redirect: {host: x.test}}")),
             Contains("status_code: is required"));
  CHECK_THAT(load_error(action("{fixed_response: {status_code: 302}}")),
             Contains("must be a 2XX, 4XX or 5XX code"));
  CHECK_THAT(load_error(action("{fixed_response: {status_code: 200, content_type: text/xml}}")),
             Contains("must be text/plain, text/css, text/html"));
  CHECK_THAT(load_error(action("{fixed_response: {status_code: 200}}, {fixed_response: "
                               "{status_code: 201}}")),
             Contains("must hold exactly one action"));
  CHECK_THAT(load_error(action("{forward: {target_group: v1}, redirect: {host: a.test, "
                               "status_code: HTTP_301}}")),
             Contains("needs exactly one of forward, redirect or fixed_response"));
  CHECK_THAT(load_error(kHead + "load_balancers: [{name: api}]\n"),
             Contains("load_balancers[0].default_actions: is required"));
  CHECK_THAT(load_error(kHead + "load_balancers: [{name: internal-api, default_actions: "
                                "[{fixed_response: {status_code: 200}}]}]\n"),
             Contains("must not start with 'internal-'"));
  CHECK_THAT(load_error(kHead + "load_balancers:\n"
                                "  - {name: a, default_actions: [{fixed_response: {status_code: "
                                "200}}]}\n"
                                "  - {name: a, default_actions: [{fixed_response: {status_code: "
                                "200}}]}\n"),
             Contains("duplicate load balancer name 'a'"));
}

TEST_CASE("load balancer: listeners are unique across the file", "[config][lb]") {
  using Catch::Matchers::Contains;
  const std::string tail = ", default_actions: [{fixed_response: {status_code: 200}}]}]\n";
  CHECK_THAT(load_error(kHead +
                        "load_balancers: [{name: a, listeners: [{name: http, address: "
                        "127.0.0.1:9}]" +
                        tail),
             Contains("duplicate listener name 'http'"));
  CHECK_THAT(load_error(kHead +
                        "load_balancers: [{name: a, listeners: [{name: x, address: "
                        "127.0.0.1:8080}]" +
                        tail),
             Contains("address 127.0.0.1:8080 is already used by listener 'http'"));
  CHECK_THAT(load_error(kHead +
                        "load_balancers: [{name: a, listeners: [{name: x, address: "
                        "127.0.0.1:9, protocol: HTTPS}]" +
                        tail),
             Contains("certificates: is required for HTTPS listeners"));
  Model m = load_ok(kHead +
                    "load_balancers: [{name: a, listeners: [{name: x, address: "
                    "127.0.0.1:0}, {name: y, address: 127.0.0.1:0}]" +
                    tail);
  CHECK(m.load_balancers[0].listeners.size() == 2);
}

TEST_CASE("load balancer: sticky weighted target groups want group stickiness", "[config][lb]") {
  using Catch::Matchers::Contains;
  std::string yaml = kHead +
                     "target_groups:\n"
                     "  - {name: v1, stickiness: {enabled: true}}\n"
                     "  - {name: v2}\n"
                     "load_balancers:\n"
                     "  - name: api\n"
                     "    default_actions: [{forward: {target_groups: [{name: v1}, {name: v2}]";
  Model plain = load_ok(yaml + "}}]\n");
  REQUIRE(plain.warnings.size() == 1);
  CHECK_THAT(plain.warnings[0], Contains("'v1' is sticky but this forward has no stickiness"));
  Model m = load_ok(yaml + ", stickiness: {enabled: true, duration: 1h}}}]\n");
  const ForwardAction& f = m.load_balancers[0].default_action.forward;
  CHECK(f.stickiness_enabled);
  CHECK(f.stickiness_duration == Duration{3'600'000});
}

TEST_CASE("target group: app_cookie stickiness names no reserved cookie", "[config][lb]") {
  using Catch::Matchers::Contains;
  // ALB User Guide, "Sticky sessions": AWSALB, AWSALBAPP and AWSALBTG are reserved; so are the
  // names the load balancer derives from them (AWSALBCORS, AWSALBTGCORS, AWSALBAPP-0..3).
  for (const char* name : {"AWSALB", "AWSALBCORS", "AWSALBTG", "AWSALBTGCORS", "AWSALBAPP",
                           "AWSALBAPP-0", "AWSALBAPP-3"}) {
    INFO(name);
    std::string fields = std::string("    stickiness: {enabled: true, type: app_cookie, ") +
                         "cookie_name: " + name + "}\n";
    CHECK_THAT(load_error(group(fields)),
               Contains("t.yaml:8:64: target_groups[0].stickiness.cookie_name: names starting "
                        "with AWSALB are reserved"));
  }
  CHECK_THAT(load_error(group("    stickiness: {type: app_cookie, cookie_name: \"a b\"}\n")),
             Contains("t.yaml:8:49: target_groups[0].stickiness.cookie_name: invalid cookie "
                      "name 'a b'"));
  // Names that merely resemble them are the application's.
  Model m =
      load_ok(group("    stickiness: {enabled: true, type: app_cookie, cookie_name: AWSAL}\n"));
  CHECK(tg(m, "v1").stickiness.cookie_name == "AWSAL");
  CHECK(tg(m, "v1").stickiness.duration == Duration{86'400'000});  // ALB's default, 1 day
}

namespace {

// Target group v1 (line 7) and a load balancer whose `attributes:` is on line 10.
std::string with_attributes(const std::string& attributes) {
  return kHead +
         "target_groups:\n"
         "  - {name: v1, targets: [\"127.0.0.1:9001\"]}\n"
         "load_balancers:\n"
         "  - name: api\n"
         "    attributes: " +
         attributes +
         "\n"
         "    default_actions: [{forward: {target_group: v1}}]\n";
}

}  // namespace

TEST_CASE("load balancer: attributes (X-Forwarded-For processing)", "[config][lb]") {
  using Catch::Matchers::Contains;
  using portico::config::XffHeaderProcessingMode;
  // ALB's defaults: append, no client port.
  Model m =
      load_ok(with_rule("priority: 1, conditions: {path_pattern: [/x]}, "
                        "actions: [{forward: {target_group: v2}}]"));
  CHECK(m.load_balancers[0].attributes.xff_header_processing_mode ==
        XffHeaderProcessingMode::Append);
  CHECK_FALSE(m.load_balancers[0].attributes.xff_client_port);

  m = load_ok(with_attributes("{xff_header_processing_mode: preserve}"));
  CHECK(m.load_balancers[0].attributes.xff_header_processing_mode ==
        XffHeaderProcessingMode::Preserve);
  m = load_ok(with_attributes("{xff_header_processing_mode: remove}"));
  CHECK(m.load_balancers[0].attributes.xff_header_processing_mode ==
        XffHeaderProcessingMode::Remove);
  m = load_ok(with_attributes("{xff_header_processing_mode: append, xff_client_port: true}"));
  CHECK(m.load_balancers[0].attributes.xff_header_processing_mode ==
        XffHeaderProcessingMode::Append);
  CHECK(m.load_balancers[0].attributes.xff_client_port);
  CHECK(m.warnings.empty());

  // The client port only changes what append adds: a warning otherwise.
  m = load_ok(with_attributes("{xff_header_processing_mode: remove, xff_client_port: true}"));
  REQUIRE(m.warnings.size() == 1);
  CHECK_THAT(m.warnings[0], Contains("t.yaml:10:71: load_balancers[0].attributes.xff_client_port: "
                                     "has no effect unless xff_header_processing_mode is append"));

  CHECK_THAT(load_error(with_attributes("{xff_header_processing_mode: drop}")),
             Contains("t.yaml:10:46: load_balancers[0].attributes.xff_header_processing_mode: "
                      "must be append, preserve or remove, got 'drop'"));
  CHECK_THAT(
      load_error(with_attributes("{xff_client_port: maybe}")),
      Contains(
          "t.yaml:10:35: load_balancers[0].attributes.xff_client_port: expected true or false"));
  CHECK_THAT(load_error(with_attributes("{xff_header_processing: append}")),
             Contains("load_balancers[0].attributes.xff_header_processing: unknown key"));
}
