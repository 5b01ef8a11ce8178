#include "proxy/http1/parser.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>

namespace portico::proxy::http1 {
namespace {

using core::BodyFraming;
using core::ErrorKind;

// Byte classes (RFC 9110 §5.6.2 tchar, §5.5 field-value, RFC 3986 host characters).
enum : uint8_t {
  kTchar = 1,
  kTarget = 2,   // visible ASCII except '#'
  kValue = 4,    // HTAB, SP, VCHAR, obs-text
  kRegName = 8,  // unreserved / sub-delims / '%'
  kHex = 16,
  kDigit = 32,
};

constexpr std::array<uint8_t, 256> make_classes() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t f = 0;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    if (alpha || digit) f |= kTchar | kRegName;
    for (char x : std::string_view("!#$%&'*+-.^_`|~")) {
      if (c == x) f |= kTchar;
    }
    for (char x : std::string_view("-._~!$&'()*+,;=%")) {
      if (c == x) f |= kRegName;
    }
    if (c >= 0x21 && c <= 0x7E && c != '#') f |= kTarget;
    if (c == '\t' || (c >= 0x20 && c <= 0x7E) || c >= 0x80) f |= kValue;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) f |= kHex;
    if (digit) f |= kDigit;
    t[static_cast<size_t>(c)] = f;
  }
  return t;
}

constexpr std::array<uint8_t, 256> kClass = make_classes();

inline bool is(char c, uint8_t cls) { return (kClass[static_cast<unsigned char>(c)] & cls) != 0; }
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

// Word-at-a-time checks (Bit Twiddling Hacks "hasless"/"haszero"): exact about whether some byte
// matches, which is all the fast paths need; a flagged word is rechecked byte by byte.
constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHigh = 0x8080808080808080ull;
inline uint64_t load8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint64_t has_less(uint64_t x, uint8_t n) { return (x - kOnes * n) & ~x & kHigh; }
inline uint64_t has_byte(uint64_t x, uint8_t b) {
  const uint64_t y = x ^ (kOnes * b);
  return (y - kOnes) & ~y & kHigh;
}

inline bool value_word_clean(uint64_t x) { return (has_less(x, 0x20) | has_byte(x, 0x7F)) == 0; }

// Every byte is HTAB, SP, VCHAR or obs-text (RFC 9110 §5.5 field-value). Words holding a CTL
// (usually an HTAB) are rechecked byte by byte; the last word overlaps instead of a byte tail.
bool valid_value(const char* p, size_t n) {
  if (n >= 8) {
    for (size_t i = 0;; i += 8) {
      if (i + 8 > n) i = n - 8;
      if (!value_word_clean(load8(p + i))) {
        for (size_t k = i; k < i + 8; ++k) {
          if (!is(p[k], kValue)) return false;
        }
      }
      if (i + 8 == n) return true;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (!is(p[i], kValue)) return false;
  }
  return true;
}

// Every byte is visible ASCII other than '#' (request-target, RFC 9112 §3.2).
bool valid_target(const char* p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t x = load8(p + i);
    if ((has_less(x, 0x21) | has_byte(x, 0x7F) | has_byte(x, '#') | (x & kHigh)) != 0) return false;
  }
  for (; i < n; ++i) {
    if (!is(p[i], kTarget)) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Calls fn(element) for every comma-separated list element, empty ones included.
template <typename Fn>
void for_each_element(std::string_view list, Fn&& fn) {
  for (;;) {
    const size_t comma = list.find(',');
    fn(trim_ows(list.substr(0, comma)));
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

// 1*DIGIT that fits in int64_t (the widest length anything downstream stores).
bool parse_decimal(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!is(c, kDigit)) return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is(c, kDigit); });
}

// uri-host [ ":" port ] (RFC 3986 §3.2.2): reg-name or IPv4 (same characters), or an IP literal in
// brackets. With require_port the port must be present (authority-form, RFC 9112 §3.2.3).
bool valid_authority(std::string_view a, bool require_port) {
  std::string_view host = a;
  std::string_view port;
  bool has_port = false;
  if (!a.empty() && a.front() == '[') {
    const size_t close = a.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : a.substr(1, close - 1)) {
      if (!is(c, kHex) && c != ':' && c != '.') return false;
    }
    std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      has_port = true;
      port = rest.substr(1);
    }
  } else {
    const size_t colon = a.find(':');
    if (colon != std::string_view::npos) {
      host = a.substr(0, colon);
      port = a.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) return false;
    for (char c : host) {
      if (!is(c, kRegName)) return false;
    }
  }
  if (has_port && !all_digits(port)) return false;
  return has_port || !require_port;
}

enum class Known : uint8_t { Other, Host, ContentLength, TransferEncoding, Connection, Expect };

inline Known classify(std::string_view name) {
  // Filter on length and first letter before the full comparison.
  const char first = static_cast<char>(name.empty() ? 0 : (name[0] | 0x20));
  switch (name.size()) {
    case 4:
      return first == 'h' && core::name_is(name, "host") ? Known::Host : Known::Other;
    case 6:
      return first == 'e' && core::name_is(name, "expect") ? Known::Expect : Known::Other;
    case 10:
      return first == 'c' && core::name_is(name, "connection") ? Known::Connection : Known::Other;
    case 14:
      return first == 'c' && core::name_is(name, "content-length") ? Known::ContentLength
                                                                   : Known::Other;
    case 17:
      return first == 't' && core::name_is(name, "transfer-encoding") ? Known::TransferEncoding
                                                                      : Known::Other;
    default:
      return Known::Other;
  }
}

// field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). Rejects obs-fold, whitespace
// before the colon, empty names and CTLs in the value (bare CR included).
bool split_field(std::string_view line, std::string_view& name, std::string_view& value) {
  const size_t n = line.size();
  size_t i = 0;
  while (i < n && is(line[i], kTchar)) ++i;
  if (i == 0 || i == n || line[i] != ':') return false;
  name = line.substr(0, i);
  size_t b = i + 1;
  size_t e = n;
  while (b < e && is_ows(line[b])) ++b;
  while (e > b && is_ows(line[e - 1])) --e;
  if (!valid_value(line.data() + b, e - b)) return false;
  value = line.substr(b, e - b);
  return true;
}

enum class LineStatus : uint8_t { Line, NeedMore, BareLf };

// Finds the next CRLF-terminated head line at scan.line_start; `line` excludes the CRLF.
LineStatus next_head_line(std::string_view data, detail::HeadScan& scan, std::string_view& line) {
  const size_t from = std::max(scan.scanned, scan.line_start);
  if (from >= data.size()) {
    scan.scanned = std::max(from, data.size());
    return LineStatus::NeedMore;
  }
  const char* base = data.data();
  const void* nl = std::memchr(base + from, '\n', data.size() - from);
  if (nl == nullptr) {
    scan.scanned = data.size();
    return LineStatus::NeedMore;
  }
  const size_t end = static_cast<size_t>(static_cast<const char*>(nl) - base);
  if (end == scan.line_start || base[end - 1] != '\r') return LineStatus::BareLf;
  line = data.substr(scan.line_start, end - 1 - scan.line_start);
  scan.line_start = end + 1;
  scan.scanned = scan.line_start;
  return LineStatus::Line;
}

// fast_field_line reads eight bytes as one word and finds the first flagged byte with ctz.
static_assert(std::endian::native == std::endian::little, "ctz finds the first byte");

// One pass over a complete, well-formed field line at scan.line_start: name (tchars up to the
// colon), OWS, a value of HTAB/SP/VCHAR/obs-text found word-at-a-time up to its CRLF, trailing OWS
// trimmed. Anything else (obs-fold, a CTL, a bare CR or LF, an incomplete line) returns false
// with `scan` untouched, and the caller takes the byte-exact path (next_head_line + split_field),
// which decides what it is; both give the same name and value for every line this accepts.
bool fast_field_line(std::string_view data, detail::HeadScan& scan, std::string_view& name,
                     std::string_view& value) {
  // A line the byte-exact path has already scanned in part (it arrived in pieces) stays with
  // that path, which resumes where it stopped: no rescans of a slowly trickling line.
  if (scan.scanned > scan.line_start) return false;
  const char* p = data.data();
  const size_t n = data.size();
  size_t i = scan.line_start;
  const size_t name_start = i;
  while (i < n && is(p[i], kTchar)) ++i;
  if (i == name_start || i >= n || p[i] != ':') return false;
  const size_t name_end = i++;
  while (i < n && is_ows(p[i])) ++i;
  const size_t value_start = i;
  size_t cr = 0;
  for (;;) {
    if (i + 8 <= n) {
      const uint64_t x = load8(p + i);
      const uint64_t flagged = has_less(x, 0x20) | has_byte(x, 0x7F);
      if (flagged == 0) {
        i += 8;
        continue;
      }
      // The lowest flagged byte is an exact match (borrows only run upwards): jump to it.
      i += static_cast<size_t>(__builtin_ctzll(flagged)) / 8;
    } else if (i >= n) {
      return false;  // no CRLF yet
    }
    const unsigned char c = static_cast<unsigned char>(p[i]);
    if (c == '\r') {
      if (i + 1 < n && p[i + 1] == '\n') {
        cr = i;
        break;
      }
      return false;
    }
    if (c == '\t' || (c >= 0x20 && c != 0x7F)) {
      ++i;
      continue;
    }
    return false;
  }
  size_t value_end = cr;
  while (value_end > value_start && is_ows(p[value_end - 1])) --value_end;
  name = std::string_view(p + name_start, name_end - name_start);
  value = std::string_view(p + value_start, value_end - value_start);
  scan.line_start = cr + 2;
  scan.scanned = scan.line_start;
  return true;
}

// Length of a partial line, not counting a trailing CR that may start its CRLF.
size_t partial_length(std::string_view data, size_t start) {
  if (start >= data.size()) return 0;
  size_t n = data.size() - start;
  if (data.back() == '\r') --n;
  return n;
}

// "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3); returns the minor version for 1.0/1.1, -1 for another
// well-formed version, -2 when malformed.
int parse_version(std::string_view v) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !is(v[5], kDigit) || v[6] != '.' ||
      !is(v[7], kDigit)) {
    return -2;
  }
  if (v[5] == '1' && (v[7] == '0' || v[7] == '1')) return v[7] - '0';
  return -1;
}

struct Codings {
  uint32_t chunked = 0;
  uint32_t other = 0;
  uint32_t empty = 0;
  bool chunked_last = false;
};

// Combines every Transfer-Encoding field into one list (RFC 9110 §5.3).
Codings scan_codings(const core::Headers& headers) {
  Codings c;
  for (const core::Header& h : headers) {
    if (classify(h.name) != Known::TransferEncoding) continue;
    for_each_element(h.value, [&](std::string_view coding) {
      if (coding.empty()) {
        ++c.empty;  // empty list elements are legal and ignored (RFC 9110 §5.6.1)
      } else if (core::iequals(coding, "chunked")) {
        ++c.chunked;
        c.chunked_last = true;
      } else {
        ++c.other;
        c.chunked_last = false;
      }
    });
  }
  return c;
}

inline bool head_too_large(const detail::HeadScan& scan, uint32_t max_header_bytes) {
  return scan.line_start - scan.head_start > max_header_bytes;
}

constexpr size_t kMaxChunkLineBytes = 4096;
constexpr int kMaxEmptyLinesBeforeRequest = 4;

}  // namespace

bool valid_origin_target(std::string_view target) {
  return !target.empty() && target.front() == '/' && valid_target(target.data(), target.size());
}

bool valid_host(std::string_view authority) { return valid_authority(authority, false); }

// ---------------------------------------------------------------------------------------------
// detail::BodyDecoder

namespace detail {

void BodyDecoder::start(Mode mode, uint64_t length, uint64_t max_body_bytes,
                        uint32_t max_trailer_bytes) {
  switch (mode) {
    case Mode::Length:
      state_ = length == 0 ? State::Done : State::Length;
      break;
    case Mode::Chunked:
      state_ = State::ChunkSize;
      break;
    case Mode::UntilClose:
      state_ = State::UntilClose;
      break;
  }
  remaining_ = length;
  total_ = 0;
  max_body_ = max_body_bytes;
  max_trailer_ = max_trailer_bytes;
  trailer_bytes_ = 0;
  error_status_ = 0;
  error_detail_ = "";
  line_.clear();
}

bool BodyDecoder::fail(int status, const char* detail) {
  state_ = State::Failed;
  error_status_ = status;
  error_detail_ = detail;
  return false;
}

// Takes one CRLF-terminated line starting at data[pos], using line_ when it spans feeds. Returns
// false when more input is needed (pos == data.size()) or on error (failed()).
bool BodyDecoder::take_line(std::string_view data, size_t& pos, size_t limit,
                            std::string_view& line) {
  const char* p = data.data() + pos;
  const size_t avail = data.size() - pos;
  const void* nl = std::memchr(p, '\n', avail);
  if (nl == nullptr) {
    if (line_.size() + avail > limit) {
      return fail(state_ == State::Trailer ? 431 : 400, "chunk line too long");
    }
    line_.append(p, avail);
    pos = data.size();
    return false;
  }
  const size_t len = static_cast<size_t>(static_cast<const char*>(nl) - p);
  if (line_.size() + len + 1 > limit) {
    return fail(state_ == State::Trailer ? 431 : 400, "chunk line too long");
  }
  pos += len + 1;
  if (line_.empty()) {
    if (len == 0 || p[len - 1] != '\r') return fail(400, "bare LF in chunked body");
    line = std::string_view(p, len - 1);
    return true;
  }
  line_.append(p, len);
  if (line_.back() != '\r') return fail(400, "bare LF in chunked body");
  line_.pop_back();
  line = line_;
  return true;
}

// chunk-size [ chunk-ext ] (RFC 9112 §7.1.1): extensions are accepted loosely (no CTLs).
bool BodyDecoder::on_size_line(std::string_view line) {
  uint64_t size = 0;
  size_t i = 0;
  for (; i < line.size() && is(line[i], kHex); ++i) {
    if (i == 16) return fail(400, "chunk size overflow");
    const char c = line[i];
    const unsigned d = is(c, kDigit) ? static_cast<unsigned>(c - '0')
                                     : static_cast<unsigned>((c | 0x20) - 'a' + 10);
    size = (size << 4) | d;
  }
  if (i == 0) return fail(400, "bad chunk size");
  if (i < line.size()) {
    while (i < line.size() && is_ows(line[i])) ++i;
    if (i == line.size() || line[i] != ';') return fail(400, "bad chunk size");
    for (++i; i < line.size(); ++i) {
      if (!is(line[i], kValue)) return fail(400, "bad chunk extension");
    }
  }
  if (size == 0) {
    state_ = State::Trailer;
    return true;
  }
  if (size > std::numeric_limits<uint64_t>::max() - total_)
    return fail(400, "chunked body overflow");
  total_ += size;
  if (max_body_ != 0 && total_ > max_body_) return fail(413, "body too large");
  remaining_ = size;
  state_ = State::ChunkData;
  return true;
}

template <typename Events>
size_t BodyDecoder::feed(std::string_view data, Events& events) {
  size_t pos = 0;
  const size_t n = data.size();
  while (pos < n) {
    switch (state_) {
      case State::Length:
      case State::ChunkData: {
        const size_t k = static_cast<size_t>(std::min<uint64_t>(remaining_, n - pos));
        events.on_body(data.substr(pos, k));
        pos += k;
        remaining_ -= k;
        if (remaining_ == 0) state_ = state_ == State::Length ? State::Done : State::ChunkCr;
        break;
      }
      case State::UntilClose:
        events.on_body(data.substr(pos));
        return n;
      case State::ChunkCr:
        if (data[pos] != '\r') return fail(400, "missing CRLF after chunk data"), pos;
        ++pos;
        state_ = State::ChunkLf;
        break;
      case State::ChunkLf:
        if (data[pos] != '\n') return fail(400, "missing CRLF after chunk data"), pos;
        ++pos;
        state_ = State::ChunkSize;
        break;
      case State::ChunkSize: {
        std::string_view line;
        if (!take_line(data, pos, kMaxChunkLineBytes, line)) return pos;
        const bool ok = on_size_line(line);
        line_.clear();
        if (!ok) return pos;
        break;
      }
      case State::Trailer: {
        std::string_view line;
        if (!take_line(data, pos, max_trailer_ - trailer_bytes_, line)) return pos;
        trailer_bytes_ += static_cast<uint32_t>(line.size() + 2);
        std::string_view name;
        std::string_view value;
        const bool end = line.empty();
        const bool ok = end || (!is_ows(line.front()) && split_field(line, name, value));
        line_.clear();
        if (!ok) return fail(400, "bad trailer field"), pos;
        if (end) state_ = State::Done;
        break;
      }
      case State::Done:
      case State::Failed:
        return pos;
    }
  }
  return pos;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// RequestParser

RequestParser::RequestParser(const Limits& limits, RequestEvents& events)
    : limits_(limits), events_(events) {
  reset();
}

void RequestParser::reset() {
  phase_ = ParsePhase::Head;
  scan_ = detail::HeadScan{};
  facts_ = detail::FieldFacts{};
  absolute_form_ = false;
  head_.reset();  // the next request line allocates one: idle connections hold none
  error_ = core::Error{};
}

ParsePhase RequestParser::phase() const { return phase_; }
const core::Error& RequestParser::error() const { return error_; }

bool RequestParser::fail(int status, const char* detail) {
  phase_ = ParsePhase::Failed;
  const bool too_large = status == 413 || status == 414 || status == 431;
  error_ = core::Error::make(too_large ? ErrorKind::TooLarge : ErrorKind::ParseError,
                             core::Side::Downstream, detail);
  error_.status = status;
  return false;
}

size_t RequestParser::feed(std::string_view data) {
  switch (phase_) {
    case ParsePhase::Head:
      return feed_head(data);
    case ParsePhase::Body:
      return feed_body(data);
    case ParsePhase::Complete:
    case ParsePhase::Failed:
      return 0;
  }
  return 0;
}

size_t RequestParser::feed_head(std::string_view data) {
  std::string_view line;
  std::string_view name;
  std::string_view value;
  for (;;) {
    if (scan_.have_start_line && fast_field_line(data, scan_, name, value)) {
      if (!add_field(name, value)) return 0;
      if (head_too_large(scan_, limits_.max_header_bytes)) {
        return fail(431, "request head too large"), 0;
      }
      continue;
    }
    const LineStatus st = next_head_line(data, scan_, line);
    if (st == LineStatus::NeedMore) {
      if (!scan_.have_start_line &&
          partial_length(data, scan_.line_start) > limits_.max_request_line_bytes) {
        return fail(414, "request line too long"), 0;
      }
      if (data.size() > scan_.head_start &&
          data.size() - scan_.head_start >= limits_.max_header_bytes) {
        // Still inside the request line: that line is what is too long (414, not 431).
        if (!scan_.have_start_line) return fail(414, "request line too long"), 0;
        return fail(431, "request head too large"), 0;
      }
      return 0;
    }
    if (st == LineStatus::BareLf) return fail(400, "bare LF in request head"), 0;
    if (!scan_.have_start_line) {
      if (line.empty()) {
        if (++scan_.empty_lines > kMaxEmptyLinesBeforeRequest) {
          return fail(400, "too many empty lines before request"), 0;
        }
        scan_.head_start = scan_.line_start;
        continue;
      }
      if (line.size() > limits_.max_request_line_bytes) {
        return fail(414, "request line too long"), 0;
      }
      if (!parse_request_line(line)) return 0;
      scan_.have_start_line = true;
    } else if (line.empty()) {
      break;
    } else if (!parse_field(line)) {
      return 0;
    }
    if (head_too_large(scan_, limits_.max_header_bytes)) {
      return fail(431, "request head too large"), 0;
    }
  }
  if (head_too_large(scan_, limits_.max_header_bytes)) {
    return fail(431, "request head too large"), 0;
  }
  if (!finish_head()) return 0;
  const size_t consumed = scan_.line_start;
  const BodyFraming framing = head_->framing;
  events_.on_head(std::move(head_));
  if (framing == BodyFraming::None) {
    phase_ = ParsePhase::Complete;
    events_.on_complete();
  } else {
    phase_ = ParsePhase::Body;
  }
  return consumed;
}

size_t RequestParser::feed_body(std::string_view data) {
  const size_t n = body_.feed(data, events_);
  if (body_.failed()) return fail(body_.error_status(), body_.error_detail()), 0;
  if (body_.done()) {
    phase_ = ParsePhase::Complete;
    events_.on_complete();
  }
  return n;
}

// request-line = method SP request-target SP HTTP-version (RFC 9112 §3).
bool RequestParser::parse_request_line(std::string_view line) {
  const size_t n = line.size();
  size_t i = 0;
  while (i < n && is(line[i], kTchar)) ++i;
  if (i == 0 || i == n || line[i] != ' ') return fail(400, "bad method");
  const size_t t = i + 1;
  const size_t sp = line.find(' ', t);
  if (sp == std::string_view::npos || sp == t) return fail(400, "bad request line");
  if (!valid_target(line.data() + t, sp - t)) return fail(400, "bad request target");
  const size_t j = sp;
  const int minor = parse_version(line.substr(j + 1));
  if (minor == -2) return fail(400, "bad HTTP version");
  if (minor == -1) return fail(505, "unsupported HTTP version");
  // The head is handed to the connection whole (on_head): no copy of its strings and fields.
  if (!head_) head_ = std::make_unique<core::RequestHead>();
  head_->version_minor = minor;
  head_->method_token.assign(line.data(), i);
  head_->method = core::parse_method(head_->method_token);
  return parse_target(line.substr(t, j - t));
}

// request-target forms (RFC 9112 §3.2).
bool RequestParser::parse_target(std::string_view target) {
  head_->target.assign(target);
  std::string_view path_query;
  if (target.front() == '/') {
    if (head_->method == core::Method::Connect) return fail(400, "CONNECT needs authority-form");
    path_query = target;
  } else if (target == "*") {
    if (head_->method != core::Method::Options) return fail(400, "asterisk-form needs OPTIONS");
    head_->path.assign(1, '*');  // not assign("*"): GCC 12 -Wrestrict false positive
    return true;
  } else if (head_->method == core::Method::Connect) {
    if (!valid_authority(target, /*require_port=*/true)) return fail(400, "bad CONNECT target");
    return true;
  } else {
    size_t scheme_len = 0;
    if (target.size() > 7 && core::iequals(target.substr(0, 7), "http://")) {
      scheme_len = 7;
    } else if (target.size() > 8 && core::iequals(target.substr(0, 8), "https://")) {
      scheme_len = 8;
    } else {
      return fail(400, "bad request target");
    }
    std::string_view rest = target.substr(scheme_len);
    const size_t slash = rest.find_first_of("/?");
    const std::string_view authority = rest.substr(0, slash);
    if (!valid_authority(authority, /*require_port=*/false)) {
      return fail(400, "bad absolute-form authority");
    }
    core::assign_lower(head_->authority, authority);
    absolute_form_ = true;
    path_query = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  const size_t q = path_query.find('?');
  const std::string_view path = path_query.substr(0, q);
  if (path.empty()) {
    head_->path.assign(1, '/');
  } else {
    head_->path.assign(path);
  }
  if (q != std::string_view::npos) {
    head_->has_query = true;
    head_->query.assign(path_query.substr(q + 1));
  }
  return true;
}

bool RequestParser::parse_field(std::string_view line) {
  if (is_ows(line.front())) return fail(400, "obs-fold or leading whitespace");
  std::string_view name;
  std::string_view value;
  if (!split_field(line, name, value)) return fail(400, "bad header field");
  return add_field(name, value);
}

bool RequestParser::add_field(std::string_view name, std::string_view value) {
  if (++scan_.field_count > limits_.max_header_count) return fail(431, "too many header fields");
  const uint32_t index = static_cast<uint32_t>(head_->headers.size());
  switch (classify(name)) {
    case Known::Host:
      if (facts_.host++ == 0) facts_.host_index = index;
      break;
    case Known::ContentLength:
      if (facts_.content_length++ == 0) facts_.content_length_index = index;
      break;
    case Known::TransferEncoding:
      ++facts_.transfer_encoding;
      break;
    case Known::Expect:
      ++facts_.expect;
      break;
    case Known::Connection:
      ++facts_.connection;
      break;
    case Known::Other:
      break;
  }
  head_->headers.add(name, value);
  return true;
}

// Host, framing (RFC 9112 §6.3), Connection and Expect rules once all fields are in.
bool RequestParser::finish_head() {
  const core::Headers& headers = head_->headers;
  if (facts_.host > 1) return fail(400, "duplicate Host");
  if (facts_.host == 0) {
    if (head_->version_minor == 1) return fail(400, "missing Host");
  } else {
    const std::string& host = (headers.begin() + facts_.host_index)->value;
    if (!last_host_.empty() && host == last_host_) {
      // Keep-alive requests repeat their Host: the same bytes passed these checks last time.
      if (!absolute_form_) head_->authority = last_authority_;
    } else {
      if (!valid_authority(host, /*require_port=*/false)) return fail(400, "bad Host");
      if (!absolute_form_) {
        core::assign_lower(head_->authority, host);
        last_host_ = host;
        last_authority_ = head_->authority;
      }
    }
  }

  if (facts_.transfer_encoding > 0) {
    if (facts_.content_length > 0) return fail(400, "both Content-Length and Transfer-Encoding");
    if (head_->version_minor == 0) return fail(400, "Transfer-Encoding in HTTP/1.0");
    const Codings c = scan_codings(headers);
    if (c.chunked > 1) return fail(400, "chunked applied twice");
    if (c.chunked == 1 && !c.chunked_last) return fail(400, "chunked is not the final coding");
    if (c.other > 0) return fail(501, "unsupported transfer coding");
    if (c.chunked == 0) return fail(400, "empty Transfer-Encoding");
    head_->framing = BodyFraming::Chunked;
    body_.start(detail::BodyDecoder::Mode::Chunked, 0, limits_.max_body_bytes,
                limits_.max_header_bytes);
  } else if (facts_.content_length > 0) {
    if (facts_.content_length > 1) return fail(400, "duplicate Content-Length");
    uint64_t length = 0;
    if (!parse_decimal((headers.begin() + facts_.content_length_index)->value, length)) {
      return fail(400, "bad Content-Length");
    }
    if (limits_.max_body_bytes != 0 && length > limits_.max_body_bytes) {
      return fail(413, "body too large");
    }
    head_->content_length = length;
    if (length > 0) {
      head_->framing = BodyFraming::Length;
      body_.start(detail::BodyDecoder::Mode::Length, length, 0, 0);
    }
  }

  if (facts_.expect > 0) {
    for (const core::Header& h : headers) {
      if (classify(h.name) == Known::Expect && !core::iequals(h.value, "100-continue")) {
        return fail(417, "unsupported expectation");
      }
    }
    // A server must ignore 100-continue from an HTTP/1.0 client (RFC 9110 §10.1.1).
    head_->expect_continue = head_->version_minor == 1;
  }

  if (facts_.connection == 0) {
    head_->keep_alive = head_->version_minor == 1;
  } else {
    head_->keep_alive = head_->version_minor == 1 ? !headers.has_token("connection", "close")
                                                  : headers.has_token("connection", "keep-alive");
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// ResponseParser

ResponseParser::ResponseParser(ResponseEvents& events, uint32_t max_header_bytes,
                               uint32_t max_header_count)
    : events_(events), max_header_bytes_(max_header_bytes), max_header_count_(max_header_count) {
  // Every member starts in reset()'s state (default member initializers): nothing to redo here,
  // which matters because each Exchange owns a parser, hits included.
}

void ResponseParser::set_request_method(core::Method method) { request_method_ = method; }

void ResponseParser::reset_head() {
  scan_ = detail::HeadScan{};
  facts_ = detail::FieldFacts{};
  // No reserve here: every Exchange owns a parser, and a cache hit never parses a response
  // (Headers::add sizes the field vector on the first field).
  head_ = core::ResponseHead{};
}

void ResponseParser::reset() {
  phase_ = ParsePhase::Head;
  seen_bytes_ = false;
  reset_head();
  error_ = core::Error{};
}

ParsePhase ResponseParser::phase() const { return phase_; }
const core::Error& ResponseParser::error() const { return error_; }

bool ResponseParser::fail(ErrorKind kind, const char* detail) {
  phase_ = ParsePhase::Failed;
  error_ = core::Error::make(kind, core::Side::Upstream, detail);
  error_.status = 502;
  return false;
}

size_t ResponseParser::feed(std::string_view data) {
  switch (phase_) {
    case ParsePhase::Head: {
      if (!data.empty()) seen_bytes_ = true;
      // Interim 1xx responses are consumed here; when the final head is still incomplete the
      // bytes of the skipped interim responses are reported as consumed.
      size_t base = 0;
      for (;;) {
        const size_t n = parse_one_head(data.substr(base));
        if (n == 0) return phase_ == ParsePhase::Failed ? 0 : base;
        base += n;
        if (phase_ != ParsePhase::Head) return base;
        reset_head();
      }
    }
    case ParsePhase::Body:
      return feed_body(data);
    case ParsePhase::Complete:
    case ParsePhase::Failed:
      return 0;
  }
  return 0;
}

// Parses one head; returns its length, or 0 when incomplete or failed. Leaves phase_ at Head
// after an interim (1xx) response.
size_t ResponseParser::parse_one_head(std::string_view data) {
  std::string_view line;
  std::string_view name;
  std::string_view value;
  for (;;) {
    if (scan_.have_start_line && fast_field_line(data, scan_, name, value)) {
      if (!add_field(name, value)) return 0;
      if (head_too_large(scan_, max_header_bytes_)) {
        return fail(ErrorKind::ParseError, "response head too large"), 0;
      }
      continue;
    }
    const LineStatus st = next_head_line(data, scan_, line);
    if (st == LineStatus::NeedMore) {
      if (data.size() > scan_.head_start && data.size() - scan_.head_start >= max_header_bytes_) {
        return fail(ErrorKind::ParseError, "response head too large"), 0;
      }
      return 0;
    }
    if (st == LineStatus::BareLf) return fail(ErrorKind::ParseError, "bare LF in response"), 0;
    if (!scan_.have_start_line) {
      if (!parse_status_line(line)) return 0;
      scan_.have_start_line = true;
    } else if (line.empty()) {
      break;
    } else if (!parse_field(line)) {
      return 0;
    }
    if (head_too_large(scan_, max_header_bytes_)) {
      return fail(ErrorKind::ParseError, "response head too large"), 0;
    }
  }
  if (head_too_large(scan_, max_header_bytes_)) {
    return fail(ErrorKind::ParseError, "response head too large"), 0;
  }
  const size_t consumed = scan_.line_start;
  if (head_.status < 200) {
    if (head_.status == 101) return fail(ErrorKind::ParseError, "101 upgrade not supported"), 0;
    return consumed;  // interim response, skipped
  }
  if (!finish_head()) return 0;
  const BodyFraming framing = head_.framing;
  events_.on_head(std::move(head_));
  if (framing == BodyFraming::None) {
    phase_ = ParsePhase::Complete;
    events_.on_complete();
  } else {
    phase_ = ParsePhase::Body;
  }
  return consumed;
}

size_t ResponseParser::feed_body(std::string_view data) {
  const size_t n = body_.feed(data, events_);
  if (body_.failed()) return fail(ErrorKind::ParseError, body_.error_detail()), 0;
  if (body_.done()) {
    phase_ = ParsePhase::Complete;
    events_.on_complete();
  }
  return n;
}

// status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4); the SP before an
// empty reason may be missing.
bool ResponseParser::parse_status_line(std::string_view line) {
  if (line.size() < 12 || line[8] != ' ') return fail(ErrorKind::ParseError, "bad status line");
  const int minor = parse_version(line.substr(0, 8));
  if (minor < 0) return fail(ErrorKind::ParseError, "bad HTTP version");
  if (!is(line[9], kDigit) || !is(line[10], kDigit) || !is(line[11], kDigit)) {
    return fail(ErrorKind::ParseError, "bad status code");
  }
  const int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (status < 100 || status > 599) return fail(ErrorKind::ParseError, "bad status code");
  std::string_view reason;
  if (line.size() > 12) {
    if (line[12] != ' ') return fail(ErrorKind::ParseError, "bad status line");
    reason = line.substr(13);
    if (!valid_value(reason.data(), reason.size())) {
      return fail(ErrorKind::ParseError, "bad reason phrase");
    }
  }
  head_.version_minor = minor;
  head_.status = status;
  head_.reason.assign(reason);
  return true;
}

bool ResponseParser::parse_field(std::string_view line) {
  if (is_ows(line.front())) return fail(ErrorKind::ParseError, "obs-fold or leading whitespace");
  std::string_view name;
  std::string_view value;
  if (!split_field(line, name, value)) return fail(ErrorKind::ParseError, "bad header field");
  return add_field(name, value);
}

bool ResponseParser::add_field(std::string_view name, std::string_view value) {
  if (++scan_.field_count > max_header_count_) {
    return fail(ErrorKind::ParseError, "too many header fields");
  }
  switch (classify(name)) {
    case Known::ContentLength:
      ++facts_.content_length;
      break;
    case Known::TransferEncoding:
      ++facts_.transfer_encoding;
      break;
    case Known::Host:
    case Known::Expect:
    case Known::Connection:
    case Known::Other:
      break;
  }
  head_.headers.add(name, value);
  return true;
}

// Response framing (RFC 9112 §6.3).
bool ResponseParser::finish_head() {
  const core::Headers& headers = head_.headers;
  head_.keep_alive = head_.version_minor == 1 ? !headers.has_token("connection", "close")
                                              : headers.has_token("connection", "keep-alive");
  if (request_method_ == core::Method::Head || head_.status == 204 || head_.status == 304) {
    head_.framing = BodyFraming::None;
    return true;
  }
  if (facts_.transfer_encoding > 0) {
    const Codings c = scan_codings(headers);
    if (c.chunked > 1) return fail(ErrorKind::ParseError, "chunked applied twice");
    // A Transfer-Encoding in an HTTP/1.0 message or next to Content-Length means faulty framing:
    // close after this response (RFC 9112 §6.1, §6.3).
    if (facts_.content_length > 0 || head_.version_minor == 0) head_.keep_alive = false;
    if (c.chunked_last) {
      head_.framing = BodyFraming::Chunked;
      body_.start(detail::BodyDecoder::Mode::Chunked, 0, 0, max_header_bytes_);
    } else {
      head_.framing = BodyFraming::UntilClose;
      head_.keep_alive = false;
      body_.start(detail::BodyDecoder::Mode::UntilClose, 0, 0, 0);
    }
    return true;
  }
  if (facts_.content_length > 0) {
    // Identical repeated values ("5, 5" or two fields) are one length (RFC 9110 §8.6).
    bool ok = true;
    bool have = false;
    uint64_t length = 0;
    for (const core::Header& h : headers) {
      if (classify(h.name) != Known::ContentLength) continue;
      for_each_element(h.value, [&](std::string_view v) {
        uint64_t x = 0;
        if (!parse_decimal(v, x) || (have && x != length)) ok = false;
        length = x;
        have = true;
      });
    }
    if (!ok) return fail(ErrorKind::ParseError, "bad Content-Length");
    head_.content_length = length;
    if (length > 0) {
      head_.framing = BodyFraming::Length;
      body_.start(detail::BodyDecoder::Mode::Length, length, 0, 0);
    }
    return true;
  }
  head_.framing = BodyFraming::UntilClose;
  head_.keep_alive = false;
  body_.start(detail::BodyDecoder::Mode::UntilClose, 0, 0, 0);
  return true;
}

bool ResponseParser::feed_eof() {
  switch (phase_) {
    case ParsePhase::Complete:
      return true;
    case ParsePhase::Failed:
      return false;
    case ParsePhase::Head:
      if (!seen_bytes_) return fail(ErrorKind::Reset, "connection closed before response");
      return fail(ErrorKind::ParseError, "truncated response head");
    case ParsePhase::Body:
      if (!body_.until_close()) return fail(ErrorKind::ParseError, "truncated response body");
      phase_ = ParsePhase::Complete;
      events_.on_complete();
      return true;
  }
  return false;
}

}  // namespace portico::proxy::http1
