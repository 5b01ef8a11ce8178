// Exchange's directory_origin path: a local folder served like S3 behind CloudFront, with
// ETag/Last-Modified validators (RFC 9110 §8.8), preconditions (§13) and ranges (§14). File bodies
// go out through evbuffer file segments (sendfile on plain sockets): no copy, no whole-file read.
#include <event2/buffer.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "core/clock.h"
#include "origin/conditional.h"
#include "origin/directory.h"
#include "proxy/connection.h"
#include "proxy/exchange.h"
#include "proxy/response_writer.h"
#include "proxy/worker.h"

namespace portico::proxy {

void Exchange::serve_directory() {
  if (req_.method != core::Method::Get && req_.method != core::Method::Head) {
    fail(405, "The origin serves files with GET and HEAD only.", "GET, HEAD");
    return;
  }
  // default_root_object applies to the root URL only, as in CloudFront.
  std::string root_object;
  std::string_view path = req_.path;
  if (path == "/" && !distribution_->default_root_object.empty()) {
    root_object = "/" + distribution_->default_root_object;
    path = root_object;
  }
  core::Result<origin::FileInfo> found = origin::resolve_path(origin_->directory.path, path);
  if (!found.ok() || found->is_dir) {
    bool forbidden = !found.ok() && found.error().kind == core::ErrorKind::Forbidden;
    fail(forbidden ? 403 : 404, forbidden ? "Access to the requested object is denied."
                                          : "The requested object does not exist.");
    return;
  }
  int fd = ::open(found->path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (fd >= 0) ::close(fd);
    fail(404, "The requested object does not exist.");
    return;
  }
  origin::FileInfo info = std::move(found.value());
  info.size = static_cast<uint64_t>(st.st_size);
  info.mtime_sec = st.st_mtim.tv_sec;
  info.mtime_nsec = st.st_mtim.tv_nsec;
  info.inode = st.st_ino;
  std::string etag = origin::make_etag(info);
  char last_modified[40];
  size_t lm_len = core::format_http_date(info.mtime_sec, last_modified);
  std::string_view lm(last_modified, lm_len);
  content_type_ = origin::content_type_for(info.path);

  std::vector<origin::ByteRange> ranges;
  int status =
      origin::select_status(req_, etag, info.mtime_sec, static_cast<int64_t>(info.size), &ranges);
  if (status == 412) {
    ::close(fd);
    fail(412, "A precondition given in the request failed.");
    return;
  }

  bool keep = keep_alive_possible();
  bool head_only = req_.method == core::Method::Head;
  std::string head;
  head.reserve(600);
  append_status_line(head, status, {});
  append_header(head, "Date", http_date_now());
  append_header(head, "Last-Modified", lm);
  append_header(head, "ETag", etag);
  append_header(head, "Accept-Ranges", "bytes");
  std::string boundary;
  std::vector<std::string> part_heads;
  uint64_t body_len = 0;
  if (status == 304) {
    // RFC 9110 §15.4.5: no body, no Content-Length describing one.
  } else if (status == 416) {
    append_header(head, "Content-Range", "bytes */" + std::to_string(info.size));
    append_header(head, "Content-Length", "0");
  } else if (status == 206 && ranges.size() == 1) {
    const origin::ByteRange& r = ranges[0];
    append_header(head, "Content-Type", content_type_);
    append_header(head, "Content-Range",
                  "bytes " + std::to_string(r.first) + "-" + std::to_string(r.last) + "/" +
                      std::to_string(info.size));
    body_len = r.length();
    range_start_ = static_cast<int64_t>(r.first);
    range_end_ = static_cast<int64_t>(r.last);
  } else if (status == 206) {
    // multipart/byteranges (RFC 9110 §14.6).
    char b[24];
    std::snprintf(b, sizeof b, "%016llx",
                  static_cast<unsigned long long>(worker_.ids().next_u64()));
    boundary = b;
    for (const origin::ByteRange& r : ranges) {
      std::string ph = "\r\n--" + boundary + "\r\nContent-Type: " + std::string(content_type_) +
                       "\r\nContent-Range: bytes " + std::to_string(r.first) + "-" +
                       std::to_string(r.last) + "/" + std::to_string(info.size) + "\r\n\r\n";
      body_len += ph.size() + r.length();
      part_heads.push_back(std::move(ph));
    }
    body_len += boundary.size() + 8;  // "\r\n--" boundary "--\r\n"
    append_header(head, "Content-Type", "multipart/byteranges; boundary=" + boundary);
  } else {
    append_header(head, "Content-Type", content_type_);
    body_len = info.size;
  }
  if (status != 304 && status != 416) {
    append_header(head, "Content-Length", std::to_string(body_len));
    content_len_ = static_cast<int64_t>(body_len);
  }
  append_via(head, {}, distribution_->via_host);
  status_ = status;
  result_type_ = status >= 400 ? "Error" : "Miss";
  detailed_result_ = result_type_;
  append_edge_headers(head, status >= 400 ? "Error from cloudfront" : "Miss from cloudfront");
  if (!keep) {
    append_header(head, "Connection", "close");
  } else if (req_.version_minor == 0) {
    append_header(head, "Connection", "keep-alive");  // HTTP/1.0 persistence (RFC 9112 §9.3)
  }
  head += "\r\n";
  response_started_ = true;
  first_byte_at_ = core::loop_now();
  evbuffer* out = conn_.output();
  evbuffer_add(out, head.data(), head.size());
  sent_bytes_ += head.size();
  conn_.output_holds_files();  // harmless when no segment follows: cleared once flushed
  if (head_only || status == 304 || status == 416 || body_len == 0) {
    ::close(fd);
  } else if (status == 200) {
    evbuffer_add_file(out, fd, 0, static_cast<ev_off_t>(info.size));  // takes the fd
    sent_bytes_ += body_len;
  } else if (ranges.size() == 1) {
    evbuffer_add_file(out, fd, static_cast<ev_off_t>(ranges[0].first),
                      static_cast<ev_off_t>(ranges[0].length()));
    sent_bytes_ += body_len;
  } else {
    evbuffer_file_segment* seg =
        evbuffer_file_segment_new(fd, 0, static_cast<ev_off_t>(info.size), EVBUF_FS_CLOSE_ON_FREE);
    if (seg == nullptr) {
      ::close(fd);
      phase_ = Phase::Failed;
      conn_.close_now();
      return;
    }
    for (size_t i = 0; i < ranges.size(); ++i) {
      evbuffer_add(out, part_heads[i].data(), part_heads[i].size());
      evbuffer_add_file_segment(out, seg, static_cast<ev_off_t>(ranges[i].first),
                                static_cast<ev_off_t>(ranges[i].length()));
    }
    std::string tail = "\r\n--" + boundary + "--\r\n";
    evbuffer_add(out, tail.data(), tail.size());
    evbuffer_file_segment_free(seg);  // the buffer holds its own references
    sent_bytes_ += body_len;
  }
  complete(keep);
}

}  // namespace portico::proxy
