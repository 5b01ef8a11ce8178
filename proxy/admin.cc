#include "proxy/admin.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <chrono>
#include <cstdlib>
#include <string_view>

#include "core/log.h"
#include "core/loop.h"
#include "proxy/admin_targets.h"
#include "proxy/http1/parser.h"
#include "proxy/invalidations.h"
#include "proxy/response_writer.h"
#include "proxy/server.h"
#include "proxy/shared_tier.h"
#include "tls/manager.h"

namespace portico::proxy {
namespace {

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

class Admin::Session final : public http1::RequestEvents {
 public:
  Session(Admin& admin, int fd) : admin_(admin), parser_(limits(), *this) {
    bev_ = bufferevent_socket_new(admin.loop_.base(), fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev_, &Session::on_read, &Session::on_write, &Session::on_event, this);
    timeval tv{10, 0};
    bufferevent_set_timeouts(bev_, &tv, &tv);
    bufferevent_enable(bev_, EV_READ);
  }
  ~Session() override { bufferevent_free(bev_); }

 private:
  static const http1::Limits& limits() {
    static const http1::Limits l{8192, 16384, 64, 1 << 20};
    return l;
  }
  void on_head(std::unique_ptr<core::RequestHead> head) override { head_ = std::move(*head); }
  void on_body(std::string_view data) override {
    if (body_.size() + data.size() <= kMaxBody) {
      body_.append(data);
    } else {
      body_too_large_ = true;
    }
  }
  void on_complete() override { complete_ = true; }

  static void on_read(bufferevent* /*bev*/, void* arg) {
    auto* self = static_cast<Session*>(arg);
    if (self->responded_) return;
    evbuffer* in = bufferevent_get_input(self->bev_);
    for (;;) {
      size_t len = evbuffer_get_length(in);
      if (len == 0) break;
      const char* p = reinterpret_cast<const char*>(evbuffer_pullup(in, -1));
      size_t n = self->parser_.feed(std::string_view(p, len));
      if (self->parser_.phase() == http1::ParsePhase::Failed) {
        self->respond(self->parser_.error().status ? self->parser_.error().status : 400,
                      "text/plain", "bad request\n");
        return;
      }
      if (n == 0) break;
      evbuffer_drain(in, n);
      if (self->parser_.phase() == http1::ParsePhase::Complete) {
        self->complete_ = true;
        break;
      }
    }
    if (self->complete_) self->handle();
  }
  static void on_write(bufferevent* /*bev*/, void* arg) {
    auto* self = static_cast<Session*>(arg);
    if (self->responded_ && evbuffer_get_length(bufferevent_get_output(self->bev_)) == 0) {
      self->admin_.session_done(self);
    }
  }
  static void on_event(bufferevent* /*bev*/, short /*what*/, void* arg) {
    auto* self = static_cast<Session*>(arg);
    self->admin_.session_done(self);
  }

  void handle() {
    const std::string& path = head_.path;
    if (head_.method != core::Method::Get && head_.method != core::Method::Head) {
      const char* token = std::getenv(admin_.token_env_.c_str());
      if (token == nullptr || *token == '\0') {
        respond(403, "application/json",
                "{\"status\":\"error\",\"message\":\"admin token not configured: set " +
                    admin_.token_env_ + "\"}\n");
        return;
      }
      std::string_view auth = head_.headers.get_or("authorization");
      constexpr std::string_view kBearer = "Bearer ";
      if (auth.size() <= kBearer.size() || auth.substr(0, kBearer.size()) != kBearer ||
          !constant_time_equal(auth.substr(kBearer.size()), token)) {
        respond(401, "application/json",
                "{\"status\":\"error\",\"message\":\"missing or wrong bearer token\"}\n",
                "WWW-Authenticate: Bearer\r\n");
        return;
      }
    }
    if (path == "/healthz" && head_.method == core::Method::Get) {
      respond(200, "text/plain", "ok\n");
    } else if (path == "/metrics" && head_.method == core::Method::Get) {
      respond(200, "text/plain; version=0.0.4", admin_.server_.render_metrics());
    } else if (path == "/cache/stats" && head_.method == core::Method::Get) {
      respond(200, "application/json", cache_stats_json(admin_.server_));
    } else if (path == "/reload" && head_.method == core::Method::Post) {
      core::Result<uint64_t> r = admin_.server_.reload();
      if (r.ok()) {
        respond(200, "application/json",
                "{\"status\":\"ok\",\"generation\":" + std::to_string(r.value()) + "}\n");
      } else {
        respond(400, "application/json",
                "{\"status\":\"error\",\"message\":\"" + json_escape(r.error().detail) + "\"}\n");
      }
    } else if (path.starts_with("/target-groups/")) {
      handle_target_group(path.substr(sizeof("/target-groups/") - 1));
    } else if (path.starts_with("/distributions/")) {
      handle_distribution(path.substr(sizeof("/distributions/") - 1));
    } else if (path == "/certificates" || path.starts_with("/certificates/")) {
      handle_certificates(path.substr(sizeof("/certificates") - 1));
    } else if (path == "/healthz" || path == "/metrics" || path == "/reload" ||
               path == "/cache/stats") {
      respond(405, "text/plain", "method not allowed\n");
    } else {
      respond(404, "text/plain", "not found\n");
    }
  }

  // ELBv2 RegisterTargets / DeregisterTargets / DescribeTargetHealth (proxy/admin_targets.h):
  //   POST|DELETE /target-groups/{name}/targets  {"targets": [{"id": ..., "port": ...}]}
  //   GET /target-groups/{name}/health
  void handle_target_group(std::string_view rest) {
    size_t slash = rest.find('/');
    std::string_view name = rest.substr(0, slash);
    std::string_view tail = slash == std::string_view::npos ? "" : rest.substr(slash);
    const std::shared_ptr<routing::TargetGroup>& group = admin_.server_.target_groups()->find(name);
    if (!group) {
      respond(404, "application/json",
              "{\"status\":\"error\",\"message\":\"TargetGroupNotFound\"}\n");
      return;
    }
    auto now = std::chrono::steady_clock::now();
    if (tail == "/targets" &&
        (head_.method == core::Method::Post || head_.method == core::Method::Delete)) {
      if (body_too_large_) {
        respond(413, "application/json", "{\"status\":\"error\",\"message\":\"body too large\"}\n");
        return;
      }
      bool registering = head_.method == core::Method::Post;
      AdminAnswer a = change_targets(*group, body_, registering, now);
      if (a.status == 200 && registering) admin_.server_.poke_prober();
      respond(a.status, "application/json", a.body);
      return;
    }
    if (tail == "/health" && head_.method == core::Method::Get) {
      respond(200, "application/json", describe_json(*group, now));
      return;
    }
    bool known = tail == "/targets" || tail == "/health";
    respond(known ? 405 : 404, "text/plain", known ? "method not allowed\n" : "not found\n");
  }

  // ACM's DescribeCertificate / ImportCertificate / RenewCertificate, in JSON (tls/manager.h):
  //   GET /certificates, POST /certificates {certificate, private_key, ...},
  //   POST /certificates/{name}/renew
  void handle_certificates(std::string_view tail) {
    tls::Manager* m = admin_.server_.certificates();
    if (m == nullptr) {
      respond(404, "application/json",
              "{\"status\":\"error\",\"message\":\"no certificates are configured\"}\n");
      return;
    }
    if (tail.empty() && head_.method == core::Method::Get) {
      respond(200, "application/json", m->describe_json() + "\n");
      return;
    }
    core::Result<std::string> r =
        core::Error::make(core::ErrorKind::NotFound, core::Side::Downstream, "not found");
    if (tail.empty() && head_.method == core::Method::Post) {
      if (body_too_large_) {
        respond(413, "application/json", "{\"status\":\"error\",\"message\":\"body too large\"}\n");
        return;
      }
      r = m->import_json(body_);
    } else if (tail.starts_with("/") && tail.ends_with("/renew") &&
               head_.method == core::Method::Post) {
      r = m->renew(tail.substr(1, tail.size() - 1 - (sizeof("/renew") - 1)));
    } else if (tail.empty()) {
      respond(405, "text/plain", "method not allowed\n");
      return;
    }
    if (r.ok()) {
      respond(200, "application/json", r.value() + "\n");
      return;
    }
    int status = r.error().kind == core::ErrorKind::NotFound     ? 404
                 : r.error().kind == core::ErrorKind::ParseError ? 400
                                                                 : 500;
    respond(status, "application/json",
            "{\"status\":\"error\",\"message\":\"" + json_escape(r.error().detail) + "\"}\n");
  }

  // CloudFront's CreateInvalidation / GetInvalidation / ListInvalidations, in JSON:
  //   POST /distributions/{id}/invalidations  {"paths": [...]}  -> 201 + Location
  //   GET  /distributions/{id}/invalidations[/{invalidation id}]
  void handle_distribution(std::string_view rest) {
    size_t slash = rest.find('/');
    std::string_view dist = rest.substr(0, slash);
    std::string_view tail = slash == std::string_view::npos ? "" : rest.substr(slash);
    if (!admin_.server_.has_distribution(dist)) {
      respond(404, "application/json",
              "{\"status\":\"error\",\"message\":\"NoSuchDistribution\"}\n");
      return;
    }
    Invalidations& inv = admin_.server_.invalidations();
    if (tail == "/invalidations" && head_.method == core::Method::Post) {
      if (body_too_large_) {
        respond(413, "application/json", "{\"status\":\"error\",\"message\":\"body too large\"}\n");
        return;
      }
      core::Result<const Invalidation*> r = inv.create(dist, body_);
      if (!r.ok()) {
        respond(400, "application/json",
                "{\"status\":\"error\",\"message\":\"" + json_escape(r.error().detail) + "\"}\n");
        return;
      }
      const Invalidation& i = *r.value();
      respond(201, "application/json", Invalidations::to_json(i) + "\n",
              "Location: /distributions/" + std::string(dist) + "/invalidations/" + i.id + "\r\n");
      return;
    }
    if (tail == "/invalidations" && head_.method == core::Method::Get) {
      std::string out = "{\"items\":[";
      bool first = true;
      for (const Invalidation* i : inv.list(dist)) {
        if (!first) out += ',';
        first = false;
        out += Invalidations::to_json(*i);
      }
      respond(200, "application/json", out + "]}\n");
      return;
    }
    constexpr std::string_view kPrefix = "/invalidations/";
    if (tail.starts_with(kPrefix) && head_.method == core::Method::Get) {
      const Invalidation* i = inv.find(dist, tail.substr(kPrefix.size()));
      if (i == nullptr) {
        respond(404, "application/json",
                "{\"status\":\"error\",\"message\":\"NoSuchInvalidation\"}\n");
        return;
      }
      respond(200, "application/json", Invalidations::to_json(*i) + "\n");
      return;
    }
    respond(tail == "/invalidations" ? 405 : 404, "text/plain",
            tail == "/invalidations" ? "method not allowed\n" : "not found\n");
  }

  void respond(int status, std::string_view type, const std::string& body,
               std::string_view extra = {}) {
    responded_ = true;
    std::string head;
    append_status_line(head, status, {});
    append_header(head, "Content-Type", type);
    append_header(head, "Content-Length", std::to_string(body.size()));
    append_header(head, "Connection", "close");
    head += extra;
    head += "\r\n";
    evbuffer* out = bufferevent_get_output(bev_);
    evbuffer_add(out, head.data(), head.size());
    if (head_.method != core::Method::Head) evbuffer_add(out, body.data(), body.size());
    bufferevent_disable(bev_, EV_READ);
  }

  Admin& admin_;
  bufferevent* bev_;
  http1::RequestParser parser_;
  static constexpr size_t kMaxBody = 1 << 20;
  core::RequestHead head_;
  std::string body_;
  bool body_too_large_ = false;
  bool complete_ = false;
  bool responded_ = false;
};

Admin::Admin(Server& server, core::Loop& loop, int fd, std::string token_env)
    : server_(server), loop_(loop), token_env_(std::move(token_env)) {
  listener_ = evconnlistener_new(loop.base(), &Admin::on_accept, this,
                                 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
}

Admin::~Admin() {
  evconnlistener_free(listener_);
  for (Session* s : sessions_) delete s;
}

void Admin::on_accept(evconnlistener* /*l*/, int fd, struct sockaddr* /*addr*/, int /*len*/,
                      void* arg) {
  auto* self = static_cast<Admin*>(arg);
  self->sessions_.insert(new Session(*self, fd));
}

void Admin::session_done(Session* s) {
  if (sessions_.erase(s) == 0) return;
  // Deleting from inside the session's own bufferevent callback is safe: libevent defers the
  // free of a bufferevent released in its callback.
  delete s;
}

}  // namespace portico::proxy
