#include "cache/redis_entry.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace portico::cache {
namespace {

constexpr std::string_view kMagic = "PRE1";
// Sanity bounds for decoding (a manifest is written by us, but Redis is shared).
constexpr uint32_t kMaxHeaders = 1024;
constexpr uint32_t kMaxString = 64u << 20;

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }

 private:
  std::string& out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }
  uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<uint8_t>(in_[pos_++]);
  }
  uint32_t u32() {
    if (!need(4)) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      v |= static_cast<uint32_t>(static_cast<uint8_t>(in_[pos_++])) << (8 * i);
    }
    return v;
  }
  uint64_t u64() {
    if (!need(8)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
      v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_++])) << (8 * i);
    }
    return v;
  }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  std::string str() {
    uint32_t n = u32();
    if (n > kMaxString || !need(n)) {
      ok_ = false;
      return {};
    }
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  std::string_view raw(size_t n) {
    if (!need(n)) return {};
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  bool need(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) ok_ = false;
    return ok_;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

core::Error bad(const char* what) {
  return core::Error::make(core::ErrorKind::StoreFailed, core::Side::Internal,
                           std::string("redis entry: ") + what);
}

}  // namespace

std::string encode_entry(const RedisEntry& e) {
  std::string out;
  out.reserve(256 + e.key.size() + e.inline_body.size());
  out.append(kMagic);
  Writer w(out);
  w.str(e.key);
  w.str(e.distribution);
  w.str(e.path);
  w.str(e.epoch);
  w.u64(e.generation);
  w.u32(static_cast<uint32_t>(e.head.status));
  w.str(e.head.reason);
  w.u32(static_cast<uint32_t>(e.head.headers.size()));
  for (const core::Header& h : e.head.headers) {
    w.str(h.name);
    w.str(h.value);
  }
  const Timing& t = e.timing;
  w.i64(t.request_time);
  w.i64(t.response_time_ms);
  w.i64(t.corrected_initial_age);
  w.i64(t.ttl);
  w.i64(t.stale_while_revalidate);
  w.i64(t.stale_if_error);
  w.u8(static_cast<uint8_t>((t.must_revalidate ? 1 : 0) | (t.error_response ? 2 : 0)));
  w.str(e.vary_key);
  w.u64(e.body_length);
  w.u32(e.chunk_size);
  w.u32(e.chunks);
  w.str(e.write_id);
  w.str(e.inline_body);
  return out;
}

core::Result<RedisEntry> decode_entry(std::string_view data) {
  Reader r(data);
  if (r.raw(kMagic.size()) != kMagic) return bad("not a manifest");
  RedisEntry e;
  e.key = r.str();
  e.distribution = r.str();
  e.path = r.str();
  e.epoch = r.str();
  e.generation = r.u64();
  uint32_t status = r.u32();
  if (status < 100 || status > 999) return bad("bad status");
  e.head.status = static_cast<int>(status);
  e.head.reason = r.str();
  uint32_t n = r.u32();
  if (n > kMaxHeaders) return bad("too many fields");
  e.head.headers.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    std::string name = r.str();
    std::string value = r.str();
    e.head.headers.add(name, value);
  }
  Timing& t = e.timing;
  t.request_time = r.i64();
  t.response_time_ms = r.i64();
  t.corrected_initial_age = r.i64();
  t.ttl = r.i64();
  t.stale_while_revalidate = r.i64();
  t.stale_if_error = r.i64();
  uint8_t flags = r.u8();
  t.must_revalidate = (flags & 1) != 0;
  t.error_response = (flags & 2) != 0;
  // The hit path turns these into milliseconds and adds them up (ages, stale windows, the
  // expiry) in int64_t: a corrupt or foreign value such as a TTL of 2^62 would overflow there
  // (undefined behaviour) instead of being a bad entry. What we write is never negative and far
  // below the bounds.
  for (int64_t s : {t.request_time, t.corrected_initial_age, t.ttl, t.stale_while_revalidate,
                    t.stale_if_error}) {
    if (s < 0 || s > kRedisMaxSeconds) return bad("timing out of range");
  }
  if (t.response_time_ms < 0 || t.response_time_ms > kRedisMaxSeconds * 1000) {
    return bad("timing out of range");
  }
  e.vary_key = r.str();
  e.body_length = r.u64();
  e.chunk_size = r.u32();
  e.chunks = r.u32();
  e.write_id = r.str();
  e.inline_body = r.str();
  if (!r.done()) return bad("truncated or trailing bytes");
  if (e.chunks == 0) {
    if (e.inline_body.size() != e.body_length) return bad("inline body length mismatch");
  } else {
    uint64_t want = e.chunk_size == 0 ? 0 : (e.body_length + e.chunk_size - 1) / e.chunk_size;
    if (e.chunk_size == 0 || want != e.chunks || !e.inline_body.empty() || e.write_id.empty()) {
      return bad("inconsistent chunk layout");
    }
  }
  return e;
}

uint64_t redis_key_hash(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  return h;
}

std::string redis_manifest_key(std::string_view prefix, std::string_view cache_key) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(redis_key_hash(cache_key)));
  std::string out;
  out.reserve(prefix.size() + 20);
  out.append(prefix);
  out += '{';
  out.append(hex, 16);
  out += '}';
  return out;
}

std::string redis_chunk_key(std::string_view manifest_key, std::string_view write_id,
                            uint32_t index) {
  std::string out(manifest_key);
  out += ':';
  out.append(write_id);
  out += ':';
  out += std::to_string(index);
  return out;
}

std::optional<RedisVaryIndex> decode_vary_index(std::string_view data) {
  size_t head = kRedisVaryIndexMagic.size() + kRedisVaryIdLength;
  if (data.size() <= head || !data.starts_with(kRedisVaryIndexMagic)) return std::nullopt;
  RedisVaryIndex out;
  out.id = std::string(data.substr(kRedisVaryIndexMagic.size(), kRedisVaryIdLength));
  out.names = std::string(data.substr(head));
  return out;
}

std::string encode_vary_index(const RedisVaryIndex& index) {
  std::string out(kRedisVaryIndexMagic);
  out += index.id;
  out += index.names;
  return out;
}

std::string redis_vary_names(const core::Headers& response) {
  std::string out;
  std::vector<std::string> seen;
  for (const core::Header& h : response) {
    if (!core::iequals(h.name, "vary")) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      size_t comma = v.find(',');
      std::string_view member = core::trim_ows(v.substr(0, comma));
      if (!member.empty() && member != "*") {
        std::string name;
        for (char c : member) name += core::ascii_lower(c);
        if (std::find(seen.begin(), seen.end(), name) == seen.end()) {
          if (!out.empty()) out += ',';
          out += name;
          seen.push_back(std::move(name));
        }
      }
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return out;
}

std::string redis_variant_key(std::string_view manifest_key, std::string_view vary_key) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(redis_key_hash(vary_key)));
  std::string out(manifest_key);
  out += ":v:";
  out.append(hex, 16);
  return out;
}

std::string redis_lock_key(std::string_view manifest_key) {
  return std::string(manifest_key) + ":lock";
}

std::string redis_log_key(std::string_view prefix, std::string_view distribution) {
  return std::string(prefix) + "inv:{" + std::string(distribution) + "}";
}

std::string redis_log_meta_key(std::string_view prefix, std::string_view distribution) {
  return redis_log_key(prefix, distribution) + ":meta";
}

std::string redis_log_channel(std::string_view prefix) {
  return std::string(prefix) + "invalidations";
}

int64_t redis_expiry_ms(const Timing& t, int64_t now_ms) {
  int64_t age_ms =
      t.corrected_initial_age * 1000 + std::max<int64_t>(0, now_ms - t.response_time_ms);
  int64_t window = t.must_revalidate ? 0 : std::max(t.stale_while_revalidate, t.stale_if_error);
  return (t.ttl + window) * 1000 - age_ms;
}

}  // namespace portico::cache
