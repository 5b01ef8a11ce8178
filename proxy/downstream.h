// Downstream: what an Exchange sees of its viewer, whether an HTTP/1.1 connection (Connection) or
// one HTTP/2 stream (http2::Stream). The exchange writes its response as HTTP/1.1 bytes into
// output(); an HTTP/1.1 connection sends them as they are and an HTTP/2 stream turns them into
// HEADERS and DATA frames, so both protocols share one request pipeline and behave identically
// at the application level. ClientConnection: what the Worker tracks of each accepted socket.
// Loop thread only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

struct evbuffer;
struct ssl_ctx_st;

namespace portico::proxy {

class Worker;

// How a listener's accepted connections start.
struct ListenerOptions {
  ssl_ctx_st* tls = nullptr;  // HTTPS listener: OpenSSL context (owned by tls::Manager)
  bool http2 = false;         // ALPN h2 (HTTPS) or h2c prior knowledge (HTTP)
};

class Downstream {
 public:
  virtual ~Downstream() = default;

  virtual Worker& worker() = 0;
  // Where the response goes, serialised as HTTP/1.1 (status line, fields, body; chunked when the
  // exchange chose chunked framing).
  virtual evbuffer* output() = 0;
  virtual const std::string& listener_name() const = 0;
  virtual const std::string& client_ip() const = 0;
  virtual uint16_t client_port() const = 0;
  // The port this connection was accepted on (for X-Forwarded-Port).
  virtual uint16_t local_port() const = 0;
  // The viewer came over TLS (HTTPS listener).
  virtual bool secure() const = 0;
  // "HTTP/1.0", "HTTP/1.1" or "HTTP/2.0" (CloudFront's cs-protocol-version).
  virtual const char* protocol_version() const = 0;
  // Bytes queued for the viewer beyond which producers should pause.
  virtual bool output_full() const = 0;
  // Sends queued output now.
  virtual void flush() = 0;
  // Zero-copy write-first: when nothing is queued, writes `a` then `b` straight from the caller's
  // memory with one call and returns how many bytes the kernel took (the caller queues the rest
  // through output()). 0 when this downstream cannot (TLS, HTTP/2, output already queued) or the
  // socket takes nothing now.
  virtual size_t send_direct(std::string_view /*a*/, std::string_view /*b*/) { return 0; }
  // Sends "100 Continue" if the request asked for it and nothing was sent yet (RFC 9110 §10.1.1).
  virtual void send_continue_if_expected() = 0;
  // The exchange can take request body bytes again (it stopped taking them via body_wanted()).
  virtual void resume_body() = 0;
  // The whole response is queued. keep_alive=false: HTTP/1 closes after flushing.
  virtual void on_response_complete(bool keep_alive) = 0;
  // True when the request body has been fully read (or there was none).
  virtual bool request_body_done() const = 0;
  // Bytes received from the viewer for the current request (head + body).
  virtual uint64_t request_bytes() const = 0;
  // The exchange is about to put file segments (sendfile) into output().
  virtual void output_holds_files() {}
  // Aborts the response: HTTP/1 closes the connection, HTTP/2 resets the stream.
  virtual void close_now() = 0;
};

class ClientConnection {
 public:
  virtual ~ClientConnection() = default;
  // No request in progress and nothing buffered: safe to close when draining.
  virtual bool idle() const = 0;
  // Stops all I/O now and schedules deletion through Worker::on_connection_closed.
  virtual void close_now() = 0;
  // Graceful shutdown began: HTTP/2 sends GOAWAY; HTTP/1 closes after the current response.
  virtual void begin_drain() {}
};

}  // namespace portico::proxy
