// Compressor round trips through zlib's inflate and Brotli's decoder (empty, small, 1 MiB random,
// 1 MiB compressible, many small pieces, flush points), and CloudFront's compression rules:
// content types, length range, ETag weakening.
#include "cache/compression.h"

#include <brotli/decode.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <string>

using portico::cache::Coding;
using portico::cache::coding_token;
using portico::cache::compressible_content_type;
using portico::cache::compressible_length;
using portico::cache::Compressor;
using portico::cache::weaken_etag;

namespace {

// Decodes a complete gzip member; fails the test on any error or trailing garbage.
std::string gunzip(const std::string& in, bool require_end = true) {
  z_stream s{};
  REQUIRE(inflateInit2(&s, 15 + 16) == Z_OK);  // gzip wrapper only
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  s.avail_in = static_cast<uInt>(in.size());
  std::string out;
  int rc = Z_OK;
  char buf[16384];
  while (rc == Z_OK) {
    s.next_out = reinterpret_cast<Bytef*>(buf);
    s.avail_out = sizeof buf;
    rc = inflate(&s, Z_NO_FLUSH);
    out.append(buf, sizeof buf - s.avail_out);
    if (rc == Z_BUF_ERROR && s.avail_in == 0 && !require_end) rc = Z_STREAM_END;
  }
  inflateEnd(&s);
  REQUIRE(rc == Z_STREAM_END);
  if (require_end) REQUIRE(s.avail_in == 0);
  return out;
}

std::string unbrotli(const std::string& in, bool require_end = true) {
  BrotliDecoderState* st = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
  REQUIRE(st != nullptr);
  size_t avail_in = in.size();
  const uint8_t* next_in = reinterpret_cast<const uint8_t*>(in.data());
  std::string out;
  BrotliDecoderResult r;
  do {
    uint8_t buf[16384];
    size_t avail_out = sizeof buf;
    uint8_t* next_out = buf;
    r = BrotliDecoderDecompressStream(st, &avail_in, &next_in, &avail_out, &next_out, nullptr);
    out.append(reinterpret_cast<const char*>(buf), sizeof buf - avail_out);
    // Out of input is reported even when decoded bytes are still waiting for output space.
  } while (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT || BrotliDecoderHasMoreOutput(st));
  BrotliDecoderDestroyInstance(st);
  if (require_end) {
    REQUIRE(r == BROTLI_DECODER_RESULT_SUCCESS);
    REQUIRE(avail_in == 0);
  } else {
    REQUIRE(r != BROTLI_DECODER_RESULT_ERROR);
  }
  return out;
}

std::string decode(Coding c, const std::string& in, bool require_end = true) {
  return c == Coding::Gzip ? gunzip(in, require_end) : unbrotli(in, require_end);
}

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& ch : s) ch = static_cast<char>(rng() & 0xff);
  return s;
}

std::string text_like(size_t n) {
  static const char* kWords[] = {
      "cache",    "edge",     "origin", "viewer", "distribution", "behavior", "<div class=\"x\">",
      "</div>\n", "{\"k\": ", "},"};
  std::mt19937_64 rng(3);
  std::string s;
  while (s.size() < n) s += kWords[rng() % 10];
  s.resize(n);
  return s;
}

std::string compress_all(Coding c, const std::string& in, size_t piece = 0) {
  auto z = Compressor::create(c, static_cast<int64_t>(in.size()));
  REQUIRE(z != nullptr);
  CHECK(z->coding() == c);
  std::string out;
  if (piece == 0) {
    REQUIRE(z->compress(in, out));
  } else {
    for (size_t i = 0; i < in.size(); i += piece) {
      REQUIRE(z->compress(std::string_view(in).substr(i, piece), out));
    }
  }
  REQUIRE(z->finish(out));
  return out;
}

}  // namespace

TEST_CASE("Compressor round trips", "[compression]") {
  Coding c = GENERATE(Coding::Gzip, Coding::Brotli);
  INFO("coding " << coding_token(c));

  SECTION("empty input") {
    std::string z = compress_all(c, "");
    CHECK_FALSE(z.empty());  // still a valid stream (header + trailer)
    CHECK(decode(c, z).empty());
  }
  SECTION("small input") {
    std::string in = "hello, edge";
    CHECK(decode(c, compress_all(c, in)) == in);
  }
  SECTION("1 MiB of random bytes") {
    std::string in = random_bytes(1 << 20, 42);
    std::string z = compress_all(c, in);
    CHECK(z.size() < in.size() + in.size() / 100 + 1024);  // stored blocks: small overhead
    CHECK(decode(c, z) == in);
  }
  SECTION("1 MiB of compressible text") {
    std::string in = text_like(1 << 20);
    std::string z = compress_all(c, in);
    CHECK(z.size() < in.size() / 4);
    CHECK(decode(c, z) == in);
  }
  SECTION("many small pieces") {
    std::string in = text_like(200'000);
    size_t piece = GENERATE(as<size_t>{}, 1, 7, 1000);
    std::string z = compress_all(c, in, piece);
    CHECK(decode(c, z) == in);
    CHECK(z.size() < in.size() / 4);
  }
  SECTION("pieces of random sizes, some empty") {
    std::string in = text_like(300'000) + random_bytes(100'000, 9);
    std::mt19937_64 rng(5);
    auto z = Compressor::create(c);
    REQUIRE(z != nullptr);
    std::string out;
    for (size_t i = 0; i < in.size();) {
      size_t n = std::min<size_t>(rng() % 5000, in.size() - i);
      REQUIRE(z->compress(std::string_view(in).substr(i, n), out));
      i += n;
    }
    REQUIRE(z->finish(out));
    CHECK(decode(c, out) == in);
  }
  SECTION("flush makes everything so far decodable") {
    auto z = Compressor::create(c);
    REQUIRE(z != nullptr);
    std::string a = text_like(50'000);
    std::string out;
    REQUIRE(z->compress(a, out));
    REQUIRE(z->flush(out));
    CHECK(decode(c, out, /*require_end=*/false) == a);
    std::string b = "and the rest";
    REQUIRE(z->compress(b, out));
    REQUIRE(z->flush(out));
    REQUIRE(z->flush(out));  // an empty flush is harmless
    REQUIRE(z->finish(out));
    CHECK(decode(c, out) == a + b);
  }
  SECTION("nothing after finish") {
    auto z = Compressor::create(c);
    REQUIRE(z != nullptr);
    std::string out;
    REQUIRE(z->finish(out));
    size_t size = out.size();
    CHECK_FALSE(z->compress("x", out));
    CHECK_FALSE(z->flush(out));
    CHECK_FALSE(z->finish(out));
    CHECK(out.size() == size);
  }
  SECTION("appends to what is already in out") {
    std::string out = "prefix";
    auto z = Compressor::create(c);
    REQUIRE(z->compress("payload", out));
    REQUIRE(z->finish(out));
    REQUIRE(out.rfind("prefix", 0) == 0);
    CHECK(decode(c, out.substr(6)) == "payload");
  }
}

TEST_CASE("gzip output has the gzip header", "[compression]") {
  std::string z = compress_all(Coding::Gzip, "abc");
  REQUIRE(z.size() > 10);
  CHECK(static_cast<unsigned char>(z[0]) == 0x1f);
  CHECK(static_cast<unsigned char>(z[1]) == 0x8b);
  CHECK(z[2] == 8);  // deflate
}

TEST_CASE("coding tokens", "[compression]") {
  CHECK(coding_token(Coding::Gzip) == "gzip");
  CHECK(coding_token(Coding::Brotli) == "br");
}

TEST_CASE("compressible_content_type follows CloudFront's list", "[compression]") {
  for (const char* t :
       {"text/html", "text/css", "text/plain", "text/javascript", "application/javascript",
        "application/json", "application/xml", "image/svg+xml", "font/ttf", "application/x-perl",
        "application/vnd.ms-fontobject", "text/tab-separated-values", "application/dash+xml",
        "application/protobuf", "vnd.apple.mpegurl", "text/x-java-source"}) {
    INFO(t);
    CHECK(compressible_content_type(t));
  }
  // Case-insensitive, parameters and whitespace ignored.
  CHECK(compressible_content_type("text/html; charset=utf-8"));
  CHECK(compressible_content_type("Text/HTML;charset=UTF-8"));
  CHECK(compressible_content_type("  application/JSON  ; q=1"));
  CHECK(compressible_content_type("text/css\t;"));
  // Not on the list.
  for (const char* t : {"",
                        ";",
                        "   ",
                        "image/png",
                        "image/jpeg",
                        "video/mp4",
                        "application/octet-stream",
                        "application/zip",
                        "application/gzip",
                        "application/wasm",
                        "text",
                        "text/",
                        "/html",
                        "text/htm",
                        "text/html2",
                        "xtext/html",
                        "application/ld+json",
                        "font/woff2",
                        "application/x-javascript-but-much-longer-than-any-entry",
                        "text /html"}) {
    INFO(t);
    CHECK_FALSE(compressible_content_type(t));
  }
}

TEST_CASE("compressible_length is CloudFront's 1,000..10,000,000 bytes", "[compression]") {
  CHECK_FALSE(compressible_length(-1));  // no Content-Length: not compressed
  CHECK_FALSE(compressible_length(0));
  CHECK_FALSE(compressible_length(999));
  CHECK(compressible_length(1'000));
  CHECK(compressible_length(65'536));
  CHECK(compressible_length(10'000'000));
  CHECK_FALSE(compressible_length(10'000'001));
  CHECK_FALSE(compressible_length(INT64_MAX));
  CHECK_FALSE(compressible_length(INT64_MIN));
}

TEST_CASE("weaken_etag converts like CloudFront", "[compression]") {
  CHECK(weaken_etag("\"abc\"") == std::optional<std::string>("W/\"abc\""));
  CHECK(weaken_etag("\"\"") == std::optional<std::string>("W/\"\""));
  CHECK(weaken_etag("W/\"abc\"") == std::optional<std::string>("W/\"abc\""));  // already weak
  CHECK_FALSE(weaken_etag("abc").has_value());  // invalid: header removed
  CHECK_FALSE(weaken_etag("").has_value());
  CHECK_FALSE(weaken_etag("w/\"abc\"").has_value());  // "W/" is case-sensitive (RFC 9110 8.8.3)
  CHECK_FALSE(weaken_etag(" \"abc\"").has_value());
}
