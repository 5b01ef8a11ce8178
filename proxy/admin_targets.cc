#include "proxy/admin_targets.h"

#include <array>
#include <cstdio>
#include <map>

#include "proxy/response_writer.h"
#include "routing/health.h"

namespace portico::proxy {

AdminAnswer change_targets(routing::TargetGroup& group, std::string_view body, bool register_them,
                           routing::TargetGroup::TimePoint now) {
  core::Result<std::vector<TargetSpec>> specs = json_targets(body);
  if (!specs.ok()) {
    return {400,
            "{\"status\":\"error\",\"message\":\"" + json_escape(specs.error().detail) + "\"}\n"};
  }
  // Validate every address first, so a bad entry changes nothing (ELBv2 rejects the call).
  std::vector<routing::TargetAddress> addresses;
  for (const TargetSpec& t : *specs) {
    std::optional<routing::IpAddress> ip = routing::IpAddress::parse(t.id);
    if (!ip) {
      return {400, "{\"status\":\"error\",\"message\":\"InvalidTarget: " + json_escape(t.id) +
                       " is not an IP address\"}\n"};
    }
    addresses.push_back(routing::TargetAddress{*ip, t.port.value_or(group.config().port)});
  }
  for (const routing::TargetAddress& a : addresses) {
    core::Status st =
        register_them ? group.register_target(a, now) : group.deregister_target(a, now);
    // Deregistering a target that is not registered is not an error for ELBv2 either.
    if (!st.ok() && register_them) {
      return {400,
              "{\"status\":\"error\",\"message\":\"" + json_escape(st.error().detail) + "\"}\n"};
    }
  }
  return {200, "{\"status\":\"ok\",\"targets\":" + std::to_string(addresses.size()) + "}\n"};
}

std::string describe_json(routing::TargetGroup& group, routing::TargetGroup::TimePoint now) {
  group.expire_draining(now);
  std::string out = "{\"target_group\":\"" + json_escape(group.name()) + "\",\"targets\":[";
  bool first = true;
  for (const routing::TargetStatus& t : group.describe(now)) {
    if (!first) out += ',';
    first = false;
    out += "{\"id\":\"" + t.address.ip.to_string() +
           "\",\"port\":" + std::to_string(t.address.port) + ",\"state\":\"" +
           std::string(routing::target_state_name(t.state)) + "\",\"reason\":\"" +
           std::string(routing::target_reason_code(t.reason)) + "\",\"description\":\"" +
           std::string(routing::target_reason_description(t.reason)) +
           "\",\"suspect\":" + (t.suspect ? "true" : "false") +
           ",\"outstanding\":" + std::to_string(t.outstanding) + "}";
  }
  out += "]}\n";
  return out;
}

void append_target_group_metrics(std::string& out, const routing::TargetGroupSet& set,
                                 const std::map<std::string, TargetGroupTotals>& totals,
                                 routing::TargetGroup::TimePoint now) {
  auto family = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto sample = [&](const char* name, const std::string& group, uint64_t v) {
    out += std::string(name) + "{target_group=\"" + group + "\"} " + std::to_string(v) + "\n";
  };
  family("portico_target_group_healthy_hosts", "gauge", "Healthy targets (ALB HealthyHostCount).");
  for (const auto& g : set.all())
    sample("portico_target_group_healthy_hosts", g->name(), g->counts(now).healthy);
  family("portico_target_group_unhealthy_hosts", "gauge",
         "Unhealthy targets (ALB UnHealthyHostCount).");
  for (const auto& g : set.all())
    sample("portico_target_group_unhealthy_hosts", g->name(), g->counts(now).unhealthy);
  auto total = [&](const std::string& name) {
    auto it = totals.find(name);
    return it == totals.end() ? TargetGroupTotals{} : it->second;
  };
  family("portico_target_group_requests_total", "counter", "Requests routed to the target group.");
  for (const auto& g : set.all()) {
    sample("portico_target_group_requests_total", g->name(), total(g->name()).requests);
  }
  family("portico_target_group_target_5xx_total", "counter",
         "5xx responses from targets (ALB HTTPCode_Target_5XX_Count).");
  for (const auto& g : set.all()) {
    sample("portico_target_group_target_5xx_total", g->name(), total(g->name()).target_5xx);
  }
  family("portico_target_group_elb_5xx_total", "counter",
         "5xx responses the load balancer made itself (ALB HTTPCode_ELB_5XX_Count).");
  for (const auto& g : set.all()) {
    sample("portico_target_group_elb_5xx_total", g->name(), total(g->name()).elb_5xx);
  }

  // The rest is summed here from every worker's TargetGroupStats (the caller's totals predate it).
  struct Extra {
    uint64_t connection_errors = 0;
    std::array<uint64_t, kTargetResponseBuckets.size() + 1> buckets{};
    uint64_t count = 0;
    uint64_t sum_us = 0;
  };
  std::map<std::string, Extra, std::less<>> extra;
  for (const auto& g : set.all()) extra[g->name()];
  for_each_target_group_stats([&](const TargetGroupStats& st) {
    auto it = extra.find(st.name);
    if (it == extra.end()) return;  // a group gone with a reload
    Extra& e = it->second;
    e.connection_errors += st.target_connection_errors.get();
    for (size_t i = 0; i < e.buckets.size(); ++i) e.buckets[i] += st.response_time.buckets[i].get();
    e.count += st.response_time.count.get();
    e.sum_us += st.response_time.sum_us.get();
  });
  family("portico_target_group_target_connection_errors_total", "counter",
         "Connections to targets that were not established (ALB TargetConnectionErrorCount).");
  for (const auto& g : set.all()) {
    sample("portico_target_group_target_connection_errors_total", g->name(),
           extra[g->name()].connection_errors);
  }
  family("portico_target_group_target_response_time_seconds", "histogram",
         "From the request sent to a target to its response head (ALB TargetResponseTime).");
  char num[32];
  for (const auto& g : set.all()) {
    const Extra& e = extra[g->name()];
    const std::string label = "{target_group=\"" + g->name() + "\",le=\"";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kTargetResponseBuckets.size(); ++i) {
      cumulative += e.buckets[i];
      std::snprintf(num, sizeof num, "%g", kTargetResponseBuckets[i]);
      out += "portico_target_group_target_response_time_seconds_bucket" + label + num + "\"} " +
             std::to_string(cumulative) + "\n";
    }
    cumulative += e.buckets[kTargetResponseBuckets.size()];
    out += "portico_target_group_target_response_time_seconds_bucket" + label + "+Inf\"} " +
           std::to_string(cumulative) + "\n";
    std::snprintf(num, sizeof num, "%.6f", static_cast<double>(e.sum_us) / 1e6);
    out += "portico_target_group_target_response_time_seconds_sum{target_group=\"" + g->name() +
           "\"} " + num + "\n";
    sample("portico_target_group_target_response_time_seconds_count", g->name(), e.count);
  }
}

}  // namespace portico::proxy
