// Exchange's s3_origin path: the same connection, pool, timeout and cache machinery as a
// custom_origin, with the request S3 needs (GET/HEAD only, path or virtual-hosted addressing,
// signed with SigV4 right before it is serialized, as CloudFront's Origin Access Control does)
// and S3's error semantics: a 4xx/5xx is classified from its small XML body (origin/s3_errors.h)
// before anything reaches the viewer; NoSuchKey follows `missing_object`; 5xx and SlowDown are
// retried with jittered exponential backoff on the worker's loop; every other error (signature,
// clock, credentials, AccessDenied) goes to the viewer as S3 sent it. Portico's log names the
// problem; no secret, signature or canonical request is ever logged.
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>

#include "core/log.h"
#include "origin/s3_errors.h"
#include "origin/sigv4.h"
#include "proxy/connection.h"
#include "proxy/exchange.h"
#include "proxy/exchange_cache.h"
#include "proxy/http1/parser.h"
#include "proxy/response_writer.h"
#include "proxy/worker.h"

namespace portico::proxy {
namespace {

// Every '%' starts a two-hex-digit escape (what origin::percent_decode accepts), checked without
// allocating: this runs for every request on an S3 behavior, cache hits included.
bool valid_percent_encoding(std::string_view s) {
  auto hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  for (size_t i = s.find('%'); i != std::string_view::npos; i = s.find('%', i + 3)) {
    if (i + 2 >= s.size() || !hex(s[i + 1]) || !hex(s[i + 2])) return false;
  }
  return true;
}

// S3 error bodies are a few hundred bytes; more than this is not worth waiting for.
constexpr size_t kMaxErrorBody = 16 * 1024;
// Raw chunked bytes looked at for kMaxErrorBody decoded ones (chunk framing is small).
constexpr size_t kMaxErrorBodyRaw = 2 * kMaxErrorBody;
// Retries of a 5xx / SlowDown answer (GET and HEAD, the only methods sent to S3), after a delay
// drawn in [cap/2, cap] with cap = kBackoffBase * 2^(retry-1): 25-50 ms, then 50-100 ms.
constexpr int kMaxRetries = 2;
constexpr int64_t kBackoffBaseMs = 50;

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && core::iequals(s.substr(0, prefix.size()), prefix);
}

// Viewer fields never sent to S3: those Portico writes itself, Authorization (the origin request
// carries our signature, never the viewer's), Cookie (S3 ignores cookies) and every x-amz-*
// field (each one S3 sees must be signed by us, and a viewer must not choose any of them).
bool s3_drops(std::string_view name) {
  return core::iequals(name, "host") || core::iequals(name, "expect") ||
         core::iequals(name, "content-length") || core::iequals(name, "via") ||
         core::iequals(name, "x-forwarded-for") || core::iequals(name, "proxy") ||
         core::iequals(name, "authorization") || core::iequals(name, "cookie") ||
         starts_with_ci(name, "x-amz-");
}

// Range and the preconditions: CloudFront forwards them to the origin ("HTTP request headers and
// CloudFront behavior"), whatever the policies select, for requests it does not fill itself.
bool s3_conditional(std::string_view name) {
  return core::iequals(name, "range") || core::iequals(name, "if-range") ||
         core::iequals(name, "if-match") || core::iequals(name, "if-none-match") ||
         core::iequals(name, "if-modified-since") || core::iequals(name, "if-unmodified-since");
}

// Decodes the chunked body at the front of `raw` without consuming it, with the same strict
// decoder the relay uses (a ResponseParser fed a synthetic head), keeping kMaxErrorBody bytes.
class ChunkPeek final : public http1::ResponseEvents {
 public:
  explicit ChunkPeek(std::string_view raw) {
    static constexpr std::string_view kHead =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    http1::ResponseParser parser(*this);
    if (parser.feed(kHead) != kHead.size()) return;
    consumed = parser.feed(raw);
    failed = parser.phase() == http1::ParsePhase::Failed;
  }
  void on_head(core::ResponseHead&& /*head*/) override {}
  void on_body(std::string_view data) override {
    text.append(data.substr(0, kMaxErrorBody - std::min(kMaxErrorBody, text.size())));
  }
  void on_complete() override { complete = true; }

  std::string text;
  size_t consumed = 0;
  bool complete = false;
  bool failed = false;
};

// An error response's body as far as classifying it needs.
struct ErrorBody {
  bool ready = false;
  std::string text;                // decoded, at most kMaxErrorBody bytes
  size_t raw = std::string::npos;  // raw length of the whole body when it is all buffered
};

ErrorBody peek_error_body(evbuffer* in, const core::ResponseHead& h) {
  ErrorBody b;
  size_t len = evbuffer_get_length(in);
  auto view = [&](size_t n) {
    const char* p = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ssize_t>(n)));
    return std::string_view(p, n);
  };
  switch (h.framing) {
    case core::BodyFraming::None:
      b.ready = true;
      b.raw = 0;
      return b;
    case core::BodyFraming::Length: {
      size_t want = static_cast<size_t>(std::min<uint64_t>(h.content_length, kMaxErrorBody));
      if (len < want) return b;
      b.ready = true;
      b.text = view(want);
      if (h.content_length <= kMaxErrorBody) b.raw = want;
      return b;
    }
    case core::BodyFraming::Chunked: {
      size_t n = std::min(len, kMaxErrorBodyRaw);
      ChunkPeek peek(view(n));
      if (peek.failed || peek.complete || n == kMaxErrorBodyRaw ||
          peek.text.size() >= kMaxErrorBody) {
        b.ready = true;
        b.text = std::move(peek.text);
        if (peek.complete) b.raw = peek.consumed;
      }
      return b;
    }
    case core::BodyFraming::UntilClose:
      b.ready = true;
      b.text = view(std::min(len, kMaxErrorBody));
      return b;
  }
  return b;
}

// The two methods sent to S3, for log lines.
const char* o_method(core::Method m) { return m == core::Method::Head ? "HEAD" : "GET"; }

int64_t epoch_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// After routing, for every origin kind: resets the S3 state, or refuses what S3 behind
// CloudFront would refuse.
bool Exchange::s3_admit() {
  if (origin_->kind != config::OriginKind::S3) {
    s3_.reset();
    return true;
  }
  if (req_.method != core::Method::Get && req_.method != core::Method::Head) {
    // Only reads reach the bucket: with OAC, S3 refuses writes its bucket policy does not grant
    // to CloudFront's service principal, which Portico never asks for.
    s3_access_denied();
    return false;
  }
  bool has_body = req_.framing == core::BodyFraming::Chunked ||
                  (req_.framing == core::BodyFraming::Length && req_.content_length > 0);
  if (has_body) {
    // CloudFront: "If a viewer GET request includes a body, CloudFront returns an HTTP status
    // code 403 (Forbidden) to the viewer."
    fail(403, "The request included a body, which requests to this origin may not have.");
    return false;
  }
  if (!valid_percent_encoding(req_.path)) {
    fail(400, "The request path is not valid percent-encoding.");
    return false;
  }
  // S3State (with its timer) is made on the first request to S3: a cache hit never needs it.
  if (s3_) {
    s3_->backoff.cancel();
    s3_->retries = 0;
    s3_->decided = false;
    s3_->awaiting_error_body = false;
  }
  return true;
}

// 403 with S3's AccessDenied XML, as S3 answers a request the bucket policy does not allow (and
// what CloudFront then shows); custom_error_responses apply as to any 403 from the origin.
void Exchange::s3_access_denied() {
  if (try_error_page(403)) return;
  bool keep = begin_local(403, "Error");
  std::string_view body = origin::kAccessDeniedBody;
  std::string& head = head_scratch();
  append_status_line(head, 403, {});
  append_header(head, "Content-Type", "application/xml");
  append_header(head, "Content-Length", std::to_string(body.size()));
  append_header(head, "Date", http_date_now());
  append_header(head, "Server", "AmazonS3");
  append_via(head, {}, distribution_->via_host);
  append_edge_headers(head, "Error from cloudfront");
  finish_local(head, "application/xml", body, keep);
}

// The S3 request on a ready connection: built as a RequestHead, signed, then serialized.
void Exchange::s3_send_request() {
  const S3Access& s3 = *target_->s3;
  if (!s3_) s3_ = std::make_unique<S3State>(worker_.loop(), *this);
  S3State& st = *s3_;
  st.decided = false;
  st.awaiting_error_body = false;
  // A cache fill fetches the whole object with GET, even for a viewer's HEAD.
  bool fill = cache_ && cache_->fill;
  core::RequestHead& o = st.request;
  o.method = fill ? core::Method::Get : req_.method;
  o.method_token = core::method_name(o.method);
  st.sent = o.method;
  o.path = s3.path_prefix;
  o.path += req_.path;
  // Query strings only as the policies select them; legacy mode (no cache policy) sends none,
  // CloudFront's legacy default (QueryString: false).
  o.query.clear();
  if (cache_ && req_.has_query) cache_->rules.query(req_.query, o.query);
  o.has_query = !o.query.empty();
  o.headers.clear();
  o.headers.add("Host", target_->host_header);

  req_.headers.remove_hop_by_hop();
  std::string_view viewer_via;
  std::string_view viewer_xff;
  for (const core::Header& h : req_.headers) {
    if (core::iequals(h.name, "via")) viewer_via = h.value;
    if (core::iequals(h.name, "x-forwarded-for")) viewer_xff = h.value;
    if (s3_drops(h.name)) continue;
    if (s3_conditional(h.name) ? fill : !forward_header(h.name)) continue;
    bool overridden = false;
    for (const config::OriginCustomHeader& ch : origin_->custom_headers) {
      overridden = overridden || core::iequals(ch.header_name, h.name);
    }
    if (!overridden) o.headers.add(h.name, h.value);
  }
  for (const config::OriginCustomHeader& ch : origin_->custom_headers) {
    o.headers.add(ch.header_name, ch.header_value);
  }
  o.headers.add("X-Amz-Cf-Id", id_);  // an x-amz-* field: S3 wants it signed
  if (cache_) {
    // The fill's fields (revalidation validators, normalized Accept-Encoding) as the cache path
    // writes them, "Name: value\r\n" lines; S3 ignores cookies, so Cookie is left out.
    std::string extra;
    append_fill_request_headers(extra);
    std::string_view rest = extra;
    while (!rest.empty()) {
      size_t eol = rest.find("\r\n");
      std::string_view line = rest.substr(0, eol);
      rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 2);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view name = line.substr(0, colon);
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (!core::iequals(name, "cookie")) o.headers.add(name, value);
    }
  }

  core::Status signed_ok;
  if (s3.sign) {
    signed_ok = worker_.s3_signer(*snapshot_, target_).sign(o, epoch_seconds());
  } else {
    // Unsigned: the same canonical path and query a signed request would carry.
    core::Result<std::string> uri = origin::canonical_uri(o.path, origin::PathRules::S3);
    core::Result<std::string> query = origin::canonical_query(o.query);
    if (!uri.ok()) {
      signed_ok = uri.error();
    } else if (!query.ok()) {
      signed_ok = query.error();
    } else {
      o.path = std::move(uri.value());
      o.query = std::move(query.value());
      o.has_query = !o.query.empty();
      o.target = o.has_query ? o.path + "?" + o.query : o.path;
    }
  }
  if (!signed_ok.ok()) {
    // Only a malformed escape in the forwarded query gets here (the path was checked on
    // admission); the detail names the problem, never a credential.
    PORTICO_INFO("origin %s: cannot build the S3 request: %s", target_->stats_key.c_str(),
                 signed_ok.error().detail.c_str());
    release_upstream(false);
    fail(400, "The request query string is not valid percent-encoding.");
    return;
  }

  std::string& head = head_scratch();
  head += o.method_token;
  head += ' ';
  head += o.target;
  head += " HTTP/1.1\r\n";
  for (const core::Header& h : o.headers) append_header(head, h.name, h.value);
  // Added after signing, as a proxy would: S3 does not need them signed.
  append_forwarding(head, viewer_via, viewer_xff);
  send_request_head(head);
}

// S3's response head, before the custom-origin path sees it. Returns false when this function
// took the response over: waiting for the error body, retrying, or answered with an error.
bool Exchange::s3_response_head() {
  S3State& st = *s3_;
  if (st.decided) return true;
  core::ResponseHead& h = *up_head_;
  bool redirect = h.status == 301 || h.status == 307;
  if (h.status < 400 && !redirect) {
    st.decided = true;
    return true;
  }
  evbuffer* in = bufferevent_get_input(up_);
  ErrorBody body = peek_error_body(in, h);
  if (!body.ready) {
    st.awaiting_error_body = true;  // read_upstream() calls s3_read_error_body() with more bytes
    return false;
  }
  st.awaiting_error_body = false;
  st.decided = true;
  const S3Access& s3 = *target_->s3;
  origin::S3ErrorInfo info = origin::classify_s3_error(h.status, body.text, s3.region);
  if (redirect) {
    // S3's PermanentRedirect / TemporaryRedirect: the bucket is elsewhere. Passed on as sent.
    PORTICO_WARN("origin %s: %s %.200s: %s (is the region or endpoint right?)",
                 target_->stats_key.c_str(), o_method(st.sent), req_.path.c_str(),
                 info.explanation.c_str());
    return true;
  }
  origin::ViewerErrorMapping m = origin::map_s3_error(info, s3.missing);
  core::LogLevel level = core::LogLevel::Info;
  switch (info.kind) {
    case origin::S3ErrorKind::SignatureDoesNotMatch:
    case origin::S3ErrorKind::RequestTimeTooSkewed:
    case origin::S3ErrorKind::InvalidAccessKeyId:
    case origin::S3ErrorKind::AuthorizationHeaderMalformed:
    case origin::S3ErrorKind::NoSuchBucket:
    case origin::S3ErrorKind::SlowDown:
    case origin::S3ErrorKind::InternalError:
      level = core::LogLevel::Warn;
      break;
    case origin::S3ErrorKind::NoSuchKey:
      level = core::LogLevel::Debug;
      break;
    case origin::S3ErrorKind::AccessDenied:
    case origin::S3ErrorKind::Other:
      break;
  }
  PORTICO_LOG(level, "origin %s: %s %.200s: %s", target_->stats_key.c_str(), o_method(st.sent),
              req_.path.c_str(), info.explanation.c_str());

  if (m.retry) {
    release_upstream(false);
    if (st.retries < kMaxRetries) {
      ++st.retries;
      origin_stats_->retries.add();
      int64_t cap = kBackoffBaseMs << (st.retries - 1);
      int64_t delay = cap / 2 + static_cast<int64_t>(worker_.ids().next_u64() %
                                                     static_cast<uint64_t>(cap / 2 + 1));
      up_head_.reset();
      phase_ = Phase::Connecting;
      st.backoff.arm(std::chrono::milliseconds(delay));
      return false;
    }
    fail(m.status, m.status == 503
                       ? "The origin (S3) is throttling requests (SlowDown) and retries were "
                         "exhausted."
                       : "The origin (S3) returned a server error and retries were exhausted.");
    return false;
  }
  if (m.replace_body) {
    // NoSuchKey shown as S3 shows it to a caller without s3:ListBucket: 403 AccessDenied.
    std::string_view denied = origin::kAccessDeniedBody;
    h.status = 403;
    h.reason = "Forbidden";
    h.headers.remove("content-length");
    h.headers.remove("transfer-encoding");
    h.headers.set("Content-Type", "application/xml");
    if (body.raw == std::string::npos) {
      h.keep_alive = false;  // the rest of S3's body is still on its way: close after
      evbuffer_drain(in, evbuffer_get_length(in));
    } else {
      evbuffer_drain(in, body.raw);
    }
    if (st.sent == core::Method::Head) {
      h.framing = core::BodyFraming::None;
      h.content_length = 0;
      h.headers.set("Content-Length", std::to_string(denied.size()));
    } else {
      h.framing = core::BodyFraming::Length;
      h.content_length = denied.size();
      evbuffer_prepend(in, denied.data(), denied.size());
    }
  }
  return true;
}

// More bytes of an error body arrived (phase Waiting, head already parsed).
void Exchange::s3_read_error_body() { handle_response_head(); }

// The backoff delay after a 5xx / SlowDown is over: send the request again on a connection
// from the pool or a new one, with the origin's connection attempts.
void Exchange::s3_retry_now() {
  if (phase_ != Phase::Connecting || up_ != nullptr) return;
  attempts_left_ = std::max(1, target_->connection_attempts);
  up_complete_ = false;
  up_eof_ = false;
  request_sent_ = false;
  connect_upstream();
}

}  // namespace portico::proxy
