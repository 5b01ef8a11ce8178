// HTTP/1 parser micro benchmarks: a typical browser GET (~500 bytes, 12 fields), a small
// response, and a chunked request body. Each iteration parses one whole message from one buffer.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "proxy/http1/parser.h"

namespace portico::proxy::http1 {
namespace {

const std::string kBrowserGet =
    "GET /static/js/app.3f9c2a.js?v=20240611&lang=en HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0\r\n"
    "Accept: */*\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Referer: https://www.example.com/products/widgets\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=4f1c9d0e8a7b6c5d; theme=dark; consent=1\r\n"
    "Sec-Fetch-Dest: script\r\n"
    "Sec-Fetch-Mode: no-cors\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "If-None-Match: \"5d8c72a5edda8d6a\"\r\n"
    "\r\n";

const std::string kSmallResponse =
    "HTTP/1.1 200 OK\r\n"
    "Date: Tue, 11 Jun 2024 10:00:00 GMT\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 27\r\n"
    "Cache-Control: max-age=60\r\n"
    "ETag: \"abc123\"\r\n"
    "\r\n"
    "{\"ok\":true,\"items\":[1,2,3]}";

std::string make_chunked() {
  std::string s =
      "POST /api/upload HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: "
      "application/octet-stream\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 8; ++i) s += "400\r\n" + std::string(1024, 'x') + "\r\n";
  s += "0\r\n\r\n";
  return s;
}

const std::string kChunked = make_chunked();

struct NullRequestEvents : RequestEvents {
  size_t bytes = 0;
  void on_head(std::unique_ptr<core::RequestHead> head) override {
    benchmark::DoNotOptimize(head->path.data());
  }
  void on_body(std::string_view d) override { bytes += d.size(); }
  void on_complete() override {}
};

struct NullResponseEvents : ResponseEvents {
  size_t bytes = 0;
  void on_head(core::ResponseHead&& head) override { benchmark::DoNotOptimize(head.status); }
  void on_body(std::string_view d) override { bytes += d.size(); }
  void on_complete() override {}
};

// Parses one request the way a connection does: head first, then the rest as body.
void parse_request(RequestParser& p, std::string_view msg) {
  p.reset();
  size_t used = p.feed(msg);
  while (p.phase() == ParsePhase::Body && used < msg.size()) used += p.feed(msg.substr(used));
  if (p.phase() != ParsePhase::Complete) std::abort();
}

void BM_BrowserGet(benchmark::State& state) {
  NullRequestEvents ev;
  RequestParser p(Limits{}, ev);
  for (auto _ : state) parse_request(p, kBrowserGet);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBrowserGet.size()));
}
BENCHMARK(BM_BrowserGet);

void BM_SmallResponse(benchmark::State& state) {
  NullResponseEvents ev;
  ResponseParser p(ev);
  for (auto _ : state) {
    p.reset();
    const size_t used = p.feed(kSmallResponse);
    p.feed(std::string_view(kSmallResponse).substr(used));
    if (p.phase() != ParsePhase::Complete) std::abort();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kSmallResponse.size()));
}
BENCHMARK(BM_SmallResponse);

void BM_ChunkedBody(benchmark::State& state) {
  NullRequestEvents ev;
  RequestParser p(Limits{}, ev);
  for (auto _ : state) parse_request(p, kChunked);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kChunked.size()));
}
BENCHMARK(BM_ChunkedBody);

// The same GET trickled in 64-byte reads: checks that incomplete heads are not rescanned.
void BM_BrowserGetTrickled(benchmark::State& state) {
  NullRequestEvents ev;
  RequestParser p(Limits{}, ev);
  const std::string_view msg = kBrowserGet;
  for (auto _ : state) {
    p.reset();
    for (size_t have = 64;; have += 64) {
      if (p.feed(msg.substr(0, std::min(have, msg.size()))) != 0) break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBrowserGet.size()));
}
BENCHMARK(BM_BrowserGetTrickled);

}  // namespace
}  // namespace portico::proxy::http1

BENCHMARK_MAIN();
