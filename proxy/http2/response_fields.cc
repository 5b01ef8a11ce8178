#include "proxy/http2/response_fields.h"

#include "core/http.h"

namespace portico::proxy::http2 {
namespace {

constexpr FieldRole P = FieldRole::Plain;

ResponseField is(std::string_view name, std::string_view lower, FieldRole role) {
  return core::name_is(name, lower) ? ResponseField{lower, role} : ResponseField{};
}

// Dispatched on length and first letter, so a name is compared with one candidate at most. The
// list holds what origins and Portico itself commonly send (RFC 9110 fields, CloudFront's, CORS).
ResponseField known(std::string_view name) {
  if (name.empty()) return {};
  const char c = static_cast<char>(name[0] | 0x20);
  switch (name.size()) {
    case 3:
      return c == 'a' ? is(name, "age", P) : is(name, "via", P);
    case 4:
      switch (c) {
        case 'd':
          return is(name, "date", P);
        case 'e':
          return is(name, "etag", P);
        case 'v':
          return is(name, "vary", P);
        case 'l':
          return is(name, "link", P);
      }
      return {};
    case 5:
      return is(name, "allow", P);
    case 6:
      return is(name, "server", P);
    case 7:
      switch (c) {
        case 'x':
          return is(name, "x-cache", P);
        case 'e':
          return is(name, "expires", P);
      }
      return {};
    case 8:
      return is(name, "location", P);
    case 10:
      switch (c) {
        case 's':
          return is(name, "set-cookie", P);
      }
      return {};
    case 11:
      return c == 'x' ? is(name, "x-amz-cf-id", FieldRole::NeverIndex) : is(name, "retry-after", P);
    case 12:
      return c == 'c' ? is(name, "content-type", P) : is(name, "x-amz-cf-pop", P);
    case 13:
      switch (c) {
        case 'l':
          return is(name, "last-modified", P);
        case 'a':
          return is(name, "accept-ranges", P);
        case 'c':
          return (name[1] | 0x20) == 'a' ? is(name, "cache-control", P)
                                         : is(name, "content-range", P);
      }
      return {};
    case 14:
      return is(name, "content-length", FieldRole::ContentLength);
    case 16:
      switch (c) {
        case 'c':
          return (name[8] | 0x20) == 'e' ? is(name, "content-encoding", P)
                                         : is(name, "content-language", P);
        case 'w':
          return is(name, "www-authenticate", P);
      }
      return {};
    case 17:
      return is(name, "transfer-encoding", FieldRole::TransferEncoding);
    case 19:
      return is(name, "content-disposition", P);
    case 25:
      return is(name, "strict-transport-security", P);
    case 27:
      return is(name, "access-control-allow-origin", P);
    default:
      return {};
  }
}

}  // namespace

ResponseField classify_response_field(std::string_view name) {
  ResponseField f = known(name);
  // The connection-specific names are core::is_hop_by_hop's (one list for HTTP/1.1 and HTTP/2);
  // none of them is a known name but Transfer-Encoding, which has its own role.
  if (f.lower.empty() && core::is_hop_by_hop(name)) f.role = FieldRole::ConnectionSpecific;
  return f;
}

}  // namespace portico::proxy::http2
