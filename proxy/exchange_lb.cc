// The Application Load Balancer path of an Exchange: listener rules, forward (target group and
// target choice, stickiness, ALB's request headers), redirect and fixed responses, and ALB's own
// error answers (503 no target, 502 connection refused or invalid response, 504 timeout). The
// connection to the chosen target is the custom origin's (exchange.cc), with ALB's timeouts and
// without CloudFront's connection retries: ALB does not retry a request on another target.
#include "proxy/exchange_lb.h"

#include <event2/buffer.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <random>

#include "core/log.h"
#include "proxy/connection.h"
#include "proxy/exchange.h"
#include "proxy/exchange_cache.h"
#include "proxy/response_writer.h"
#include "proxy/worker.h"
#include "routing/balancer.h"
#include "routing/stickiness.h"

namespace portico::proxy {
namespace {

// One generator per worker thread for weighted choices and trace ids.
routing::FastRandom& rng() {
  thread_local routing::FastRandom r((static_cast<uint64_t>(std::random_device{}()) << 32) ^
                                     std::random_device{}());
  return r;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void append_hex(std::string& out, uint64_t v, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) out += kHex[(v >> (4 * i)) & 0xf];
}

bool all_hex(std::string_view s) {
  for (char c : s) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

// "1-{8 hex epoch seconds}-{24 hex random}" (ALB's trace id format).
void append_trace_id(std::string& out) {
  out += "1-";
  append_hex(out, static_cast<uint64_t>(unix_now()) & 0xffffffffULL, 8);
  out += '-';
  append_hex(out, rng().next(), 16);
  append_hex(out, rng().next() >> 32, 8);
}

// An X-Amzn-Trace-Id is kept when one of its ';'-separated fields is Root=1-<8 hex>-<24 hex>.
bool valid_trace_header(std::string_view v) {
  while (!v.empty()) {
    size_t semi = v.find(';');
    std::string_view field = v.substr(0, semi);
    while (!field.empty() && field.front() == ' ') field.remove_prefix(1);
    while (!field.empty() && field.back() == ' ') field.remove_suffix(1);
    if (field.size() == 5 + 35 && field.substr(0, 7) == "Root=1-" && field[15] == '-' &&
        all_hex(field.substr(7, 8)) && all_hex(field.substr(16, 24))) {
      return true;
    }
    if (semi == std::string_view::npos) break;
    v.remove_prefix(semi + 1);
  }
  return false;
}

// Viewer headers the load balancer replaces or must not forward.
bool skip_to_target(std::string_view name) {
  return core::iequals(name, "host") || core::iequals(name, "expect") ||
         core::iequals(name, "content-length") || core::iequals(name, "x-forwarded-for") ||
         core::iequals(name, "x-forwarded-proto") || core::iequals(name, "x-forwarded-port") ||
         core::iequals(name, "x-amzn-trace-id") || core::iequals(name, "via") ||
         core::iequals(name, "x-amz-cf-id") || core::iequals(name, "proxy");
}

// ALB's generated pages: "<html><head><title>503 Service Temporarily Unavailable</title>...".
std::string_view alb_reason(int status) {
  switch (status) {
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Temporarily Unavailable";
    case 504:
      return "Gateway Time-out";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    default:
      return core::reason_phrase(status);
  }
}

std::string alb_page(int status) {
  std::string title = std::to_string(status) + " " + std::string(alb_reason(status));
  return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
         "</h1></center>\r\n</body>\r\n</html>\r\n";
}

void append_set_cookies(std::string& out, std::string_view name, std::string_view cors_name,
                        std::string_view value, int64_t expires) {
  std::string field;
  routing::format_set_cookie(field, name, value, expires, false);
  append_header(out, "Set-Cookie", field);
  routing::format_set_cookie(field, cors_name, value, expires, true);
  append_header(out, "Set-Cookie", field);
}

void to_sockaddr(const routing::TargetAddress& a, OriginTarget& t) {
  std::memset(&t.addr, 0, sizeof t.addr);
  if (a.ip.family == routing::IpAddress::Family::V4) {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&t.addr);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(a.port);
    std::memcpy(&in4->sin_addr, a.ip.bytes.data(), 4);
    t.addr_len = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&t.addr);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a.port);
    std::memcpy(&in6->sin6_addr, a.ip.bytes.data(), 16);
    t.addr_len = sizeof(sockaddr_in6);
  }
}

}  // namespace

void Exchange::start_load_balancer(const config::LoadBalancer& lb, bool own_listener) {
  lb_ = std::make_unique<LbState>();
  lb_->entry = snapshot_->load_balancer(&lb);
  lb_->own_listener = own_listener;
  lb_->port = conn_.local_port();
  phase_ = Phase::Routed;
  if (lb_->entry == nullptr) {
    fail(503, {});
    return;
  }
  routing::RuleRequest rr;
  rr.head = &req_;
  rr.source_ip = routing::IpAddress::parse(conn_.client_ip()).value_or(routing::IpAddress{});
  rr.port = lb_->port;
  routing::RuleMatch m = lb_->entry->rules->evaluate(rr);
  switch (m.action->type) {
    case config::RuleActionType::Redirect: {
      std::string location;
      routing::redirect_location(m.action->redirect, rr, location);
      int status = m.action->redirect.status_code;
      lb_respond(status, "text/html", alb_page(status), location);
      return;
    }
    case config::RuleActionType::FixedResponse: {
      const config::FixedResponseAction& f = m.action->fixed_response;
      lb_respond(f.status_code, f.content_type, f.message_body, {});
      return;
    }
    case config::RuleActionType::Forward:
      lb_forward(*m.forward);
      return;
  }
}

void Exchange::lb_forward(const routing::ForwardPlan& plan) {
  auto now = std::chrono::steady_clock::now();
  int64_t now_unix = unix_now();
  const routing::StickyCodec& codec = *snapshot_->sticky;
  const config::ForwardAction& fa = *plan.action;
  uint32_t total = 0;
  for (const routing::WeightedTargetGroup& g : plan.groups) total += g.weight;
  if (plan.groups.empty() || total == 0) {
    fail(503, {});
    return;
  }
  size_t chosen = 0;
  if (plan.groups.size() > 1) {
    std::optional<uint64_t> sticky_group;
    if (fa.stickiness_enabled) {
      if (auto c = routing::find_cookie(req_.headers, routing::kTargetGroupCookieName)) {
        sticky_group = codec.decode(*c, now_unix);
      }
    }
    chosen = routing::pick_target_group(plan.groups, rng().next(), sticky_group);
    if (fa.stickiness_enabled) {
      int64_t expires =
          now_unix +
          std::chrono::duration_cast<std::chrono::seconds>(fa.stickiness_duration).count();
      routing::StickyCodec::Value v = codec.encode(plan.groups[chosen].identity, expires);
      append_set_cookies(lb_->set_cookies, routing::kTargetGroupCookieName,
                         routing::kTargetGroupCorsCookieName, std::string_view(v.data(), v.size()),
                         expires);
    }
  }
  lb_->group = snapshot_->target_groups->find(plan.groups[chosen].group->name);
  if (!lb_->group) {
    fail(503, {});
    return;
  }
  lb_->stats = worker_.stats().target_group(lb_->group->name());
  lb_->stats->requests.add();
  const config::TargetGroupStickiness& st = lb_->group->config().stickiness;
  bool lb_cookie = st.enabled && st.type == config::StickinessType::LbCookie;
  routing::PickRequest pr;
  pr.now = now;
  pr.random = rng().next();
  if (lb_cookie) {
    if (auto c = routing::find_cookie(req_.headers, routing::kLbCookieName)) {
      pr.sticky_identity = codec.decode(*c, now_unix);
    }
  }
  routing::PickResult pick = routing::pick_target(*lb_->group, pr);
  routing::TargetAddress address;
  if (!pick.target.valid() || !lb_->group->address(pick.target, address)) {
    // ALB: 503 when the target group has no registered targets.
    fail(503, {});
    return;
  }
  lb_->target = pick.target;
  if (lb_cookie) {
    // ALB re-issues AWSALB (and AWSALBCORS) on every response of a sticky target group.
    int64_t expires =
        now_unix + std::chrono::duration_cast<std::chrono::seconds>(st.duration).count();
    routing::StickyCodec::Value v = codec.encode(pick.identity, expires);
    append_set_cookies(lb_->set_cookies, routing::kLbCookieName, routing::kLbCorsCookieName,
                       std::string_view(v.data(), v.size()), expires);
  }
  const OriginTarget* shared =
      lb_->own_listener ? &lb_->entry->upstream : snapshot_->target(origin_);
  if (shared == nullptr) shared = &lb_->entry->upstream;
  lb_->upstream = *shared;
  to_sockaddr(address, lb_->upstream);
  lb_->upstream.pool_key = address.to_string();
  target_ = &lb_->upstream;
  origin_stats_ = worker_.origin_stats(shared);
  origin_stats_->requests.add();
  attempts_left_ = 1;
  connect_upstream();
}

void Exchange::lb_begin_request() {
  if (lb_->in_flight || !lb_->group || !lb_->target.valid()) return;
  lb_->group->begin_request(lb_->target);
  lb_->in_flight = true;
}

void Exchange::lb_end_request() {
  if (!lb_->in_flight) return;
  lb_->in_flight = false;
  lb_->group->end_request(lb_->target);
}

void Exchange::lb_connect_failed(bool timeout) {
  lb_->group->report_connect_failure(lb_->target, std::chrono::steady_clock::now());
  PORTICO_WARN("target group %s: target %s: %s", lb_->group->name().c_str(),
               lb_->upstream.pool_key.c_str(),
               timeout ? "connection timed out" : "connection failed");
  // ALB: 504 when the connection is not established within 10 s, 502 when the target refuses it.
  fail(timeout ? 504 : 502, {});
}

void Exchange::lb_response_head() {
  if (up_head_->status >= 500) {
    lb_->stats->target_5xx.add();
    lb_->group->report_5xx(lb_->target, std::chrono::steady_clock::now());
  } else {
    lb_->group->report_success(lb_->target);
  }
}

// Request head to the target as ALB sends it: the viewer's method, path, query and Host, its
// headers minus hop-by-hop ones, X-Forwarded-For (append), X-Forwarded-Proto, X-Forwarded-Port
// and X-Amzn-Trace-Id. Through a distribution, CloudFront's Via and X-Amz-Cf-Id come too.
void Exchange::lb_send_request() {
  req_.headers.remove_hop_by_hop();
  std::string& head = head_scratch();
  head += req_.method_token;
  head += ' ';
  head += req_.path;
  if (req_.has_query) {
    head += '?';
    head += req_.query;
  }
  head += " HTTP/1.1\r\n";
  append_header(head, "Host", req_.authority.empty() ? lb_->upstream.pool_key : req_.authority);
  std::string_view viewer_via;
  std::string_view viewer_xff;
  std::string_view trace;
  const bool custom = !lb_->own_listener && origin_ != nullptr;
  for (const core::Header& h : req_.headers) {
    if (skip_to_target(h.name)) {
      if (core::iequals(h.name, "via")) viewer_via = h.value;
      if (core::iequals(h.name, "x-forwarded-for")) viewer_xff = h.value;
      if (core::iequals(h.name, "x-amzn-trace-id")) trace = h.value;
      if (lb_->own_listener && core::iequals(h.name, "via")) append_header(head, h.name, h.value);
      continue;
    }
    bool overridden = false;
    if (custom) {
      for (const config::OriginCustomHeader& ch : origin_->custom_headers) {
        overridden = overridden || core::iequals(ch.header_name, h.name);
      }
    }
    if (!overridden) append_header(head, h.name, h.value);
  }
  if (custom) {
    for (const config::OriginCustomHeader& ch : origin_->custom_headers) {
      append_header(head, ch.header_name, ch.header_value);
    }
    append_via(head, viewer_via, distribution_->via_host);
    append_header(head, "X-Amz-Cf-Id", id_);
  }
  head += "X-Forwarded-For: ";
  if (!viewer_xff.empty()) {
    head += viewer_xff;
    head += ", ";
  }
  head += conn_.client_ip();
  head += "\r\n";
  append_header(head, "X-Forwarded-Proto", "http");
  append_header(head, "X-Forwarded-Port", std::to_string(lb_->port));
  head += "X-Amzn-Trace-Id: ";
  if (valid_trace_header(trace)) {
    head += "Self=";
    append_trace_id(head);
    head += ';';
    head += trace;
  } else {
    head += "Root=";
    append_trace_id(head);
  }
  head += "\r\n";
  send_request_head(head);
}

bool Exchange::lb_fail(int status) {
  if (response_started_ || phase_ == Phase::Done || phase_ == Phase::Failed) return false;
  if (lb_->stats != nullptr && status >= 500) lb_->stats->elb_5xx.add();
  release_upstream(false);
  lb_respond(status, "text/html", alb_page(status), {});
  return true;
}

// A response the load balancer itself makes (fixed response, redirect, error): ALB's Server
// header; through a distribution, CloudFront's Via and X-Cache/X-Amz-Cf-* as well.
void Exchange::lb_respond(int status, std::string_view content_type, std::string_view body,
                          std::string_view location) {
  bool keep = begin_local(
      status, status >= 400 ? "Error" : (status >= 300 && status < 400 ? "Redirect" : "Miss"));
  std::string& head = head_scratch();
  append_status_line(head, status, alb_reason(status));
  append_header(head, "Server", "awselb/2.0");
  append_header(head, "Date", http_date_now());
  if (!content_type.empty()) append_header(head, "Content-Type", content_type);
  append_header(head, "Content-Length", std::to_string(body.size()));
  if (!location.empty()) append_header(head, "Location", location);
  head += lb_->set_cookies;
  if (!lb_->own_listener && distribution_ != nullptr) {
    append_via(head, {}, distribution_->via_host);
    append_edge_headers(head, status >= 400 ? "Error from cloudfront" : "Miss from cloudfront");
  }
  finish_local(head, content_type, body, keep);
}

}  // namespace portico::proxy
