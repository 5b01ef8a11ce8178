#include "proxy/upstream/pool.h"

#include <event2/bufferevent.h>
#include <event2/event.h>

namespace portico::proxy::upstream {
namespace {
void dispatch(int fd, short what, void* arg) {
  auto* c = static_cast<Conn*>(arg);
  c->on_read(c->owner, fd, what);
}
}  // namespace

Conn* make_conn(bufferevent* bev) {
  auto* c = new Conn;
  c->bev = bev;
  c->rev = event_new(bufferevent_get_base(bev), bufferevent_getfd(bev), EV_READ | EV_PERSIST,
                     &dispatch, c);
  return c;
}

void conn_read(Conn* c, const timeval* timeout) {
  event_add(c->rev, timeout);  // on a pending event this only moves its timeout
  c->reading = true;
}

void conn_pause(Conn* c) {
  if (!c->reading) return;
  event_del(c->rev);
  c->reading = false;
}

void close_conn(Conn* c) {
  if (c == nullptr) return;
  event_free(c->rev);
  bufferevent_free(c->bev);
  delete c;
}

Pool::Pool(core::Loop& loop) : sweep_timer_(loop, [this] { sweep(); }) {}

Pool::~Pool() { close_all(); }

std::vector<Pool::Idle>& Pool::stack_for(const std::string& key) {
  // A worker mostly talks to one origin or a few: the last key's list is found without hashing.
  // idle_ never erases an entry, so the pointer stays valid.
  if (last_stack_ != nullptr && key == last_key_) return *last_stack_;
  last_stack_ = &idle_[key];
  last_key_ = key;
  return *last_stack_;
}

Conn* Pool::acquire(const std::string& key) {
  std::vector<Idle>& stack = stack_for(key);
  // The loop's time: an idle connection expiring within this iteration is still fine to use.
  const Clock::time_point now = core::loop_now();
  while (!stack.empty()) {
    Idle idle = stack.back();
    stack.pop_back();
    --count_;
    if (idle.expires <= now) {
      close_conn(idle.conn);
      continue;
    }
    bufferevent_setcb(idle.conn->bev, nullptr, nullptr, nullptr, nullptr);
    return idle.conn;
  }
  return nullptr;
}

void Pool::release(const std::string& key, Conn* conn, std::chrono::milliseconds keepalive) {
  std::vector<Idle>& stack = stack_for(key);
  if (stack.size() >= kMaxIdlePerKey) {
    close_conn(conn);
    return;
  }
  stack.push_back(Idle{conn, core::loop_now() + keepalive});
  bufferevent_setcb(conn->bev, nullptr, nullptr, &Pool::on_idle_event, this);
  conn->on_read = &Pool::on_idle_read;
  conn->owner = this;
  if (!conn->reading) conn_read(conn, nullptr);
  ++count_;
  if (!sweep_timer_.armed()) sweep_timer_.arm(std::chrono::milliseconds(1000));
}

void Pool::drop(int fd) {
  for (auto& [key, stack] : idle_) {
    for (auto it = stack.begin(); it != stack.end(); ++it) {
      if (bufferevent_getfd(it->conn->bev) == fd) {
        close_conn(it->conn);
        stack.erase(it);
        --count_;
        return;
      }
    }
  }
}

void Pool::sweep() {
  Clock::time_point now = Clock::now();
  for (auto& [key, stack] : idle_) {
    size_t kept = 0;
    for (Idle& idle : stack) {
      if (idle.expires <= now) {
        close_conn(idle.conn);
        --count_;
      } else {
        stack[kept++] = idle;
      }
    }
    stack.resize(kept);
  }
  if (count_ > 0) sweep_timer_.arm(std::chrono::milliseconds(1000));
}

void Pool::on_idle_read(void* owner, int fd, short what) {
  // The read timeout left by the last exchange may still tick while idle: not an event.
  if ((what & EV_READ) == 0) return;
  // An origin must not send anything on an idle connection; whatever it is (data or EOF), the
  // connection can no longer be trusted to frame the next response.
  static_cast<Pool*>(owner)->drop(fd);
}

void Pool::on_idle_event(bufferevent* bev, short /*what*/, void* arg) {
  static_cast<Pool*>(arg)->drop(bufferevent_getfd(bev));
}

void Pool::close_all() {
  for (auto& [key, stack] : idle_) {
    for (Idle& idle : stack) close_conn(idle.conn);
    stack.clear();
  }
  count_ = 0;
  sweep_timer_.cancel();
}

}  // namespace portico::proxy::upstream
