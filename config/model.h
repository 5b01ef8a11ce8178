// config::Model: the validated, immutable configuration a running Portico works from. Built by
// config::load_file / load_string (config/loader.h) from YAML whose names mirror AWS's CloudFront
// and ELBv2 APIs in snake_case. Workers share one snapshot through shared_ptr<const Model>; a
// reload builds a new one. Plain data: no I/O, no yaml-cpp types here.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
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

// What an HTTPS listener does with a ClientHello whose server name no certificate covers.
enum class UnknownSni : uint8_t { DefaultCertificate, Reject };

struct Listener {
  std::string name;
  std::string host;   // numeric IPv4/IPv6 address or "localhost"
  uint16_t port = 0;  // 0 = ephemeral (the bound port is logged at startup)
  ListenerProtocol protocol = ListenerProtocol::Http;
  // HTTPS only (config/certificate_reader.cc; empty / defaults for HTTP):
  std::vector<std::string> certificates;  // names in Model::certificates; the first is the default
  std::string ssl_policy;                 // a name from config/ssl_policy.h
  bool http2 = true;                      // ALPN offers h2 before http/1.1
  UnknownSni unknown_sni = UnknownSni::DefaultCertificate;
  SourceLoc loc;
};

// ACM's certificate types: issued here by the local CA (AMAZON_ISSUED) or imported from PEM files.
enum class CertificateType : uint8_t { Issued, Imported };

// ACM's KeyAlgorithm names: EC_prime256v1, EC_secp384r1, RSA_2048.
enum class KeyAlgorithm : uint8_t { EcPrime256v1, EcSecp384r1, Rsa2048 };

// One entry of `certificates:` (config/certificate_reader.cc). Defaults are ACM's: 395-day (13
// month) validity, managed renewal from 60 days before expiry.
struct Certificate {
  std::string name;  // 1-128 of A-Z a-z 0-9 . _ -, not starting with '.' or '-'
  CertificateType type = CertificateType::Issued;
  // Issued:
  std::vector<std::string> domains;  // lower-cased host names or "*." wildcards; first = CN
  std::string issuer = "local-ca";
  int validity_days = 395;
  int renew_before_days = 60;
  KeyAlgorithm key_algorithm = KeyAlgorithm::EcPrime256v1;
  // Imported: absolute paths (relative ones resolved against the config file's folder).
  std::string certificate_file;
  std::string certificate_chain_file;  // "" = none
  std::string private_key_file;
  SourceLoc loc;
  std::string key_path;  // "certificates[N]", for messages naming this entry
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

// s3_origin: a bucket of AWS S3 or of any S3-compatible server, fetched with GET/HEAD and signed
// with SigV4 as CloudFront's Origin Access Control does. The loader resolves where requests go
// (host, port, Host header, path prefix); credentials are only named here (environment variable
// names) and read when the proxy builds its snapshot, never by config/. Timeout defaults are
// CloudFront's, as for custom_origin.
enum class OriginAccessControl : uint8_t { SigV4, None };

// Environment variable names for the origin's key pair; all empty = the AWS SDK default chain
// (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, then ~/.aws/credentials).
struct S3CredentialsConfig {
  std::string access_key_id_env;
  std::string secret_access_key_env;
  std::string session_token_env;  // optional
};

struct S3Origin {
  std::string bucket;
  std::string region;
  std::string endpoint;  // as written; "" = AWS's regional endpoint
  bool path_style = false;
  // Resolved by the loader from the fields above:
  std::string host;         // connected to: endpoint host, or [BUCKET.]s3.REGION.amazonaws.com
  uint16_t port = 80;       // no upstream TLS yet (issue #6): AWS's endpoint is reached on port 80
  std::string host_header;  // Host sent: host (":port" when not 80), "BUCKET." prefixed when
                            // virtual-hosted on a custom endpoint
  std::string path_prefix;  // "/BUCKET" when path style (then origin_path), else origin_path
  std::string origin_path;  // "" or "/prefix" without a trailing slash
  OriginAccessControl origin_access_control = OriginAccessControl::SigV4;
  S3CredentialsConfig credentials;
  int missing_object = 403;  // 403 (no s3:ListBucket, as with OAC) or 404: status of a missing key
  Duration connection_timeout{10'000};
  int connection_attempts = 3;
  Duration origin_read_timeout{30'000};
  Duration origin_keepalive_timeout{5'000};
};

struct OriginCustomHeader {
  std::string header_name;
  std::string header_value;
};

struct LoadBalancer;

// load_balancer: NAME: an in-process hop to one of `load_balancers:` (no network round trip to
// the load balancer itself; its targets are reached like a custom origin). Timeouts are ALB's:
// connect 10 s, read = the load balancer's idle timeout (60 s by default).
struct LoadBalancerOrigin {
  std::string name;
  // Resolved by the loader: points into Model::load_balancers (never resized after loading).
  const LoadBalancer* ref = nullptr;
  Duration connection_timeout{10'000};
  Duration read_timeout{60'000};
};

enum class OriginKind : uint8_t { Custom, Directory, S3, LoadBalancer };

struct Origin {
  std::string id;
  OriginKind kind = OriginKind::Custom;
  CustomOrigin custom;               // when kind == Custom
  DirectoryOrigin directory;         // when kind == Directory
  S3Origin s3;                       // when kind == S3
  LoadBalancerOrigin load_balancer;  // when kind == LoadBalancer
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
  // Portico extension: serve a stale copy for this long (seconds) past expiry when the origin
  // fails or answers 5xx, or longer when the origin's stale-if-error says so. Written as 0: only
  // what the origin allows. Not written (has_stale_if_error false): CloudFront's default applies
  // (cache/stale_on_error.h). A behavior's own stale_if_error overrides both.
  int64_t stale_if_error = 0;
  bool has_stale_if_error = false;
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

// One Redis node of `cache.redis` (`address:` or an entry of `cluster:`).
struct RedisAddress {
  std::string host;  // IPv4, IPv6 (without brackets) or a DNS name (resolved at each connect)
  uint16_t port = 6379;
};

// `cache.redis`: the shared tier under every edge's memory store (docs/config.md, "cache.redis").
struct CacheRedis {
  bool enabled = false;  // the block is present
  bool cluster = false;  // `cluster:` (Redis Cluster, slots from CLUSTER SLOTS), not `address:`
  std::vector<RedisAddress> addresses;  // the one server, or the cluster's seed nodes
  std::string password_env;             // variable holding AUTH's password; "" = no AUTH
  int db = 0;                           // SELECT; standalone only
  Duration timeout{5};                  // per-request budget for Redis, then the origin
  Duration connect_timeout{1000};
  uint64_t max_object_size = 8ull << 20;  // larger objects stay in local memory only
  std::string key_prefix = "portico:";
  bool fleet_lock = false;        // one origin fetch per key across the fleet (a Redis lock)
  Duration lock_timeout{10'000};  // lock expiry, and how long other edges wait on it
  SourceLoc loc;
};

// The `cache:` block: the process-wide store.
struct Cache {
  uint64_t memory_size = 256ull << 20;     // bytes of bodies + heads held in memory
  uint64_t max_object_size = 64ull << 20;  // larger responses pass through uncached
  CacheRedis redis;
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
  // Portico extension: the cache policy's stale_if_error for this behavior only (seconds);
  // nullopt = the policy's.
  std::optional<int64_t> stale_if_error;
  SourceLoc loc;

  // The stale-if-error window the operator configured: this behavior's, else its cache policy's
  // when written there; nullopt when neither writes one (CloudFront's default applies).
  std::optional<int64_t> configured_stale_if_error() const {
    if (stale_if_error) return stale_if_error;
    if (cache_policy_ref != nullptr && cache_policy_ref->has_stale_if_error) {
      return cache_policy_ref->stale_if_error;
    }
    return std::nullopt;
  }
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

// ---- ELBv2: target groups and load balancers (Application Load Balancer) ----
// Names, defaults and ranges are ELBv2's (API reference CreateTargetGroup, TargetGroupAttribute,
// CreateRule, RuleCondition; ALB User Guide "Health checks for your target groups", "Listener
// rules", "Quotas"); config/load_balancer_reader.cc cites each one.

// One closed range of HTTP status codes a health check accepts (ELBv2 Matcher.HttpCode).
struct HttpCodeRange {
  int first = 200;
  int last = 200;
};

// ELBv2 health check settings of a target group (CreateTargetGroup HealthCheck*). Defaults are
// ALB's for `ip` targets (ALB User Guide, "Health checks for your target groups"): HTTP on the
// traffic port, path /, interval 30 s, timeout 5 s, healthy threshold 5, unhealthy threshold 2,
// matcher 200.
struct HealthCheck {
  bool enabled = true;                                 // HealthCheckEnabled
  ListenerProtocol protocol = ListenerProtocol::Http;  // HealthCheckProtocol
  std::string path = "/";                              // HealthCheckPath
  uint16_t port = 0;                                   // HealthCheckPort; 0 = "traffic-port"
  Duration interval{30'000};                           // HealthCheckIntervalSeconds
  Duration timeout{5'000};                             // HealthCheckTimeoutSeconds
  int healthy_threshold = 5;                           // HealthyThresholdCount
  int unhealthy_threshold = 2;                         // UnhealthyThresholdCount
  std::string matcher = "200";                         // Matcher.HttpCode as written
  std::vector<HttpCodeRange> matcher_codes{HttpCodeRange{200, 200}};  // parsed `matcher`

  // True when `status` is one of matcher_codes.
  bool matches(int status) const {
    for (const HttpCodeRange& r : matcher_codes) {
      if (status >= r.first && status <= r.last) return true;
    }
    return false;
  }
};

// load_balancing.algorithm.type
enum class LoadBalancingAlgorithm : uint8_t {
  RoundRobin,
  LeastOutstandingRequests,
  WeightedRandom
};

// stickiness.type
enum class StickinessType : uint8_t { LbCookie, AppCookie };

// stickiness.* target group attributes.
struct TargetGroupStickiness {
  bool enabled = false;
  StickinessType type = StickinessType::LbCookie;
  Duration duration{86'400'000};  // stickiness.{lb,app}_cookie.duration_seconds
  std::string cookie_name;        // stickiness.app_cookie.cookie_name (app_cookie only)
};

// ELBv2 TargetDescription: an `ip` target.
struct TargetDescription {
  std::string id;     // IPv4 or IPv6 address (without brackets), in canonical text form
  uint16_t port = 0;  // resolved by the loader: the target group's port when not given
  SourceLoc loc;
};

// Attribute defaults are ELBv2's (TargetGroupAttribute): round_robin, stickiness off (lb_cookie,
// 86400 s), slow start 0 (off), deregistration delay 300 s.
struct TargetGroup {
  std::string name;
  ListenerProtocol protocol = ListenerProtocol::Http;  // only HTTP for now
  uint16_t port = 80;                                  // default port of targets
  std::vector<TargetDescription> targets;              // registered at startup
  HealthCheck health_check;
  LoadBalancingAlgorithm load_balancing_algorithm = LoadBalancingAlgorithm::RoundRobin;
  TargetGroupStickiness stickiness;
  Duration slow_start{0};                  // slow_start.duration_seconds; 0 = off
  Duration deregistration_delay{300'000};  // deregistration_delay.timeout_seconds
  SourceLoc loc;
};

// http-header condition: one header name, values ORed.
struct HttpHeaderCondition {
  std::string name;  // lower-cased
  std::vector<std::string> values;
};

// One query-string match: `key=value`, or `value` under any key when has_key is false. Both may
// hold '*' and '?' wildcards and "\*" / "\?" escapes, as written.
struct QueryStringKeyValue {
  bool has_key = false;
  std::string key;
  std::string value;
};

// A rule's conditions (ANDed); each condition's values are ORed. An empty vector is an absent
// condition. host_header, path_pattern, http_request_method and source_ip appear at most once
// per rule (ALB), so they are flat lists; http_header and query_string may repeat.
struct RuleConditions {
  std::vector<std::string> host_header;  // lower-cased
  std::vector<std::string> path_pattern;
  std::vector<HttpHeaderCondition> http_header;  // one entry per condition
  std::vector<std::string> http_request_method;
  std::vector<std::vector<QueryStringKeyValue>> query_string;  // one entry per condition
  std::vector<std::string> source_ip;                          // CIDRs as written
};

enum class RuleActionType : uint8_t { Forward, Redirect, FixedResponse };

// ELBv2 TargetGroupTuple.
struct TargetGroupTuple {
  std::string name;
  int weight = 1;  // 0-999
  // Resolved by the loader: points into Model::target_groups (never resized after loading).
  const TargetGroup* ref = nullptr;
  SourceLoc loc;
};

// ELBv2 ForwardActionConfig (+ TargetGroupStickinessConfig).
struct ForwardAction {
  std::vector<TargetGroupTuple> target_groups;  // `target_group: x` is one tuple of weight 1
  bool stickiness_enabled = false;
  Duration stickiness_duration{0};  // 1 s - 7 days when enabled
};

// ELBv2 RedirectActionConfig. Components keep ALB's #{...} placeholders as written; absent ones
// default to the placeholder that keeps the request's value.
struct RedirectAction {
  std::string protocol = "#{protocol}";  // HTTP, HTTPS or #{protocol}
  std::string host = "#{host}";
  std::string port = "#{port}";
  std::string path = "/#{path}";
  std::string query = "#{query}";
  int status_code = 301;  // HTTP_301 or HTTP_302
};

// ELBv2 FixedResponseActionConfig.
struct FixedResponseAction {
  int status_code = 200;
  std::string content_type;  // "" = none
  std::string message_body;
};

// A rule's one terminal action (authenticate-* actions are not supported).
struct RuleAction {
  RuleActionType type = RuleActionType::Forward;
  ForwardAction forward;               // when type == Forward
  RedirectAction redirect;             // when type == Redirect
  FixedResponseAction fixed_response;  // when type == FixedResponse
  SourceLoc loc;
};

struct ListenerRule {
  int priority = 0;  // 1-50000, unique within the load balancer
  RuleConditions conditions;
  RuleAction action;
  SourceLoc loc;
};

// routing.http.xff_header_processing.mode
enum class XffHeaderProcessingMode : uint8_t { Append, Preserve, Remove };

// The ELBv2 LoadBalancerAttributes Portico implements (`attributes:`); defaults are ALB's.
struct LoadBalancerAttributes {
  XffHeaderProcessingMode xff_header_processing_mode = XffHeaderProcessingMode::Append;
  bool xff_client_port = false;  // routing.http.xff_client_port.enabled (append mode only)
};

// An Application Load Balancer: its own listeners (optional; a distribution may also reach it
// in-process as an origin), rules and default action.
struct LoadBalancer {
  std::string name;
  std::vector<Listener> listeners;  // names and addresses unique among all listeners
  std::vector<ListenerRule> rules;  // sorted by ascending priority
  RuleAction default_action;        // `default_actions`
  LoadBalancerAttributes attributes;
  SourceLoc loc;
};

struct Model {
  std::string source_file;  // the file loaded ("" for load_string)
  Server server;
  // Where the local CA, issued certificates and API imports live (absolute; default
  // ./var/portico next to the config file). The loader never creates or reads it.
  std::string state_dir;
  std::vector<Certificate> certificates;  // read before listeners, which name them
  std::vector<Listener> listeners;
  std::vector<Distribution> distributions;
  // Declared policies followed by AWS's managed ones (managed = true). Behaviors point into these
  // vectors: the loader fills them before resolving *_ref pointers and never resizes them after,
  // and a Model is moved (never copied) into its shared_ptr.
  std::vector<CachePolicy> cache_policies;
  std::vector<OriginRequestPolicy> origin_request_policies;
  // Target groups first: forward actions point into this vector (filled before load balancers
  // are read and never resized after).
  std::vector<TargetGroup> target_groups;
  std::vector<LoadBalancer> load_balancers;
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
  const TargetGroup* find_target_group(std::string_view name) const {
    for (const TargetGroup& g : target_groups) {
      if (g.name == name) return &g;
    }
    return nullptr;
  }
  // For a distribution origin `load_balancer: NAME`.
  const LoadBalancer* find_load_balancer(std::string_view name) const {
    for (const LoadBalancer& lb : load_balancers) {
      if (lb.name == name) return &lb;
    }
    return nullptr;
  }
  const Certificate* find_certificate(std::string_view name) const {
    for (const Certificate& c : certificates) {
      if (c.name == name) return &c;
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
