#include "cache/key.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace portico::cache {
namespace {

using config::ItemBehavior;
using config::ItemSet;

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && core::iequals(s.substr(0, prefix.size()), prefix);
}

bool in_items(const std::vector<std::string>& items, std::string_view name, bool ci) {
  for (const std::string& item : items) {
    if (ci ? core::iequals(item, name) : item == name) return true;
  }
  return false;
}

// Whether `s` selects the element `name`; header names compare case-insensitively (`ci`), cookie
// and query string names exactly.
bool selects(const ItemSet& s, std::string_view name, bool ci) {
  switch (s.behavior) {
    case ItemBehavior::None:
      return false;
    case ItemBehavior::Whitelist:
      return in_items(s.items, name, ci);
    case ItemBehavior::AllExcept:
      return !in_items(s.items, name, ci);
    case ItemBehavior::All:
    case ItemBehavior::AllViewer:
    case ItemBehavior::AllViewerAndWhitelistCloudFront:
      return true;
  }
  return false;
}

// tag + decimal length + ':' + bytes: self-delimiting, so a key decodes to one field sequence.
void append_length(std::string& out, char tag, size_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  out += tag;
  out.append(buf, r.ptr);
  out += ':';
}

void append_field(std::string& out, char tag, std::string_view v) {
  append_length(out, tag, v.size());
  out.append(v);
}

void append_field_lower(std::string& out, char tag, std::string_view v) {
  append_length(out, tag, v.size());
  for (char c : v) out += core::ascii_lower(c);
}

// Calls fn(param, name) for each non-empty '&'-separated segment of a query string.
template <class Fn>
void for_each_param(std::string_view query, Fn&& fn) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    if (!param.empty()) fn(param, param.substr(0, param.find('=')));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
}

// Calls fn(name, pair) for each well-formed cookie-pair (RFC 6265 §4.2.1: name=value, name not
// empty) of every Cookie field; CloudFront forwards only that "standard name-value pair format".
template <class Fn>
void for_each_cookie(const core::Headers& headers, Fn&& fn) {
  for (const core::Header& h : headers) {
    if (!core::iequals(h.name, "cookie")) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      size_t semi = v.find(';');
      std::string_view pair = core::trim_ows(v.substr(0, semi));
      size_t eq = pair.find('=');
      if (eq != std::string_view::npos) {
        std::string_view name = core::trim_ows(pair.substr(0, eq));
        if (!name.empty()) fn(name, pair);
      }
      if (semi == std::string_view::npos) break;
      v.remove_prefix(semi + 1);
    }
  }
}

struct CookieRef {
  std::string_view name;
  std::string_view pair;
  bool operator<(const CookieRef& o) const {
    return name != o.name ? name < o.name : pair < o.pair;
  }
};

// Up to this many selected cookies are sorted on the stack; past it, received order is kept
// (a deterministic key still, only a lower hit ratio for such odd requests).
constexpr size_t kMaxSortedCookies = 128;

// Emits the cookies `want(name)` selects, sorted by name then value when there are few enough.
template <class Want, class Emit>
void emit_cookies(const core::Headers& headers, Want&& want, Emit&& emit) {
  std::array<CookieRef, kMaxSortedCookies> refs;
  size_t count = 0;
  bool overflow = false;
  for_each_cookie(headers, [&](std::string_view name, std::string_view pair) {
    if (!want(name)) return;
    if (count < refs.size()) {
      refs[count] = CookieRef{name, pair};
    } else {
      overflow = true;
    }
    ++count;
  });
  if (count == 0) return;
  if (!overflow) {
    std::sort(refs.begin(), refs.begin() + static_cast<std::ptrdiff_t>(count));
    for (size_t i = 0; i < count; ++i) emit(refs[i].pair);
    return;
  }
  for_each_cookie(headers, [&](std::string_view name, std::string_view pair) {
    if (want(name)) emit(pair);
  });
}

// Fields the exchange writes or handles itself; never copied from the viewer: the hop-by-hop ones
// and those below.
bool exchange_owned(std::string_view n) {
  if (core::is_hop_by_hop(n)) return true;
  switch (n.size()) {
    case 3:
      return core::iequals(n, "via");
    case 5:
      return core::iequals(n, "proxy");
    case 6:
      return core::iequals(n, "expect") || core::iequals(n, "cookie");
    case 11:
      return core::iequals(n, "x-amz-cf-id");
    case 14:
      return core::iequals(n, "content-length");
    case 15:
      return core::iequals(n, "x-forwarded-for");
    default:
      return false;
  }
}

enum class Acceptance : uint8_t { Unlisted, Accepted, Refused };

// RFC 9110 §12.4.2 weight: "q=" qvalue. True when the member's weight is above zero; a missing
// weight is 1; an unparseable one refuses (better to send identity than a coding the viewer may
// not decode).
bool positive_weight(std::string_view params) {
  while (!params.empty()) {
    size_t semi = params.find(';');
    std::string_view param = core::trim_ows(params.substr(0, semi));
    size_t eq = param.find('=');
    if (eq != std::string_view::npos && core::iequals(core::trim_ows(param.substr(0, eq)), "q")) {
      std::string_view q = core::trim_ows(param.substr(eq + 1));
      bool digits = false;
      bool nonzero = false;
      bool dot = false;
      for (char c : q) {
        if (c >= '0' && c <= '9') {
          digits = true;
          nonzero = nonzero || c != '0';
        } else if (c == '.' && !dot) {
          dot = true;
        } else {
          return false;
        }
      }
      return digits && nonzero;
    }
    if (semi == std::string_view::npos) break;
    params.remove_prefix(semi + 1);
  }
  return true;
}

void note(Acceptance& a, bool accepted) {
  if (a == Acceptance::Refused) return;  // a refusal anywhere wins
  a = accepted ? Acceptance::Accepted : Acceptance::Refused;
}

}  // namespace

Encoding normalize_accept_encoding(std::string_view accept_encoding, const config::CachePolicy& p) {
  if (!normalizes_accept_encoding(p)) return Encoding::Identity;
  Acceptance gzip = Acceptance::Unlisted;
  Acceptance br = Acceptance::Unlisted;
  Acceptance star = Acceptance::Unlisted;
  std::string_view list = accept_encoding;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view member = core::trim_ows(list.substr(0, comma));
    size_t semi = member.find(';');
    std::string_view coding = core::trim_ows(member.substr(0, semi));
    bool accepted =
        positive_weight(semi == std::string_view::npos ? std::string_view{} : member.substr(semi));
    if (core::iequals(coding, "gzip") || core::iequals(coding, "x-gzip")) {
      note(gzip, accepted);
    } else if (core::iequals(coding, "br")) {
      note(br, accepted);
    } else if (coding == "*") {
      note(star, accepted);
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  auto ok = [&](Acceptance a) {
    return a == Acceptance::Accepted || (a == Acceptance::Unlisted && star == Acceptance::Accepted);
  };
  bool use_gzip = p.enable_accept_encoding_gzip && ok(gzip);
  bool use_br = p.enable_accept_encoding_brotli && ok(br);
  if (use_br && use_gzip) return Encoding::BrotliGzip;
  if (use_br) return Encoding::Brotli;
  if (use_gzip) return Encoding::Gzip;
  return Encoding::Identity;
}

bool normalizes_accept_encoding(const config::CachePolicy& p) {
  return p.enable_accept_encoding_gzip || p.enable_accept_encoding_brotli;
}

std::string_view origin_accept_encoding(Encoding e) {
  switch (e) {
    case Encoding::Identity:
      return "identity";
    case Encoding::Gzip:
      return "gzip";
    case Encoding::Brotli:
      return "br";
    case Encoding::BrotliGzip:
      return "br,gzip";
  }
  return "identity";
}

void build_key(std::string& out, std::string_view distribution_id, const core::RequestHead& req,
               const config::CachePolicy& p, Encoding e) {
  out.clear();
  append_field(out, 'D', distribution_id);
  if (req.method == core::Method::Get || req.method == core::Method::Head) {
    out += 'G';
  } else {
    append_field(out, 'M',
                 req.method_token.empty() ? core::method_name(req.method) : req.method_token);
  }
  append_field(out, 'P', req.path);

  if (p.query_strings.behavior != ItemBehavior::None) {
    for_each_param(req.query, [&](std::string_view param, std::string_view name) {
      if (selects(p.query_strings, name, false)) append_field(out, 'Q', param);
    });
  }

  const bool normalized = normalizes_accept_encoding(p);
  auto keyed_elsewhere = [&](std::string_view name) {
    return core::iequals(name, "cookie") || (normalized && core::iequals(name, "accept-encoding"));
  };
  if (p.headers.behavior == ItemBehavior::Whitelist) {
    for (const std::string& name : p.headers.items) {
      if (keyed_elsewhere(name)) continue;
      append_field_lower(out, 'H', name);
      bool any = false;
      if (core::iequals(name, "host") && !req.authority.empty()) {
        append_field(out, 'V', req.authority);
        any = true;
      } else {
        for (const core::Header& h : req.headers) {
          if (!core::iequals(h.name, name)) continue;
          append_field(out, 'V', h.value);
          any = true;
        }
      }
      if (!any) out += 'N';  // absent differs from empty ("V0:")
    }
  } else if (p.headers.behavior != ItemBehavior::None) {
    // CloudFront accepts only None and Whitelist for cache-key headers; anything else keys on
    // every selected field, in received order (never fewer fields than asked for).
    for (const core::Header& h : req.headers) {
      if (keyed_elsewhere(h.name) || !selects(p.headers, h.name, true)) continue;
      append_field_lower(out, 'H', h.name);
      append_field(out, 'V', h.value);
    }
  }

  if (p.cookies.behavior != ItemBehavior::None) {
    emit_cookies(
        req.headers, [&](std::string_view name) { return selects(p.cookies, name, false); },
        [&](std::string_view pair) { append_field(out, 'C', pair); });
  }

  out += 'E';
  out += static_cast<char>('0' + static_cast<int>(e));
}

bool ForwardRules::header(std::string_view name, core::Method m) const {
  if (exchange_owned(name)) return false;
  auto cache_selects = [&] { return cache_ != nullptr && selects(cache_->headers, name, true); };
  auto origin_selects = [&] { return origin_ != nullptr && selects(origin_->headers, name, true); };
  if (core::iequals(name, "host")) return !legacy() && (cache_selects() || origin_selects());
  if (cache_ != nullptr && normalizes_accept_encoding(*cache_) &&
      core::iequals(name, "accept-encoding")) {
    return false;
  }
  if (legacy()) return true;
  if (starts_with_ci(name, "cloudfront-") || starts_with_ci(name, "x-edge-")) return false;
  if (core::iequals(name, "authorization")) {
    if (cache_selects()) return true;
    return m != core::Method::Get && m != core::Method::Head && m != core::Method::Options;
  }
  return cache_selects() || origin_selects();
}

bool ForwardRules::cloudfront_header(std::string_view name) const {
  if (!starts_with_ci(name, "cloudfront-")) return false;
  if (cache_ != nullptr && cache_->headers.behavior == ItemBehavior::Whitelist &&
      in_items(cache_->headers.items, name, true)) {
    return true;
  }
  return origin_ != nullptr &&
         (origin_->headers.behavior == ItemBehavior::Whitelist ||
          origin_->headers.behavior == ItemBehavior::AllViewerAndWhitelistCloudFront) &&
         in_items(origin_->headers.items, name, true);
}

void ForwardRules::query(std::string_view raw_query, std::string& out) const {
  out.clear();
  if (legacy()) {
    out.append(raw_query);
    return;
  }
  for_each_param(raw_query, [&](std::string_view param, std::string_view name) {
    bool wanted = (cache_ != nullptr && selects(cache_->query_strings, name, false)) ||
                  (origin_ != nullptr && selects(origin_->query_strings, name, false));
    if (!wanted) return;
    if (!out.empty()) out += '&';
    out.append(param);
  });
}

void ForwardRules::cookies(const core::Headers& req, std::string& out) const {
  out.clear();
  if (legacy()) {
    for (const core::Header& h : req) {
      if (!core::iequals(h.name, "cookie") || h.value.empty()) continue;
      if (!out.empty()) out += "; ";
      out.append(h.value);
    }
    return;
  }
  emit_cookies(
      req,
      [&](std::string_view name) {
        return (cache_ != nullptr && selects(cache_->cookies, name, false)) ||
               (origin_ != nullptr && selects(origin_->cookies, name, false));
      },
      [&](std::string_view pair) {
        if (!out.empty()) out += "; ";
        out.append(pair);
      });
}

}  // namespace portico::cache
