// ListenerRules: every ALB condition type, AND/OR semantics, priority order, the default action,
// redirect placeholders, and that evaluate() allocates nothing. Also the WildcardPattern,
// IpAddress and Cidr building blocks.
#include "routing/listener_rules.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <new>
#include <string>

#include "config/loader.h"

using portico::config::Model;
using portico::config::RuleActionType;
using portico::core::RequestHead;
using portico::routing::Cidr;
using portico::routing::effective_source_ip;
using portico::routing::IpAddress;
using portico::routing::ListenerRules;
using portico::routing::redirect_location;
using portico::routing::RuleMatch;
using portico::routing::RuleRequest;
using portico::routing::WildcardPattern;

// Counts heap allocations while `g_counting` is set, to prove evaluate() makes none.
namespace {
std::atomic<bool> g_counting{false};
std::atomic<size_t> g_allocations{0};
}  // namespace

// Every non-aligned form is replaced, so new/delete pairs stay consistent (ASan checks them).
namespace {
void* counted_alloc(size_t size) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  return std::malloc(size == 0 ? 1 : size);
}
}  // namespace

void* operator new(size_t size) {
  if (void* p = counted_alloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t size) {
  if (void* p = counted_alloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new(size_t size, const std::nothrow_t&) noexcept { return counted_alloc(size); }
void* operator new[](size_t size, const std::nothrow_t&) noexcept { return counted_alloc(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

const std::string kHead =
    "listeners: [{name: http, address: 127.0.0.1:0}]\n"
    "distributions:\n"
    "  - id: web\n"
    "    origins: [{id: api, custom_origin: {url: \"http://127.0.0.1:9001\"}}]\n"
    "    default_cache_behavior: {target_origin_id: api}\n"
    "target_groups: [{name: v1}, {name: v2}]\n";

// A load balancer whose rules are `rules` (list items at 6 spaces) and whose default answers 404.
std::shared_ptr<const Model> lb(const std::string& rules) {
  auto r = portico::config::load_string(kHead +
                                            "load_balancers:\n"
                                            "  - name: api\n"
                                            "    rules:\n" +
                                            rules +
                                            "    default_actions: [{fixed_response: "
                                            "{status_code: 404}}]\n",
                                        "t.yaml");
  if (!r.ok()) FAIL(r.error().detail);
  return std::make_shared<const Model>(std::move(r).value());
}

// One rule with `conditions` answering 200.
std::shared_ptr<const Model> one_rule(const std::string& conditions) {
  return lb("      - {priority: 1, conditions: " + conditions +
            ", actions: [{fixed_response: {status_code: 200}}]}\n");
}

RequestHead request(std::string method, std::string target, std::string host = "a.example.test") {
  RequestHead h;
  h.method_token = method;
  h.method = portico::core::parse_method(method);
  h.target = target;
  size_t q = target.find('?');
  h.path = target.substr(0, q);
  if (q != std::string::npos) {
    h.query = target.substr(q + 1);
    h.has_query = true;
  }
  h.authority = host;
  h.headers.add("host", host);
  return h;
}

// The priority of the matching rule (0 = default) for `head` from `ip`.
int eval(const ListenerRules& rules, const RequestHead& head, const char* ip = "192.0.2.10",
         bool trust_xff = false) {
  RuleRequest req;
  req.head = &head;
  req.source_ip = *IpAddress::parse(ip);
  req.trust_x_forwarded_for = trust_xff;
  return rules.evaluate(req).priority;
}

ListenerRules compile(const std::shared_ptr<const Model>& m) {
  return ListenerRules(m, m->load_balancers[0]);
}

}  // namespace

TEST_CASE("wildcard patterns", "[listener_rules]") {
  using C = WildcardPattern::Case;
  using E = WildcardPattern::Escapes;
  WildcardPattern chrome("*Chrome*", C::Insensitive);
  CHECK(chrome.matches("Mozilla/5.0 chrome/120"));
  CHECK_FALSE(chrome.matches("Firefox"));
  CHECK_FALSE(chrome.literal());
  WildcardPattern exact("Beta", C::Sensitive);
  CHECK(exact.literal());
  CHECK(exact.matches("Beta"));
  CHECK_FALSE(exact.matches("beta"));
  WildcardPattern one("v?", C::Sensitive);
  CHECK(one.matches("v1"));
  CHECK_FALSE(one.matches("v"));
  CHECK_FALSE(one.matches("v12"));
  WildcardPattern star("a**b*c", C::Sensitive);
  CHECK(star.matches("abc"));
  CHECK(star.matches("axxbyyc"));
  CHECK_FALSE(star.matches("axxbyy"));
  WildcardPattern empty("", C::Sensitive);
  CHECK(empty.matches(""));
  CHECK_FALSE(empty.matches("x"));
  // Escapes (query strings): "\*" is a literal star.
  WildcardPattern lit("a\\*b", C::Sensitive, E::Backslash);
  CHECK(lit.matches("a*b"));
  CHECK_FALSE(lit.matches("axb"));
  WildcardPattern lit_q("\\?", C::Sensitive, E::Backslash);
  CHECK(lit_q.matches("?"));
  CHECK_FALSE(lit_q.matches("x"));
  // Percent-decoded matching.
  WildcardPattern space("a b*", C::Insensitive, E::Backslash);
  CHECK(space.matches_percent_decoded("A%20B%2fc"));
  CHECK_FALSE(space.matches("A%20B"));
  WildcardPattern pct("100%", C::Sensitive);
  CHECK(pct.matches_percent_decoded("100%"));    // lone '%' stays literal
  CHECK(pct.matches_percent_decoded("100%25"));  // %25 is '%'
  CHECK_FALSE(pct.matches_percent_decoded("100%2"));
  WildcardPattern plus("a+b", C::Sensitive);
  CHECK(plus.matches_percent_decoded("a+b"));  // '+' is not a space here
}

TEST_CASE("ip addresses and CIDRs", "[listener_rules]") {
  auto ip = [](const char* s) { return *IpAddress::parse(s); };
  CHECK(IpAddress::parse("192.0.2.1")->family == IpAddress::Family::V4);
  CHECK(IpAddress::parse(" 2001:db8::1 ")->family == IpAddress::Family::V6);
  CHECK(IpAddress::parse("[::1]")->to_string() == "::1");
  CHECK(IpAddress::parse("::ffff:192.0.2.1") == IpAddress::v4(192, 0, 2, 1));
  CHECK_FALSE(IpAddress::parse("example.test"));
  CHECK_FALSE(IpAddress::parse(""));
  CHECK_FALSE(IpAddress::parse("1.2.3.4:80"));
  Cidr net = *Cidr::parse("192.0.2.0/24");
  CHECK(net.contains(ip("192.0.2.255")));
  CHECK_FALSE(net.contains(ip("192.0.3.0")));
  CHECK_FALSE(net.contains(ip("2001:db8::1")));
  CHECK(Cidr::parse("10.1.2.3/8")->contains(ip("10.200.0.1")));  // host bits ignored
  CHECK(Cidr::parse("0.0.0.0/0")->contains(ip("203.0.113.9")));
  CHECK(Cidr::parse("198.51.100.10/32")->contains(ip("198.51.100.10")));
  CHECK_FALSE(Cidr::parse("198.51.100.10/32")->contains(ip("198.51.100.11")));
  Cidr v6 = *Cidr::parse("2001:db8:abcd::/45");
  CHECK(v6.contains(ip("2001:db8:abcf:ffff::1")));
  CHECK_FALSE(v6.contains(ip("2001:db8:abd0::1")));
  CHECK_FALSE(Cidr::parse("10.0.0.0"));
  CHECK_FALSE(Cidr::parse("10.0.0.0/33"));
  CHECK_FALSE(Cidr::parse("::/129"));
  CHECK_FALSE(Cidr::parse("10.0.0.0/x"));
}

TEST_CASE("listener rules: host_header", "[listener_rules]") {
  ListenerRules rules = compile(one_rule("{host_header: [\"*.example.com\", \"api.test\"]}"));
  CHECK(eval(rules, request("GET", "/", "test.example.com")) == 1);
  CHECK(eval(rules, request("GET", "/", "TEST.Example.COM:8080")) == 1);  // case, port
  CHECK(eval(rules, request("GET", "/", "api.test.")) == 1);              // trailing dot
  CHECK(eval(rules, request("GET", "/", "example.com")) == 0);  // ALB: *.example.com does not
  CHECK(eval(rules, request("GET", "/", "api.testx")) == 0);
  CHECK(eval(rules, request("GET", "/", "")) == 0);
  ListenerRules q = compile(one_rule("{host_header: [\"api?.example.test\"]}"));
  CHECK(eval(q, request("GET", "/", "api1.example.test")) == 1);
  CHECK(eval(q, request("GET", "/", "api12.example.test")) == 0);
}

TEST_CASE("listener rules: path_pattern is case-sensitive", "[listener_rules]") {
  ListenerRules rules = compile(one_rule("{path_pattern: [\"/img/*\", \"/v?/x\"]}"));
  CHECK(eval(rules, request("GET", "/img/a.png")) == 1);
  CHECK(eval(rules, request("GET", "/img/")) == 1);
  CHECK(eval(rules, request("GET", "/IMG/a.png")) == 0);
  CHECK(eval(rules, request("GET", "/v1/x")) == 1);
  CHECK(eval(rules, request("GET", "/v10/x")) == 0);
  CHECK(eval(rules, request("GET", "/img?x=/img/")) == 0);  // the query is not the path
}

TEST_CASE("listener rules: http_header", "[listener_rules]") {
  ListenerRules rules =
      compile(one_rule("{http_header: {name: User-Agent, values: [\"*Chrome*\", \"*Safari*\"]}}"));
  RequestHead h = request("GET", "/");
  CHECK(eval(rules, h) == 0);
  h.headers.add("user-agent", "curl/8");
  CHECK(eval(rules, h) == 0);
  h.headers.add("USER-AGENT", "mozilla SAFARI");  // any field of that name; values ignore case
  CHECK(eval(rules, h) == 1);
  // Two http_header conditions: both must hold.
  ListenerRules both = compile(one_rule(
      "[{http_header: {name: X-A, values: [a]}}, {http_header: {name: X-B, values: [b]}}]"));
  RequestHead only_a = request("GET", "/");
  only_a.headers.add("x-a", "a");
  CHECK(eval(both, only_a) == 0);
  only_a.headers.add("x-b", "B");
  CHECK(eval(both, only_a) == 1);
}

TEST_CASE("listener rules: http_request_method is exact", "[listener_rules]") {
  ListenerRules rules = compile(one_rule("{http_request_method: [GET, CUSTOM-METHOD]}"));
  CHECK(eval(rules, request("GET", "/")) == 1);
  CHECK(eval(rules, request("CUSTOM-METHOD", "/")) == 1);
  CHECK(eval(rules, request("HEAD", "/")) == 0);
  CHECK(eval(rules, request("get", "/")) == 0);
  RequestHead no_token = request("POST", "/");
  no_token.method_token.clear();  // falls back to the parsed method
  CHECK(eval(rules, no_token) == 0);
  no_token.method = portico::core::Method::Get;
  CHECK(eval(rules, no_token) == 1);
}

TEST_CASE("listener rules: query_string", "[listener_rules]") {
  ListenerRules rules =
      compile(one_rule("{query_string: [{key: version, value: v1}, {value: example}]}"));
  CHECK(eval(rules, request("GET", "/?version=v1")) == 1);
  CHECK(eval(rules, request("GET", "/?a=1&VERSION=V1&b")) == 1);  // case-insensitive
  CHECK(eval(rules, request("GET", "/?anykey=example")) == 1);    // value only: any key
  CHECK(eval(rules, request("GET", "/?version=v2")) == 0);
  CHECK(eval(rules, request("GET", "/?example")) == 0);  // no '=': an empty value
  CHECK(eval(rules, request("GET", "/")) == 0);
  ListenerRules wild = compile(one_rule("{query_string: [{key: \"q*\", value: \"a%20b?\"}]}"));
  CHECK(eval(wild, request("GET", "/?query=a%20bc")) == 1);  // URL-decoded
  CHECK(eval(wild, request("GET", "/?q=a%20b")) == 0);
  ListenerRules lit = compile(one_rule("{query_string: [{value: \"\\\\*\"}]}"));
  CHECK(eval(lit, request("GET", "/?x=*")) == 1);
  CHECK(eval(lit, request("GET", "/?x=%2A")) == 1);
  CHECK(eval(lit, request("GET", "/?x=y")) == 0);
  // A percent-encoded '*' in the pattern is a literal star, not a wildcard.
  ListenerRules enc = compile(one_rule("{query_string: [{value: \"a%2A\"}]}"));
  CHECK(eval(enc, request("GET", "/?x=a*")) == 1);
  CHECK(eval(enc, request("GET", "/?x=ab")) == 0);
}

TEST_CASE("listener rules: source_ip, from the peer or a trusted X-Forwarded-For",
          "[listener_rules]") {
  ListenerRules rules = compile(one_rule("{source_ip: [\"192.0.2.0/24\", \"2001:db8::/32\"]}"));
  RequestHead h = request("GET", "/");
  CHECK(eval(rules, h, "192.0.2.77") == 1);
  CHECK(eval(rules, h, "198.51.100.1") == 0);
  CHECK(eval(rules, h, "2001:db8:1::9") == 1);
  CHECK(eval(rules, h, "::ffff:192.0.2.5") == 1);  // v4-mapped peer
  h.headers.add("X-Forwarded-For", "192.0.2.1, 198.51.100.7");
  CHECK(eval(rules, h, "198.51.100.1", false) == 0);  // untrusted: the peer counts
  CHECK(eval(rules, h, "192.0.2.1", false) == 1);
  CHECK(eval(rules, h, "192.0.2.1", true) == 0);  // trusted: the last address counts
  RequestHead spoof = request("GET", "/");
  spoof.headers.add("x-forwarded-for", "10.0.0.1");
  spoof.headers.add("x-forwarded-for", "192.0.2.8");
  CHECK(eval(rules, spoof, "198.51.100.1", true) == 1);
  RequestHead junk = request("GET", "/");
  junk.headers.add("x-forwarded-for", "unknown");
  CHECK(eval(rules, junk, "192.0.2.3", true) == 1);  // unparsable: the peer counts
  CHECK(effective_source_ip(junk.headers, IpAddress::v4(1, 2, 3, 4), true) ==
        IpAddress::v4(1, 2, 3, 4));
}

TEST_CASE("listener rules: conditions AND, values OR", "[listener_rules]") {
  ListenerRules rules =
      compile(one_rule("{path_pattern: [\"/api/*\"], http_request_method: [GET, POST]}"));
  CHECK(eval(rules, request("GET", "/api/x")) == 1);
  CHECK(eval(rules, request("POST", "/api/x")) == 1);
  CHECK(eval(rules, request("PUT", "/api/x")) == 0);
  CHECK(eval(rules, request("GET", "/web/x")) == 0);
}

TEST_CASE("listener rules: ascending priority, default last", "[listener_rules]") {
  auto m =
      lb("      - {priority: 30, conditions: {path_pattern: [\"/*\"]}, actions: [{forward: "
         "{target_group: v1}}]}\n"
         "      - {priority: 5, conditions: {path_pattern: [\"/api/*\"]}, actions: [{forward: "
         "{target_groups: [{name: v2, weight: 3}, {name: v1, weight: 1}]}}]}\n"
         "      - {priority: 20, conditions: {path_pattern: [\"/api/v1/*\"]}, actions: "
         "[{fixed_response: {status_code: 418}}]}\n");
  ListenerRules rules = compile(m);
  RequestHead api = request("GET", "/api/v1/x");
  RuleRequest req;
  req.head = &api;
  RuleMatch match = rules.evaluate(req);
  CHECK(match.priority == 5);  // listed second, but lowest priority value
  REQUIRE(match.action->type == RuleActionType::Forward);
  REQUIRE(match.forward != nullptr);
  REQUIRE(match.forward->groups.size() == 2);
  CHECK(match.forward->groups[0].group == m->find_target_group("v2"));
  CHECK(match.forward->groups[0].weight == 3);
  CHECK(eval(rules, request("GET", "/other")) == 30);
  CHECK(eval(rules, request("GET", "")) == 0);  // "" matches no pattern: the default
  RequestHead none = request("GET", "");
  req.head = &none;
  RuleMatch fallback = rules.evaluate(req);
  CHECK(fallback.is_default());
  CHECK(fallback.forward == nullptr);
  CHECK(fallback.action == &m->load_balancers[0].default_action);
  CHECK(fallback.action->fixed_response.status_code == 404);
}

TEST_CASE("listener rules: evaluate allocates nothing", "[listener_rules]") {
  ListenerRules rules = compile(lb(
      "      - {priority: 1, conditions: [{host_header: [\"*.example.test\"]}, {http_header: "
      "{name: X-A, values: [\"a*\"]}}, {query_string: [{key: k, value: \"v*\"}]}], actions: "
      "[{fixed_response: {status_code: 200}}]}\n"
      "      - {priority: 2, conditions: {source_ip: [\"10.0.0.0/8\"], http_request_method: [GET], "
      "path_pattern: [\"/p/*\"]}, actions: [{forward: {target_group: v1}}]}\n"));
  RequestHead h = request("GET", "/p/q?a=b&k=v%20w", "www.example.test");
  h.headers.add("x-a", "nope");
  h.headers.add("x-forwarded-for", "10.1.1.1");
  RuleRequest req;
  req.head = &h;
  req.source_ip = IpAddress::v4(192, 0, 2, 1);
  req.trust_x_forwarded_for = true;
  g_allocations = 0;
  g_counting = true;
  RuleMatch m = rules.evaluate(req);
  g_counting = false;
  CHECK(m.priority == 2);
  CHECK(g_allocations.load() == 0);
}

TEST_CASE("redirect placeholders expand into a Location", "[listener_rules]") {
  using portico::config::RedirectAction;
  RequestHead h = request("GET", "/a/b?x=1&y=2", "Old.Example.Test:8080");
  RuleRequest req;
  req.head = &h;
  req.port = 8080;
  auto location = [&req](const RedirectAction& a) {
    std::string out;
    redirect_location(a, req, out);
    return out;
  };
  RedirectAction a;  // every component keeps the request's value
  a.host = "new.example.test";
  CHECK(location(a) == "http://new.example.test:8080/a/b?x=1&y=2");
  // The ALB User Guide's HTTPS example: protocol HTTPS, port 443, the rest kept.
  RedirectAction https;
  https.protocol = "HTTPS";
  https.port = "443";
  CHECK(location(https) == "https://old.example.test/a/b?x=1&y=2");
  // "#{protocol}://#{host}:#{port}/new/#{path}?#{query}".
  RedirectAction moved;
  moved.path = "/new/#{path}";
  CHECK(location(moved) == "http://old.example.test:8080/new/a/b?x=1&y=2");
  RedirectAction all;
  all.host = "#{host}.mirror.test";
  all.port = "80";
  all.path = "/#{host}/#{port}/#{path}";
  all.query = "from=#{protocol}://#{host}:#{port}/#{path}&#{query}";
  CHECK(location(all) ==
        "http://old.example.test.mirror.test/old.example.test/8080/a/b?"
        "from=http://old.example.test:8080/a/b&x=1&y=2");
  RedirectAction no_query;
  no_query.path = "/x";
  no_query.query = "";
  req.https = true;
  req.port = 443;
  CHECK(location(no_query) == "https://old.example.test/x");
  RequestHead bare = request("GET", "/", "h.test");
  req.head = &bare;
  RedirectAction root;
  root.protocol = "HTTP";
  root.port = "8000";
  CHECK(location(root) == "http://h.test:8000/");
}
