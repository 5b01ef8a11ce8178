#include "proxy/flush.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

namespace portico::proxy {
namespace {

// One send (or sendmsg over up to kMaxVec chains) of at most `budget` bytes of `out`'s memory
// chains; drains what went.
long send_memory(evbuffer* out, int fd, size_t budget) {
  constexpr int kMaxVec = 64;
  evbuffer_iovec vec[kMaxVec];
  int n = evbuffer_peek(out, static_cast<ev_ssize_t>(budget), nullptr, vec, kMaxVec);
  if (n <= 0) return 0;
  n = std::min(n, kMaxVec);
  size_t sum = 0;
  for (int i = 0; i < n; ++i) {  // the last chain peeked may reach past the budget
    if (vec[i].iov_len >= budget - sum) {
      vec[i].iov_len = budget - sum;
      n = i + 1;
      break;
    }
    sum += vec[i].iov_len;
  }
  ssize_t w;
  if (n == 1) {
    w = ::send(fd, vec[0].iov_base, vec[0].iov_len, MSG_NOSIGNAL | MSG_DONTWAIT);
  } else {
    msghdr m{};
    m.msg_iov = reinterpret_cast<iovec*>(vec);
    m.msg_iovlen = static_cast<size_t>(n);
    w = ::sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  if (w > 0) evbuffer_drain(out, static_cast<size_t>(w));
  return static_cast<long>(w);
}

}  // namespace

void set_write_slice(bufferevent* bev) { bufferevent_set_max_single_write(bev, kWriteSlice); }

bool flush_now(bufferevent* bev, bool may_hold_files) {
  evbuffer* out = bufferevent_get_output(bev);
  if (evbuffer_get_length(out) == 0) return true;
  if ((bufferevent_get_enabled(bev) & EV_WRITE) == 0) {
    evutil_socket_t fd = bufferevent_getfd(bev);
    // A file segment (sendfile) is written by a call of its own, so loop while bytes move.
    // A bufferevent keeps its output's start frozen; unfreeze around our write as its own write
    // callback does (libevent bufferevent_sock.c).
    evbuffer_unfreeze(out, 1);
    size_t budget = kWriteSlice;
    for (int i = 0; i < 4 && fd >= 0 && budget > 0; ++i) {
      long w = may_hold_files ? evbuffer_write_atmost(out, fd, static_cast<ev_ssize_t>(budget))
                              : send_memory(out, fd, budget);
      if (w <= 0) break;  // errors surface through the bufferevent below
      budget -= std::min(budget, static_cast<size_t>(w));
      if (evbuffer_get_length(out) == 0) break;
    }
    evbuffer_freeze(out, 1);
    if (evbuffer_get_length(out) == 0) return true;
    bufferevent_enable(bev, EV_WRITE);
  }
  return false;
}

size_t send_direct(bufferevent* bev, std::string_view a, std::string_view b) {
  if (evbuffer_get_length(bufferevent_get_output(bev)) != 0 ||
      (bufferevent_get_enabled(bev) & EV_WRITE) != 0) {
    return 0;
  }
  evutil_socket_t fd = bufferevent_getfd(bev);
  if (fd < 0) return 0;
  // A head plus a slice of body (flush.h). A 1 MiB hit as head + 512 KiB, then 512 KiB: about 7%
  // more hits per second on loopback than head + (512 KiB - head), 512 KiB, head-sized tail.
  if (a.size() >= kWriteSlice) {
    a = a.substr(0, kWriteSlice);
    b = {};
  } else if (b.size() > kWriteSlice) {
    b = b.substr(0, kWriteSlice);
  }
  ssize_t w;
  if (b.empty()) {
    w = ::send(fd, a.data(), a.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  } else {
    iovec vec[2] = {{const_cast<char*>(a.data()), a.size()},
                    {const_cast<char*>(b.data()), b.size()}};
    msghdr m{};
    m.msg_iov = vec;
    m.msg_iovlen = 2;
    w = ::sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  return w > 0 ? static_cast<size_t>(w) : 0;
}

size_t tls_hand_over(bufferevent* bev, evbuffer* staging, size_t join_limit) {
  size_t n = evbuffer_get_length(staging);
  if (n == 0) return 0;
  if (n <= join_limit) evbuffer_pullup(staging, -1);
  evbuffer* out = bufferevent_get_output(bev);
  const bool idle = evbuffer_get_length(out) == 0;
  evbuffer_add_buffer(out, staging);
  // ev_write belongs to the bufferevent (event2/bufferevent_struct.h): activating it runs the
  // callback an EPOLLOUT would; OpenSSL's WANT_WRITE leaves the event registered.
  if (idle) event_active(&bev->ev_write, EV_WRITE, 1);
  return n;
}

void tls_handshake_done(bufferevent* bev) {
  bufferevent_enable(bev, EV_WRITE);  // OpenSSL's bufferevent writes only while enabled
  if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) event_del(&bev->ev_write);
  event_active(&bev->ev_read, EV_READ, 1);
}

void write_drained(bufferevent* bev) {
  if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) bufferevent_disable(bev, EV_WRITE);
}

long read_once(bufferevent* bev, int fd) {
  evbuffer* in = bufferevent_get_input(bev);
  evbuffer_iovec vec[2];
  evbuffer_unfreeze(in, 0);  // the bufferevent freezes its input's end; we are its only writer
  // Start small (a typical request or response head fits in 4 KiB; idle keep-alive connections
  // then hold no large chains), read more once data is flowing.
  size_t want = evbuffer_get_length(in) == 0 ? 4096 : 16384;
  int nvec = evbuffer_reserve_space(in, static_cast<ev_ssize_t>(want), vec, 2);
  ssize_t n = -1;
  if (nvec == 1) {
    n = ::recv(fd, vec[0].iov_base, vec[0].iov_len, MSG_DONTWAIT);
  } else if (nvec > 1) {
    msghdr m{};
    m.msg_iov = reinterpret_cast<iovec*>(vec);
    m.msg_iovlen = static_cast<size_t>(nvec);
    n = ::recvmsg(fd, &m, MSG_DONTWAIT);
  }
  int saved = errno;
  if (n > 0) {
    size_t got = static_cast<size_t>(n);
    size_t first = std::min(got, vec[0].iov_len);
    vec[0].iov_len = first;
    int used = 1;
    if (nvec == 2 && got > first) {
      vec[1].iov_len = got - first;
      used = 2;
    }
    evbuffer_commit_space(in, vec, used);
  }
  evbuffer_freeze(in, 0);
  errno = saved;
  return static_cast<long>(n);
}

unsigned short local_port_of(const bufferevent* bev) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (bev == nullptr || getsockname(bufferevent_getfd(const_cast<bufferevent*>(bev)),
                                    reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return 0;
  }
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

}  // namespace portico::proxy
