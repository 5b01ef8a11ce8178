// Edge compression of cacheable responses, CloudFront-style ("Serve compressed files" in the
// CloudFront Developer Guide): streaming gzip (zlib) and Brotli encoders, and the rules for when a
// response may be compressed (media type list, Content-Length range) and how its ETag changes.
// A Compressor is owned by the one exchange or cache fill that feeds it and is used on that loop's
// thread only; the free functions are pure and callable from any thread. Codings per RFC 9110
// section 8.4.1 ("gzip") and RFC 7932 ("br").
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace portico::cache {

enum class Coding : uint8_t { Gzip, Brotli };

// zlib level for gzip (zlib's default trade-off; the result is cached, so it is paid once per
// object and edge).
inline constexpr int kGzipLevel = 6;
// Brotli quality 5 / 4 MiB window: the usual on-the-fly setting (quality 11 is ~50x slower).
inline constexpr int kBrotliQuality = 5;
inline constexpr int kBrotliWindowBits = 22;

class Compressor {
 public:
  // A fresh encoder for `c`; nullptr only if the library cannot allocate its state. `size_hint` is
  // the expected input length (the response's Content-Length) or -1; Brotli uses it to size its
  // buffers and window.
  static std::unique_ptr<Compressor> create(Coding c, int64_t size_hint = -1);
  virtual ~Compressor();

  // Feeds `in` and appends whatever compressed bytes are ready to `out` (possibly none: encoders
  // buffer). Returns false on an encoder error or after finish(); the output is then unusable.
  virtual bool compress(std::string_view in, std::string& out) = 0;
  // Appends everything buffered so far so the peer can decode all input given until now (zlib
  // Z_SYNC_FLUSH, Brotli FLUSH). Costs some ratio; call it when the upstream stalls, not per chunk.
  virtual bool flush(std::string& out) = 0;
  // Ends the stream: appends the remaining bytes and the trailer. Called at most once; after it,
  // every call returns false.
  virtual bool finish(std::string& out) = 0;

  virtual Coding coding() const = 0;
};

// The Content-Encoding token for `c`: "gzip" or "br".
std::string_view coding_token(Coding c);

// True when CloudFront compresses responses with this Content-Type: the media type (before any
// ';' parameters, surrounding whitespace ignored) is on the developer guide's list ("File types
// that CloudFront compresses"), compared case-insensitively.
bool compressible_content_type(std::string_view content_type);

// True when a response body of `content_length` bytes is in CloudFront's range, 1,000 to
// 10,000,000 bytes inclusive. An unknown length (-1: no Content-Length, e.g. chunked) is false:
// "If the Content-Length header is missing, CloudFront won't compress the file."
bool compressible_length(int64_t content_length);

// The ETag to send with a compressed representation, per the guide's "ETag header conversion": a
// strong ETag (starts with '"') becomes weak ("abc" -> W/"abc"); a weak one (starts with "W/") is
// kept as is; anything else is invalid and the header is removed (nullopt).
std::optional<std::string> weaken_etag(std::string_view etag);

}  // namespace portico::cache
