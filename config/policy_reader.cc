#include "config/policy_reader.h"

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/managed_policies.h"
#include "config/values.h"
#include "core/http.h"

namespace portico::config::detail {
namespace {

// TTL bounds in seconds. CloudFront's CachePolicyConfig defaults DefaultTTL to 86400 (or MinTTL
// when larger) and MaxTTL to 31536000 (or DefaultTTL when larger), and needs MinTTL <= DefaultTTL
// <= MaxTTL. The API reference gives no upper bound; the Developer Guide's expiration page caps
// Cache-Control max-age at 100 years, which we take as the largest TTL.
constexpr int64_t kMaxTtl = 3'153'600'000;
constexpr int64_t kDefaultDefaultTtl = 86'400;
constexpr int64_t kDefaultMaxTtl = 31'536'000;

// CloudFront quotas ("Quotas on policies"): 10 headers, 10 cookies and 10 query strings per cache
// policy and per origin request policy; 128 characters for a whitelisted query string name. The
// API reference caps a policy comment at 128 characters; the console caps names at 128.
constexpr size_t kMaxItemsPerPolicy = 10;
constexpr size_t kMaxQueryStringNameLength = 128;
constexpr size_t kMaxNameLength = 128;
constexpr size_t kMaxCommentLength = 128;
constexpr std::string_view kManagedPrefix = "Managed-";
constexpr std::string_view kAcceptEncoding = "accept-encoding";

enum class ItemKind : uint8_t { Header, CloudFrontHeader, Cookie, QueryString };

// The spellings an item set may take, as bits.
constexpr unsigned kNone = 1u << 0;       // none
constexpr unsigned kAll = 1u << 1;        // all
constexpr unsigned kAllViewer = 1u << 2;  // all_viewer
constexpr unsigned kList = 1u << 3;       // [a, b] = whitelist, [] = none
constexpr unsigned kWhitelist = 1u << 4;  // {whitelist: [a, b]}
constexpr unsigned kAllExcept = 1u << 5;  // {all_except: [a, b]}
// {all_viewer_and_whitelist_cloudfront: [CloudFront-Viewer-Country, ...]}
constexpr unsigned kAllViewerAndCloudFront = 1u << 6;

constexpr unsigned kCacheKeyHeaders = kNone | kList | kWhitelist;
constexpr unsigned kCookiesOrQueryStrings = kNone | kAll | kWhitelist | kAllExcept;
constexpr unsigned kOriginRequestHeaders =
    kNone | kAllViewer | kWhitelist | kAllViewerAndCloudFront | kAllExcept;

std::string_view plural(ItemKind kind) {
  switch (kind) {
    case ItemKind::Header:
    case ItemKind::CloudFrontHeader:
      return "headers";
    case ItemKind::Cookie:
      return "cookies";
    case ItemKind::QueryString:
      return "query strings";
  }
  return "items";
}

std::string join(const std::vector<std::string>& parts, std::string_view last_separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += i + 1 == parts.size() ? last_separator : ", ";
    out += parts[i];
  }
  return out;
}

std::string describe_forms(unsigned forms) {
  std::vector<std::string> parts;
  if ((forms & kNone) != 0) parts.emplace_back("none");
  if ((forms & kAll) != 0) parts.emplace_back("all");
  if ((forms & kAllViewer) != 0) parts.emplace_back("all_viewer");
  if ((forms & kList) != 0) parts.emplace_back("a list of names");
  if ((forms & kWhitelist) != 0) parts.emplace_back("{whitelist: [...]}");
  if ((forms & kAllExcept) != 0) parts.emplace_back("{all_except: [...]}");
  if ((forms & kAllViewerAndCloudFront) != 0) {
    parts.emplace_back("{all_viewer_and_whitelist_cloudfront: [...]}");
  }
  return join(parts, " or ");
}

std::string describe_node(const YAML::Node& node) {
  if (node.IsScalar()) return quote(node.Scalar());
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a map";
  return "nothing";
}

bool is_query_string_name(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '&' || c == '=' || c == '#';
  });
}

// Reads one name of `kind` into `out` (header names lower-cased); false after reporting.
bool read_item(Diagnostics& diag, const Field& item, ItemKind kind, std::string& out) {
  std::string name;
  if (!read_nonempty_string(diag, item, name)) return false;
  switch (kind) {
    case ItemKind::Header:
    case ItemKind::CloudFrontHeader:
      if (!is_token(name)) {
        diag.error(item.mark, item.path, "invalid header name " + quote(name));
        return false;
      }
      name = core::to_lower(name);
      if (kind == ItemKind::CloudFrontHeader && !name.starts_with("cloudfront-")) {
        diag.error(item.mark, item.path,
                   quote(name) +
                       " is not a CloudFront header (e.g. CloudFront-Viewer-Country); list viewer "
                       "headers with all_viewer instead");
        return false;
      }
      break;
    case ItemKind::Cookie:
      if (!is_token(name)) {
        diag.error(item.mark, item.path, "invalid cookie name " + quote(name));
        return false;
      }
      break;
    case ItemKind::QueryString:
      if (name.size() > kMaxQueryStringNameLength) {
        diag.error(item.mark, item.path, "query string names are at most 128 characters");
        return false;
      }
      if (!is_query_string_name(name)) {
        diag.error(item.mark, item.path,
                   "invalid query string name " + quote(name) +
                       " (no spaces, control characters, '&', '=' or '#')");
        return false;
      }
      break;
  }
  out = std::move(name);
  return true;
}

// Reads a list of names (null = empty); false after reporting.
bool read_names(Diagnostics& diag, const Field& f, ItemKind kind, std::vector<std::string>& out) {
  if (!f.node.IsSequence() && !f.node.IsNull()) {
    diag.error(
        f.mark, f.path,
        "expected a list of " + std::string(plural(kind)) + ", got " + describe_node(f.node));
    return false;
  }
  std::vector<Field> items = list_items(diag, f);
  if (items.size() > kMaxItemsPerPolicy) {
    diag.error(f.mark, f.path,
               "at most 10 " + std::string(plural(kind)) +
                   " per policy (CloudFront's quota), got " + std::to_string(items.size()));
    return false;
  }
  for (const Field& item : items) {
    std::string name;
    if (!read_item(diag, item, kind, name)) return false;
    if (std::find(out.begin(), out.end(), name) != out.end()) {
      diag.error(item.mark, item.path, quote(name) + " is listed twice");
      return false;
    }
    out.push_back(std::move(name));
  }
  return true;
}

std::optional<MapReader> item_set_map(Diagnostics& diag, const Field& f, unsigned forms) {
  using Keys = std::initializer_list<std::string_view>;
  std::optional<MapReader> r;
  if ((forms & kAllViewerAndCloudFront) != 0) {
    r.emplace(diag, f, Keys{"whitelist", "all_except", "all_viewer_and_whitelist_cloudfront"});
  } else if ((forms & kAllExcept) != 0) {
    r.emplace(diag, f, Keys{"whitelist", "all_except"});
  } else {
    r.emplace(diag, f, Keys{"whitelist"});
  }
  return r;
}

// Reads `f` in one of the spellings `forms` allows into `out`; false after reporting. An absent
// field leaves `out` as it was.
bool read_item_set(Diagnostics& diag, const Field& f, ItemKind kind, unsigned forms, ItemSet& out) {
  if (!f.present) return true;
  if (f.node.IsNull()) {  // `cookies:` with nothing after it
    out = ItemSet{};
    return true;
  }
  const std::string expected = "expected " + describe_forms(forms) + ", got ";
  if (f.node.IsScalar()) {
    const std::string& word = f.node.Scalar();
    if (word == "none" && (forms & kNone) != 0) {
      out = ItemSet{};
    } else if (word == "all" && (forms & kAll) != 0) {
      out = ItemSet{ItemBehavior::All, {}};
    } else if (word == "all_viewer" && (forms & kAllViewer) != 0) {
      out = ItemSet{ItemBehavior::AllViewer, {}};
    } else {
      diag.error(f.mark, f.path, expected + quote(word));
      return false;
    }
    return true;
  }
  if (f.node.IsSequence() && (forms & kList) != 0) {
    ItemSet set{ItemBehavior::Whitelist, {}};
    if (!read_names(diag, f, kind, set.items)) return false;
    if (set.items.empty()) set.behavior = ItemBehavior::None;
    out = std::move(set);
    return true;
  }
  if (!f.node.IsMap()) {
    diag.error(f.mark, f.path, expected + describe_node(f.node));
    return false;
  }

  struct Choice {
    std::string_view key;
    unsigned form;
    ItemBehavior behavior;
    std::string_view instead;  // what to write for an empty list
  };
  static constexpr Choice kChoices[] = {
      {"whitelist", kWhitelist, ItemBehavior::Whitelist, "none"},
      {"all_except", kAllExcept, ItemBehavior::AllExcept, "all"},
      {"all_viewer_and_whitelist_cloudfront", kAllViewerAndCloudFront,
       ItemBehavior::AllViewerAndWhitelistCloudFront, "all_viewer"},
  };
  std::optional<MapReader> r = item_set_map(diag, f, forms);
  const Choice* chosen = nullptr;
  Field list;
  for (const Choice& c : kChoices) {
    if ((forms & c.form) == 0) continue;
    Field g = r->get(c.key);
    if (!g.present) continue;
    if (chosen != nullptr) {
      diag.error(
          g.mark, g.path,
          "has both " + std::string(chosen->key) + " and " + std::string(c.key) + "; pick one");
      return false;
    }
    chosen = &c;
    list = g;
  }
  if (chosen == nullptr) {
    diag.error(f.mark, f.path, expected + "an empty map");
    return false;
  }
  ItemSet set{chosen->behavior, {}};
  ItemKind list_kind = chosen->behavior == ItemBehavior::AllViewerAndWhitelistCloudFront
                           ? ItemKind::CloudFrontHeader
                           : kind;
  if (!read_names(diag, list, list_kind, set.items)) return false;
  std::string_view instead = chosen->instead;
  if (kind == ItemKind::Header && chosen->behavior == ItemBehavior::AllExcept) {
    instead = "all_viewer";
  }
  if (set.items.empty()) {
    diag.error(list.mark, list.path,
               "must list at least one name (write " + std::string(instead) + " instead)");
    return false;
  }
  out = std::move(set);
  return true;
}

bool valid_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// Checks a declared policy's name against CloudFront's rules and the names declared before it;
// `noun` is "cache policy" or "origin request policy".
template <typename Policy>
void check_name(Diagnostics& diag, const Field& f, const std::string& name, std::string_view noun,
                const std::vector<Policy>& declared) {
  if (name.size() > kMaxNameLength) {
    diag.error(f.mark, f.path, "must be at most 128 characters");
  } else if (!std::all_of(name.begin(), name.end(), valid_name_char)) {
    diag.error(f.mark, f.path,
               "invalid " + std::string(noun) + " name " + quote(name) +
                   ": use letters, digits, '-' and '_'");
  } else if (name.starts_with(kManagedPrefix)) {
    diag.error(f.mark, f.path,
               "names starting with 'Managed-' are reserved for AWS's managed policies, got " +
                   quote(name));
  } else if (is_managed_cache_policy_name(name)) {
    diag.error(f.mark, f.path, quote(name) + " is the name of an AWS managed cache policy");
  }
  for (const Policy& other : declared) {
    if (other.name == name) {
      diag.error(f.mark, f.path,
                 "duplicate " + std::string(noun) + " name " + quote(name) +
                     " (first defined at line " + std::to_string(other.loc.line) + ")");
    }
  }
}

void read_comment(Diagnostics& diag, const Field& f, std::string& out) {
  if (read_string(diag, f, out) && out.size() > kMaxCommentLength) {
    diag.error(f.mark, f.path, "must be at most 128 characters");
  }
}

// CloudFront puts nothing in the key of a policy that caches nothing: the console hides the
// cache key settings when every TTL is 0, and CreateCachePolicy rejects them (see
// https://github.com/awsdocs/amazon-cloudfront-developer-guide/pull/51).
void check_caching_disabled(Diagnostics& diag, const MapReader& key, const CachePolicy& p) {
  const char* why = " when max_ttl is 0 (caching disabled: CloudFront builds no cache key)";
  for (std::string_view name : {"headers", "cookies", "query_strings"}) {
    const ItemSet& set = name == "headers"   ? p.headers
                         : name == "cookies" ? p.cookies
                                             : p.query_strings;
    if (set.behavior != ItemBehavior::None) {
      Field f = key.get(name);
      diag.error(f.mark, f.path, std::string("must be none") + why);
    }
  }
  if (p.enable_accept_encoding_gzip || p.enable_accept_encoding_brotli) {
    Field f = key.get(p.enable_accept_encoding_gzip ? "enable_accept_encoding_gzip"
                                                    : "enable_accept_encoding_brotli");
    diag.error(f.mark, f.path, std::string("must be false") + why);
  }
}

void read_cache_policy(Diagnostics& diag, const Field& f, const std::vector<CachePolicy>& declared,
                       CachePolicy& p) {
  MapReader r(diag, f,
              {"name", "comment", "min_ttl", "default_ttl", "max_ttl", "cache_key",
               "heuristic_freshness", "stale_if_error"});
  p.loc = diag.loc(f.mark);
  Field name = r.require("name");
  if (read_nonempty_string(diag, name, p.name) && name.present) {
    check_name(diag, name, p.name, "cache policy", declared);
  }
  read_comment(diag, r.get("comment"), p.comment);

  Field min = r.get("min_ttl");
  Field def = r.get("default_ttl");
  Field max = r.get("max_ttl");
  bool ttls_ok = read_int(diag, min, 0, kMaxTtl, p.min_ttl);
  p.default_ttl = std::max(kDefaultDefaultTtl, p.min_ttl);
  ttls_ok = read_int(diag, def, 0, kMaxTtl, p.default_ttl) && ttls_ok;
  p.max_ttl = std::max(kDefaultMaxTtl, p.default_ttl);
  ttls_ok = read_int(diag, max, 0, kMaxTtl, p.max_ttl) && ttls_ok;
  if (ttls_ok && p.default_ttl < p.min_ttl) {
    diag.error(def.mark, def.path,
               "default_ttl (" + std::to_string(p.default_ttl) + ") must be at least min_ttl (" +
                   std::to_string(p.min_ttl) + ")");
  } else if (ttls_ok && p.max_ttl < p.default_ttl) {
    const Field& where = max.present ? max : def;
    diag.error(where.mark, where.path,
               "max_ttl (" + std::to_string(p.max_ttl) + ") must be at least default_ttl (" +
                   std::to_string(p.default_ttl) +
                   (def.present ? ")" : ", its default; set default_ttl too)"));
  }

  MapReader key(diag, r.get("cache_key"),
                {"headers", "cookies", "query_strings", "enable_accept_encoding_gzip",
                 "enable_accept_encoding_brotli"});
  Field headers = key.get("headers");
  read_item_set(diag, headers, ItemKind::Header, kCacheKeyHeaders, p.headers);
  read_item_set(diag, key.get("cookies"), ItemKind::Cookie, kCookiesOrQueryStrings, p.cookies);
  read_item_set(diag, key.get("query_strings"), ItemKind::QueryString, kCookiesOrQueryStrings,
                p.query_strings);
  read_bool(diag, key.get("enable_accept_encoding_gzip"), p.enable_accept_encoding_gzip);
  read_bool(diag, key.get("enable_accept_encoding_brotli"), p.enable_accept_encoding_brotli);
  // ParametersInCacheKeyAndForwardedToOrigin: with either flag on, CloudFront adds the normalized
  // Accept-Encoding header itself, and rejects it in HeadersConfig.
  const std::vector<std::string>& keyed = p.headers.items;
  if ((p.enable_accept_encoding_gzip || p.enable_accept_encoding_brotli) &&
      std::find(keyed.begin(), keyed.end(), kAcceptEncoding) != keyed.end()) {
    diag.error(headers.mark, headers.path,
               "accept-encoding cannot be listed when enable_accept_encoding_gzip or "
               "enable_accept_encoding_brotli is true (CloudFront adds the normalized header "
               "itself)");
  }
  if (ttls_ok && p.caching_disabled()) check_caching_disabled(diag, key, p);

  read_bool(diag, r.get("heuristic_freshness"), p.heuristic_freshness);
  Field stale = r.get("stale_if_error");
  p.has_stale_if_error = read_int(diag, stale, 0, kMaxTtl, p.stale_if_error) && stale.present;
}

void read_origin_request_policy(Diagnostics& diag, const Field& f,
                                const std::vector<OriginRequestPolicy>& declared,
                                OriginRequestPolicy& p) {
  MapReader r(diag, f, {"name", "comment", "headers", "cookies", "query_strings"});
  p.loc = diag.loc(f.mark);
  Field name = r.require("name");
  if (read_nonempty_string(diag, name, p.name) && name.present) {
    check_name(diag, name, p.name, "origin request policy", declared);
  }
  read_comment(diag, r.get("comment"), p.comment);
  read_item_set(diag, r.get("headers"), ItemKind::Header, kOriginRequestHeaders, p.headers);
  read_item_set(diag, r.get("cookies"), ItemKind::Cookie, kCookiesOrQueryStrings, p.cookies);
  read_item_set(diag, r.get("query_strings"), ItemKind::QueryString, kCookiesOrQueryStrings,
                p.query_strings);
}

template <typename Policy>
std::vector<std::string_view> names_of(const std::vector<Policy>& policies) {
  std::vector<std::string_view> names;
  names.reserve(policies.size());
  for (const Policy& p : policies) names.push_back(p.name);
  return names;
}

// "unknown cache policy 'x', did you mean 'Managed-x'? (cache policies: a, b)"
std::string unknown_policy(std::string_view noun, std::string_view nouns, const std::string& name,
                           const std::vector<std::string_view>& names) {
  std::string managed = std::string(kManagedPrefix) + name;
  std::string suggestion = std::find(names.begin(), names.end(), managed) != names.end()
                               ? managed
                               : closest_match(name, names);
  std::string out = "unknown " + std::string(noun) + " " + quote(name);
  if (!suggestion.empty()) out += ", did you mean " + quote(suggestion) + "?";
  std::vector<std::string> listed(names.begin(), names.end());
  out += " (" + std::string(nouns) + ": " + join(listed, ", ") + ")";
  return out;
}

}  // namespace

void read_cache_policies(Diagnostics& diag, const Field& f, Model& model) {
  std::vector<Field> items = list_items(diag, f);
  std::vector<CachePolicy> managed = managed_cache_policies();
  model.cache_policies.reserve(items.size() + managed.size());
  for (const Field& item : items) {
    CachePolicy p;
    read_cache_policy(diag, item, model.cache_policies, p);
    model.cache_policies.push_back(std::move(p));
  }
  for (CachePolicy& p : managed) model.cache_policies.push_back(std::move(p));
}

void read_origin_request_policies(Diagnostics& diag, const Field& f, Model& model) {
  std::vector<Field> items = list_items(diag, f);
  std::vector<OriginRequestPolicy> managed = managed_origin_request_policies();
  model.origin_request_policies.reserve(items.size() + managed.size());
  for (const Field& item : items) {
    OriginRequestPolicy p;
    read_origin_request_policy(diag, item, model.origin_request_policies, p);
    model.origin_request_policies.push_back(std::move(p));
  }
  for (OriginRequestPolicy& p : managed) model.origin_request_policies.push_back(std::move(p));
}

namespace {

// `cache.redis`: exactly one of address / cluster; the rest optional.
void read_redis(Diagnostics& diag, const Field& f, CacheRedis& redis) {
  if (!f.present) return;
  redis.enabled = true;
  redis.loc = diag.loc(f.mark);
  MapReader r(diag, f,
              {"address", "cluster", "password_env", "db", "timeout", "connect_timeout",
               "max_object_size", "key_prefix", "fleet_lock", "lock_timeout"});
  Field address = r.get("address");
  Field cluster = r.get("cluster");
  auto add = [&](const Field& item) {
    std::string text;
    if (!read_nonempty_string(diag, item, text)) return;
    core::Result<HostPort> hp = parse_node_address(text);
    if (!hp.ok()) {
      diag.error(item.mark, item.path, hp.error().detail);
      return;
    }
    redis.addresses.push_back(RedisAddress{hp->host, hp->port});
  };
  if (address.present == cluster.present) {
    diag.error(r.mark(), r.path(),
               "needs exactly one of address (one server) or cluster (seed nodes of a Redis "
               "Cluster)");
    return;
  }
  if (address.present) {
    add(address);
  } else {
    redis.cluster = true;
    std::vector<Field> seeds = list_items(diag, cluster);
    if (seeds.empty() && !diag.failed()) {
      diag.error(cluster.mark, cluster.path, "must list at least one node (host:port)");
    }
    for (const Field& seed : seeds) add(seed);
  }
  Field password_env = r.get("password_env");
  read_nonempty_string(diag, password_env, redis.password_env);
  Field db = r.get("db");
  read_int_as(diag, db, 0, 65535, redis.db);
  if (db.present && redis.cluster && redis.db != 0) {
    diag.error(db.mark, db.path, "Redis Cluster has only database 0");
  }
  read_duration(diag, r.get("timeout"), Duration(1), Duration(60'000), redis.timeout);
  read_duration(diag, r.get("connect_timeout"), Duration(1), Duration(60'000),
                redis.connect_timeout);
  read_size(diag, r.get("max_object_size"), 1, uint64_t{1} << 40, redis.max_object_size);
  Field prefix = r.get("key_prefix");
  if (read_string(diag, prefix, redis.key_prefix) && prefix.present) {
    bool ok = redis.key_prefix.size() <= 64;
    for (char c : redis.key_prefix) {
      // Braces would change which Redis Cluster slot a key hashes to.
      ok = ok && c > ' ' && c < 0x7f && c != '{' && c != '}';
    }
    if (!ok) {
      diag.error(prefix.mark, prefix.path,
                 "must be at most 64 printable characters without spaces, '{' or '}'");
    }
  }
  read_bool(diag, r.get("fleet_lock"), redis.fleet_lock);
  read_duration(diag, r.get("lock_timeout"), Duration(10), Duration(300'000), redis.lock_timeout);
}

}  // namespace

void read_cache(Diagnostics& diag, const Field& f, Cache& cache) {
  if (!f.present) return;
  cache.loc = diag.loc(f.mark);
  MapReader r(diag, f, {"memory_size", "max_object_size", "redis"});
  read_redis(diag, r.get("redis"), cache.redis);
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  Field memory = r.get("memory_size");
  Field max_object = r.get("max_object_size");
  if (!read_size(diag, memory, 1, kMax, cache.memory_size)) return;
  if (!read_size(diag, max_object, 1, kMax, cache.max_object_size)) return;
  if (!max_object.present) {
    // A small memory_size with the default max_object_size: objects may be as large as the store.
    cache.max_object_size = std::min(cache.max_object_size, cache.memory_size);
  } else if (cache.max_object_size > cache.memory_size) {
    diag.error(max_object.mark, max_object.path,
               "max_object_size (" + std::to_string(cache.max_object_size) +
                   " bytes) must not exceed memory_size (" + std::to_string(cache.memory_size) +
                   " bytes)");
  }
}

void resolve_behavior_policies(Diagnostics& diag, const Model& model, const Field& cache_policy,
                               const Field& origin_request_policy, const Field& compress,
                               CacheBehavior& b) {
  if (!b.cache_policy.empty()) {
    const CachePolicy* p = model.find_cache_policy(b.cache_policy);
    if (std::string_view alias = managed_cache_policy_alias(b.cache_policy);
        p == nullptr && !alias.empty()) {
      p = model.find_cache_policy(alias);
    }
    if (p == nullptr) {
      diag.error(cache_policy.mark, cache_policy.path,
                 unknown_policy("cache policy", "cache policies", b.cache_policy,
                                names_of(model.cache_policies)));
    }
    b.cache_policy_ref = p;
  }
  if (!b.origin_request_policy.empty()) {
    const OriginRequestPolicy* p = model.find_origin_request_policy(b.origin_request_policy);
    if (p == nullptr) {
      diag.error(origin_request_policy.mark, origin_request_policy.path,
                 unknown_policy("origin request policy", "origin request policies",
                                b.origin_request_policy, names_of(model.origin_request_policies)));
    }
    b.origin_request_policy_ref = p;
  }

  const CachePolicy* cp = b.cache_policy_ref;
  if (cp == nullptr) return;
  bool compresses = cp->enable_accept_encoding_gzip || cp->enable_accept_encoding_brotli;
  // Developer Guide, "Serve compressed files": CloudFront compresses only when the cache policy
  // caches compressed objects (Gzip and/or Brotli), which a policy with every TTL 0 cannot.
  if (b.compress && !compresses) {
    diag.warn(compress.mark, compress.path,
              "compress has no effect: cache policy " + quote(cp->name) +
                  (cp->caching_disabled()
                       ? " disables caching, so CloudFront does not compress"
                       : " enables neither enable_accept_encoding_gzip nor "
                         "enable_accept_encoding_brotli, so CloudFront does not compress"));
  }
  // Developer Guide, "Cache compressed objects": with either flag on, Accept-Encoding in the
  // origin request policy has no effect (CloudFront always sends its normalized value).
  const OriginRequestPolicy* orp = b.origin_request_policy_ref;
  if (compresses && orp != nullptr && orp->headers.behavior == ItemBehavior::Whitelist &&
      std::find(orp->headers.items.begin(), orp->headers.items.end(), kAcceptEncoding) !=
          orp->headers.items.end()) {
    diag.warn(origin_request_policy.mark, origin_request_policy.path,
              "origin request policy " + quote(orp->name) +
                  " forwards accept-encoding, which has no effect: cache policy " +
                  quote(cp->name) + " already sends CloudFront's normalized Accept-Encoding");
  }
}

}  // namespace portico::config::detail
