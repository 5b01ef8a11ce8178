#include "proxy/admin.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <cstdlib>
#include <string_view>

#include "core/log.h"
#include "core/loop.h"
#include "proxy/http1/parser.h"
#include "proxy/response_writer.h"
#include "proxy/server.h"

namespace portico::proxy {
namespace {

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    } else {
      out += c;
    }
  }
  return out;
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
    static const http1::Limits l{8192, 16384, 64, 65536};
    return l;
  }
  void on_head(core::RequestHead&& head) override { head_ = std::move(head); }
  void on_body(std::string_view /*data*/) override {}
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
    } else if (path == "/reload" && head_.method == core::Method::Post) {
      core::Result<uint64_t> r = admin_.server_.reload();
      if (r.ok()) {
        respond(200, "application/json",
                "{\"status\":\"ok\",\"generation\":" + std::to_string(r.value()) + "}\n");
      } else {
        respond(400, "application/json",
                "{\"status\":\"error\",\"message\":\"" + json_escape(r.error().detail) + "\"}\n");
      }
    } else if (path == "/healthz" || path == "/metrics" || path == "/reload") {
      respond(405, "text/plain", "method not allowed\n");
    } else {
      respond(404, "text/plain", "not found\n");
    }
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
  core::RequestHead head_;
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
