#include "tls/json.h"

#include <cstdint>

namespace portico::tls {
namespace {

core::Error bad(std::string what) {
  return core::Error::make(core::ErrorKind::ParseError, core::Side::Downstream,
                           "invalid JSON: " + std::move(what));
}

void skip_ws(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
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

// Precondition: s[i] == '"'. Leaves i after the closing quote.
core::Result<std::string> read_string(std::string_view s, size_t& i) {
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

}  // namespace

core::Result<std::vector<std::pair<std::string, std::string>>> parse_string_object(
    std::string_view s) {
  std::vector<std::pair<std::string, std::string>> members;
  std::vector<std::string> seen;
  size_t i = 0;
  skip_ws(s, i);
  if (i >= s.size() || s[i] != '{') return bad("expected an object");
  ++i;
  skip_ws(s, i);
  if (i < s.size() && s[i] == '}') {
    ++i;
  } else {
    while (true) {
      skip_ws(s, i);
      if (i >= s.size() || s[i] != '"') return bad("expected a member name");
      core::Result<std::string> key = read_string(s, i);
      if (!key.ok()) return key.error();
      skip_ws(s, i);
      if (i >= s.size() || s[i] != ':') return bad("expected ':'");
      ++i;
      skip_ws(s, i);
      for (const std::string& k : seen) {
        if (k == *key) return bad("duplicate member \"" + *key + "\"");
      }
      seen.push_back(*key);
      if (s.substr(i).starts_with("null")) {
        i += 4;
      } else if (i < s.size() && s[i] == '"') {
        core::Result<std::string> value = read_string(s, i);
        if (!value.ok()) return value.error();
        members.emplace_back(std::move(*key), std::move(*value));
      } else {
        return bad("member \"" + *key + "\" must be a string");
      }
      skip_ws(s, i);
      if (i < s.size() && s[i] == ',') {
        ++i;
        continue;
      }
      if (i < s.size() && s[i] == '}') {
        ++i;
        break;
      }
      return bad("expected ',' or '}'");
    }
  }
  skip_ws(s, i);
  if (i != s.size()) return bad("trailing characters after the object");
  return members;
}

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  static constexpr char kHex[] = "0123456789abcdef";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out += kHex[(c >> 4) & 0xf];
          out += kHex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace portico::tls
