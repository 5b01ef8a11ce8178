// libFuzzer target for the HTTP/1 response parser. The first byte picks the split sizes, the
// limits and the request method (HEAD or GET); the rest is fed like an upstream connection does
// (unconsumed bytes re-presented contiguously, reset after each response, then EOF). The same
// input is also fed in one piece, and both runs must produce the same responses and bodies.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http1/parser.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/hop_by_hop_check.h"

namespace {

using portico::core::BodyFraming;
using portico::core::ErrorKind;
using portico::proxy::http1::ParsePhase;
using portico::proxy::http1::ResponseEvents;
using portico::proxy::http1::ResponseParser;

struct Events : ResponseEvents {
  std::string_view fed;  // the bytes of the current feed() call
  std::string log;       // heads and bodies, as a comparable transcript
  bool in_message = false;
  bool head_request = false;
  size_t messages = 0;

  void on_head(portico::core::ResponseHead&& h) override {
    FUZZ_CHECK(!in_message);
    in_message = true;
    FUZZ_CHECK(h.status >= 200 && h.status <= 599);
    FUZZ_CHECK(h.version_minor == 0 || h.version_minor == 1);
    FUZZ_CHECK(h.framing != BodyFraming::Length || h.content_length > 0);
    FUZZ_CHECK(h.framing != BodyFraming::UntilClose || !h.keep_alive);
    if (head_request || h.status == 204 || h.status == 304) {
      FUZZ_CHECK(h.framing == BodyFraming::None);
    }
    portico::fuzz::check_remove_hop_by_hop(h.headers);
    log += "H " + std::to_string(h.status) + " " + h.reason + " " +
           std::to_string(h.headers.size()) + " " + std::to_string(static_cast<int>(h.framing)) +
           "\n";
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
  bool eof_ok = false;
};

void check_error(const ResponseParser& parser) {
  const auto& e = parser.error();
  FUZZ_CHECK(e.side == portico::core::Side::Upstream);
  FUZZ_CHECK(e.kind == ErrorKind::ParseError || e.kind == ErrorKind::Reset);
}

void run(std::string_view input, uint32_t max_bytes, uint32_t max_count, bool head,
         const std::vector<size_t>& pieces, Run& r) {
  ResponseParser parser(r.events, max_bytes, max_count);
  r.events.head_request = head;
  parser.set_request_method(head ? portico::core::Method::Head : portico::core::Method::Get);
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
        check_error(parser);
        FUZZ_CHECK(parser.error().kind == ErrorKind::ParseError);
        r.failed = true;
        return;
      }
      if (before == ParsePhase::Body && parser.phase() == ParsePhase::Body) {
        FUZZ_CHECK(used == pending.size());  // body bytes are always taken
      }
      pending.erase(0, used);
      if (parser.phase() == ParsePhase::Complete) {
        FUZZ_CHECK(!r.events.in_message);
        parser.reset();
        parser.set_request_method(head ? portico::core::Method::Head : portico::core::Method::Get);
        if (pending.empty()) break;
        continue;
      }
      if (used == 0 || pending.empty()) break;
    }
  }
  r.eof_ok = parser.feed_eof();
  if (r.eof_ok) {
    FUZZ_CHECK(!r.events.in_message);
    FUZZ_CHECK(pending.empty());
  } else {
    FUZZ_CHECK(parser.phase() == ParsePhase::Failed);
    check_error(parser);
    r.failed = true;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const bool small = (mode & 0x10) != 0;
  const uint32_t max_bytes = small ? 160 : 65'536;
  const uint32_t max_count = small ? 6 : 100;
  const bool head = (mode & 0x20) != 0;

  std::vector<size_t> pieces;
  const size_t max_piece = size_t{1} << (mode & 0x07);  // 1..128
  uint32_t x = mode * 2654435761u + 1;
  for (int i = 0; i < 16; ++i) {
    x = x * 1103515245u + 12345u;
    pieces.push_back(1 + (x >> 16) % max_piece);
  }

  Run split;
  run(input, max_bytes, max_count, head, pieces, split);
  Run whole;
  run(input, max_bytes, max_count, head, {input.size() + 1}, whole);

  FUZZ_CHECK(split.failed == whole.failed);
  FUZZ_CHECK(split.eof_ok == whole.eof_ok);
  FUZZ_CHECK(split.events.messages == whole.events.messages);
  FUZZ_CHECK(split.events.log == whole.events.log);
  return 0;
}
