// Access log in CloudFront's standard log format (W3C, tab-separated, the documented 33 fields in
// order; docs: "Standard logging (access logs) - Standard log file fields"). Workers append
// formatted lines to their own buffer (a per-worker mutex the writer thread takes only to swap
// buffers); one writer thread does the file I/O, so a worker never blocks on disk.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace portico::proxy {

// One access-log record; views must stay valid only for the duration of AccessLog::append.
struct AccessRecord {
  int64_t epoch_ms = 0;
  std::string_view edge_location;  // x-edge-location (pop)
  uint64_t sc_bytes = 0;
  std::string_view client_ip;
  std::string_view method;
  std::string_view cs_host;  // distribution domain (via host)
  std::string_view uri_stem;
  int status = 0;
  std::string_view referer;
  std::string_view user_agent;
  std::string_view query;
  std::string_view cookie;
  std::string_view result_type;  // Hit, RefreshHit, Miss, Error, Redirect, ...
  std::string_view request_id;
  std::string_view host_header;
  std::string_view protocol;  // http or https
  uint64_t cs_bytes = 0;
  double time_taken_s = 0;
  std::string_view forwarded_for;
  std::string_view protocol_version;  // HTTP/1.1
  uint16_t client_port = 0;
  double ttfb_s = 0;
  std::string_view detailed_result_type;
  std::string_view content_type;
  int64_t content_len = -1;
  int64_t range_start = -1;
  int64_t range_end = -1;
};

class AccessLog {
 public:
  // path "-" = stdout. Starts the writer thread.
  AccessLog(std::string path, int workers);
  ~AccessLog();
  // Appends a record to worker `w`'s buffer; called on worker w's thread.
  void append(int w, const AccessRecord& r);
  // Writes everything buffered so far and stops the writer thread.
  void stop();

 private:
  struct Slot {
    std::mutex mu;
    std::string buf;
  };
  void run();
  std::string path_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
  int fd_ = -1;
};

// Formats one line (with trailing '\n') into out; exposed for tests.
void format_access_record(const AccessRecord& r, std::string& out);
std::string_view access_log_header();

}  // namespace portico::proxy
