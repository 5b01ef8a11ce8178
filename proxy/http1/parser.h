// HTTP/1.1 message parsers (RFC 9112) for the downstream (requests) and upstream (responses) sides.
// Codecs do no I/O: feed(bytes) fires callbacks. A parser is owned by one connection and runs on
// that connection's loop thread. Strict by design: anything that could smuggle or desynchronise
// (CL+TE, duplicate CL, obs-fold, bare CR/LF, bad tokens, bad chunk sizes) is an error, and the
// caller answers 400 (or the status in Error::status) and closes.
#pragma once

#include <cstdint>
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

// Receives parse events. on_head fires once per message, then on_body zero or more times with
// views into the fed bytes (valid only during the call), then on_complete once.
class RequestEvents {
 public:
  virtual ~RequestEvents() = default;
  virtual void on_head(core::RequestHead&& head) = 0;
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
class RequestParser {
 public:
  RequestParser(const Limits& limits, RequestEvents& events);
  size_t feed(std::string_view data);
  void reset();
  ParsePhase phase() const;
  const core::Error& error() const;

 private:
  struct Impl;
  alignas(8) unsigned char storage_[256];
  Impl& impl();
  const Impl& impl() const;
};

// Parses responses; the caller tells it the request method first (HEAD answers have no body).
// 1xx interim responses other than 101 are consumed and skipped (RFC 9110 §15.2); 101 is an error
// (no upgrades through the proxy yet). feed_eof() ends an UntilClose body (→ on_complete) or
// reports a truncated message as an error.
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
  struct Impl;
  alignas(8) unsigned char storage_[256];
  Impl& impl();
  const Impl& impl() const;
};

}  // namespace portico::proxy::http1
