#include "tls/json.h"

#include <cstdint>

#include "core/json.h"

namespace portico::tls {
namespace {

core::Error bad(std::string what) {
  return core::Error::make(core::ErrorKind::ParseError, core::Side::Downstream,
                           "invalid JSON: " + std::move(what));
}

}  // namespace

core::Result<std::vector<std::pair<std::string, std::string>>> parse_string_object(
    std::string_view s) {
  std::vector<std::pair<std::string, std::string>> members;
  std::vector<std::string> seen;
  size_t i = 0;
  core::skip_json_ws(s, i);
  if (i >= s.size() || s[i] != '{') return bad("expected an object");
  ++i;
  core::skip_json_ws(s, i);
  if (i < s.size() && s[i] == '}') {
    ++i;
  } else {
    while (true) {
      core::skip_json_ws(s, i);
      if (i >= s.size() || s[i] != '"') return bad("expected a member name");
      core::Result<std::string> key = core::read_json_string(s, i);
      if (!key.ok()) return bad(key.error().detail);
      core::skip_json_ws(s, i);
      if (i >= s.size() || s[i] != ':') return bad("expected ':'");
      ++i;
      core::skip_json_ws(s, i);
      for (const std::string& k : seen) {
        if (k == *key) return bad("duplicate member \"" + *key + "\"");
      }
      seen.push_back(*key);
      if (s.substr(i).starts_with("null")) {
        i += 4;
      } else if (i < s.size() && s[i] == '"') {
        core::Result<std::string> value = core::read_json_string(s, i);
        if (!value.ok()) return bad(value.error().detail);
        members.emplace_back(std::move(*key), std::move(*value));
      } else {
        return bad("member \"" + *key + "\" must be a string");
      }
      core::skip_json_ws(s, i);
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
  core::skip_json_ws(s, i);
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
