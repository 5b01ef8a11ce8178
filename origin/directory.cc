#include "origin/directory.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace portico::origin {
namespace {

core::Error not_found(const char* why) {
  return core::Error::make(core::ErrorKind::NotFound, core::Side::Upstream, why);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes one path segment exactly once. False for a bad escape or a byte that must never reach
// the filesystem inside a segment: NUL, '/', '\' (encoded or raw).
bool decode_segment(std::string_view raw, std::string& out) {
  out.clear();
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '%') {
      if (i + 2 >= raw.size()) return false;
      int hi = hex_value(raw[i + 1]);
      int lo = hex_value(raw[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0' || c == '/' || c == '\\') return false;
    out.push_back(c);
  }
  return true;
}

bool inside_root(std::string_view root, std::string_view path) {
  if (!path.starts_with(root)) return false;
  if (path.size() == root.size()) return true;
  return root.back() == '/' || path[root.size()] == '/';
}

struct TypeEntry {
  std::string_view ext;
  std::string_view type;
};

// Sorted by extension (checked below); lower-case.
constexpr std::array kTypes = {
    TypeEntry{"7z", "application/x-7z-compressed"},
    TypeEntry{"aac", "audio/aac"},
    TypeEntry{"apng", "image/apng"},
    TypeEntry{"avif", "image/avif"},
    TypeEntry{"bin", "application/octet-stream"},
    TypeEntry{"bmp", "image/bmp"},
    TypeEntry{"bz2", "application/x-bzip2"},
    TypeEntry{"cjs", "text/javascript; charset=utf-8"},
    TypeEntry{"css", "text/css; charset=utf-8"},
    TypeEntry{"csv", "text/csv; charset=utf-8"},
    TypeEntry{"eot", "application/vnd.ms-fontobject"},
    TypeEntry{"epub", "application/epub+zip"},
    TypeEntry{"flac", "audio/flac"},
    TypeEntry{"gif", "image/gif"},
    TypeEntry{"gz", "application/gzip"},
    TypeEntry{"heic", "image/heic"},
    TypeEntry{"htm", "text/html; charset=utf-8"},
    TypeEntry{"html", "text/html; charset=utf-8"},
    TypeEntry{"ico", "image/x-icon"},
    TypeEntry{"ics", "text/calendar; charset=utf-8"},
    TypeEntry{"jpeg", "image/jpeg"},
    TypeEntry{"jpg", "image/jpeg"},
    TypeEntry{"js", "text/javascript; charset=utf-8"},
    TypeEntry{"json", "application/json"},
    TypeEntry{"jsonld", "application/ld+json"},
    TypeEntry{"jxl", "image/jxl"},
    TypeEntry{"m3u8", "application/vnd.apple.mpegurl"},
    TypeEntry{"m4a", "audio/mp4"},
    TypeEntry{"m4v", "video/mp4"},
    TypeEntry{"map", "application/json"},
    TypeEntry{"md", "text/markdown; charset=utf-8"},
    TypeEntry{"mjs", "text/javascript; charset=utf-8"},
    TypeEntry{"mov", "video/quicktime"},
    TypeEntry{"mp3", "audio/mpeg"},
    TypeEntry{"mp4", "video/mp4"},
    TypeEntry{"mpd", "application/dash+xml"},
    TypeEntry{"mpeg", "video/mpeg"},
    TypeEntry{"oga", "audio/ogg"},
    TypeEntry{"ogg", "audio/ogg"},
    TypeEntry{"ogv", "video/ogg"},
    TypeEntry{"opus", "audio/opus"},
    TypeEntry{"otf", "font/otf"},
    TypeEntry{"pdf", "application/pdf"},
    TypeEntry{"png", "image/png"},
    TypeEntry{"rss", "application/rss+xml"},
    TypeEntry{"rtf", "application/rtf"},
    TypeEntry{"svg", "image/svg+xml"},
    TypeEntry{"tar", "application/x-tar"},
    TypeEntry{"tif", "image/tiff"},
    TypeEntry{"tiff", "image/tiff"},
    TypeEntry{"toml", "application/toml"},
    TypeEntry{"ts", "video/mp2t"},
    TypeEntry{"tsv", "text/tab-separated-values; charset=utf-8"},
    TypeEntry{"ttf", "font/ttf"},
    TypeEntry{"txt", "text/plain; charset=utf-8"},
    TypeEntry{"vtt", "text/vtt; charset=utf-8"},
    TypeEntry{"wasm", "application/wasm"},
    TypeEntry{"wav", "audio/wav"},
    TypeEntry{"weba", "audio/webm"},
    TypeEntry{"webm", "video/webm"},
    TypeEntry{"webmanifest", "application/manifest+json"},
    TypeEntry{"webp", "image/webp"},
    TypeEntry{"woff", "font/woff"},
    TypeEntry{"woff2", "font/woff2"},
    TypeEntry{"xhtml", "application/xhtml+xml"},
    TypeEntry{"xml", "application/xml"},
    TypeEntry{"yaml", "application/yaml"},
    TypeEntry{"yml", "application/yaml"},
    TypeEntry{"zip", "application/zip"},
    TypeEntry{"zst", "application/zstd"},
};
static_assert(std::is_sorted(kTypes.begin(), kTypes.end(),
                             [](const TypeEntry& a, const TypeEntry& b) { return a.ext < b.ext; }));

constexpr size_t kMaxExtension = 16;
constexpr std::string_view kDefaultType = "application/octet-stream";

}  // namespace

core::Result<FileInfo> resolve_path(const std::string& root, std::string_view url_path) {
  if (root.empty() || root.front() != '/') {
    return core::Error::make(core::ErrorKind::Internal, core::Side::Internal,
                             "directory origin root is not absolute");
  }
  if (url_path.empty() || url_path.front() != '/') return not_found("path does not start with /");

  std::string joined = root;
  if (joined.back() == '/') joined.pop_back();
  std::string segment;
  size_t pos = 1;
  while (pos <= url_path.size()) {
    size_t end = std::min(url_path.find('/', pos), url_path.size());
    std::string_view raw = url_path.substr(pos, end - pos);
    pos = end + 1;
    if (raw.empty()) continue;  // "//" and a trailing '/'
    if (!decode_segment(raw, segment)) return not_found("unsafe byte or bad escape in path");
    if (segment == "." || segment == "..") return not_found("dot segment in path");
    joined.push_back('/');
    joined += segment;
  }
  if (joined.empty()) joined.push_back('/');  // root "/" and url "/"
  if (joined.size() >= PATH_MAX) return not_found("path too long");

  char resolved[PATH_MAX];
  if (realpath(joined.c_str(), resolved) == nullptr) {
    if (errno == EACCES) {
      return core::Error::make(core::ErrorKind::Forbidden, core::Side::Upstream,
                               "permission denied");
    }
    return not_found("no such file");
  }
  if (!inside_root(root, resolved)) return not_found("path leaves the origin folder");

  struct stat st {};
  if (stat(resolved, &st) != 0) {
    if (errno == EACCES) {
      return core::Error::make(core::ErrorKind::Forbidden, core::Side::Upstream,
                               "permission denied");
    }
    return not_found("no such file");
  }
  bool is_dir = S_ISDIR(st.st_mode);
  // FIFOs, sockets and devices would block or leak; they are not content.
  if (!is_dir && !S_ISREG(st.st_mode)) return not_found("not a regular file");
  if (!is_dir && url_path.back() == '/') return not_found("file named with a trailing slash");

  FileInfo info;
  info.path = resolved;
  info.size = static_cast<uint64_t>(st.st_size);
  info.mtime_sec = static_cast<int64_t>(st.st_mtim.tv_sec);
  info.mtime_nsec = st.st_mtim.tv_nsec;
  info.inode = static_cast<uint64_t>(st.st_ino);
  info.is_dir = is_dir;
  return info;
}

std::string_view content_type_for(std::string_view path) {
  std::string_view base = path.substr(path.rfind('/') + 1);  // npos + 1 == 0
  size_t dot = base.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return kDefaultType;  // none, or a dotfile
  std::string_view ext = base.substr(dot + 1);
  if (ext.empty() || ext.size() > kMaxExtension) return kDefaultType;
  char buf[kMaxExtension];
  for (size_t i = 0; i < ext.size(); ++i) {
    char c = ext[i];
    buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
  }
  std::string_view lower(buf, ext.size());
  auto it = std::lower_bound(kTypes.begin(), kTypes.end(), lower,
                             [](const TypeEntry& e, std::string_view k) { return e.ext < k; });
  if (it != kTypes.end() && it->ext == lower) return it->type;
  return kDefaultType;
}

std::string make_etag(const FileInfo& info) {
  char buf[48];
  int n = std::snprintf(buf, sizeof buf, "\"%llx-%llx\"",
                        static_cast<unsigned long long>(info.mtime_sec),
                        static_cast<unsigned long long>(info.size));
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace portico::origin
