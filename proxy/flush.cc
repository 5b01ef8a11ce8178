#include "proxy/flush.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

namespace portico::proxy {

bool flush_now(bufferevent* bev) {
  evbuffer* out = bufferevent_get_output(bev);
  if (evbuffer_get_length(out) == 0) return true;
  if ((bufferevent_get_enabled(bev) & EV_WRITE) == 0) {
    evutil_socket_t fd = bufferevent_getfd(bev);
    // A file segment (sendfile) is written by a call of its own, so loop while bytes move.
    // A bufferevent keeps its output's start frozen; unfreeze around our write as its own write
    // callback does (libevent bufferevent_sock.c).
    evbuffer_unfreeze(out, 1);
    for (int i = 0; i < 4 && fd >= 0; ++i) {
      if (evbuffer_write(out, fd) <= 0) break;  // errors surface through the bufferevent below
      if (evbuffer_get_length(out) == 0) break;
    }
    evbuffer_freeze(out, 1);
    if (evbuffer_get_length(out) == 0) return true;
    bufferevent_enable(bev, EV_WRITE);
  }
  return false;
}

void write_drained(bufferevent* bev) {
  if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) bufferevent_disable(bev, EV_WRITE);
}

}  // namespace portico::proxy
