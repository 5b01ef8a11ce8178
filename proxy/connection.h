// Connection: one downstream HTTP/1.1 connection (RFC 9112): owns the socket's bufferevent (plain,
// or OpenSSL's for HTTPS listeners), the request parser and at most one Exchange at a time
// (pipelined requests wait in the input buffer, bounded by the read high watermark). Runs on its
// worker's loop thread. Destruction is deferred: close_now() stops all I/O at once and the worker
// deletes the object from a later callback, so an Exchange may call close_now() from inside its
// own callbacks. A connection that turns out to speak HTTP/2 (ALPN "h2" after the TLS handshake,
// or the h2c prior-knowledge preface on a listener that allows it) hands its bufferevent to an
// http2::Session and retires.
#pragma once

#include <sys/socket.h>

#include <memory>
#include <optional>
#include <string>

#include "core/loop.h"
#include "proxy/downstream.h"
#include "proxy/exchange.h"
#include "proxy/http1/parser.h"

struct bufferevent;
struct evbuffer;
struct event;

namespace portico::proxy {

class Worker;

class Connection final : public Downstream, public ClientConnection, public http1::RequestEvents {
 public:
  Connection(Worker& worker, int fd, std::string listener_name, const sockaddr* peer,
             socklen_t peer_len, ListenerOptions options = {});
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  // ClientConnection: true when no request is in progress and no request bytes are buffered.
  bool idle() const override;
  // Stops all I/O now (no flush) and schedules deletion.
  void close_now() override;
  void output_holds_files() override { files_in_output_ = true; }

  // Downstream, for the Exchange (loop thread):
  Worker& worker() override { return worker_; }
  evbuffer* output() override;
  const std::string& listener_name() const override { return listener_name_; }
  const std::string& client_ip() const override { return client_ip_; }
  uint16_t client_port() const override { return client_port_; }
  uint16_t local_port() const override;
  bool secure() const override { return tls_; }
  const char* protocol_version() const override;
  bool output_full() const override;
  // Writes queued output now (write-first, see proxy/flush.h; OpenSSL's bufferevent writes
  // by itself).
  void flush() override;
  size_t send_direct(std::string_view a, std::string_view b) override;
  void send_continue_if_expected() override;
  void resume_body() override;
  void on_response_complete(bool keep_alive) override;
  bool request_body_done() const override { return body_state_ == BodyState::Done; }
  uint64_t request_bytes() const override { return request_bytes_; }

 private:
  enum class Phase : uint8_t { Head, Exchange, Closing, Lingering, Closed };
  enum class BodyState : uint8_t { Reading, Done };
  enum class TimerMode : uint8_t { None, Header, Idle, Linger };

  // http1::RequestEvents
  void on_head(std::unique_ptr<core::RequestHead> head) override;
  void on_body(std::string_view data) override;
  void on_complete() override;

  static void on_readable(int fd, short what, void* arg);
  static void on_tls_read(bufferevent* bev, void* arg);
  void on_handshake_done();
  bool maybe_h2c_preface();
  void hand_over_to_h2();
  static void on_write(bufferevent* bev, void* arg);
  static void on_event(bufferevent* bev, short what, void* arg);
  static void on_deferred(int fd, short what, void* arg);
  void process();
  void process_input();
  void process_input_loop();
  void update_reading();
  void set_read_timeout(const timeval* tv);
  void on_client_eof();
  bool process_body();
  void start_exchange();
  void after_exchange();
  // The finished exchange retired and the connection ready for the next request head; false when
  // the connection closes instead.
  bool finish_exchange();
  void retire_exchange();
  void send_error(int status);
  void close_after_flush();
  void begin_linger();
  void on_timer();
  void arm_timer(TimerMode mode);
  void disarm_timer();
  void clear_body_timeout();
  const char* phase_name() const;

  Worker& worker_;
  bufferevent* bev_ = nullptr;   // output side only; reads are ours (rev_), see on_readable
  evbuffer* staging_ = nullptr;  // TLS: response bytes until flush() (see output())
  event* rev_ = nullptr;
  event* deferred_ = nullptr;
  std::string listener_name_;
  std::string client_ip_;
  uint16_t client_port_ = 0;
  mutable uint16_t local_port_ = 0;  // 0 until first asked
  http1::Limits limits_;
  http1::RequestParser parser_;
  // On the heap rather than in place: an idle keep-alive connection then costs ~0.7 KiB instead of
  // ~1.9 KiB (10k idle connections must fit in 40 MiB), for two allocations per request.
  std::unique_ptr<core::RequestHead> pending_head_;
  std::unique_ptr<Exchange> exchange_;
  core::Timer timer_;
  Phase phase_ = Phase::Head;
  BodyState body_state_ = BodyState::Done;
  TimerMode timer_mode_ = TimerMode::Header;
  std::chrono::steady_clock::time_point timer_deadline_;
  std::chrono::steady_clock::time_point timer_fires_at_;
  bool chunked_body_ = false;
  bool continue_pending_ = false;
  bool client_eof_ = false;
  bool reading_ = false;
  bool read_eof_ = false;
  bool resume_pending_ = false;
  const timeval* read_timeout_ = nullptr;
  bool body_timeout_set_ = false;
  bool keep_alive_after_ = false;
  bool delete_scheduled_ = false;
  bool tls_ = false;
  bool files_in_output_ = false;  // sendfile segments may be queued: libevent writes them
  bool http2_ = false;            // ALPN h2 / h2c prior knowledge allowed on this listener
  bool handed_over_ = false;      // the bufferevent now belongs to an http2::Session
  int version_minor_ = 1;         // of the current request (access log)
  bool exchange_done_pending_ = false;
  bool in_input_ = false;  // inside process_input (see there)
  uint64_t body_remaining_ = 0;
  uint64_t request_bytes_ = 0;
  uint64_t requests_served_ = 0;
};

}  // namespace portico::proxy
