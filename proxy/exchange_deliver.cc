// Exchange's cache delivery: a stored (or still filling) object sent to the viewer with Age
// (RFC 9111 §5.1), CloudFront's headers, and the viewer's conditionals (RFC 9110 §13) and ranges
// (§14) answered from the stored full object; small spans are copied, larger ones referenced
// (zero copy), each viewer at its own pace while the fill goes on.
#include <event2/buffer.h>

#include <algorithm>
#include <cstdio>

#include "cache/cache_control.h"
#include "cache/key.h"
#include "core/clock.h"
#include "core/log.h"
#include "origin/conditional.h"
#include "proxy/exchange.h"
#include "proxy/exchange_cache.h"
#include "proxy/flush.h"
#include "proxy/response_writer.h"
#include "proxy/worker.h"

namespace portico::proxy {
namespace {

// Bodies up to this size are copied into the client's buffer; larger spans are referenced (the
// evbuffer holds a Body reference until the bytes are written).
constexpr size_t kCopyBelow = 16 * 1024;

void release_body_ref(const void* /*data*/, size_t /*len*/, void* body) {
  static_cast<cache::Body*>(body)->unref();
}

}  // namespace

// ---- delivery ----

void Exchange::deliver(const cache::ObjectRef& object, const char* x_cache, const char* result) {
  const core::ResponseHead& stored = object->head();
  if (stored.status >= 400 && try_error_page(stored.status)) return;
  CacheState& c = *cache_;
  c.serving = object;
  const cache::Body& body = object->body();
  int64_t total = -1;
  if (body.state() == cache::Body::State::Complete) {
    total = static_cast<int64_t>(body.available());
  } else if (body.expected_length() >= 0) {
    total = body.expected_length();
  }
  int status = stored.status;
  result_type_ = result;
  detailed_result_ = result;
  std::string_view etag = object->etag();
  int64_t last_modified = object->last_modified();
  std::string_view content_type = object->content_type();
  std::vector<origin::ByteRange> ranges;
  if (status == 200) status = origin::select_status(req_, etag, last_modified, total, &ranges);
  status_ = status;
  content_type_ = content_type;
  c.segments.clear();
  c.trailer.clear();
  c.segment = 0;
  c.segment_done = 0;
  c.head_only = req_.method == core::Method::Head || status == 304 || status == 412 ||
                status == 416 || status == 204;
  int64_t body_len = total;
  std::string extra;
  if (status == 416) {
    extra = "Content-Range: bytes */" + std::to_string(total) + "\r\n";
    body_len = 0;
  } else if (status == 412) {
    body_len = 0;
  } else if (status == 206 && ranges.size() == 1) {
    const origin::ByteRange& r = ranges[0];
    extra = "Content-Range: bytes " + std::to_string(r.first) + "-" + std::to_string(r.last) + "/" +
            std::to_string(total) + "\r\n";
    c.segments.push_back({{}, r.first, r.length()});
    body_len = static_cast<int64_t>(r.length());
    range_start_ = static_cast<int64_t>(r.first);
    range_end_ = static_cast<int64_t>(r.last);
  } else if (status == 206) {
    // multipart/byteranges (RFC 9110 §14.6).
    char b[24];
    std::snprintf(b, sizeof b, "%016llx",
                  static_cast<unsigned long long>(worker_.ids().next_u64()));
    std::string boundary = b;
    body_len = 0;
    for (const origin::ByteRange& r : ranges) {
      std::string ph = "\r\n--" + boundary + "\r\nContent-Type: " + std::string(content_type) +
                       "\r\nContent-Range: bytes " + std::to_string(r.first) + "-" +
                       std::to_string(r.last) + "/" + std::to_string(total) + "\r\n\r\n";
      body_len += static_cast<int64_t>(ph.size() + r.length());
      c.segments.push_back({std::move(ph), r.first, r.length()});
    }
    c.trailer = "\r\n--" + boundary + "--\r\n";
    body_len += static_cast<int64_t>(c.trailer.size());
    extra = "Content-Type: multipart/byteranges; boundary=" + boundary + "\r\n";
  } else {
    c.segments.push_back({{}, 0, total >= 0 ? static_cast<uint64_t>(total) : kToEnd});
  }

  bool http10 = req_.version_minor == 0;
  bool keep = keep_alive_possible();
  c.chunked = false;
  std::string& head = head_scratch();
  if (error_page_status_ != 0 && status == 200) status = status_ = error_page_status_;
  append_status_line(
      head, status, status == stored.status ? std::string_view(stored.reason) : std::string_view());
  std::string_view earlier_via = object->via();
  bool multipart = status == 206 && ranges.size() > 1;
  if (status != 304 && !multipart && !object->wire_headers().empty()) {
    head += object->wire_headers();
  } else {
    for (const core::Header& f : stored.headers) {
      if (delivery_skips(f.name)) continue;
      if (multipart && core::iequals(f.name, "content-type")) continue;
      if (status == 304 &&
          (core::iequals(f.name, "content-type") || core::iequals(f.name, "content-encoding"))) {
        // RFC 9110 §15.4.5 lets a 304 carry these, but they describe a body it does not have.
        continue;
      }
      append_header(head, f.name, f.value);
    }
  }
  head += extra;
  if (status == 200 && req_.method != core::Method::Options && !object->has_accept_ranges()) {
    append_header(head, "Accept-Ranges", "bytes");
  }
  if (status != 304 && status != 204) {
    if (body_len >= 0) {
      append_header(head, "Content-Length", std::to_string(body_len));
      content_len_ = body_len;
    } else if (http10) {
      keep = false;  // close-delimited
    } else {
      c.chunked = !c.head_only;
      if (c.chunked) append_header(head, "Transfer-Encoding", "chunked");
    }
  }
  // RFC 9111 §5.1: Age on every response served from the cache.
  int64_t age = object->age_ms(wall_now_ms()) / 1000;
  if (age > 0 || std::string_view(result) != "Miss") {
    append_header(head, "Age", std::to_string(std::max<int64_t>(age, 0)));
  }
  append_via(head, earlier_via, distribution_->via_host);
  append_edge_headers(head, x_cache);
  if (!keep) {
    append_header(head, "Connection", "close");
  } else if (http10) {
    append_header(head, "Connection", "keep-alive");
  }
  head += "\r\n";
  down_keep_alive_ = keep;
  response_started_ = true;
  first_byte_at_ = core::loop_now();
  sent_bytes_ += head.size();
  c.delivering = true;
  // Zero-copy write-first for the common hit: the head and a body that sits in one block of a
  // complete object go out in one sendmsg from our memory; whatever the kernel does not take is
  // queued below as usual (deliver_body resumes at segment_done).
  size_t head_left = head.size();
  if (!c.chunked && c.trailer.empty() && c.segments.size() == 1 && c.segments[0].prefix.empty()) {
    const CacheState::Segment& s = c.segments[0];
    std::string_view direct;
    bool whole = c.head_only;
    if (!whole && body.state() == cache::Body::State::Complete && s.first <= body.available()) {
      uint64_t len = s.length == kToEnd ? body.available() - s.first : s.length;
      if (len == 0) {
        whole = true;
      } else if (s.first + len <= body.available()) {
        std::string_view v = body.peek(s.first);
        if (v.size() >= len) {
          direct = v.substr(0, static_cast<size_t>(len));
          whole = true;
        }
      }
    }
    if (whole) {
      size_t w = conn_.send_direct(head, direct);
      if (w >= head.size()) {
        head_left = 0;
        uint64_t body_sent = w - head.size();
        c.segment_done = body_sent;
        sent_bytes_ += body_sent;
      } else {
        head_left = head.size() - w;
      }
    }
  }
  if (head_left > 0) {
    evbuffer_add(conn_.output(), head.data() + (head.size() - head_left), head_left);
  }
  deliver_body();
}

// Copies (small) or references (large) the object's bytes into the client's buffer, segment by
// segment, until the client's buffer is full (on_downstream_drained resumes), the body has no
// more bytes yet (a body subscription resumes), or everything is sent.
void Exchange::deliver_body() {
  CacheState& c = *cache_;
  if (!c.delivering || detached_) return;
  evbuffer* out = conn_.output();
  cache::Body& body = c.serving->body();
  while (!c.head_only && c.segment < c.segments.size()) {
    CacheState::Segment& s = c.segments[c.segment];
    if (c.segment_done == 0 && !s.prefix.empty()) {
      evbuffer_add(out, s.prefix.data(), s.prefix.size());
      sent_bytes_ += s.prefix.size();
      s.prefix.clear();
    }
    if (s.length != kToEnd && c.segment_done >= s.length) {
      ++c.segment;
      c.segment_done = 0;
      continue;
    }
    if (conn_.output_full()) {
      conn_.flush();
      if (conn_.output_full()) return;  // on_downstream_drained resumes
    }
    uint64_t at = s.first + c.segment_done;
    if (at >= body.available()) {
      cache::Body::State st = body.state();
      if (st == cache::Body::State::Complete && at >= body.available()) {
        if (s.length == kToEnd) {
          ++c.segment;  // unknown length: the body's end is the segment's end
          continue;
        }
        // Shorter than promised: cannot happen for a complete body of known length.
        phase_ = Phase::Failed;
        c.delivering = false;
        conn_.close_now();
        return;
      }
      if (st == cache::Body::State::Aborted && c.overflow && &body == c.fill_body.get()) {
        switch_to_passthrough();
        return;
      }
      if (st == cache::Body::State::Aborted) {
        PORTICO_WARN("cache: fill of %s failed mid-body; closing the viewer connection",
                     req_.path.c_str());
        phase_ = Phase::Failed;
        c.delivering = false;
        conn_.close_now();
        return;
      }
      conn_.flush();
      if (c.waiter_id == 0) c.waiter_id = worker_.add_cache_waiter(this);
      if (body.subscribe(&c, at)) {
        c.body_sub = &body;
        return;
      }
      continue;
    }
    std::string_view v = body.peek(at);
    if (s.length != kToEnd) v = v.substr(0, static_cast<size_t>(s.length - c.segment_done));
    if (c.chunked) {
      char size_line[24];
      int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", v.size());
      evbuffer_add(out, size_line, static_cast<size_t>(n));
      sent_bytes_ += static_cast<size_t>(n) + 2;
    }
    if (v.size() < kCopyBelow) {
      evbuffer_add(out, v.data(), v.size());
    } else {
      body.ref();
      evbuffer_add_reference(out, v.data(), v.size(), &release_body_ref, &body);
    }
    if (c.chunked) evbuffer_add(out, "\r\n", 2);
    sent_bytes_ += v.size();
    c.segment_done += v.size();
  }
  finish_delivery();
}

void Exchange::finish_delivery() {
  CacheState& c = *cache_;
  if (!c.head_only && !c.trailer.empty()) {
    evbuffer_add(conn_.output(), c.trailer.data(), c.trailer.size());
    sent_bytes_ += c.trailer.size();
  }
  if (c.chunked) {
    evbuffer_add(conn_.output(), "0\r\n\r\n", 5);
    sent_bytes_ += 5;
  }
  c.delivering = false;  // `serving` stays: content_type_ points into its head
  bool keep = down_keep_alive_ && keep_alive_possible();
  complete(keep);
}

}  // namespace portico::proxy
