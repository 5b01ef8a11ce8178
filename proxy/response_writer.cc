#include "proxy/response_writer.h"

#include <event2/buffer.h>

#include <cstdio>
#include <cstring>
#include <ctime>

#include "core/clock.h"
#include "proxy/error_page.h"

namespace portico::proxy {

void append_status_line(std::string& out, int status, std::string_view reason) {
  if (reason.empty()) reason = core::reason_phrase(status);
  // Composed on the stack like a header line: one append instead of five and no to_string. A
  // status outside 100..999 (never produced here) still gets three digits' worth of room.
  char line[256];
  const size_t n = 9 + 3 + 1 + reason.size() + 2;
  if (status < 100 || status > 999 || n > sizeof line) {
    out.append("HTTP/1.1 ")
        .append(std::to_string(status))
        .append(" ")
        .append(reason)
        .append("\r\n");
    return;
  }
  std::memcpy(line, "HTTP/1.1 ", 9);
  line[9] = static_cast<char>('0' + status / 100);
  line[10] = static_cast<char>('0' + status / 10 % 10);
  line[11] = static_cast<char>('0' + status % 10);
  line[12] = ' ';
  std::memcpy(line + 13, reason.data(), reason.size());
  line[13 + reason.size()] = '\r';
  line[14 + reason.size()] = '\n';
  out.append(line, n);
}

namespace {

// "name: value\r\n" at p; returns the end.
char* put_line(char* p, std::string_view name, std::string_view value) {
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = ':';
  *p++ = ' ';
  std::memcpy(p, value.data(), value.size());
  p += value.size();
  *p++ = '\r';
  *p++ = '\n';
  return p;
}

}  // namespace

void append_header(std::string& out, std::string_view name, std::string_view value) {
  // Composed on the stack and appended once: one capacity check and one copy into `out` instead
  // of four of each (a head is a dozen of these per response).
  char line[256];
  const size_t n = name.size() + value.size() + 4;
  if (n > sizeof line) {
    out.append(name).append(": ").append(value).append("\r\n");
    return;
  }
  put_line(line, name, value);
  out.append(line, n);
}

void append_header_lines(std::string& out, std::initializer_list<HeaderLine> lines) {
  char buf[512];
  size_t n = 0;
  for (const HeaderLine& l : lines) n += l.name.size() + l.value.size() + 4;
  if (n > sizeof buf) {
    for (const HeaderLine& l : lines) append_header(out, l.name, l.value);
    return;
  }
  char* p = buf;
  for (const HeaderLine& l : lines) p = put_line(p, l.name, l.value);
  out.append(buf, n);
}

void append_via(std::string& out, std::string_view earlier, std::string_view via_host) {
  if (earlier.empty()) {
    char line[256];
    constexpr std::string_view kPrefix = "Via: 1.1 ";
    constexpr std::string_view kSuffix = " (CloudFront)\r\n";
    const size_t n = kPrefix.size() + via_host.size() + kSuffix.size();
    if (n <= sizeof line) {
      std::memcpy(line, kPrefix.data(), kPrefix.size());
      std::memcpy(line + kPrefix.size(), via_host.data(), via_host.size());
      std::memcpy(line + kPrefix.size() + via_host.size(), kSuffix.data(), kSuffix.size());
      out.append(line, n);
      return;
    }
  }
  out += "Via: ";
  if (!earlier.empty()) {
    out += earlier;
    out += ", ";
  }
  out += "1.1 ";
  out += via_host;
  out += " (CloudFront)\r\n";
}

std::string_view http_date_now() {
  thread_local time_t cached_sec = 0;
  thread_local char buf[40];
  thread_local size_t len = 0;
  time_t now = time(nullptr);
  if (now != cached_sec) {
    cached_sec = now;
    len = core::format_http_date(now, buf);
  }
  return std::string_view(buf, len);
}

void write_error_response(evbuffer* out, const LocalResponse& r) {
  std::string body = error_page_html(
      r.status,
      r.explanation.empty() ? std::string_view("Request could not be served.") : r.explanation,
      r.request_id);
  std::string head;
  head.reserve(512);
  append_status_line(head, r.status, {});
  append_header(head, "Server", "CloudFront");
  append_header(head, "Date", http_date_now());
  append_header(head, "Content-Type", "text/html");
  append_header(head, "Content-Length", std::to_string(body.size()));
  if (!r.allow.empty()) append_header(head, "Allow", r.allow);
  if (r.close) {
    append_header(head, "Connection", "close");
  } else if (r.http10_keep_alive) {
    append_header(head, "Connection", "keep-alive");
  }
  append_header(head, "X-Cache", "Error from cloudfront");
  if (!r.via_host.empty()) append_via(head, {}, r.via_host);
  if (!r.pop.empty()) append_header(head, "X-Amz-Cf-Pop", r.pop);
  if (!r.request_id.empty()) append_header(head, "X-Amz-Cf-Id", r.request_id);
  head += "\r\n";
  evbuffer_add(out, head.data(), head.size());
  if (!r.head_only) evbuffer_add(out, body.data(), body.size());
}

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += b;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace portico::proxy
