#include "proxy/access_log.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace {
std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  return out;
}
}  // namespace

TEST_CASE("access log lines have CloudFront's 33 fields in order", "[proxy][access_log]") {
  portico::proxy::AccessRecord r;
  r.epoch_ms = 1'700'000'000'123;
  r.edge_location = "LOCAL1-P1";
  r.sc_bytes = 1234;
  r.client_ip = "127.0.0.1";
  r.method = "GET";
  r.cs_host = "abc.cloudfront.net";
  r.uri_stem = "/a b";
  r.status = 200;
  r.user_agent = "curl/7.88 (x)";
  r.result_type = "Miss";
  r.request_id = "id==";
  r.host_header = "localhost";
  r.protocol = "http";
  r.protocol_version = "HTTP/1.1";
  r.client_port = 5555;
  r.content_len = 10;
  std::string line;
  portico::proxy::format_access_record(r, line);
  REQUIRE(line.back() == '\n');
  line.pop_back();
  auto f = split_tabs(line);
  REQUIRE(f.size() == 33);
  CHECK(f[0] == "2023-11-14");
  CHECK(f[1] == "22:13:20");
  CHECK(f[2] == "LOCAL1-P1");
  CHECK(f[3] == "1234");
  CHECK(f[5] == "GET");
  CHECK(f[7] == "/a%20b");  // never breaks the tab-separated line
  CHECK(f[8] == "200");
  CHECK(f[9] == "-");  // no referer
  CHECK(f[10] == "curl/7.88%20(x)");
  CHECK(f[13] == "Miss");
  CHECK(f[14] == "id==");
  CHECK(f[26] == "5555");
  CHECK(f[30] == "10");
  CHECK(f[31] == "-");
  // The header names the same number of fields.
  std::string header(portico::proxy::access_log_header());
  auto fields_line = header.substr(header.find("#Fields: ") + 9);
  size_t spaces = 0;
  for (char c : fields_line) spaces += c == ' ';
  CHECK(spaces + 1 == 33);
}
