#include "proxy/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "core/log.h"

namespace portico::proxy {
namespace {

constexpr size_t kMaxBufferedBytes = 8u << 20;  // per worker; beyond this lines are dropped

// CloudFront URL-encodes some fields (user agent, referer, query); spaces and tabs must never
// break the tab-separated line.
void append_field(std::string& out, std::string_view v) {
  if (v.empty()) {
    out += '-';
    return;
  }
  static const char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : v) {
    if (c <= 0x20 || c >= 0x7F || c == '%' || c == '"' || c == '\\') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
}

void append_num(std::string& out, int64_t v) {
  if (v < 0) {
    out += '-';
    return;
  }
  char buf[24];
  int n = std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  out.append(buf, static_cast<size_t>(n));
}

void append_secs(std::string& out, double s) {
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.3f", s);
  out.append(buf, static_cast<size_t>(n));
}

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

std::string_view access_log_header() {
  return "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) "
         "cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) "
         "x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken "
         "x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type "
         "cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte "
         "x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start "
         "sc-range-end\n";
}

void format_access_record(const AccessRecord& r, std::string& out) {
  time_t secs = static_cast<time_t>(r.epoch_ms / 1000);
  tm tmv{};
  gmtime_r(&secs, &tmv);
  char ts[32];
  size_t n = strftime(ts, sizeof ts, "%Y-%m-%d\t%H:%M:%S", &tmv);
  out.append(ts, n);
  const auto tab = [&] { out += '\t'; };
  tab();
  append_field(out, r.edge_location);
  tab();
  append_num(out, static_cast<int64_t>(r.sc_bytes));
  tab();
  append_field(out, r.client_ip);
  tab();
  append_field(out, r.method);
  tab();
  append_field(out, r.cs_host);
  tab();
  append_field(out, r.uri_stem);
  tab();
  append_num(out, r.status);
  tab();
  append_field(out, r.referer);
  tab();
  append_field(out, r.user_agent);
  tab();
  append_field(out, r.query);
  tab();
  append_field(out, r.cookie);
  tab();
  append_field(out, r.result_type);
  tab();
  append_field(out, r.request_id);
  tab();
  append_field(out, r.host_header);
  tab();
  append_field(out, r.protocol);
  tab();
  append_num(out, static_cast<int64_t>(r.cs_bytes));
  tab();
  append_secs(out, r.time_taken_s);
  tab();
  append_field(out, r.forwarded_for);
  tab();
  out += '-';  // ssl-protocol
  tab();
  out += '-';  // ssl-cipher
  tab();
  append_field(out, r.result_type);  // x-edge-response-result-type
  tab();
  append_field(out, r.protocol_version);
  tab();
  out += '-';  // fle-status
  tab();
  out += '-';  // fle-encrypted-fields
  tab();
  append_num(out, r.client_port);
  tab();
  append_secs(out, r.ttfb_s);
  tab();
  append_field(out, r.detailed_result_type);
  tab();
  append_field(out, r.content_type);
  tab();
  append_num(out, r.content_len);
  tab();
  append_num(out, r.range_start);
  tab();
  append_num(out, r.range_end);
  out += '\n';
}

AccessLog::AccessLog(std::string path, int workers) : path_(std::move(path)) {
  for (int i = 0; i < workers; ++i) slots_.push_back(std::make_unique<Slot>());
  if (path_ == "-" || path_ == "stdout") {
    fd_ = 1;
  } else {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd_ < 0) {
      PORTICO_ERROR("access log: cannot open %s: %s; access logging disabled", path_.c_str(),
                    std::strerror(errno));
    }
  }
  if (fd_ >= 0) {
    std::string_view h = access_log_header();
    write_all(fd_, h.data(), h.size());
  }
  thread_ = std::thread([this] { run(); });
}

AccessLog::~AccessLog() {
  stop();
  if (fd_ > 2) ::close(fd_);
}

void AccessLog::append(int w, const AccessRecord& r) {
  Slot& s = *slots_[static_cast<size_t>(w)];
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.buf.size() > kMaxBufferedBytes) return;  // writer is stuck; drop rather than block
  format_access_record(r, s.buf);
}

void AccessLog::run() {
  std::string out;
  for (;;) {
    bool stopping;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stop_; });
      stopping = stop_;
    }
    for (auto& slot : slots_) {
      {
        std::lock_guard<std::mutex> lock(slot->mu);
        out.swap(slot->buf);
      }
      if (!out.empty() && fd_ >= 0) write_all(fd_, out.data(), out.size());
      out.clear();
    }
    if (stopping) return;
  }
}

void AccessLog::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace portico::proxy
