// http2::Session: one downstream HTTP/2 connection (RFC 9113) on nghttp2, over TLS (ALPN "h2") or
// cleartext with prior knowledge (h2c). Owns the bufferevent and the nghttp2 session; each
// request stream is an http2::Stream feeding the same Exchange pipeline as HTTP/1.1.
//
// nghttp2 is never entered from an Exchange's call stack: streams only mark themselves dirty and
// schedule(); the session converts their output and calls nghttp2_session_send from its own
// deferred callback, so a stream can never be closed (and its Exchange deleted) under the
// Exchange's feet. Protections: SETTINGS_MAX_CONCURRENT_STREAMS, a header list size limit,
// nghttp2's rapid-reset token bucket (CVE-2023-44487), its CONTINUATION limit (CVE-2024-27316
// class) and its SETTINGS/PING ack flood limit; a connection stalled on a zero flow-control window
// is closed after idle_timeout. Each ends the connection with GOAWAY; other connections are
// untouched. Loop thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/loop.h"
#include "proxy/downstream.h"

struct bufferevent;
struct evbuffer;
struct event;
struct nghttp2_session;

namespace portico::proxy {
class Worker;
}

namespace portico::proxy::http2 {

class Stream;

class Session final : public ClientConnection {
 public:
  Session(Worker& worker, bufferevent* bev, bool tls, std::string listener_name,
          std::string client_ip, uint16_t client_port);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Sends our SETTINGS and processes any bytes the HTTP/1 side already read (the preface).
  void start();
  bool idle() const override;
  void close_now() override;
  void begin_drain() override;

  // For streams:
  Worker& worker() { return worker_; }
  const std::string& listener_name() const { return listener_name_; }
  const std::string& client_ip() const { return client_ip_; }
  uint16_t client_port() const { return client_port_; }
  uint16_t local_port() const;
  bool secure() const { return tls_; }
  nghttp2_session* ng() { return ng_; }
  // The stream has new output, request body room, or finished its exchange: handle it from the
  // session's deferred callback.
  void mark_dirty(int32_t stream_id);
  // Stream-level and connection-level flow control: `n` request body bytes were taken.
  void consume(int32_t stream_id, size_t n);

 private:
  friend struct Callbacks;

  // Where nghttp2's output goes: the socket's output on cleartext, a staging buffer handed to
  // OpenSSL once per send pass on TLS; and how much is waiting in both.
  evbuffer* sink();
  size_t queued() const;
  void run();
  void on_readable();
  void send();
  void terminate(uint32_t error_code);
  void finish_if_done();
  void on_timer();
  void stream_closed(int32_t stream_id, uint32_t error_code);
  static void on_read(bufferevent* bev, void* arg);
  static void on_write(bufferevent* bev, void* arg);
  static void on_event(bufferevent* bev, short what, void* arg);
  static void on_deferred(int fd, short what, void* arg);

  Worker& worker_;
  bufferevent* bev_;
  event* deferred_ = nullptr;
  evbuffer* staging_ = nullptr;
  nghttp2_session* ng_ = nullptr;
  core::Timer timer_;
  std::string listener_name_;
  std::string client_ip_;
  uint16_t client_port_;
  mutable uint16_t local_port_ = 0;  // 0 until first asked
  bool tls_;
  bool closed_ = false;
  bool delete_scheduled_ = false;
  bool draining_ = false;
  bool terminating_ = false;
  bool in_run_ = false;
  uint64_t written_ = 0;  // bytes handed to the socket, for stall detection
  uint64_t written_at_check_ = 0;
  std::vector<int32_t> dirty_;
  std::vector<int32_t> run_ids_;  // run()'s scratch
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
};

}  // namespace portico::proxy::http2
