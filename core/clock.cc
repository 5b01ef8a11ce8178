#include "core/clock.h"

#include <cstdio>
#include <cstring>
#include <ctime>

namespace portico::core {

size_t format_http_date(int64_t epoch_seconds, char* out) {
  time_t t = static_cast<time_t>(epoch_seconds);
  tm tmv{};
  gmtime_r(&t, &tmv);
  return strftime(out, 30, "%a, %d %b %Y %H:%M:%S GMT", &tmv);
}

int64_t parse_http_date(const char* s, size_t len) {
  char buf[64];
  // An empty view may have a null data(): memcpy from it is undefined even for 0 bytes.
  if (len == 0 || len >= sizeof buf) return -1;
  std::memcpy(buf, s, len);
  buf[len] = '\0';
  static const char* const kFormats[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                         "%a %b %e %H:%M:%S %Y"};
  for (const char* f : kFormats) {
    tm tmv{};
    const char* end = strptime(buf, f, &tmv);
    if (end != nullptr && *end == '\0') return static_cast<int64_t>(timegm(&tmv));
  }
  return -1;
}

}  // namespace portico::core
