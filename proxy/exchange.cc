#include "proxy/exchange.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "core/log.h"
#include "proxy/access_log.h"
#include "proxy/connection.h"
#include "proxy/exchange_cache.h"
#include "proxy/exchange_lb.h"
#include "proxy/flush.h"
#include "proxy/response_writer.h"
#include "proxy/server.h"
#include "proxy/worker.h"
#include "routing/router.h"

namespace portico::proxy {
namespace {

constexpr size_t kUpstreamHighWatermark = 256 * 1024;
constexpr size_t kUpstreamLowWatermark = 64 * 1024;
constexpr size_t kMaxResponseHeadBytes = 64 * 1024;
constexpr uint64_t kHoldHeadMaxBody = 64 * 1024;  // see handle_response_head

bool is_idempotent(core::Method m) {
  // RFC 9110 §9.2.2.
  switch (m) {
    case core::Method::Get:
    case core::Method::Head:
    case core::Method::Options:
    case core::Method::Put:
    case core::Method::Delete:
    case core::Method::Trace:
      return true;
    default:
      return false;
  }
}

// Request headers Portico writes itself or must not forward.
bool skip_request_header(std::string_view name) {
  return core::iequals(name, "host") || core::iequals(name, "expect") ||
         core::iequals(name, "content-length") || core::iequals(name, "via") ||
         core::iequals(name, "x-forwarded-for") || core::iequals(name, "x-amz-cf-id") ||
         core::iequals(name, "proxy");  // httpoxy (CVE-2016-5385)
}

}  // namespace

Exchange::Exchange(Downstream& conn, std::unique_ptr<core::RequestHead> request)
    : conn_(conn),
      worker_(conn.worker()),
      snapshot_(worker_.snapshot()),
      req_owner_(std::move(request)),
      req_(*req_owner_),
      rparser_(*this, kMaxResponseHeadBytes, 100) {
  start_ = core::loop_now();
  start_wall_ms_ =
      std::chrono::duration_cast<std::chrono::milliseconds>(core::loop_wall().time_since_epoch())
          .count();
  worker_.ids().next(id_buf_);
}

Exchange::~Exchange() {
  if (lb_) lb_end_request();
  if (cache_) cancel_cache(true);
  if (link_) {
    upstream::close_conn(link_);
  } else if (up_) {
    bufferevent_free(up_);
  }
  write_log();
}

// The access-log record and the distribution counters, once: at detach() or destruction.
void Exchange::write_log() {
  if (logged_) return;
  logged_ = true;
  if (dist_stats_) {
    int cls = status_ / 100;
    dist_stats_->by_status_class[(cls >= 1 && cls <= 5) ? static_cast<size_t>(cls) : 0].add();
    dist_stats_->received_bytes.add(conn_.request_bytes());
    dist_stats_->sent_bytes.add(sent_bytes_);
  }
  AccessLog* log = worker_.server().access_log();
  if (log == nullptr) return;
  auto now = core::loop_now();
  AccessRecord r;
  r.epoch_ms = start_wall_ms_;
  r.edge_location = snapshot_->model->server.pop;
  r.sc_bytes = sent_bytes_;
  r.client_ip = conn_.client_ip();
  r.method = req_.method_token;
  r.cs_host = distribution_ ? std::string_view(distribution_->via_host) : std::string_view();
  r.uri_stem = req_.path;
  r.status = status_;
  r.referer = req_.headers.get_or("referer");
  r.user_agent = req_.headers.get_or("user-agent");
  r.query = req_.query;
  r.cookie = req_.headers.get_or("cookie");
  r.result_type = response_complete_ ? result_type_ : "Error";
  r.request_id = id_;
  r.host_header = req_.authority;
  r.protocol = conn_.secure() ? "https" : "http";
  r.cs_bytes = conn_.request_bytes();
  r.time_taken_s = std::chrono::duration<double>(now - start_).count();
  r.forwarded_for = req_.headers.get_or("x-forwarded-for");
  r.protocol_version = conn_.protocol_version();
  r.client_port = conn_.client_port();
  r.ttfb_s = first_byte_at_.time_since_epoch().count() == 0
                 ? r.time_taken_s
                 : std::chrono::duration<double>(first_byte_at_ - start_).count();
  r.detailed_result_type = response_complete_ ? detailed_result_ : "ClientCommError";
  r.content_type = content_type_;
  r.content_len = content_len_;
  r.range_start = range_start_;
  r.range_end = range_end_;
  log->append(worker_.index(), r);
}

const char* Exchange::phase_name() const {
  switch (phase_) {
    case Phase::Received:
      return "received";
    case Phase::Routed:
      return "routed";
    case Phase::Connecting:
      return "connecting";
    case Phase::Waiting:
      return "waiting";
    case Phase::Streaming:
      return "streaming";
    case Phase::Done:
      return "done";
    case Phase::Failed:
      return "failed";
  }
  return "?";
}

// CloudFront's DefaultRootObject: a request for the root URL ("/", query ignored) gets the object.
void Exchange::apply_default_root_object() {
  if (distribution_ == nullptr || distribution_->default_root_object.empty() || req_.path != "/") {
    return;
  }
  req_.path += distribution_->default_root_object;
}

// custom_error_responses with a response_page_path: serve that page (routed like any request, so
// usually from the cache) with response_code instead of the error. Once per exchange; the error
// itself is then not stored (the page is).
bool Exchange::try_error_page(int status) {
  if (error_page_status_ != 0 || distribution_ == nullptr || response_started_ || detached_) {
    return false;
  }
  const config::CustomErrorResponse* found = nullptr;
  for (const config::CustomErrorResponse& e : distribution_->custom_error_responses) {
    if (e.error_code == status && !e.response_page_path.empty()) found = &e;
  }
  if (found == nullptr) return false;
  error_page_status_ = found->response_code != 0 ? found->response_code : status;
  if (cache_) cancel_cache(true);
  cache_.reset();
  release_upstream(false);
  up_head_.reset();
  rparser_.reset();
  up_complete_ = false;
  up_eof_ = false;
  paused_ = false;
  request_sent_ = false;
  retried_stale_ = false;
  phase_ = Phase::Received;
  if (req_.method != core::Method::Head) {
    req_.method = core::Method::Get;
    req_.method_token = "GET";
  }
  req_.path = found->response_page_path;
  req_.query.clear();
  req_.has_query = false;
  for (std::string_view h : {"range", "if-range", "if-match", "if-none-match", "if-modified-since",
                             "if-unmodified-since"}) {
    req_.headers.remove(h);
  }
  start();
  return true;
}

void Exchange::start() {
  if (!snapshot_->load_balancer_listeners.empty()) {
    auto own = snapshot_->load_balancer_listeners.find(conn_.listener_name());
    if (own != snapshot_->load_balancer_listeners.end()) {
      start_load_balancer(*own->second, true);
      return;
    }
  }
  const routing::Route* route =
      snapshot_->router->decide(conn_.listener_name(), req_.authority, req_.path);
  if (route == nullptr) {
    fail(404, "No distribution is configured for this listener.");
    return;
  }
  distribution_ = route->distribution;
  dist_stats_ = worker_.distribution_stats(distribution_);
  if (error_page_status_ == 0 && req_.path == "/" && !distribution_->default_root_object.empty()) {
    apply_default_root_object();
    route = snapshot_->router->decide(conn_.listener_name(), req_.authority, req_.path);
    if (route == nullptr) {
      fail(404, "No distribution is configured for this listener.");
      return;
    }
  }
  if (!routing::method_allowed(*route->behavior, req_.method)) {
    // CloudFront answers a method outside AllowedMethods with 403 and this sentence.
    fail(403,
         "This distribution is not configured to allow the HTTP request method that was used for "
         "this request. The distribution supports only cachable requests.");
    return;
  }
  if (!conn_.secure() &&
      route->behavior->viewer_protocol_policy != config::ViewerProtocolPolicy::AllowAll) {
    refuse_plain_http(*route->behavior);
    return;
  }
  origin_ = route->origin;
  route_ = route;
  if (origin_ == nullptr) {
    fail(502, "The distribution's cache behavior names an origin that does not exist.");
    return;
  }
  phase_ = Phase::Routed;
  if (origin_->kind == config::OriginKind::Directory) {
    serve_directory();
    return;
  }
  if (origin_->kind == config::OriginKind::LoadBalancer) {
    start_load_balancer(*origin_->load_balancer.ref, false);
    return;
  }
  if (!s3_admit()) return;
  if (start_cached(*route)) return;
  start_upstream();
}

// viewer_protocol_policy for a viewer on plain HTTP (CloudFront Developer Guide, "Require HTTPS
// for communication between viewers and CloudFront"): https-only answers 403; redirect-to-https
// answers GET and HEAD with 301 to the same host and URL over HTTPS and, as CloudFront does,
// DELETE, OPTIONS, PATCH, POST and PUT with 403. The HTTPS port is the distribution's first HTTPS
// listener's (left out when 443).
void Exchange::refuse_plain_http(const config::CacheBehavior& behavior) {
  bool redirect =
      behavior.viewer_protocol_policy == config::ViewerProtocolPolicy::RedirectToHttps &&
      (req_.method == core::Method::Get || req_.method == core::Method::Head);
  if (!redirect) {
    fail(403, "The distribution requires HTTPS for this request.");
    return;
  }
  uint16_t port = 443;
  const config::Model& m = *snapshot_->model;
  for (const config::Listener& l : m.listeners) {
    if (l.protocol != config::ListenerProtocol::Https) continue;
    const auto& names = distribution_->listeners;
    if (!names.empty() && std::find(names.begin(), names.end(), l.name) == names.end()) continue;
    port = l.port != 0 ? l.port : worker_.server().listener_port(l.name);
    break;
  }
  std::string_view host = req_.authority;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);  // IPv6 literal
  } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  std::string location = "https://";
  location += host;
  if (port != 443 && port != 0) location += ":" + std::to_string(port);
  if (!req_.target.empty() && req_.target.front() == '/') {
    location += req_.target;  // as received (default_root_object may have changed path)
  } else {
    location += req_.path;
    if (req_.has_query) location += "?" + req_.query;
  }
  bool keep = begin_local(301, "Redirect");
  std::string head;
  append_status_line(head, 301, "Moved Permanently");
  append_header(head, "Server", "CloudFront");
  append_header(head, "Date", http_date_now());
  append_header(head, "Content-Type", "text/html");
  append_header(head, "Content-Length", "0");
  append_header(head, "Location", location);
  append_via(head, {}, distribution_->via_host);
  append_edge_headers(head, "Redirect from cloudfront");
  finish_local(head, "text/html", {}, keep);
}

bool Exchange::keep_alive_possible() const {
  return req_.keep_alive && !worker_.draining() && conn_.request_body_done();
}

void Exchange::append_edge_headers(std::string& out, std::string_view x_cache) {
  append_header_lines(
      out,
      {{"X-Cache", x_cache}, {"X-Amz-Cf-Pop", snapshot_->model->server.pop}, {"X-Amz-Cf-Id", id_}});
}

bool Exchange::begin_local(int status, const char* result_type) {
  status_ = status;
  result_type_ = result_type;
  detailed_result_ = result_type;
  response_started_ = true;
  first_byte_at_ = core::loop_now();
  return keep_alive_possible();
}

void Exchange::finish_local(std::string& head, std::string_view content_type, std::string_view body,
                            bool keep) {
  if (!keep) {
    append_header(head, "Connection", "close");
  } else if (req_.version_minor == 0) {
    append_header(head, "Connection", "keep-alive");  // HTTP/1.0 persistence (RFC 9112 §9.3)
  }
  head += "\r\n";
  evbuffer* out = conn_.output();
  evbuffer_add(out, head.data(), head.size());
  sent_bytes_ += head.size();
  if (req_.method != core::Method::Head) {
    evbuffer_add(out, body.data(), body.size());
    sent_bytes_ += body.size();
  }
  content_type_ = content_type;  // a literal or the Model's (the snapshot keeps it alive)
  content_len_ = static_cast<int64_t>(body.size());
  complete(keep);
}

void Exchange::complete(bool keep_alive) {
  response_complete_ = true;
  phase_ = Phase::Done;
  conn_.on_response_complete(keep_alive);
}

void Exchange::fail(int status, std::string_view explanation, std::string_view allow) {
  if (lb_ && lb_fail(status)) return;
  if (cache_) {
    if (detached_ || detach_for_revalidation_) {
      // A background fill failed: nobody to answer; free the key for the next request.
      if (filling() || cache_->fill) fill_failed(0, {});
      return;
    }
    if (status >= 500 && !response_started_ && serve_stale_on_error(status)) return;
    if (cache_->fill) fill_failed(0, {});
  }
  if (phase_ == Phase::Failed || phase_ == Phase::Done) return;
  // Error pages replace errors of the origin (and Portico's 502/504 for it), never Portico's own
  // refusals before routing to an origin (method not allowed, HTTPS required): a SPA's
  // 403 -> /index.html rewrite must not turn a refused DELETE into a 200.
  if (origin_ != nullptr && try_error_page(status)) return;
  if (response_started_) {
    // Too late for an error page: the client sees a truncated response (RFC 9112 §9.6 close).
    phase_ = Phase::Failed;
    conn_.close_now();
    return;
  }
  status_ = status;
  result_type_ = "Error";
  detailed_result_ = status == 504 ? "OriginCommError" : "Error";
  response_started_ = true;
  first_byte_at_ = core::loop_now();
  bool keep = keep_alive_possible();
  LocalResponse r;
  r.status = status;
  r.close = !keep;
  r.http10_keep_alive = keep && req_.version_minor == 0;
  r.head_only = req_.method == core::Method::Head;
  r.request_id = id_;
  r.pop = snapshot_->model->server.pop;
  r.via_host = distribution_ ? std::string_view(distribution_->via_host) : std::string_view();
  r.explanation = explanation;
  r.allow = allow;
  evbuffer* out = conn_.output();
  size_t before = evbuffer_get_length(out);
  write_error_response(out, r);
  sent_bytes_ += evbuffer_get_length(out) - before;
  content_type_ = "text/html";
  content_len_ = static_cast<int64_t>(evbuffer_get_length(out) - before);  // head included; close
  if (up_) release_upstream(false);
  complete(keep);
}

void Exchange::fail_before_response(int status) {
  if (up_) release_upstream(false);
  req_.keep_alive = false;
  fail(status, status == 408 ? "The client did not send the request in time." : "Bad request.");
}

void Exchange::cancel() {
  if (fill_in_progress()) {
    // The viewer is gone; the fill goes on (the Connection hands this exchange to the Worker).
    cancel_cache(false);
    return;
  }
  if (cache_) cancel_cache(true);
  if (s3_) s3_->backoff.cancel();
  if (lb_) lb_end_request();
  if (link_) {
    upstream::close_conn(link_);
  } else if (up_) {
    bufferevent_free(up_);
  }
  up_ = nullptr;
  link_ = nullptr;
  if (phase_ != Phase::Done) phase_ = Phase::Failed;
}

// ---- upstream (custom_origin, s3_origin) ----

std::chrono::milliseconds Exchange::read_timeout() const { return target_->read_timeout; }

void Exchange::start_upstream() {
  target_ = snapshot_->target(origin_);
  if (target_ == nullptr) {
    fail(502, "The origin is not reachable.");
    return;
  }
  origin_stats_ = worker_.origin_stats(target_);
  origin_stats_->requests.add();
  attempts_left_ = std::max(1, target_->connection_attempts);
  connect_upstream();
}

void Exchange::connect_upstream() {
  if (lb_) lb_begin_request();
  phase_ = Phase::Connecting;
  up_eof_ = false;
  if (!retried_stale_) {
    link_ = worker_.pool().acquire(target_->pool_key);
    if (link_ != nullptr) {
      up_ = link_->bev;
      link_->on_read = &Exchange::on_up_read;
      link_->owner = this;
      up_reused_ = true;
      bufferevent_setcb(up_, nullptr, &Exchange::on_up_write, &Exchange::on_up_event, this);
      on_upstream_ready();
      return;
    }
  }
  up_reused_ = false;
  up_ = bufferevent_socket_new(worker_.loop().base(), -1, BEV_OPT_CLOSE_ON_FREE);
  bufferevent_disable(up_, EV_WRITE);  // write-first; connect() watches writability itself
  bufferevent_setcb(up_, nullptr, &Exchange::on_up_write, &Exchange::on_up_event, this);
  const timeval* ct = worker_.loop().common_timeout(target_->connection_timeout);
  bufferevent_set_timeouts(up_, ct, ct);
  if (bufferevent_socket_connect(up_, reinterpret_cast<const sockaddr*>(&target_->addr),
                                 static_cast<int>(target_->addr_len)) < 0) {
    on_upstream_failure(BEV_EVENT_ERROR);
  }
}

void Exchange::on_upstream_ready() {
  phase_ = Phase::Waiting;
  if (!up_reused_) {
    int one = 1;
    setsockopt(bufferevent_getfd(up_), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (!up_reused_) {
    // A pooled connection keeps these (its pool key includes the read timeout).
    const timeval* rt = worker_.loop().common_timeout(read_timeout());
    bufferevent_set_timeouts(up_, rt, rt);
    bufferevent_setwatermark(up_, EV_WRITE, kUpstreamLowWatermark, 0);
  }
  rparser_.reset();
  up_head_.reset();
  rparser_.set_request_method(cache_ && cache_->fill ? core::Method::Get : req_.method);
  if (lb_) {
    lb_send_request();
    return;
  }
  if (origin_->kind == config::OriginKind::S3) {
    s3_send_request();
    return;
  }

  // Request head to the origin: origin_path + path (CloudFront prefixes OriginPath), viewer
  // headers minus hop-by-hop ones (RFC 9110 §7.6.1), Host = the origin's domain (CloudFront's
  // default without a Host-forwarding policy), Via and X-Forwarded-For appended, X-Amz-Cf-Id.
  req_.headers.remove_hop_by_hop();
  std::string& head = head_scratch();
  // A cache fill fetches with GET even for a viewer's HEAD, so the body can be stored.
  head += origin_method_token();
  head += ' ';
  head += origin_->custom.origin_path;
  head += req_.path;
  append_forwarded_query(head);
  head += " HTTP/1.1\r\n";
  append_header(head, "Host", target_->host_header);
  std::string_view viewer_via;
  std::string_view viewer_xff;
  for (const core::Header& h : req_.headers) {
    if (skip_request_header(h.name)) {
      if (core::iequals(h.name, "via")) viewer_via = h.value;
      if (core::iequals(h.name, "x-forwarded-for")) viewer_xff = h.value;
      continue;
    }
    if (!forward_header(h.name)) continue;
    bool overridden = false;
    for (const config::OriginCustomHeader& ch : origin_->custom_headers) {
      overridden = overridden || core::iequals(ch.header_name, h.name);
    }
    if (!overridden) append_header(head, h.name, h.value);
  }
  for (const config::OriginCustomHeader& ch : origin_->custom_headers) {
    append_header(head, ch.header_name, ch.header_value);
  }
  append_forwarding(head, viewer_via, viewer_xff);
  append_header(head, "X-Amz-Cf-Id", id_);
  if (cache_) append_fill_request_headers(head);
  send_request_head(head);
}

// Frames and queues the request head built in `head` (without its final CRLF), then streams the
// viewer's body, if any, and starts reading the response.
void Exchange::send_request_head(std::string& head) {
  if (req_.framing == core::BodyFraming::Length) {
    append_header(head, "Content-Length", std::to_string(req_.content_length));
  } else if (req_.framing == core::BodyFraming::Chunked) {
    append_header(head, "Transfer-Encoding", "chunked");
  }
  head += "\r\n";
  // Straight from the scratch string on a pooled connection with nothing queued (a new one is
  // still watching for its connect: queued, written by flush_now below).
  size_t w = send_direct(up_, head, {});
  if (w < head.size()) {
    evbuffer_add(bufferevent_get_output(up_), head.data() + w, head.size() - w);
  }
  upstream_sent_at_ = core::loop_now();
  bool has_body = req_.framing == core::BodyFraming::Chunked ||
                  (req_.framing == core::BodyFraming::Length && req_.content_length > 0);
  if (!has_body) {
    request_sent_ = true;
  } else if (conn_.request_body_done()) {
    // Only possible on a retry, which we never do for requests with a body.
    request_sent_ = true;
  } else {
    conn_.send_continue_if_expected();
    conn_.resume_body();
  }
  if (link_ == nullptr) {
    bufferevent_disable(up_, EV_READ | EV_WRITE);  // it only writes, and only when asked
    link_ = upstream::make_conn(up_);
    link_->on_read = &Exchange::on_up_read;
    link_->owner = this;
  }
  set_up_reading(true);
  flush_now(up_, false);
}

// CloudFront's Via (appended to the viewer's) and X-Forwarded-For (client IP appended).
void Exchange::append_forwarding(std::string& head, std::string_view viewer_via,
                                 std::string_view viewer_xff) {
  append_via(head, viewer_via, distribution_->via_host);
  head += "X-Forwarded-For: ";
  if (!viewer_xff.empty()) {
    head += viewer_xff;
    head += ", ";
  }
  head += conn_.client_ip();
  head += "\r\n";
}

bool Exchange::body_wanted() const {
  if (up_ == nullptr || (phase_ != Phase::Waiting && phase_ != Phase::Streaming)) return false;
  return evbuffer_get_length(bufferevent_get_output(up_)) < kUpstreamHighWatermark;
}

void Exchange::on_request_body(evbuffer* in, size_t n) {
  if (up_ == nullptr) {
    evbuffer_drain(in, n);
    return;
  }
  evbuffer_remove_buffer(in, bufferevent_get_output(up_), n);
  flush_now(up_, false);
  if (!body_wanted()) waiting_body_room_ = true;
}

void Exchange::on_request_chunk(std::string_view data) {
  if (up_ == nullptr || data.empty()) return;
  char size_line[24];
  int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
  evbuffer* out = bufferevent_get_output(up_);
  evbuffer_add(out, size_line, static_cast<size_t>(n));
  evbuffer_add(out, data.data(), data.size());
  evbuffer_add(out, "\r\n", 2);
  flush_now(up_, false);
  if (!body_wanted()) waiting_body_room_ = true;
}

void Exchange::on_request_body_end() {
  if (up_ != nullptr && req_.framing == core::BodyFraming::Chunked) {
    evbuffer_add(bufferevent_get_output(up_), "0\r\n\r\n", 5);
    flush_now(up_, false);
  }
  request_sent_ = true;
}

void Exchange::on_up_write(bufferevent* /*bev*/, void* arg) {
  auto* self = static_cast<Exchange*>(arg);
  write_drained(self->up_);
  if (self->waiting_body_room_ && self->body_wanted()) {
    self->waiting_body_room_ = false;
    self->conn_.resume_body();
  }
}

void Exchange::set_up_reading(bool on) {
  if (link_ == nullptr) return;
  if (on) {
    // Persistent with a timeout: EV_TIMEOUT when no byte arrives for origin_read_timeout.
    upstream::conn_read(link_, worker_.loop().common_timeout(read_timeout()));
  } else {
    upstream::conn_pause(link_);
  }
}

// Reads from the origin ourselves (read_once): no ioctl per read, no bufferevent read callbacks.
void Exchange::on_up_read(void* owner, int fd, short what) {
  auto* self = static_cast<Exchange*>(owner);
  if (what & EV_TIMEOUT) {
    self->on_upstream_failure(BEV_EVENT_READING | BEV_EVENT_TIMEOUT);
    return;
  }
  long n = read_once(self->up_, fd);
  if (n > 0) {
    self->read_upstream();
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  self->set_up_reading(false);
  self->on_upstream_failure(BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR));
}

void Exchange::read_upstream() {
  if (phase_ == Phase::Waiting) {
    if (s3_ && s3_->awaiting_error_body) {
      s3_read_error_body();
      return;
    }
    evbuffer* in = bufferevent_get_input(up_);
    for (;;) {
      size_t len = evbuffer_get_length(in);
      if (len == 0) return;
      size_t want = std::min(len, kMaxResponseHeadBytes + 1);
      const char* p =
          reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ssize_t>(want)));
      size_t n = rparser_.feed(std::string_view(p, want));
      if (rparser_.phase() == http1::ParsePhase::Failed) {
        PORTICO_WARN("origin %s: invalid response: %s", target_->stats_key.c_str(),
                     rparser_.error().detail.c_str());
        release_upstream(false);
        fail(502, "The origin sent an invalid response.");
        return;
      }
      if (n == 0) return;
      evbuffer_drain(in, n);
      if (up_head_) break;  // else an interim 1xx was skipped; keep parsing
    }
    handle_response_head();
    return;
  }
  // A fill goes on whatever the viewer side's phase (it may be Done: HEAD, 304, a range).
  if (filling()) {
    fill_from_upstream();
    return;
  }
  if (phase_ == Phase::Streaming) relay_body();
}

void Exchange::on_head(core::ResponseHead&& head) { up_head_.emplace(std::move(head)); }

void Exchange::on_body(std::string_view data) {
  if (filling()) {
    fill_append(data);
  } else {
    write_down_body(data);
  }
}

void Exchange::on_complete() { up_complete_ = true; }

void Exchange::handle_response_head() {
  if (s3_ && !s3_response_head()) return;
  if (lb_) lb_response_head();
  if (cache_ && cache_->fill) {
    up_keep_alive_ = up_head_->keep_alive;
    up_framing_ = up_head_->framing;
    up_remaining_ = up_head_->content_length;
    origin_stats_->latency.observe_us(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(core::loop_now() - upstream_sent_at_)
            .count()));
    if (fill_response_head()) return;
  }
  if (up_head_->status >= 400 && !lb_ && try_error_page(up_head_->status)) return;
  phase_ = Phase::Streaming;
  response_started_ = true;
  first_byte_at_ = core::loop_now();
  origin_stats_->latency.observe_us(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(first_byte_at_ - upstream_sent_at_)
          .count()));
  core::ResponseHead& h = *up_head_;
  status_ = h.status;
  // RFC 9111 §4.4: invalidate on receiving the non-error status, before the viewer sees any of
  // the response; done once the whole body was relayed, a viewer's next request (on another
  // connection, perhaps another worker) could still hit the old entry.
  invalidate_after_unsafe();
  up_keep_alive_ = h.keep_alive;
  up_framing_ = h.framing;
  up_remaining_ = h.content_length;
  if (const std::string* ct = h.headers.get("content-type")) content_type_ = *ct;  // h lives on
  bool http10_client = req_.version_minor == 0;
  down_chunked_ = false;
  bool delimited_by_close = false;
  if (up_framing_ == core::BodyFraming::Chunked || up_framing_ == core::BodyFraming::UntilClose) {
    if (http10_client) {
      delimited_by_close = true;
    } else {
      down_chunked_ = true;
    }
  }
  down_keep_alive_ = keep_alive_possible() && !delimited_by_close;
  if (http10_client && up_framing_ == core::BodyFraming::None && status_ != 304 &&
      req_.method != core::Method::Head) {
    down_keep_alive_ = down_keep_alive_ && h.status != 204;
  }
  result_type_ = status_ >= 400 ? "Error" : "Miss";
  detailed_result_ = result_type_;

  std::string view_via;
  if (const std::string* v = h.headers.get("via")) view_via = *v;
  h.headers.remove_hop_by_hop();
  bool keep_length = up_framing_ == core::BodyFraming::Length ||
                     (up_framing_ == core::BodyFraming::None &&
                      (req_.method == core::Method::Head || status_ == 304));
  std::string& head = head_scratch();
  if (error_page_status_ != 0 && status_ == 200) {
    status_ = error_page_status_;
    append_status_line(head, status_, {});
  } else {
    append_status_line(head, status_, h.reason);
  }
  bool strip_cookies = strips_set_cookie();
  for (const core::Header& f : h.headers) {
    if (core::iequals(f.name, "content-length")) continue;
    if (core::iequals(f.name, "via")) continue;
    if (strip_cookies && core::iequals(f.name, "set-cookie")) continue;
    append_header(head, f.name, f.value);
  }
  if (up_framing_ == core::BodyFraming::Length) {
    append_header(head, "Content-Length", std::to_string(up_remaining_));
    content_len_ = static_cast<int64_t>(up_remaining_);
  } else if (keep_length) {
    if (const std::string* cl = h.headers.get("content-length")) {
      append_header(head, "Content-Length", *cl);
    }
  } else if (up_framing_ == core::BodyFraming::None && status_ != 204 && status_ >= 200) {
    // An empty body (the origin sent Content-Length: 0): say so, or a keep-alive viewer would
    // wait for a body until the connection closes (RFC 9112 §6.3).
    append_header(head, "Content-Length", "0");
    content_len_ = 0;
  } else if (down_chunked_) {
    append_header(head, "Transfer-Encoding", "chunked");
  }
  if (lb_) head += lb_->set_cookies;
  if (distribution_ != nullptr) {
    append_via(head, view_via, distribution_->via_host);
    append_edge_headers(head, status_ >= 400 ? "Error from cloudfront" : "Miss from cloudfront");
  } else if (!view_via.empty()) {
    append_header(head, "Via", view_via);
  }
  if (!down_keep_alive_) {
    append_header(head, "Connection", "close");
  } else if (http10_client) {
    append_header(head, "Connection", "keep-alive");
  }
  head += "\r\n";
  sent_bytes_ += head.size();
  size_t head_left = head.size();
  if (up_framing_ == core::BodyFraming::Length) {
    // Zero-copy write-first: the head and the body bytes already read (in the upstream buffer's
    // first chain, where the head parse left them) go out in one sendmsg; the rest is relayed
    // through the client's buffer as usual.
    evbuffer* in = bufferevent_get_input(up_);
    evbuffer_iovec v{};
    size_t body_now = 0;
    if (evbuffer_peek(in, -1, nullptr, &v, 1) >= 1) {
      body_now = static_cast<size_t>(std::min<uint64_t>(v.iov_len, up_remaining_));
    }
    // A head whose body has not arrived yet (origins often write the head and the body with
    // two calls: nginx's writev then sendfile) waits for the first body bytes instead of going
    // out alone, as nginx's postpone_output does: one segment and one wake-up of the viewer
    // instead of two. Only for bodies small enough to follow at once.
    head_held_ = body_now == 0 && up_remaining_ <= kHoldHeadMaxBody;
    size_t w = head_held_
                   ? 0
                   : conn_.send_direct(
                         head, std::string_view(static_cast<const char*>(v.iov_base), body_now));
    if (w >= head.size()) {
      head_left = 0;
      size_t body_sent = w - head.size();
      if (body_sent > 0) {
        evbuffer_drain(in, body_sent);
        up_remaining_ -= body_sent;
        sent_bytes_ += body_sent;
        if (up_remaining_ == 0) up_complete_ = true;
      }
    } else {
      head_left = head.size() - w;
    }
  }
  if (head_left > 0) {
    evbuffer_add(conn_.output(), head.data() + (head.size() - head_left), head_left);
  }
  if (up_framing_ == core::BodyFraming::None ||
      (up_framing_ == core::BodyFraming::Length && up_remaining_ == 0)) {
    finish_response();
    return;
  }
  relay_body();
}

void Exchange::write_down_body(std::string_view data) {
  if (data.empty()) return;
  evbuffer* out = conn_.output();
  if (down_chunked_) {
    char size_line[24];
    int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
    evbuffer_add(out, size_line, static_cast<size_t>(n));
    evbuffer_add(out, data.data(), data.size());
    evbuffer_add(out, "\r\n", 2);
    sent_bytes_ += static_cast<size_t>(n) + data.size() + 2;
  } else {
    evbuffer_add(out, data.data(), data.size());
    sent_bytes_ += data.size();
  }
}

// Moves response body bytes to the client until the client's buffer is over its watermark (then
// upstream reading pauses; on_downstream_drained resumes it) or the body ends.
void Exchange::relay_body() {
  if (phase_ != Phase::Streaming || up_ == nullptr) return;
  evbuffer* in = bufferevent_get_input(up_);
  evbuffer* out = conn_.output();
  while (!up_complete_) {
    if (conn_.output_full()) {
      conn_.flush();
    }
    if (conn_.output_full()) {
      if (!paused_) {
        paused_ = true;
        set_up_reading(false);
      }
      return;
    }
    size_t len = evbuffer_get_length(in);
    if (len == 0) break;
    if (up_framing_ == core::BodyFraming::Length) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(len, up_remaining_));
      int moved = evbuffer_remove_buffer(in, out, n);
      if (moved <= 0) break;
      head_held_ = false;
      up_remaining_ -= static_cast<uint64_t>(moved);
      sent_bytes_ += static_cast<uint64_t>(moved);
      if (up_remaining_ == 0) up_complete_ = true;
    } else if (up_framing_ == core::BodyFraming::UntilClose) {
      if (down_chunked_) {
        char size_line[24];
        int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", len);
        evbuffer_add(out, size_line, static_cast<size_t>(n));
        evbuffer_remove_buffer(in, out, len);
        evbuffer_add(out, "\r\n", 2);
        sent_bytes_ += static_cast<size_t>(n) + len + 2;
      } else {
        evbuffer_remove_buffer(in, out, len);
        sent_bytes_ += len;
      }
    } else {  // Chunked
      evbuffer_iovec vec{};
      if (evbuffer_peek(in, -1, nullptr, &vec, 1) < 1) break;
      size_t n =
          rparser_.feed(std::string_view(static_cast<const char*>(vec.iov_base), vec.iov_len));
      if (rparser_.phase() == http1::ParsePhase::Failed) {
        PORTICO_WARN("origin %s: invalid chunked body: %s", target_->stats_key.c_str(),
                     rparser_.error().detail.c_str());
        release_upstream(false);
        fail(502, "The origin sent an invalid response.");
        return;
      }
      evbuffer_drain(in, n);
      if (n == 0 && !up_complete_) break;
    }
  }
  if (up_complete_) {
    finish_response();
    return;
  }
  if (!head_held_) conn_.flush();
  if (up_eof_ && evbuffer_get_length(in) == 0) {
    if (up_framing_ == core::BodyFraming::UntilClose) {
      up_complete_ = true;
      finish_response();
    } else {
      PORTICO_WARN("origin %s: connection closed mid-body", target_->stats_key.c_str());
      release_upstream(false);
      fail(502, "The origin closed the connection.");
    }
  }
}

void Exchange::on_downstream_drained() {
  if (cache_) deliver_body();
  if (phase_ == Phase::Streaming && paused_ && up_ != nullptr) {
    paused_ = false;
    if (!up_eof_) set_up_reading(true);
    relay_body();
  }
}

void Exchange::finish_response() {
  if (down_chunked_) {
    evbuffer_add(conn_.output(), "0\r\n\r\n", 5);
    sent_bytes_ += 5;
  }
  bool reusable = !up_eof_ && up_framing_ != core::BodyFraming::UntilClose && request_sent_ &&
                  rparser_.phase() != http1::ParsePhase::Failed && up_ != nullptr &&
                  evbuffer_get_length(bufferevent_get_input(up_)) == 0 && up_keep_alive_;
  release_upstream(reusable);
  complete(down_keep_alive_ && keep_alive_possible());
}

void Exchange::release_upstream(bool reusable) {
  if (lb_) lb_end_request();
  if (up_ == nullptr) return;
  if (reusable && link_ != nullptr) {
    worker_.pool().release(target_->pool_key, link_, target_->keepalive_timeout);
  } else if (link_ != nullptr) {
    upstream::close_conn(link_);
  } else {
    bufferevent_free(up_);
  }
  up_ = nullptr;
  link_ = nullptr;
}

void Exchange::on_up_event(bufferevent* /*bev*/, short what, void* arg) {
  auto* self = static_cast<Exchange*>(arg);
  if (what & BEV_EVENT_CONNECTED) {
    self->on_upstream_ready();
    return;
  }
  self->on_upstream_failure(what);
}

void Exchange::on_upstream_failure(short what) {
  bool timeout = (what & BEV_EVENT_TIMEOUT) != 0;
  if (filling()) {
    if ((what & BEV_EVENT_EOF) && !timeout) {
      up_eof_ = true;
      fill_from_upstream();
      return;
    }
    PORTICO_WARN("origin %s: %s while filling the cache", target_->stats_key.c_str(),
                 timeout ? "read timeout" : "connection error");
    fill_failed(0, {});
    return;
  }
  switch (phase_) {
    case Phase::Connecting: {
      origin_stats_->connect_failures.add();
      release_upstream(false);
      if (lb_) {
        lb_connect_failed(timeout);
        return;
      }
      if (--attempts_left_ > 0) {
        origin_stats_->retries.add();
        connect_upstream();
        return;
      }
      PORTICO_WARN("origin %s: %s", target_->stats_key.c_str(),
                   timeout ? "connection timed out" : "connection failed");
      // CloudFront: 504 when the origin does not answer within the connection timeout, 502 when
      // it refuses the connection.
      fail(timeout ? 504 : 502,
           timeout ? "CloudFront attempted to establish a connection with the origin, but the "
                     "attempt timed out."
                   : "CloudFront wasn't able to connect to the origin.");
      return;
    }
    case Phase::Waiting: {
      bool has_body = req_.framing != core::BodyFraming::None;
      release_upstream(false);
      if (timeout) {
        origin_stats_->timeouts.add();
        // CloudFront retries GET and HEAD after the origin read timeout, within connection
        // attempts (CloudFront docs, "Response timeout").
        if ((req_.method == core::Method::Get || req_.method == core::Method::Head) && !has_body &&
            --attempts_left_ > 0) {
          origin_stats_->retries.add();
          connect_upstream();
          return;
        }
        PORTICO_WARN("origin %s: response timed out", target_->stats_key.c_str());
        fail(504, "The origin did not respond within the origin read timeout.");
        return;
      }
      // A pooled connection the origin had closed: replay once on a fresh one when safe.
      if (up_reused_ && !retried_stale_ && is_idempotent(req_.method) && !has_body) {
        retried_stale_ = true;
        origin_stats_->retries.add();
        connect_upstream();
        return;
      }
      PORTICO_WARN("origin %s: connection closed before a response", target_->stats_key.c_str());
      fail(502, "The origin closed the connection before responding.");
      return;
    }
    case Phase::Streaming: {
      if ((what & BEV_EVENT_EOF) && !timeout) {
        up_eof_ = true;
        relay_body();
        return;
      }
      PORTICO_WARN("origin %s: %s while streaming the response", target_->stats_key.c_str(),
                   timeout ? "read timeout" : "connection error");
      release_upstream(false);
      fail(502, "The origin connection failed.");
      return;
    }
    default:
      release_upstream(false);
      return;
  }
}

}  // namespace portico::proxy
