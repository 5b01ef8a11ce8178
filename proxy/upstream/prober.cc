#include "proxy/upstream/prober.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/log.h"
#include "proxy/http1/parser.h"
#include "routing/health.h"

namespace portico::proxy::upstream {
namespace {

constexpr size_t kMaxProbeHead = 16 * 1024;
// New registrations are found by poke(); this bounds how late anything else can be noticed.
constexpr std::chrono::milliseconds kMaxSleep{1'000};
constexpr std::chrono::milliseconds kMinSleep{5};
constexpr std::chrono::milliseconds kDrainPoll{50};

socklen_t to_sockaddr(const routing::TargetAddress& a, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (a.ip.family == routing::IpAddress::Family::V4) {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&ss);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(a.port);
    std::memcpy(&in4->sin_addr, a.ip.bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(a.port);
  std::memcpy(&in6->sin6_addr, a.ip.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

}  // namespace

struct Prober::Probe final : http1::ResponseEvents {
  Probe(Prober& o, std::shared_ptr<routing::TargetGroup> g, routing::TargetRef t)
      : owner(o), group(std::move(g)), target(t), parser(*this, kMaxProbeHead, 10) {}
  ~Probe() override {
    if (bev != nullptr) bufferevent_free(bev);
    if (deadline != nullptr) event_free(deadline);
  }
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  void on_head(core::ResponseHead&& head) override { status = head.status; }
  void on_body(std::string_view /*data*/) override {}
  void on_complete() override {}

  static void on_event(bufferevent* /*bev*/, short what, void* arg) {
    auto* p = static_cast<Probe*>(arg);
    if (what & BEV_EVENT_CONNECTED) {
      evbuffer_add(bufferevent_get_output(p->bev), p->request.data(), p->request.size());
      bufferevent_enable(p->bev, EV_READ | EV_WRITE);
      return;
    }
    p->owner.finish(p, 0, false);  // refused, reset or closed before a status line
  }
  static void on_read(bufferevent* /*bev*/, void* arg) {
    auto* p = static_cast<Probe*>(arg);
    evbuffer* in = bufferevent_get_input(p->bev);
    size_t len = evbuffer_get_length(in);
    const char* data = reinterpret_cast<const char*>(evbuffer_pullup(in, -1));
    size_t n = p->parser.feed(std::string_view(data, len));
    evbuffer_drain(in, n);
    if (p->status != 0 || p->parser.phase() == http1::ParsePhase::Failed) {
      p->owner.finish(p, p->status, false);
    }
  }
  static void on_deadline(int /*fd*/, short /*what*/, void* arg) {
    auto* p = static_cast<Probe*>(arg);
    p->owner.finish(p, 0, true);
  }

  Prober& owner;
  std::shared_ptr<routing::TargetGroup> group;
  routing::TargetRef target;
  http1::ResponseParser parser;
  bufferevent* bev = nullptr;
  event* deadline = nullptr;
  std::string request;
  int status = 0;
};

Prober::Prober(core::Loop& loop, GroupsFn groups)
    : loop_(loop), groups_(std::move(groups)), timer_(loop, [this] { poke(); }) {}

Prober::~Prober() = default;

void Prober::poke() {
  std::shared_ptr<routing::TargetGroupSet> set = groups_();
  TimePoint now = std::chrono::steady_clock::now();
  TimePoint next = now + kMaxSleep;
  std::vector<routing::ProbeTask> tasks;
  if (set) {
    for (const std::shared_ptr<routing::TargetGroup>& g : set->all()) {
      g->expire_draining(now);
      tasks.clear();
      g->due_probes(now, tasks);
      for (const routing::ProbeTask& t : tasks) launch(g, t);
      TimePoint drain = g->next_drain_deadline();
      // While a target drains, look again soon: it completes once nothing is in flight.
      if (drain != TimePoint::max()) drain = std::min(drain, now + kDrainPoll);
      next = std::min({next, g->next_probe_at(), drain});
    }
  }
  auto sleep = std::chrono::duration_cast<std::chrono::milliseconds>(next - now);
  timer_.arm(std::clamp(sleep, kMinSleep, kMaxSleep));
}

void Prober::launch(const std::shared_ptr<routing::TargetGroup>& group,
                    const routing::ProbeTask& task) {
  const config::HealthCheck& hc = group->config().health_check;
  auto owned = std::make_unique<Probe>(*this, group, task.target);
  Probe* p = owned.get();
  probes_.emplace(p, std::move(owned));
  std::string host = task.address.to_string();
  p->request = "GET " + hc.path + " HTTP/1.1\r\nHost: " + host +
               "\r\nUser-Agent: ELB-HealthChecker/2.0\r\nAccept-Encoding: gzip, compressed\r\n"
               "Connection: close\r\n\r\n";
  p->parser.set_request_method(core::Method::Get);
  p->deadline = evtimer_new(loop_.base(), &Probe::on_deadline, p);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(hc.timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((hc.timeout.count() % 1000) * 1000);
  evtimer_add(p->deadline, &tv);
  p->bev = bufferevent_socket_new(loop_.base(), -1, BEV_OPT_CLOSE_ON_FREE);
  bufferevent_setcb(p->bev, &Probe::on_read, nullptr, &Probe::on_event, p);
  sockaddr_storage ss{};
  socklen_t len = to_sockaddr(task.address, ss);
  if (bufferevent_socket_connect(p->bev, reinterpret_cast<sockaddr*>(&ss), static_cast<int>(len)) <
      0) {
    // Reported from a callback, never from inside poke()'s loop over the group.
    loop_.post([this, p] {
      if (probes_.count(p) != 0) finish(p, 0, false);
    });
  }
}

void Prober::finish(Probe* p, int status, bool timed_out) {
  auto it = probes_.find(p);
  if (it == probes_.end()) return;
  std::unique_ptr<Probe> owned = std::move(it->second);
  probes_.erase(it);
  const config::HealthCheck& hc = p->group->config().health_check;
  routing::ProbeResult result = routing::classify_probe(hc, status, timed_out);
  p->group->report_probe(p->target, result, status, std::chrono::steady_clock::now());
  if (result != routing::ProbeResult::Ok) {
    PORTICO_DEBUG("health check target group %s: status %d%s", p->group->name().c_str(), status,
                  timed_out ? " (timeout)" : "");
  }
}

}  // namespace portico::proxy::upstream
