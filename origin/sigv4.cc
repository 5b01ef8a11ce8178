#include "origin/sigv4.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <time.h>

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "core/assert.h"

namespace portico::origin {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr char kHexUpper[] = "0123456789ABCDEF";

std::string to_hex(const uint8_t* p, size_t n) {
  std::string out(n * 2, '\0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[p[i] >> 4];
    out[2 * i + 1] = kHex[p[i] & 0xF];
  }
  return out;
}

// Fetched once per process (explicit fetch avoids the per-call implicit fetch of the one-shot
// APIs, which costs more than the hash itself on short inputs). Function-local statics: safe to
// initialise from several threads.
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  PORTICO_CHECK(md != nullptr);
  return md;
}

EVP_MAC* hmac_mac() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  PORTICO_CHECK(mac != nullptr);
  return mac;
}

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

// One HMAC context per thread with its digest set once, re-keyed per call: EVP_MAC_init() with
// only a new key skips the digest lookup that setting OSSL_MAC_PARAM_DIGEST costs each time, and
// a thread_local keeps the free functions thread-safe.
EVP_MAC_CTX* thread_mac_ctx() {
  thread_local std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx = [] {
    std::unique_ptr<EVP_MAC_CTX, MacCtxFree> c(EVP_MAC_CTX_new(hmac_mac()));
    PORTICO_CHECK(c != nullptr);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    PORTICO_CHECK(EVP_MAC_CTX_set_params(c.get(), params) == 1);
    return c;
  }();
  return ctx.get();
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

EVP_MD_CTX* thread_md_ctx() {
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  PORTICO_CHECK(ctx != nullptr);
  return ctx.get();
}

void hmac_into(const void* key, size_t key_len, std::string_view data, uint8_t out[32]) {
  EVP_MAC_CTX* ctx = thread_mac_ctx();
  size_t len = 0;
  bool ok =
      EVP_MAC_init(ctx, static_cast<const unsigned char*>(key), key_len, nullptr) == 1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1 &&
      EVP_MAC_final(ctx, out, &len, 32) == 1;
  PORTICO_CHECK(ok && len == 32);
}

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

core::Error bad_escape(std::string_view what) {
  std::string detail = "malformed percent-escape";
  if (!what.empty()) detail.append(" in request ").append(what);
  core::Error e =
      core::Error::make(core::ErrorKind::ParseError, core::Side::Downstream, std::move(detail));
  e.status = 400;
  return e;
}

// RFC 3986 §5.2.4 dot-segment removal plus merging of empty segments ("//"), as the AWS SDKs do
// for every service but S3.
std::string normalize_path(std::string_view path) {
  if (path.empty()) return "/";
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view seg = path.substr(pos, slash - pos);
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
    } else if (!seg.empty() && seg != ".") {
      out.push_back(seg);
    }
    pos = slash + 1;
  }
  std::string result;
  if (path.front() == '/') result += '/';
  for (size_t i = 0; i < out.size(); ++i) {
    if (i) result += '/';
    result += out[i];
  }
  if (path.back() == '/' && !out.empty()) result += '/';
  return result;
}

// Decodes %XX once; with plus_as_space, '+' is a space (application/x-www-form-urlencoded).
core::Result<std::string> decode(std::string_view encoded, bool plus_as_space) {
  std::string out;
  out.reserve(encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    char c = encoded[i];
    if (c == '+' && plus_as_space) {
      out += ' ';
    } else if (c != '%') {
      out += c;
    } else {
      if (i + 2 >= encoded.size()) return bad_escape("");
      int hi = hex_value(encoded[i + 1]);
      int lo = hex_value(encoded[i + 2]);
      if (hi < 0 || lo < 0) return bad_escape("");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
  }
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Trims and collapses inner whitespace runs (obs-fold line breaks included) to one space.
// Appends whole runs, not characters: this runs on every signed header of every origin fetch.
void append_trimmed(std::string& out, std::string_view v) {
  size_t i = 0;
  const size_t n = v.size();
  bool first = true;
  while (i < n) {
    while (i < n && is_space(v[i])) ++i;
    if (i == n) break;
    size_t start = i;
    while (i < n && !is_space(v[i])) ++i;
    if (!first) out += ' ';
    out.append(v.data() + start, i - start);
    first = false;
  }
}

bool selected_for_origin(std::string_view lower) {
  static constexpr std::string_view kNames[] = {
      "host",     "content-type",  "content-md5",       "range",
      "if-match", "if-none-match", "if-modified-since", "if-unmodified-since"};
  if (lower.size() > 6 && lower.substr(0, 6) == "x-amz-") return true;
  return std::find(std::begin(kNames), std::end(kNames), lower) != std::end(kNames);
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  uint8_t md[32];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = thread_md_ctx();
  bool ok = EVP_DigestInit_ex2(ctx, sha256_md(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, data.data(), data.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, md, &len) == 1;
  PORTICO_CHECK(ok && len == 32);
  return to_hex(md, sizeof md);
}

std::array<uint8_t, 32> hmac_sha256(std::string_view key, std::string_view data) {
  std::array<uint8_t, 32> out{};
  hmac_into(key.data(), key.size(), data, out.data());
  return out;
}

std::string format_amz_date(int64_t epoch_s) {
  time_t t = static_cast<time_t>(epoch_s);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  size_t n = strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return std::string(buf, n);
}

std::string uri_encode(std::string_view bytes, bool keep_slash) {
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 4);
  size_t i = 0;
  while (i < bytes.size()) {
    size_t start = i;
    while (i < bytes.size() && (is_unreserved(static_cast<unsigned char>(bytes[i])) ||
                                (keep_slash && bytes[i] == '/'))) {
      ++i;
    }
    out.append(bytes.data() + start, i - start);
    if (i == bytes.size()) break;
    auto c = static_cast<unsigned char>(bytes[i++]);
    const char esc[3] = {'%', kHexUpper[c >> 4], kHexUpper[c & 0xF]};
    out.append(esc, 3);
  }
  return out;
}

core::Result<std::string> percent_decode(std::string_view encoded) {
  return decode(encoded, false);
}

core::Result<std::string> canonical_uri(std::string_view path, PathRules rules) {
  if (path.empty()) return std::string("/");
  if (rules == PathRules::Classic) return uri_encode(normalize_path(path), true);
  auto key = percent_decode(path);
  if (!key) return bad_escape("path");
  return uri_encode(*key, true);
}

core::Result<std::string> canonical_query(std::string_view query) {
  if (query.empty()) return std::string();
  std::vector<std::pair<std::string, std::string>> params;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view field = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (field.empty()) continue;
    size_t eq = field.find('=');
    std::string_view name = field.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : field.substr(eq + 1);
    auto n = decode(name, true);
    auto v = decode(value, true);
    if (!n || !v) return bad_escape("query");
    params.emplace_back(uri_encode(*n, false), uri_encode(*v, false));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [n, v] : params) {
    if (!out.empty()) out += '&';
    out += n;
    out += '=';
    out += v;
  }
  return out;
}

CanonicalHeaders canonical_headers(const core::Headers& headers, HeaderSelection selection) {
  // (lower-case name, arrival index) sorted by name; stable so repeated fields keep their order.
  std::vector<std::pair<std::string, const core::Header*>> fields;
  fields.reserve(headers.size());
  for (const core::Header& h : headers) {
    std::string lower = core::to_lower(h.name);
    if (selection == HeaderSelection::Origin && !selected_for_origin(lower)) continue;
    fields.emplace_back(std::move(lower), &h);
  }
  std::stable_sort(fields.begin(), fields.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  CanonicalHeaders out;
  for (size_t i = 0; i < fields.size(); ++i) {
    bool repeat = i > 0 && fields[i].first == fields[i - 1].first;
    if (repeat) {
      out.block += ',';
    } else {
      if (i > 0) out.block += '\n';
      if (!out.signed_headers.empty()) out.signed_headers += ';';
      out.signed_headers += fields[i].first;
      out.block += fields[i].first;
      out.block += ':';
    }
    append_trimmed(out.block, fields[i].second->value);
  }
  if (!fields.empty()) out.block += '\n';
  return out;
}

std::string credential_scope(std::string_view date8, std::string_view region,
                             std::string_view service) {
  std::string s;
  s.reserve(date8.size() + region.size() + service.size() + 16);
  s.append(date8).append("/").append(region).append("/").append(service).append("/aws4_request");
  return s;
}

std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request) {
  std::string s(kSigV4Algorithm);
  s += '\n';
  s.append(amz_date).append("\n").append(scope).append("\n");
  s += sha256_hex(canonical_request);
  return s;
}

SigningKey derive_signing_key(std::string_view secret_access_key, std::string_view date8,
                              std::string_view region, std::string_view service) {
  std::string k_secret = "AWS4";
  k_secret.append(secret_access_key);
  SigningKey k{};
  hmac_into(k_secret.data(), k_secret.size(), date8, k.data());
  OPENSSL_cleanse(k_secret.data(), k_secret.size());
  hmac_into(k.data(), k.size(), region, k.data());
  hmac_into(k.data(), k.size(), service, k.data());
  hmac_into(k.data(), k.size(), "aws4_request", k.data());
  return k;
}

std::string signature_hex(const SigningKey& key, std::string_view string_to_sign) {
  uint8_t sig[32];
  hmac_into(key.data(), key.size(), string_to_sign, sig);
  return to_hex(sig, sizeof sig);
}

// --- SigningKeyCache ---

SigningKeyCache::~SigningKeyCache() { clear(); }

void SigningKeyCache::clear() {
  for (Entry& e : entries_) {
    OPENSSL_cleanse(e.secret.data(), e.secret.size());
    OPENSSL_cleanse(e.key.data(), e.key.size());
    e = Entry{};
  }
}

const SigningKey& SigningKeyCache::get(std::string_view secret_access_key, std::string_view date8,
                                       std::string_view region, std::string_view service) {
  ++tick_;
  Entry* victim = &entries_[0];
  for (Entry& e : entries_) {
    if (e.used && e.date8 == date8 && e.region == region && e.service == service &&
        e.secret == secret_access_key) {
      e.last_used = tick_;
      return e.key;
    }
    if (!e.used || (victim->used && e.last_used < victim->last_used)) victim = &e;
  }
  OPENSSL_cleanse(victim->secret.data(), victim->secret.size());
  victim->secret.assign(secret_access_key);
  victim->date8.assign(date8);
  victim->region.assign(region);
  victim->service.assign(service);
  victim->key = derive_signing_key(secret_access_key, date8, region, service);
  victim->last_used = tick_;
  victim->used = true;
  ++derivations_;
  return victim->key;
}

// --- Signer ---

Signer::Signer(Credentials credentials, std::string region, std::string service,
               SigningOptions options)
    : credentials_(std::move(credentials)),
      region_(std::move(region)),
      service_(std::move(service)),
      options_(std::move(options)) {}

core::Status Signer::sign(core::RequestHead& head, int64_t now_epoch_s, SigningSteps* steps) {
  if (!head.headers.has("host")) {
    return core::Error::make(core::ErrorKind::Internal, core::Side::Internal,
                             "sigv4: request has no Host header");
  }
  auto uri = canonical_uri(head.path, options_.path_rules);
  if (!uri) return uri.error();
  auto query = canonical_query(head.query);
  if (!query) return query.error();

  // From here on nothing fails, so head is only changed on success.
  const std::string amz_date = format_amz_date(now_epoch_s);
  const std::string_view date8 = std::string_view(amz_date).substr(0, 8);
  core::Headers& h = head.headers;
  h.remove("authorization");
  h.remove("x-amz-date");
  h.remove("x-amz-content-sha256");
  h.remove("x-amz-security-token");
  h.add("X-Amz-Date", amz_date);
  if (options_.content_sha256_header) h.add("X-Amz-Content-Sha256", options_.payload_hash);
  const bool has_token = !credentials_.session_token.empty();
  if (has_token && options_.sign_session_token) {
    h.add("X-Amz-Security-Token", credentials_.session_token);
  }

  CanonicalHeaders ch = canonical_headers(h, options_.headers);
  std::string_view method = head.method_token;
  if (method.empty()) method = core::method_name(head.method);

  std::string creq;
  creq.reserve(method.size() + uri->size() + query->size() + ch.block.size() +
               ch.signed_headers.size() + options_.payload_hash.size() + 8);
  creq.append(method).append("\n");
  creq.append(*uri).append("\n");
  creq.append(*query).append("\n");
  creq.append(ch.block).append("\n");
  creq.append(ch.signed_headers).append("\n");
  creq.append(options_.payload_hash);

  const std::string scope = credential_scope(date8, region_, service_);
  std::string sts = string_to_sign(amz_date, scope, creq);
  const SigningKey& key = keys_.get(credentials_.secret_access_key, date8, region_, service_);
  std::string sig = signature_hex(key, sts);

  std::string authz(kSigV4Algorithm);
  authz.reserve(authz.size() + credentials_.access_key_id.size() + scope.size() +
                ch.signed_headers.size() + sig.size() + 48);
  authz.append(" Credential=").append(credentials_.access_key_id).append("/").append(scope);
  authz.append(", SignedHeaders=").append(ch.signed_headers);
  authz.append(", Signature=").append(sig);
  h.add("Authorization", authz);
  if (has_token && !options_.sign_session_token) {
    h.add("X-Amz-Security-Token", credentials_.session_token);
  }

  if (options_.path_rules == PathRules::S3) {
    head.path = *uri;
    head.query = *query;
    head.has_query = !head.query.empty();
    head.target = head.path;
    if (head.has_query) head.target.append("?").append(head.query);
  }
  if (steps) {
    steps->canonical_request = std::move(creq);
    steps->string_to_sign = std::move(sts);
    steps->signature = std::move(sig);
    steps->authorization = std::move(authz);
  }
  return {};
}

}  // namespace portico::origin
