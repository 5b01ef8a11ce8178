#include "proxy/flush.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

using portico::proxy::flush_now;
using portico::proxy::kWriteSlice;
using portico::proxy::send_direct;
using portico::proxy::set_write_slice;

namespace {

// A connected loopback TCP pair with buffers big enough that the kernel takes a whole slice at
// once, so what a call writes is what it chose to write.
struct TcpPair {
  int writer = -1;
  int reader = -1;
  TcpPair() {
    int lst = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(lst, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(lst, 1) == 0);
    REQUIRE(::getsockname(lst, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    writer = ::socket(AF_INET, SOCK_STREAM, 0);
    int big = 4 << 20;
    ::setsockopt(writer, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    REQUIRE(::connect(writer, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    reader = ::accept(lst, nullptr, nullptr);
    REQUIRE(reader >= 0);
    ::close(lst);
    evutil_make_socket_nonblocking(writer);
  }
  ~TcpPair() {
    if (writer >= 0) ::close(writer);
    if (reader >= 0) ::close(reader);
  }
  // Reads exactly n bytes (blocking).
  std::string read_exactly(size_t n) const {
    std::string out(n, '\0');
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::recv(reader, out.data() + got, n - got, 0);
      REQUIRE(r > 0);
      got += static_cast<size_t>(r);
    }
    return out;
  }
  // Bytes waiting for the reader now (non-blocking).
  size_t drain_available() const {
    char buf[65536];
    size_t total = 0;
    for (;;) {
      ssize_t r = ::recv(reader, buf, sizeof buf, MSG_DONTWAIT);
      if (r <= 0) return total;
      total += static_cast<size_t>(r);
    }
  }
};

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

}  // namespace

TEST_CASE("flush_now writes at most one slice per call and leaves the rest to the write event",
          "[flush]") {
  TcpPair p;
  event_base* base = event_base_new();
  bufferevent* bev = bufferevent_socket_new(base, p.writer, 0);
  bufferevent_disable(bev, EV_READ | EV_WRITE);
  const std::string body = pattern(3 * kWriteSlice + 1000);
  evbuffer* out = bufferevent_get_output(bev);
  // Several chains, as a head plus referenced body blocks would be.
  evbuffer_add(out, body.data(), 1000);
  evbuffer_add_reference(out, body.data() + 1000, body.size() - 1000, nullptr, nullptr);
  bufferevent_disable(bev, EV_WRITE);  // adding output enabled it: flush_now runs write-first

  SECTION("memory chains (send/sendmsg)") { CHECK_FALSE(flush_now(bev, false)); }
  SECTION("output that may hold files (libevent's writev)") { CHECK_FALSE(flush_now(bev, true)); }
  CHECK(evbuffer_get_length(out) == body.size() - kWriteSlice);
  CHECK((bufferevent_get_enabled(bev) & EV_WRITE) != 0);  // the rest goes on writability
  CHECK(p.read_exactly(kWriteSlice) == body.substr(0, kWriteSlice));
  CHECK(p.drain_available() == 0);
  bufferevent_free(bev);
  event_base_free(base);
}

TEST_CASE("the write event carries on a slice per callback until everything is sent, in order",
          "[flush]") {
  TcpPair p;
  event_base* base = event_base_new();
  bufferevent* bev = bufferevent_socket_new(base, p.writer, 0);
  set_write_slice(bev);
  CHECK(bufferevent_get_max_single_write(bev) == static_cast<ev_ssize_t>(kWriteSlice));
  const std::string body = pattern(2 * kWriteSlice + 12345);
  evbuffer_add(bufferevent_get_output(bev), body.data(), body.size());
  bufferevent_disable(bev, EV_WRITE);
  CHECK_FALSE(flush_now(bev, false));
  std::string got = p.read_exactly(kWriteSlice);
  size_t callbacks = 0;
  bufferevent_setcb(
      bev, nullptr, [](bufferevent*, void* n) { ++*static_cast<size_t*>(n); }, nullptr, &callbacks);
  while (got.size() < body.size()) {
    event_base_loop(base, EVLOOP_ONCE);
    size_t before = got.size();
    char buf[65536];
    for (;;) {
      ssize_t r = ::recv(p.reader, buf, sizeof buf, MSG_DONTWAIT);
      if (r <= 0) break;
      got.append(buf, static_cast<size_t>(r));
    }
    // One loop turn writes at most one slice.
    CHECK(got.size() - before <= kWriteSlice);
  }
  CHECK(got == body);
  CHECK(evbuffer_get_length(bufferevent_get_output(bev)) == 0);
  bufferevent_free(bev);
  event_base_free(base);
}

TEST_CASE("send_direct sends a head and at most one slice of body", "[flush]") {
  TcpPair p;
  event_base* base = event_base_new();
  bufferevent* bev = bufferevent_socket_new(base, p.writer, 0);
  bufferevent_disable(bev, EV_READ | EV_WRITE);
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 2097152\r\n\r\n";
  const std::string body = pattern(2 << 20);

  SECTION("a head and a large body: the head and one slice of the body") {
    CHECK(send_direct(bev, head, body) == head.size() + kWriteSlice);
    CHECK(p.read_exactly(head.size() + kWriteSlice) == head + body.substr(0, kWriteSlice));
  }
  SECTION("a small head and body go whole") {
    CHECK(send_direct(bev, head, std::string_view(body).substr(0, 1000)) == head.size() + 1000);
    CHECK(p.read_exactly(head.size() + 1000) == head + body.substr(0, 1000));
  }
  SECTION("a first part longer than a slice is cut, the second not sent") {
    CHECK(send_direct(bev, body, head) == kWriteSlice);
    CHECK(p.read_exactly(kWriteSlice) == body.substr(0, kWriteSlice));
  }
  CHECK(p.drain_available() == 0);
  bufferevent_free(bev);
  event_base_free(base);
}
