// Fuzz target for ALB condition matching. Input: "<flags byte><pattern>\n<text>".
// flags bit 0: case-insensitive; bit 1: '\' escapes; bit 2: percent-decode the text.
// 1. routing::WildcardPattern must agree with a plain memoized recursive glob over the
//    preprocessed pattern and text on short inputs; any disagreement aborts.
// 2. The same strings, unvalidated, become every condition type of a one-rule load balancer
//    (host_header, path_pattern, http_header, query_string, http_request_method, source_ip) and
//    a request built from the text is evaluated: it must not crash, and must return an action.
// 3. IpAddress / Cidr parsing of the text must be self-consistent.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "routing/ip_address.h"
#include "routing/listener_rules.h"
#include "routing/wildcard.h"

namespace {

constexpr size_t kMaxLen = 48;
constexpr int kStar = -1;
constexpr int kOne = -2;

int fold(int c, bool on) { return (on && c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c; }

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<int> symbols(std::string_view p, bool fold_case, bool escapes) {
  std::vector<int> out;
  for (size_t i = 0; i < p.size(); ++i) {
    int c = static_cast<unsigned char>(p[i]);
    if (escapes && c == '\\' && i + 1 < p.size()) {
      out.push_back(fold(static_cast<unsigned char>(p[++i]), fold_case));
    } else if (c == '*') {
      out.push_back(kStar);
    } else if (c == '?') {
      out.push_back(kOne);
    } else {
      out.push_back(fold(c, fold_case));
    }
  }
  return out;
}

std::vector<int> text_bytes(std::string_view t, bool fold_case, bool decode) {
  std::vector<int> out;
  for (size_t i = 0; i < t.size(); ++i) {
    if (decode && t[i] == '%' && i + 2 < t.size() && hex(t[i + 1]) >= 0 && hex(t[i + 2]) >= 0) {
      out.push_back(fold(hex(t[i + 1]) * 16 + hex(t[i + 2]), fold_case));
      i += 2;
    } else {
      out.push_back(fold(static_cast<unsigned char>(t[i]), fold_case));
    }
  }
  return out;
}

// memo[p][t]: 0 unknown, 1 false, 2 true.
bool ref_match(const std::vector<int>& pat, const std::vector<int>& text, size_t p, size_t t,
               uint8_t (&memo)[kMaxLen + 2][kMaxLen + 2]) {
  uint8_t& slot = memo[p][t];
  if (slot != 0) return slot == 2;
  bool r;
  if (p == pat.size()) {
    r = t == text.size();
  } else if (pat[p] == kStar) {
    r = ref_match(pat, text, p + 1, t, memo) ||
        (t < text.size() && ref_match(pat, text, p, t + 1, memo));
  } else {
    r = t < text.size() && (pat[p] == kOne || pat[p] == text[t]) &&
        ref_match(pat, text, p + 1, t + 1, memo);
  }
  slot = r ? 2 : 1;
  return r;
}

void check_wildcard(uint8_t flags, std::string_view pattern, std::string_view text) {
  using portico::routing::WildcardPattern;
  bool fold_case = (flags & 1) != 0;
  bool escapes = (flags & 2) != 0;
  bool decode = (flags & 4) != 0;
  WildcardPattern compiled(
      pattern, fold_case ? WildcardPattern::Case::Insensitive : WildcardPattern::Case::Sensitive,
      escapes ? WildcardPattern::Escapes::Backslash : WildcardPattern::Escapes::None);
  std::vector<int> pat = symbols(pattern, fold_case, escapes);
  std::vector<int> txt = text_bytes(text, fold_case, decode);
  uint8_t memo[kMaxLen + 2][kMaxLen + 2];
  std::memset(memo, 0, sizeof memo);
  bool want = ref_match(pat, txt, 0, 0, memo);
  bool got = decode ? compiled.matches_percent_decoded(text) : compiled.matches(text);
  if (want != got) {
    std::fprintf(stderr, "mismatch: flags=%u pattern=[%.*s] text=[%.*s] compiled=%d ref=%d\n",
                 flags, static_cast<int>(pattern.size()), pattern.data(),
                 static_cast<int>(text.size()), text.data(), got, want);
    std::abort();
  }
}

void check_rules(std::string_view pattern, std::string_view text) {
  namespace config = portico::config;
  auto model = std::make_shared<config::Model>();
  config::TargetGroup tg;
  tg.name = "tg";
  model->target_groups.push_back(tg);
  config::LoadBalancer lb;
  lb.name = "lb";
  config::ListenerRule rule;
  rule.priority = 1;
  std::string p(pattern);
  rule.conditions.host_header = {p};
  rule.conditions.path_pattern = {p, "/*"};
  rule.conditions.http_header = {{"x-" + p, {p, "*"}}};
  rule.conditions.http_request_method = {p};
  rule.conditions.query_string = {{{true, p, p}, {false, "", p}}};
  rule.conditions.source_ip = {p, "0.0.0.0/0", "::/0"};
  rule.action.type = config::RuleActionType::Forward;
  rule.action.forward.target_groups = {{"tg", 1, &model->target_groups[0], {}}};
  lb.rules.push_back(rule);
  lb.default_action.type = config::RuleActionType::Redirect;
  lb.default_action.redirect.path = "/#{path}/" + p;
  model->load_balancers.push_back(lb);
  portico::routing::ListenerRules rules(model, model->load_balancers[0]);

  portico::core::RequestHead head;
  std::string t(text);
  head.method_token = t;
  head.path = t;
  head.query = t;
  head.authority = t;
  head.headers.add("x-" + p, t);
  head.headers.add("x-forwarded-for", t);
  portico::routing::RuleRequest req;
  req.head = &head;
  req.trust_x_forwarded_for = !t.empty() && t[0] == '1';
  if (auto ip = portico::routing::IpAddress::parse(t)) req.source_ip = *ip;
  portico::routing::RuleMatch m = rules.evaluate(req);
  if (m.action == nullptr || (m.priority == 1 && m.forward == nullptr)) std::abort();
  if (!m.is_default()) return;
  std::string location;
  portico::routing::redirect_location(m.action->redirect, req, location);
  if (location.rfind("http://", 0) != 0) std::abort();
}

void check_ip(std::string_view text) {
  using portico::routing::Cidr;
  using portico::routing::IpAddress;
  if (std::optional<IpAddress> ip = IpAddress::parse(text)) {
    std::optional<IpAddress> again = IpAddress::parse(ip->to_string());
    if (!again || !(*again == *ip)) std::abort();
  }
  if (std::optional<Cidr> c = Cidr::parse(text)) {
    if (!c->contains(c->base)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint8_t flags = data[0];
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  size_t nl = input.find('\n');
  if (nl == std::string_view::npos) return 0;
  std::string_view pattern = input.substr(0, nl);
  std::string_view text = input.substr(nl + 1);
  check_ip(pattern);
  check_ip(text);
  if (pattern.size() > kMaxLen - 1 || text.size() > kMaxLen) return 0;
  check_wildcard(flags, pattern, text);
  check_rules(pattern, text);
  return 0;
}
