#include "proxy/response_writer.h"

#include <catch2/catch.hpp>
#include <string>

using portico::proxy::append_header;
using portico::proxy::append_header_lines;
using portico::proxy::append_status_line;
using portico::proxy::append_via;

TEST_CASE("status lines carry three digits and the given or standard reason", "[response_writer]") {
  std::string out = "x";
  append_status_line(out, 200, {});
  CHECK(out == "xHTTP/1.1 200 OK\r\n");
  out.clear();
  append_status_line(out, 404, "Gone Fishing");
  CHECK(out == "HTTP/1.1 404 Gone Fishing\r\n");
  out.clear();
  append_status_line(out, 599, {});  // no standard phrase: an empty reason (RFC 9112 §4)
  CHECK(out == "HTTP/1.1 599 \r\n");
  out.clear();
  append_status_line(out, 304, {});
  CHECK(out == "HTTP/1.1 304 Not Modified\r\n");
  out.clear();
  const std::string long_reason(300, 'r');  // past the stack buffer: the appending path
  append_status_line(out, 200, long_reason);
  CHECK(out == "HTTP/1.1 200 " + long_reason + "\r\n");
}

TEST_CASE("header lines compose in order, short or long", "[response_writer]") {
  std::string out;
  append_header_lines(out, {{"X-Cache", "Hit from cloudfront"},
                            {"X-Amz-Cf-Pop", "LOCAL1-P1"},
                            {"X-Amz-Cf-Id", "abc=="}});
  CHECK(out == "X-Cache: Hit from cloudfront\r\nX-Amz-Cf-Pop: LOCAL1-P1\r\nX-Amz-Cf-Id: abc==\r\n");

  const std::string big(400, 'v');  // together over the 512-byte stack buffer
  std::string a;
  append_header_lines(a, {{"A", big}, {"B", big}, {"C", ""}});
  std::string b;
  append_header(b, "A", big);
  append_header(b, "B", big);
  append_header(b, "C", "");
  CHECK(a == b);
  CHECK(b == "A: " + big + "\r\nB: " + big + "\r\nC: \r\n");
}

TEST_CASE("Via names CloudFront after any earlier hop", "[response_writer]") {
  std::string out;
  append_via(out, {}, "d1.cloudfront.net");
  CHECK(out == "Via: 1.1 d1.cloudfront.net (CloudFront)\r\n");
  out.clear();
  append_via(out, "1.0 fred", "d1.cloudfront.net");
  CHECK(out == "Via: 1.0 fred, 1.1 d1.cloudfront.net (CloudFront)\r\n");
  out.clear();
  const std::string host(300, 'h');
  append_via(out, {}, host);
  CHECK(out == "Via: 1.1 " + host + " (CloudFront)\r\n");
}
