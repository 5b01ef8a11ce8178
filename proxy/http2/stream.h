// http2::Stream: one HTTP/2 request stream as an Exchange's Downstream. The request's pseudo-
// header and header fields are written out as an HTTP/1.1 head and run through the same strict
// http1::RequestParser the HTTP/1.1 side uses (RFC 9113 §8.3.1: :authority becomes Host; §8.2.3:
// cookie fields are joined with "; "), so routing, caching and origins see identical requests.
// The Exchange answers in HTTP/1.1 bytes; the stream parses them back with http1::ResponseParser
// into a HEADERS frame (connection-specific fields dropped, RFC 9113 §8.2.2) and DATA frames,
// moving Content-Length bodies between evbuffers without copying. Loop thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/http.h"
#include "proxy/downstream.h"
#include "proxy/http1/parser.h"

struct evbuffer;

namespace portico::proxy {
class Exchange;
}

namespace portico::proxy::http2 {

class Session;

class Stream final : public Downstream, public http1::ResponseEvents {
 public:
  Stream(Session& session, int32_t id);
  ~Stream() override;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  int32_t id() const { return id_; }

  // ---- from the session (nghttp2 callbacks) ----
  // One request field. Returns false when the field list is over the limit.
  bool add_field(std::string_view name, std::string_view value);
  // The request head is complete: parse it and start the Exchange.
  void on_request_head(bool end_stream);
  void on_request_data(const uint8_t* data, size_t len);
  void on_request_end();
  // nghttp2 closed the stream (done, or reset by either side). Cancels or retires the exchange.
  void on_closed();
  // Deferred work: convert the exchange's output, feed waiting request body, retire a finished
  // exchange, tell a paused exchange the output drained.
  void run();
  // nghttp2's data source: how many DATA bytes are ready (NO_COPY), EOF when all are.
  long read_data(size_t max, uint32_t* flags);
  // Writes `length` DATA payload bytes after the frame header into `out`.
  void write_data(evbuffer* out, size_t length);
  // The session sent DATA: notify a paused exchange once below the low watermark.
  void after_send();

  // ---- Downstream (the Exchange) ----
  Worker& worker() override;
  evbuffer* output() override { return out_; }
  const std::string& listener_name() const override;
  const std::string& client_ip() const override;
  uint16_t client_port() const override;
  uint16_t local_port() const override;
  bool secure() const override;
  const char* protocol_version() const override { return "HTTP/2.0"; }
  bool output_full() const override;
  void flush() override;
  void send_continue_if_expected() override;
  void resume_body() override;
  void on_response_complete(bool keep_alive) override;
  bool request_body_done() const override { return body_done_; }
  uint64_t request_bytes() const override { return request_bytes_; }
  void close_now() override;

 private:
  // http1::ResponseEvents: the exchange's own HTTP/1.1 output parsed back.
  void on_head(core::ResponseHead&& head) override;
  void on_body(std::string_view data) override;
  void on_complete() override;

  void respond_error(int status);
  void pump_output();
  void feed_body();
  void retire_exchange();
  void reset(uint32_t error_code);

  Session& session_;
  int32_t id_;
  std::unique_ptr<Exchange> exchange_;
  // Request head being collected.
  std::string method_;
  std::string path_;
  std::string authority_;
  std::string fields_;  // "name: value\r\n" lines
  std::string cookie_;
  size_t field_bytes_ = 0;
  bool has_content_length_ = false;
  bool expect_continue_ = false;
  // Request body: bytes the exchange has not taken yet, and how it takes them.
  evbuffer* body_in_;
  bool chunked_in_ = false;
  bool body_done_ = true;
  bool body_end_pending_ = false;  // END_STREAM seen; tell the exchange once body_in_ is empty
  uint64_t request_bytes_ = 0;
  // Response.
  evbuffer* out_;   // the exchange's HTTP/1.1 bytes
  evbuffer* data_;  // body bytes waiting for DATA frames
  http1::ResponseParser rparser_;
  std::optional<core::ResponseHead> head_;
  core::BodyFraming framing_ = core::BodyFraming::None;
  uint64_t remaining_ = 0;
  bool submitted_ = false;        // HEADERS submitted
  bool body_complete_ = false;    // every body byte is in data_
  bool data_deferred_ = false;    // read_data returned DEFERRED
  bool response_done_ = false;    // the exchange called on_response_complete
  bool exchange_paused_ = false;  // output_full() was seen true
  bool closed_ = false;
  bool reset_sent_ = false;
  bool continue_sent_ = false;
};

}  // namespace portico::proxy::http2
