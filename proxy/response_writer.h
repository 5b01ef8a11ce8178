// Serialisation of HTTP/1.1 response heads and of the responses Portico generates itself (error
// pages, admin answers). Appends to an evbuffer or a string; no I/O. Any thread.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "core/http.h"

struct evbuffer;

namespace portico::proxy {

struct LocalResponse {
  int status = 500;
  bool close = false;
  bool http10_keep_alive = false;  // acknowledge an HTTP/1.0 keep-alive (RFC 9112 §9.3)
  bool head_only = false;          // HEAD request: headers, no body
  std::string_view request_id;     // X-Amz-Cf-Id
  std::string_view pop;            // X-Amz-Cf-Pop
  std::string_view via_host;       // empty = no Via
  std::string_view explanation;    // sentence in the HTML body
  std::string_view allow;          // Allow header for 405
};

// CloudFront-style generated error: HTML body, Server: CloudFront, X-Cache: Error from cloudfront.
void write_error_response(evbuffer* out, const LocalResponse& r);

// "HTTP/1.1 <status> <reason>\r\n" + headers (no final CRLF).
void append_status_line(std::string& out, int status, std::string_view reason);
void append_header(std::string& out, std::string_view name, std::string_view value);
struct HeaderLine {
  std::string_view name;
  std::string_view value;
};
// Several header lines in one append (CloudFront's trailing X-Cache, X-Amz-Cf-Pop, X-Amz-Cf-Id).
void append_header_lines(std::string& out, std::initializer_list<HeaderLine> lines);
// "Via: [<earlier>, ]1.1 <via_host> (CloudFront)\r\n": CloudFront's Via, appended to any Via the
// message already carried (RFC 9110 §7.6.3).
void append_via(std::string& out, std::string_view earlier, std::string_view via_host);
// `s` escaped for use inside a JSON string (RFC 8259 §7): quote, backslash, control characters.
std::string json_escape(std::string_view s);
// Current time as an IMF-fixdate, cached per second per thread.
std::string_view http_date_now();

}  // namespace portico::proxy
