#include "cache/cache_control.h"

namespace portico::cache {
namespace {

// 1*DIGIT, saturating at kMaxDeltaSeconds; nullopt when not all digits or empty.
std::optional<int64_t> parse_delta(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
    if (v > kMaxDeltaSeconds) v = kMaxDeltaSeconds;  // keeps v * 10 far from overflow
  }
  return v;
}

// One directive as read off the wire. `arg` is the unescaped argument; `malformed` means the member
// did not follow `token [ "=" ( token / quoted-string ) ]` (junk after the name or the argument,
// an unterminated quote).
struct Member {
  std::string_view name;
  bool has_arg = false;
  bool malformed = false;
  std::string_view arg;
};

class Parser {
 public:
  explicit Parser(CacheControl& cc) : cc_(cc) {}

  void feed(std::string_view value) {
    size_t i = 0;
    const size_t n = value.size();
    while (i < n) {
      while (i < n && (core::is_ows(value[i]) || value[i] == ',')) ++i;
      if (i == n) break;
      Member m;
      size_t start = i;
      while (i < n && value[i] != ',' && value[i] != '=' && value[i] != '"' &&
             !core::is_ows(value[i])) {
        ++i;
      }
      m.name = value.substr(start, i - start);
      while (i < n && core::is_ows(value[i])) ++i;
      if (i < n && value[i] == '=') {
        m.has_arg = true;
        ++i;
        while (i < n && core::is_ows(value[i])) ++i;
        if (i < n && value[i] == '"') {
          bool closed = read_quoted(value, &i);
          m.arg = scratch_;
          m.malformed = !closed;
        } else {
          size_t arg_start = i;
          while (i < n && value[i] != ',' && value[i] != '"') ++i;
          m.arg = core::trim_ows(value.substr(arg_start, i - arg_start));
        }
      }
      // Whatever remains before the next comma (outside quotes) makes the member malformed.
      while (i < n && core::is_ows(value[i])) ++i;
      if (i < n && value[i] != ',') {
        m.malformed = true;
        skip_to_comma(value, &i);
      }
      if (!m.name.empty()) apply(m);
    }
  }

  void finish() {
    if (cc_.no_cache) cc_.no_cache_fields.clear();
    if (cc_.private_) cc_.private_fields.clear();
  }

 private:
  // At an opening quote: reads the quoted-string into scratch_ (RFC 9110 §5.6.4: backslash
  // escapes any octet). Returns false when the string is unterminated (then it ran to the end).
  bool read_quoted(std::string_view v, size_t* pos) {
    scratch_.clear();
    size_t i = *pos + 1;
    bool closed = false;
    while (i < v.size()) {
      char c = v[i];
      if (c == '\\' && i + 1 < v.size()) {
        scratch_ += v[i + 1];
        i += 2;
      } else if (c == '"') {
        ++i;
        closed = true;
        break;
      } else {
        scratch_ += c;
        ++i;
      }
    }
    *pos = i;
    return closed;
  }

  static void skip_to_comma(std::string_view v, size_t* pos) {
    size_t i = *pos;
    while (i < v.size() && v[i] != ',') {
      if (v[i] == '"') {
        ++i;
        while (i < v.size() && v[i] != '"') i += (v[i] == '\\') ? 2 : 1;
        if (i < v.size()) ++i;  // closing quote (an escape may have stepped past the end)
      } else {
        ++i;
      }
    }
    *pos = i < v.size() ? i : v.size();
  }

  // Delta-seconds directives: invalid reads as 0; a differing repeat reads as 0 (stale).
  static void set_delta(std::optional<int64_t>& slot, const Member& m) {
    std::optional<int64_t> v = m.has_arg && !m.malformed ? parse_delta(m.arg) : std::nullopt;
    int64_t value = v.value_or(0);
    if (!slot.has_value()) {
      slot = value;
    } else if (*slot != value) {
      slot = 0;
    }
  }

  // no-cache / private: a well-formed non-empty field list is the qualified form; anything else is
  // read as the unqualified (stricter) form.
  static void set_fields(bool& unqualified, std::vector<std::string>& fields, const Member& m) {
    if (!m.has_arg || m.malformed) {
      unqualified = true;
      return;
    }
    size_t before = fields.size();
    std::string_view list = m.arg;
    while (!list.empty()) {
      size_t comma = list.find(',');
      std::string_view item = core::trim_ows(list.substr(0, comma));
      if (!item.empty()) {
        std::string name(item);
        for (char& c : name) c = core::ascii_lower(c);
        fields.push_back(std::move(name));
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
    if (fields.size() == before) unqualified = true;
  }

  void apply(const Member& m) {
    using core::iequals;
    const std::string_view n = m.name;
    if (iequals(n, "no-store")) {
      cc_.no_store = true;
    } else if (iequals(n, "no-cache")) {
      set_fields(cc_.no_cache, cc_.no_cache_fields, m);
    } else if (iequals(n, "private")) {
      set_fields(cc_.private_, cc_.private_fields, m);
    } else if (iequals(n, "public")) {
      cc_.public_ = true;
    } else if (iequals(n, "max-age")) {
      set_delta(cc_.max_age, m);
    } else if (iequals(n, "s-maxage")) {
      set_delta(cc_.s_maxage, m);
    } else if (iequals(n, "must-revalidate")) {
      cc_.must_revalidate = true;
    } else if (iequals(n, "proxy-revalidate")) {
      cc_.proxy_revalidate = true;
    } else if (iequals(n, "no-transform")) {
      cc_.no_transform = true;
    } else if (iequals(n, "immutable")) {
      cc_.immutable = true;
    } else if (iequals(n, "stale-while-revalidate")) {
      set_delta(cc_.stale_while_revalidate, m);
    } else if (iequals(n, "stale-if-error")) {
      set_delta(cc_.stale_if_error, m);
    }
  }

  CacheControl& cc_;
  std::string scratch_;  // unescaped quoted-string argument
};

}  // namespace

bool CacheControl::strips_field(std::string_view name) const {
  for (const std::string& f : no_cache_fields) {
    if (core::iequals(f, name)) return true;
  }
  for (const std::string& f : private_fields) {
    if (core::iequals(f, name)) return true;
  }
  return false;
}

CacheControl parse_cache_control(const core::Headers& headers) {
  CacheControl cc;
  Parser p(cc);
  for (const core::Header& h : headers) {
    if (core::iequals(h.name, "cache-control")) p.feed(h.value);
  }
  p.finish();
  return cc;
}

CacheControl parse_cache_control(std::string_view value) {
  CacheControl cc;
  Parser p(cc);
  p.feed(value);
  p.finish();
  return cc;
}

}  // namespace portico::cache
