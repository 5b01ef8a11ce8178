// Connection: one downstream HTTP/1.1 connection (RFC 9112): owns the socket's bufferevent, the
// request parser and at most one Exchange at a time (pipelined requests wait in the input buffer,
// bounded by the read high watermark). Runs on its worker's loop thread. Destruction is deferred:
// close_now() stops all I/O at once and the worker deletes the object from a later callback, so
// an Exchange may call close_now() from inside its own callbacks.
#pragma once

#include <sys/socket.h>

#include <memory>
#include <optional>
#include <string>

#include "core/loop.h"
#include "proxy/exchange.h"
#include "proxy/http1/parser.h"

struct bufferevent;
struct evbuffer;
struct event;

namespace portico::proxy {

class Worker;

class Connection final : public http1::RequestEvents {
 public:
  Connection(Worker& worker, int fd, std::string listener_name, const sockaddr* peer,
             socklen_t peer_len);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  // True when no request is in progress and no request bytes are buffered.
  bool idle() const;
  // Stops all I/O now (no flush) and schedules deletion.
  void close_now();

  // For the Exchange (loop thread):
  Worker& worker() { return worker_; }
  evbuffer* output();
  const std::string& listener_name() const { return listener_name_; }
  const std::string& client_ip() const { return client_ip_; }
  uint16_t client_port() const { return client_port_; }
  // The port this connection was accepted on (getsockname; for X-Forwarded-Port).
  uint16_t local_port() const;
  // Bytes queued for the client beyond which producers should pause.
  bool output_full() const;
  // Writes queued output now (write-first, see proxy/flush.h).
  void flush();
  // Sends "100 Continue" if the request asked for it and nothing was sent yet (RFC 9110 §10.1.1).
  void send_continue_if_expected();
  // The exchange can take request body bytes again (it stopped taking them via body_wanted()).
  void resume_body();
  // The whole response is queued. keep_alive=false closes after flushing.
  void on_response_complete(bool keep_alive);
  // True when the request body has been fully read (or there was none).
  bool request_body_done() const { return body_state_ == BodyState::Done; }
  // Bytes received from the client for the current request (head + body).
  uint64_t request_bytes() const { return request_bytes_; }

 private:
  enum class Phase : uint8_t { Head, Exchange, Closing, Lingering, Closed };
  enum class BodyState : uint8_t { Reading, Done };
  enum class TimerMode : uint8_t { None, Header, Idle, Linger };

  // http1::RequestEvents
  void on_head(core::RequestHead&& head) override;
  void on_body(std::string_view data) override;
  void on_complete() override;

  static void on_readable(int fd, short what, void* arg);
  static void on_write(bufferevent* bev, void* arg);
  static void on_event(bufferevent* bev, short what, void* arg);
  static void on_deferred(int fd, short what, void* arg);
  void process();
  void process_input();
  void update_reading();
  void set_read_timeout(const timeval* tv);
  void on_client_eof();
  bool process_body();
  void start_exchange();
  void after_exchange();
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
  bufferevent* bev_ = nullptr;  // output side only; reads are ours (rev_), see on_readable
  event* rev_ = nullptr;
  event* deferred_ = nullptr;
  std::string listener_name_;
  std::string client_ip_;
  uint16_t client_port_ = 0;
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
  bool exchange_done_pending_ = false;
  uint64_t body_remaining_ = 0;
  uint64_t request_bytes_ = 0;
  uint64_t requests_served_ = 0;
};

}  // namespace portico::proxy
