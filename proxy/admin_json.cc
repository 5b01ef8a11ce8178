#include "proxy/admin_json.h"

#include "core/json.h"
#include "proxy/response_writer.h"

namespace portico::proxy {
namespace {

core::Error bad(std::string detail) {
  return core::Error::make(core::ErrorKind::ParseError, core::Side::Downstream, std::move(detail));
}

// A tiny cursor over the one JSON shape the registration API takes.
struct Cursor {
  std::string_view s;
  size_t i = 0;

  void ws() { core::skip_json_ws(s, i); }
  bool eat(char c) {
    ws();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  // A string without escapes other than \" and \\ (addresses and keys need no more).
  bool string(std::string& out) {
    ws();
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    out.clear();
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      out += s[i++];
    }
    if (i >= s.size()) return false;
    ++i;
    return true;
  }
  bool number(int64_t& out) {
    ws();
    size_t start = i;
    out = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 10) {
      out = out * 10 + (s[i] - '0');
      ++i;
    }
    return i > start;
  }
};

// Finds "key": at the top level of a flat object; i is left after the ':'.
bool find_key(std::string_view s, std::string_view key, size_t& i) {
  i = 0;
  core::skip_json_ws(s, i);
  if (i >= s.size() || s[i] != '{') return false;
  ++i;
  for (;;) {
    core::skip_json_ws(s, i);
    if (i >= s.size() || s[i] == '}') return false;
    core::Result<std::string> k = core::read_json_string(s, i);
    if (!k.ok()) return false;
    core::skip_json_ws(s, i);
    if (i >= s.size() || s[i] != ':') return false;
    ++i;
    core::skip_json_ws(s, i);
    if (*k == key) return true;
    // Skip the value: a string, an array of strings, or a scalar.
    if (i < s.size() && s[i] == '"') {
      if (!core::read_json_string(s, i).ok()) return false;
    } else if (i < s.size() && s[i] == '[') {
      int depth = 0;
      while (i < s.size()) {
        if (s[i] == '"') {
          if (!core::read_json_string(s, i).ok()) return false;
          continue;
        }
        if (s[i] == '[') ++depth;
        if (s[i] == ']' && --depth == 0) {
          ++i;
          break;
        }
        ++i;
      }
    } else {
      while (i < s.size() && s[i] != ',' && s[i] != '}') ++i;
    }
    core::skip_json_ws(s, i);
    if (i < s.size() && s[i] == ',') ++i;
  }
}

}  // namespace

core::Result<std::vector<TargetSpec>> json_targets(std::string_view json) {
  Cursor c{json};
  std::string key;
  if (!c.eat('{') || !c.string(key) || key != "targets" || !c.eat(':') || !c.eat('[')) {
    return bad("expected {\"targets\": [{\"id\": \"10.0.1.5\", \"port\": 8080}, ...]}");
  }
  std::vector<TargetSpec> out;
  if (c.eat(']')) return bad("\"targets\" must not be empty");
  do {
    if (!c.eat('{')) return bad("each target must be an object {\"id\": ..., \"port\": ...}");
    if (out.size() == kMaxTargetsPerCall) {
      return bad("at most " + std::to_string(kMaxTargetsPerCall) +
                 " targets per call (ALB quota: 1000 targets per target group)");
    }
    TargetSpec t;
    bool has_id = false;
    if (!c.eat('}')) {
      do {
        if (!c.string(key) || !c.eat(':')) return bad("invalid target object");
        if ((key == "id" && has_id) || (key == "port" && t.port)) {
          return bad("\"" + key + "\" is given twice");
        }
        if (key == "id") {
          if (!c.string(t.id)) return bad("\"id\" must be a string");
          has_id = true;
        } else if (key == "port") {
          int64_t port = 0;
          if (!c.number(port) || port < 1 || port > 65535) {
            return bad("\"port\" must be a number in 1-65535");
          }
          t.port = static_cast<uint16_t>(port);
        } else {
          return bad("unknown key \"" + json_escape(key) + "\" (id, port)");
        }
      } while (c.eat(','));
      if (!c.eat('}')) return bad("invalid target object");
    }
    if (!has_id) return bad("each target needs an \"id\"");
    out.push_back(std::move(t));
  } while (c.eat(','));
  if (!c.eat(']') || !c.eat('}')) return bad("invalid \"targets\" list");
  c.ws();
  if (c.i != json.size()) return bad("trailing characters after the JSON object");
  return out;
}

core::Result<std::vector<std::string>> json_string_array(std::string_view json,
                                                         std::string_view key) {
  size_t i = 0;
  if (!find_key(json, key, i)) return bad("missing \"" + std::string(key) + "\"");
  if (i >= json.size() || json[i] != '[') return bad("\"" + std::string(key) + "\" must be a list");
  ++i;
  std::vector<std::string> out;
  for (;;) {
    core::skip_json_ws(json, i);
    if (i < json.size() && json[i] == ']') break;
    core::Result<std::string> v = core::read_json_string(json, i);
    if (!v.ok()) return v.error();
    out.push_back(std::move(v.value()));
    core::skip_json_ws(json, i);
    if (i < json.size() && json[i] == ',') {
      ++i;
      continue;
    }
    if (i < json.size() && json[i] == ']') break;
    return bad("\"" + std::string(key) + "\" must be a list of strings");
  }
  return out;
}

core::Result<std::string> json_string(std::string_view json, std::string_view key) {
  size_t i = 0;
  if (!find_key(json, key, i)) return std::string();
  return core::read_json_string(json, i);
}

}  // namespace portico::proxy
