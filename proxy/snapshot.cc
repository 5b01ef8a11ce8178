#include "proxy/snapshot.h"

#include <netdb.h>

#include <cstring>

#include "core/log.h"

namespace portico::proxy {
namespace {

core::Error origin_error(const config::Distribution& d, const config::Origin& o,
                         const std::string& detail) {
  return core::Error::make(core::ErrorKind::Config, core::Side::Internal,
                           "distribution " + d.id + " origin " + o.id + ": " + detail);
}

// Resolves host:port into `t` (address, pool key). Connections carry the origin's timeouts, so
// origins that share host:port but differ in timeouts get separate pools.
core::Status resolve_target(const std::string& host, uint16_t port, OriginTarget& t) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port_text = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    return core::Error::make(core::ErrorKind::Config, core::Side::Internal,
                             "cannot resolve " + host + ": " + gai_strerror(rc));
  }
  std::memcpy(&t.addr, res->ai_addr, res->ai_addrlen);
  t.addr_len = static_cast<socklen_t>(res->ai_addrlen);
  freeaddrinfo(res);
  t.pool_key = host + ":" + port_text + "#" + std::to_string(t.read_timeout.count());
  return {};
}

// ALB's side of a target connection: connect timeout 10 s, read = idle timeout, no retry.
OriginTarget load_balancer_target(std::string stats_key, const config::LoadBalancerOrigin& o) {
  OriginTarget t;
  t.stats_key = std::move(stats_key);
  t.connection_timeout = o.connection_timeout;
  t.connection_attempts = 1;
  t.read_timeout = o.read_timeout;
  return t;
}

}  // namespace

core::Result<SnapshotPtr> build_snapshot(std::shared_ptr<const config::Model> model,
                                         uint64_t generation,
                                         std::shared_ptr<routing::TargetGroupSet> target_groups,
                                         std::shared_ptr<const routing::StickyCodec> sticky) {
  auto snap = std::make_shared<Snapshot>();
  snap->model = model;
  snap->generation = generation;
  snap->router = std::make_unique<routing::Router>(model);
  snap->target_groups = target_groups ? std::move(target_groups)
                                      : std::make_shared<routing::TargetGroupSet>(
                                            *model, std::chrono::steady_clock::now());
  snap->sticky = sticky
                     ? std::move(sticky)
                     : std::make_shared<const routing::StickyCodec>(routing::StickyKey::random());
  for (const config::LoadBalancer& lb : model->load_balancers) {
    LoadBalancerEntry& e = snap->load_balancers[&lb];
    e.rules = std::make_unique<routing::ListenerRules>(model, lb);
    e.upstream = load_balancer_target("lb/" + lb.name, config::LoadBalancerOrigin{});
    for (const config::Listener& l : lb.listeners) snap->load_balancer_listeners[l.name] = &lb;
  }
  for (const config::Distribution& d : model->distributions) {
    for (const config::Origin& o : d.origins) {
      OriginTarget t;
      t.stats_key = d.id + "/" + o.id;
      if (o.kind == config::OriginKind::Custom) {
        const config::CustomOrigin& c = o.custom;
        t.connection_timeout = c.connection_timeout;
        t.connection_attempts = c.connection_attempts;
        t.read_timeout = c.origin_read_timeout;
        t.keepalive_timeout = c.origin_keepalive_timeout;
        if (core::Status st = resolve_target(c.host, c.port, t); !st.ok()) {
          return origin_error(d, o, st.error().detail);
        }
        t.host_header = c.port == 80 ? c.host : c.host + ":" + std::to_string(c.port);
      } else if (o.kind == config::OriginKind::S3) {
        const config::S3Origin& c = o.s3;
        t.connection_timeout = c.connection_timeout;
        t.connection_attempts = c.connection_attempts;
        t.read_timeout = c.origin_read_timeout;
        t.keepalive_timeout = c.origin_keepalive_timeout;
        if (core::Status st = resolve_target(c.host, c.port, t); !st.ok()) {
          return origin_error(d, o, st.error().detail);
        }
        t.host_header = c.host_header;
        S3Access& s3 = t.s3.emplace();
        s3.sign = c.origin_access_control == config::OriginAccessControl::SigV4;
        s3.region = c.region;
        s3.path_prefix = c.path_prefix;
        s3.missing = c.missing_object == 404 ? origin::MissingObject::NotFound404
                                             : origin::MissingObject::Forbidden403;
        if (s3.sign) {
          origin::CredentialsConfig cc{c.credentials.access_key_id_env,
                                       c.credentials.secret_access_key_env,
                                       c.credentials.session_token_env};
          core::Result<origin::Credentials> creds = origin::resolve_credentials(cc);
          if (!creds.ok()) {
            return origin_error(
                d, o, creds.error().detail + " (origin_access_control: sigv4 signs every request)");
          }
          s3.credentials = std::move(creds.value());
          PORTICO_INFO("origin %s: s3 bucket %s region %s, signing (SigV4) with key %s from %s",
                       t.stats_key.c_str(), c.bucket.c_str(), c.region.c_str(),
                       s3.credentials.redacted().c_str(), s3.credentials.source.c_str());
        } else {
          PORTICO_INFO(
              "origin %s: s3 bucket %s region %s, unsigned requests "
              "(origin_access_control: none)",
              t.stats_key.c_str(), c.bucket.c_str(), c.region.c_str());
        }
      } else if (o.kind == config::OriginKind::LoadBalancer) {
        t = load_balancer_target(d.id + "/" + o.id, o.load_balancer);
      } else {
        continue;
      }
      snap->origins.emplace(&o, std::move(t));
    }
  }
  return SnapshotPtr(std::move(snap));
}

}  // namespace portico::proxy
