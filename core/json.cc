#include "core/json.h"

#include <cstdint>

namespace portico::core {
namespace {

Error bad(std::string what) {
  return Error::make(ErrorKind::ParseError, Side::Downstream, std::move(what));
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

bool read_hex4(std::string_view s, size_t& i, uint32_t& out) {
  if (i + 4 > s.size()) return false;
  out = 0;
  for (size_t k = 0; k < 4; ++k) {
    char c = s[i + k];
    uint32_t v = 0;
    if (c >= '0' && c <= '9') {
      v = static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      v = static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      v = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return false;
    }
    out = out * 16 + v;
  }
  i += 4;
  return true;
}

}  // namespace

void skip_json_ws(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
}

Result<std::string> read_json_string(std::string_view s, size_t& i) {
  if (i >= s.size() || s[i] != '"') return bad("expected a string");
  std::string out;
  ++i;
  while (i < s.size()) {
    char c = s[i++];
    if (c == '"') return out;
    if (static_cast<unsigned char>(c) < 0x20) return bad("control character in a string");
    if (c != '\\') {
      out += c;
      continue;
    }
    if (i >= s.size()) break;
    char e = s[i++];
    switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t cp = 0;
        if (!read_hex4(s, i, cp)) return bad("bad \\u escape");
        if (cp >= 0xd800 && cp < 0xdc00) {
          uint32_t low = 0;
          if (i + 2 > s.size() || s[i] != '\\' || s[i + 1] != 'u') return bad("lone surrogate");
          i += 2;
          if (!read_hex4(s, i, low) || low < 0xdc00 || low >= 0xe000) {
            return bad("lone surrogate");
          }
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        } else if (cp >= 0xdc00 && cp < 0xe000) {
          return bad("lone surrogate");
        }
        append_utf8(out, cp);
        break;
      }
      default:
        return bad("bad escape");
    }
  }
  return bad("unterminated string");
}

}  // namespace portico::core
