#include "config/load_balancer_reader.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "config/certificate_reader.h"
#include "config/values.h"
#include "core/http.h"

namespace portico::config::detail {
namespace {

// ALB User Guide, "Quotas for your Application Load Balancers": 100 rules per load balancer (not
// counting default rules), 5 condition values and 5 condition wildcards per rule, 5 target groups
// per action, 50 listeners per load balancer, 1000 targets per target group.
constexpr size_t kMaxRules = 100;
constexpr size_t kMaxValuesPerRule = 5;
constexpr size_t kMaxWildcardsPerRule = 5;
constexpr size_t kMaxTargetGroupsPerAction = 5;
constexpr size_t kMaxListeners = 50;
constexpr size_t kMaxTargets = 1000;
// "Condition types for listener rules": up to three match evaluations per condition.
constexpr size_t kMaxValuesPerCondition = 3;
// CreateRule Priority: 1-50000.
constexpr int64_t kMaxPriority = 50'000;
// CreateLoadBalancer / CreateTargetGroup Name: at most 32 characters.
constexpr size_t kMaxNameLength = 32;
// HostHeader/PathPattern/HttpHeader/QueryString condition values: 128 characters; header names
// and request methods: 40.
constexpr size_t kMaxValueLength = 128;
constexpr size_t kMaxShortLength = 40;
// TargetGroupTuple Weight: 0-999.
constexpr int64_t kMaxWeight = 999;
// TargetGroupStickinessConfig DurationSeconds and stickiness.{lb,app}_cookie.duration_seconds:
// 1 second to 7 days.
constexpr Duration kMinStickiness{1'000};
constexpr Duration kMaxStickiness{604'800'000};
// FixedResponseActionConfig MessageBody: at most 1024 characters.
constexpr size_t kMaxMessageBody = 1024;
// HealthCheckPath: at most 1024 characters.
constexpr size_t kMaxHealthCheckPath = 1024;
// "Health checks for your target groups": HealthCheckIntervalSeconds 5-300, HealthCheckTimeout-
// Seconds 2-120, Healthy/UnhealthyThresholdCount 2-10, Matcher codes 200-499.
constexpr Duration kMinInterval{5'000};
constexpr Duration kMaxInterval{300'000};
constexpr Duration kMinTimeout{2'000};
constexpr Duration kMaxTimeout{120'000};
// TargetGroupAttribute: deregistration_delay.timeout_seconds 0-3600; slow_start.duration_seconds
// 30-900, or 0 (off).
constexpr Duration kMaxDeregistrationDelay{3'600'000};
constexpr Duration kMinSlowStart{30'000};
constexpr Duration kMaxSlowStart{900'000};

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
// "Rules apply only to visible ASCII characters; control characters (0x00 to 0x1f and 0x7f) are
// excluded."
bool visible(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// Wildcards in a condition value; "\*" and "\?" (query strings) are literals.
size_t count_wildcards(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '*' || s[i] == '?') {
      ++n;
    }
  }
  return n;
}

// Load balancer and target group names: 1-32 letters, digits and '-', not starting or ending
// with '-'.
void check_name(Diagnostics& diag, const Field& f, const std::string& name, std::string_view noun) {
  bool ok = name.size() <= kMaxNameLength && name.front() != '-' && name.back() != '-' &&
            std::all_of(name.begin(), name.end(), [](char c) { return is_alnum(c) || c == '-'; });
  if (!ok) {
    diag.error(f.mark, f.path,
               "invalid " + std::string(noun) + " name " + quote(name) +
                   ": at most 32 letters, digits and '-', not starting or ending with '-'");
  }
}

// A list of strings; a lone scalar reads as a one-item list. False after reporting.
bool read_strings(Diagnostics& diag, const Field& f, std::vector<std::string>& out,
                  std::vector<Field>* fields = nullptr) {
  std::vector<Field> items = f.node.IsScalar() ? std::vector<Field>{f} : list_items(diag, f);
  if (diag.failed()) return false;
  for (const Field& item : items) {
    std::string s;
    if (!read_nonempty_string(diag, item, s)) return false;
    out.push_back(std::move(s));
    if (fields != nullptr) fields->push_back(item);
  }
  return true;
}

// Parses "a.b.c.d/n" or "v6/n" (the prefix is required); false when invalid.
bool parse_cidr(const std::string& text, bool& host_bits) {
  size_t slash = text.find('/');
  if (slash == std::string::npos || slash + 1 == text.size() || text.size() - slash > 4) {
    return false;
  }
  std::string addr = text.substr(0, slash);
  std::array<unsigned char, 16> bytes{};
  size_t len = 4;
  if (inet_pton(AF_INET, addr.c_str(), bytes.data()) != 1) {
    if (inet_pton(AF_INET6, addr.c_str(), bytes.data()) != 1) return false;
    // An IPv4-mapped base (::ffff:a.b.c.d/n) would mean an IPv4 prefix in disguise; routing
    // compares mapped peers as IPv4, so ask for the IPv4 form instead.
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(std::begin(kMapped), std::end(kMapped), bytes.begin())) return false;
    len = 16;
  }
  int prefix = 0;
  for (size_t i = slash + 1; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    prefix = prefix * 10 + (text[i] - '0');
  }
  if (prefix > static_cast<int>(len * 8)) return false;
  host_bits = false;
  for (size_t bit = static_cast<size_t>(prefix); bit < len * 8; ++bit) {
    if ((bytes[bit / 8] >> (7 - bit % 8)) & 1) host_bits = true;
  }
  return true;
}

// Counts a condition's values and wildcards against ALB's per-condition and per-rule quotas.
struct RuleBudget {
  size_t values = 0;
  size_t wildcards = 0;

  void charge(Diagnostics& diag, const Field& f, size_t n, size_t wildcards_in) {
    if (n == 0) {
      diag.error(f.mark, f.path, "must list at least one value");
    } else if (n > kMaxValuesPerCondition) {
      diag.error(f.mark, f.path,
                 "at most 3 values per condition (ALB), got " + std::to_string(n) +
                     "; split them over rules");
    }
    values += n;
    wildcards += wildcards_in;
    if (values > kMaxValuesPerRule) {
      diag.error(f.mark, f.path,
                 "a rule holds at most 5 condition values in all (ALB quota), this makes " +
                     std::to_string(values));
    } else if (wildcards > kMaxWildcardsPerRule) {
      diag.error(f.mark, f.path,
                 "a rule holds at most 5 wildcards ('*', '?') in all (ALB quota), this makes " +
                     std::to_string(wildcards));
    }
  }
};

void read_host_header(Diagnostics& diag, const Field& f, RuleConditions& c, RuleBudget& budget) {
  std::vector<Field> fields;
  if (!read_strings(diag, f, c.host_header, &fields)) return;
  size_t wildcards = 0;
  for (size_t i = 0; i < c.host_header.size(); ++i) {
    std::string& host = c.host_header[i];
    const Field& item = fields[i];
    // HostHeaderConditionConfig: up to 128 characters of A-Z a-z 0-9 - . * ?, at least one '.',
    // only letters after the final '.'.
    size_t dot = host.rfind('.');
    bool chars = std::all_of(host.begin(), host.end(), [](char ch) {
      return is_alnum(ch) || ch == '-' || ch == '.' || ch == '*' || ch == '?';
    });
    if (host.size() > kMaxValueLength || !chars || dot == std::string::npos ||
        dot + 1 == host.size() || !std::all_of(host.begin() + dot + 1, host.end(), is_alpha)) {
      diag.error(item.mark, item.path,
                 "invalid host name " + quote(host) +
                     ": up to 128 of A-Z a-z 0-9 - . * ?, with at least one '.' and only "
                     "letters after the last '.' (ALB)");
      return;
    }
    host = core::to_lower(host);
    wildcards += count_wildcards(host);
  }
  budget.charge(diag, f, c.host_header.size(), wildcards);
}

void read_path_pattern(Diagnostics& diag, const Field& f, RuleConditions& c, RuleBudget& budget) {
  std::vector<Field> fields;
  if (!read_strings(diag, f, c.path_pattern, &fields)) return;
  size_t wildcards = 0;
  for (size_t i = 0; i < c.path_pattern.size(); ++i) {
    const std::string& p = c.path_pattern[i];
    // PathPatternConditionConfig: up to 128 of A-Z a-z 0-9 _ - . $ / ~ " ' @ : + & * ?.
    bool chars = std::all_of(p.begin(), p.end(), [](char ch) {
      return is_alnum(ch) || std::string_view("_-.$/~\"'@:+&*?").find(ch) != std::string::npos;
    });
    if (p.size() > kMaxValueLength || !chars) {
      diag.error(fields[i].mark, fields[i].path,
                 "invalid path pattern " + quote(p) +
                     ": up to 128 of A-Z a-z 0-9 _ - . $ / ~ \" ' @ : + & * ? (ALB)");
      return;
    }
    wildcards += count_wildcards(p);
  }
  budget.charge(diag, f, c.path_pattern.size(), wildcards);
}

void read_methods(Diagnostics& diag, const Field& f, RuleConditions& c, RuleBudget& budget) {
  std::vector<Field> fields;
  if (!read_strings(diag, f, c.http_request_method, &fields)) return;
  for (size_t i = 0; i < c.http_request_method.size(); ++i) {
    const std::string& m = c.http_request_method[i];
    // HttpRequestMethodConditionConfig: up to 40 of A-Z, '-', '_'; case-sensitive, no wildcards.
    if (m.size() > kMaxShortLength || !std::all_of(m.begin(), m.end(), [](char ch) {
          return (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '_';
        })) {
      diag.error(fields[i].mark, fields[i].path,
                 "invalid method " + quote(m) + ": up to 40 of A-Z, '-' and '_' (e.g. GET)");
      return;
    }
  }
  budget.charge(diag, f, c.http_request_method.size(), 0);
}

void read_source_ip(Diagnostics& diag, const Field& f, RuleConditions& c, RuleBudget& budget) {
  std::vector<Field> fields;
  if (!read_strings(diag, f, c.source_ip, &fields)) return;
  for (size_t i = 0; i < c.source_ip.size(); ++i) {
    bool host_bits = false;
    if (!parse_cidr(c.source_ip[i], host_bits)) {
      diag.error(fields[i].mark, fields[i].path,
                 "invalid CIDR " + quote(c.source_ip[i]) +
                     ": expected an IPv4 or IPv6 address with a prefix length, e.g. "
                     "192.0.2.0/24 or 2001:db8::/32");
      return;
    }
    if (host_bits) {
      diag.warn(fields[i].mark, fields[i].path,
                quote(c.source_ip[i]) + " has bits set after the prefix; they are ignored");
    }
  }
  budget.charge(diag, f, c.source_ip.size(), 0);
}

// http_header: {name, values}; one condition.
void read_http_header(Diagnostics& diag, const Field& f, RuleConditions& c, RuleBudget& budget) {
  MapReader r(diag, f, {"name", "values"});
  HttpHeaderCondition h;
  Field name = r.require("name");
  if (!read_nonempty_string(diag, name, h.name) || !name.present) return;
  // HttpHeaderConditionConfig: a field name of up to 40 characters, no wildcards; the Host
  // header takes a host_header condition instead.
  if (h.name.size() > kMaxShortLength || !is_token(h.name) || h.name.find('*') != h.name.npos) {
    diag.error(name.mark, name.path, "invalid header name " + quote(h.name) + " (up to 40)");
    return;
  }
  h.name = core::to_lower(h.name);
  if (h.name == "host") {
    diag.error(name.mark, name.path, "use a host_header condition for the Host header");
    return;
  }
  Field values = r.require("values");
  std::vector<Field> fields;
  if (!read_strings(diag, values, h.values, &fields)) return;
  size_t wildcards = 0;
  for (size_t i = 0; i < h.values.size(); ++i) {
    if (h.values[i].size() > kMaxValueLength || !visible(h.values[i])) {
      diag.error(fields[i].mark, fields[i].path,
                 "header values are up to 128 visible ASCII characters");
      return;
    }
    wildcards += count_wildcards(h.values[i]);
  }
  budget.charge(diag, values, h.values.size(), wildcards);
  c.http_header.push_back(std::move(h));
}

// query_string: [{key?, value}, ...]; one condition.
void read_query_string(Diagnostics& diag, const Field& f, RuleConditions& c, RuleBudget& budget) {
  std::vector<QueryStringKeyValue> pairs;
  size_t wildcards = 0;
  for (const Field& item : list_items(diag, f)) {
    MapReader r(diag, item, {"key", "value"});
    QueryStringKeyValue kv;
    Field key = r.get("key");
    Field value = r.require("value");
    kv.has_key = key.present;
    if (!read_nonempty_string(diag, key, kv.key) || !read_nonempty_string(diag, value, kv.value)) {
      return;
    }
    for (const Field* g : {&key, &value}) {
      const std::string& s = g == &key ? kv.key : kv.value;
      // QueryStringConditionConfig: each string up to 128 characters.
      if (s.size() > kMaxValueLength || !visible(s) || s.find_first_of(" &") != s.npos) {
        diag.error(g->mark, g->path, "up to 128 visible ASCII characters, without spaces or '&'");
        return;
      }
      wildcards += count_wildcards(s);
    }
    pairs.push_back(std::move(kv));
  }
  if (diag.failed()) return;
  budget.charge(diag, f, pairs.size(), wildcards);
  c.query_string.push_back(std::move(pairs));
}

constexpr std::string_view kConditionKeys[] = {"host_header",         "path_pattern", "http_header",
                                               "http_request_method", "query_string", "source_ip"};

// One map of conditions (`conditions: {...}` or one item of `conditions: [...]`). `seen` marks the
// condition types a rule may hold once.
void read_condition_map(Diagnostics& diag, const Field& f, RuleConditions& c, RuleBudget& budget,
                        bool (&seen)[6]) {
  MapReader r(diag, f,
              {"host_header", "path_pattern", "http_header", "http_request_method", "query_string",
               "source_ip"});
  for (size_t k = 0; k < std::size(kConditionKeys) && !diag.failed(); ++k) {
    Field g = r.get(kConditionKeys[k]);
    if (!g.present) continue;
    bool repeatable = k == 2 || k == 4;
    if (seen[k] && !repeatable) {
      diag.error(g.mark, g.path,
                 "a rule holds at most one " + std::string(kConditionKeys[k]) +
                     " condition (list its values in that one)");
      return;
    }
    seen[k] = true;
    switch (k) {
      case 0:
        read_host_header(diag, g, c, budget);
        break;
      case 1:
        read_path_pattern(diag, g, c, budget);
        break;
      case 2:
        // One {name, values} map, or a list of them (several conditions, ANDed).
        if (g.node.IsSequence()) {
          for (const Field& item : list_items(diag, g)) read_http_header(diag, item, c, budget);
        } else {
          read_http_header(diag, g, c, budget);
        }
        break;
      case 3:
        read_methods(diag, g, c, budget);
        break;
      case 4:
        read_query_string(diag, g, c, budget);
        break;
      default:
        read_source_ip(diag, g, c, budget);
        break;
    }
  }
}

void read_conditions(Diagnostics& diag, const Field& f, RuleConditions& c) {
  RuleBudget budget;
  bool seen[6] = {};
  if (f.node.IsSequence()) {
    for (const Field& item : list_items(diag, f)) read_condition_map(diag, item, c, budget, seen);
  } else {
    read_condition_map(diag, f, c, budget, seen);
  }
  if (!diag.failed() && budget.values == 0) {
    diag.error(f.mark, f.path,
               "a rule needs at least one condition (default_actions handle the rest)");
  }
}

std::string unknown_target_group(const Model& model, const std::string& name) {
  std::vector<std::string_view> names;
  for (const TargetGroup& g : model.target_groups) names.push_back(g.name);
  std::string out = "unknown target group " + quote(name);
  if (std::string s = closest_match(name, names); !s.empty())
    out += ", did you mean " + quote(s) + "?";
  return out;
}

void read_forward(Diagnostics& diag, const Field& f, const Model& model, ForwardAction& fwd) {
  MapReader r(diag, f, {"target_group", "target_groups", "stickiness"});
  Field one = r.get("target_group");
  Field many = r.get("target_groups");
  if (one.present == many.present) {
    diag.error(f.mark, f.path, "needs exactly one of target_group or target_groups");
    return;
  }
  if (one.present) {
    TargetGroupTuple t;
    t.loc = diag.loc(one.mark);
    if (!read_nonempty_string(diag, one, t.name)) return;
    t.ref = model.find_target_group(t.name);
    if (t.ref == nullptr) diag.error(one.mark, one.path, unknown_target_group(model, t.name));
    fwd.target_groups.push_back(std::move(t));
  } else {
    std::vector<Field> items = list_items(diag, many);
    if (items.empty() || items.size() > kMaxTargetGroupsPerAction) {
      diag.error(many.mark, many.path,
                 "must list 1 to 5 target groups (ALB quota), got " + std::to_string(items.size()));
      return;
    }
    int total = 0;
    for (const Field& item : items) {
      MapReader t_reader(diag, item, {"name", "weight"});
      TargetGroupTuple t;
      t.loc = diag.loc(item.mark);
      Field name = t_reader.require("name");
      if (!read_nonempty_string(diag, name, t.name) || !name.present) return;
      read_int_as(diag, t_reader.get("weight"), 0, kMaxWeight, t.weight);
      t.ref = model.find_target_group(t.name);
      if (t.ref == nullptr) diag.error(name.mark, name.path, unknown_target_group(model, t.name));
      for (const TargetGroupTuple& other : fwd.target_groups) {
        if (other.name == t.name)
          diag.error(name.mark, name.path, quote(t.name) + " is listed twice");
      }
      total += t.weight;
      fwd.target_groups.push_back(std::move(t));
    }
    if (!diag.failed() && total == 0) {
      diag.error(many.mark, many.path, "at least one target group needs a weight above 0");
    }
  }
  MapReader s(diag, r.get("stickiness"), {"enabled", "duration"});
  read_bool(diag, s.get("enabled"), fwd.stickiness_enabled);
  Field duration = s.get("duration");
  read_duration(diag, duration, kMinStickiness, kMaxStickiness, fwd.stickiness_duration);
  if (fwd.stickiness_enabled && !duration.present) {
    diag.error(s.mark(), duration.path, "is required when stickiness is enabled (1s to 7 days)");
  }
  if (diag.failed() || fwd.target_groups.size() < 2) return;
  for (const TargetGroupTuple& t : fwd.target_groups) {
    // Sticky sessions: "If you have a forward action with multiple target groups, and sticky
    // sessions are enabled for one or more of the target groups, you must enable stickiness at
    // the target group level." Without it a client can move to another group, which loses its
    // target; a warning, since the request still succeeds.
    if (t.ref->stickiness.enabled && !fwd.stickiness_enabled) {
      diag.warn(many.mark, many.path,
                "target group " + quote(t.name) +
                    " is sticky but this forward has no stickiness: {enabled: true, duration: "
                    "...}, so clients may switch target groups and lose their target");
    }
    if (t.ref->stickiness.enabled && t.ref->stickiness.type == StickinessType::AppCookie) {
      diag.warn(many.mark, many.path,
                "app_cookie stickiness of " + quote(t.name) +
                    " does not work with weighted target groups (ALB)");
    }
  }
}

// Allowed placeholders per redirect component (RedirectActionConfig): #{protocol} in protocol and
// query; #{host} in host, path, query; #{port} in port, path, query; #{path} in path, query;
// #{query} in query. Returns the first other "#{...}" in `s`, or "".
std::string bad_placeholder(std::string_view s, std::string_view allowed) {
  for (size_t at = s.find("#{"); at != s.npos; at = s.find("#{", at + 2)) {
    size_t end = s.find('}', at);
    std::string_view word = s.substr(at, end == s.npos ? s.npos : end - at + 1);
    if (end == s.npos || allowed.find(word) == allowed.npos) return std::string(word);
  }
  return {};
}

void read_redirect(Diagnostics& diag, const Field& f, RedirectAction& rd) {
  MapReader r(diag, f, {"protocol", "host", "port", "path", "query", "status_code"});
  struct Part {
    std::string_view key;
    std::string* value;
    std::string_view allowed;
  };
  const Part parts[] = {
      {"protocol", &rd.protocol, "#{protocol}"},
      {"host", &rd.host, "#{host}"},
      {"port", &rd.port, "#{port}"},
      {"path", &rd.path, "#{host} #{port} #{path}"},
      {"query", &rd.query, "#{protocol} #{host} #{port} #{path} #{query}"},
  };
  for (const Part& p : parts) {
    Field g = r.get(p.key);
    if (!read_string(diag, g, *p.value) || !g.present) continue;
    const std::string& v = *p.value;
    std::string bad = bad_placeholder(v, p.allowed);
    bool digits = !v.empty() && v.size() <= 5 &&
                  std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (v.size() > kMaxValueLength || !visible(v) || v.find(' ') != v.npos) {
      diag.error(g.mark, g.path, "up to 128 visible ASCII characters without spaces");
    } else if (!bad.empty()) {
      diag.error(g.mark, g.path, quote(bad) + " cannot be used in the " + std::string(p.key));
    } else if (p.key == "protocol" && v != "HTTP" && v != "HTTPS" && v != "#{protocol}") {
      diag.error(g.mark, g.path, "must be HTTP, HTTPS or #{protocol}, got " + quote(v));
    } else if (p.key == "port" && v != "#{port}" &&
               (!digits || std::stoi(v) < 1 || std::stoi(v) > 65535)) {
      diag.error(g.mark, g.path, "must be a port 1-65535 or #{port}, got " + quote(v));
    } else if (p.key == "path" && !v.starts_with('/')) {
      diag.error(g.mark, g.path, "must start with '/', got " + quote(v));
    } else if (p.key == "host" && v.empty()) {
      diag.error(g.mark, g.path, "must not be empty");
    } else if (p.key == "query" && v.starts_with('?')) {
      diag.error(g.mark, g.path, "is written without the leading '?'");
    }
  }
  Field status = r.require("status_code");
  std::string code;
  if (read_string(diag, status, code) && status.present) {
    if (code == "HTTP_301" || code == "HTTP_302") {
      rd.status_code = code == "HTTP_301" ? 301 : 302;
    } else {
      diag.error(status.mark, status.path, "must be HTTP_301 or HTTP_302, got " + quote(code));
    }
  }
  // "You must modify at least one of the following components to avoid a redirect loop:
  // protocol, hostname, port, or path."
  if (!diag.failed() && rd.protocol == "#{protocol}" && rd.host == "#{host}" &&
      rd.port == "#{port}" && rd.path == "/#{path}") {
    diag.error(f.mark, f.path,
               "would redirect to the same URL: change at least one of protocol, host, port or "
               "path");
  }
}

void read_fixed_response(Diagnostics& diag, const Field& f, FixedResponseAction& fr) {
  MapReader r(diag, f, {"status_code", "content_type", "message_body"});
  Field status = r.require("status_code");
  // FixedResponseActionConfig StatusCode: ^(2|4|5)\d\d$.
  if (read_int_as(diag, status, 200, 599, fr.status_code) && status.present &&
      fr.status_code / 100 == 3) {
    diag.error(status.mark, status.path, "must be a 2XX, 4XX or 5XX code (use redirect for 3XX)");
  }
  Field type = r.get("content_type");
  constexpr std::string_view kTypes[] = {"text/plain", "text/css", "text/html",
                                         "application/javascript", "application/json"};
  if (read_string(diag, type, fr.content_type) && type.present &&
      std::find(std::begin(kTypes), std::end(kTypes), fr.content_type) == std::end(kTypes)) {
    diag.error(type.mark, type.path,
               "must be text/plain, text/css, text/html, application/javascript or "
               "application/json, got " +
                   quote(fr.content_type));
  }
  Field body = r.get("message_body");
  if (read_string(diag, body, fr.message_body) && fr.message_body.size() > kMaxMessageBody) {
    diag.error(body.mark, body.path, "must be at most 1024 characters");
  }
}

// `actions:` / `default_actions:`: exactly one of forward, redirect, fixed_response.
void read_actions(Diagnostics& diag, const Field& f, const Model& model, RuleAction& a) {
  std::vector<Field> items = list_items(diag, f);
  if (diag.failed()) return;
  if (items.size() != 1) {
    diag.error(f.mark, f.path,
               "must hold exactly one action (forward, redirect or fixed_response), got " +
                   std::to_string(items.size()));
    return;
  }
  a.loc = diag.loc(items[0].mark);
  MapReader r(diag, items[0], {"forward", "redirect", "fixed_response"});
  Field forward = r.get("forward");
  Field redirect = r.get("redirect");
  Field fixed = r.get("fixed_response");
  if (diag.failed()) return;
  if (int{forward.present} + int{redirect.present} + int{fixed.present} != 1) {
    diag.error(items[0].mark, items[0].path,
               "needs exactly one of forward, redirect or fixed_response");
  } else if (forward.present) {
    a.type = RuleActionType::Forward;
    read_forward(diag, forward, model, a.forward);
  } else if (redirect.present) {
    a.type = RuleActionType::Redirect;
    read_redirect(diag, redirect, a.redirect);
  } else {
    a.type = RuleActionType::FixedResponse;
    read_fixed_response(diag, fixed, a.fixed_response);
  }
}

void read_rules(Diagnostics& diag, const Field& f, const Model& model, LoadBalancer& lb) {
  std::vector<Field> items = list_items(diag, f);
  if (items.size() > kMaxRules) {
    diag.error(f.mark, f.path, "at most 100 rules per load balancer (ALB quota)");
    return;
  }
  for (const Field& item : items) {
    MapReader r(diag, item, {"priority", "conditions", "actions"});
    ListenerRule rule;
    rule.loc = diag.loc(item.mark);
    Field priority = r.require("priority");
    if (read_int_as(diag, priority, 1, kMaxPriority, rule.priority) && priority.present) {
      for (const ListenerRule& other : lb.rules) {
        if (other.priority == rule.priority) {
          diag.error(priority.mark, priority.path,
                     "duplicate priority " + std::to_string(rule.priority) +
                         " (first used at line " + std::to_string(other.loc.line) + ")");
        }
      }
    }
    Field conditions = r.require("conditions");
    if (conditions.present) read_conditions(diag, conditions, rule.conditions);
    Field actions = r.require("actions");
    if (actions.present) read_actions(diag, actions, model, rule.action);
    if (diag.failed()) return;
    lb.rules.push_back(std::move(rule));
  }
  std::stable_sort(
      lb.rules.begin(), lb.rules.end(),
      [](const ListenerRule& a, const ListenerRule& b) { return a.priority < b.priority; });
}

// A load balancer's own listeners: the shape of top-level listeners, with names and addresses
// unique among every listener of the file.
void read_lb_listeners(Diagnostics& diag, const Field& f, const Model& model, LoadBalancer& lb) {
  std::vector<Field> items = list_items(diag, f);
  if (items.size() > kMaxListeners) {
    diag.error(f.mark, f.path, "at most 50 listeners per load balancer (ALB quota)");
    return;
  }
  for (const Field& item : items) {
    MapReader r(
        diag, item,
        {"name", "address", "protocol", "certificates", "ssl_policy", "http2", "unknown_sni"});
    Listener l;
    l.loc = diag.loc(item.mark);
    Field name = r.require("name");
    Field address = r.require("address");
    std::string text;
    if (!read_nonempty_string(diag, name, l.name) || !read_nonempty_string(diag, address, text) ||
        diag.failed() || !read_listener_protocol(diag, r, model, /*load_balancer=*/true, l)) {
      return;
    }
    core::Result<HostPort> hp = parse_listen_address(text);
    if (!hp.ok()) {
      diag.error(address.mark, address.path, hp.error().detail);
      return;
    }
    l.host = hp->host;
    l.port = hp->port;
    auto clash = [&](const Listener& other, std::string_view owner) {
      if (other.name == l.name) {
        diag.error(
            name.mark, name.path,
            "duplicate listener name " + quote(l.name) + " (also in " + std::string(owner) + ")");
      } else if (l.port != 0 && other.port == l.port && other.host == l.host) {
        diag.error(address.mark, address.path,
                   "address " + text + " is already used by listener " + quote(other.name));
      }
    };
    for (const Listener& other : model.listeners) clash(other, "listeners");
    for (const LoadBalancer& other_lb : model.load_balancers) {
      for (const Listener& other : other_lb.listeners)
        clash(other, "load balancer " + other_lb.name);
    }
    for (const Listener& other : lb.listeners) clash(other, "load balancer " + lb.name);
    lb.listeners.push_back(std::move(l));
  }
}

// ---- target groups ----

// Matcher.HttpCode: "200", "200,202", "200-299"; codes 200-499 for ALB.
bool parse_matcher(std::string_view text, std::vector<HttpCodeRange>& out) {
  out.clear();
  while (true) {
    size_t comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    size_t dash = part.find('-');
    auto code = [](std::string_view s, int& v) {
      if (s.size() != 3 ||
          !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return false;
      }
      v = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
      return v >= 200 && v <= 499;
    };
    HttpCodeRange r;
    if (!code(part.substr(0, dash), r.first)) return false;
    r.last = r.first;
    if (dash != part.npos && (!code(part.substr(dash + 1), r.last) || r.last < r.first))
      return false;
    out.push_back(r);
    if (comma == text.npos) return true;
    text.remove_prefix(comma + 1);
  }
}

void read_health_check(Diagnostics& diag, const Field& f, HealthCheck& hc) {
  MapReader r(diag, f,
              {"enabled", "path", "port", "protocol", "interval", "timeout", "healthy_threshold",
               "unhealthy_threshold", "matcher"});
  read_bool(diag, r.get("enabled"), hc.enabled);
  Field path = r.get("path");
  if (read_nonempty_string(diag, path, hc.path) && path.present &&
      (!hc.path.starts_with('/') || hc.path.size() > kMaxHealthCheckPath || !visible(hc.path) ||
       hc.path.find(' ') != std::string::npos)) {
    diag.error(path.mark, path.path, "must be a path starting with '/' (up to 1024 characters)");
  }
  Field port = r.get("port");
  if (port.present && !(port.node.IsScalar() && port.node.Scalar() == "traffic-port")) {
    read_int_as(diag, port, 1, 65535, hc.port);
  }
  Field protocol = r.get("protocol");
  std::string proto = "HTTP";
  if (read_string(diag, protocol, proto) && proto != "HTTP") {
    diag.error(protocol.mark, protocol.path,
               proto == "HTTPS" ? "HTTPS health checks are not supported yet"
                                : "must be HTTP or HTTPS, got " + quote(proto));
  }
  Field interval = r.get("interval");
  Field timeout = r.get("timeout");
  bool ok = read_duration(diag, interval, kMinInterval, kMaxInterval, hc.interval);
  ok = read_duration(diag, timeout, kMinTimeout, kMaxTimeout, hc.timeout) && ok;
  if (ok && hc.timeout >= hc.interval) {
    const Field& where = timeout.present ? timeout : interval;
    diag.error(where.mark, where.path,
               "timeout (" + format_duration(hc.timeout) + ") must be less than interval (" +
                   format_duration(hc.interval) + ")");
  }
  read_int_as(diag, r.get("healthy_threshold"), 2, 10, hc.healthy_threshold);
  read_int_as(diag, r.get("unhealthy_threshold"), 2, 10, hc.unhealthy_threshold);
  Field matcher = r.get("matcher");
  if (read_nonempty_string(diag, matcher, hc.matcher) && matcher.present &&
      !parse_matcher(hc.matcher, hc.matcher_codes)) {
    diag.error(matcher.mark, matcher.path,
               "invalid matcher " + quote(hc.matcher) +
                   ": codes 200-499 as \"200\", \"200,202\" or \"200-299\"");
  }
}

void read_stickiness(Diagnostics& diag, const Field& f, TargetGroupStickiness& s) {
  MapReader r(diag, f, {"enabled", "type", "duration", "cookie_name"});
  read_bool(diag, r.get("enabled"), s.enabled);
  Field type = r.get("type");
  std::string t = "lb_cookie";
  if (read_string(diag, type, t)) {
    if (t == "app_cookie") {
      s.type = StickinessType::AppCookie;
    } else if (t != "lb_cookie") {
      diag.error(type.mark, type.path, "must be lb_cookie or app_cookie, got " + quote(t));
    }
  }
  read_duration(diag, r.get("duration"), kMinStickiness, kMaxStickiness, s.duration);
  Field cookie = r.get("cookie_name");
  read_nonempty_string(diag, cookie, s.cookie_name);
  if (diag.failed()) return;
  if (s.type == StickinessType::LbCookie && cookie.present) {
    diag.error(cookie.mark, cookie.path, "only app_cookie stickiness takes a cookie_name");
  } else if (s.type == StickinessType::AppCookie && !cookie.present) {
    diag.error(r.mark(), cookie.path, "is required for app_cookie stickiness");
  } else if (cookie.present && !is_token(s.cookie_name)) {
    diag.error(cookie.mark, cookie.path, "invalid cookie name " + quote(s.cookie_name));
  } else if (cookie.present && s.cookie_name.starts_with("AWSALB")) {
    // AWSALB, AWSALBAPP and AWSALBTG are reserved for the load balancer's own cookies.
    diag.error(cookie.mark, cookie.path,
               "names starting with AWSALB are reserved for the load balancer's cookies");
  }
}

// A target: "10.0.1.5:8080", "[2001:db8::5]:8080", "10.0.1.5" (the group's port) or {id, port}.
void read_target(Diagnostics& diag, const Field& f, const TargetGroup& g, TargetDescription& t) {
  t.loc = diag.loc(f.mark);
  t.port = g.port;
  Field where = f;
  if (f.node.IsMap()) {
    MapReader r(diag, f, {"id", "port"});
    where = r.require("id");
    if (!read_nonempty_string(diag, where, t.id)) return;
    read_int_as(diag, r.get("port"), 1, 65535, t.port);
  } else {
    std::string text;
    if (!read_nonempty_string(diag, f, text)) return;
    bool bare_v6 = std::count(text.begin(), text.end(), ':') > 1 && text.front() != '[';
    if (text.find(':') == std::string::npos || bare_v6) {
      t.id = text;
    } else {
      core::Result<HostPort> hp = parse_listen_address(text);
      if (!hp.ok() || hp->port == 0) {
        diag.error(f.mark, f.path, "invalid target " + quote(text) + ": expected IP:PORT");
        return;
      }
      t.id = hp->host;
      t.port = hp->port;
    }
  }
  if (t.id.empty() || diag.failed()) return;
  // `ip` targets: an IPv4 or IPv6 address, kept in canonical form so duplicates compare equal.
  std::array<unsigned char, 16> bytes{};
  char buf[INET6_ADDRSTRLEN] = {};
  int family = inet_pton(AF_INET, t.id.c_str(), bytes.data()) == 1 ? AF_INET : AF_INET6;
  if (family == AF_INET6 && inet_pton(AF_INET6, t.id.c_str(), bytes.data()) != 1) {
    diag.error(where.mark, where.path,
               "target id " + quote(t.id) + " is not an IP address (use 127.0.0.1, not localhost)");
    return;
  }
  t.id = inet_ntop(family, bytes.data(), buf, sizeof buf);
}

void read_target_group(Diagnostics& diag, const Field& f, Model& model, TargetGroup& g) {
  MapReader r(diag, f,
              {"name", "protocol", "port", "targets", "health_check", "load_balancing_algorithm",
               "stickiness", "slow_start", "deregistration_delay"});
  g.loc = diag.loc(f.mark);
  Field name = r.require("name");
  if (read_nonempty_string(diag, name, g.name) && name.present) {
    check_name(diag, name, g.name, "target group");
    if (const TargetGroup* other = model.find_target_group(g.name)) {
      diag.error(name.mark, name.path,
                 "duplicate target group name " + quote(g.name) + " (first defined at line " +
                     std::to_string(other->loc.line) + ")");
    }
  }
  Field protocol = r.get("protocol");
  std::string proto = "HTTP";
  if (read_string(diag, protocol, proto) && proto != "HTTP") {
    diag.error(protocol.mark, protocol.path,
               proto == "HTTPS" ? "HTTPS target groups are not supported yet"
                                : "must be HTTP or HTTPS, got " + quote(proto));
  }
  read_int_as(diag, r.get("port"), 1, 65535, g.port);
  read_health_check(diag, r.get("health_check"), g.health_check);
  Field algorithm = r.get("load_balancing_algorithm");
  std::string algo;
  if (read_string(diag, algorithm, algo) && algorithm.present) {
    if (algo == "round_robin") {
      g.load_balancing_algorithm = LoadBalancingAlgorithm::RoundRobin;
    } else if (algo == "least_outstanding_requests") {
      g.load_balancing_algorithm = LoadBalancingAlgorithm::LeastOutstandingRequests;
    } else if (algo == "weighted_random") {
      g.load_balancing_algorithm = LoadBalancingAlgorithm::WeightedRandom;
    } else {
      diag.error(
          algorithm.mark, algorithm.path,
          "must be round_robin, least_outstanding_requests or weighted_random, got " + quote(algo));
    }
  }
  read_stickiness(diag, r.get("stickiness"), g.stickiness);
  Field slow = r.get("slow_start");
  if (read_duration(diag, slow, Duration{0}, kMaxSlowStart, g.slow_start) &&
      g.slow_start > Duration{0} && g.slow_start < kMinSlowStart) {
    diag.error(slow.mark, slow.path, "must be 0 (off) or between 30s and 15m");
  }
  read_duration(diag, r.get("deregistration_delay"), Duration{0}, kMaxDeregistrationDelay,
                g.deregistration_delay);
  Field targets = r.get("targets");
  std::vector<Field> items = list_items(diag, targets);
  if (items.size() > kMaxTargets) {
    diag.error(targets.mark, targets.path, "at most 1000 targets per target group (ALB quota)");
    return;
  }
  for (const Field& item : items) {
    TargetDescription t;
    read_target(diag, item, g, t);
    if (diag.failed()) return;
    for (const TargetDescription& other : g.targets) {
      if (other.id == t.id && other.port == t.port) {
        diag.error(item.mark, item.path,
                   "target " + quote(item.node.IsScalar() ? item.node.Scalar() : t.id) +
                       " is listed twice");
        return;
      }
    }
    g.targets.push_back(std::move(t));
  }
}

// `attributes:` (ELBv2 LoadBalancerAttribute keys in snake_case).
void read_lb_attributes(Diagnostics& diag, const Field& f, LoadBalancerAttributes& a) {
  MapReader r(diag, f, {"xff_header_processing_mode", "xff_client_port"});
  Field mode = r.get("xff_header_processing_mode");
  std::string m;
  if (read_string(diag, mode, m) && mode.present) {
    // routing.http.xff_header_processing.mode: append (default), preserve or remove.
    if (m == "append") {
      a.xff_header_processing_mode = XffHeaderProcessingMode::Append;
    } else if (m == "preserve") {
      a.xff_header_processing_mode = XffHeaderProcessingMode::Preserve;
    } else if (m == "remove") {
      a.xff_header_processing_mode = XffHeaderProcessingMode::Remove;
    } else {
      diag.error(mode.mark, mode.path, "must be append, preserve or remove, got " + quote(m));
    }
  }
  Field port = r.get("xff_client_port");
  read_bool(diag, port, a.xff_client_port);
  // routing.http.xff_client_port.enabled only changes what append mode adds.
  if (!diag.failed() && a.xff_client_port &&
      a.xff_header_processing_mode != XffHeaderProcessingMode::Append) {
    diag.warn(port.mark, port.path,
              "has no effect unless xff_header_processing_mode is append (ALB)");
  }
}

}  // namespace

void read_target_groups(Diagnostics& diag, const Field& f, Model& model) {
  std::vector<Field> items = list_items(diag, f);
  model.target_groups.reserve(items.size());
  for (const Field& item : items) {
    TargetGroup g;
    read_target_group(diag, item, model, g);
    model.target_groups.push_back(std::move(g));
  }
}

void read_load_balancers(Diagnostics& diag, const Field& f, Model& model) {
  std::vector<Field> items = list_items(diag, f);
  model.load_balancers.reserve(items.size());
  for (const Field& item : items) {
    MapReader r(diag, item, {"name", "listeners", "rules", "default_actions", "attributes"});
    LoadBalancer lb;
    lb.loc = diag.loc(item.mark);
    Field name = r.require("name");
    if (read_nonempty_string(diag, name, lb.name) && name.present) {
      check_name(diag, name, lb.name, "load balancer");
      if (lb.name.starts_with("internal-")) {
        diag.error(name.mark, name.path, "load balancer names must not start with 'internal-'");
      }
      if (const LoadBalancer* other = model.find_load_balancer(lb.name)) {
        diag.error(name.mark, name.path,
                   "duplicate load balancer name " + quote(lb.name) + " (first defined at line " +
                       std::to_string(other->loc.line) + ")");
      }
    }
    read_lb_listeners(diag, r.get("listeners"), model, lb);
    read_rules(diag, r.get("rules"), model, lb);
    Field defaults = r.require("default_actions");
    if (defaults.present) read_actions(diag, defaults, model, lb.default_action);
    read_lb_attributes(diag, r.get("attributes"), lb.attributes);
    if (diag.failed()) return;
    model.load_balancers.push_back(std::move(lb));
  }
}

}  // namespace portico::config::detail
