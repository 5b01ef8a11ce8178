#include "cache/compression.h"

#define ZLIB_CONST
#include <brotli/encode.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <climits>

#include "core/http.h"

namespace portico::cache {

namespace {

// Output is grown in steps of at least this much; larger inputs get proportionally larger steps.
constexpr size_t kMinOutStep = 16 * 1024;
constexpr size_t kMaxOutStep = 1024 * 1024;
// zlib counts in uInt; feed it at most this much per call.
constexpr size_t kMaxZlibIn = size_t{1} << 30;

class GzipCompressor final : public Compressor {
 public:
  GzipCompressor() = default;
  ~GzipCompressor() override {
    if (initialised_) deflateEnd(&strm_);
  }

  bool init() {
    // windowBits 15 + 16 asks zlib for the gzip wrapper (RFC 1952) instead of zlib's (RFC 1950).
    initialised_ =
        deflateInit2(&strm_, kGzipLevel, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
    return initialised_;
  }

  bool compress(std::string_view in, std::string& out) override { return run(in, Z_NO_FLUSH, out); }
  bool flush(std::string& out) override { return run({}, Z_SYNC_FLUSH, out); }
  bool finish(std::string& out) override {
    bool ok = run({}, Z_FINISH, out);
    failed_ = true;  // nothing may follow the trailer
    return ok;
  }
  Coding coding() const override { return Coding::Gzip; }

 private:
  bool run(std::string_view in, int mode, std::string& out) {
    if (failed_) return false;
    if (in.empty() && mode == Z_NO_FLUSH) return true;
    do {
      size_t piece = std::min(in.size(), kMaxZlibIn);
      strm_.next_in = reinterpret_cast<const Bytef*>(in.data());
      strm_.avail_in = static_cast<uInt>(piece);
      int step_mode = piece == in.size() ? mode : Z_NO_FLUSH;
      // deflate() has consumed all input and finished the flush once it returns with room left in
      // the output (zlib.h, deflate()).
      do {
        size_t old = out.size();
        size_t room = std::clamp(static_cast<size_t>(strm_.avail_in), kMinOutStep, kMaxOutStep);
        out.resize(old + room);
        strm_.next_out = reinterpret_cast<Bytef*>(out.data() + old);
        strm_.avail_out = static_cast<uInt>(room);
        int rc = deflate(&strm_, step_mode);
        out.resize(old + room - strm_.avail_out);
        if (rc == Z_STREAM_ERROR) {
          failed_ = true;
          return false;
        }
        if (rc == Z_STREAM_END) break;
      } while (strm_.avail_out == 0);
      in.remove_prefix(piece);
    } while (!in.empty());
    return true;
  }

  z_stream strm_{};
  bool initialised_ = false;
  bool failed_ = false;
};

class BrotliCompressor final : public Compressor {
 public:
  BrotliCompressor() : state_(BrotliEncoderCreateInstance(nullptr, nullptr, nullptr)) {}
  ~BrotliCompressor() override {
    if (state_ != nullptr) BrotliEncoderDestroyInstance(state_);
  }

  bool init(int64_t size_hint) {
    if (state_ == nullptr) return false;
    bool ok = BrotliEncoderSetParameter(state_, BROTLI_PARAM_QUALITY, kBrotliQuality) &&
              BrotliEncoderSetParameter(state_, BROTLI_PARAM_LGWIN, kBrotliWindowBits);
    if (ok && size_hint > 0) {
      uint32_t hint = static_cast<uint32_t>(std::min<int64_t>(size_hint, UINT32_MAX));
      ok = BrotliEncoderSetParameter(state_, BROTLI_PARAM_SIZE_HINT, hint);
    }
    return ok;
  }

  bool compress(std::string_view in, std::string& out) override {
    if (in.empty()) return !failed_;
    return run(BROTLI_OPERATION_PROCESS, in, out);
  }
  bool flush(std::string& out) override { return run(BROTLI_OPERATION_FLUSH, {}, out); }
  bool finish(std::string& out) override {
    bool ok = run(BROTLI_OPERATION_FINISH, {}, out);
    failed_ = true;
    return ok;
  }
  Coding coding() const override { return Coding::Brotli; }

 private:
  bool run(BrotliEncoderOperation op, std::string_view in, std::string& out) {
    if (failed_) return false;
    size_t avail_in = in.size();
    const uint8_t* next_in = reinterpret_cast<const uint8_t*>(in.data());
    for (;;) {
      // The encoder writes straight into `out`. (With no output space of ours, a FLUSH can stop
      // half way, and "call again until no more output" would never end.)
      size_t old = out.size();
      size_t room = std::clamp(avail_in, kMinOutStep, kMaxOutStep);
      out.resize(old + room);
      uint8_t* next_out = reinterpret_cast<uint8_t*>(out.data() + old);
      size_t avail_out = room;
      bool ok = BrotliEncoderCompressStream(state_, op, &avail_in, &next_in, &avail_out, &next_out,
                                            nullptr);
      out.resize(old + room - avail_out);
      if (!ok) {
        failed_ = true;
        return false;
      }
      // encode.h: PROCESS and FLUSH are complete once all input is taken and no output is left
      // inside the encoder; FINISH once the encoder says so.
      bool done = op == BROTLI_OPERATION_FINISH
                      ? BrotliEncoderIsFinished(state_)
                      : avail_in == 0 && !BrotliEncoderHasMoreOutput(state_);
      if (done) return true;
    }
  }

  BrotliEncoderState* state_;
  bool failed_ = false;
};

// "File types that CloudFront compresses", sorted (byte order) for binary search. The list includes
// "vnd.apple.mpegurl" without a top-level type; it is kept as published.
constexpr std::array<std::string_view, 45> kCompressibleTypes = {
    "application/dash+xml",
    "application/eot",
    "application/font",
    "application/font-sfnt",
    "application/javascript",
    "application/json",
    "application/opentype",
    "application/otf",
    "application/pkcs7-mime",
    "application/protobuf",
    "application/rss+xml",
    "application/truetype",
    "application/ttf",
    "application/vnd.apple.mpegurl",
    "application/vnd.ms-fontobject",
    "application/x-font-opentype",
    "application/x-font-truetype",
    "application/x-font-ttf",
    "application/x-httpd-cgi",
    "application/x-javascript",
    "application/x-mpegurl",
    "application/x-opentype",
    "application/x-otf",
    "application/x-perl",
    "application/x-ttf",
    "application/xhtml+xml",
    "application/xml",
    "font/eot",
    "font/opentype",
    "font/otf",
    "font/ttf",
    "image/svg+xml",
    "text/css",
    "text/csv",
    "text/html",
    "text/javascript",
    "text/js",
    "text/plain",
    "text/richtext",
    "text/tab-separated-values",
    "text/x-component",
    "text/x-java-source",
    "text/x-script",
    "text/xml",
    "vnd.apple.mpegurl",
};
static_assert(std::is_sorted(kCompressibleTypes.begin(), kCompressibleTypes.end()));

constexpr size_t kMaxTypeLength = 32;  // longer than every entry above

}  // namespace

Compressor::~Compressor() = default;

std::unique_ptr<Compressor> Compressor::create(Coding c, int64_t size_hint) {
  switch (c) {
    case Coding::Gzip: {
      auto z = std::make_unique<GzipCompressor>();
      if (!z->init()) return nullptr;
      return z;
    }
    case Coding::Brotli: {
      auto b = std::make_unique<BrotliCompressor>();
      if (!b->init(size_hint)) return nullptr;
      return b;
    }
  }
  return nullptr;
}

std::string_view coding_token(Coding c) {
  switch (c) {
    case Coding::Gzip:
      return "gzip";
    case Coding::Brotli:
      return "br";
  }
  return "";
}

bool compressible_content_type(std::string_view content_type) {
  std::string_view type = core::trim_ows(content_type.substr(0, content_type.find(';')));
  if (type.empty() || type.size() > kMaxTypeLength) return false;
  std::array<char, kMaxTypeLength> buf;
  for (size_t i = 0; i < type.size(); ++i) {
    buf[i] = core::ascii_lower(type[i]);
  }
  std::string_view lower(buf.data(), type.size());
  return std::binary_search(kCompressibleTypes.begin(), kCompressibleTypes.end(), lower);
}

bool compressible_length(int64_t content_length) {
  return content_length >= 1'000 && content_length <= 10'000'000;
}

std::optional<std::string> weaken_etag(std::string_view etag) {
  if (etag.starts_with("W/")) return std::string(etag);
  if (etag.starts_with('"')) {
    std::string weak;
    weak.reserve(etag.size() + 2);
    weak.append("W/").append(etag);
    return weak;
  }
  return std::nullopt;
}

}  // namespace portico::cache
