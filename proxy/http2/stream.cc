#include "proxy/http2/stream.h"

#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

#include "core/log.h"
#include "proxy/exchange.h"
#include "proxy/http2/response_fields.h"
#include "proxy/http2/session.h"
#include "proxy/response_writer.h"
#include "proxy/worker.h"

namespace portico::proxy::http2 {
namespace {

constexpr size_t kOutputHighWatermark = 256 * 1024;
constexpr size_t kOutputLowWatermark = 64 * 1024;
constexpr size_t kMaxResponseHeadBytes = 64 * 1024;

// Where the head in `out` ends (just past its empty line), or -1 while it is incomplete. The head
// is nearly always inside the first chain (the exchange writes it in one piece, every line ending
// in CRLF): found there line by line with memchr, else with libevent's chain-crossing search.
ssize_t head_end(evbuffer* out) {
  evbuffer_iovec first{};
  if (evbuffer_peek(out, -1, nullptr, &first, 1) >= 1) {
    const char* base = static_cast<const char*>(first.iov_base);
    const char* end = base + first.iov_len;
    for (const char* p = base; p < end;) {
      const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      if (nl == nullptr) break;
      if (end - nl >= 3 && nl[1] == '\r' && nl[2] == '\n') return nl + 3 - base;
      p = nl + 1;
    }
  }
  evbuffer_ptr end = evbuffer_search(out, "\r\n\r\n", 4, nullptr);
  return end.pos < 0 ? -1 : static_cast<ssize_t>(end.pos) + 4;
}

// Collects the one head the request parser yields.
struct HeadCatcher final : http1::RequestEvents {
  std::optional<core::RequestHead> head;
  void on_head(std::unique_ptr<core::RequestHead> h) override { head = std::move(*h); }
  void on_body(std::string_view /*data*/) override {}
  void on_complete() override {}
};

}  // namespace

Stream::Stream(Session& session, int32_t id) : session_(session), id_(id), out_(evbuffer_new()) {}

Stream::~Stream() {
  retire_exchange();
  if (body_in_ != nullptr) evbuffer_free(body_in_);
  evbuffer_free(out_);
  if (data_ != nullptr) evbuffer_free(data_);
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
  if (name == "host") {
    if (!authority_.empty()) return true;
    unusual_ = true;
  }
  if (name == "content-length") {
    has_content_length_ = true;
    unusual_ = true;
  }
  if (name == "expect") {
    expect_continue_ = core::iequals(value, "100-continue");
    unusual_ = true;
  }
  // Pseudo-header fields all come first (RFC 9113 §8.3, enforced by nghttp2): Host leads.
  if (!host_added_ && !authority_.empty()) {
    fields_.add("Host", authority_);
    host_added_ = true;
  }
  fields_.add(name, value);
  return true;
}

bool Stream::direct_request(bool end_stream) const {
  const config::Server& cfg = session_.worker().snapshot()->model->server;
  return end_stream && !unusual_ && !authority_.empty() && fields_.size() <= cfg.max_header_count &&
         method_.size() + path_.size() + 10 <= cfg.max_request_line_bytes && method_ != "CONNECT" &&
         http1::valid_origin_target(path_) && http1::valid_host(authority_);
}

// Returns false (after answering the error) when the head is refused.
bool Stream::build_request(bool end_stream, core::RequestHead& req) {
  if (!host_added_ && !authority_.empty()) {
    fields_.add("Host", authority_);
    host_added_ = true;
  }
  // What the access log counts (cs-bytes): the size of the equivalent HTTP/1.1 head.
  bool chunked_body = !end_stream && !has_content_length_;
  size_t bytes = method_.size() + path_.size() + 14;  // "M P HTTP/1.1\r\n" + the empty line
  for (const core::Header& f : fields_) bytes += f.name.size() + f.value.size() + 4;
  if (!cookie_.empty()) bytes += cookie_.size() + 10;
  if (chunked_body) bytes += 28;
  request_bytes_ = bytes;
  if (direct_request(end_stream)) {
    req.method_token = std::move(method_);
    req.method = core::parse_method(req.method_token);
    size_t q = path_.find('?');
    req.path.assign(path_, 0, q);
    if (q != std::string::npos) {
      req.has_query = true;
      req.query.assign(path_, q + 1);
    }
    req.target = std::move(path_);
    core::assign_lower(req.authority, authority_);
    if (!cookie_.empty()) fields_.add("Cookie", cookie_);
    req.headers = std::move(fields_);
    req.version_minor = 1;
    return true;
  }
  std::string head;
  head.reserve(bytes);
  head.append(method_).append(" ").append(path_).append(" HTTP/1.1\r\n");
  for (const core::Header& f : fields_)
    head.append(f.name).append(": ").append(f.value).append("\r\n");
  if (!cookie_.empty()) head.append("Cookie: ").append(cookie_).append("\r\n");
  // A body without Content-Length is delimited by END_STREAM: present it as chunked.
  if (chunked_body) head += "Transfer-Encoding: chunked\r\n";
  head += "\r\n";
  fields_ = core::Headers{};
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
    return false;
  }
  req = std::move(*catcher.head);
  return true;
}

void Stream::on_request_head(bool end_stream) {
  auto owned = std::make_unique<core::RequestHead>();
  core::RequestHead& req = *owned;
  if (!build_request(end_stream, req)) return;
  req.keep_alive = true;
  body_done_ = true;
  if (req.framing == core::BodyFraming::Length && req.content_length > 0) {
    body_done_ = false;
  } else if (req.framing == core::BodyFraming::Chunked) {
    body_done_ = false;
    chunked_in_ = true;
  }
  if (end_stream) body_done_ = true;
  if (!body_done_) body_in_ = evbuffer_new();
  head_request_ = req.method == core::Method::Head;
  exchange_ = std::make_unique<Exchange>(*this, std::move(owned));
  exchange_->start();
}

void Stream::on_request_data(const uint8_t* data, size_t len) {
  request_bytes_ += len;
  if (!exchange_ || body_done_ || body_in_ == nullptr) {
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
  head_request_ = r.head_only;
  response_done_ = true;
  session_.mark_dirty(id_);
}

// ---- response ----

// The head at the start of out_, written by the exchange (or respond_error): status line, fields,
// empty line. Well-formed by construction, so it is scanned in place rather than parsed into a
// message. Known names become static lower-case literals (response_fields.h); nghttp2 copies the
// values and lower-cases the other names (RFC 9113 §8.2) as it copies them.
bool Stream::submit_head() {
  for (;;) {
    size_t len = evbuffer_get_length(out_);
    if (len == 0) return false;
    const ssize_t end = head_end(out_);
    size_t head_len = end < 0 ? len : static_cast<size_t>(end);
    if (head_len > kMaxResponseHeadBytes) {
      PORTICO_WARN("http2 stream %d: response head over %zu bytes", id_, kMaxResponseHeadBytes);
      reset(NGHTTP2_INTERNAL_ERROR);
      return false;
    }
    if (end < 0) return false;  // incomplete
    const char* p =
        reinterpret_cast<const char*>(evbuffer_pullup(out_, static_cast<ssize_t>(head_len)));
    std::string_view head(p, head_len - 2);  // every line ends in CRLF
    size_t eol = head.find("\r\n");
    int status = 0;
    if (eol < 12 || !head.starts_with("HTTP/1.") ||
        std::from_chars(p + 9, p + 12, status).ptr != p + 12 || status < 100 || status > 999) {
      PORTICO_WARN("http2 stream %d: unusable response head", id_);
      reset(NGHTTP2_INTERNAL_ERROR);
      return false;
    }
    if (status < 200) {
      evbuffer_drain(out_, head_len);  // an interim response (RFC 9110 §15.2): not forwarded
      continue;
    }
    // Per-thread field list, grown (never shrunk) by index: no capacity check per field call.
    thread_local std::vector<nghttp2_nv> nva(32);
    size_t count = 0;
    auto add = [&](const nghttp2_nv& nv) {
      if (count == nva.size()) nva.resize(2 * count);
      nva[count++] = nv;
    };
    add({reinterpret_cast<uint8_t*>(const_cast<char*>(":status")),
         reinterpret_cast<uint8_t*>(const_cast<char*>(p + 9)), 7, 3, NGHTTP2_NV_FLAG_NO_COPY_NAME});
    bool chunked = false;
    bool has_length = false;
    uint64_t length = 0;
    const char* const head_stop = head.data() + head.size();
    for (const char* line = p + eol + 2; line < head_stop;) {
      // Every line ends in CRLF and holds no other CR or LF (the exchange wrote it).
      const auto* nl =
          static_cast<const char*>(std::memchr(line, '\n', static_cast<size_t>(head_stop - line)));
      if (nl == nullptr || nl == line || nl[-1] != '\r') {
        reset(NGHTTP2_INTERNAL_ERROR);
        return false;
      }
      const auto* colon =
          static_cast<const char*>(std::memchr(line, ':', static_cast<size_t>(nl - 1 - line)));
      if (colon == nullptr || colon == line) {
        reset(NGHTTP2_INTERNAL_ERROR);
        return false;
      }
      std::string_view name(line, static_cast<size_t>(colon - line));
      std::string_view value =
          core::trim_ows(std::string_view(colon + 1, static_cast<size_t>(nl - 1 - (colon + 1))));
      line = nl + 1;
      const ResponseField field = classify_response_field(name);
      uint8_t flags = NGHTTP2_NV_FLAG_NONE;
      switch (field.role) {
        case FieldRole::Plain:
          break;
        case FieldRole::ContentLength:
          has_length =
              std::from_chars(value.data(), value.data() + value.size(), length).ec == std::errc();
          break;
        case FieldRole::TransferEncoding:
          chunked = true;  // the exchange only ever writes "chunked"
          continue;
        case FieldRole::ConnectionSpecific:
          // Not allowed in HTTP/2 (RFC 9113 §8.2.2); the exchange only writes Connection and
          // Transfer-Encoding of these, the rest were removed from the origin's.
          continue;
        case FieldRole::NeverIndex:
          // X-Amz-Cf-Id is new in every response: indexed (RFC 7541 §6.2.1) it would only push
          // the fields that repeat (Via, X-Cache, Server, ...) out of the HPACK table one response
          // at a time, and they would then be sent and Huffman-coded in full again.
          flags = NGHTTP2_NV_FLAG_NO_INDEX;
          break;
      }
      if (!field.lower.empty()) {
        name = field.lower;  // static: nghttp2 need not copy or lower-case it
        flags |= NGHTTP2_NV_FLAG_NO_COPY_NAME;
      }
      // Unknown names go as they are: nghttp2 copies them and lower-cases the copy.
      add({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
           reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
           flags});
    }
    if (head_request_ || status == 204 || status == 304) {
      framing_ = core::BodyFraming::None;
    } else if (chunked) {
      framing_ = core::BodyFraming::Chunked;
      data_ = evbuffer_new();
    } else if (has_length) {
      framing_ = length > 0 ? core::BodyFraming::Length : core::BodyFraming::None;
      remaining_ = length;
    } else {
      framing_ = core::BodyFraming::UntilClose;
    }
    nghttp2_data_provider provider{};
    provider.source.ptr = this;
    provider.read_callback = [](nghttp2_session* /*ng*/, int32_t /*stream_id*/, uint8_t* /*buf*/,
                                size_t max, uint32_t* flags, nghttp2_data_source* source,
                                void* /*user*/) -> ssize_t {
      return static_cast<Stream*>(source->ptr)->read_data(max, flags);
    };
    bool has_body = framing_ != core::BodyFraming::None;
    int rv = nghttp2_submit_response(session_.ng(), id_, nva.data(), count,
                                     has_body ? &provider : nullptr);
    evbuffer_drain(out_, head_len);
    if (rv != 0) {
      reset(NGHTTP2_INTERNAL_ERROR);
      return false;
    }
    submitted_ = true;
    return true;
  }
}

// Our own chunked framing ("<hex>\r\n<data>\r\n" ... "0\r\n\r\n"), from any split.
bool Stream::decode_chunks() {
  while (!body_complete_) {
    size_t len = evbuffer_get_length(out_);
    switch (chunk_state_) {
      case ChunkState::Size:
      case ChunkState::Trailer: {
        size_t eol_len = 0;
        evbuffer_ptr e = evbuffer_search_eol(out_, nullptr, &eol_len, EVBUFFER_EOL_CRLF_STRICT);
        if (e.pos < 0) return len < 4096;  // wait for the rest of the line
        size_t line_len = static_cast<size_t>(e.pos);
        if (chunk_state_ == ChunkState::Trailer) {
          evbuffer_drain(out_, line_len + eol_len);
          if (line_len == 0) body_complete_ = true;
          break;
        }
        char line[24];
        if (line_len == 0 || line_len > sizeof line) return false;
        evbuffer_copyout(out_, line, line_len);
        uint64_t size = 0;
        const char* stop = line + line_len;
        auto [ptr, ec] = std::from_chars(line, stop, size, 16);
        if (ec != std::errc() || (ptr != stop && *ptr != ';')) return false;
        evbuffer_drain(out_, line_len + eol_len);
        chunk_state_ = size == 0 ? ChunkState::Trailer : ChunkState::Data;
        remaining_ = size;
        break;
      }
      case ChunkState::Data: {
        if (len == 0) return true;
        size_t n = static_cast<size_t>(std::min<uint64_t>(len, remaining_));
        evbuffer_remove_buffer(out_, data_, n);  // moves chains, no copy
        remaining_ -= n;
        if (remaining_ == 0) chunk_state_ = ChunkState::DataEnd;
        break;
      }
      case ChunkState::DataEnd:
        if (len < 2) return true;
        evbuffer_drain(out_, 2);
        chunk_state_ = ChunkState::Size;
        break;
    }
  }
  return true;
}

// Submits the head once it is complete and makes body bytes available to DATA frames.
void Stream::pump_output() {
  if (!submitted_ && !submit_head()) return;
  switch (framing_) {
    case core::BodyFraming::None:
      evbuffer_drain(out_, evbuffer_get_length(out_));
      body_complete_ = true;
      break;
    case core::BodyFraming::Length:
      if (evbuffer_get_length(out_) >= remaining_) body_complete_ = true;
      break;
    case core::BodyFraming::UntilClose:
      if (response_done_) body_complete_ = true;
      break;
    case core::BodyFraming::Chunked:
      if (!decode_chunks()) {
        PORTICO_WARN("http2 stream %d: invalid chunked body from the exchange", id_);
        reset(NGHTTP2_INTERNAL_ERROR);
        return;
      }
      break;
  }
  if (data_deferred_ && (body_ready() > 0 || body_complete_)) {
    data_deferred_ = false;
    nghttp2_session_resume_data(session_.ng(), id_);
  }
}

size_t Stream::body_ready() const {
  switch (framing_) {
    case core::BodyFraming::None:
      return 0;
    case core::BodyFraming::Length:
      return static_cast<size_t>(std::min<uint64_t>(evbuffer_get_length(out_), remaining_));
    case core::BodyFraming::UntilClose:
      return evbuffer_get_length(out_);
    case core::BodyFraming::Chunked:
      return evbuffer_get_length(data_);
  }
  return 0;
}

long Stream::read_data(size_t max, uint32_t* flags) {
  size_t avail = body_ready();
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
  bool last = framing_ == core::BodyFraming::Length ? n == remaining_ : n == avail;
  if (body_complete_ && last) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<long>(n);
}

void Stream::write_data(evbuffer* out, size_t length) {
  evbuffer_remove_buffer(body_source(), out, length);
  if (framing_ == core::BodyFraming::Length) remaining_ -= length;
}

void Stream::after_send() {
  if (!exchange_paused_ || !exchange_ || closed_) return;
  if (evbuffer_get_length(out_) + (data_ ? evbuffer_get_length(data_) : 0) > kOutputLowWatermark) {
    return;
  }
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
  size_t queued = evbuffer_get_length(out_) + (data_ ? evbuffer_get_length(data_) : 0);
  bool full = queued >= kOutputHighWatermark;
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
