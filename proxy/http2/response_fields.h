// How one field of a response head goes into an HTTP/2 HEADERS frame. Field names are lower case
// in HTTP/2 (RFC 9113 §8.2); for the names Portico's responses usually carry, a static lower-case
// copy is handed to nghttp2 without a copy (NGHTTP2_NV_FLAG_NO_COPY_NAME), so neither side
// lower-cases or copies them per response. Other names go to nghttp2 as they are: it copies and
// lower-cases them itself. Any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace portico::proxy::http2 {

enum class FieldRole : uint8_t {
  Plain,
  ContentLength,
  TransferEncoding,    // also connection-specific: dropped
  ConnectionSpecific,  // RFC 9113 §8.2.2: never in HTTP/2 (core::is_hop_by_hop's names; `lower`
                       // stays empty)
  NeverIndex,          // new in every response (X-Amz-Cf-Id): kept out of the HPACK table
};

struct ResponseField {
  std::string_view lower;  // static lower-case name; empty when the name is not a known one
  FieldRole role = FieldRole::Plain;
};

// `name` is a valid field name (tchars only), in any case.
ResponseField classify_response_field(std::string_view name);

}  // namespace portico::proxy::http2
