// SigV4 against AWS's published test suites (read at test time from ../shared/testdata/sigv4/,
// reported skipped when that folder is absent), botocore-made S3 vectors (shared ones and our own
// committed in tests/unit/origin/data/), and the building blocks one by one.
#include "origin/sigv4.h"

#include <time.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/json.h"

namespace fs = std::filesystem;
using portico::core::RequestHead;
using portico::origin::canonical_headers;
using portico::origin::canonical_query;
using portico::origin::canonical_uri;
using portico::origin::Credentials;
using portico::origin::HeaderSelection;
using portico::origin::kEmptyPayloadSha256;
using portico::origin::PathRules;
using portico::origin::Signer;
using portico::origin::SigningOptions;
using portico::origin::SigningSteps;

namespace {

// PORTICO_SIGV4_TESTDATA overrides the folder (e.g. to check the "skipped" path).
const fs::path kSharedDir =
    std::getenv("PORTICO_SIGV4_TESTDATA")
        ? fs::path(std::getenv("PORTICO_SIGV4_TESTDATA"))
        : fs::path(PORTICO_SOURCE_DIR) / ".." / "shared" / "testdata" / "sigv4";
const fs::path kOwnVectors = fs::path(PORTICO_SOURCE_DIR) / "tests" / "unit" / "origin" / "data" /
                             "sigv4_botocore_vectors.json";
constexpr const char* kAkid = "AKIDEXAMPLE";
constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// "20150830T123600Z" or "2015-08-30T12:36:00Z" -> epoch seconds.
int64_t parse_time(const std::string& s) {
  struct tm tm {};
  int y, mo, d, h, mi, sec;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6 &&
      std::sscanf(s.c_str(), "%4d%2d%2dT%2d%2d%2d", &y, &mo, &d, &h, &mi, &sec) != 6) {
    FAIL("bad time " << s);
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return static_cast<int64_t>(timegm(&tm));
}

// --- A minimal JSON reader (objects, arrays, strings with \u escapes, literals, numbers) ---
struct Json {
  enum class Type { Null, Bool, Number, String, Array, Object } type = Type::Null;
  bool b = false;
  std::string s;  // string value, or the number's text
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;

  const Json* find(const std::string& key) const {
    for (const auto& [k, v] : members) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  const Json& at(const std::string& key) const {
    const Json* v = find(key);
    if (!v) FAIL("json: no member " << key);
    return *v;
  }
  std::string str(const std::string& key, const std::string& fallback = "") const {
    const Json* v = find(key);
    return v && v->type == Type::String ? v->s : fallback;
  }
  bool boolean(const std::string& key, bool fallback = false) const {
    const Json* v = find(key);
    return v && v->type == Type::Bool ? v->b : fallback;
  }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : t_(text) {}
  Json parse() {
    Json v = value();
    ws();
    need(i_ == t_.size());
    return v;
  }

 private:
  // One assertion per failure instead of one per character.
  static void need(bool ok) {
    if (!ok) FAIL("malformed JSON in a test vector file");
  }
  void ws() { portico::core::skip_json_ws(t_, i_); }
  char peek() {
    ws();
    need(i_ < t_.size());
    return t_[i_];
  }
  void expect(char c) {
    need(peek() == c);
    ++i_;
  }
  Json value() {
    char c = peek();
    Json v;
    if (c == '{') {
      v.type = Json::Type::Object;
      ++i_;
      if (peek() == '}') {
        ++i_;
        return v;
      }
      for (;;) {
        std::string k = string();
        expect(':');
        v.members.emplace_back(std::move(k), value());
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.type = Json::Type::Array;
      ++i_;
      if (peek() == ']') {
        ++i_;
        return v;
      }
      for (;;) {
        v.items.push_back(value());
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.type = Json::Type::String;
      v.s = string();
      return v;
    }
    if (t_.compare(i_, 4, "null") == 0) {
      i_ += 4;
      return v;
    }
    if (t_.compare(i_, 4, "true") == 0) {
      i_ += 4;
      v.type = Json::Type::Bool;
      v.b = true;
      return v;
    }
    if (t_.compare(i_, 5, "false") == 0) {
      i_ += 5;
      v.type = Json::Type::Bool;
      return v;
    }
    v.type = Json::Type::Number;
    while (i_ < t_.size() &&
           std::string_view("+-.eE0123456789").find(t_[i_]) != std::string_view::npos) {
      v.s += t_[i_++];
    }
    need(!v.s.empty());
    return v;
  }
  // String literals with every RFC 8259 escape: the reader the admin APIs use.
  std::string string() {
    ws();
    portico::core::Result<std::string> r = portico::core::read_json_string(t_, i_);
    need(r.ok());
    return r.ok() ? std::move(r.value()) : std::string();
  }
  const std::string& t_;
  size_t i_ = 0;
};

Json load_json(const fs::path& p) {
  std::string text = read_file(p);
  return JsonParser(text).parse();
}

// --- The test suites' raw requests: "METHOD target HTTP/1.1", header lines (a line starting with
// whitespace continues the previous value), blank line, body. ---
struct RawRequest {
  RequestHead head;
  std::string body;
};

RawRequest parse_raw_request(const std::string& text) {
  RawRequest r;
  size_t pos = 0;
  auto next_line = [&](std::string& line) {
    if (pos > text.size()) return false;
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    line = text.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    pos = nl + 1;
    return true;
  };
  std::string line;
  REQUIRE(next_line(line));
  size_t sp1 = line.find(' ');
  size_t sp2 = line.rfind(' ');
  REQUIRE(sp1 != std::string::npos);
  REQUIRE(sp2 > sp1);
  r.head.method_token = line.substr(0, sp1);
  r.head.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t q = r.head.target.find('?');
  r.head.path = r.head.target.substr(0, q);
  if (q != std::string::npos) {
    r.head.query = r.head.target.substr(q + 1);
    r.head.has_query = true;
  }
  std::vector<std::pair<std::string, std::string>> fields;
  while (next_line(line)) {
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') {
      REQUIRE(!fields.empty());
      fields.back().second += "\n" + line;
      continue;
    }
    size_t colon = line.find(':');
    REQUIRE(colon != std::string::npos);
    fields.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  for (const auto& [n, v] : fields) r.head.headers.add(n, v);
  if (pos < text.size()) r.body = text.substr(pos);
  return r;
}

std::string header_value(const std::string& raw_request, const std::string& lower_name) {
  RawRequest r = parse_raw_request(raw_request);
  const std::string* v = r.head.headers.get(lower_name);
  if (!v) return {};
  std::string s = *v;
  while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  return s;
}

struct Expected {
  std::string creq, sts, authz;
};

void check_steps(const SigningSteps& got, const Expected& want) {
  CHECK(got.canonical_request == want.creq);
  CHECK(got.string_to_sign == want.sts);
  CHECK(got.authorization == want.authz);
}

// url "scheme://host[:port]/path?query" -> RequestHead with Host as botocore sends it.
RequestHead head_from_url(const std::string& method, const std::string& url) {
  RequestHead h;
  h.method_token = method;
  size_t scheme = url.find("://");
  REQUIRE(scheme != std::string::npos);
  size_t slash = url.find('/', scheme + 3);
  std::string host =
      url.substr(scheme + 3, slash == std::string::npos ? std::string::npos : slash - scheme - 3);
  std::string rest = slash == std::string::npos ? "/" : url.substr(slash);
  h.target = rest;
  size_t q = rest.find('?');
  h.path = rest.substr(0, q);
  if (q != std::string::npos) {
    h.query = rest.substr(q + 1);
    h.has_query = true;
  }
  h.headers.add("Host", host);
  return h;
}

std::vector<fs::path> case_dirs_with(const fs::path& root, const std::string& marker_ext) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file() && e.path().extension() == marker_ext) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Runs one botocore-format vector file (shared or ours); returns how many cases ran.
size_t run_botocore_vectors(const fs::path& file) {
  Json doc = load_json(file);
  const Json& cases = doc.at("cases");
  size_t n = 0;
  for (const Json& c : cases.items) {
    const std::string name = c.str("name");
    INFO("vector " << name << " from " << file.filename().string());
    Credentials creds;
    creds.access_key_id = c.str("access_key", doc.str("access_key", kAkid));
    creds.secret_access_key = c.str("secret_key", doc.str("secret_key", kSecret));
    creds.session_token = c.str("session_token");
    SigningOptions opt;
    opt.path_rules = PathRules::S3;
    opt.headers = HeaderSelection::Origin;  // the proxy's default must reproduce botocore
    // botocore signs the (empty) body over http, and over https when no Content-MD5 is present,
    // whatever x-amz-content-sha256 the caller set; our vectors record what it sent.
    opt.payload_hash = c.str("payload_hash", std::string(kEmptyPayloadSha256));
    Signer signer(creds, c.str("region", doc.str("region", "us-east-1")), "s3", opt);

    const std::string url = c.str("url");
    RequestHead head = head_from_url(c.str("method"), url);
    const std::string wire_path = head.path;
    const std::string wire_query = head.query;
    if (const Json* viewer = c.find("viewer_path"); viewer && viewer->type == Json::Type::String) {
      head.path = viewer->s;  // another spelling of the same key: must sign identically
    }
    for (const auto& [hn, hv] : c.at("headers").members) head.headers.add(hn, hv.s);
    int64_t now = parse_time(c.str("amz_date", doc.str("amz_date")));
    SigningSteps steps;
    REQUIRE(signer.sign(head, now, &steps).ok());
    check_steps(steps,
                {c.str("canonical_request"), c.str("string_to_sign"), c.str("authorization")});
    // What goes on the wire is what botocore sent (path) or its canonical form (query).
    CHECK(head.path == wire_path);
    CHECK(head.query == *canonical_query(wire_query));
    CHECK(*head.headers.get("x-amz-content-sha256") == opt.payload_hash);
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("sigv4: hashes and the signing key", "[sigv4]") {
  CHECK(portico::origin::sha256_hex("") == kEmptyPayloadSha256);
  auto mac = portico::origin::hmac_sha256("key", "The quick brown fox jumps over the lazy dog");
  CHECK(portico::origin::signature_hex(mac, "") != "");  // exercises a 32-byte key
  // RFC 4231-style known answer (HMAC-SHA256 "key"/"The quick brown fox...").
  std::string hex;
  for (uint8_t b : mac) {
    static const char* d = "0123456789abcdef";
    hex += d[b >> 4];
    hex += d[b & 15];
  }
  CHECK(hex == "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
  // AWS's "derive a signing key" example (20150830/us-east-1/iam).
  auto key = portico::origin::derive_signing_key(kSecret, "20150830", "us-east-1", "iam");
  hex.clear();
  for (uint8_t b : key) {
    static const char* d = "0123456789abcdef";
    hex += d[b >> 4];
    hex += d[b & 15];
  }
  CHECK(hex == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  CHECK(portico::origin::format_amz_date(1440938160) == "20150830T123600Z");
  CHECK(portico::origin::credential_scope("20150830", "us-east-1", "s3") ==
        "20150830/us-east-1/s3/aws4_request");
}

TEST_CASE("sigv4: URI encoding and S3 key paths", "[sigv4]") {
  using portico::origin::percent_decode;
  using portico::origin::uri_encode;
  CHECK(uri_encode("AZaz09-._~", false) == "AZaz09-._~");
  CHECK(uri_encode("a b+c/d=e", false) == "a%20b%2Bc%2Fd%3De");
  CHECK(uri_encode("a b+c/d=e", true) == "a%20b%2Bc/d%3De");
  CHECK(uri_encode("\xc3\xa9", true) == "%C3%A9");
  CHECK(uri_encode("%", true) == "%25");
  CHECK(*percent_decode("a%20b+c%2bd%7E") == "a b+c+d~");
  CHECK_FALSE(percent_decode("%").ok());
  CHECK_FALSE(percent_decode("abc%2").ok());
  CHECK_FALSE(percent_decode("%zz").ok());
  CHECK(percent_decode("%g0").error().status == 400);

  // S3: decode once, encode once; never normalised.
  CHECK(*canonical_uri("", PathRules::S3) == "/");
  CHECK(*canonical_uri("/my%20file.txt", PathRules::S3) == "/my%20file.txt");
  CHECK(*canonical_uri("/my file.txt", PathRules::S3) == "/my%20file.txt");
  CHECK(*canonical_uri("/a+b", PathRules::S3) == "/a%2Bb");  // '+' is a literal plus
  CHECK(*canonical_uri("/a%2Bb", PathRules::S3) == "/a%2Bb");
  CHECK(*canonical_uri("/%7euser/~x", PathRules::S3) == "/~user/~x");  // one key, one spelling
  CHECK(*canonical_uri("/caf%c3%a9", PathRules::S3) == "/caf%C3%A9");
  CHECK(*canonical_uri("/caf\xc3\xa9", PathRules::S3) == "/caf%C3%A9");
  CHECK(*canonical_uri("/50%2525", PathRules::S3) == "/50%2525");  // the key "50%25"
  CHECK(*canonical_uri("/a//b/./c/../d", PathRules::S3) == "/a//b/./c/../d");
  CHECK(*canonical_uri("/a%2Fb", PathRules::S3) == "/a/b");
  CHECK(*canonical_uri("/x!'()*", PathRules::S3) == "/x%21%27%28%29%2A");
  CHECK_FALSE(canonical_uri("/bad%", PathRules::S3).ok());
  CHECK_FALSE(canonical_uri("/bad%4", PathRules::S3).ok());
  // Idempotent: the canonical form decodes back to the same key.
  for (const char* p : {"/a%20b", "/%E2%82%AC/x", "/q%3D1%26x%3Fy%23z", "/~/%25"}) {
    std::string once = *canonical_uri(p, PathRules::S3);
    CHECK(*canonical_uri(once, PathRules::S3) == once);
  }

  // Classic: normalise, then encode what was given (so "%20" is double-encoded).
  CHECK(*canonical_uri("/example1/example2/../..", PathRules::Classic) == "/");
  CHECK(*canonical_uri("//example//", PathRules::Classic) == "/example/");
  CHECK(*canonical_uri("/./", PathRules::Classic) == "/");
  CHECK(*canonical_uri("/a%20b", PathRules::Classic) == "/a%2520b");
}

TEST_CASE("sigv4: canonical query string", "[sigv4]") {
  CHECK(*canonical_query("") == "");
  CHECK(*canonical_query("b=2&a=1") == "a=1&b=2");
  CHECK(*canonical_query("a=2&a=1") == "a=1&a=2");
  CHECK(*canonical_query("acl") == "acl=");
  CHECK(*canonical_query("a=1&&b=") == "a=1&b=");
  CHECK(*canonical_query("x=a+b%2Bc") == "x=a%20b%2Bc");  // form encoding: '+' is a space
  CHECK(*canonical_query("k=v=w") == "k=v%3Dw");
  CHECK(*canonical_query("%e1%88%b4=1") == "%E1%88%B4=1");
  CHECK(*canonical_query("x=\xe1\x88\xb4") == "x=%E1%88%B4");
  CHECK(*canonical_query("x=%7E*") == "x=~%2A");
  CHECK_FALSE(canonical_query("x=%zz").ok());
}

TEST_CASE("sigv4: canonical headers", "[sigv4]") {
  portico::core::Headers h;
  h.add("Host", "example.com");
  h.add("My-Header", "  a   b \t c  ");
  h.add("my-header", "second");
  h.add("User-Agent", "curl");
  h.add("Range", "bytes=0-1");
  h.add("X-Amz-Meta-Folded", "one\n   two");
  auto all = canonical_headers(h, HeaderSelection::All);
  CHECK(all.signed_headers == "host;my-header;range;user-agent;x-amz-meta-folded");
  CHECK(all.block ==
        "host:example.com\nmy-header:a b c,second\nrange:bytes=0-1\nuser-agent:curl\n"
        "x-amz-meta-folded:one two\n");
  auto origin = canonical_headers(h, HeaderSelection::Origin);
  CHECK(origin.signed_headers == "host;range;x-amz-meta-folded");
}

TEST_CASE("sigv4: AWS classic test suite (aws4_testsuite)", "[sigv4][vectors]") {
  const fs::path root = kSharedDir / "aws4_testsuite";
  if (!fs::is_directory(root)) {
    WARN("SKIPPED 34 aws4_testsuite cases: " << root.string() << " is absent");
    return;
  }
  size_t passed = 0;
  for (const fs::path& req_file : case_dirs_with(root, ".req")) {
    const std::string name = req_file.stem().string();
    const fs::path dir = req_file.parent_path();
    INFO("aws4_testsuite case " << name);
    std::string req_text = read_file(req_file);
    RawRequest raw = parse_raw_request(req_text);
    std::string sreq = read_file(dir / (name + ".sreq"));
    Credentials creds{kAkid, kSecret, header_value(sreq, "x-amz-security-token"), "test"};
    SigningOptions opt;
    opt.path_rules = PathRules::Classic;
    opt.headers = HeaderSelection::All;
    opt.content_sha256_header = false;
    opt.payload_hash = portico::origin::sha256_hex(raw.body);
    opt.sign_session_token = name != "post-sts-header-after";
    Signer signer(creds, "us-east-1", "service", opt);
    SigningSteps steps;
    REQUIRE(signer.sign(raw.head, parse_time("20150830T123600Z"), &steps).ok());
    Expected want{read_file(dir / (name + ".creq")), read_file(dir / (name + ".sts")),
                  read_file(dir / (name + ".authz"))};
    bool ok = steps.canonical_request == want.creq && steps.string_to_sign == want.sts &&
              steps.authorization == want.authz;
    check_steps(steps, want);
    passed += ok;
  }
  WARN("aws4_testsuite: " << passed << " cases passed byte for byte");
  CHECK(passed == 34);
}

TEST_CASE("sigv4: aws-c-auth v4 suite, Authorization-header variant", "[sigv4][vectors]") {
  const fs::path root = kSharedDir / "aws-c-auth-v4";
  if (!fs::is_directory(root)) {
    WARN("SKIPPED 38 aws-c-auth-v4 cases: " << root.string() << " is absent");
    return;
  }
  size_t passed = 0;
  size_t s3_rules = 0;
  for (const fs::path& ctx_file : case_dirs_with(root, ".json")) {
    if (ctx_file.filename() != "context.json") continue;
    const fs::path dir = ctx_file.parent_path();
    const std::string name = dir.filename().string();
    INFO("aws-c-auth case " << name);
    Json ctx = load_json(ctx_file);
    const Json& cj = ctx.at("credentials");
    Credentials creds{cj.str("access_key_id"), cj.str("secret_access_key"), cj.str("token"),
                      "test"};
    RawRequest raw = parse_raw_request(read_file(dir / "request.txt"));
    SigningOptions opt;
    opt.path_rules = ctx.boolean("normalize", true) ? PathRules::Classic : PathRules::S3;
    opt.headers = HeaderSelection::All;
    opt.content_sha256_header = ctx.boolean("sign_body");
    opt.payload_hash = portico::origin::sha256_hex(raw.body);
    opt.sign_session_token = !ctx.boolean("omit_session_token");
    Signer signer(creds, ctx.str("region"), ctx.str("service"), opt);
    SigningSteps steps;
    REQUIRE(signer.sign(raw.head, parse_time(ctx.str("timestamp")), &steps).ok());
    std::string signed_req = read_file(dir / "header-signed-request.txt");
    std::string want_authz = header_value(signed_req, "authorization");
    Expected want{read_file(dir / "header-canonical-request.txt"),
                  read_file(dir / "header-string-to-sign.txt"), want_authz};
    check_steps(steps, want);
    CHECK(steps.signature == read_file(dir / "header-signature.txt"));
    bool ok = steps.canonical_request == want.creq && steps.string_to_sign == want.sts &&
              steps.authorization == want.authz;
    passed += ok;
    s3_rules += ok && opt.path_rules == PathRules::S3;
  }
  WARN("aws-c-auth-v4: " << passed << " cases passed byte for byte (" << s3_rules
                         << " with normalize:false = S3 path rules); query-signing variants not "
                            "applicable (header signing only)");
  CHECK(passed == 38);
  CHECK(s3_rules == 7);
}

TEST_CASE("sigv4: S3 botocore vectors (shared)", "[sigv4][vectors]") {
  const fs::path file = kSharedDir / "s3-botocore-vectors.json";
  if (!fs::exists(file)) {
    WARN("SKIPPED 10 shared S3 botocore vectors: " << file.string() << " is absent");
    return;
  }
  size_t n = run_botocore_vectors(file);
  WARN("s3-botocore-vectors.json: " << n << " cases run");
  CHECK(n == 10);
}

TEST_CASE("sigv4: S3 botocore vectors (ours, committed)", "[sigv4][vectors]") {
  REQUIRE(fs::exists(kOwnVectors));
  size_t n = run_botocore_vectors(kOwnVectors);
  CHECK(n >= 20);
}

TEST_CASE("sigv4: Signer::sign on an origin request", "[sigv4]") {
  Credentials creds{"AKIAEXAMPLEKEYID0001", "s3cr3t/SECRET+value", "", "test"};
  Signer signer(creds, "us-east-1");
  RequestHead head;
  head.method = portico::core::Method::Get;
  head.path = "/bucket/caf%c3%a9 menu.html";
  head.query = "b=2&a=1";
  head.has_query = true;
  head.headers.add("Host", "127.0.0.1:9000");
  head.headers.add("Authorization", "Basic dmlld2VyOnNlY3JldA==");  // a viewer's, never forwarded
  head.headers.add("X-Amz-Date", "19990101T000000Z");
  head.headers.add("User-Agent", "viewer/1.0");
  head.headers.add("Via", "1.1 portico");

  SigningSteps steps;
  REQUIRE(signer.sign(head, 1440938160, &steps).ok());
  CHECK(head.path == "/bucket/caf%C3%A9%20menu.html");
  CHECK(head.query == "a=1&b=2");
  CHECK(head.target == "/bucket/caf%C3%A9%20menu.html?a=1&b=2");
  CHECK(head.headers.get("authorization")
            ->rfind("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEKEYID0001/"
                    "20150830/us-east-1/s3/aws4_request, "
                    "SignedHeaders=host;x-amz-content-sha256;x-amz-"
                    "date, Signature=",
                    0) == 0);
  CHECK(*head.headers.get("x-amz-date") == "20150830T123600Z");
  CHECK(*head.headers.get("x-amz-content-sha256") == kEmptyPayloadSha256);
  CHECK_FALSE(head.headers.has("x-amz-security-token"));
  size_t authz_count = 0;
  for (const auto& h : head.headers) authz_count += portico::core::iequals(h.name, "authorization");
  CHECK(authz_count == 1);
  // Nothing derived from the request carries the secret.
  for (const std::string* s :
       {&steps.canonical_request, &steps.string_to_sign, &steps.authorization}) {
    CHECK(s->find(creds.secret_access_key) == std::string::npos);
  }

  SECTION("a session token is added and signed") {
    Signer with_token(Credentials{"AKIAEXAMPLEKEYID0001", "s", "tok/en+==", "test"}, "eu-west-1");
    RequestHead h2;
    h2.method_token = "HEAD";
    h2.path = "/k";
    h2.headers.add("Host", "b.s3.eu-west-1.amazonaws.com");
    h2.headers.add("X-Amz-Security-Token", "viewer-supplied");
    REQUIRE(with_token.sign(h2, 1440938160, &steps).ok());
    CHECK(*h2.headers.get("x-amz-security-token") == "tok/en+==");
    CHECK(steps.canonical_request.find("x-amz-security-token:tok/en+==\n") != std::string::npos);
    CHECK(steps.canonical_request.rfind("HEAD\n/k\n", 0) == 0);
  }
  SECTION("a bad escape or a missing Host fails and leaves the request untouched") {
    RequestHead bad;
    bad.path = "/a%zz";
    bad.headers.add("Host", "h");
    CHECK_FALSE(signer.sign(bad, 1440938160).ok());
    CHECK(bad.path == "/a%zz");
    CHECK(bad.headers.size() == 1);
    RequestHead no_host;
    no_host.path = "/a";
    CHECK_FALSE(signer.sign(no_host, 1440938160).ok());
    CHECK(no_host.headers.empty());
  }
}

TEST_CASE("sigv4: signing keys are cached per date, region, service and secret", "[sigv4]") {
  Credentials creds{"AKIAEXAMPLEKEYID0001", "secret-one", "", "test"};
  Signer signer(creds, "us-east-1");
  auto sign_at = [&](int64_t t) {
    RequestHead h;
    h.path = "/k";
    h.headers.add("Host", "h");
    REQUIRE(signer.sign(h, t).ok());
  };
  const int64_t day = 1440938160;  // 2015-08-30T12:36:00Z
  for (int i = 0; i < 100; ++i) sign_at(day + i);
  CHECK(signer.key_cache().derivations() == 1);
  sign_at(day + 86400);  // next UTC day
  CHECK(signer.key_cache().derivations() == 2);
  sign_at(day);  // still cached
  CHECK(signer.key_cache().derivations() == 2);
  signer.set_credentials(Credentials{"AKIAEXAMPLEKEYID0001", "secret-two", "", "test"});
  sign_at(day);  // rotated secret: new key
  CHECK(signer.key_cache().derivations() == 3);

  portico::origin::SigningKeyCache cache;
  const auto& k1 = cache.get("s", "20150830", "us-east-1", "s3");
  auto k1_copy = k1;
  cache.get("s", "20150830", "eu-west-1", "s3");
  cache.get("s", "20150830", "us-east-1", "service");
  CHECK(cache.derivations() == 3);
  CHECK(cache.get("s", "20150830", "us-east-1", "s3") == k1_copy);
  CHECK(cache.derivations() == 3);
  // More tuples than entries: the least recently used one is evicted and derived again.
  for (int d = 1; d <= 4; ++d) cache.get("s", "2015090" + std::to_string(d), "us-east-1", "s3");
  CHECK(cache.derivations() == 7);
  CHECK(cache.get("s", "20150830", "us-east-1", "s3") == k1_copy);
  CHECK(cache.derivations() == 8);
  CHECK(k1_copy == portico::origin::derive_signing_key("s", "20150830", "us-east-1", "s3"));
}
