// sink_load: a keep-alive HTTP/1.1 load generator for large responses.
//
// wrk copies every body byte into its own buffer. At 1 MiB per hit on loopback that copy costs
// the load generator more than the proxy spends sending the bytes, so wrk saturates its core and
// its request rate measures wrk's receive cost, not the server's (docs/benchmarks.md, session 12).
// sink_load parses each response head with Portico's own response parser and then discards a
// Content-Length body in the kernel: recv(MSG_TRUNC) on TCP drops queued bytes without copying
// them (tcp(7)). Bodies of other framings (chunked, until close) are read and decoded normally.
//
// One thread, one epoll set, -c connections each with one request in flight, for -d seconds.
// Output is wrk's summary format (bench/compare.py parse_wrk reads it):
//   sink_load -c 64 -d 10 http://127.0.0.1:8080/1m
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http1/parser.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int connections = 64;
  double duration_s = 10;
  double timeout_s = 10;
  uint16_t port = 0;
  std::string host;  // Host header: the URL's authority
  std::string path = "/";
};

struct Totals {
  uint64_t requests = 0;
  uint64_t bytes = 0;  // head and body bytes received
  uint64_t non2xx3xx = 0;
  uint64_t connect_errors = 0, read_errors = 0, write_errors = 0, timeouts = 0;
  std::vector<uint32_t> latency_us;
};

class Conn final : public portico::proxy::http1::ResponseEvents {
 public:
  Conn(const Options& o, Totals& t, int epfd) : opt_(o), tot_(t), epfd_(epfd), parser_(*this) {}
  ~Conn() override { close_fd(); }

  // Opens the connection and sends the first request.
  void start() {
    close_fd();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(opt_.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
      ++tot_.connect_errors;
      close_fd();
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;  // EPOLLOUT once: the connect's completion
    ev.data.ptr = this;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, fd_, &ev);
    connecting_ = true;
    sent_at_ = Clock::now();
  }

  bool open() const { return fd_ >= 0; }
  Clock::time_point sent_at() const { return sent_at_; }
  // Connecting or waiting for a response (the timeout's clock runs from sent_at()).
  bool waiting() const { return fd_ >= 0 && (in_flight_ || connecting_); }

  void on_event(uint32_t events) {
    if (connecting_) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        ++tot_.connect_errors;
        close_fd();
        return;
      }
      connecting_ = false;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = this;
      epoll_ctl(epfd_, EPOLL_CTL_MOD, fd_, &ev);
      send_request();
      return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) read_ready();
  }

  void time_out() {
    ++tot_.timeouts;
    close_fd();
  }

  // portico::proxy::http1::ResponseEvents
  void on_head(portico::core::ResponseHead&& head) override {
    status_ = head.status;
    keep_alive_ = head.keep_alive;
    discardable_ = head.framing == portico::core::BodyFraming::Length;
    content_length_ = head.content_length;
  }
  void on_body(std::string_view data) override { body_seen_ += data.size(); }
  void on_complete() override { complete_ = true; }

 private:
  void send_request() {
    if (request_.empty()) {
      request_ = "GET " + opt_.path + " HTTP/1.1\r\nHost: " + opt_.host + "\r\n\r\n";
    }
    parser_.reset();
    parser_.set_request_method(portico::core::Method::Get);
    have_ = 0;
    body_seen_ = 0;
    discard_left_ = 0;
    complete_ = false;
    sent_at_ = Clock::now();
    ssize_t w = ::send(fd_, request_.data(), request_.size(), MSG_NOSIGNAL);
    if (w != static_cast<ssize_t>(request_.size())) {  // a fresh request fits any send buffer
      ++tot_.write_errors;
      close_fd();
      return;
    }
    in_flight_ = true;
  }

  void read_ready() {
    for (;;) {
      if (discard_left_ > 0) {
        ssize_t n = ::recv(fd_, nullptr, discard_left_, MSG_TRUNC | MSG_DONTWAIT);
        if (!got(n)) return;
        discard_left_ -= static_cast<uint64_t>(n);
        if (discard_left_ == 0) {
          finish();  // the next response cannot have arrived yet: wait for epoll
          return;
        }
        continue;
      }
      if (have_ == buf_.size()) {  // a head larger than the buffer: the parser's limit decides
        buf_.resize(buf_.size() * 2);
      }
      ssize_t n = ::recv(fd_, buf_.data() + have_, buf_.size() - have_, MSG_DONTWAIT);
      if (n == 0 && parser_.phase() == portico::proxy::http1::ParsePhase::Body &&
          parser_.feed_eof()) {
        keep_alive_ = false;  // a body delimited by the close (RFC 9112 §6.3)
        finish();
        return;
      }
      if (!got(n)) return;
      have_ += static_cast<size_t>(n);
      if (!feed()) return;
    }
  }

  // Accounts a recv result; false when there is nothing more to do now (EAGAIN, EOF, error).
  bool got(ssize_t n) {
    if (n > 0) {
      tot_.bytes += static_cast<uint64_t>(n);
      return true;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    ++tot_.read_errors;  // EOF or reset with a response outstanding
    close_fd();
    return false;
  }

  // Presents the buffered bytes to the parser; false when reading should stop for now (a response
  // completed, or the connection went away).
  bool feed() {
    using portico::proxy::http1::ParsePhase;
    size_t used = 0;
    while (used < have_ && !complete_) {
      size_t k = parser_.feed(std::string_view(buf_.data() + used, have_ - used));
      if (parser_.phase() == ParsePhase::Failed) {
        std::fprintf(stderr, "sink_load: bad response: %s\n", parser_.error().detail.c_str());
        ++tot_.read_errors;
        close_fd();
        return false;
      }
      if (k == 0) break;  // head incomplete: keep the bytes, read more
      used += k;
      if (parser_.phase() == ParsePhase::Body && discardable_ && used == have_) {
        discard_left_ = content_length_ - body_seen_;  // the rest never enters user space
        break;
      }
    }
    std::memmove(buf_.data(), buf_.data() + used, have_ - used);
    have_ -= used;
    if (complete_) {
      if (have_ != 0) {  // bytes after a response we did not ask for
        std::fprintf(stderr, "sink_load: %zu unexpected bytes after a response\n", have_);
        ++tot_.read_errors;
        close_fd();
        return false;
      }
      finish();
      return false;  // the next response cannot have arrived yet: wait for epoll
    }
    return true;
  }

  void finish() {
    in_flight_ = false;
    ++tot_.requests;
    if (status_ < 200 || status_ > 399) ++tot_.non2xx3xx;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - sent_at_);
    tot_.latency_us.push_back(static_cast<uint32_t>(std::min<int64_t>(us.count(), UINT32_MAX)));
    if (!keep_alive_) {
      start();
      return;
    }
    send_request();
  }

  void close_fd() {
    if (fd_ >= 0) ::close(fd_);  // close() also removes it from the epoll set
    fd_ = -1;
    in_flight_ = false;
    connecting_ = false;
  }

  const Options& opt_;
  Totals& tot_;
  int epfd_;
  int fd_ = -1;
  bool connecting_ = false;
  bool in_flight_ = false;
  bool keep_alive_ = true;
  bool discardable_ = false;
  bool complete_ = false;
  int status_ = 0;
  uint64_t content_length_ = 0;
  uint64_t body_seen_ = 0;
  uint64_t discard_left_ = 0;
  std::string request_;
  std::vector<char> buf_ = std::vector<char>(16384);
  size_t have_ = 0;
  Clock::time_point sent_at_;
  portico::proxy::http1::ResponseParser parser_;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "sink_load: %s\nusage: sink_load [-c CONNECTIONS] [-d SECONDS] [--timeout SECONDS] "
               "http://127.0.0.1:PORT/PATH\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  std::string url;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage("missing value");
      return argv[++i];
    };
    if (a == "-c") {
      o.connections = std::atoi(value());
    } else if (a == "-d") {
      o.duration_s = std::atof(value());
    } else if (a == "--timeout") {
      o.timeout_s = std::atof(value());
    } else if (a == "-h" || a == "--help") {
      usage("a keep-alive HTTP/1.1 load generator that discards bodies in the kernel");
    } else if (url.empty() && a.substr(0, 7) == "http://") {
      url = std::string(a);
    } else {
      usage("unknown argument");
    }
  }
  if (url.empty()) usage("no URL");
  if (o.connections < 1 || o.duration_s <= 0 || o.timeout_s <= 0) usage("bad -c, -d or --timeout");
  std::string_view rest = std::string_view(url).substr(7);
  size_t slash = rest.find('/');
  o.host = std::string(rest.substr(0, slash));
  o.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  size_t colon = o.host.rfind(':');
  if (o.host.rfind("127.0.0.1", 0) != 0 || colon == std::string::npos) {
    usage("the URL must be http://127.0.0.1:PORT/...");
  }
  int port = std::atoi(o.host.c_str() + colon + 1);
  if (port < 1 || port > 65535) usage("bad port");
  o.port = static_cast<uint16_t>(port);
  return o;
}

std::string fmt_ms(uint32_t us) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2fms", us / 1000.0);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse(argc, argv);
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  Totals tot;
  tot.latency_us.reserve(1 << 20);
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < opt.connections; ++i) {
    conns.push_back(std::make_unique<Conn>(opt, tot, epfd));
    conns.back()->start();
  }
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(opt.duration_s);
  const auto timeout = std::chrono::duration<double>(opt.timeout_s);
  auto next_check = start + std::chrono::milliseconds(100);
  epoll_event evs[64];
  for (auto now = start; now < end; now = Clock::now()) {
    int n = epoll_wait(epfd, evs, 64, 50);
    for (int i = 0; i < n; ++i) static_cast<Conn*>(evs[i].data.ptr)->on_event(evs[i].events);
    if (now >= next_check) {  // timeouts and reconnects, ten times a second
      next_check = now + std::chrono::milliseconds(100);
      for (auto& c : conns) {
        if (c->waiting() && now - c->sent_at() > timeout) c->time_out();
        if (!c->open()) c->start();
      }
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  conns.clear();
  ::close(epfd);

  auto pct = [&](double p) -> uint32_t {
    if (tot.latency_us.empty()) return 0;
    size_t k =
        std::min(tot.latency_us.size() - 1,
                 static_cast<size_t>(p / 100.0 * static_cast<double>(tot.latency_us.size())));
    std::nth_element(tot.latency_us.begin(), tot.latency_us.begin() + static_cast<long>(k),
                     tot.latency_us.end());
    return tot.latency_us[k];
  };
  std::printf("Running %.0fs test @ http://%s%s (sink_load: bodies discarded in the kernel)\n",
              opt.duration_s, opt.host.c_str(), opt.path.c_str());
  std::printf("  1 threads and %d connections\n  Latency Distribution\n", opt.connections);
  for (double p : {50.0, 75.0, 90.0, 99.0}) {
    std::printf("     %.0f%%   %s\n", p, fmt_ms(pct(p)).c_str());
  }
  std::printf("  %llu requests in %.2fs, %.2fMB read\n",
              static_cast<unsigned long long>(tot.requests), secs, tot.bytes / 1e6);
  uint64_t errors = tot.connect_errors + tot.read_errors + tot.write_errors + tot.timeouts;
  if (errors != 0) {
    std::printf("  Socket errors: connect %llu, read %llu, write %llu, timeout %llu\n",
                static_cast<unsigned long long>(tot.connect_errors),
                static_cast<unsigned long long>(tot.read_errors),
                static_cast<unsigned long long>(tot.write_errors),
                static_cast<unsigned long long>(tot.timeouts));
  }
  if (tot.non2xx3xx != 0) {
    std::printf("  Non-2xx or 3xx responses: %llu\n",
                static_cast<unsigned long long>(tot.non2xx3xx));
  }
  std::printf("Requests/sec: %10.2f\nTransfer/sec: %10.2fMB\n", tot.requests / secs,
              tot.bytes / secs / 1e6);
  return tot.requests == 0 ? 1 : 0;
}
