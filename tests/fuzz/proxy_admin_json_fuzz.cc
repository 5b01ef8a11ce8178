// Fuzz target for the admin API's JSON readers: proxy::json_targets (target registration bodies)
// and proxy::json_string_array / json_string (invalidation bodies), on arbitrary bytes.
// Invariants: json_targets gives 1..kMaxTargetsPerCall targets, each with a port in 1..65535 when
// given, or a downstream ParseError; what it returns, written back as JSON, parses to the same
// targets. A string list or string found under a key, written back with json_escape (which
// escapes control characters as \u00XX), reads back the same; a key with a string or string-list
// value put in front of the object's first key changes nothing.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/admin_json.h"
#include "proxy/response_writer.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using portico::proxy::TargetSpec;

void check_error(const portico::core::Error& e) {
  FUZZ_CHECK(e.kind == portico::core::ErrorKind::ParseError);
  FUZZ_CHECK(e.side == portico::core::Side::Downstream);
  FUZZ_CHECK(!e.detail.empty());
}

// json_targets takes only \" and \\ escapes.
std::string quote_target_id(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

bool same_targets(const std::vector<TargetSpec>& a, const std::vector<TargetSpec>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].id != b[i].id || a[i].port != b[i].port) return false;
  }
  return true;
}

std::string quote(std::string_view s) { return "\"" + portico::proxy::json_escape(s) + "\""; }

// The input with `"zz": <value>, ` in front of its first key, when it starts like an object
// with a key; "" otherwise.
std::string with_first_key(std::string_view json, std::string_view value) {
  size_t i = json.find_first_not_of(" \t\r\n");
  if (i == std::string_view::npos || json[i] != '{') return {};
  size_t k = json.find_first_not_of(" \t\r\n", i + 1);
  if (k == std::string_view::npos || json[k] != '"') return {};
  return std::string(json.substr(0, i + 1)) + "\"zz\": " + std::string(value) + ", " +
         std::string(json.substr(i + 1));
}

void check_array(std::string_view json, std::string_view key) {
  auto list = portico::proxy::json_string_array(json, key);
  if (!list.ok()) {
    check_error(list.error());
  } else {
    std::string doc = "{\"x\": 1, \"" + std::string(key) + "\": [";
    for (size_t i = 0; i < list->size(); ++i) doc += (i ? ", " : "") + quote((*list)[i]);
    doc += "]}";
    auto again = portico::proxy::json_string_array(doc, key);
    FUZZ_CHECK(again.ok() && *again == *list);
  }
  for (std::string_view value : {std::string_view("\"a, \\\"b\\\": [\\\"c\\\"]\""),
                                 std::string_view("[\"]\", \"[\", \"paths\"]")}) {
    std::string moved = with_first_key(json, value);
    if (moved.empty()) continue;
    auto m = portico::proxy::json_string_array(moved, key);
    FUZZ_CHECK(m.ok() == list.ok());
    if (m.ok()) FUZZ_CHECK(*m == *list);
  }
}

void check_string(std::string_view json, std::string_view key) {
  auto s = portico::proxy::json_string(json, key);
  if (!s.ok()) {
    check_error(s.error());
    return;
  }
  auto again =
      portico::proxy::json_string("{\"" + std::string(key) + "\": " + quote(*s) + "}", key);
  FUZZ_CHECK(again.ok() && *again == *s);
  std::string moved = with_first_key(json, "\"}\"");
  if (!moved.empty()) {
    auto m = portico::proxy::json_string(moved, key);
    FUZZ_CHECK(m.ok() && *m == *s);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);

  auto targets = portico::proxy::json_targets(json);
  if (!targets.ok()) {
    check_error(targets.error());
  } else {
    FUZZ_CHECK(!targets->empty() && targets->size() <= portico::proxy::kMaxTargetsPerCall);
    std::string doc = "{\"targets\": [";
    for (size_t i = 0; i < targets->size(); ++i) {
      const TargetSpec& t = (*targets)[i];
      if (t.port) FUZZ_CHECK(*t.port >= 1);
      doc += (i ? ", {\"id\": " : "{\"id\": ") + quote_target_id(t.id);
      if (t.port) doc += ", \"port\": " + std::to_string(*t.port);
      doc += "}";
    }
    doc += "]}";
    auto again = portico::proxy::json_targets(doc);
    FUZZ_CHECK(again.ok() && same_targets(*again, *targets));
  }

  check_array(json, "paths");
  check_string(json, "caller_reference");
  return 0;
}
