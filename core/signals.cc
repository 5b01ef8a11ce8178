#include "core/signals.h"

#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace portico::core {

Result<std::unique_ptr<Signals>> Signals::create(Loop& loop, std::initializer_list<int> sigs,
                                                 std::function<void(int)> on_signal) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : sigs) sigaddset(&set, sig);
  // Block first: a signal sent between the two calls then waits in the signalfd.
  sigset_t old;
  if (int rc = pthread_sigmask(SIG_BLOCK, &set, &old); rc != 0) {
    return Error::make(ErrorKind::Internal, Side::Internal,
                       std::string("pthread_sigmask: ") + std::strerror(rc));
  }
  int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);  // nothing would read them: default actions back
    return Error::make(ErrorKind::Internal, Side::Internal,
                       std::string("signalfd: ") + std::strerror(err));
  }
  std::unique_ptr<Signals> s(new Signals(fd, std::move(on_signal)));
  s->ev_ = event_new(loop.base(), fd, EV_READ | EV_PERSIST, &Signals::on_readable, s.get());
  if (s->ev_ == nullptr || event_add(s->ev_, nullptr) != 0) {
    return Error::make(ErrorKind::Internal, Side::Internal, "signals: cannot watch the signalfd");
  }
  return s;
}

Signals::~Signals() {
  if (ev_ != nullptr) event_free(ev_);
  ::close(fd_);
}

void Signals::on_readable(int fd, short /*what*/, void* arg) {
  auto* self = static_cast<Signals*>(arg);
  signalfd_siginfo info[8];
  for (;;) {
    ssize_t n = ::read(fd, info, sizeof(info));
    if (n <= 0) return;  // EAGAIN: all read
    size_t count = static_cast<size_t>(n) / sizeof(signalfd_siginfo);
    for (size_t i = 0; i < count; ++i) self->on_signal_(static_cast<int>(info[i].ssi_signo));
  }
}

}  // namespace portico::core
