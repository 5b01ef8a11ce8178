#include "proxy/upstream/pool.h"

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "core/loop.h"

namespace portico::proxy::upstream {

Pool::Pool(core::Loop& loop) : loop_(loop) {}

Pool::~Pool() { close_all(); }

bufferevent* Pool::acquire(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  Idle& idle = it->second.back();
  bufferevent* bev = idle.bev;
  event_free(idle.timer);
  bufferevent_setcb(bev, nullptr, nullptr, nullptr, nullptr);
  it->second.pop_back();
  --count_;
  return bev;
}

void Pool::release(const std::string& key, bufferevent* bev, std::chrono::milliseconds keepalive) {
  List& list = idle_[key];
  if (list.size() >= kMaxIdlePerKey) {
    bufferevent_free(bev);
    return;
  }
  list.push_back(Idle{this, key, bev, nullptr});
  Idle* idle = &list.back();
  idle->timer = evtimer_new(loop_.base(), &Pool::on_idle_timeout, idle);
  timeval tv{static_cast<time_t>(keepalive.count() / 1000),
             static_cast<suseconds_t>((keepalive.count() % 1000) * 1000)};
  evtimer_add(idle->timer, &tv);
  bufferevent_set_timeouts(bev, nullptr, nullptr);
  bufferevent_setcb(bev, &Pool::on_idle_read, nullptr, &Pool::on_idle_event, idle);
  bufferevent_enable(bev, EV_READ);
  ++count_;
}

void Pool::drop(Idle* idle) {
  List& list = idle_[idle->key];
  for (auto it = list.begin(); it != list.end(); ++it) {
    if (&*it == idle) {
      event_free(it->timer);
      bufferevent_free(it->bev);
      list.erase(it);
      --count_;
      return;
    }
  }
}

void Pool::on_idle_read(bufferevent* /*bev*/, void* arg) {
  // An origin must not send anything on an idle connection; whatever it is, the connection can
  // no longer be trusted to frame the next response.
  auto* idle = static_cast<Idle*>(arg);
  idle->pool->drop(idle);
}

void Pool::on_idle_event(bufferevent* /*bev*/, short /*what*/, void* arg) {
  auto* idle = static_cast<Idle*>(arg);
  idle->pool->drop(idle);
}

void Pool::on_idle_timeout(int /*fd*/, short /*what*/, void* arg) {
  auto* idle = static_cast<Idle*>(arg);
  idle->pool->drop(idle);
}

void Pool::close_all() {
  for (auto& [key, list] : idle_) {
    for (Idle& idle : list) {
      event_free(idle.timer);
      bufferevent_free(idle.bev);
    }
    list.clear();
  }
  count_ = 0;
}

}  // namespace portico::proxy::upstream
