// config::Model: the validated, immutable configuration a running Portico works from. Built by
// config::load_file / load_string (config/loader.h) from YAML whose names mirror AWS's CloudFront
// and ELBv2 APIs in snake_case. Workers share one snapshot through shared_ptr<const Model>; a
// reload builds a new one. Plain data: no I/O, no yaml-cpp types here.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace portico::config {

using Duration = std::chrono::milliseconds;

// Where a value came from, for error messages (file:line:column, 1-based).
struct SourceLoc {
  std::string file;
  int line = 0;
  int column = 0;
};

enum class ListenerProtocol : uint8_t { Http, Https };

struct Listener {
  std::string name;
  std::string host;   // numeric IPv4/IPv6 address or "localhost"
  uint16_t port = 0;  // 0 = ephemeral (the bound port is logged at startup)
  ListenerProtocol protocol = ListenerProtocol::Http;
  SourceLoc loc;
};

// custom_origin: HTTP/1.1 to a URL. Defaults are CloudFront's (CreateDistribution
// CustomOriginConfig and Origin: ConnectionTimeout 10 s, ConnectionAttempts 3, OriginReadTimeout 30
// s, OriginKeepaliveTimeout 5 s).
struct CustomOrigin {
  std::string url;     // as written
  std::string scheme;  // "http" (https later)
  std::string host;    // from the URL, as written (name or address)
  uint16_t port = 80;
  std::string origin_path;  // "" or "/prefix" without a trailing slash
  Duration connection_timeout{10'000};
  int connection_attempts = 3;
  Duration origin_read_timeout{30'000};
  Duration origin_keepalive_timeout{5'000};
};

// directory_origin: a local folder (absolute path, resolved against the config file's folder).
struct DirectoryOrigin {
  std::string path;
};

struct OriginCustomHeader {
  std::string header_name;
  std::string header_value;
};

enum class OriginKind : uint8_t { Custom, Directory };

struct Origin {
  std::string id;
  OriginKind kind = OriginKind::Custom;
  CustomOrigin custom;        // when kind == Custom
  DirectoryOrigin directory;  // when kind == Directory
  std::vector<OriginCustomHeader> custom_headers;
  SourceLoc loc;
};

// How a cache key or an origin request treats one kind of request element (CloudFront's
// HeadersConfig / CookiesConfig / QueryStringsConfig behaviors). Cache keys use None, Whitelist,
// AllExcept and All (headers: None and Whitelist only); origin request policies also use
// AllViewer and AllViewerAndWhitelistCloudFront for headers.
enum class ItemBehavior : uint8_t {
  None,
  Whitelist,
  AllExcept,
  All,
  AllViewer,
  AllViewerAndWhitelistCloudFront
};

struct ItemSet {
  ItemBehavior behavior = ItemBehavior::None;
  // Header names lower-cased; cookie and query string names as written (case-sensitive).
  std::vector<std::string> items;
};

// CloudFront's CachePolicy (TTLs in seconds; defaults are CloudFront's: 0 / 86400 / 31536000).
struct CachePolicy {
  std::string name;
  std::string comment;
  bool managed = false;  // one of AWS's Managed-* policies
  int64_t min_ttl = 0;
  int64_t default_ttl = 86'400;
  int64_t max_ttl = 31'536'000;
  ItemSet headers;
  ItemSet cookies;
  ItemSet query_strings;
  bool enable_accept_encoding_gzip = false;
  bool enable_accept_encoding_brotli = false;
  // Portico extension: RFC 9111 §4.2.2 heuristic freshness (10% of Date - Last-Modified) when the
  // origin sends no explicit lifetime, instead of default_ttl. CloudFront never does this.
  bool heuristic_freshness = false;
  // Portico extension: serve a stale copy for this long (seconds) when the origin fails or answers
  // 5xx, even without stale-if-error from the origin. 0 = only what the origin allows.
  int64_t stale_if_error = 0;
  SourceLoc loc;

  // Every TTL 0: CloudFront does not cache (Managed-CachingDisabled).
  bool caching_disabled() const { return max_ttl == 0; }
};

// CloudFront's OriginRequestPolicy: what goes to the origin beyond the cache key.
struct OriginRequestPolicy {
  std::string name;
  std::string comment;
  bool managed = false;
  ItemSet headers;        // None, Whitelist, AllViewer, AllViewerAndWhitelistCloudFront, AllExcept
  ItemSet cookies;        // None, Whitelist, AllExcept, All
  ItemSet query_strings;  // None, Whitelist, AllExcept, All
  SourceLoc loc;
};

// The `cache:` block: the process-wide store.
struct Cache {
  uint64_t memory_size = 256ull << 20;     // bytes of bodies + heads held in memory
  uint64_t max_object_size = 64ull << 20;  // larger responses pass through uncached
  SourceLoc loc;
};

enum class ViewerProtocolPolicy : uint8_t { AllowAll, RedirectToHttps, HttpsOnly };

struct CacheBehavior {
  std::string path_pattern;  // "" for the default behavior
  std::string target_origin_id;
  ViewerProtocolPolicy viewer_protocol_policy = ViewerProtocolPolicy::AllowAll;
  // Bit set of core::method_bit(core::Method); CloudFront's default is GET, HEAD.
  uint32_t allowed_methods = 0;
  uint32_t cached_methods = 0;  // default GET, HEAD
  bool compress = false;
  // Policy names as written. "" = none: Portico then neither caches nor filters what it forwards
  // (every viewer header, cookie and query string goes to the origin), as before policies existed.
  std::string cache_policy;
  std::string origin_request_policy;
  // Resolved by the loader (pointers into Model::cache_policies / origin_request_policies, which
  // hold the managed policies too); null when the name is "".
  const CachePolicy* cache_policy_ref = nullptr;
  const OriginRequestPolicy* origin_request_policy_ref = nullptr;
  SourceLoc loc;
};

// CloudFront's CustomErrorResponse: what to send when the origin answers `error_code`.
struct CustomErrorResponse {
  int error_code = 0;                  // 400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504
  int response_code = 0;               // 0 = keep the origin's code
  std::string response_page_path;      // "" = the origin's own body; else a path starting with '/'
  int64_t error_caching_min_ttl = 10;  // seconds (CloudFront's default)
  SourceLoc loc;
};

struct Distribution {
  std::string id;
  bool enabled = true;
  std::string comment;
  std::vector<std::string> listeners;  // listener names; empty = every listener
  std::vector<std::string> aliases;    // lower-cased; exact names or "*.suffix" wildcards
  std::string default_root_object;     // without a leading slash, "" = none
  std::vector<Origin> origins;
  CacheBehavior default_cache_behavior;
  std::vector<CacheBehavior> cache_behaviors;  // in listed order (= precedence)
  std::vector<CustomErrorResponse> custom_error_responses;
  // Host part of the Via header: "1.1 <via_host> (CloudFront)". Default: a 16-hex-digit name
  // derived from the distribution id, followed by ".cloudfront.net".
  std::string via_host;
  SourceLoc loc;
};

struct Admin {
  std::string host = "127.0.0.1";
  uint16_t port = 9901;
  bool enabled = false;                           // true when an `admin:` block is present
  std::string token_env = "PORTICO_ADMIN_TOKEN";  // bearer token for non-GET requests
  SourceLoc loc;
};

struct AccessLog {
  bool enabled = false;
  std::string path = "-";  // "-" = stdout
};

// Process-wide limits and timeouts (`server:` block). Defaults follow nginx/ALB practice where
// CloudFront documents nothing: ALB's idle timeout is 60 s.
struct Server {
  int workers = 0;               // 0 = one per core; --workers overrides
  int max_connections = 10'000;  // per process, downstream
  Duration client_header_timeout{10'000};
  Duration client_body_timeout{60'000};
  Duration idle_timeout{60'000};      // downstream keep-alive
  Duration shutdown_timeout{30'000};  // SIGTERM drain deadline
  uint32_t max_request_line_bytes = 8'192;
  uint32_t max_header_bytes = 65'536;  // whole request head
  uint32_t max_header_count = 100;
  uint64_t max_body_bytes = 0;    // 0 = unlimited
  std::string pop = "LOCAL1-P1";  // X-Amz-Cf-Pop value
};

struct Model {
  std::string source_file;  // the file loaded ("" for load_string)
  Server server;
  std::vector<Listener> listeners;
  std::vector<Distribution> distributions;
  // Declared policies followed by AWS's managed ones (managed = true). Behaviors point into these
  // vectors: the loader fills them before resolving *_ref pointers and never resizes them after,
  // and a Model is moved (never copied) into its shared_ptr.
  std::vector<CachePolicy> cache_policies;
  std::vector<OriginRequestPolicy> origin_request_policies;
  Cache cache;
  Admin admin;
  AccessLog access_log;
  std::vector<std::string> warnings;  // non-fatal findings, printed at startup

  const CachePolicy* find_cache_policy(std::string_view name) const {
    for (const CachePolicy& p : cache_policies) {
      if (p.name == name) return &p;
    }
    return nullptr;
  }
  const OriginRequestPolicy* find_origin_request_policy(std::string_view name) const {
    for (const OriginRequestPolicy& p : origin_request_policies) {
      if (p.name == name) return &p;
    }
    return nullptr;
  }
  const Listener* find_listener(std::string_view name) const {
    for (const Listener& l : listeners) {
      if (l.name == name) return &l;
    }
    return nullptr;
  }
};

}  // namespace portico::config
