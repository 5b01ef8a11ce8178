#include "proxy/http2/session.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/block_cache.h"
#include "core/log.h"
#include "proxy/flush.h"
#include "proxy/http2/stream.h"
#include "proxy/worker.h"

namespace portico::proxy::http2 {
namespace {

// Our SETTINGS (RFC 9113 §6.5.2). 100 concurrent streams is nginx's and h2o's default; the
// stream window matches the HTTP/1 read high watermark, so one stream buffers at most as much
// request body as one HTTP/1 connection.
constexpr uint32_t kMaxConcurrentStreams = 100;
constexpr int32_t kStreamWindow = 256 * 1024;
constexpr int32_t kConnectionWindow = 16 * 1024 * 1024;
// Bytes queued for the socket beyond which nghttp2 is told to wait (backpressure to streams).
constexpr size_t kOutputHighWatermark = 64 * 1024;
constexpr size_t kOutputLowWatermark = 16 * 1024;
constexpr std::chrono::milliseconds kGoawayGrace{1000};
// Largest pass joined into one TLS write (see send()).
constexpr size_t kMaxJoin = 128 * 1024;

}  // namespace

// The nghttp2 callbacks, as static members of a friend so they reach the session's privates.
struct Callbacks {
  static Session& self(void* user) { return *static_cast<Session*>(user); }
  static Stream* stream(Session& s, int32_t id) {
    auto it = s.streams_.find(id);
    return it == s.streams_.end() ? nullptr : it->second.get();
  }

  static ssize_t send(nghttp2_session* /*ng*/, const uint8_t* data, size_t length, int /*flags*/,
                      void* user) {
    Session& s = self(user);
    if (s.queued() >= kOutputHighWatermark) return NGHTTP2_ERR_WOULDBLOCK;
    evbuffer_add(s.sink(), data, length);
    return static_cast<ssize_t>(length);
  }

  static int send_data(nghttp2_session* /*ng*/, nghttp2_frame* frame, const uint8_t* framehd,
                       size_t length, nghttp2_data_source* /*source*/, void* user) {
    Session& s = self(user);
    if (s.queued() >= kOutputHighWatermark) return NGHTTP2_ERR_WOULDBLOCK;
    evbuffer* out = s.sink();
    Stream* st = stream(s, frame->hd.stream_id);
    if (st == nullptr) return NGHTTP2_ERR_CALLBACK_FAILURE;
    evbuffer_add(out, framehd, 9);
    st->write_data(out, length);
    return 0;
  }

  static ssize_t read_data(nghttp2_session* /*ng*/, int32_t stream_id, uint8_t* /*buf*/,
                           size_t length, uint32_t* flags, nghttp2_data_source* /*source*/,
                           void* user) {
    Stream* st = stream(self(user), stream_id);
    if (st == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return st->read_data(length, flags);
  }

  static int begin_headers(nghttp2_session* /*ng*/, const nghttp2_frame* frame, void* user) {
    Session& s = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    int32_t id = frame->hd.stream_id;
    s.streams_.emplace(id, std::make_unique<Stream>(s, id));
    return 0;
  }

  static int header(nghttp2_session* /*ng*/, const nghttp2_frame* frame, const uint8_t* name,
                    size_t namelen, const uint8_t* value, size_t valuelen, uint8_t /*flags*/,
                    void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    Stream* st = stream(self(user), frame->hd.stream_id);
    if (st == nullptr) return 0;  // trailers of a stream we no longer track
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers: ignored
    bool ok = st->add_field(std::string_view(reinterpret_cast<const char*>(name), namelen),
                            std::string_view(reinterpret_cast<const char*>(value), valuelen));
    // Over the header list limit: reset this stream only (HPACK state stays in sync).
    return ok ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }

  static int frame_recv(nghttp2_session* /*ng*/, const nghttp2_frame* frame, void* user) {
    Session& s = self(user);
    Stream* st = stream(s, frame->hd.stream_id);
    if (st == nullptr) return 0;
    bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS) {
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        st->on_request_head(end_stream);
      } else if (end_stream) {
        st->on_request_end();  // trailers end the body
      }
    } else if (frame->hd.type == NGHTTP2_DATA && end_stream) {
      st->on_request_end();
    }
    return 0;
  }

  static int data_chunk(nghttp2_session* ng, uint8_t /*flags*/, int32_t stream_id,
                        const uint8_t* data, size_t len, void* user) {
    Stream* st = stream(self(user), stream_id);
    if (st == nullptr) {
      nghttp2_session_consume(ng, stream_id, len);
      return 0;
    }
    st->on_request_data(data, len);
    return 0;
  }

  static int stream_close(nghttp2_session* /*ng*/, int32_t stream_id, uint32_t error_code,
                          void* user) {
    self(user).stream_closed(stream_id, error_code);
    return 0;
  }
};

Session::Session(Worker& worker, bufferevent* bev, bool tls, std::string listener_name,
                 std::string client_ip, uint16_t client_port)
    : worker_(worker),
      bev_(bev),
      timer_(worker.loop(), [this] { on_timer(); }),
      listener_name_(std::move(listener_name)),
      client_ip_(std::move(client_ip)),
      client_port_(client_port),
      tls_(tls) {
  deferred_ = event_new(worker_.loop().base(), -1, 0, &Session::on_deferred, this);
  staging_ = evbuffer_new();
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_send_callback(cbs, &Callbacks::send);
  nghttp2_session_callbacks_set_send_data_callback(cbs, &Callbacks::send_data);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Callbacks::begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Callbacks::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Callbacks::frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Callbacks::data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Callbacks::stream_close);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Request body flow control follows what the exchanges take (consume()).
  nghttp2_option_set_no_auto_window_update(opt, 1);
  // nghttp2 allocates per stream and per frame: from the block cache like libevent's chains.
  static nghttp2_mem mem{nullptr, [](size_t n, void*) { return core::block_alloc(n); },
                         [](void* p, void*) { core::block_free(p); },
                         [](size_t count, size_t size, void*) -> void* {
                           if (size != 0 && count > SIZE_MAX / size) return nullptr;
                           void* p = core::block_alloc(count * size);
                           if (p != nullptr) std::memset(p, 0, count * size);
                           return p;
                         },
                         [](void* p, size_t n, void*) { return core::block_realloc(p, n); }};
  nghttp2_session_server_new3(&ng_, cbs, this, opt, &mem);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
}

Session::~Session() {
  timer_.cancel();
  // Streams first: their exchanges may still call into the session while they retire.
  for (auto& [id, st] : streams_) st->on_closed();
  streams_.clear();
  if (ng_) nghttp2_session_del(ng_);
  if (bev_) bufferevent_free(bev_);
  event_free(deferred_);
  evbuffer_free(staging_);
}

void Session::start() {
  const config::Server& cfg = worker_.snapshot()->model->server;
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, cfg.max_header_bytes},
  };
  nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  bufferevent_setcb(bev_, &Session::on_read, &Session::on_write, &Session::on_event, this);
  bufferevent_setwatermark(bev_, EV_WRITE, kOutputLowWatermark, 0);
  bufferevent_setwatermark(bev_, EV_READ, 0, 0);
  // The write timeout catches a client that stopped reading at the TCP level.
  bufferevent_set_timeouts(bev_, nullptr, worker_.loop().common_timeout(cfg.idle_timeout));
  if (tls_) {
    bufferevent_enable(bev_, EV_READ | EV_WRITE);  // OpenSSL's bufferevent writes by itself
  } else {
    bufferevent_enable(bev_, EV_READ);
    bufferevent_disable(bev_, EV_WRITE);  // write-first, see proxy/flush.h
  }
  timer_.arm(cfg.idle_timeout);
  on_readable();  // the preface (and maybe more) may already be in the input
}

// Never "idle" for the worker's drain: even without streams the session ends with a GOAWAY
// (begin_drain) rather than a bare close, so the client knows no request was lost.
bool Session::idle() const { return false; }

evbuffer* Session::sink() { return tls_ ? staging_ : bufferevent_get_output(bev_); }

size_t Session::queued() const {
  return evbuffer_get_length(staging_) + evbuffer_get_length(bufferevent_get_output(bev_));
}

uint16_t Session::local_port() const {
  if (local_port_ == 0) local_port_ = local_port_of(bev_);
  return local_port_;
}

void Session::mark_dirty(int32_t stream_id) {
  dirty_.push_back(stream_id);
  if (!in_run_ && !closed_) event_active(deferred_, 0, 0);
}

void Session::consume(int32_t stream_id, size_t n) {
  if (ng_ != nullptr && n > 0) nghttp2_session_consume(ng_, stream_id, n);
}

void Session::on_read(bufferevent* /*bev*/, void* arg) {
  static_cast<Session*>(arg)->on_readable();
}

void Session::on_readable() {
  if (closed_) return;
  evbuffer* in = bufferevent_get_input(bev_);
  while (evbuffer_get_length(in) > 0 && !terminating_) {
    evbuffer_iovec vec{};
    if (evbuffer_peek(in, -1, nullptr, &vec, 1) < 1) break;
    ssize_t rv =
        nghttp2_session_mem_recv(ng_, static_cast<const uint8_t*>(vec.iov_base), vec.iov_len);
    if (rv < 0) {
      // Fatal to the connection: bad preface, a flood (NGHTTP2_ERR_FLOODED), a protocol error.
      PORTICO_DEBUG("http2 %s:%u: %s", client_ip_.c_str(), client_port_,
                    nghttp2_strerror(static_cast<int>(rv)));
      worker_.stats().parse_errors.add();
      terminate(rv == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
      evbuffer_drain(in, evbuffer_get_length(in));
      break;
    }
    evbuffer_drain(in, static_cast<size_t>(rv));
  }
  if (terminating_) evbuffer_drain(in, evbuffer_get_length(in));
  run();
}

// Sends what nghttp2 has queued, up to the output watermark. On cleartext the bytes are written
// at once (write-first); while the kernel takes everything nghttp2 is asked for more.
void Session::send() {
  for (int i = 0; i < 64 && !closed_; ++i) {
    int rv = nghttp2_session_send(ng_);
    if (rv != 0) {
      PORTICO_DEBUG("http2 %s:%u: send: %s", client_ip_.c_str(), client_port_,
                    nghttp2_strerror(rv));
      close_now();
      return;
    }
    evbuffer* out = bufferevent_get_output(bev_);
    if (tls_) {
      // One hand-over per pass, joined into one chain (bounded by the output watermark):
      // OpenSSL's bufferevent then writes large records instead of one SSL_write (and one
      // syscall) per frame, later in this loop iteration; on_write asks for more.
      written_ += tls_hand_over(bev_, staging_, kMaxJoin);
      return;
    }
    size_t before = evbuffer_get_length(out);
    flush_now(bev_);
    size_t after = evbuffer_get_length(out);
    written_ += before - after;
    // Kernel full: EV_WRITE is on and on_write continues. Else go on while nghttp2 has more.
    if (after > 0 || nghttp2_session_want_write(ng_) == 0) return;
  }
}

void Session::run() {
  if (closed_) return;
  in_run_ = true;
  for (int round = 0; round < 16 && !closed_; ++round) {
    run_ids_.clear();
    run_ids_.swap(dirty_);  // both keep their capacity: no allocation per pass
    for (int32_t id : run_ids_) {
      auto it = streams_.find(id);
      if (it != streams_.end()) it->second->run();
    }
    send();
    if (closed_) break;
    run_ids_.clear();
    for (auto& [id, st] : streams_) run_ids_.push_back(id);
    for (int32_t id : run_ids_) {
      auto it = streams_.find(id);
      if (it != streams_.end()) it->second->after_send();
    }
    if (dirty_.empty()) break;
  }
  in_run_ = false;
  if (closed_) return;
  if (!dirty_.empty()) event_active(deferred_, 0, 0);
  finish_if_done();
}

void Session::stream_closed(int32_t stream_id, uint32_t /*error_code*/) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  std::unique_ptr<Stream> st = std::move(it->second);
  streams_.erase(it);
  st->on_closed();
  if (streams_.empty() && !closed_ && !terminating_) {
    timer_.arm(worker_.snapshot()->model->server.idle_timeout);
    written_at_check_ = written_;
  }
}

// GOAWAY with `error_code` (RFC 9113 §6.8), then close once it is written.
// Reading stops at once and the GOAWAY gets a short grace period to be written: a flooding
// client that does not read must not keep the connection (or this worker's CPU) busy.
void Session::terminate(uint32_t error_code) {
  if (terminating_ || closed_) return;
  terminating_ = true;
  nghttp2_session_terminate_session(ng_, error_code);
  bufferevent_disable(bev_, EV_READ);
  bufferevent_setwatermark(bev_, EV_WRITE, 0, 0);
  timer_.arm(kGoawayGrace);
}

void Session::begin_drain() {
  if (draining_ || closed_) return;
  draining_ = true;
  nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  bufferevent_setwatermark(bev_, EV_WRITE, 0, 0);
  run();
}

void Session::finish_if_done() {
  if (closed_) return;
  bool done = nghttp2_session_want_read(ng_) == 0 && nghttp2_session_want_write(ng_) == 0;
  if (draining_ && streams_.empty() && nghttp2_session_want_write(ng_) == 0) done = true;
  if (!done) return;
  if (evbuffer_get_length(bufferevent_get_output(bev_)) == 0) {
    close_now();
  } else {
    bufferevent_setwatermark(bev_, EV_WRITE, 0, 0);  // on_write fires once it is all written
    if (!tls_) bufferevent_enable(bev_, EV_WRITE);
  }
}

void Session::on_timer() {
  if (closed_) return;
  if (terminating_) {
    close_now();  // the GOAWAY had its grace period
    return;
  }
  const config::Server& cfg = worker_.snapshot()->model->server;
  if (streams_.empty()) {
    terminate(NGHTTP2_NO_ERROR);  // idle keep-alive timeout
    run();
    return;
  }
  // Open streams but not one byte written for a whole idle_timeout: a client holding its
  // flow-control window at zero (or not reading) while responses wait. Cut it off.
  if (written_ == written_at_check_) {
    bool waiting = evbuffer_get_length(bufferevent_get_output(bev_)) > 0 ||
                   nghttp2_session_want_write(ng_) != 0;
    for (auto& [id, st] : streams_) {
      if (waiting) break;
      waiting = st->output_full() || nghttp2_session_get_stream_remote_window_size(ng_, id) <= 0;
    }
    if (waiting) {
      PORTICO_DEBUG("http2 %s:%u: no progress for idle_timeout, closing", client_ip_.c_str(),
                    client_port_);
      terminate(NGHTTP2_NO_ERROR);
      run();
      return;
    }
  }
  written_at_check_ = written_;
  timer_.arm(cfg.idle_timeout);
}

void Session::on_write(bufferevent* /*bev*/, void* arg) {
  auto* self = static_cast<Session*>(arg);
  if (!self->tls_) write_drained(self->bev_);
  if (self->closed_) return;
  self->run();
}

void Session::on_event(bufferevent* /*bev*/, short what, void* arg) {
  auto* self = static_cast<Session*>(arg);
  (void)what;  // EOF, error or a write timeout: the connection is over either way
  self->close_now();
}

void Session::on_deferred(int /*fd*/, short /*what*/, void* arg) {
  auto* self = static_cast<Session*>(arg);
  if (self->delete_scheduled_) {
    self->worker_.on_connection_closed(self);  // deletes self
    return;
  }
  self->run();
}

void Session::close_now() {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  // Streams go first (their exchanges are cancelled or handed to the worker).
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, st] : streams) st->on_closed();
  streams.clear();
  if (bev_) {
    bufferevent_free(bev_);
    bev_ = nullptr;
  }
  delete_scheduled_ = true;
  event_active(deferred_, 0, 0);
}

}  // namespace portico::proxy::http2
