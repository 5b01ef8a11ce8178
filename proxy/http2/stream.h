// http2::Stream: one HTTP/2 request stream as an Exchange's Downstream. RFC 9113 §8.3.1:
// :authority becomes Host; §8.2.3: cookie fields are joined with "; ". An ordinary request (no
// body, no Content-Length / Expect / Host field, within the limits, a valid origin-form :path
// and :authority) becomes a core::RequestHead directly from the fields nghttp2 has checked; any
// other is written out as an HTTP/1.1 head and run through the same strict http1::RequestParser
// the HTTP/1.1 side uses, so routing, caching and origins see identical requests either way.
// The Exchange answers in HTTP/1.1 bytes. Those are Portico's own (an origin's head was parsed
// strictly and re-serialised by the exchange), so the stream scans the head in place into a
// HEADERS frame (connection-specific fields dropped, RFC 9113 §8.2.2) without building a
// message, and sends Content-Length and close-delimited bodies as DATA straight from the output
// buffer; only chunked bodies are decoded (into data_). Loop thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/http.h"
#include "proxy/downstream.h"

struct evbuffer;

namespace portico::proxy {
class Exchange;
}

namespace portico::proxy::http2 {

class Session;

class Stream final : public Downstream {
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
  // The request head from the collected fields: directly, or through http1::RequestParser.
  bool build_request(bool end_stream, core::RequestHead& out);
  bool direct_request(bool end_stream) const;
  void respond_error(int status);
  void pump_output();
  // Submits the head at the start of out_; false while it is incomplete (or on a reset).
  bool submit_head();
  // Moves decoded chunk data from out_ to data_; sets body_complete_ at the last chunk.
  bool decode_chunks();
  // Where DATA frames come from: data_ for chunked bodies, else out_ itself.
  evbuffer* body_source() const { return framing_ == core::BodyFraming::Chunked ? data_ : out_; }
  size_t body_ready() const;
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
  core::Headers fields_;  // Host (from :authority) first, then the regular fields
  std::string cookie_;
  size_t field_bytes_ = 0;
  bool host_added_ = false;
  bool unusual_ = false;  // a field the direct path leaves to the HTTP/1.1 parser
  bool has_content_length_ = false;
  bool expect_continue_ = false;
  // Request body: bytes the exchange has not taken yet (created with the first body byte).
  evbuffer* body_in_ = nullptr;
  bool chunked_in_ = false;
  bool body_done_ = true;
  bool body_end_pending_ = false;  // END_STREAM seen; tell the exchange once body_in_ is empty
  uint64_t request_bytes_ = 0;
  // Response.
  evbuffer* out_;             // the exchange's HTTP/1.1 bytes
  evbuffer* data_ = nullptr;  // decoded chunked body bytes waiting for DATA frames
  core::BodyFraming framing_ = core::BodyFraming::None;
  uint64_t remaining_ = 0;  // Length: body bytes not yet sent; Chunked: left in this chunk
  enum class ChunkState : uint8_t { Size, Data, DataEnd, Trailer };
  ChunkState chunk_state_ = ChunkState::Size;
  bool head_request_ = false;
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
