// HTTP/1.1 message parsers (RFC 9112) for the downstream (requests) and upstream (responses) sides.
// Codecs do no I/O: feed(bytes) fires callbacks. A parser is owned by one connection and runs on
// that connection's loop thread. Strict by design: anything that could smuggle or desynchronise
// (CL+TE, duplicate CL, obs-fold, bare CR/LF, bad tokens, bad chunk sizes) is an error, and the
// caller answers 400 (or the status in Error::status) and closes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/http.h"
#include "core/result.h"

namespace portico::proxy::http1 {

struct Limits {
  uint32_t max_request_line_bytes = 8'192;  // over -> 414
  uint32_t max_header_bytes = 65'536;       // whole head incl. request line; over -> 431
  uint32_t max_header_count = 100;          // over -> 431
  uint64_t max_body_bytes = 0;              // 0 = unlimited; declared or streamed over -> 413
};

enum class ParsePhase : uint8_t { Head, Body, Complete, Failed };

namespace detail {

// Implementation state shared by both parsers; not part of the public API.

// Line-scanning state for a message head. Offsets index the bytes presented to feed(), which the
// caller re-presents contiguously (plus new bytes) while the head is incomplete.
struct HeadScan {
  size_t line_start = 0;  // first byte of the next unparsed line
  size_t scanned = 0;     // bytes before this offset hold no LF beyond line_start
  size_t head_start = 0;  // first byte of the start line (after skipped empty lines)
  uint32_t empty_lines = 0;
  uint32_t field_count = 0;
  bool have_start_line = false;
};

// Framing-relevant fields seen while parsing a head.
struct FieldFacts {
  uint32_t host = 0;
  uint32_t content_length = 0;
  uint32_t transfer_encoding = 0;
  uint32_t expect = 0;
  uint32_t connection = 0;
  uint32_t host_index = 0;  // index of the first Host field
  uint32_t content_length_index = 0;
};

// Body decoder (RFC 9112 §6.3, §7.1): Content-Length, chunked (with trailers, discarded) or
// until-close bodies, from any split of the input. A tiny internal buffer holds a partial
// chunk-size or trailer line; data views handed to on_body point into the fed bytes.
class BodyDecoder {
 public:
  enum class Mode : uint8_t { Length, Chunked, UntilClose };
  void start(Mode mode, uint64_t length, uint64_t max_body_bytes, uint32_t max_trailer_bytes);
  // Consumes body bytes and fires events.on_body; stops right after the body ends.
  template <typename Events>
  size_t feed(std::string_view data, Events& events);
  bool done() const { return state_ == State::Done; }
  bool failed() const { return state_ == State::Failed; }
  bool until_close() const { return state_ == State::UntilClose; }
  // Valid when failed(): 400, 413 or 431, and a short reason.
  int error_status() const { return error_status_; }
  const char* error_detail() const { return error_detail_; }

 private:
  enum class State : uint8_t {
    Length,
    UntilClose,
    ChunkSize,
    ChunkData,
    ChunkCr,
    ChunkLf,
    Trailer,
    Done,
    Failed
  };
  bool take_line(std::string_view data, size_t& pos, size_t limit, std::string_view& line);
  bool on_size_line(std::string_view line);
  bool fail(int status, const char* detail);

  State state_ = State::Done;
  int error_status_ = 0;
  const char* error_detail_ = "";
  uint64_t remaining_ = 0;  // bytes left in the body (Length) or the current chunk
  uint64_t total_ = 0;      // chunk data seen so far
  uint64_t max_body_ = 0;   // 0 = unlimited
  uint32_t max_trailer_ = 0;
  uint32_t trailer_bytes_ = 0;
  std::string line_;  // partial chunk-size or trailer line
};

}  // namespace detail

// Receives parse events. on_head fires once per message, then on_body zero or more times with
// views into the fed bytes (valid only during the call), then on_complete once.
class RequestEvents {
 public:
  virtual ~RequestEvents() = default;
  virtual void on_head(std::unique_ptr<core::RequestHead> head) = 0;
  virtual void on_body(std::string_view data) = 0;
  virtual void on_complete() = 0;
};

class ResponseEvents {
 public:
  virtual ~ResponseEvents() = default;
  virtual void on_head(core::ResponseHead&& head) = 0;
  virtual void on_body(std::string_view data) = 0;
  virtual void on_complete() = 0;
};

// Checks shared with HTTP/2 (proxy/http2/stream.cc builds ordinary request heads itself from
// fields nghttp2 has already validated, RFC 9113 §8.2.1): an origin-form request-target's bytes
// (RFC 9112 §3.2: visible ASCII, no '#') and a Host / :authority value (uri-host [":" port]).
bool valid_origin_target(std::string_view target);
bool valid_host(std::string_view authority);

// Parses one request at a time.
//
// feed() contract:
//  - In phase Head the caller passes every unconsumed byte it holds, contiguously (the same bytes
//    again plus new ones after a 0 return). The parser returns 0 while the head is incomplete
//    (remembering how far it scanned, so trickled input costs O(n) overall), or the head's
//    length after firing on_head; it then stops, in phase Body or Complete (no body).
//  - In phase Body it consumes body bytes from any split of the input (chunk boundaries may fall
//    anywhere), fires on_body for data and on_complete at the end, and stops right after the
//    message: bytes of a pipelined next request are never consumed.
//  - On error it returns 0, enters Failed and error() tells why (Error::status = 400, 413, 414,
//    431, 501 or 505).
// reset() readies the parser for the next message on the same connection.
// Content-Length: 0 yields framing None (content_length 0), so on_complete follows on_head at once.
class RequestParser {
 public:
  RequestParser(const Limits& limits, RequestEvents& events);
  size_t feed(std::string_view data);
  void reset();
  ParsePhase phase() const;
  const core::Error& error() const;

 private:
  size_t feed_head(std::string_view data);
  size_t feed_body(std::string_view data);
  bool parse_request_line(std::string_view line);
  bool parse_target(std::string_view target);
  bool parse_field(std::string_view line);
  bool add_field(std::string_view name, std::string_view value);
  bool finish_head();
  bool fail(int status, const char* detail);

  Limits limits_;
  RequestEvents& events_;
  ParsePhase phase_ = ParsePhase::Head;
  detail::HeadScan scan_;
  detail::FieldFacts facts_;
  bool absolute_form_ = false;
  std::unique_ptr<core::RequestHead> head_;  // from the request line until on_head
  // The last valid origin-form Host value and its lower-cased authority (finish_head).
  std::string last_host_;
  std::string last_authority_;
  detail::BodyDecoder body_;
  core::Error error_;
};

// Parses responses; the caller tells it the request method first (HEAD answers have no body).
// 1xx interim responses other than 101 are consumed and skipped (RFC 9110 §15.2); 101 is an error
// (no upgrades through the proxy yet). feed_eof() ends an UntilClose body (→ on_complete) or
// reports a truncated message as an error. Same feed() contract as RequestParser, except that when
// interim responses were skipped but the final head is still incomplete, feed() returns the interim
// bytes (phase stays Head) and the caller re-presents the rest. Errors: side Upstream, kind
// ParseError (Reset when EOF arrives before any byte), Error::status 502.
class ResponseParser {
 public:
  explicit ResponseParser(ResponseEvents& events, uint32_t max_header_bytes = 65'536,
                          uint32_t max_header_count = 100);
  void set_request_method(core::Method method);
  size_t feed(std::string_view data);
  // Returns true when EOF legitimately completes the message.
  bool feed_eof();
  void reset();
  ParsePhase phase() const;
  const core::Error& error() const;

 private:
  size_t parse_one_head(std::string_view data);
  size_t feed_body(std::string_view data);
  bool parse_status_line(std::string_view line);
  bool parse_field(std::string_view line);
  bool add_field(std::string_view name, std::string_view value);
  bool finish_head();
  bool fail(core::ErrorKind kind, const char* detail);
  void reset_head();

  ResponseEvents& events_;
  uint32_t max_header_bytes_;
  uint32_t max_header_count_;
  core::Method request_method_ = core::Method::Get;
  ParsePhase phase_ = ParsePhase::Head;
  bool seen_bytes_ = false;  // any byte fed since reset() (feed_eof: Reset vs truncated)
  detail::HeadScan scan_;
  detail::FieldFacts facts_;
  core::ResponseHead head_;
  detail::BodyDecoder body_;
  core::Error error_;
};

}  // namespace portico::proxy::http1
