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

enum class ViewerProtocolPolicy : uint8_t { AllowAll, RedirectToHttps, HttpsOnly };

struct CacheBehavior {
  std::string path_pattern;  // "" for the default behavior
  std::string target_origin_id;
  ViewerProtocolPolicy viewer_protocol_policy = ViewerProtocolPolicy::AllowAll;
  // Bit set of core::method_bit(core::Method); CloudFront's default is GET, HEAD.
  uint32_t allowed_methods = 0;
  uint32_t cached_methods = 0;  // default GET, HEAD
  bool compress = false;
  std::string cache_policy;           // name; used by the cache issue
  std::string origin_request_policy;  // name; used by the cache issue
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
  Admin admin;
  AccessLog access_log;
  std::vector<std::string> warnings;  // non-fatal findings, printed at startup

  const Listener* find_listener(std::string_view name) const {
    for (const Listener& l : listeners) {
      if (l.name == name) return &l;
    }
    return nullptr;
  }
};

}  // namespace portico::config
