// Small typed readers over yaml-cpp nodes for the config loader: every read knows its key path
// (e.g. distributions[0].origins[1].custom_origin.url) and source mark, and reports problems to a
// Diagnostics that keeps the first error ("FILE:LINE:COL: KEY.PATH: message") and all warnings.
// Internal to config/*.cc (the only place yaml-cpp is included). Single-threaded, per load.
// Later errors never replace the first, so callers check Diagnostics::failed() only where a later
// step needs earlier values to be valid.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "core/result.h"

namespace portico::config::detail {

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  bool failed() const { return error_.has_value(); }
  // Records an error unless one is already recorded. An empty path omits the "KEY.PATH: " part.
  void error(const YAML::Mark& mark, std::string_view path, std::string_view message);
  void warn(const YAML::Mark& mark, std::string_view path, std::string_view message);

  // Precondition: failed().
  core::Error take_error() { return std::move(*error_); }
  std::vector<std::string> take_warnings() { return std::move(warnings_); }

  SourceLoc loc(const YAML::Mark& mark) const;
  const std::string& file() const { return file_; }

 private:
  std::string format(const YAML::Mark& mark, std::string_view path, std::string_view message) const;

  std::string file_;
  std::optional<core::Error> error_;
  std::vector<std::string> warnings_;
};

// A value found (or not) under a key, with where it came from.
struct Field {
  YAML::Node node;   // the value; Null when absent
  YAML::Mark mark;   // the value's position (the key's when the value has none)
  std::string path;  // full key path
  bool present = false;
};

std::string child_path(std::string_view parent, std::string_view key);
std::string index_path(std::string_view parent, size_t index);

// Checks a map's keys against the keys it may hold (unknown keys are errors, with a "did you
// mean" suggestion) and hands out Fields by key. A null value (`server:` with nothing after it)
// reads as an empty map.
class MapReader {
 public:
  MapReader(Diagnostics& diag, const Field& map, std::initializer_list<std::string_view> keys);

  // The field for `key` (present = false when the map lacks it). `key` must be one of `keys`.
  Field get(std::string_view key) const;
  // Same, but reports "is required" when the key is missing.
  Field require(std::string_view key) const;
  bool has(std::string_view key) const { return get(key).present; }

  const std::string& path() const { return path_; }
  const YAML::Mark& mark() const { return mark_; }

 private:
  struct Entry {
    std::string key;
    YAML::Node value;
    YAML::Mark mark;
  };

  Diagnostics& diag_;
  std::string path_;
  YAML::Mark mark_;
  std::vector<Entry> entries_;
};

// Typed reads. Each returns false after reporting an error; an absent field leaves `out` as it
// was and returns true.
bool read_string(Diagnostics& diag, const Field& f, std::string& out);
// Like read_string, but an empty value is an error.
bool read_nonempty_string(Diagnostics& diag, const Field& f, std::string& out);
bool read_bool(Diagnostics& diag, const Field& f, bool& out);
bool read_int(Diagnostics& diag, const Field& f, int64_t min, int64_t max, int64_t& out);
bool read_duration(Diagnostics& diag, const Field& f, Duration min, Duration max, Duration& out);
bool read_size(Diagnostics& diag, const Field& f, uint64_t min, uint64_t max, uint64_t& out);

// Reads an integer into any integral member after checking [min, max] fits it.
template <typename T>
bool read_int_as(Diagnostics& diag, const Field& f, int64_t min, int64_t max, T& out) {
  int64_t v = static_cast<int64_t>(out);
  if (!read_int(diag, f, min, max, v)) return false;
  out = static_cast<T>(v);
  return true;
}
template <typename T>
bool read_size_as(Diagnostics& diag, const Field& f, uint64_t min, uint64_t max, T& out) {
  uint64_t v = static_cast<uint64_t>(out);
  if (!read_size(diag, f, min, max, v)) return false;
  out = static_cast<T>(v);
  return true;
}

// The items of a list, as Fields with paths like "listeners[2]". A null value reads as an empty
// list; anything else that is not a list is an error (and yields no items).
std::vector<Field> list_items(Diagnostics& diag, const Field& f);

}  // namespace portico::config::detail
