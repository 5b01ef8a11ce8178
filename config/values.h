// Parsers and checks for the scalar values a config file holds: listen addresses, origin URLs,
// host names, durations and sizes (the last two are public through config/loader.h). Pure
// functions with no yaml-cpp types, so they are unit-testable on their own; any thread.
// Internal to config/: other modules read the validated config::Model instead.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "core/result.h"

namespace portico::config::detail {

struct HostPort {
  std::string host;  // IPv4 dotted quad, IPv6 without brackets, or "localhost"
  uint16_t port = 0;
};

// "127.0.0.1:8080", "[::1]:8080", "localhost:0". The port is required; 0 means ephemeral.
core::Result<HostPort> parse_listen_address(std::string_view text);

// A server to connect to: "host:port" with a host name, an IPv4 address or "[IPv6]"; port
// 1-65535, required.
core::Result<HostPort> parse_node_address(std::string_view text);

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(std::string_view host);

struct OriginUrl {
  std::string scheme;  // "http"
  std::string host;    // name or IPv4 as written; IPv6 without brackets
  uint16_t port = 80;
};

// "http://host[:port]" with an optional lone trailing '/'. No user info, path, query or fragment.
core::Result<OriginUrl> parse_origin_url(std::string_view url);

// True for a numeric IPv4 or IPv6 address (IPv6 without brackets).
bool is_ip_address(std::string_view host);

// Why `name` is not a valid S3 general purpose bucket name, or "" when it is (S3 User Guide,
// "General purpose bucket naming rules"): 3-63 characters of a-z 0-9 . -, starting and ending
// with a letter or digit, no "..", not an IPv4 address, none of the reserved prefixes (xn--,
// sthree-, amzn-s3-demo-) or suffixes (-s3alias, --ol-s3, .mrap, --x-s3, --table-s3).
std::string s3_bucket_name_problem(std::string_view name);

// An AWS region code: lowercase words joined by '-' and ending in a number ("us-east-1",
// "ap-southeast-2", "us-gov-west-1", "cn-north-1").
bool is_aws_region(std::string_view region);

// The DNS suffix of AWS's S3 endpoints in `region`: "amazonaws.com.cn" for cn-* regions, else
// "amazonaws.com".
std::string_view aws_dns_suffix(std::string_view region);

// RFC 1123 host name: dot-separated labels of [A-Za-z0-9-], 1-63 characters, not starting or
// ending with '-', at most 253 characters in all.
bool is_hostname(std::string_view name);

// An alias: a host name, or "*." followed by a host name (the wildcard is the whole first label).
bool is_alias(std::string_view name);

// RFC 9110 token characters, as header field names need.
bool is_token(std::string_view s);

// Formats a duration the way parse_duration reads it back: "250ms", "10s", "5m", "1h".
std::string format_duration(Duration d);

// `s` for an error message: control and non-ASCII bytes as \xNN, cut to 60 characters (+ "...").
std::string printable(std::string_view s);
// printable(s) in single quotes.
std::string quote(std::string_view s);

// FNV-1a 64-bit hash; stable across builds and platforms (used for default via_host names).
uint64_t fnv1a64(std::string_view s);

// The default via_host for a distribution id: 16 lowercase hex digits + ".cloudfront.net".
std::string default_via_host(std::string_view distribution_id);

// Levenshtein distance, capped: returns limit + 1 as soon as the distance exceeds `limit`.
size_t edit_distance(std::string_view a, std::string_view b, size_t limit);

// The candidate closest to `word` within edit distance 2, or "" when none is that close.
std::string closest_match(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace portico::config::detail
