#include <catch2/catch.hpp>
#include <string>

#include "core/http.h"
#include "proxy/http2/response_fields.h"

using portico::proxy::http2::classify_response_field;
using portico::proxy::http2::FieldRole;

TEST_CASE("known response fields map to static lower-case names in any case", "[http2]") {
  for (const char* name : {"Content-Type",
                           "content-type",
                           "CONTENT-TYPE",
                           "X-Amz-Cf-Pop",
                           "ETag",
                           "Last-Modified",
                           "Via",
                           "Age",
                           "X-Cache",
                           "Server",
                           "Date",
                           "Vary",
                           "Link",
                           "Allow",
                           "Expires",
                           "Location",
                           "Set-Cookie",
                           "X-Amz-Cf-Id",
                           "Retry-After",
                           "Accept-Ranges",
                           "Cache-Control",
                           "Content-Range",
                           "Content-Length",
                           "Content-Encoding",
                           "Content-Language",
                           "WWW-Authenticate",
                           "Transfer-Encoding",
                           "Content-Disposition",
                           "Strict-Transport-Security",
                           "Access-Control-Allow-Origin"}) {
    auto f = classify_response_field(name);
    CAPTURE(name);
    CHECK(f.lower == portico::core::to_lower(name));
  }
  CHECK(classify_response_field("Content-Length").role == FieldRole::ContentLength);
  CHECK(classify_response_field("Transfer-Encoding").role == FieldRole::TransferEncoding);
  CHECK(classify_response_field("X-Amz-Cf-Id").role == FieldRole::NeverIndex);
  CHECK(classify_response_field("Content-Type").role == FieldRole::Plain);
}

TEST_CASE("unknown response fields are left to nghttp2", "[http2]") {
  for (const char* name :
       {"X-Custom", "x-amz-cf-idx", "Content-Typf", "Etah", "", "Cache-Contrp", "Content-Rangf",
        "Content-Encodinh", "Content-Languagf", "Age-", "Vib", "X-Amz-Cf-Ie", "Xcache1"}) {
    auto f = classify_response_field(name);
    CAPTURE(name);
    CHECK(f.lower.empty());
    CHECK(f.role == FieldRole::Plain);
  }
}

TEST_CASE("every connection-specific name is recognised as one", "[http2]") {
  // The HTTP/2 stream drops these; the set is core::is_hop_by_hop's, in any case.
  for (const char* name : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
                           "Upgrade", "HTTP2-Settings", "Proxy-Authenticate", "Proxy-Authorization",
                           "connection", "KEEP-ALIVE"}) {
    CAPTURE(name);
    REQUIRE(portico::core::is_hop_by_hop(name));
    CHECK(classify_response_field(name).role == FieldRole::ConnectionSpecific);
  }
  CHECK(classify_response_field("transfer-encoding").role == FieldRole::TransferEncoding);
  CHECK(portico::core::is_hop_by_hop("transfer-encoding"));
}
