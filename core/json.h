// JSON pieces the admin APIs share (RFC 8259): whitespace and string literals. The readers of
// particular body shapes (proxy/admin_json.h, tls/json.h) are built on them. Pure; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.h"

namespace portico::core {

// Skips JSON whitespace from s[i].
void skip_json_ws(std::string_view s, size_t& i);
// Reads the string literal at s[i] (every escape of RFC 8259 §7; \u surrogate pairs become one
// UTF-8 sequence, a lone surrogate is an error); i moves past the closing quote. Errors are
// downstream ParseErrors.
Result<std::string> read_json_string(std::string_view s, size_t& i);

}  // namespace portico::core
