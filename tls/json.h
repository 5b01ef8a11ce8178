// The little JSON the certificate admin API needs (tls/ cannot use proxy/'s helpers): reading a
// flat object of string members (RFC 8259, with every escape including \uXXXX surrogate pairs)
// and quoting strings for output. Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace portico::tls {

// Members of a flat JSON object whose values are strings or null (null members are skipped), in
// document order. Anything else (numbers, nesting, duplicate keys, trailing bytes) is an error
// of kind ParseError.
core::Result<std::vector<std::pair<std::string, std::string>>> parse_string_object(
    std::string_view json);

// `s` as a JSON string literal, quotes included.
std::string json_quote(std::string_view s);

}  // namespace portico::tls
