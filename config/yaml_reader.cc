#include "config/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <limits>

#include "config/loader.h"
#include "config/values.h"

namespace portico::config::detail {
namespace {

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing (null)";
    case YAML::NodeType::Scalar:
      return quote(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

YAML::Mark mark_or(const YAML::Node& node, const YAML::Mark& fallback) {
  YAML::Mark m = node.Mark();
  return m.is_null() ? fallback : m;
}

// The scalar text of a present field, or nullptr after reporting what it was instead.
const std::string* scalar_text(Diagnostics& diag, const Field& f, const char* expected) {
  if (f.node.IsScalar()) return &f.node.Scalar();
  diag.error(f.mark, f.path, std::string("expected ") + expected + ", got " + describe(f.node));
  return nullptr;
}

}  // namespace

void Diagnostics::error(const YAML::Mark& mark, std::string_view path, std::string_view message) {
  if (error_) return;
  error_ =
      core::Error::make(core::ErrorKind::Config, core::Side::Internal, format(mark, path, message));
}

void Diagnostics::warn(const YAML::Mark& mark, std::string_view path, std::string_view message) {
  warnings_.push_back(format(mark, path, message));
}

SourceLoc Diagnostics::loc(const YAML::Mark& mark) const {
  SourceLoc loc;
  loc.file = file_;
  if (!mark.is_null()) {
    loc.line = mark.line + 1;
    loc.column = mark.column + 1;
  }
  return loc;
}

std::string Diagnostics::format(const YAML::Mark& mark, std::string_view path,
                                std::string_view message) const {
  std::string out = file_;
  if (!mark.is_null()) {
    out += ':' + std::to_string(mark.line + 1) + ':' + std::to_string(mark.column + 1);
  }
  out += ": ";
  if (!path.empty()) {
    out += path;
    out += ": ";
  }
  out += message;
  return out;
}

std::string child_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out(parent);
  out += '.';
  out += key;
  return out;
}

std::string index_path(std::string_view parent, size_t index) {
  return std::string(parent) + '[' + std::to_string(index) + ']';
}

MapReader::MapReader(Diagnostics& diag, const Field& map,
                     std::initializer_list<std::string_view> keys)
    : diag_(diag), path_(map.path), mark_(map.mark) {
  if (!map.present || map.node.IsNull()) return;
  if (!map.node.IsMap()) {
    diag_.error(map.mark, path_, "expected a map, got " + describe(map.node));
    return;
  }
  std::vector<std::string_view> known(keys);
  for (const auto& pair : map.node) {
    // Copies: yaml-cpp's iterator yields a temporary pair of nodes.
    YAML::Node key = pair.first;
    YAML::Node value = pair.second;
    YAML::Mark key_mark = mark_or(key, mark_);
    if (!key.IsScalar()) {
      diag_.error(key_mark, path_, "map keys must be plain strings");
      continue;
    }
    const std::string& name = key.Scalar();
    std::string key_path = child_path(path_, printable(name));
    bool duplicate = std::any_of(entries_.begin(), entries_.end(),
                                 [&](const Entry& e) { return e.key == name; });
    if (duplicate) {
      diag_.error(key_mark, key_path, "duplicate key " + quote(name));
      continue;
    }
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string message = "unknown key " + quote(name);
      if (name == "<<") {
        message += " (YAML merge keys are not supported)";
      } else if (std::string suggestion = closest_match(name, known); !suggestion.empty()) {
        message += " (did you mean " + quote(suggestion) + "?)";
      }
      diag_.error(key_mark, key_path, message);
      continue;
    }
    entries_.push_back(Entry{name, value, mark_or(value, key_mark)});
  }
}

Field MapReader::get(std::string_view key) const {
  for (const Entry& e : entries_) {
    if (e.key == key) return Field{e.value, e.mark, child_path(path_, key), true};
  }
  return Field{YAML::Node(), mark_, child_path(path_, key), false};
}

Field MapReader::require(std::string_view key) const {
  Field f = get(key);
  if (!f.present) diag_.error(mark_, f.path, "is required");
  return f;
}

bool read_string(Diagnostics& diag, const Field& f, std::string& out) {
  if (!f.present) return true;
  if (f.node.IsNull()) {
    out.clear();
    return true;
  }
  const std::string* text = scalar_text(diag, f, "a string");
  if (text == nullptr) return false;
  out = *text;
  return true;
}

bool read_nonempty_string(Diagnostics& diag, const Field& f, std::string& out) {
  std::string value;
  if (!read_string(diag, f, value)) return false;
  if (f.present && value.empty()) {
    diag.error(f.mark, f.path, "must not be empty");
    return false;
  }
  if (f.present) out = std::move(value);
  return true;
}

bool read_bool(Diagnostics& diag, const Field& f, bool& out) {
  if (!f.present) return true;
  const std::string* text = scalar_text(diag, f, "true or false");
  if (text == nullptr) return false;
  bool value = false;
  if (!YAML::convert<bool>::decode(f.node, value)) {
    diag.error(f.mark, f.path, "expected true or false, got " + quote(*text));
    return false;
  }
  out = value;
  return true;
}

bool read_int(Diagnostics& diag, const Field& f, int64_t min, int64_t max, int64_t& out) {
  if (!f.present) return true;
  const std::string* text = scalar_text(diag, f, "an integer");
  if (text == nullptr) return false;
  int64_t value = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (text->empty() || ec != std::errc() || ptr != end) {
    diag.error(f.mark, f.path, "expected an integer, got " + quote(*text));
    return false;
  }
  if (value < min || value > max) {
    diag.error(f.mark, f.path,
               "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                   *text);
    return false;
  }
  out = value;
  return true;
}

bool read_duration(Diagnostics& diag, const Field& f, Duration min, Duration max, Duration& out) {
  if (!f.present) return true;
  const std::string* text = scalar_text(diag, f, "a duration (e.g. 10s)");
  if (text == nullptr) return false;
  core::Result<Duration> d = parse_duration(*text);
  if (!d.ok()) {
    diag.error(f.mark, f.path, d.error().detail);
    return false;
  }
  if (*d < min || *d > max) {
    diag.error(f.mark, f.path,
               "must be between " + format_duration(min) + " and " + format_duration(max) +
                   ", got " + *text);
    return false;
  }
  out = *d;
  return true;
}

bool read_size(Diagnostics& diag, const Field& f, uint64_t min, uint64_t max, uint64_t& out) {
  if (!f.present) return true;
  const std::string* text = scalar_text(diag, f, "a size (e.g. 64KiB)");
  if (text == nullptr) return false;
  core::Result<uint64_t> n = parse_size(*text);
  if (!n.ok()) {
    diag.error(f.mark, f.path, n.error().detail);
    return false;
  }
  if (*n < min || *n > max) {
    std::string range =
        max == std::numeric_limits<uint64_t>::max()
            ? "at least " + std::to_string(min) + " bytes"
            : "between " + std::to_string(min) + " and " + std::to_string(max) + " bytes";
    diag.error(f.mark, f.path, "must be " + range + ", got " + *text);
    return false;
  }
  out = *n;
  return true;
}

std::vector<Field> list_items(Diagnostics& diag, const Field& f) {
  std::vector<Field> items;
  if (!f.present || f.node.IsNull()) return items;
  if (!f.node.IsSequence()) {
    diag.error(f.mark, f.path, "expected a list, got " + describe(f.node));
    return items;
  }
  items.reserve(f.node.size());
  size_t i = 0;
  for (YAML::Node item : f.node) {
    items.push_back(Field{item, mark_or(item, f.mark), index_path(f.path, i), true});
    ++i;
  }
  return items;
}

}  // namespace portico::config::detail
