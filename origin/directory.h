// What a directory origin knows without sockets: mapping a request path onto a file under the
// origin's folder safely, content types by extension, and the ETag for a file. proxy's upstream
// code does the open/read/sendfile. Pure functions (resolve_path does lstat/realpath/stat only);
// any thread.
//
// Path safety: every rejection (bad escape, %00, encoded '/' or '\', "." / ".." segments, escapes
// out of the root through symlinks, non-regular files) is reported as ErrorKind::NotFound, so a
// probe learns nothing about the folder's layout. Only a permission error on an existing path is
// ErrorKind::Forbidden (nginx answers 403 there too).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace portico::origin {

struct FileInfo {
  std::string path;  // canonical absolute path (symlinks resolved), inside the root
  uint64_t size = 0;
  int64_t mtime_sec = 0;
  long mtime_nsec = 0;
  uint64_t inode = 0;
  bool is_dir = false;
};

// Maps `url_path` (the request path, percent-encoded as received, without the query) onto a file
// or directory under `root` (canonical absolute path, as realpath() returns it) and stats it.
// Percent-decodes exactly once ("%252e" names a file called "%2e"), collapses duplicate slashes,
// then requires realpath() of the result to stay inside `root`; symlinks inside are followed.
// A directory is returned as is (is_dir); the caller picks an index object or answers 404. A path
// with a trailing '/' that names a regular file is NotFound. The result is a snapshot: open the
// returned path with O_NOFOLLOW and re-check with fstat() to narrow the race with renames.
core::Result<FileInfo> resolve_path(const std::string& root, std::string_view url_path);

// Media type for `path` by its extension (case-insensitive); text types carry "; charset=utf-8".
// "application/octet-stream" when the extension is unknown or missing. No allocation.
std::string_view content_type_for(std::string_view path);

// Strong ETag in nginx's form: "<hex mtime_sec>-<hex size>", with the quotes.
std::string make_etag(const FileInfo& info);

}  // namespace portico::origin
