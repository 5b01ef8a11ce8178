// The Application Load Balancer path of an Exchange: listener rules, forward (target group and
// target choice, lb_cookie and app_cookie stickiness, ALB's request headers with its
// X-Forwarded-For processing modes), redirect and fixed responses, and ALB's own error answers
// (463 too many X-Forwarded-For addresses, 503 no target, 502 connection refused or invalid
// response, 504 timeout) with an error reason for the access log. The
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

// ALB answers 463 when it "received an X-Forwarded-For request header with more than 30 IP
// addresses" (ALB User Guide, "Troubleshoot your Application Load Balancers", HTTP 463).
constexpr size_t kMaxXffAddresses = 30;

// One generator per worker thread for weighted choices and trace ids.
routing::FastRandom& rng() {
  thread_local routing::FastRandom r((static_cast<uint64_t>(std::random_device{}()) << 32) ^
                                     std::random_device{}());
  return r;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(core::loop_wall().time_since_epoch())
      .count();
}

void append_hex(std::string& out, uint64_t v, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[16];
  for (int i = digits - 1; i >= 0; --i, v >>= 4) buf[i] = kHex[v & 0xf];
  out.append(buf, static_cast<size_t>(digits));
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

// The addresses in every X-Forwarded-For field of `headers`: non-empty comma-separated items.
size_t count_xff_addresses(const core::Headers& headers) {
  size_t n = 0;
  for (const core::Header& h : headers) {
    if (!core::iequals(h.name, "x-forwarded-for")) continue;
    bool item = false;
    for (char c : h.value) {
      if (c == ',') {
        n += item ? 1 : 0;
        item = false;
      } else if (c != ' ' && c != '\t') {
        item = true;
      }
    }
    n += item ? 1 : 0;
  }
  return n;
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
    case 463:
      return "";  // not an HTTP status; ALB's page and status line carry no reason phrase
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    default:
      return core::reason_phrase(status);
  }
}

std::string alb_page(int status) {
  std::string title = std::to_string(status);
  if (std::string_view reason = alb_reason(status); !reason.empty()) {
    title += ' ';
    title += reason;
  }
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

// AWSALBAPP-0 naming the target, valid for 7 days whatever the stickiness duration (ALB); the
// stickiness duration is the expiry sealed inside the value. AWSALBAPP-1..3 carry "_remove_".
// "SameSite=None; Secure" only for Chromium 80 or later, as ALB does.
void append_app_cookies(std::string& out, const routing::StickyCodec& codec, uint64_t identity,
                        int64_t now_unix, std::chrono::milliseconds duration, bool cors) {
  routing::StickyCodec::Value v = codec.encode(
      identity, now_unix + std::chrono::duration_cast<std::chrono::seconds>(duration).count());
  int64_t expires = now_unix + routing::kAppCookieLifetimeSeconds;
  std::string field;
  for (int i = 0; i < routing::kAppCookieShards; ++i) {
    routing::format_set_cookie(
        field, routing::kAppCookieNames[i],
        i == 0 ? std::string_view(v.data(), v.size()) : routing::kAppCookieUnused, expires, cors);
    append_header(out, "Set-Cookie", field);
  }
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
  lb_->config = &lb;
  lb_->entry = snapshot_->load_balancer(&lb);
  lb_->own_listener = own_listener;
  lb_->port = conn_.local_port();
  phase_ = Phase::Routed;
  if (lb_->entry == nullptr) {
    fail(503, {});
    return;
  }
  // Checked on what the load balancer received, before any rule and in every processing mode.
  if (count_xff_addresses(req_.headers) > kMaxXffAddresses) {
    lb_->error_reason = kReasonXffTooManyAddresses;
    lb_respond(463, "text/html", alb_page(463), {});
    return;
  }
  routing::RuleRequest rr;
  rr.head = &req_;
  rr.source_ip = routing::IpAddress::parse(conn_.client_ip()).value_or(routing::IpAddress{});
  rr.port = lb_->port;
  rr.https = lb_->own_listener && conn_.secure();
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
  auto now = core::loop_now();
  int64_t now_unix = unix_now();
  const routing::StickyCodec& codec = *snapshot_->sticky;
  const config::ForwardAction& fa = *plan.action;
  uint32_t total = 0;
  for (const routing::WeightedTargetGroup& g : plan.groups) total += g.weight;
  if (plan.groups.empty() || total == 0) {
    lb_->error_reason = kReasonNoRegisteredTargets;
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
    lb_->error_reason = kReasonNoRegisteredTargets;
    fail(503, {});
    return;
  }
  lb_->stats = worker_.stats().target_group(lb_->group->name());
  lb_->stats->requests.add();
  const config::TargetGroupStickiness& st = lb_->group->config().stickiness;
  bool lb_cookie = st.enabled && st.type == config::StickinessType::LbCookie;
  lb_->app_cookie = st.enabled && st.type == config::StickinessType::AppCookie;
  routing::PickRequest pr;
  pr.now = now;
  pr.random = rng().next();
  if (lb_cookie) {
    if (auto c = routing::find_cookie(req_.headers, routing::kLbCookieName)) {
      pr.sticky_identity = codec.decode(*c, now_unix);
    }
  } else if (lb_->app_cookie && routing::find_cookie(req_.headers, st.cookie_name)) {
    // "In subsequent requests, clients have to send back both cookies to maintain stickiness":
    // without the application cookie (the application ended or expired its session) the request
    // is balanced afresh. The duration check is the expiry sealed in AWSALBAPP-0.
    if (auto c = routing::find_cookie(req_.headers, routing::kAppCookieNames[0])) {
      pr.sticky_identity = codec.decode(*c, now_unix);
      lb_->app_session = pr.sticky_identity.has_value();
    }
  }
  routing::PickResult pick = routing::pick_target(*lb_->group, pr);
  routing::TargetAddress address;
  if (!pick.target.valid() || !lb_->group->address(pick.target, address)) {
    // ALB: 503 when the target group has no registered targets.
    lb_->error_reason = kReasonNoRegisteredTargets;
    fail(503, {});
    return;
  }
  lb_->target = pick.target;
  lb_->identity = pick.identity;
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
  lb_->group->report_connect_failure(lb_->target, core::loop_now());
  lb_->stats->target_connection_errors.add();
  lb_->error_reason = timeout ? kReasonTargetConnectionTimeout : kReasonTargetConnectionError;
  PORTICO_WARN("target group %s: target %s: %s", lb_->group->name().c_str(),
               lb_->upstream.pool_key.c_str(),
               timeout ? "connection timed out" : "connection failed");
  // ALB: 504 when the connection is not established within 10 s, 502 when the target refuses it.
  fail(timeout ? 504 : 502, {});
}

void Exchange::lb_response_head() {
  auto now = core::loop_now();
  lb_->stats->response_time.observe_us(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(now - upstream_sent_at_).count()));
  if (up_head_->status >= 500) {
    lb_->stats->target_5xx.add();
    lb_->group->report_5xx(lb_->target, now);
  } else {
    lb_->group->report_success(lb_->target);
  }
  // app_cookie stickiness: "When the Application Load Balancer receives the custom application
  // cookie from the target, it automatically generates a new encrypted cookie called AWSALBAPP",
  // and "in subsequent responses, the expiry of the AWSALBAPP cookie and the duration configured
  // on the load balancer are reset" (for a session that moved, naming its new target).
  if (lb_->app_cookie &&
      (lb_->app_session || routing::response_sets_cookie(
                               up_head_->headers, lb_->group->config().stickiness.cookie_name))) {
    append_app_cookies(lb_->set_cookies, *snapshot_->sticky, lb_->identity, unix_now(),
                       lb_->group->config().stickiness.duration,
                       routing::chromium_80_or_later(req_.headers.get_or("user-agent")));
  }
}

// Request head to the target as ALB sends it: the viewer's method, path, query and Host, its
// headers minus hop-by-hop ones, X-Forwarded-For (per the load balancer's processing mode),
// X-Forwarded-Proto, X-Forwarded-Port and X-Amzn-Trace-Id. Through a distribution, CloudFront's
// Via and X-Amz-Cf-Id come too.
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
  std::string_view trace;
  bool has_xff = false;
  const bool custom = !lb_->own_listener && origin_ != nullptr;
  for (const core::Header& h : req_.headers) {
    if (skip_to_target(h.name)) {
      if (core::iequals(h.name, "via")) viewer_via = h.value;
      if (core::iequals(h.name, "x-forwarded-for")) has_xff = true;
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
  // routing.http.xff_header_processing.mode (ALB User Guide, "HTTP headers and Application Load
  // Balancers"): append (default) adds the client's address to what the request carried (one
  // field, the viewer's fields joined in order), and with routing.http.xff_client_port.enabled
  // its port as well ("ip:port", "[ipv6]:port"); preserve sends the viewer's fields unchanged
  // (none if there were none); remove drops them.
  const config::LoadBalancerAttributes& attributes = lb_->config->attributes;
  switch (attributes.xff_header_processing_mode) {
    case config::XffHeaderProcessingMode::Append: {
      head += "X-Forwarded-For: ";
      for (const core::Header& h : req_.headers) {
        if (!core::iequals(h.name, "x-forwarded-for") || h.value.empty()) continue;
        head += h.value;
        head += ", ";
      }
      const std::string& ip = conn_.client_ip();
      if (!attributes.xff_client_port) {
        head += ip;
      } else {
        bool v6 = ip.find(':') != std::string::npos;
        if (v6) head += '[';
        head += ip;
        if (v6) head += ']';
        head += ':';
        head += std::to_string(conn_.client_port());
      }
      head += "\r\n";
      break;
    }
    case config::XffHeaderProcessingMode::Preserve:
      if (has_xff) {
        for (const core::Header& h : req_.headers) {
          if (core::iequals(h.name, "x-forwarded-for")) append_header(head, h.name, h.value);
        }
      }
      break;
    case config::XffHeaderProcessingMode::Remove:
      break;
  }
  // The protocol of the connection the load balancer took the request on: through a
  // distribution that is CloudFront's HTTP hop, not the viewer's connection.
  append_header(head, "X-Forwarded-Proto", lb_->own_listener && conn_.secure() ? "https" : "http");
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
  // Failures the shared upstream code reports without saying why: a connection to the target
  // exists (failed connects set their own reason in lb_connect_failed), so a 504 is the response
  // timeout and a 502 a closed connection or an invalid response (ALB's 502/504 causes).
  if (lb_->error_reason == nullptr && lb_->target.valid()) {
    if (status == 504) lb_->error_reason = kReasonTargetResponseTimeout;
    if (status == 502) lb_->error_reason = kReasonTargetResponseError;
  }
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
  // CloudFront's x-edge-detailed-result-type holds "the specific type of error" when the result
  // type is Error; for the load balancer's own errors that is its reason (ALB's error_reason).
  if (lb_->error_reason != nullptr) detailed_result_ = lb_->error_reason;
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
