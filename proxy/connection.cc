#include "proxy/connection.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/log.h"
#include "proxy/exchange.h"
#include "proxy/flush.h"
#include "proxy/http2/session.h"
#include "proxy/response_writer.h"
#include "proxy/server.h"
#include "proxy/worker.h"

namespace portico::proxy {
namespace {

constexpr size_t kReadHighWatermark = 256 * 1024;
constexpr size_t kOutputHighWatermark = 256 * 1024;
constexpr size_t kOutputLowWatermark = 64 * 1024;
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr size_t kTlsJoinLimit = 64 * 1024;
// RFC 9113 §3.4: the client connection preface.
constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

http1::Limits limits_from(const config::Server& s) {
  http1::Limits l;
  l.max_request_line_bytes = s.max_request_line_bytes;
  l.max_header_bytes = s.max_header_bytes;
  l.max_header_count = s.max_header_count;
  l.max_body_bytes = s.max_body_bytes;
  return l;
}

}  // namespace

// Asked per request (X-Forwarded-Port, listener rules): one getsockname per connection.
uint16_t Connection::local_port() const {
  if (local_port_ == 0) local_port_ = local_port_of(bev_);
  return local_port_;
}

Connection::Connection(Worker& worker, int fd, std::string listener_name, const sockaddr* peer,
                       socklen_t /*peer_len*/, ListenerOptions options)
    : worker_(worker),
      listener_name_(std::move(listener_name)),
      limits_(limits_from(worker.snapshot()->model->server)),
      parser_(limits_, *this),
      timer_(worker.loop(), [this] { on_timer(); }) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (peer->sa_family == AF_INET) {
    const auto* in4 = reinterpret_cast<const sockaddr_in*>(peer);
    inet_ntop(AF_INET, &in4->sin_addr, buf, sizeof buf);
    client_port_ = ntohs(in4->sin_port);
  } else if (peer->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(peer);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    client_port_ = ntohs(in6->sin6_port);
  }
  client_ip_ = buf;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // never a Nagle stall
  http2_ = options.http2;
  if (options.tls != nullptr) {
    // OpenSSL's bufferevent runs the handshake and does all reads and writes (no rev_). With
    // BEV_OPT_CLOSE_ON_FREE it frees the SSL and closes the socket.
    tls_ = true;
    staging_ = evbuffer_new();
    SSL* ssl = SSL_new(options.tls);
    if (ssl != nullptr) {
      bev_ = bufferevent_openssl_socket_new(worker_.loop().base(), fd, ssl,
                                            BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    }
    if (bev_ != nullptr) {
      bufferevent_openssl_set_allow_dirty_shutdown(bev_, 1);
    } else {
      if (ssl != nullptr) SSL_free(ssl);
      ::close(fd);
    }
  } else {
    bev_ = bufferevent_socket_new(worker_.loop().base(), fd, BEV_OPT_CLOSE_ON_FREE);
    rev_ =
        event_new(worker_.loop().base(), fd, EV_READ | EV_PERSIST, &Connection::on_readable, this);
  }
  deferred_ = event_new(worker_.loop().base(), -1, 0, &Connection::on_deferred, this);
}

Connection::~Connection() {
  retire_exchange();
  if (rev_) event_free(rev_);
  if (bev_) bufferevent_free(bev_);
  event_free(deferred_);
  if (staging_) evbuffer_free(staging_);
}

void Connection::start() {
  if (bev_ == nullptr) {
    close_now();
    return;
  }
  bufferevent_setwatermark(bev_, EV_WRITE, kOutputLowWatermark, 0);
  bufferevent_set_timeouts(
      bev_, nullptr, worker_.loop().common_timeout(worker_.snapshot()->model->server.idle_timeout));
  if (tls_) {
    // OpenSSL's bufferevent writes whatever is queued by itself once EV_WRITE is enabled, which
    // happens when the handshake is done (on_event, tls_handshake_done). The read high watermark
    // stops reading while pipelined input waits (backpressure).
    bufferevent_setcb(bev_, &Connection::on_tls_read, &Connection::on_write, &Connection::on_event,
                      this);
    bufferevent_setwatermark(bev_, EV_READ, 0, kReadHighWatermark);
    bufferevent_disable(bev_, EV_WRITE);  // new bufferevents start with it enabled
  } else {
    bufferevent_setcb(bev_, nullptr, &Connection::on_write, &Connection::on_event, this);
    set_write_slice(bev_);
    // The bufferevent only writes (write-first, see flush()); reads go through rev_.
    bufferevent_disable(bev_, EV_READ | EV_WRITE);
  }
  update_reading();
  // The head timer covers the TLS handshake too.
  arm_timer(TimerMode::Header);
}

const char* Connection::protocol_version() const {
  return version_minor_ == 0 ? "HTTP/1.0" : "HTTP/1.1";
}

void Connection::on_tls_read(bufferevent* /*bev*/, void* arg) {
  static_cast<Connection*>(arg)->process();
}

// ALPN chose the protocol during the handshake (RFC 7301): "h2" goes to an HTTP/2 session.
void Connection::on_handshake_done() {
  if (!http2_) return;
  const unsigned char* proto = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(bufferevent_openssl_get_ssl(bev_), &proto, &len);
  if (len == 2 && proto[0] == 'h' && proto[1] == '2') hand_over_to_h2();
}

// h2c with prior knowledge (RFC 9113 §3.3): the first bytes on a cleartext connection are the
// preface. Returns true while it cannot tell yet or after handing over.
bool Connection::maybe_h2c_preface() {
  if (!http2_ || tls_ || requests_served_ != 0) return false;
  evbuffer* in = bufferevent_get_input(bev_);
  size_t len = std::min(evbuffer_get_length(in), kH2Preface.size());
  const char* p = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ssize_t>(len)));
  if (p == nullptr || std::string_view(p, len) != kH2Preface.substr(0, len)) return false;
  if (len < kH2Preface.size()) return true;  // maybe the preface: wait for more
  hand_over_to_h2();
  return true;
}

void Connection::hand_over_to_h2() {
  if (rev_) {
    event_free(rev_);
    rev_ = nullptr;
    reading_ = false;
  }
  timer_.cancel();
  bufferevent* bev = bev_;
  bev_ = nullptr;
  bufferevent_setcb(bev, nullptr, nullptr, nullptr, nullptr);
  phase_ = Phase::Closed;
  handed_over_ = true;
  auto* session = new http2::Session(worker_, bev, tls_, listener_name_, client_ip_, client_port_);
  worker_.replace_connection(this, session);
  session->start();
  delete_scheduled_ = true;
  event_active(deferred_, 0, 0);
}

void Connection::clear_body_timeout() {
  if (!body_timeout_set_) return;
  body_timeout_set_ = false;
  set_read_timeout(nullptr);
}

// Reads are done here rather than by the bufferevent: one readv into reserved buffer space, no
// ioctl(FIONREAD) per read (which evbuffer_read issues), no bufferevent callback machinery.
// Reading stops while the input holds kReadHighWatermark bytes (backpressure) and after EOF.
void Connection::update_reading() {
  if (phase_ == Phase::Closed || bev_ == nullptr) return;
  if (tls_) {
    // The bufferevent's read watermark does the backpressure.
    bool want = !read_eof_;
    if (want && !reading_) bufferevent_enable(bev_, EV_READ);
    if (!want && reading_) bufferevent_disable(bev_, EV_READ);
    reading_ = want;
    return;
  }
  if (rev_ == nullptr) return;
  bool want = !read_eof_ && (phase_ == Phase::Lingering ||
                             evbuffer_get_length(bufferevent_get_input(bev_)) < kReadHighWatermark);
  if (want && !reading_) {
    event_add(rev_, read_timeout_);
    reading_ = true;
  } else if (!want && reading_) {
    event_del(rev_);
    reading_ = false;
  }
}

void Connection::set_read_timeout(const timeval* tv) {
  read_timeout_ = tv;
  if (tls_) {
    if (bev_ != nullptr) {
      bufferevent_set_timeouts(
          bev_, tv, worker_.loop().common_timeout(worker_.snapshot()->model->server.idle_timeout));
    }
    return;
  }
  if (reading_) event_add(rev_, tv);  // re-adding a pending event replaces its timeout
}

void Connection::on_readable(int fd, short what, void* arg) {
  auto* self = static_cast<Connection*>(arg);
  if (what & EV_TIMEOUT) {
    if (self->phase_ == Phase::Exchange && self->body_state_ == BodyState::Reading) {
      self->send_error(408);  // client_body_timeout
    } else {
      self->close_now();
    }
    return;
  }
  long n = read_once(self->bev_, fd);
  if (n > 0) {
    self->process();
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n < 0) {
    self->close_now();
    return;
  }
  self->read_eof_ = true;
  self->update_reading();
  self->on_client_eof();
}

void Connection::on_client_eof() {
  if (phase_ == Phase::Exchange && body_state_ == BodyState::Done) {
    // Half-close after a complete request: finish the response, then close.
    client_eof_ = true;
    return;
  }
  if (phase_ == Phase::Closing) return;  // keep flushing; a write error ends it
  close_now();
}

size_t Connection::send_direct(std::string_view a, std::string_view b) {
  if (bev_ == nullptr || tls_ || files_in_output_) return 0;
  return proxy::send_direct(bev_, a, b);
}

void Connection::flush() {
  if (bev_ == nullptr) return;
  if (tls_) {
    // A response is a head chain plus body chains: joined, one SSL_write (record and syscall).
    // Large bodies go as they are.
    tls_hand_over(bev_, staging_, kTlsJoinLimit);
    return;
  }
  if (flush_now(bev_, files_in_output_)) files_in_output_ = false;
}

bool Connection::idle() const {
  return phase_ == Phase::Head && bev_ != nullptr &&
         evbuffer_get_length(bufferevent_get_input(bev_)) == 0;
}

// TLS: the exchange writes into a staging buffer that flush() hands to OpenSSL's bufferevent in
// one piece, so a response becomes one SSL_write (one record run, one syscall) rather than one
// per evbuffer_add (its output callback writes at once).
evbuffer* Connection::output() { return tls_ ? staging_ : bufferevent_get_output(bev_); }

bool Connection::output_full() const {
  if (bev_ == nullptr) return true;
  size_t queued = evbuffer_get_length(bufferevent_get_output(bev_));
  if (tls_) queued += evbuffer_get_length(staging_);
  return queued >= kOutputHighWatermark;
}

const char* Connection::phase_name() const {
  switch (phase_) {
    case Phase::Head:
      return "head";
    case Phase::Exchange:
      return "exchange";
    case Phase::Closing:
      return "closing";
    case Phase::Lingering:
      return "lingering";
    case Phase::Closed:
      return "closed";
  }
  return "?";
}

// One timer per connection, re-armed lazily: arming only moves a deadline unless the pending
// event would fire too late, and disarming only clears the mode, so a keep-alive request costs no
// timer-queue operations in the common case.
void Connection::arm_timer(TimerMode mode) {
  const config::Server& s = worker_.snapshot()->model->server;
  std::chrono::milliseconds d = kLingerTime;
  switch (mode) {
    case TimerMode::Header:
      d = s.client_header_timeout;
      break;
    case TimerMode::Idle:
      d = s.idle_timeout;
      break;
    case TimerMode::Linger:
    case TimerMode::None:
      break;
  }
  timer_mode_ = mode;
  auto now = core::loop_now();
  timer_deadline_ = now + d;
  if (!timer_.armed() || timer_deadline_ < timer_fires_at_) {
    timer_fires_at_ = timer_deadline_;
    timer_.arm(d);
  }
}

void Connection::disarm_timer() { timer_mode_ = TimerMode::None; }

void Connection::on_timer() {
  if (timer_mode_ == TimerMode::None) return;
  auto now = core::loop_now();
  if (now < timer_deadline_) {
    timer_fires_at_ = timer_deadline_;
    timer_.arm(std::chrono::ceil<std::chrono::milliseconds>(timer_deadline_ - now));
    return;
  }
  if (phase_ == Phase::Head && timer_mode_ == TimerMode::Header && bev_ &&
      evbuffer_get_length(bufferevent_get_input(bev_)) > 0) {
    // Slow or stalled request head (slowloris): 408 and close (RFC 9110 §15.5.9).
    PORTICO_DEBUG("connection %s:%u: request head timeout", client_ip_.c_str(), client_port_);
    send_error(408);
    return;
  }
  close_now();
}

void Connection::process() {
  process_input();
  update_reading();
}

void Connection::process_input() {
  // An exchange that completes while we are here (a cache hit, a local response: inside
  // start_exchange) is retired by the loop below rather than from a deferred event, which saves
  // an event activation and a second pass through process() per such request.
  const bool outer = in_input_;
  in_input_ = true;
  process_input_loop();
  in_input_ = outer;
  if (!outer && exchange_done_pending_ && !delete_scheduled_) event_active(deferred_, 0, 0);
}

void Connection::process_input_loop() {
  while (phase_ == Phase::Head || phase_ == Phase::Exchange || phase_ == Phase::Lingering) {
    if (exchange_done_pending_) {
      if (!finish_exchange()) return;
      continue;
    }
    evbuffer* in = bufferevent_get_input(bev_);
    size_t len = evbuffer_get_length(in);
    if (phase_ == Phase::Lingering) {
      evbuffer_drain(in, len);
      return;
    }
    if (phase_ == Phase::Exchange) {
      if (!process_body()) return;
      continue;
    }
    if (len == 0 || output_full()) return;
    if (maybe_h2c_preface()) return;
    if (timer_mode_ == TimerMode::Idle) arm_timer(TimerMode::Header);
    // +16: room for the leading empty lines RFC 9112 §2.2 lets the parser skip.
    size_t want = std::min<size_t>(len, static_cast<size_t>(limits_.max_header_bytes) + 16);
    const char* p = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ssize_t>(want)));
    size_t n = parser_.feed(std::string_view(p, want));
    if (parser_.phase() == http1::ParsePhase::Failed) {
      worker_.stats().parse_errors.add();
      const core::Error& e = parser_.error();
      PORTICO_DEBUG("connection %s:%u: bad request: %s", client_ip_.c_str(), client_port_,
                    e.detail.c_str());
      send_error(e.status != 0 ? e.status : 400);
      return;
    }
    if (n == 0) return;  // head incomplete
    evbuffer_drain(in, n);
    request_bytes_ = n;
    start_exchange();
  }
}

void Connection::on_head(std::unique_ptr<core::RequestHead> head) {
  pending_head_ = std::move(head);
}

void Connection::on_body(std::string_view data) {
  if (exchange_) exchange_->on_request_chunk(data);
}

void Connection::on_complete() {
  if (phase_ == Phase::Exchange && body_state_ == BodyState::Reading && chunked_body_) {
    body_state_ = BodyState::Done;
  }
}

void Connection::start_exchange() {
  disarm_timer();
  phase_ = Phase::Exchange;
  const core::RequestHead& head = *pending_head_;
  body_state_ = BodyState::Done;
  chunked_body_ = false;
  if (head.framing == core::BodyFraming::Length && head.content_length > 0) {
    body_state_ = BodyState::Reading;
    body_remaining_ = head.content_length;
  } else if (head.framing == core::BodyFraming::Chunked) {
    body_state_ = BodyState::Reading;
    chunked_body_ = true;
  }
  continue_pending_ = head.expect_continue && body_state_ == BodyState::Reading;
  version_minor_ = head.version_minor;
  if (body_state_ == BodyState::Reading) {
    const config::Server& s = worker_.snapshot()->model->server;
    set_read_timeout(worker_.loop().common_timeout(s.client_body_timeout));
    body_timeout_set_ = true;
  }
  exchange_ = std::make_unique<Exchange>(*this, std::move(pending_head_));
  exchange_->start();
}

// Feeds request body bytes to the exchange while it wants them. Returns true when it made
// progress and the caller should loop.
bool Connection::process_body() {
  if (body_state_ == BodyState::Done || !exchange_ || !exchange_->body_wanted()) return false;
  evbuffer* in = bufferevent_get_input(bev_);
  size_t len = evbuffer_get_length(in);
  if (len == 0) return false;
  if (!chunked_body_) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(len, body_remaining_));
    body_remaining_ -= n;
    request_bytes_ += n;
    if (body_remaining_ == 0) body_state_ = BodyState::Done;
    exchange_->on_request_body(in, n);  // moves the bytes, no copy
  } else {
    evbuffer_iovec vec{};
    if (evbuffer_peek(in, -1, nullptr, &vec, 1) < 1) return false;
    size_t n = parser_.feed(std::string_view(static_cast<const char*>(vec.iov_base), vec.iov_len));
    if (phase_ == Phase::Closed) return false;
    if (parser_.phase() == http1::ParsePhase::Failed) {
      worker_.stats().parse_errors.add();
      const core::Error& e = parser_.error();
      send_error(e.status != 0 ? e.status : 400);
      return false;
    }
    evbuffer_drain(in, n);
    request_bytes_ += n;
    if (n == 0 && body_state_ != BodyState::Done) return false;
  }
  if (phase_ == Phase::Closed) return false;
  if (body_state_ == BodyState::Done) {
    clear_body_timeout();
    if (exchange_) exchange_->on_request_body_end();
    return false;
  }
  return phase_ == Phase::Exchange;
}

void Connection::send_continue_if_expected() {
  if (!continue_pending_ || bev_ == nullptr) return;
  continue_pending_ = false;
  static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
  evbuffer_add(output(), kContinue, sizeof kContinue - 1);
  flush();
}

void Connection::resume_body() {
  if (phase_ != Phase::Exchange) return;
  // Re-enter from the loop rather than the caller's stack.
  resume_pending_ = true;
  event_active(deferred_, 0, 0);
}

void Connection::on_response_complete(bool keep_alive) {
  continue_pending_ = false;
  // A body we have not read cannot be skipped safely on a persistent connection: close.
  keep_alive_after_ =
      keep_alive && !worker_.draining() && body_state_ == BodyState::Done && !client_eof_;
  flush();
  exchange_done_pending_ = true;
  if (!in_input_) event_active(deferred_, 0, 0);  // else process_input's loop retires it
}

void Connection::on_deferred(int /*fd*/, short /*what*/, void* arg) {
  auto* self = static_cast<Connection*>(arg);
  if (self->delete_scheduled_) {
    if (self->handed_over_) {
      delete self;  // the Worker already tracks the HTTP/2 session instead
    } else {
      self->worker_.on_connection_closed(self);  // deletes self
    }
    return;
  }
  if (self->exchange_done_pending_) self->after_exchange();
  if (self->resume_pending_ && self->phase_ == Phase::Exchange) {
    self->resume_pending_ = false;
    self->process();
  }
}

void Connection::after_exchange() {
  if (finish_exchange()) process();
}

bool Connection::finish_exchange() {
  exchange_done_pending_ = false;
  retire_exchange();  // writes the access-log record
  ++requests_served_;
  if (phase_ == Phase::Closed) return false;
  if (!keep_alive_after_) {
    close_after_flush();
    return false;
  }
  parser_.reset();
  phase_ = Phase::Head;
  request_bytes_ = 0;
  clear_body_timeout();
  evbuffer* in = bufferevent_get_input(bev_);
  arm_timer(evbuffer_get_length(in) > 0 ? TimerMode::Header : TimerMode::Idle);
  return true;
}

// A filler's viewer is done or gone: the Worker keeps the exchange until its cache fill ends.
void Connection::retire_exchange() {
  if (exchange_ && exchange_->fill_in_progress()) {
    exchange_->detach();
    worker_.adopt(std::move(exchange_));
  }
  exchange_.reset();
}

void Connection::send_error(int status) {
  if (phase_ == Phase::Closed || phase_ == Phase::Closing || phase_ == Phase::Lingering) return;
  if (exchange_ && exchange_->response_started()) {
    close_now();
    return;
  }
  if (exchange_) {
    exchange_->fail_before_response(status);
    // fail_before_response queued the response and called on_response_complete.
    keep_alive_after_ = false;
    return;
  }
  std::string id;
  worker_.ids().next(id);
  LocalResponse r;
  r.status = status;
  r.close = true;
  r.request_id = id;
  r.pop = worker_.snapshot()->model->server.pop;
  write_error_response(output(), r);
  close_after_flush();
}

void Connection::close_after_flush() {
  if (phase_ == Phase::Closed) return;
  phase_ = Phase::Closing;
  disarm_timer();
  flush();  // TLS: hand the staged bytes over
  bufferevent_setwatermark(bev_, EV_WRITE, 0, 0);
  if (tls_) {
    // OpenSSL's bufferevent writes (never raw bytes from here); on_write lingers once it is done.
    if (evbuffer_get_length(bufferevent_get_output(bev_)) == 0) begin_linger();
    return;
  }
  if (flush_now(bev_, files_in_output_)) begin_linger();
}

// Lingering close: after the last response byte, half-close and discard what the client still
// sends for a moment, so unread request bytes do not turn our FIN into a RST that could destroy
// the response in flight (the problem nginx's lingering_close solves).
void Connection::begin_linger() {
  // TLS: close_notify first (RFC 8446 §6.1), written straight to the socket (output is empty).
  if (tls_) SSL_shutdown(bufferevent_openssl_get_ssl(bev_));
  int fd = bufferevent_getfd(bev_);
  if (fd < 0 || ::shutdown(fd, SHUT_WR) != 0) {
    close_now();
    return;
  }
  phase_ = Phase::Lingering;
  bufferevent_set_timeouts(bev_, nullptr, nullptr);
  set_read_timeout(nullptr);
  arm_timer(TimerMode::Linger);
  evbuffer* in = bufferevent_get_input(bev_);
  evbuffer_drain(in, evbuffer_get_length(in));
  if (read_eof_) {
    close_now();  // the client already closed its side: nothing to linger for
    return;
  }
  update_reading();
}

void Connection::on_write(bufferevent* /*bev*/, void* arg) {
  auto* self = static_cast<Connection*>(arg);
  if (!self->tls_) write_drained(self->bev_);
  if (self->phase_ == Phase::Closing) {
    if (evbuffer_get_length(bufferevent_get_output(self->bev_)) == 0) self->begin_linger();
    return;
  }
  if (self->exchange_) self->exchange_->on_downstream_drained();
  if (self->phase_ == Phase::Head) self->process();
}

void Connection::on_event(bufferevent* /*bev*/, short what, void* arg) {
  auto* self = static_cast<Connection*>(arg);
  if (what & BEV_EVENT_CONNECTED) {
    tls_handshake_done(self->bev_);
    self->on_handshake_done();
    return;
  }
  if (what & BEV_EVENT_TIMEOUT) {
    if ((what & BEV_EVENT_READING) && self->phase_ == Phase::Exchange &&
        self->body_state_ == BodyState::Reading) {
      self->send_error(408);  // client_body_timeout
    } else {
      self->close_now();  // a client that stopped reading our response
    }
    return;
  }
  if (what & BEV_EVENT_ERROR) {
    self->close_now();
    return;
  }
  if (what & BEV_EVENT_EOF) {
    self->read_eof_ = true;
    self->update_reading();
    self->on_client_eof();
  }
}

void Connection::close_now() {
  if (phase_ == Phase::Closed) return;
  PORTICO_DEBUG("connection %s:%u: closed in phase %s", client_ip_.c_str(), client_port_,
                phase_name());
  phase_ = Phase::Closed;
  timer_.cancel();
  if (exchange_) exchange_->cancel();
  if (rev_) {
    event_free(rev_);
    rev_ = nullptr;
    reading_ = false;
  }
  if (bev_) {
    bufferevent_free(bev_);
    bev_ = nullptr;
  }
  delete_scheduled_ = true;
  event_active(deferred_, 0, 0);
}

}  // namespace portico::proxy
