#include "proxy/http2/stream.h"

#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>
#include <vector>

#include "core/log.h"
#include "proxy/exchange.h"
#include "proxy/http2/session.h"
#include "proxy/response_writer.h"
#include "proxy/worker.h"

namespace portico::proxy::http2 {
namespace {

constexpr size_t kOutputHighWatermark = 256 * 1024;
constexpr size_t kOutputLowWatermark = 64 * 1024;
constexpr size_t kMaxResponseHeadBytes = 64 * 1024;

// Connection-specific fields must not appear in HTTP/2 (RFC 9113 §8.2.2).
bool connection_specific(std::string_view name) {
  return core::iequals(name, "connection") || core::iequals(name, "keep-alive") ||
         core::iequals(name, "proxy-connection") || core::iequals(name, "transfer-encoding") ||
         core::iequals(name, "upgrade");
}

// Collects the one head the request parser yields.
struct HeadCatcher final : http1::RequestEvents {
  std::optional<core::RequestHead> head;
  void on_head(core::RequestHead&& h) override { head = std::move(h); }
  void on_body(std::string_view /*data*/) override {}
  void on_complete() override {}
};

}  // namespace

Stream::Stream(Session& session, int32_t id)
    : session_(session),
      id_(id),
      body_in_(evbuffer_new()),
      out_(evbuffer_new()),
      data_(evbuffer_new()),
      rparser_(*this, kMaxResponseHeadBytes, 100) {}

Stream::~Stream() {
  retire_exchange();
  evbuffer_free(body_in_);
  evbuffer_free(out_);
  evbuffer_free(data_);
}

Worker& Stream::worker() { return session_.worker(); }
const std::string& Stream::listener_name() const { return session_.listener_name(); }
const std::string& Stream::client_ip() const { return session_.client_ip(); }
uint16_t Stream::client_port() const { return session_.client_port(); }
uint16_t Stream::local_port() const { return session_.local_port(); }
bool Stream::secure() const { return session_.secure(); }

// ---- request ----

bool Stream::add_field(std::string_view name, std::string_view value) {
  // RFC 9113 §6.5.2: a field's size is its name and value plus 32.
  field_bytes_ += name.size() + value.size() + 32;
  const config::Server& cfg = worker().snapshot()->model->server;
  if (field_bytes_ > cfg.max_header_bytes) return false;
  if (!name.empty() && name[0] == ':') {
    // nghttp2 has checked the pseudo-header set (RFC 9113 §8.3.1).
    if (name == ":method") method_ = value;
    if (name == ":path") path_ = value;
    if (name == ":authority") authority_ = value;
    return true;
  }
  if (name == "cookie") {
    // RFC 9113 §8.2.3: cookie crumbs are joined with "; " for HTTP/1.1.
    if (!cookie_.empty()) cookie_ += "; ";
    cookie_ += value;
    return true;
  }
  if (name == "te") return true;  // only "trailers" is allowed; meaningless past this hop
  if (name == "host" && !authority_.empty()) return true;
  if (name == "content-length") has_content_length_ = true;
  if (name == "expect") expect_continue_ = core::iequals(value, "100-continue");
  fields_.append(name).append(": ").append(value).append("\r\n");
  return true;
}

void Stream::on_request_head(bool end_stream) {
  std::string head;
  head.reserve(method_.size() + path_.size() + authority_.size() + fields_.size() + cookie_.size() +
               64);
  head.append(method_).append(" ").append(path_).append(" HTTP/1.1\r\n");
  if (!authority_.empty()) head.append("Host: ").append(authority_).append("\r\n");
  head += fields_;
  if (!cookie_.empty()) head.append("Cookie: ").append(cookie_).append("\r\n");
  // A body without Content-Length is delimited by END_STREAM: present it as chunked.
  if (!end_stream && !has_content_length_) head += "Transfer-Encoding: chunked\r\n";
  head += "\r\n";
  request_bytes_ = head.size();
  fields_.clear();
  fields_.shrink_to_fit();
  cookie_.clear();

  const config::Server& cfg = worker().snapshot()->model->server;
  http1::Limits limits;
  limits.max_request_line_bytes = cfg.max_request_line_bytes;
  limits.max_header_bytes = cfg.max_header_bytes + 64;  // room for the synthesized lines
  limits.max_header_count = cfg.max_header_count + 2;
  limits.max_body_bytes = cfg.max_body_bytes;
  HeadCatcher catcher;
  http1::RequestParser parser(limits, catcher);
  size_t n = parser.feed(head);
  if (parser.phase() == http1::ParsePhase::Failed || n == 0 || !catcher.head) {
    worker().stats().parse_errors.add();
    int status = parser.phase() == http1::ParsePhase::Failed ? parser.error().status : 400;
    respond_error(status != 0 ? status : 400);
    return;
  }
  core::RequestHead req = std::move(*catcher.head);
  req.keep_alive = true;
  body_done_ = true;
  if (req.framing == core::BodyFraming::Length && req.content_length > 0) {
    body_done_ = false;
  } else if (req.framing == core::BodyFraming::Chunked) {
    body_done_ = false;
    chunked_in_ = true;
  }
  if (end_stream) body_done_ = true;
  rparser_.set_request_method(req.method);
  exchange_ = std::make_unique<Exchange>(*this, std::move(req));
  exchange_->start();
}

void Stream::on_request_data(const uint8_t* data, size_t len) {
  request_bytes_ += len;
  if (!exchange_ || body_done_) {
    session_.consume(id_, len);  // nobody wants it: keep the windows open
    return;
  }
  evbuffer_add(body_in_, data, len);
  feed_body();
}

void Stream::on_request_end() {
  if (body_done_) return;
  body_end_pending_ = true;
  feed_body();
}

// Hands buffered request body bytes to the exchange while it takes them; the flow-control
// windows reopen only for bytes it took (RFC 9113 §5.2 backpressure).
void Stream::feed_body() {
  while (exchange_ && !body_done_ && evbuffer_get_length(body_in_) > 0 &&
         exchange_->body_wanted()) {
    size_t len = evbuffer_get_length(body_in_);
    if (!chunked_in_) {
      exchange_->on_request_body(body_in_, len);
      session_.consume(id_, len - evbuffer_get_length(body_in_));
      continue;
    }
    evbuffer_iovec vec{};
    if (evbuffer_peek(body_in_, -1, nullptr, &vec, 1) < 1) break;
    exchange_->on_request_chunk(
        std::string_view(static_cast<const char*>(vec.iov_base), vec.iov_len));
    evbuffer_drain(body_in_, vec.iov_len);
    session_.consume(id_, vec.iov_len);
  }
  if (exchange_ && body_end_pending_ && !body_done_ && evbuffer_get_length(body_in_) == 0) {
    body_done_ = true;
    exchange_->on_request_body_end();
  }
}

// A request that never reached an Exchange (the head failed to parse): a CloudFront-style error.
void Stream::respond_error(int status) {
  std::string id;
  worker().ids().next(id);
  LocalResponse r;
  r.status = status;
  r.request_id = id;
  r.pop = worker().snapshot()->model->server.pop;
  r.head_only = method_ == "HEAD";
  write_error_response(out_, r);
  if (r.head_only) rparser_.set_request_method(core::Method::Head);
  response_done_ = true;
  session_.mark_dirty(id_);
}

// ---- response ----

void Stream::on_head(core::ResponseHead&& head) { head_ = std::move(head); }

void Stream::on_body(std::string_view data) { evbuffer_add(data_, data.data(), data.size()); }

void Stream::on_complete() { body_complete_ = true; }

// Turns the exchange's HTTP/1.1 bytes into a submitted response and DATA-ready body bytes.
void Stream::pump_output() {
  while (!submitted_) {
    size_t len = evbuffer_get_length(out_);
    if (len == 0) return;
    size_t want = std::min(len, kMaxResponseHeadBytes + 16);
    const char* p =
        reinterpret_cast<const char*>(evbuffer_pullup(out_, static_cast<ssize_t>(want)));
    size_t n = rparser_.feed(std::string_view(p, want));
    if (rparser_.phase() == http1::ParsePhase::Failed) {
      PORTICO_WARN("http2 stream %d: unparsable response: %s", id_,
                   rparser_.error().detail.c_str());
      reset(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    if (n == 0) return;  // head incomplete
    evbuffer_drain(out_, n);
    if (!head_) continue;  // skipped an interim response

    core::ResponseHead& h = *head_;
    framing_ = h.framing;
    remaining_ = h.content_length;
    if (rparser_.phase() == http1::ParsePhase::Complete) framing_ = core::BodyFraming::None;
    char status[4];
    std::to_chars(status, status + 3, h.status);
    // Per-thread scratch (nghttp2_submit_response copies the fields): no allocation per
    // response once warm. Names are lower-cased into one buffer reserved up front, so the
    // pointers into it stay valid (RFC 9113 §8.2: field names are lower case).
    thread_local std::vector<nghttp2_nv> nva;
    thread_local std::string names;
    nva.clear();
    names.clear();
    size_t name_bytes = 0;
    for (const core::Header& f : h.headers) name_bytes += f.name.size();
    names.reserve(name_bytes);
    nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(":status")),
                   reinterpret_cast<uint8_t*>(status), 7, 3, NGHTTP2_NV_FLAG_NONE});
    for (const core::Header& f : h.headers) {
      if (connection_specific(f.name)) continue;
      size_t at = names.size();
      for (char c : f.name) names += core::ascii_lower(c);
      nva.push_back({reinterpret_cast<uint8_t*>(names.data() + at),
                     reinterpret_cast<uint8_t*>(const_cast<char*>(f.value.data())), f.name.size(),
                     f.value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    nghttp2_data_provider provider{};
    provider.source.ptr = this;
    provider.read_callback = [](nghttp2_session* ng, int32_t stream_id, uint8_t* /*buf*/,
                                size_t length, uint32_t* flags, nghttp2_data_source* source,
                                void* /*user*/) -> ssize_t {
      (void)ng;
      (void)stream_id;
      return static_cast<Stream*>(source->ptr)->read_data(length, flags);
    };
    bool has_body = framing_ != core::BodyFraming::None;
    if (!has_body) body_complete_ = true;
    int rv = nghttp2_submit_response(session_.ng(), id_, nva.data(), nva.size(),
                                     has_body ? &provider : nullptr);
    if (rv != 0) {
      reset(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    submitted_ = true;
  }
  size_t len = evbuffer_get_length(out_);
  switch (framing_) {
    case core::BodyFraming::None:
      evbuffer_drain(out_, len);
      body_complete_ = true;
      break;
    case core::BodyFraming::Length: {
      size_t n = static_cast<size_t>(std::min<uint64_t>(len, remaining_));
      if (n > 0) evbuffer_remove_buffer(out_, data_, n);  // moves chains, no copy
      remaining_ -= n;
      if (remaining_ == 0) body_complete_ = true;
      break;
    }
    case core::BodyFraming::UntilClose:
      evbuffer_add_buffer(data_, out_);
      if (response_done_) body_complete_ = true;
      break;
    case core::BodyFraming::Chunked:
      while (!body_complete_ && evbuffer_get_length(out_) > 0) {
        evbuffer_iovec vec{};
        if (evbuffer_peek(out_, -1, nullptr, &vec, 1) < 1) break;
        size_t n =
            rparser_.feed(std::string_view(static_cast<const char*>(vec.iov_base), vec.iov_len));
        if (rparser_.phase() == http1::ParsePhase::Failed) {
          reset(NGHTTP2_INTERNAL_ERROR);
          return;
        }
        evbuffer_drain(out_, n);
        if (n == 0) break;
      }
      break;
  }
  if (data_deferred_ && (evbuffer_get_length(data_) > 0 || body_complete_)) {
    data_deferred_ = false;
    nghttp2_session_resume_data(session_.ng(), id_);
  }
}

long Stream::read_data(size_t max, uint32_t* flags) {
  size_t avail = evbuffer_get_length(data_);
  if (avail == 0) {
    if (body_complete_) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      return 0;
    }
    data_deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  size_t n = std::min(avail, max);
  *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (body_complete_ && n == avail) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<long>(n);
}

void Stream::write_data(evbuffer* out, size_t length) {
  evbuffer_remove_buffer(data_, out, length);
}

void Stream::after_send() {
  if (!exchange_paused_ || !exchange_ || closed_) return;
  if (evbuffer_get_length(out_) + evbuffer_get_length(data_) > kOutputLowWatermark) return;
  exchange_paused_ = false;
  exchange_->on_downstream_drained();
}

void Stream::run() {
  if (closed_) return;
  if (exchange_ && !body_done_) feed_body();
  if (!reset_sent_) pump_output();
  if (exchange_ && response_done_) retire_exchange();
}

// ---- Downstream ----

bool Stream::output_full() const {
  bool full = evbuffer_get_length(out_) + evbuffer_get_length(data_) >= kOutputHighWatermark;
  if (full) const_cast<Stream*>(this)->exchange_paused_ = true;
  return full;
}

void Stream::flush() {
  if (closed_) return;
  pump_output();
  session_.mark_dirty(id_);
}

void Stream::send_continue_if_expected() {
  if (!expect_continue_ || continue_sent_ || body_done_ || closed_) return;
  continue_sent_ = true;
  nghttp2_nv nv{reinterpret_cast<uint8_t*>(const_cast<char*>(":status")),
                reinterpret_cast<uint8_t*>(const_cast<char*>("100")), 7, 3, NGHTTP2_NV_FLAG_NONE};
  nghttp2_submit_headers(session_.ng(), NGHTTP2_FLAG_NONE, id_, nullptr, &nv, 1, nullptr);
  session_.mark_dirty(id_);
}

void Stream::resume_body() { session_.mark_dirty(id_); }

void Stream::on_response_complete(bool /*keep_alive*/) {
  response_done_ = true;
  session_.mark_dirty(id_);
}

void Stream::close_now() {
  if (exchange_) exchange_->cancel();
  response_done_ = true;  // retire the (cancelled) exchange from run()
  reset(NGHTTP2_INTERNAL_ERROR);
}

void Stream::reset(uint32_t error_code) {
  if (reset_sent_ || closed_) return;
  reset_sent_ = true;
  nghttp2_submit_rst_stream(session_.ng(), NGHTTP2_FLAG_NONE, id_, error_code);
  session_.mark_dirty(id_);
}

void Stream::on_closed() {
  if (closed_) return;
  closed_ = true;
  if (exchange_ && !response_done_) exchange_->cancel();
  retire_exchange();
}

// Deletes the exchange (writing its access-log record), or hands a cache filler to the Worker so
// the fill outlives this stream (as Connection::retire_exchange does).
void Stream::retire_exchange() {
  if (!exchange_) return;
  if (exchange_->fill_in_progress()) {
    exchange_->detach();
    worker().adopt(std::move(exchange_));
  }
  exchange_.reset();
}

}  // namespace portico::proxy::http2
