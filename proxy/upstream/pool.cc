#include "proxy/upstream/pool.h"

#include <event2/bufferevent.h>
#include <event2/event.h>

namespace portico::proxy::upstream {

Pool::Pool(core::Loop& loop) : sweep_timer_(loop, [this] { sweep(); }) {}

Pool::~Pool() { close_all(); }

bufferevent* Pool::acquire(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  std::vector<Idle>& stack = it->second;
  Clock::time_point now = Clock::now();
  while (!stack.empty()) {
    Idle idle = stack.back();
    stack.pop_back();
    --count_;
    if (idle.expires <= now) {
      bufferevent_free(idle.bev);
      continue;
    }
    bufferevent_setcb(idle.bev, nullptr, nullptr, nullptr, nullptr);
    return idle.bev;
  }
  return nullptr;
}

void Pool::release(const std::string& key, bufferevent* bev, std::chrono::milliseconds keepalive) {
  std::vector<Idle>& stack = idle_[key];
  if (stack.size() >= kMaxIdlePerKey) {
    bufferevent_free(bev);
    return;
  }
  stack.push_back(Idle{bev, Clock::now() + keepalive});
  bufferevent_setcb(bev, &Pool::on_idle_read, nullptr, &Pool::on_idle_event, this);
  if ((bufferevent_get_enabled(bev) & EV_READ) == 0) bufferevent_enable(bev, EV_READ);
  ++count_;
  if (!sweep_timer_.armed()) sweep_timer_.arm(std::chrono::milliseconds(1000));
}

void Pool::drop(bufferevent* bev) {
  for (auto& [key, stack] : idle_) {
    for (auto it = stack.begin(); it != stack.end(); ++it) {
      if (it->bev == bev) {
        bufferevent_free(bev);
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
        bufferevent_free(idle.bev);
        --count_;
      } else {
        stack[kept++] = idle;
      }
    }
    stack.resize(kept);
  }
  if (count_ > 0) sweep_timer_.arm(std::chrono::milliseconds(1000));
}

void Pool::on_idle_read(bufferevent* bev, void* arg) {
  // An origin must not send anything on an idle connection; whatever it is, the connection can
  // no longer be trusted to frame the next response.
  static_cast<Pool*>(arg)->drop(bev);
}

void Pool::on_idle_event(bufferevent* bev, short /*what*/, void* arg) {
  static_cast<Pool*>(arg)->drop(bev);
}

void Pool::close_all() {
  for (auto& [key, stack] : idle_) {
    for (Idle& idle : stack) bufferevent_free(idle.bev);
    stack.clear();
  }
  count_ = 0;
  sweep_timer_.cancel();
}

}  // namespace portico::proxy::upstream
