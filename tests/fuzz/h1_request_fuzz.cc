// libFuzzer target for the HTTP/1 request parser. The first byte picks the split sizes and the
// limits; the rest is fed like a connection does (unconsumed bytes re-presented contiguously, reset
// after each message, pipelined messages looped over). The same input is also fed in one piece, and
// both runs must produce the same messages and bodies.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http1/parser.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/hop_by_hop_check.h"

namespace {

using portico::core::BodyFraming;
using portico::proxy::http1::Limits;
using portico::proxy::http1::ParsePhase;
using portico::proxy::http1::RequestEvents;
using portico::proxy::http1::RequestParser;

struct Events : RequestEvents {
  std::string_view fed;  // the bytes of the current feed() call
  std::string log;       // heads and bodies, as a comparable transcript
  bool in_message = false;
  size_t messages = 0;

  void on_head(std::unique_ptr<portico::core::RequestHead> head) override {
    FUZZ_CHECK(head != nullptr);
    portico::core::RequestHead& h = *head;
    FUZZ_CHECK(!in_message);
    in_message = true;
    FUZZ_CHECK(!h.method_token.empty());
    FUZZ_CHECK(!h.path.empty() || h.method == portico::core::Method::Connect);
    FUZZ_CHECK(h.version_minor == 0 || h.version_minor == 1);
    FUZZ_CHECK(h.framing != BodyFraming::UntilClose);
    FUZZ_CHECK(h.framing != BodyFraming::Length || h.content_length > 0);
    FUZZ_CHECK(h.version_minor == 0 || !h.authority.empty());
    for (char c : h.authority) FUZZ_CHECK(c < 'A' || c > 'Z');
    portico::fuzz::check_remove_hop_by_hop(h.headers);
    log += "H " + h.method_token + " " + h.target + " " + std::to_string(h.headers.size()) + " " +
           std::to_string(static_cast<int>(h.framing)) + "\n";
  }
  void on_body(std::string_view d) override {
    FUZZ_CHECK(in_message);
    FUZZ_CHECK(!d.empty());
    FUZZ_CHECK(d.data() >= fed.data() && d.data() + d.size() <= fed.data() + fed.size());
    log.append(d);
  }
  void on_complete() override {
    FUZZ_CHECK(in_message);
    in_message = false;
    ++messages;
    log += "\nC\n";
  }
};

struct Run {
  Events events;
  bool failed = false;
  int status = 0;
};

void run(std::string_view input, const Limits& limits, const std::vector<size_t>& pieces, Run& r) {
  RequestParser parser(limits, r.events);
  std::string pending;
  size_t off = 0;
  size_t piece = 0;
  while (off < input.size()) {
    const size_t n = std::min(pieces[piece++ % pieces.size()], input.size() - off);
    pending.append(input.substr(off, n));
    off += n;
    // Every pass consumes bytes or stops, so passes are bounded by the bytes held (no spinning).
    const size_t max_passes = pending.size() + 2;
    for (size_t pass = 0;; ++pass) {
      FUZZ_CHECK(pass <= max_passes);
      const ParsePhase before = parser.phase();
      r.events.fed = pending;
      const size_t used = parser.feed(pending);
      FUZZ_CHECK(used <= pending.size());
      if (parser.phase() == ParsePhase::Failed) {
        FUZZ_CHECK(used == 0);
        const auto& e = parser.error();
        FUZZ_CHECK(e.side == portico::core::Side::Downstream);
        FUZZ_CHECK(e.status == 400 || e.status == 413 || e.status == 414 || e.status == 417 ||
                   e.status == 431 || e.status == 501 || e.status == 505);
        r.failed = true;
        r.status = e.status;
        return;
      }
      if (before == ParsePhase::Head && parser.phase() == ParsePhase::Head) FUZZ_CHECK(used == 0);
      if (before == ParsePhase::Body && parser.phase() == ParsePhase::Body) {
        FUZZ_CHECK(used == pending.size());  // body bytes are always taken
      }
      pending.erase(0, used);
      if (parser.phase() == ParsePhase::Complete) {
        FUZZ_CHECK(!r.events.in_message);
        FUZZ_CHECK(parser.feed(pending) == 0);
        parser.reset();
        if (pending.empty()) break;
        continue;
      }
      if (used == 0 || pending.empty()) break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  Limits limits;
  if (mode & 0x10) {
    limits.max_request_line_bytes = 48;
    limits.max_header_bytes = 160;
    limits.max_header_count = 6;
  }
  if (mode & 0x20) limits.max_body_bytes = 64;

  // Piece sizes: a small deterministic sequence seeded by the mode byte.
  std::vector<size_t> pieces;
  const size_t max_piece = size_t{1} << (mode & 0x07);  // 1..128
  uint32_t x = mode * 2654435761u + 1;
  for (int i = 0; i < 16; ++i) {
    x = x * 1103515245u + 12345u;
    pieces.push_back(1 + (x >> 16) % max_piece);
  }

  Run split;
  run(input, limits, pieces, split);
  Run whole;
  run(input, limits, {input.size() + 1}, whole);

  // Splitting must not change what is parsed. Only the reason may differ when a size limit is hit
  // before a later syntax error could be seen (an incomplete line is judged by its length alone).
  FUZZ_CHECK(split.failed == whole.failed);
  FUZZ_CHECK(split.events.messages == whole.events.messages);
  FUZZ_CHECK(split.events.log == whole.events.log);
  const auto limit_status = [](int s) { return s == 414 || s == 431; };
  if (!limit_status(split.status) && !limit_status(whole.status)) {
    FUZZ_CHECK(split.status == whole.status);
  }
  return 0;
}
