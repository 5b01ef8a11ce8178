#include "config/distribution_reader.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <system_error>

#include "config/policy_reader.h"
#include "config/values.h"
#include "core/http.h"

namespace portico::config::detail {
namespace {

using core::Method;
using core::method_bit;

// CloudFront's ranges (CreateDistribution CustomOriginConfig / Origin).
constexpr Duration kMaxConnectionTimeout{10'000};
constexpr Duration kMaxReadTimeout{180'000};
constexpr Duration kMinOriginTimeout{1'000};
constexpr size_t kMaxPathPatternLength = 255;

// CustomErrorResponse: the codes CloudFront customizes and may answer with (Developer Guide,
// "Create a custom error page for specific HTTP status codes" and "Change response codes returned
// by CloudFront"), and ErrorCachingMinTTL's range (0 to 31,536,000 seconds, default 10).
constexpr std::array<int, 11> kErrorCodes{400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504};
constexpr std::array<int, 12> kResponseCodes{200, 400, 403, 404, 405, 414,
                                             416, 500, 501, 502, 503, 504};
constexpr int64_t kMaxErrorCachingMinTtl = 31'536'000;
// A behavior's stale_if_error: the range of cache policy TTLs (100 years).
constexpr int64_t kMaxStaleIfError = 3'153'600'000;

constexpr uint32_t kGetHead = method_bit(Method::Get) | method_bit(Method::Head);
constexpr uint32_t kGetHeadOptions = kGetHead | method_bit(Method::Options);
constexpr uint32_t kAllMethods = kGetHeadOptions | method_bit(Method::Put) |
                                 method_bit(Method::Post) | method_bit(Method::Patch) |
                                 method_bit(Method::Delete);

template <size_t N>
bool contains(const std::array<int, N>& codes, int code) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

template <size_t N>
std::string list_codes(const std::array<int, N>& codes) {
  std::string out;
  for (size_t i = 0; i < N; ++i) {
    if (i > 0) out += i + 1 == N ? " or " : ", ";
    out += std::to_string(codes[i]);
  }
  return out;
}

std::string join_ids(const std::vector<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) {
    if (!out.empty()) out += ", ";
    out += id;
  }
  return out;
}

bool has_control_char(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Reads a list of method names into a bit set; false after reporting.
bool read_methods(Diagnostics& diag, const Field& f, uint32_t& out) {
  uint32_t bits = 0;
  for (const Field& item : list_items(diag, f)) {
    std::string name;
    if (!read_nonempty_string(diag, item, name)) return false;
    Method m = core::parse_method(name);
    if (m == Method::Other || (method_bit(m) & kAllMethods) == 0) {
      diag.error(item.mark, item.path,
                 "unknown method " + quote(name) +
                     " (expected GET, HEAD, OPTIONS, PUT, POST, PATCH or DELETE)");
      return false;
    }
    if ((bits & method_bit(m)) != 0) {
      diag.error(item.mark, item.path, "duplicate method " + quote(name));
      return false;
    }
    bits |= method_bit(m);
  }
  if (diag.failed()) return false;
  out = bits;
  return true;
}

// A path pattern the way routing::PathPattern normalizes it, for duplicate detection.
std::string normalized_pattern(std::string_view pattern) {
  if (pattern.starts_with('/') || pattern.starts_with('*')) return std::string(pattern);
  return "/" + std::string(pattern);
}

bool valid_pattern_chars(std::string_view pattern) {
  // CloudFront: A-Z a-z 0-9 _ - . * $ / ~ " ' @ : + & and the wildcard ?.
  static constexpr std::string_view kExtra = "_-.*$/~\"'@:+&?";
  return std::all_of(pattern.begin(), pattern.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           kExtra.find(c) != std::string_view::npos;
  });
}

// OriginPath: "" or "/prefix" without a trailing slash, spaces, '?' or '#'.
void read_origin_path(Diagnostics& diag, const Field& origin_path, std::string& out) {
  if (!read_string(diag, origin_path, out) || out.empty()) return;
  const std::string& p = out;
  if (!p.starts_with('/')) {
    diag.error(origin_path.mark, origin_path.path, "must start with '/', got " + quote(p));
  } else if (p.ends_with('/')) {
    diag.error(
        origin_path.mark, origin_path.path,
        "must not end with '/' (write " + quote(p.substr(0, p.find_last_not_of('/') + 1)) + ")");
  } else if (p.find_first_of("?#") != std::string::npos || has_control_char(p) ||
             p.find(' ') != std::string::npos) {
    diag.error(origin_path.mark, origin_path.path,
               "must be a plain path without spaces, '?' or '#', got " + quote(p));
  }
}

// An environment variable name as POSIX shells accept it: [A-Za-z_][A-Za-z0-9_]*.
bool is_env_name(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

class DistributionReader {
 public:
  DistributionReader(Diagnostics& diag, const std::string& base_dir, Model& model)
      : diag_(diag), base_dir_(base_dir), model_(model) {}

  void read_all(const Field& f);

 private:
  struct AliasUse {
    std::string alias;
    YAML::Mark mark;
    std::string path;
    size_t distribution = 0;
  };

  void read_distribution(const Field& f, size_t index);
  void read_listener_refs(const Field& f, Distribution& d);
  void read_aliases(const Field& f, size_t index, Distribution& d);
  // Returns the `id` field, for duplicate reports.
  Field read_origin(const Field& f, Origin& o);
  void read_custom_origin(const Field& f, CustomOrigin& c);
  void read_directory_origin(const Field& f, DirectoryOrigin& dir);
  void read_s3_origin(const Field& f, S3Origin& s3);
  void read_s3_credentials(const Field& f, S3CredentialsConfig& c);
  void read_load_balancer_origin(const Field& f, LoadBalancerOrigin& lb);
  void read_custom_headers(const Field& f, std::vector<OriginCustomHeader>& out);
  void read_behavior(const Field& f, bool is_default, const Distribution& d, CacheBehavior& b);
  void check_options_key(const Field& cached, const CacheBehavior& b);
  void read_custom_error_responses(const Field& f, Distribution& d);
  bool shares_listener(const Distribution& a, const Distribution& b) const;
  void check_alias_conflicts();

  Diagnostics& diag_;
  const std::string& base_dir_;
  Model& model_;
  std::vector<AliasUse> aliases_;
};

void DistributionReader::read_all(const Field& f) {
  std::vector<Field> items = list_items(diag_, f);
  if (f.present && items.empty()) {
    diag_.error(f.mark, f.path, "must list at least one distribution");
  }
  for (size_t i = 0; i < items.size(); ++i) read_distribution(items[i], i);
  if (!diag_.failed()) check_alias_conflicts();
}

void DistributionReader::read_distribution(const Field& f, size_t index) {
  MapReader r(
      diag_, f,
      {"id", "enabled", "comment", "listeners", "aliases", "default_root_object", "via_host",
       "origins", "default_cache_behavior", "cache_behaviors", "custom_error_responses"});
  Distribution d;
  d.loc = diag_.loc(f.mark);
  Field id = r.require("id");
  read_nonempty_string(diag_, id, d.id);
  for (const Distribution& other : model_.distributions) {
    if (!d.id.empty() && other.id == d.id) {
      diag_.error(id.mark, id.path,
                  "duplicate distribution id " + quote(d.id) + " (first defined at line " +
                      std::to_string(other.loc.line) + ")");
    }
  }
  read_bool(diag_, r.get("enabled"), d.enabled);
  read_string(diag_, r.get("comment"), d.comment);
  read_listener_refs(r.get("listeners"), d);
  read_aliases(r.get("aliases"), index, d);

  Field root = r.get("default_root_object");
  if (read_string(diag_, root, d.default_root_object)) {
    if (d.default_root_object.starts_with('/')) {
      diag_.error(root.mark, root.path,
                  "must not start with '/' (write " + quote(d.default_root_object.substr(1)) + ")");
    } else if (has_control_char(d.default_root_object)) {
      diag_.error(root.mark, root.path, "must not contain control characters");
    }
  }

  Field via = r.get("via_host");
  if (via.present) {
    if (read_nonempty_string(diag_, via, d.via_host)) {
      d.via_host = core::to_lower(d.via_host);
      if (!is_hostname(d.via_host)) {
        diag_.error(via.mark, via.path, "must be a host name, got " + quote(d.via_host));
      }
    }
  } else {
    d.via_host = default_via_host(d.id);
  }

  Field origins = r.require("origins");
  std::vector<Field> origin_items = list_items(diag_, origins);
  if (origins.present && origin_items.empty()) {
    diag_.error(origins.mark, origins.path, "must list at least one origin");
  }
  for (const Field& item : origin_items) {
    Origin o;
    Field id_field = read_origin(item, o);
    for (const Origin& other : d.origins) {
      if (!o.id.empty() && other.id == o.id) {
        diag_.error(id_field.mark, id_field.path,
                    "duplicate origin id " + quote(o.id) + " (first defined at line " +
                        std::to_string(other.loc.line) + ")");
      }
    }
    d.origins.push_back(std::move(o));
  }

  read_behavior(r.require("default_cache_behavior"), true, d, d.default_cache_behavior);
  Field behaviors = r.get("cache_behaviors");
  for (const Field& item : list_items(diag_, behaviors)) {
    CacheBehavior b;
    read_behavior(item, false, d, b);
    for (size_t j = 0; j < d.cache_behaviors.size(); ++j) {
      if (!b.path_pattern.empty() && normalized_pattern(d.cache_behaviors[j].path_pattern) ==
                                         normalized_pattern(b.path_pattern)) {
        diag_.error(item.mark, child_path(item.path, "path_pattern"),
                    "duplicate path_pattern " + quote(b.path_pattern) + " (same as " +
                        index_path(behaviors.path, j) + ")");
      }
    }
    d.cache_behaviors.push_back(std::move(b));
  }
  read_custom_error_responses(r.get("custom_error_responses"), d);
  model_.distributions.push_back(std::move(d));
}

void DistributionReader::read_listener_refs(const Field& f, Distribution& d) {
  std::vector<Field> items = list_items(diag_, f);
  if (f.present && items.empty() && !diag_.failed()) {
    diag_.error(f.mark, f.path,
                "must name at least one listener (leave the key out to use every listener)");
  }
  for (const Field& item : items) {
    std::string name;
    if (!read_nonempty_string(diag_, item, name)) continue;
    if (model_.find_listener(name) == nullptr) {
      std::vector<std::string> names;
      for (const Listener& l : model_.listeners) names.push_back(l.name);
      diag_.error(item.mark, item.path,
                  "unknown listener " + quote(name) + " (listeners: " + join_ids(names) + ")");
    } else if (std::find(d.listeners.begin(), d.listeners.end(), name) != d.listeners.end()) {
      diag_.error(item.mark, item.path, "listener " + quote(name) + " is listed twice");
    }
    d.listeners.push_back(std::move(name));
  }
}

void DistributionReader::read_aliases(const Field& f, size_t index, Distribution& d) {
  for (const Field& item : list_items(diag_, f)) {
    std::string alias;
    if (!read_nonempty_string(diag_, item, alias)) continue;
    alias = core::to_lower(alias);
    if (!is_alias(alias)) {
      diag_.error(item.mark, item.path,
                  "invalid alias " + quote(alias) +
                      ": expected a host name or '*.' followed by a host name");
      continue;
    }
    if (std::find(d.aliases.begin(), d.aliases.end(), alias) != d.aliases.end()) {
      diag_.error(item.mark, item.path, "alias " + quote(alias) + " is listed twice");
    }
    aliases_.push_back(AliasUse{alias, item.mark, item.path, index});
    d.aliases.push_back(std::move(alias));
  }
}

Field DistributionReader::read_origin(const Field& f, Origin& o) {
  MapReader r(
      diag_, f,
      {"id", "custom_origin", "directory_origin", "s3_origin", "load_balancer", "custom_headers"});
  o.loc = diag_.loc(f.mark);
  Field id = r.require("id");
  read_nonempty_string(diag_, id, o.id);
  Field custom = r.get("custom_origin");
  Field directory = r.get("directory_origin");
  Field s3 = r.get("s3_origin");
  Field lb = r.get("load_balancer");
  int kinds = int{custom.present} + int{directory.present} + int{s3.present} + int{lb.present};
  if (kinds != 1) {
    diag_.error(f.mark, f.path,
                kinds == 0 ? "needs exactly one of custom_origin, directory_origin, s3_origin or "
                             "load_balancer"
                           : "has more than one of custom_origin, directory_origin, s3_origin and "
                             "load_balancer; pick one");
  } else if (custom.present) {
    o.kind = OriginKind::Custom;
    read_custom_origin(custom, o.custom);
  } else if (directory.present) {
    o.kind = OriginKind::Directory;
    read_directory_origin(directory, o.directory);
  } else if (s3.present) {
    o.kind = OriginKind::S3;
    read_s3_origin(s3, o.s3);
  } else {
    o.kind = OriginKind::LoadBalancer;
    read_load_balancer_origin(lb, o.load_balancer);
  }
  read_custom_headers(r.get("custom_headers"), o.custom_headers);
  return id;
}

// `load_balancer: NAME` names one of `load_balancers:` (read before distributions).
void DistributionReader::read_load_balancer_origin(const Field& f, LoadBalancerOrigin& lb) {
  if (!read_nonempty_string(diag_, f, lb.name)) return;
  lb.ref = model_.find_load_balancer(lb.name);
  if (lb.ref != nullptr) return;
  std::string known;
  for (const LoadBalancer& l : model_.load_balancers) {
    known += known.empty() ? "" : ", ";
    known += l.name;
  }
  diag_.error(f.mark, f.path,
              "unknown load balancer " + quote(lb.name) +
                  (known.empty() ? " (no load_balancers are defined)"
                                 : " (load_balancers: " + known + ")"));
}

void DistributionReader::read_custom_origin(const Field& f, CustomOrigin& c) {
  MapReader r(diag_, f,
              {"url", "origin_path", "connection_timeout", "connection_attempts",
               "origin_read_timeout", "origin_keepalive_timeout"});
  Field url = r.require("url");
  if (read_nonempty_string(diag_, url, c.url) && url.present) {
    core::Result<OriginUrl> parsed = parse_origin_url(c.url);
    if (parsed.ok()) {
      c.scheme = parsed->scheme;
      c.host = parsed->host;
      c.port = parsed->port;
    } else {
      diag_.error(url.mark, url.path, parsed.error().detail);
    }
  }
  read_origin_path(diag_, r.get("origin_path"), c.origin_path);
  read_duration(diag_, r.get("connection_timeout"), kMinOriginTimeout, kMaxConnectionTimeout,
                c.connection_timeout);
  read_int_as(diag_, r.get("connection_attempts"), 1, 3, c.connection_attempts);
  read_duration(diag_, r.get("origin_read_timeout"), kMinOriginTimeout, kMaxReadTimeout,
                c.origin_read_timeout);
  read_duration(diag_, r.get("origin_keepalive_timeout"), kMinOriginTimeout, kMaxReadTimeout,
                c.origin_keepalive_timeout);
}

void DistributionReader::read_directory_origin(const Field& f, DirectoryOrigin& dir) {
  MapReader r(diag_, f, {"path"});
  Field path = r.require("path");
  std::string text;
  if (!read_nonempty_string(diag_, path, text) || !path.present) return;
  std::filesystem::path p(text);
  if (p.is_relative()) p = std::filesystem::path(base_dir_) / p;
  std::error_code ec;
  std::filesystem::path canonical = std::filesystem::canonical(p, ec);
  if (ec) {
    diag_.error(path.mark, path.path,
                "directory " + quote(text) + " (" + p.lexically_normal().string() +
                    ") does not exist: " + ec.message());
    return;
  }
  if (!std::filesystem::is_directory(canonical, ec)) {
    diag_.error(path.mark, path.path,
                quote(text) + " (" + canonical.string() + ") is not a directory");
    return;
  }
  dir.path = canonical.string();
}

void DistributionReader::read_s3_origin(const Field& f, S3Origin& s3) {
  MapReader r(diag_, f,
              {"bucket", "region", "endpoint", "path_style", "origin_path", "origin_access_control",
               "credentials", "missing_object", "connection_timeout", "connection_attempts",
               "origin_read_timeout", "origin_keepalive_timeout"});
  Field bucket = r.require("bucket");
  if (read_nonempty_string(diag_, bucket, s3.bucket) && bucket.present) {
    std::string problem = s3_bucket_name_problem(s3.bucket);
    if (!problem.empty()) {
      diag_.error(bucket.mark, bucket.path,
                  "invalid bucket name " + quote(s3.bucket) + ": " + problem);
    }
  }
  Field endpoint = r.get("endpoint");
  OriginUrl url;
  if (read_nonempty_string(diag_, endpoint, s3.endpoint) && endpoint.present) {
    core::Result<OriginUrl> parsed = parse_origin_url(s3.endpoint);
    if (parsed.ok()) {
      url = std::move(parsed.value());
    } else {
      diag_.error(endpoint.mark, endpoint.path, parsed.error().detail);
    }
  }
  Field region = r.require("region");
  if (read_nonempty_string(diag_, region, s3.region) && region.present) {
    bool custom_endpoint = !s3.endpoint.empty();
    bool ok =
        is_aws_region(s3.region) || (custom_endpoint && s3.region.size() <= 64 &&
                                     std::all_of(s3.region.begin(), s3.region.end(), [](char c) {
                                       return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                              (c >= '0' && c <= '9') || c == '-' || c == '_';
                                     }));
    if (!ok) {
      diag_.error(region.mark, region.path,
                  custom_endpoint
                      ? "invalid region " + quote(s3.region) +
                            ": expected letters, digits, '-' or '_' (at most 64), e.g. us-east-1"
                      : "invalid region " + quote(s3.region) +
                            ": expected an AWS region code such as us-east-1 or eu-west-3");
    }
  }
  Field path_style = r.get("path_style");
  read_bool(diag_, path_style, s3.path_style);
  read_origin_path(diag_, r.get("origin_path"), s3.origin_path);

  Field oac = r.get("origin_access_control");
  std::string oac_name = "sigv4";
  if (read_string(diag_, oac, oac_name) && oac.present) {
    if (oac_name == "sigv4") {
      s3.origin_access_control = OriginAccessControl::SigV4;
    } else if (oac_name == "none") {
      s3.origin_access_control = OriginAccessControl::None;
    } else {
      diag_.error(oac.mark, oac.path, "must be sigv4 or none, got " + quote(oac_name));
    }
  }
  Field credentials = r.get("credentials");
  read_s3_credentials(credentials, s3.credentials);
  if (credentials.present && s3.origin_access_control == OriginAccessControl::None) {
    diag_.warn(credentials.mark, credentials.path,
               "origin_access_control is none: requests are not signed and these credentials "
               "are not used");
  }
  Field missing = r.get("missing_object");
  if (read_int_as(diag_, missing, 0, 999, s3.missing_object) && missing.present &&
      s3.missing_object != 403 && s3.missing_object != 404) {
    diag_.error(missing.mark, missing.path,
                "must be 403 (the bucket does not let the origin list it) or 404, got " +
                    std::to_string(s3.missing_object));
  }
  read_duration(diag_, r.get("connection_timeout"), kMinOriginTimeout, kMaxConnectionTimeout,
                s3.connection_timeout);
  read_int_as(diag_, r.get("connection_attempts"), 1, 3, s3.connection_attempts);
  read_duration(diag_, r.get("origin_read_timeout"), kMinOriginTimeout, kMaxReadTimeout,
                s3.origin_read_timeout);
  read_duration(diag_, r.get("origin_keepalive_timeout"), kMinOriginTimeout, kMaxReadTimeout,
                s3.origin_keepalive_timeout);
  if (diag_.failed()) return;

  // Where requests go. AWS: the regional endpoint, virtual-hosted style unless path_style. Any
  // other endpoint: that host; path style by default for an IP address or localhost (no name
  // to put the bucket in front of), virtual-hosted for a host name.
  const std::string_view suffix = aws_dns_suffix(s3.region);
  if (s3.endpoint.empty()) {
    std::string regional = "s3." + s3.region + "." + std::string(suffix);
    s3.host = s3.path_style ? regional : s3.bucket + "." + regional;
    s3.port = 80;
    s3.host_header = s3.host;
    diag_.warn(f.mark, f.path,
               "Portico has no upstream TLS yet (issue #6): requests to " + s3.host +
                   " go over plain http:// on port 80; signed requests cannot be forged, but "
                   "objects and headers travel unencrypted");
  } else {
    bool numeric = is_ip_address(url.host) || url.host == "localhost";
    if (!path_style.present) s3.path_style = numeric;
    if (!s3.path_style && numeric) {
      diag_.error(path_style.mark, path_style.path,
                  "virtual-hosted style needs an endpoint host name to put the bucket in front "
                  "of; " +
                      quote(url.host) + " is an address (use path_style: true)");
      return;
    }
    s3.host = url.host;
    s3.port = url.port;
    std::string authority =
        url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    if (url.port != 80) authority += ":" + std::to_string(url.port);
    s3.host_header = s3.path_style ? authority : s3.bucket + "." + authority;
    if (!is_loopback_host(url.host)) {
      diag_.warn(endpoint.mark, endpoint.path,
                 "Portico has no upstream TLS yet (issue #6): requests to this endpoint go over "
                 "plain http://; objects and headers travel unencrypted");
    }
  }
  s3.path_prefix = (s3.path_style ? "/" + s3.bucket : std::string()) + s3.origin_path;
}

void DistributionReader::read_s3_credentials(const Field& f, S3CredentialsConfig& c) {
  if (!f.present) return;
  MapReader r(diag_, f, {"access_key_id_env", "secret_access_key_env", "session_token_env"});
  struct Name {
    const char* key;
    bool required;
    std::string* out;
  };
  for (const Name& n : {Name{"access_key_id_env", true, &c.access_key_id_env},
                        Name{"secret_access_key_env", true, &c.secret_access_key_env},
                        Name{"session_token_env", false, &c.session_token_env}}) {
    Field v = n.required ? r.require(n.key) : r.get(n.key);
    if (read_nonempty_string(diag_, v, *n.out) && v.present && !is_env_name(*n.out)) {
      diag_.error(v.mark, v.path,
                  "must name an environment variable ([A-Za-z_][A-Za-z0-9_]*), got " +
                      quote(*n.out) + " (the value itself never goes in the config file)");
    }
  }
}

void DistributionReader::read_custom_headers(const Field& f, std::vector<OriginCustomHeader>& out) {
  for (const Field& item : list_items(diag_, f)) {
    MapReader r(diag_, item, {"header_name", "header_value"});
    OriginCustomHeader h;
    Field name = r.require("header_name");
    if (read_nonempty_string(diag_, name, h.header_name) && name.present &&
        !is_token(h.header_name)) {
      diag_.error(name.mark, name.path, "invalid header name " + quote(h.header_name));
    }
    Field value = r.require("header_value");
    if (read_string(diag_, value, h.header_value) &&
        h.header_value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      diag_.error(value.mark, value.path, "must not contain line breaks or NUL characters");
    }
    for (const OriginCustomHeader& other : out) {
      if (!h.header_name.empty() && core::iequals(other.header_name, h.header_name)) {
        diag_.error(name.mark, name.path, "duplicate header " + quote(h.header_name));
      }
    }
    out.push_back(std::move(h));
  }
}

void DistributionReader::read_behavior(const Field& f, bool is_default, const Distribution& d,
                                       CacheBehavior& b) {
  MapReader r(
      diag_, f,
      {"path_pattern", "target_origin_id", "viewer_protocol_policy", "allowed_methods",
       "cached_methods", "compress", "cache_policy", "origin_request_policy", "stale_if_error"});
  if (!f.present) return;
  b.loc = diag_.loc(f.mark);
  Field pattern = is_default ? r.get("path_pattern") : r.require("path_pattern");
  if (is_default && pattern.present) {
    diag_.error(pattern.mark, pattern.path,
                "the default cache behavior has no path_pattern (it matches every request)");
  } else if (read_nonempty_string(diag_, pattern, b.path_pattern) && pattern.present) {
    if (b.path_pattern.size() > kMaxPathPatternLength) {
      diag_.error(pattern.mark, pattern.path, "must be at most 255 characters");
    } else if (!valid_pattern_chars(b.path_pattern)) {
      diag_.error(pattern.mark, pattern.path,
                  "invalid path_pattern " + quote(b.path_pattern) +
                      ": allowed are A-Z a-z 0-9 _ - . $ / ~ \" ' @ : + & and the wildcards * ?");
    }
  }

  Field target = r.require("target_origin_id");
  if (read_nonempty_string(diag_, target, b.target_origin_id) && target.present) {
    bool found = std::any_of(d.origins.begin(), d.origins.end(),
                             [&](const Origin& o) { return o.id == b.target_origin_id; });
    if (!found) {
      std::vector<std::string> ids;
      for (const Origin& o : d.origins) ids.push_back(o.id);
      diag_.error(target.mark, target.path,
                  "unknown origin " + quote(b.target_origin_id) + " (origins of distribution " +
                      quote(d.id) + ": " + join_ids(ids) + ")");
    }
  }

  Field policy = r.get("viewer_protocol_policy");
  std::string policy_name = "allow-all";
  if (read_string(diag_, policy, policy_name) && policy.present) {
    if (policy_name == "allow-all") {
      b.viewer_protocol_policy = ViewerProtocolPolicy::AllowAll;
    } else if (policy_name == "redirect-to-https" || policy_name == "https-only") {
      b.viewer_protocol_policy = policy_name == "https-only"
                                     ? ViewerProtocolPolicy::HttpsOnly
                                     : ViewerProtocolPolicy::RedirectToHttps;
    } else {
      diag_.error(policy.mark, policy.path,
                  "must be allow-all, redirect-to-https or https-only, got " + quote(policy_name));
    }
  }

  b.allowed_methods = kGetHead;
  Field allowed = r.get("allowed_methods");
  if (allowed.present && read_methods(diag_, allowed, b.allowed_methods) &&
      b.allowed_methods != kGetHead && b.allowed_methods != kGetHeadOptions &&
      b.allowed_methods != kAllMethods) {
    diag_.error(allowed.mark, allowed.path,
                "must be one of CloudFront's sets [GET, HEAD], [GET, HEAD, OPTIONS] or "
                "[GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]");
  }
  b.cached_methods = kGetHead;
  Field cached = r.get("cached_methods");
  if (cached.present && read_methods(diag_, cached, b.cached_methods)) {
    if (b.cached_methods != kGetHead && b.cached_methods != kGetHeadOptions) {
      diag_.error(cached.mark, cached.path,
                  "must be one of CloudFront's sets [GET, HEAD] or [GET, HEAD, OPTIONS]");
    } else if ((b.cached_methods & ~b.allowed_methods) != 0) {
      diag_.error(cached.mark, cached.path, "must be a subset of allowed_methods");
    }
  }
  Field compress = r.get("compress");
  read_bool(diag_, compress, b.compress);
  Field cache_policy = r.get("cache_policy");
  Field origin_request_policy = r.get("origin_request_policy");
  if (read_string(diag_, cache_policy, b.cache_policy) &&
      read_string(diag_, origin_request_policy, b.origin_request_policy)) {
    resolve_behavior_policies(diag_, model_, cache_policy, origin_request_policy, compress, b);
  }
  Field stale = r.get("stale_if_error");
  int64_t stale_s = 0;
  if (read_int(diag_, stale, 0, kMaxStaleIfError, stale_s) && stale.present) {
    b.stale_if_error = stale_s;
    if (b.cache_policy_ref == nullptr || b.cache_policy_ref->caching_disabled()) {
      diag_.warn(stale.mark, stale.path,
                 "stale_if_error has no effect: the behavior caches nothing (" +
                     std::string(b.cache_policy_ref == nullptr
                                     ? "no cache_policy"
                                     : "cache policy " + quote(b.cache_policy_ref->name) +
                                           " disables caching") +
                     ")");
    }
  }
  check_options_key(cached, b);
}

// Developer Guide, "Configuring CloudFront to respect CORS settings": to cache OPTIONS responses,
// Origin, Access-Control-Request-Headers and Access-Control-Request-Method must reach the origin
// and, with cache policies, be in the cache key (an origin request policy forwards without
// keying), or one viewer's preflight answer is served to viewers from other origins.
void DistributionReader::check_options_key(const Field& cached, const CacheBehavior& b) {
  const CachePolicy* p = b.cache_policy_ref;
  if ((b.cached_methods & method_bit(Method::Options)) == 0 || p == nullptr ||
      p->caching_disabled()) {
    return;
  }
  std::vector<std::string> missing;
  for (const char* name :
       {"origin", "access-control-request-method", "access-control-request-headers"}) {
    const std::vector<std::string>& keyed = p->headers.items;
    if (p->headers.behavior != ItemBehavior::Whitelist ||
        std::find(keyed.begin(), keyed.end(), name) == keyed.end()) {
      missing.emplace_back(name);
    }
  }
  if (missing.empty()) return;
  std::string list;
  for (const std::string& m : missing) list += (list.empty() ? "" : ", ") + m;
  diag_.warn(cached.mark, cached.path,
             "OPTIONS responses are cached but cache policy " + quote(p->name) +
                 " does not key on " + list +
                 ": CORS preflight answers are then shared across viewers unless the origin "
                 "sends Vary for them");
}

void DistributionReader::read_custom_error_responses(const Field& f, Distribution& d) {
  for (const Field& item : list_items(diag_, f)) {
    MapReader r(diag_, item,
                {"error_code", "response_page_path", "response_code", "error_caching_min_ttl"});
    CustomErrorResponse e;
    e.loc = diag_.loc(item.mark);
    Field code = r.require("error_code");
    if (read_int_as(diag_, code, 0, 999, e.error_code) && code.present &&
        !contains(kErrorCodes, e.error_code)) {
      diag_.error(code.mark, code.path,
                  "CloudFront customizes only " + list_codes(kErrorCodes) + ", got " +
                      std::to_string(e.error_code));
    }
    Field page = r.get("response_page_path");
    if (read_nonempty_string(diag_, page, e.response_page_path) && page.present) {
      const std::string& p = e.response_page_path;
      if (!p.starts_with('/')) {
        diag_.error(page.mark, page.path, "must start with '/', got " + quote(p));
      } else if (has_control_char(p) || p.find(' ') != std::string::npos) {
        diag_.error(page.mark, page.path, "must not contain spaces or control characters");
      }
    }
    Field response = r.get("response_code");
    if (read_int_as(diag_, response, 0, 999, e.response_code) && response.present &&
        !contains(kResponseCodes, e.response_code)) {
      diag_.error(
          response.mark, response.path,
          "must be " + list_codes(kResponseCodes) + ", got " + std::to_string(e.response_code));
    }
    // CustomErrorResponse: ResponsePagePath and ResponseCode go together.
    if (page.present && !response.present) {
      diag_.error(page.mark, page.path, "needs response_code too (the status sent with the page)");
    } else if (response.present && !page.present) {
      diag_.error(response.mark, response.path,
                  "needs response_page_path too (CloudFront replaces the status only together "
                  "with the body)");
    }
    Field ttl = r.get("error_caching_min_ttl");
    read_int(diag_, ttl, 0, kMaxErrorCachingMinTtl, e.error_caching_min_ttl);
    if (ttl.present && e.error_code == 416) {
      diag_.warn(ttl.mark, ttl.path,
                 "CloudFront never caches 416 responses, so error_caching_min_ttl has no effect");
    }
    for (const CustomErrorResponse& other : d.custom_error_responses) {
      if (e.error_code != 0 && other.error_code == e.error_code) {
        diag_.error(code.mark, code.path,
                    "duplicate error_code " + std::to_string(e.error_code) +
                        " (first defined at line " + std::to_string(other.loc.line) + ")");
      }
    }
    d.custom_error_responses.push_back(std::move(e));
  }
}

bool DistributionReader::shares_listener(const Distribution& a, const Distribution& b) const {
  if (a.listeners.empty() || b.listeners.empty()) return true;
  return std::any_of(a.listeners.begin(), a.listeners.end(), [&](const std::string& name) {
    return std::find(b.listeners.begin(), b.listeners.end(), name) != b.listeners.end();
  });
}

void DistributionReader::check_alias_conflicts() {
  const std::vector<Distribution>& ds = model_.distributions;
  for (size_t i = 0; i < aliases_.size(); ++i) {
    const AliasUse& later = aliases_[i];
    for (size_t j = 0; j < i; ++j) {
      const AliasUse& earlier = aliases_[j];
      if (earlier.distribution == later.distribution || earlier.alias != later.alias) continue;
      if (!shares_listener(ds[earlier.distribution], ds[later.distribution])) continue;
      diag_.error(later.mark, later.path,
                  "alias " + quote(later.alias) + " is already used by distribution " +
                      quote(ds[earlier.distribution].id) + " (" + earlier.path +
                      ") on a shared listener");
      return;
    }
  }
}

}  // namespace

void read_distributions(Diagnostics& diag, const Field& f, const std::string& base_dir,
                        Model& model) {
  DistributionReader(diag, base_dir, model).read_all(f);
}

}  // namespace portico::config::detail
