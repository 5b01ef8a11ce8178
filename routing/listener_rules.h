// ListenerRules: an Application Load Balancer's listener rules compiled once per config snapshot
// and evaluated read-only by every worker (ALB User Guide, "Listener rules" and "Condition types
// for listener rules"). Rules are tried by ascending priority, the default action last. Within a
// rule the conditions are ANDed and the values of one condition ORed:
//   host_header          case-insensitive wildcards (`*`, `?`) over the Host without its port
//   path_pattern         case-sensitive wildcards over the path as received (no query)
//   http_header          case-insensitive name; case-insensitive wildcards over any field value
//   http_request_method  exact, case-sensitive token
//   query_string         case-insensitive wildcards over percent-decoded keys and values of any
//                        `&`-separated parameter (`\*`, `\?` literal; percent escapes in
//                        the pattern are decoded too); a value-only entry matches any key; a
//                        parameter without '=' has an empty value
//   source_ip            CIDRs (v4, v6) over the connection's address, or, when the caller
//                        trusts X-Forwarded-For (an in-process hop or a trusted proxy in front),
//                        over its last address: the one that trusted hop appended. ALB itself
//                        never reads X-Forwarded-For here.
// Keeps the Model alive; every pointer handed out points into it or into this object.
// evaluate() allocates nothing; redirect_location() appends to a caller's buffer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/model.h"
#include "core/http.h"
#include "routing/balancer.h"
#include "routing/ip_address.h"
#include "routing/path_pattern.h"
#include "routing/wildcard.h"

namespace portico::routing {

// What rules see of a request besides its head.
struct RuleRequest {
  const core::RequestHead* head = nullptr;  // required
  IpAddress source_ip;                      // the downstream connection's peer address
  bool trust_x_forwarded_for = false;       // use the last X-Forwarded-For address instead
  bool https = false;                       // the listener's protocol, for #{protocol}
  uint16_t port = 80;                       // the listener's port, for #{port}
};

// A forward action with its weighted target groups resolved.
struct ForwardPlan {
  const config::ForwardAction* action = nullptr;
  std::vector<WeightedTargetGroup> groups;  // in config order
};

struct RuleMatch {
  const config::RuleAction* action = nullptr;  // never null from evaluate()
  const ForwardPlan* forward = nullptr;        // set when action->type == Forward
  int priority = 0;                            // 0 = the default action
  bool is_default() const { return priority == 0; }
};

class ListenerRules {
 public:
  // Compiles `load_balancer` (which must point into *model). `model` must be non-null.
  ListenerRules(std::shared_ptr<const config::Model> model,
                const config::LoadBalancer& load_balancer);
  ListenerRules(const ListenerRules&) = delete;
  ListenerRules& operator=(const ListenerRules&) = delete;

  // The action of the first rule (by priority) whose conditions all hold, else the default.
  // Precondition: request.head != nullptr. No allocation.
  RuleMatch evaluate(const RuleRequest& request) const;

  const config::LoadBalancer& load_balancer() const { return *load_balancer_; }

 private:
  struct Header {
    std::string name;  // lower-case
    std::vector<WildcardPattern> values;
  };
  struct QueryPair {
    bool has_key = false;
    WildcardPattern key;
    WildcardPattern value;
  };
  struct Rule {
    int priority = 0;
    const config::RuleAction* action = nullptr;
    size_t forward = SIZE_MAX;  // index into plans_
    std::vector<WildcardPattern> hosts;
    std::vector<PathPattern> paths;
    std::vector<Header> headers;  // each one condition
    std::vector<std::string_view> methods;
    std::vector<std::vector<QueryPair>> queries;  // each one condition
    std::vector<Cidr> cidrs;
  };

  bool matches(const Rule& rule, const RuleRequest& request) const;
  size_t plan(const config::RuleAction& action);
  RuleMatch match_of(const Rule& rule) const;

  std::shared_ptr<const config::Model> model_;
  const config::LoadBalancer* load_balancer_;
  std::vector<Rule> rules_;  // ascending priority, then the default (no conditions)
  std::vector<ForwardPlan> plans_;
};

// The source address source_ip conditions use: the last X-Forwarded-For address when `trusted`
// and it parses, else `peer`. No allocation.
IpAddress effective_source_ip(const core::Headers& headers, const IpAddress& peer, bool trusted);

// Appends the Location of a redirect action to `out`: the action's protocol, host, port, path and
// query with #{protocol} (http/https), #{host} (Host without port), #{port} (listener port),
// #{path} (the path without its leading '/') and #{query} (without '?') taken from the request;
// the port is left out when it is the scheme's default and "?query" when the query is empty.
void redirect_location(const config::RedirectAction& action, const RuleRequest& request,
                       std::string& out);

}  // namespace portico::routing
