// HTTP/1 parser: bytes in, events out. Every input is also fed split at every position (or a byte
// at a time) through a driver that behaves like a connection: it presents all unconsumed bytes
// contiguously, resets after each complete message and loops over pipelined messages.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "proxy/http1/parser.h"

namespace portico::proxy::http1 {
namespace {

using core::BodyFraming;
using core::ErrorKind;
using core::Method;
using namespace std::string_literals;

// "\n" -> "\r\n", so valid messages stay readable.
std::string crlf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

struct RequestLog : RequestEvents {
  std::vector<core::RequestHead> heads;
  std::vector<std::string> bodies;
  std::string trace;  // H = head, C = complete (body chunks are coalesced in `bodies`)
  void on_head(std::unique_ptr<core::RequestHead> h) override {
    heads.push_back(std::move(*h));
    bodies.emplace_back();
    trace += 'H';
  }
  void on_body(std::string_view d) override {
    REQUIRE(!bodies.empty());
    REQUIRE(!d.empty());
    bodies.back().append(d);
  }
  void on_complete() override { trace += 'C'; }
};

struct ResponseLog : ResponseEvents {
  std::vector<core::ResponseHead> heads;
  std::vector<std::string> bodies;
  std::string trace;
  void on_head(core::ResponseHead&& h) override {
    heads.push_back(std::move(h));
    bodies.emplace_back();
    trace += 'H';
  }
  void on_body(std::string_view d) override {
    REQUIRE(!bodies.empty());
    REQUIRE(!d.empty());
    bodies.back().append(d);
  }
  void on_complete() override { trace += 'C'; }
};

// Feeds `input` in pieces ending at `cuts` (sorted positions), like a connection would.
template <typename Parser>
void drive(Parser& p, std::string_view input, const std::vector<size_t>& cuts,
           std::string& pending) {
  size_t off = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : input.size();
    pending.append(input.substr(off, end - off));
    off = end;
    for (;;) {
      const size_t n = p.feed(pending);
      REQUIRE(n <= pending.size());
      pending.erase(0, n);
      if (p.phase() == ParsePhase::Failed) return;
      if (p.phase() == ParsePhase::Complete) {
        p.reset();
        if (pending.empty()) break;
        continue;
      }
      if (p.phase() == ParsePhase::Body) REQUIRE((pending.empty() || n > 0));
      if (n == 0 || pending.empty()) break;
    }
  }
}

struct RequestRun {
  RequestLog log;
  bool failed = false;
  core::Error error;
  ParsePhase phase = ParsePhase::Head;
  std::string pending;
};

RequestRun run_request(std::string_view input, const Limits& limits = {},
                       const std::vector<size_t>& cuts = {}) {
  RequestRun r;
  RequestParser p(limits, r.log);
  drive(p, input, cuts, r.pending);
  r.phase = p.phase();
  r.failed = p.phase() == ParsePhase::Failed;
  r.error = p.error();
  return r;
}

// Status of the error for a request that must fail (0 when it did not).
int request_status(std::string_view input, const Limits& limits = {}) {
  RequestRun r = run_request(input, limits);
  if (!r.failed) return 0;
  CHECK(r.error.side == core::Side::Downstream);
  const bool too_large = r.error.status == 413 || r.error.status == 414 || r.error.status == 431;
  CHECK(r.error.kind == (too_large ? ErrorKind::TooLarge : ErrorKind::ParseError));
  return r.error.status;
}

struct ResponseRun {
  ResponseLog log;
  bool failed = false;
  bool eof_ok = false;
  core::Error error;
  std::string pending;
};

ResponseRun run_response(std::string_view input, Method method = Method::Get, bool eof = false,
                         const std::vector<size_t>& cuts = {}) {
  ResponseRun r;
  ResponseParser p(r.log);
  p.set_request_method(method);
  drive(p, input, cuts, r.pending);
  if (eof && p.phase() != ParsePhase::Failed) r.eof_ok = p.feed_eof();
  r.failed = p.phase() == ParsePhase::Failed;
  r.error = p.error();
  return r;
}

bool response_fails(std::string_view input, Method method = Method::Get) {
  ResponseRun r = run_response(input, method);
  if (r.failed) {
    CHECK(r.error.side == core::Side::Upstream);
    CHECK(r.error.kind == ErrorKind::ParseError);
  }
  return r.failed;
}

std::vector<size_t> every_byte(size_t n) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < n; ++i) cuts.push_back(i);
  return cuts;
}

const std::string kGet = crlf("GET /index.html?q=1 HTTP/1.1\nHost: Example.COM\nAccept: */*\n\n");

// ---------------------------------------------------------------------------------------------
// Request line

TEST_CASE("request: simple GET", "[http1][request]") {
  RequestRun r = run_request(kGet);
  REQUIRE_FALSE(r.failed);
  REQUIRE(r.log.heads.size() == 1);
  const core::RequestHead& h = r.log.heads[0];
  CHECK(h.method == Method::Get);
  CHECK(h.method_token == "GET");
  CHECK(h.target == "/index.html?q=1");
  CHECK(h.path == "/index.html");
  CHECK(h.query == "q=1");
  CHECK(h.has_query);
  CHECK(h.version_minor == 1);
  CHECK(h.authority == "example.com");
  CHECK(h.framing == BodyFraming::None);
  CHECK(h.keep_alive);
  CHECK_FALSE(h.expect_continue);
  REQUIRE(h.headers.size() == 2);
  CHECK(h.headers.get_or("host") == "Example.COM");
  CHECK(r.log.trace == "HC");
  CHECK(r.pending.empty());
}

TEST_CASE("request: feed returns the head length and stops in Complete", "[http1][request]") {
  RequestLog log;
  RequestParser p(Limits{}, log);
  std::string two = kGet + kGet;
  CHECK(p.feed(std::string_view(kGet).substr(0, 10)) == 0);
  CHECK(p.phase() == ParsePhase::Head);
  CHECK(p.feed(two) == kGet.size());
  CHECK(p.phase() == ParsePhase::Complete);
  CHECK(log.trace == "HC");
  CHECK(p.feed(std::string_view(two).substr(kGet.size())) == 0);  // no reset yet
  p.reset();
  CHECK(p.feed(std::string_view(two).substr(kGet.size())) == kGet.size());
  CHECK(log.trace == "HCHC");
}

TEST_CASE("request: methods", "[http1][request]") {
  RequestRun r = run_request(crlf("PURGE /x HTTP/1.1\nHost: a\n\n"));
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].method == Method::Other);
  CHECK(r.log.heads[0].method_token == "PURGE");
  r = run_request(crlf("get /x HTTP/1.1\nHost: a\n\n"));  // methods are case-sensitive
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].method == Method::Other);
  r = run_request(crlf("DELETE /x HTTP/1.1\nHost: a\n\n"));
  CHECK(r.log.heads.at(0).method == Method::Delete);
  CHECK(request_status(crlf("GE(T / HTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GE\"T / HTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf(" GET / HTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("/ HTTP/1.1\nHost: a\n\n")) == 400);
}

TEST_CASE("request: exactly one SP between request-line parts", "[http1][request]") {
  CHECK(request_status(crlf("GET  / HTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET /  HTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1 \nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET\t/ HTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET /\tHTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET /\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET\nHost: a\n\n")) == 400);
}

TEST_CASE("request: request-target characters", "[http1][request]") {
  CHECK(request_status(crlf("GET /a#frag HTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET /a\x01 HTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET /a\x7f HTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET /\xc3\xa9 HTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"s) == 400);
  CHECK(request_status(crlf("GET /%7E~!$&'()*+,;=:@[] HTTP/1.1\nHost: a\n\n")) == 0);
}

TEST_CASE("request: origin-form path and query", "[http1][request]") {
  RequestRun r = run_request(crlf("GET /p? HTTP/1.1\nHost: a\n\n"));
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].path == "/p");
  CHECK(r.log.heads[0].query.empty());
  CHECK(r.log.heads[0].has_query);
  r = run_request(crlf("GET /p?a?b=/c HTTP/1.1\nHost: a\n\n"));
  CHECK(r.log.heads.at(0).path == "/p");
  CHECK(r.log.heads.at(0).query == "a?b=/c");
  r = run_request(crlf("GET /%2F/x HTTP/1.1\nHost: a\n\n"));
  CHECK(r.log.heads.at(0).path == "/%2F/x");
  CHECK_FALSE(r.log.heads.at(0).has_query);
  CHECK(request_status(crlf("GET index.html HTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET ?a HTTP/1.1\nHost: a\n\n")) == 400);
}

TEST_CASE("request: absolute-form overrides Host", "[http1][request]") {
  RequestRun r = run_request(crlf("GET http://Example.COM:8080/a/b?c=d HTTP/1.1\nHost: other\n\n"));
  REQUIRE(r.log.heads.size() == 1);
  const core::RequestHead& h = r.log.heads[0];
  CHECK(h.target == "http://Example.COM:8080/a/b?c=d");
  CHECK(h.authority == "example.com:8080");
  CHECK(h.path == "/a/b");
  CHECK(h.query == "c=d");
  r = run_request(crlf("GET HTTPS://x.org HTTP/1.1\nHost: x.org\n\n"));
  CHECK(r.log.heads.at(0).authority == "x.org");
  CHECK(r.log.heads.at(0).path == "/");
  r = run_request(crlf("GET http://x.org?q HTTP/1.1\nHost: x.org\n\n"));
  CHECK(r.log.heads.at(0).path == "/");
  CHECK(r.log.heads.at(0).query == "q");
  r = run_request(crlf("GET http://[::1]:81/ HTTP/1.1\nHost: x\n\n"));
  CHECK(r.log.heads.at(0).authority == "[::1]:81");
  CHECK(request_status(crlf("GET ftp://x.org/ HTTP/1.1\nHost: x\n\n")) == 400);
  CHECK(request_status(crlf("GET http:/x.org/ HTTP/1.1\nHost: x\n\n")) == 400);
  CHECK(request_status(crlf("GET http:// HTTP/1.1\nHost: x\n\n")) == 400);
  CHECK(request_status(crlf("GET http:///a HTTP/1.1\nHost: x\n\n")) == 400);
  CHECK(request_status(crlf("GET http://user@x.org/ HTTP/1.1\nHost: x\n\n")) == 400);
  CHECK(request_status(crlf("GET http://x.org:ab/ HTTP/1.1\nHost: x\n\n")) == 400);
  // Host is still mandatory and validated in HTTP/1.1.
  CHECK(request_status(crlf("GET http://x.org/ HTTP/1.1\n\n")) == 400);
  CHECK(request_status(crlf("GET http://x.org/ HTTP/1.1\nHost: a b\n\n")) == 400);
}

TEST_CASE("request: asterisk-form only with OPTIONS", "[http1][request]") {
  RequestRun r = run_request(crlf("OPTIONS * HTTP/1.1\nHost: a\n\n"));
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].method == Method::Options);
  CHECK(r.log.heads[0].target == "*");
  CHECK(request_status(crlf("GET * HTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("OPTIONS *x HTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("OPTIONS /x HTTP/1.1\nHost: a\n\n")) == 0);
}

TEST_CASE("request: authority-form only with CONNECT", "[http1][request]") {
  RequestRun r = run_request(crlf("CONNECT example.com:443 HTTP/1.1\nHost: example.com:443\n\n"));
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].method == Method::Connect);
  CHECK(r.log.heads[0].target == "example.com:443");
  CHECK(request_status(crlf("CONNECT example.com HTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("CONNECT / HTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("CONNECT http://a/ HTTP/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET example.com:443 HTTP/1.1\nHost: a\n\n")) == 400);
}

TEST_CASE("request: HTTP version", "[http1][request]") {
  RequestRun r = run_request(crlf("GET / HTTP/1.0\n\n"));
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].version_minor == 0);
  CHECK(r.log.heads[0].authority.empty());
  CHECK(request_status(crlf("GET / HTTP/2.0\nHost: a\n\n")) == 505);
  CHECK(request_status(crlf("GET / HTTP/1.2\nHost: a\n\n")) == 505);
  CHECK(request_status(crlf("GET / HTTP/0.9\nHost: a\n\n")) == 505);
  CHECK(request_status(crlf("GET / HTTP/3.0\nHost: a\n\n")) == 505);
  CHECK(request_status(crlf("GET / http/1.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1x\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/11.1\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.a\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTPS/1.1\nHost: a\n\n")) == 400);
}

TEST_CASE("request: leading empty lines", "[http1][request]") {
  RequestRun r = run_request("\r\n\r\n\r\n\r\n" + kGet);
  CHECK_FALSE(r.failed);
  CHECK(r.log.heads.size() == 1);
  CHECK(r.pending.empty());
  CHECK(request_status("\r\n\r\n\r\n\r\n\r\n" + kGet) == 400);
  CHECK(request_status("\n" + kGet) == 400);
  CHECK(request_status("\r\r\n" + kGet) == 400);
  // The skipped lines do not count towards the head limit.
  Limits small;
  small.max_header_bytes = static_cast<uint32_t>(kGet.size());
  CHECK(request_status("\r\n\r\n" + kGet, small) == 0);
}

TEST_CASE("request: 414 for a long request line, complete or not", "[http1][request]") {
  Limits l;
  l.max_request_line_bytes = 32;
  const std::string line_ok = "GET /" + std::string(32 - 14, 'a') + " HTTP/1.1";  // 32 bytes
  REQUIRE(line_ok.size() == 32);
  CHECK(request_status(line_ok + "\r\nHost: a\r\n\r\n", l) == 0);
  const std::string too_long = "GET /" + std::string(33 - 14, 'a') + " HTTP/1.1";
  CHECK(request_status(too_long + "\r\nHost: a\r\n\r\n", l) == 414);
  // Incomplete: no CRLF yet, already too long.
  RequestLog log;
  RequestParser p(l, log);
  const std::string partial = "GET /" + std::string(100, 'a');
  CHECK(p.feed(std::string_view(partial).substr(0, 30)) == 0);
  CHECK(p.phase() == ParsePhase::Head);
  CHECK(p.feed(partial) == 0);
  CHECK(p.phase() == ParsePhase::Failed);
  CHECK(p.error().status == 414);
  CHECK(p.error().kind == ErrorKind::TooLarge);
  // A line that is exactly at the limit, waiting for its LF, is not yet too long.
  RequestParser q(l, log);
  CHECK(q.feed(line_ok + "\r") == 0);
  CHECK(q.phase() == ParsePhase::Head);
}

// ---------------------------------------------------------------------------------------------
// Line endings and header fields

TEST_CASE("request: CRLF only; bare LF or CR is rejected", "[http1][request][smuggling]") {
  CHECK(request_status("GET / HTTP/1.1\nHost: a\r\n\r\n") == 400);
  CHECK(request_status("GET / HTTP/1.1\r\nHost: a\n\r\n") == 400);
  CHECK(request_status("GET / HTTP/1.1\r\nHost: a\r\n\n") == 400);
  CHECK(request_status("GET / HTTP/1.1\n\n") == 400);
  CHECK(request_status("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n") == 400);
  CHECK(request_status("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\r\n\r\n") == 400);
  CHECK(request_status("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n") == 400);
  CHECK(request_status("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  CHECK(request_status("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n") == 400);
  CHECK(request_status("GET / HTTP/1.1\r\nHo\rst: a\r\n\r\n") == 400);
}

TEST_CASE("request: field names", "[http1][request][smuggling]") {
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost : a\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost\t: a\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a\nContent-Length : 5\n\nhello")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a\n: x\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a\nNoColon\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a\nX(y): z\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a\nX@y: z\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a\nX-!#$%&'*+.^_`|~: z\n\n")) == 0);
}

TEST_CASE("request: obs-fold and leading whitespace are rejected", "[http1][request][smuggling]") {
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a\nX: b\n c\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a\nX: b\n\tc\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\n Host: a\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a\nTransfer-Encoding: gzip,\n chunked\n\n")) ==
        400);
}

TEST_CASE("request: field values", "[http1][request]") {
  RequestRun r =
      run_request(crlf("GET / HTTP/1.1\nHost: a\nX-A:  \t spaced out \t \nX-B:\nX-C: caf\xc3\xa9\n"
                       "X-D: a\tb\nX-A: second\n\n"));
  REQUIRE(r.log.heads.size() == 1);
  const core::Headers& h = r.log.heads[0].headers;
  REQUIRE(h.size() == 6);
  std::vector<std::string> values;
  for (const core::Header& f : h) values.push_back(f.value);
  CHECK(values == std::vector<std::string>{"a", "spaced out", "", "caf\xc3\xa9", "a\tb", "second"});
  CHECK(std::string(std::next(h.begin(), 1)->name) == "X-A");  // names kept as received
  CHECK(request_status("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"s) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a\nX: a\x7f\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a\nX: a\x01\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a\nX: a\x1b[0m\n\n")) == 400);
}

TEST_CASE("request: header count limit -> 431", "[http1][request][limits]") {
  Limits l;
  l.max_header_count = 3;
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a\nA: 1\nB: 2\n\n"), l) == 0);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a\nA: 1\nB: 2\nC: 3\n\n"), l) == 431);
}

TEST_CASE("request: head byte limit -> 431, complete or not", "[http1][request][limits]") {
  Limits l;
  l.max_header_bytes = static_cast<uint32_t>(kGet.size());
  CHECK(request_status(kGet, l) == 0);
  l.max_header_bytes = static_cast<uint32_t>(kGet.size() - 1);
  CHECK(request_status(kGet, l) == 431);
  // No end of head within the limit: fail before the head is complete.
  l.max_header_bytes = 64;
  RequestLog log;
  RequestParser p(l, log);
  const std::string head = crlf("GET / HTTP/1.1\nHost: a\nX-Long: ") + std::string(200, 'x');
  CHECK(p.feed(std::string_view(head).substr(0, 40)) == 0);
  CHECK(p.phase() == ParsePhase::Head);
  CHECK(p.feed(head) == 0);
  CHECK(p.phase() == ParsePhase::Failed);
  CHECK(p.error().status == 431);
  CHECK(p.error().kind == ErrorKind::TooLarge);
  // Many small complete lines count too.
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 20; ++i) many += "X: y\r\n";
  RequestParser q(l, log);
  CHECK(q.feed(many) == 0);
  CHECK(q.error().status == 431);
}

// ---------------------------------------------------------------------------------------------
// Host

TEST_CASE("request: Host rules", "[http1][request]") {
  CHECK(request_status(crlf("GET / HTTP/1.1\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a\nHost: a\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a\nhost: b\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.0\nHost: a\nHost: b\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost:\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost:   \n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a b\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a:\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a:8x\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: :80\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a/b\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: u@a\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: a,b\n\n")) == 0);  // sub-delims are reg-name
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: [::1\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: []\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: [::1]x\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: [g::1]\n\n")) == 400);
  CHECK(request_status(crlf("GET / HTTP/1.1\nHost: caf\xc3\xa9\n\n")) == 400);

  RequestRun r = run_request(crlf("GET / HTTP/1.1\nHost: WWW.Example.com:8443\n\n"));
  CHECK(r.log.heads.at(0).authority == "www.example.com:8443");
  r = run_request(crlf("GET / HTTP/1.1\nHost: [2001:DB8::1]:80\n\n"));
  CHECK(r.log.heads.at(0).authority == "[2001:db8::1]:80");
  r = run_request(crlf("GET / HTTP/1.1\nHost: 10.0.0.1\n\n"));
  CHECK(r.log.heads.at(0).authority == "10.0.0.1");
  r = run_request(crlf("GET / HTTP/1.1\nHost: my_host.local%20x~\n\n"));
  CHECK(r.log.heads.at(0).authority == "my_host.local%20x~");
}

TEST_CASE("request: every keep-alive request's Host is checked and lower-cased",
          "[http1][request]") {
  // The parser remembers the last Host it accepted on the connection; a repeat, a change, a bad
  // one and an empty one after a good one must each be handled as if it came first.
  RequestRun r =
      run_request(crlf("GET /1 HTTP/1.1\nHost: A.example\n\n"
                       "GET /2 HTTP/1.1\nHost: A.example\n\n"
                       "GET /3 HTTP/1.1\nHost: B.Example:81\n\n"
                       "GET /4 HTTP/1.1\nHost: A.example\n\n"
                       "GET http://C.example/5 HTTP/1.1\nHost: A.example\n\n"
                       "GET /6 HTTP/1.1\nHost: a.example\n\n"));
  REQUIRE_FALSE(r.failed);
  REQUIRE(r.log.heads.size() == 6);
  CHECK(r.log.heads[0].authority == "a.example");
  CHECK(r.log.heads[1].authority == "a.example");
  CHECK(r.log.heads[2].authority == "b.example:81");
  CHECK(r.log.heads[3].authority == "a.example");
  CHECK(r.log.heads[4].authority == "c.example");  // absolute-form wins (RFC 9112 §3.2.2)
  CHECK(r.log.heads[5].authority == "a.example");

  const std::string good = crlf("GET / HTTP/1.1\nHost: a.example\n\n");
  for (const char* bad :
       {"GET / HTTP/1.1\nHost:\n\n", "GET / HTTP/1.1\nHost: a example\n\n", "GET / HTTP/1.1\n\n",
        "GET / HTTP/1.1\nHost: a.example\nHost: a.example\n\n"}) {
    r = run_request(good + crlf(bad));
    CHECK(r.log.heads.size() == 1);
    CHECK(r.failed);
    CHECK(r.error.status == 400);
  }
}

// ---------------------------------------------------------------------------------------------
// Body framing

TEST_CASE("request: Content-Length body", "[http1][request][body]") {
  const std::string msg =
      crlf("POST /up HTTP/1.1\nHost: a\nContent-Length: 11\n\n") + "hello world";
  RequestRun r = run_request(msg);
  REQUIRE_FALSE(r.failed);
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].framing == BodyFraming::Length);
  CHECK(r.log.heads[0].content_length == 11);
  CHECK(r.log.bodies[0] == "hello world");
  CHECK(r.log.trace == "HC");

  // Head first, then body in pieces; the parser never takes bytes past the body.
  RequestLog log;
  RequestParser p(Limits{}, log);
  const size_t head_len = msg.size() - 11;
  CHECK(p.feed(msg) == head_len);
  CHECK(p.phase() == ParsePhase::Body);
  CHECK(log.trace == "H");
  CHECK(p.feed("hello") == 5);
  CHECK(p.feed("") == 0);
  CHECK(p.feed(" worldGET / HTTP/1.1\r\n") == 6);
  CHECK(p.phase() == ParsePhase::Complete);
  CHECK(log.bodies[0] == "hello world");
  CHECK(log.trace == "HC");
}

TEST_CASE("request: Content-Length: 0 means no body", "[http1][request][body]") {
  // Documented choice: framing None with content_length 0, complete right after the head.
  RequestRun r = run_request(crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 0\n\n"));
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].framing == BodyFraming::None);
  CHECK(r.log.heads[0].content_length == 0);
  CHECK(r.log.trace == "HC");
  r = run_request(crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 000\n\n"));
  CHECK(r.log.heads.at(0).framing == BodyFraming::None);
}

TEST_CASE("request: Content-Length syntax", "[http1][request][smuggling]") {
  auto with_cl = [](std::string_view v) {
    return request_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::string(v) +
                          "\r\n\r\nhello");
  };
  CHECK(with_cl("5") == 0);
  CHECK(with_cl(" 5 ") == 0);
  CHECK(with_cl("05") == 0);
  CHECK(with_cl("+5") == 400);
  CHECK(with_cl("-5") == 400);
  CHECK(with_cl("5,5") == 400);
  CHECK(with_cl("5, 5") == 400);
  CHECK(with_cl("5 5") == 400);
  CHECK(with_cl("0x5") == 400);
  CHECK(with_cl("5.0") == 400);
  CHECK(with_cl("") == 400);
  CHECK(with_cl("five") == 400);
  CHECK(with_cl("9223372036854775808") == 400);
  CHECK(with_cl("99999999999999999999999") == 400);
  RequestRun r =
      run_request(crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 9223372036854775807\n\n"));
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].content_length == 9223372036854775807ull);
  CHECK(r.phase == ParsePhase::Body);
  // Two fields, even with identical values.
  CHECK(request_status(crlf(
            "POST / HTTP/1.1\nHost: a\nContent-Length: 5\nContent-Length: 5\n\nhello")) == 400);
  CHECK(request_status(crlf(
            "POST / HTTP/1.1\nHost: a\nContent-Length: 5\ncontent-length: 6\n\nhello")) == 400);
}

TEST_CASE("request: Content-Length over max_body_bytes -> 413", "[http1][request][limits]") {
  Limits l;
  l.max_body_bytes = 10;
  CHECK(request_status(crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 10\n\n") + "0123456789",
                       l) == 0);
  CHECK(request_status(crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 11\n\n"), l) == 413);
}

TEST_CASE("request: CL + TE is rejected", "[http1][request][smuggling]") {
  CHECK(request_status(crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 5\n"
                            "Transfer-Encoding: chunked\n\n0\n\n")) == 400);
  CHECK(request_status(crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n"
                            "Content-Length: 0\n\n0\n\n")) == 400);
  CHECK(request_status(crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: gzip\n"
                            "Content-Length: 5\n\nhello")) == 400);
}

TEST_CASE("request: Transfer-Encoding codings", "[http1][request][smuggling]") {
  auto with_te = [](std::string_view v) {
    return request_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + std::string(v) +
                          "\r\n\r\n0\r\n\r\n");
  };
  CHECK(with_te("chunked") == 0);
  CHECK(with_te("Chunked") == 0);
  CHECK(with_te("CHUNKED") == 0);
  CHECK(with_te(" chunked ") == 0);
  CHECK(with_te("chunked, chunked") == 400);
  CHECK(with_te("chunked, gzip") == 400);
  CHECK(with_te("chunked, identity") == 400);
  CHECK(with_te("gzip, chunked") == 501);
  CHECK(with_te("identity, chunked") == 501);
  CHECK(with_te("gzip") == 501);
  CHECK(with_te("identity") == 501);
  CHECK(with_te("x-custom") == 501);
  CHECK(with_te("chunked;q=1") == 501);
  CHECK(with_te("chunk") == 501);
  CHECK(with_te("chunkedx") == 501);
  CHECK(with_te("\"chunked\"") == 501);
  CHECK(with_te("") == 400);
  CHECK(with_te(",") == 400);
  // Several fields combine into one list.
  CHECK(request_status(crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n"
                            "Transfer-Encoding: chunked\n\n0\n\n")) == 400);
  CHECK(request_status(crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n"
                            "Transfer-Encoding: gzip\n\n0\n\n")) == 400);
  CHECK(request_status(crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: gzip\n"
                            "Transfer-Encoding: chunked\n\n0\n\n")) == 501);
  // Not in HTTP/1.0.
  CHECK(request_status(crlf("POST / HTTP/1.0\nTransfer-Encoding: chunked\n\n0\n\n")) == 400);
}

const std::string kChunked = crlf(
    "POST /c HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n"
    "5\nhello\n"
    "6;name=value;q=\"quoted ; str\"\n world\n"
    "A \t;ext\n0123456789\n"
    "0\nTrailer-A: 1\nTrailer-B:  two \n\n");

TEST_CASE("request: chunked body with extensions and trailers", "[http1][request][body]") {
  RequestRun r = run_request(kChunked);
  REQUIRE_FALSE(r.failed);
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].framing == BodyFraming::Chunked);
  CHECK(r.log.bodies[0] == "hello world0123456789");
  CHECK(r.log.trace == "HC");
  CHECK(r.pending.empty());
  CHECK(r.log.heads[0].headers.size() == 2);  // trailers are discarded

  r = run_request(crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n"
                       "aB\n") +
                  std::string(0xab, 'z') + crlf("\n0000\n\n"));
  REQUIRE_FALSE(r.failed);
  CHECK(r.log.bodies.at(0) == std::string(0xab, 'z'));
}

std::string chunked_with(std::string_view body) {
  return "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(body);
}

TEST_CASE("request: chunk-size syntax", "[http1][request][smuggling]") {
  CHECK(request_status(chunked_with("5\r\nhello\r\n0\r\n\r\n")) == 0);
  CHECK(request_status(chunked_with("\r\nhello\r\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("-5\r\nhello\r\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("+5\r\nhello\r\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("0x5\r\nhello\r\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with(" 5\r\nhello\r\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("5 \r\nhello\r\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("5 x\r\nhello\r\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("5g\r\nhello\r\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("5\nhello\r\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("5\r\nhello\r\n0\n\r\n")) == 400);
  CHECK(request_status(chunked_with("5\rhello\r\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("5;a\x01\r\nhello\r\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("5;a\x7f\r\nhello\r\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("5;a\rb\r\nhello\r\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("5 ; a=b\r\nhello\r\n0\r\n\r\n")) == 0);
  // 16 hex digits at most; more is overflow.
  CHECK(request_status(chunked_with("0000000000000005\r\nhello\r\n0\r\n\r\n")) == 0);
  CHECK(request_status(chunked_with("00000000000000005\r\nhello\r\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("10000000000000000\r\nhello\r\n0\r\n\r\n")) == 400);
  // The largest 16-digit size is accepted (the body then simply never ends here).
  CHECK(request_status(chunked_with("ffffffffffffffff\r\n")) == 0);
  // Size line limit (4096 bytes).
  CHECK(request_status(chunked_with("5;" + std::string(5000, 'x') + "\r\nhello\r\n0\r\n\r\n")) ==
        400);
  CHECK(request_status(chunked_with("5;" + std::string(4000, 'x') + "\r\nhello\r\n0\r\n\r\n")) ==
        0);
  RequestRun r =
      run_request(chunked_with("5;" + std::string(5000, 'x')), Limits{}, {100, 3000, 4500});
  CHECK(r.failed);
  CHECK(r.error.status == 400);
}

TEST_CASE("request: chunk data must be followed by exactly CRLF", "[http1][request][smuggling]") {
  CHECK(request_status(chunked_with("5\r\nhelloXX0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("5\r\nhello\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("5\r\nhello\r0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("5\r\nhello world\r\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("5\r\nhello\r\n\r\n0\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("3\r\nhello\r\n0\r\n\r\n")) == 400);
}

TEST_CASE("request: trailer section", "[http1][request][smuggling]") {
  CHECK(request_status(chunked_with("0\r\nX: y\r\n\r\n")) == 0);
  CHECK(request_status(chunked_with("0\r\nX : y\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("0\r\nX: y\r\n z\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("0\r\n z\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("0\r\nnocolon\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("0\r\nX: a\x01\r\n\r\n")) == 400);
  CHECK(request_status(chunked_with("0\r\nX: y\n\r\n")) == 400);
  CHECK(request_status(chunked_with("0\r\n\n")) == 400);
  Limits l;
  l.max_header_bytes = 200;
  CHECK(request_status(chunked_with("0\r\nX: " + std::string(150, 'y') + "\r\n\r\n"), l) == 0);
  CHECK(request_status(chunked_with("0\r\nX: " + std::string(250, 'y') + "\r\n\r\n"), l) == 431);
  std::string many;
  for (int i = 0; i < 30; ++i) many += "X: yyyy\r\n";
  CHECK(request_status(chunked_with("0\r\n" + many + "\r\n"), l) == 431);
}

TEST_CASE("request: chunked body over max_body_bytes -> 413", "[http1][request][limits]") {
  Limits l;
  l.max_body_bytes = 10;
  CHECK(request_status(chunked_with("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"), l) == 0);
  CHECK(request_status(chunked_with("5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n"), l) == 413);
  CHECK(request_status(chunked_with("b\r\n"), l) == 413);
}

// ---------------------------------------------------------------------------------------------
// Pipelining and smuggling: the parser stops right after each message.

TEST_CASE("request: pipelined requests", "[http1][request][pipeline]") {
  const std::string post = crlf("POST /p HTTP/1.1\nHost: a\nContent-Length: 4\n\n") + "abcd";
  const std::string input = kGet + post + kChunked + kGet;
  RequestRun r = run_request(input);
  REQUIRE_FALSE(r.failed);
  REQUIRE(r.log.heads.size() == 4);
  CHECK(r.log.trace == "HCHCHCHC");
  CHECK(r.log.heads[1].path == "/p");
  CHECK(r.log.bodies[1] == "abcd");
  CHECK(r.log.bodies[2] == "hello world0123456789");
  CHECK(r.log.heads[3].path == "/index.html");
  CHECK(r.pending.empty());

  // Direct use: each feed stops at the message boundary.
  RequestLog log;
  RequestParser p(Limits{}, log);
  const std::string two = post + kGet;
  size_t n = p.feed(two);
  CHECK(p.phase() == ParsePhase::Body);
  n += p.feed(std::string_view(two).substr(n));
  CHECK(p.phase() == ParsePhase::Complete);
  CHECK(n == post.size());
}

TEST_CASE("request: chunked terminator does not swallow the next request", "[http1][smuggling]") {
  RequestLog log;
  RequestParser p(Limits{}, log);
  const std::string first = chunked_with("3\r\nabc\r\n0\r\n\r\n");
  const std::string input = first + kGet;
  size_t used = p.feed(input);
  used += p.feed(std::string_view(input).substr(used));
  CHECK(p.phase() == ParsePhase::Complete);
  CHECK(used == first.size());
  CHECK(log.bodies.at(0) == "abc");
}

TEST_CASE("request: classic smuggling payloads fail", "[http1][smuggling]") {
  // CL.TE / TE.CL
  CHECK(request_status(crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 13\n"
                            "Transfer-Encoding: chunked\n\n0\n\nSMUGGLED")) == 400);
  // TE obfuscation
  CHECK(request_status(crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding : chunked\n\n0\n\n")) ==
        400);
  CHECK(request_status(crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding:\tchunked\n\n0\n\n")) ==
        0);
  CHECK(request_status(crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: xchunked\n\n0\n\n")) ==
        501);
  CHECK(request_status(crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\x0b\n\n0\n\n")) ==
        400);
  CHECK(request_status(crlf("POST / HTTP/1.1\nHost: a\nX: x\n Transfer-Encoding: chunked\n\n")) ==
        400);
  CHECK(request_status("POST / HTTP/1.1\r\nHost: a\r\nX: x\nTransfer-Encoding: chunked\r\n\r\n") ==
        400);
  // Duplicate CL with different values.
  CHECK(request_status(
            crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 0\nContent-Length: 44\n\n")) == 400);
  // Chunk size with a trailing junk that some parsers ignore.
  CHECK(request_status(chunked_with("5\0\r\nhello\r\n0\r\n\r\n"s)) == 400);
}

// ---------------------------------------------------------------------------------------------
// Connection and Expect

TEST_CASE("request: keep_alive", "[http1][request]") {
  auto ka = [](std::string_view msg) {
    RequestRun r = run_request(crlf(msg));
    REQUIRE(r.log.heads.size() == 1);
    return r.log.heads[0].keep_alive;
  };
  CHECK(ka("GET / HTTP/1.1\nHost: a\n\n"));
  CHECK_FALSE(ka("GET / HTTP/1.1\nHost: a\nConnection: close\n\n"));
  CHECK_FALSE(ka("GET / HTTP/1.1\nHost: a\nConnection: Keep-Alive, CLOSE\n\n"));
  CHECK_FALSE(ka("GET / HTTP/1.1\nHost: a\nConnection: upgrade\nConnection: close\n\n"));
  CHECK(ka("GET / HTTP/1.1\nHost: a\nConnection: closed\n\n"));
  CHECK_FALSE(ka("GET / HTTP/1.0\n\n"));
  CHECK(ka("GET / HTTP/1.0\nConnection: keep-alive\n\n"));
  CHECK(ka("GET / HTTP/1.0\nConnection: Keep-Alive\n\n"));
}

TEST_CASE("request: Expect", "[http1][request]") {
  RequestRun r =
      run_request(crlf("PUT / HTTP/1.1\nHost: a\nExpect: 100-Continue\nContent-Length: 2\n\nok"));
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].expect_continue);
  CHECK(request_status(crlf("PUT / HTTP/1.1\nHost: a\nExpect: 200-ok\n\n")) == 417);
  CHECK(request_status(crlf("PUT / HTTP/1.1\nHost: a\nExpect:\n\n")) == 417);
  CHECK(request_status(crlf("PUT / HTTP/1.1\nHost: a\nExpect: 100-continue\nExpect: x\n\n")) ==
        417);
  r = run_request(crlf("PUT / HTTP/1.0\nExpect: 100-continue\n\n"));
  CHECK_FALSE(r.log.heads.at(0).expect_continue);  // ignored for HTTP/1.0 (RFC 9110 §10.1.1)
}

// ---------------------------------------------------------------------------------------------
// Splits: every message, split at every position and fed a byte at a time, gives the same events.

void check_same(const RequestRun& whole, const RequestRun& split) {
  REQUIRE(split.failed == whole.failed);
  CHECK(split.error.status == whole.error.status);
  REQUIRE(split.log.heads.size() == whole.log.heads.size());
  CHECK(split.log.trace == whole.log.trace);
  CHECK(split.log.bodies == whole.log.bodies);
  for (size_t i = 0; i < whole.log.heads.size(); ++i) {
    CHECK(split.log.heads[i].target == whole.log.heads[i].target);
    REQUIRE(split.log.heads[i].headers.size() == whole.log.heads[i].headers.size());
    for (size_t k = 0; k < whole.log.heads[i].headers.size(); ++k) {
      const core::Header& a = *(whole.log.heads[i].headers.begin() + k);
      const core::Header& b = *(split.log.heads[i].headers.begin() + k);
      CHECK(b.name == a.name);
      CHECK(b.value == a.value);
    }
  }
}

TEST_CASE("request: any split gives the same events", "[http1][request][split]") {
  const std::vector<std::string> inputs = {
      kGet,
      "\r\n\r\n" + kGet,
      kChunked,
      crlf("POST /p HTTP/1.1\nHost: a\nContent-Length: 4\n\nabcd") + kChunked + kGet,
      chunked_with("1;a=b\r\nx\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n"),
      // Failing inputs must fail the same way wherever they are split.
      chunked_with("5\r\nhelloXX"),
      chunked_with("5;x\r\nhello\r\n0\r\nbad trailer\r\n\r\n"),
      crlf("GET / HTTP/1.1\nHost: a\nX: b\n c\n\n"),
      // A whole line takes the one-pass field scan, a split one the byte-exact path: values with
      // tabs, trailing and leading OWS, obs-text, empty values and CTLs at every word position.
      crlf("GET / HTTP/1.1\nHost: a\nA:\tv1\tv2\t \nB:  spaced value here  \nC:\nD: \xc3\xa9t\xe9"
           "\n"
           "E: 0123456789abcdef0123456789\n\n"),
      crlf("GET / HTTP/1.1\nHost: a\nX: 01234567\x7f"
           "89\n\n"),
      crlf("GET / HTTP/1.1\nHost: a\nX: 0123456789abcde\x01"
           "\n\n"),
      "GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789\rab\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789abcdef\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX : v\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n",
  };
  for (const std::string& in : inputs) {
    const RequestRun whole = run_request(in);
    for (size_t cut = 1; cut < in.size(); ++cut) {
      check_same(whole, run_request(in, Limits{}, {cut}));
    }
    check_same(whole, run_request(in, Limits{}, every_byte(in.size())));
  }
  CHECK(run_request(kChunked, Limits{}, every_byte(kChunked.size())).log.bodies.at(0) ==
        "hello world0123456789");
}

TEST_CASE("response: any split gives the same head", "[http1][response][split]") {
  const std::vector<std::string> inputs = {
      crlf("HTTP/1.1 200 OK\nServer: nginx/1.22.1\nDate: Thu, 26 Nov 2026 08:41:41 GMT\n"
           "Content-Type: application/octet-stream\nContent-Length: 3\nX:\t a\tb \nY:\n\nabc"),
      crlf("HTTP/1.1 100 Continue\nA: b\n\nHTTP/1.1 204 No Content\nB: \xc3\xa9"
           "\n\n"),
      crlf("HTTP/1.1 200 OK\nContent-Length: 0\nX: 0123456789\x7f"
           "\n\n"),
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: 0123456789abcdef\rX\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: 0123456789abcdef\n\r\n",
  };
  for (const std::string& in : inputs) {
    const ResponseRun whole = run_response(in);
    for (size_t cut = 1; cut < in.size(); ++cut) {
      const ResponseRun split = run_response(in, Method::Get, false, {cut});
      REQUIRE(split.failed == whole.failed);
      REQUIRE(split.log.heads.size() == whole.log.heads.size());
      for (size_t i = 0; i < whole.log.heads.size(); ++i) {
        REQUIRE(split.log.heads[i].headers.size() == whole.log.heads[i].headers.size());
        for (size_t k = 0; k < whole.log.heads[i].headers.size(); ++k) {
          CHECK((split.log.heads[i].headers.begin() + k)->name ==
                (whole.log.heads[i].headers.begin() + k)->name);
          CHECK((split.log.heads[i].headers.begin() + k)->value ==
                (whole.log.heads[i].headers.begin() + k)->value);
        }
      }
    }
  }
  const ResponseRun ok = run_response(inputs[0]);
  REQUIRE(ok.log.heads.size() == 1);
  CHECK(ok.log.heads[0].headers.get_or("x") == "a\tb");
  CHECK(ok.log.heads[0].headers.get_or("date") == "Thu, 26 Nov 2026 08:41:41 GMT");
  CHECK(run_response(inputs[2]).failed);
  CHECK(run_response(inputs[3]).failed);
  CHECK(run_response(inputs[4]).failed);
}

TEST_CASE("request: limits hold when fed a byte at a time", "[http1][request][split]") {
  Limits l;
  l.max_request_line_bytes = 20;
  const std::string long_line = "GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n";
  RequestRun r = run_request(long_line, l, every_byte(long_line.size()));
  CHECK(r.error.status == 414);
  l = Limits{};
  l.max_header_bytes = 40;
  const std::string big = crlf("GET / HTTP/1.1\nHost: a\nX: ") + std::string(100, 'x') + "\r\n\r\n";
  r = run_request(big, l, every_byte(big.size()));
  CHECK(r.error.status == 431);
}

// ---------------------------------------------------------------------------------------------
// Responses

TEST_CASE("response: Content-Length body", "[http1][response]") {
  ResponseRun r = run_response(crlf("HTTP/1.1 200 OK\nContent-Length: 5\nServer: x\n\nhello"));
  REQUIRE_FALSE(r.failed);
  REQUIRE(r.log.heads.size() == 1);
  const core::ResponseHead& h = r.log.heads[0];
  CHECK(h.status == 200);
  CHECK(h.reason == "OK");
  CHECK(h.version_minor == 1);
  CHECK(h.framing == BodyFraming::Length);
  CHECK(h.content_length == 5);
  CHECK(h.keep_alive);
  CHECK(h.headers.size() == 2);
  CHECK(r.log.bodies[0] == "hello");
  CHECK(r.log.trace == "HC");
}

TEST_CASE("response: status line", "[http1][response]") {
  ResponseRun r = run_response(crlf("HTTP/1.1 404\nContent-Length: 0\n\n"));
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].status == 404);
  CHECK(r.log.heads[0].reason.empty());
  r = run_response(crlf("HTTP/1.1 503 \nContent-Length: 0\n\n"));
  CHECK(r.log.heads.at(0).reason.empty());
  r = run_response(crlf("HTTP/1.0 200 Very OK \xc3\xa9\nContent-Length: 0\n\n"));
  CHECK(r.log.heads.at(0).reason == "Very OK \xc3\xa9");
  CHECK(r.log.heads.at(0).version_minor == 0);
  CHECK(response_fails(crlf("HTTP/2.0 200 OK\nContent-Length: 0\n\n")));
  CHECK(response_fails(crlf("HTTP/1.2 200 OK\nContent-Length: 0\n\n")));
  CHECK(response_fails(crlf("http/1.1 200 OK\nContent-Length: 0\n\n")));
  CHECK(response_fails(crlf("HTTP/1.1 099 OK\nContent-Length: 0\n\n")));
  CHECK(response_fails(crlf("HTTP/1.1 600 OK\nContent-Length: 0\n\n")));
  CHECK(response_fails(crlf("HTTP/1.1 20 OK\nContent-Length: 0\n\n")));
  CHECK(response_fails(crlf("HTTP/1.1 2000 OK\nContent-Length: 0\n\n")));
  CHECK(response_fails(crlf("HTTP/1.1  200 OK\nContent-Length: 0\n\n")));
  CHECK(response_fails(crlf("HTTP/1.1 200\tOK\nContent-Length: 0\n\n")));
  CHECK(response_fails(crlf("HTTP/1.1 200 O\x01K\nContent-Length: 0\n\n")));
  CHECK(response_fails(crlf("HTTP/1.1 2x0 OK\nContent-Length: 0\n\n")));
  CHECK(response_fails("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"));
  CHECK(response_fails("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n"));
  CHECK(response_fails("\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
}

TEST_CASE("response: header fields", "[http1][response]") {
  CHECK(response_fails(crlf("HTTP/1.1 200 OK\nContent-Length : 0\n\n")));
  CHECK(response_fails(crlf("HTTP/1.1 200 OK\nX: a\n b\nContent-Length: 0\n\n")));
  CHECK(response_fails(crlf("HTTP/1.1 200 OK\nX: a\x7f\nContent-Length: 0\n\n")));
  CHECK(response_fails(crlf("HTTP/1.1 200 OK\n: a\nContent-Length: 0\n\n")));
  CHECK(response_fails("HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n"));
  ResponseLog log;
  ResponseParser small(log, 64, 2);
  CHECK(small.feed(crlf("HTTP/1.1 200 OK\nA: 1\nB: 2\nC: 3\n\n")) == 0);
  CHECK(small.phase() == ParsePhase::Failed);
  ResponseParser tiny(log, 32, 100);
  CHECK(tiny.feed(crlf("HTTP/1.1 200 OK\nServer: ") + std::string(40, 'x')) == 0);
  CHECK(tiny.phase() == ParsePhase::Failed);
  CHECK(tiny.error().side == core::Side::Upstream);
}

TEST_CASE("response: bodiless responses", "[http1][response]") {
  ResponseRun r = run_response(crlf("HTTP/1.1 200 OK\nContent-Length: 100\n\n"), Method::Head);
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].framing == BodyFraming::None);
  CHECK(r.log.trace == "HC");
  r = run_response(crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"), Method::Head);
  CHECK(r.log.heads.at(0).framing == BodyFraming::None);
  r = run_response(crlf("HTTP/1.1 204 No Content\n\n"));
  CHECK(r.log.heads.at(0).framing == BodyFraming::None);
  CHECK(r.log.heads.at(0).keep_alive);
  r = run_response(crlf("HTTP/1.1 304 Not Modified\nContent-Length: 10\n\n"));
  CHECK(r.log.heads.at(0).framing == BodyFraming::None);
  CHECK(r.log.trace == "HC");
  r = run_response(crlf("HTTP/1.1 200 OK\nContent-Length: 0\n\n"));
  CHECK(r.log.heads.at(0).framing == BodyFraming::None);
  CHECK(r.log.heads.at(0).content_length == 0);
}

TEST_CASE("response: 1xx interim responses are skipped", "[http1][response]") {
  const std::string interim =
      crlf("HTTP/1.1 100 Continue\n\nHTTP/1.1 103 Early Hints\nLink: </a>\n\n");
  const std::string final_resp = crlf("HTTP/1.1 200 OK\nContent-Length: 2\n\nok");
  ResponseRun r = run_response(interim + final_resp);
  REQUIRE_FALSE(r.failed);
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].status == 200);
  CHECK(r.log.heads[0].headers.size() == 1);
  CHECK(r.log.bodies[0] == "ok");

  // Final head not there yet: the interim bytes are reported consumed, phase stays Head.
  ResponseLog log;
  ResponseParser p(log);
  CHECK(p.feed(interim + "HTTP/1.1 2") == interim.size());
  CHECK(p.phase() == ParsePhase::Head);
  CHECK(log.heads.empty());
  const std::string rest = "HTTP/1.1 2" + final_resp.substr(10);
  CHECK(p.feed(std::string_view(rest).substr(0, 12)) == 0);
  CHECK(p.feed(rest) == rest.size() - 2);
  CHECK(p.phase() == ParsePhase::Body);

  CHECK(response_fails(crlf("HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\n")));
  CHECK(response_fails(crlf("HTTP/1.1 100 Continue\nX : y\n\n") + final_resp));
}

TEST_CASE("response: Transfer-Encoding framing", "[http1][response]") {
  ResponseRun r =
      run_response(crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"
                        "3\nabc\n0\n\n"));
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].framing == BodyFraming::Chunked);
  CHECK(r.log.heads[0].keep_alive);
  CHECK(r.log.bodies[0] == "abc");
  // CL ignored next to TE, and the connection is not reused.
  r =
      run_response(crlf("HTTP/1.1 200 OK\nContent-Length: 100\nTransfer-Encoding: chunked\n\n"
                        "3\nabc\n0\n\n"));
  CHECK(r.log.heads.at(0).framing == BodyFraming::Chunked);
  CHECK_FALSE(r.log.heads.at(0).keep_alive);
  CHECK(r.log.bodies.at(0) == "abc");
  r = run_response(crlf("HTTP/1.1 200 OK\nTransfer-Encoding: gzip, chunked\n\n0\n\n"));
  CHECK(r.log.heads.at(0).framing == BodyFraming::Chunked);
  r = run_response(crlf("HTTP/1.1 200 OK\nTransfer-Encoding: gzip\n\nraw bytes"), Method::Get,
                   true);
  CHECK(r.log.heads.at(0).framing == BodyFraming::UntilClose);
  CHECK_FALSE(r.log.heads.at(0).keep_alive);
  CHECK(r.eof_ok);
  CHECK(r.log.bodies.at(0) == "raw bytes");
  r = run_response(crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked, gzip\n\nx"), Method::Get,
                   true);
  CHECK(r.log.heads.at(0).framing == BodyFraming::UntilClose);
  CHECK(response_fails(crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked, chunked\n\n0\n\n")));
  CHECK(response_fails(crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhelloX\n0\n\n")));
  CHECK(response_fails(crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\nz\n")));
  r = run_response(
      crlf("HTTP/1.0 200 OK\nConnection: keep-alive\nTransfer-Encoding: chunked\n\n0\n\n"));
  CHECK(r.log.heads.at(0).framing == BodyFraming::Chunked);
  CHECK_FALSE(r.log.heads.at(0).keep_alive);
}

TEST_CASE("response: Content-Length rules", "[http1][response]") {
  ResponseRun r =
      run_response(crlf("HTTP/1.1 200 OK\nContent-Length: 3\nContent-Length: 3\n\nabc"));
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].content_length == 3);
  r = run_response(crlf("HTTP/1.1 200 OK\nContent-Length: 3, 3\n\nabc"));
  CHECK(r.log.heads.at(0).content_length == 3);
  CHECK(response_fails(crlf("HTTP/1.1 200 OK\nContent-Length: 3\nContent-Length: 4\n\nabcd")));
  CHECK(response_fails(crlf("HTTP/1.1 200 OK\nContent-Length: 3, 4\n\nabcd")));
  CHECK(response_fails(crlf("HTTP/1.1 200 OK\nContent-Length: 3,\n\nabc")));
  CHECK(response_fails(crlf("HTTP/1.1 200 OK\nContent-Length: -3\n\nabc")));
  CHECK(response_fails(crlf("HTTP/1.1 200 OK\nContent-Length: \n\nabc")));
  CHECK(response_fails(crlf("HTTP/1.1 200 OK\nContent-Length: 99999999999999999999\n\n")));
}

TEST_CASE("response: until-close body and feed_eof", "[http1][response]") {
  ResponseRun r = run_response(crlf("HTTP/1.1 200 OK\nServer: x\n\nsome body"), Method::Get, true);
  REQUIRE(r.log.heads.size() == 1);
  CHECK(r.log.heads[0].framing == BodyFraming::UntilClose);
  CHECK_FALSE(r.log.heads[0].keep_alive);
  CHECK(r.eof_ok);
  CHECK(r.log.bodies[0] == "some body");
  CHECK(r.log.trace == "HC");

  ResponseLog log;
  ResponseParser p(log);
  CHECK_FALSE(p.feed_eof());
  CHECK(p.error().kind == ErrorKind::Reset);
  CHECK(p.error().side == core::Side::Upstream);

  p.reset();
  CHECK(p.feed("HTTP/1.1 2") == 0);
  CHECK_FALSE(p.feed_eof());
  CHECK(p.error().kind == ErrorKind::ParseError);

  p.reset();
  const std::string h = crlf("HTTP/1.1 200 OK\nContent-Length: 5\n\n");
  CHECK(p.feed(h + "hel") == h.size());
  CHECK(p.feed("hel") == 3);
  CHECK_FALSE(p.feed_eof());
  CHECK(p.phase() == ParsePhase::Failed);
  CHECK(p.error().kind == ErrorKind::ParseError);

  p.reset();
  const std::string c = crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n");
  CHECK(p.feed(c + "5\r\nhel") == c.size());
  CHECK(p.feed("5\r\nhel") == 6);
  CHECK_FALSE(p.feed_eof());

  p.reset();
  CHECK(p.feed(crlf("HTTP/1.1 204 No Content\n\n")) > 0);
  CHECK(p.phase() == ParsePhase::Complete);
  CHECK(p.feed_eof());
}

TEST_CASE("response: keep_alive", "[http1][response]") {
  auto ka = [](std::string_view msg) {
    ResponseRun r = run_response(crlf(msg));
    REQUIRE(r.log.heads.size() == 1);
    return r.log.heads[0].keep_alive;
  };
  CHECK(ka("HTTP/1.1 200 OK\nContent-Length: 0\n\n"));
  CHECK_FALSE(ka("HTTP/1.1 200 OK\nConnection: close\nContent-Length: 0\n\n"));
  CHECK_FALSE(ka("HTTP/1.0 200 OK\nContent-Length: 0\n\n"));
  CHECK(ka("HTTP/1.0 200 OK\nConnection: keep-alive\nContent-Length: 0\n\n"));
}

TEST_CASE("response: pipelined responses and any split", "[http1][response][split]") {
  const std::string input = crlf(
      "HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\nContent-Length: 3\n\nabc"
      "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n4;x=y\nwxyz\n2\n12\n0\nT: 1\n\n"
      "HTTP/1.1 204 No Content\n\n"
      "HTTP/1.1 200 OK\n\nuntil close");
  const ResponseRun whole = run_response(input, Method::Get, true);
  REQUIRE_FALSE(whole.failed);
  CHECK(whole.eof_ok);
  REQUIRE(whole.log.heads.size() == 4);
  CHECK(whole.log.trace == "HCHCHCHC");
  CHECK(whole.log.bodies == std::vector<std::string>{"abc", "wxyz12", "", "until close"});
  auto same = [&](const ResponseRun& r) {
    REQUIRE_FALSE(r.failed);
    CHECK(r.eof_ok);
    CHECK(r.log.trace == whole.log.trace);
    CHECK(r.log.bodies == whole.log.bodies);
  };
  for (size_t cut = 1; cut < input.size(); ++cut) {
    same(run_response(input, Method::Get, true, {cut}));
  }
  same(run_response(input, Method::Get, true, every_byte(input.size())));
}

}  // namespace
}  // namespace portico::proxy::http1
