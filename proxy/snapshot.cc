#include "proxy/snapshot.h"

#include <netdb.h>

#include <cstring>

namespace portico::proxy {

core::Result<SnapshotPtr> build_snapshot(std::shared_ptr<const config::Model> model,
                                         uint64_t generation) {
  auto snap = std::make_shared<Snapshot>();
  snap->model = model;
  snap->generation = generation;
  snap->router = std::make_unique<routing::Router>(model);
  for (const config::Distribution& d : model->distributions) {
    for (const config::Origin& o : d.origins) {
      if (o.kind != config::OriginKind::Custom) continue;
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* res = nullptr;
      std::string port = std::to_string(o.custom.port);
      int rc = getaddrinfo(o.custom.host.c_str(), port.c_str(), &hints, &res);
      if (rc != 0 || res == nullptr) {
        return core::Error::make(core::ErrorKind::Config, core::Side::Internal,
                                 "distribution " + d.id + " origin " + o.id + ": cannot resolve " +
                                     o.custom.host + ": " + gai_strerror(rc));
      }
      OriginTarget t;
      std::memcpy(&t.addr, res->ai_addr, res->ai_addrlen);
      t.addr_len = static_cast<socklen_t>(res->ai_addrlen);
      freeaddrinfo(res);
      // Connections carry the origin's timeouts, so origins that share host:port but differ in
      // timeouts get separate pools.
      t.pool_key =
          o.custom.host + ":" + port + "#" + std::to_string(o.custom.origin_read_timeout.count());
      t.host_header = o.custom.port == 80 ? o.custom.host : o.custom.host + ":" + port;
      t.stats_key = d.id + "/" + o.id;
      snap->origins.emplace(&o, std::move(t));
    }
  }
  return SnapshotPtr(std::move(snap));
}

}  // namespace portico::proxy
