// The admin API's target-list JSON (RegisterTargets / DeregisterTargets bodies): the one shape it
// takes, every way a body can be wrong, the per-call limit; change_targets' all-or-nothing
// validation of ids; and the per-target-group /metrics families, the target response time
// histogram included.
#include "proxy/admin_targets.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "proxy/metrics.h"

using Catch::Matchers::Contains;
using portico::proxy::change_targets;
using portico::proxy::json_targets;
using portico::proxy::kMaxTargetsPerCall;
using portico::proxy::TargetSpec;

namespace {

std::string error_of(std::string_view json) {
  auto r = json_targets(json);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == portico::core::ErrorKind::ParseError);
  return r.error().detail;
}

std::string many_targets(size_t n) {
  std::string body = "{\"targets\": [";
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) body += ',';
    body +=
        "{\"id\": \"10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + "\"}";
  }
  return body + "]}";
}

portico::config::TargetGroup group_config(const std::string& name) {
  portico::config::TargetGroup g;
  g.name = name;
  g.port = 8080;
  g.targets.push_back({"10.0.0.1", 8080, {}});
  return g;
}

}  // namespace

TEST_CASE("admin targets JSON: valid bodies", "[proxy][admin_targets]") {
  auto one = json_targets(R"({"targets": [{"id": "10.0.1.5", "port": 8080}]})");
  REQUIRE(one.ok());
  REQUIRE(one->size() == 1);
  CHECK((*one)[0].id == "10.0.1.5");
  CHECK((*one)[0].port == uint16_t{8080});

  // Port left out: the target group's (change_targets fills it in). Keys in any order,
  // whitespace anywhere, IPv6 ids.
  auto two = json_targets(
      " {\n \"targets\" : [ {\"id\":\"10.0.1.6\"} ,\t{ \"port\" : 1, \"id\" : \"2001:db8::5\" } ] "
      "}\r\n");
  REQUIRE(two.ok());
  REQUIRE(two->size() == 2);
  CHECK((*two)[0].id == "10.0.1.6");
  CHECK_FALSE((*two)[0].port.has_value());
  CHECK((*two)[1].id == "2001:db8::5");
  CHECK((*two)[1].port == uint16_t{1});

  auto edge = json_targets(R"({"targets":[{"id":"10.0.0.1","port":65535}]})");
  REQUIRE(edge.ok());
  CHECK((*edge)[0].port == uint16_t{65535});

  // Exactly the per-call limit is fine.
  auto full = json_targets(many_targets(kMaxTargetsPerCall));
  REQUIRE(full.ok());
  CHECK(full->size() == kMaxTargetsPerCall);
}

TEST_CASE("admin targets JSON: invalid bodies", "[proxy][admin_targets]") {
  // Not the expected shape at all.
  CHECK_THAT(error_of(""), Contains("expected {\"targets\""));
  CHECK_THAT(error_of("[]"), Contains("expected {\"targets\""));
  CHECK_THAT(error_of("{}"), Contains("expected {\"targets\""));
  CHECK_THAT(error_of(R"({"paths": []})"), Contains("expected {\"targets\""));
  CHECK_THAT(error_of(R"({"targets": {"id": "10.0.0.1"}})"), Contains("expected {\"targets\""));
  CHECK_THAT(error_of(R"({"targets": []})"), Contains("must not be empty"));
  // Broken JSON.
  CHECK_THAT(error_of(R"({"targets": [{"id": "10.0.0.1"})"), Contains("invalid \"targets\" list"));
  CHECK_THAT(error_of(R"({"targets": [{"id": "10.0.0.1"}])"), Contains("invalid \"targets\" list"));
  CHECK_THAT(error_of(R"({"targets": [{"id": "10.0.0.1"},]})"),
             Contains("each target must be an object"));
  CHECK_THAT(error_of(R"({"targets": [{"id": "10.0.0.1}]})"), Contains("\"id\" must be a string"));
  CHECK_THAT(error_of(R"({"targets": [{"id" "10.0.0.1"}]})"), Contains("invalid target object"));
  CHECK_THAT(error_of(R"({"targets": [{"id": "10.0.0.1",}]})"), Contains("invalid target object"));
  CHECK_THAT(error_of(R"({"targets": ["10.0.0.1"]})"), Contains("each target must be an object"));
  CHECK_THAT(error_of(R"({"targets": [{"id": "10.0.0.1"}]} x)"), Contains("trailing characters"));
  CHECK_THAT(error_of(R"({"targets": [{"id": "10.0.0.1"}]}{})"), Contains("trailing characters"));
  // Missing or mistyped members.
  CHECK_THAT(error_of(R"({"targets": [{}]})"), Contains("each target needs an \"id\""));
  CHECK_THAT(error_of(R"({"targets": [{"port": 80}]})"), Contains("each target needs an \"id\""));
  CHECK_THAT(error_of(R"({"targets": [{"id": 10}]})"), Contains("\"id\" must be a string"));
  CHECK_THAT(error_of(R"({"targets": [{"id": "10.0.0.1", "weight": 2}]})"),
             Contains("unknown key \"weight\" (id, port)"));
  CHECK_THAT(error_of(R"({"targets": [{"id": "10.0.0.1", "id": "10.0.0.2"}]})"),
             Contains("\"id\" is given twice"));
  CHECK_THAT(error_of(R"({"targets": [{"id": "10.0.0.1", "port": 80, "port": 81}]})"),
             Contains("\"port\" is given twice"));
  // Ports: numbers in 1-65535 only.
  for (const char* port : {"0", "65536", "-1", "\"80\"", "8.5", "null", "99999999999"}) {
    INFO(port);
    std::string body = std::string(R"({"targets": [{"id": "10.0.0.1", "port": )") + port + "}]}";
    auto r = json_targets(body);
    CHECK_FALSE(r.ok());
  }
  CHECK_THAT(error_of(R"({"targets": [{"id": "10.0.0.1", "port": 0}]})"),
             Contains("\"port\" must be a number in 1-65535"));
  // More targets than one call may carry (ALB's 1000 targets per group).
  CHECK_THAT(error_of(many_targets(kMaxTargetsPerCall + 1)), Contains("at most 1000 targets"));
}

TEST_CASE("admin targets: change_targets validates every id before changing anything",
          "[proxy][admin_targets]") {
  auto now = std::chrono::steady_clock::now();
  portico::routing::TargetGroup group(group_config("tg"), now);
  REQUIRE(group.describe(now).size() == 1);

  // Ids must be IP addresses: not a host name, a port-suffixed form, an empty id.
  for (const char* id : {"localhost", "10.0.0.2:80", "", "10.0.0.256", "not-an-ip", "::1:80:"}) {
    INFO(id);
    std::string body = std::string(R"({"targets": [{"id": "10.0.0.9"}, {"id": ")") + id + "\"}]}";
    portico::proxy::AdminAnswer a = change_targets(group, body, true, now);
    CHECK(a.status == 400);
    CHECK_THAT(a.body, Contains("is not an IP address"));
    CHECK(group.describe(now).size() == 1);  // 10.0.0.9 was not registered either
  }
  portico::proxy::AdminAnswer bad = change_targets(group, "{", true, now);
  CHECK(bad.status == 400);
  CHECK_THAT(bad.body, Contains("\"status\":\"error\""));

  portico::proxy::AdminAnswer ok = change_targets(
      group, R"({"targets": [{"id": "10.0.0.2"}, {"id": "::1", "port": 9000}]})", true, now);
  CHECK(ok.status == 200);
  CHECK(ok.body == "{\"status\":\"ok\",\"targets\":2}\n");
  std::vector<portico::routing::TargetStatus> all = group.describe(now);
  REQUIRE(all.size() == 3);
  CHECK(all[1].address.to_string() == "10.0.0.2:8080");  // the group's port
  CHECK(all[2].address.to_string() == "[::1]:9000");

  // Deregistering an unknown target is not an error (ELBv2).
  portico::proxy::AdminAnswer gone =
      change_targets(group, R"({"targets": [{"id": "10.9.9.9"}]})", false, now);
  CHECK(gone.status == 200);
}

TEST_CASE("admin targets: per-group metrics with the target response time histogram",
          "[proxy][admin_targets][metrics]") {
  auto now = std::chrono::steady_clock::now();
  portico::config::Model model;
  model.target_groups.push_back(group_config("web"));
  portico::routing::TargetGroupSet set(model, now);

  // Two workers' counters for the same group are summed.
  portico::proxy::WorkerStats w1;
  portico::proxy::WorkerStats w2;
  portico::proxy::TargetGroupStats* a = w1.target_group("web");
  portico::proxy::TargetGroupStats* b = w2.target_group("web");
  a->response_time.observe_us(800);         // <= 1 ms
  a->response_time.observe_us(40'000);      // <= 50 ms
  b->response_time.observe_us(20'000'000);  // <= 30 s
  b->response_time.observe_us(90'000'000);  // +Inf only
  a->target_connection_errors.add(2);
  b->target_connection_errors.add();
  // Stats of a group no longer configured are not listed.
  w2.target_group("gone")->response_time.observe_us(1);

  std::map<std::string, portico::proxy::TargetGroupTotals> totals;
  totals["web"] = {10, 3, 4};
  std::string out;
  portico::proxy::append_target_group_metrics(out, set, totals, now);
  CHECK_THAT(out, Contains("portico_target_group_requests_total{target_group=\"web\"} 10\n"));
  CHECK_THAT(out, Contains("portico_target_group_target_5xx_total{target_group=\"web\"} 3\n"));
  CHECK_THAT(out, Contains("portico_target_group_elb_5xx_total{target_group=\"web\"} 4\n"));
  CHECK_THAT(out, Contains("portico_target_group_healthy_hosts{target_group=\"web\"} "));
  CHECK_THAT(out, Contains("portico_target_group_unhealthy_hosts{target_group=\"web\"} 0\n"));
  CHECK_THAT(out, Contains("portico_target_group_target_connection_errors_total{target_group="
                           "\"web\"} 3\n"));
  CHECK_THAT(out, Contains("# TYPE portico_target_group_target_response_time_seconds histogram"));
  const std::string b_ =
      "portico_target_group_target_response_time_seconds_bucket{target_group="
      "\"web\",le=\"";
  CHECK_THAT(out, Contains(b_ + "0.001\"} 1\n"));
  CHECK_THAT(out, Contains(b_ + "0.025\"} 1\n"));
  CHECK_THAT(out, Contains(b_ + "0.05\"} 2\n"));
  CHECK_THAT(out, Contains(b_ + "10\"} 2\n"));
  CHECK_THAT(out, Contains(b_ + "30\"} 3\n"));
  CHECK_THAT(out, Contains(b_ + "60\"} 3\n"));
  CHECK_THAT(out, Contains(b_ + "+Inf\"} 4\n"));
  CHECK_THAT(out, Contains("portico_target_group_target_response_time_seconds_sum{target_group="
                           "\"web\"} 110.040800\n"));
  CHECK_THAT(out, Contains("portico_target_group_target_response_time_seconds_count{target_group="
                           "\"web\"} 4\n"));
  CHECK_THAT(out, !Contains("\"gone\""));
}
