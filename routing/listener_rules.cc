#include "routing/listener_rules.h"

#include <array>
#include <charconv>

#include "core/assert.h"
#include "routing/router.h"
#include "routing/stickiness.h"

namespace portico::routing {
namespace {

using Case = WildcardPattern::Case;
using Escapes = WildcardPattern::Escapes;

// The request's host for host_header and #{host}: Host without port or trailing dot, lower-case.
std::string_view request_host(const core::RequestHead& head, std::array<char, kMaxHostBytes>& buf) {
  std::string_view host = head.authority;
  if (host.empty()) host = head.headers.get_or("host");
  return normalize_host(host, buf);
}

std::string_view method_token(const core::RequestHead& head) {
  return head.method_token.empty() ? core::method_name(head.method)
                                   : std::string_view(head.method_token);
}

// Appends `tmpl` with each "#{name}" replaced by its value (unknown names are kept as written:
// the loader only lets the allowed ones through).
void expand(std::string& out, std::string_view tmpl, std::string_view protocol,
            std::string_view host, std::string_view port, std::string_view path,
            std::string_view query) {
  struct Slot {
    std::string_view name;
    std::string_view value;
  };
  const Slot slots[] = {{"#{protocol}", protocol},
                        {"#{host}", host},
                        {"#{port}", port},
                        {"#{path}", path},
                        {"#{query}", query}};
  size_t i = 0;
  while (i < tmpl.size()) {
    bool replaced = false;
    if (tmpl[i] == '#') {
      for (const Slot& s : slots) {
        if (tmpl.substr(i).starts_with(s.name)) {
          out.append(s.value);
          i += s.name.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out.push_back(tmpl[i++]);
  }
}

// A query_string pattern as configured may percent-encode any character (RFC 3986, as
// QueryStringConditionConfig allows); requests are compared decoded, so the pattern is decoded
// too, with a decoded '*', '?' or '\' escaped so it stays literal.
std::string decode_query_pattern(std::string_view p) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\' && i + 1 < p.size()) {
      out.append(p.substr(i, 2));
      ++i;
    } else if (p[i] == '%' && i + 2 < p.size() && hex(p[i + 1]) >= 0 && hex(p[i + 2]) >= 0) {
      char c = static_cast<char>(hex(p[i + 1]) * 16 + hex(p[i + 2]));
      if (c == '*' || c == '?' || c == '\\') out.push_back('\\');
      out.push_back(c);
      i += 2;
    } else {
      out.push_back(p[i]);
    }
  }
  return out;
}

}  // namespace

ListenerRules::ListenerRules(std::shared_ptr<const config::Model> model,
                             const config::LoadBalancer& load_balancer)
    : model_(std::move(model)), load_balancer_(&load_balancer) {
  PORTICO_CHECK(model_ != nullptr);
  rules_.reserve(load_balancer.rules.size() + 1);
  for (const config::ListenerRule& r : load_balancer.rules) {
    Rule rule;
    rule.priority = r.priority;
    rule.action = &r.action;
    rule.forward = plan(r.action);
    const config::RuleConditions& c = r.conditions;
    for (const std::string& h : c.host_header) rule.hosts.emplace_back(h, Case::Insensitive);
    for (const std::string& p : c.path_pattern) rule.paths.emplace_back(p);
    for (const config::HttpHeaderCondition& h : c.http_header) {
      Header header;
      header.name = core::to_lower(h.name);
      for (const std::string& v : h.values) header.values.emplace_back(v, Case::Insensitive);
      rule.headers.push_back(std::move(header));
    }
    for (const std::string& m : c.http_request_method) rule.methods.emplace_back(m);
    for (const std::vector<config::QueryStringKeyValue>& q : c.query_string) {
      std::vector<QueryPair> pairs;
      for (const config::QueryStringKeyValue& kv : q) {
        pairs.push_back(QueryPair{
            kv.has_key,
            WildcardPattern(decode_query_pattern(kv.key), Case::Insensitive, Escapes::Backslash),
            WildcardPattern(decode_query_pattern(kv.value), Case::Insensitive,
                            Escapes::Backslash)});
      }
      rule.queries.push_back(std::move(pairs));
    }
    for (const std::string& s : c.source_ip) {
      // The loader validated every CIDR; one that still fails to parse can never match, so the
      // condition keeps a placeholder that matches nothing rather than vanishing.
      std::optional<Cidr> cidr = Cidr::parse(s);
      rule.cidrs.push_back(cidr ? *cidr : Cidr{});
    }
    rules_.push_back(std::move(rule));
  }
  Rule fallback;
  fallback.action = &load_balancer.default_action;
  fallback.forward = plan(load_balancer.default_action);
  rules_.push_back(std::move(fallback));
}

size_t ListenerRules::plan(const config::RuleAction& action) {
  if (action.type != config::RuleActionType::Forward) return SIZE_MAX;
  ForwardPlan p;
  p.action = &action.forward;
  for (const config::TargetGroupTuple& t : action.forward.target_groups) {
    p.groups.push_back(
        WeightedTargetGroup{t.ref, static_cast<uint32_t>(t.weight), sticky_group_identity(t.name)});
  }
  plans_.push_back(std::move(p));
  return plans_.size() - 1;
}

RuleMatch ListenerRules::match_of(const Rule& rule) const {
  RuleMatch m;
  m.action = rule.action;
  m.forward = rule.forward == SIZE_MAX ? nullptr : &plans_[rule.forward];
  m.priority = rule.priority;
  return m;
}

RuleMatch ListenerRules::evaluate(const RuleRequest& request) const {
  PORTICO_ASSERT(request.head != nullptr);
  for (const Rule& rule : rules_) {
    if (matches(rule, request)) return match_of(rule);
  }
  return match_of(rules_.back());  // unreachable: the default rule has no conditions
}

bool ListenerRules::matches(const Rule& rule, const RuleRequest& request) const {
  const core::RequestHead& head = *request.head;
  if (!rule.methods.empty()) {
    std::string_view token = method_token(head);
    bool any = false;
    for (std::string_view m : rule.methods) any = any || m == token;
    if (!any) return false;
  }
  if (!rule.paths.empty()) {
    bool any = false;
    for (const PathPattern& p : rule.paths) any = any || p.matches(head.path);
    if (!any) return false;
  }
  if (!rule.hosts.empty()) {
    std::array<char, kMaxHostBytes> buf;
    std::string_view host = request_host(head, buf);
    bool any = false;
    for (const WildcardPattern& h : rule.hosts) any = any || (!host.empty() && h.matches(host));
    if (!any) return false;
  }
  for (const Header& condition : rule.headers) {
    bool any = false;
    for (const core::Header& field : head.headers) {
      if (!core::iequals(field.name, condition.name)) continue;
      for (const WildcardPattern& v : condition.values) any = any || v.matches(field.value);
      if (any) break;
    }
    if (!any) return false;
  }
  for (const std::vector<QueryPair>& condition : rule.queries) {
    bool any = false;
    std::string_view rest = head.query;
    while (!any && !rest.empty()) {
      size_t amp = rest.find('&');
      std::string_view param = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      size_t eq = param.find('=');
      std::string_view key = param.substr(0, eq);
      std::string_view value =
          eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
      for (const QueryPair& p : condition) {
        if ((!p.has_key || p.key.matches_percent_decoded(key)) &&
            p.value.matches_percent_decoded(value)) {
          any = true;
          break;
        }
      }
    }
    if (!any) return false;
  }
  if (!rule.cidrs.empty()) {
    IpAddress ip =
        effective_source_ip(head.headers, request.source_ip, request.trust_x_forwarded_for);
    bool any = false;
    for (const Cidr& c : rule.cidrs) any = any || (c.base.valid() && c.contains(ip));
    if (!any) return false;
  }
  return true;
}

IpAddress effective_source_ip(const core::Headers& headers, const IpAddress& peer, bool trusted) {
  if (!trusted) return peer;
  const std::string* last = nullptr;
  for (const core::Header& h : headers) {
    if (core::iequals(h.name, "x-forwarded-for")) last = &h.value;
  }
  if (last == nullptr) return peer;
  std::string_view v = *last;
  size_t comma = v.rfind(',');
  std::optional<IpAddress> ip =
      IpAddress::parse(comma == std::string_view::npos ? v : v.substr(comma + 1));
  return ip ? *ip : peer;
}

void redirect_location(const config::RedirectAction& action, const RuleRequest& request,
                       std::string& out) {
  const core::RequestHead& head = *request.head;
  std::array<char, kMaxHostBytes> buf;
  std::string_view host = request_host(head, buf);
  std::string_view protocol = request.https ? "https" : "http";
  char port_buf[8];
  auto port_end = std::to_chars(port_buf, port_buf + sizeof port_buf, request.port).ptr;
  std::string_view port(port_buf, static_cast<size_t>(port_end - port_buf));
  std::string_view path = head.path;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  std::string_view query = head.query;

  std::string_view scheme = action.protocol == "#{protocol}" ? protocol
                            : action.protocol == "HTTPS"     ? "https"
                                                             : "http";
  out.append(scheme).append("://");
  expand(out, action.host, protocol, host, port, path, query);
  // Expand the port apart, to compare it with the scheme's default.
  size_t port_at = out.size();
  out.push_back(':');
  expand(out, action.port, protocol, host, port, path, query);
  std::string_view new_port = std::string_view(out).substr(port_at + 1);
  if ((scheme == "http" && new_port == "80") || (scheme == "https" && new_port == "443") ||
      new_port.empty()) {
    out.resize(port_at);
  }
  expand(out, action.path, protocol, host, port, path, query);
  size_t query_at = out.size();
  out.push_back('?');
  expand(out, action.query, protocol, host, port, path, query);
  if (out.size() == query_at + 1) out.resize(query_at);
}

}  // namespace portico::routing
