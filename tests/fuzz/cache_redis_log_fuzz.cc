// Fuzz target for what the Redis invalidation log (cache/redis_log.h) reads back from Redis: the
// members of the log's sorted set (InvalidationLog::decode_paths) and the syncs applied from them
// (InvalidationLog::apply), which other edges and other versions write. The whole input is first
// one member; then it is read as a script of syncs, own invalidations and lookups on one log.
// Invariants: decode_paths then encode_paths gives the member back, and encode then decode gives
// back any id and paths without '\n'; apply() returns entries in rising generation order, all
// above what was applied before, and generation() / stamp() follow; an applied entry hides a
// matching path from every stamp older than it in the same epoch, even after it was trimmed
// (the floor); an own invalidation that was neither settled nor brought back by the log hides
// its paths from every stamp.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "cache/invalidation_log.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using portico::cache::InvalidationLog;

struct Input {
  std::string_view s;
  bool empty() const { return s.empty(); }
  uint8_t byte() {
    if (s.empty()) return 0;
    auto b = static_cast<uint8_t>(s[0]);
    s.remove_prefix(1);
    return b;
  }
  // A short string: a length byte (mod 16), then that many bytes.
  std::string_view str() {
    const size_t want = byte() % 16;  // before s.size(): argument order is unspecified
    const size_t n = std::min(want, s.size());
    std::string_view out = s.substr(0, n);
    s.remove_prefix(n);
    return out;
  }
};

constexpr std::string_view kDists[] = {"d1", "d2"};
constexpr std::string_view kEpochs[] = {"e1", "e2", ""};
constexpr std::string_view kPaths[] = {"/", "/a", "/a/b", "/b", "/a/b/c.png", "/ab"};

struct Applied {
  uint64_t generation;
  std::vector<std::string> paths;
};
struct Dist {
  std::string epoch;
  bool synced = false;
  uint64_t generation = 0;
  std::vector<Applied> applied;  // in the current epoch, trimmed or not
};
struct Pending {
  size_t dist;
  std::string id;
  std::vector<std::string> paths;
};

bool matches_any(const std::vector<std::string>& patterns, std::string_view path) {
  for (const std::string& p : patterns) {
    if (InvalidationLog::path_matches(p, path)) return true;
  }
  return false;
}

void check_member(std::string_view member) {
  InvalidationLog::Entry e = InvalidationLog::decode_paths(42, member);
  FUZZ_CHECK(e.generation == 42);
  FUZZ_CHECK(e.id.find('\n') == std::string::npos);
  for (const std::string& p : e.paths) FUZZ_CHECK(p.find('\n') == std::string::npos);
  FUZZ_CHECK(InvalidationLog::encode_paths(e.id, e.paths) == member);

  // The other way round, with the member's lines as id and paths minus their '\n's.
  std::vector<std::string> paths;
  for (const std::string& p : e.paths) paths.push_back(p + "x");
  InvalidationLog::Entry d =
      InvalidationLog::decode_paths(7, InvalidationLog::encode_paths(e.id + "y", paths));
  FUZZ_CHECK(d.id == e.id + "y" && d.paths == paths);
}

void check_admits(const InvalidationLog& log, const std::vector<Dist>& dists,
                  const std::vector<Pending>& pending) {
  for (size_t di = 0; di < dists.size(); ++di) {
    const Dist& d = dists[di];
    InvalidationLog::Stamp stamp = log.stamp(kDists[di]);
    FUZZ_CHECK(stamp.known == d.synced);
    FUZZ_CHECK(log.synced(kDists[di]) == d.synced);
    if (!d.synced) continue;
    FUZZ_CHECK(stamp.epoch == d.epoch && stamp.generation == d.generation);
    FUZZ_CHECK(log.generation(kDists[di]) == d.generation);
    for (std::string_view path : kPaths) {
      for (const Applied& a : d.applied) {
        if (!matches_any(a.paths, path)) continue;
        FUZZ_CHECK(!log.admits(kDists[di], path, d.epoch, a.generation - 1));
        FUZZ_CHECK(!log.admits(kDists[di], path, d.epoch, 0));
      }
      for (const Pending& p : pending) {
        if (p.dist != di || !matches_any(p.paths, path)) continue;
        FUZZ_CHECK(!log.admits(kDists[di], path, d.epoch, d.generation));
        FUZZ_CHECK(!log.admits(kDists[di], path, d.epoch, UINT64_MAX));
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{std::string_view(reinterpret_cast<const char*>(data), size)};
  check_member(in.s);

  InvalidationLog log(1 + in.byte() % 4);
  std::vector<Dist> dists(2);
  std::vector<Pending> pending;
  for (int op = 0; op < 64 && !in.empty(); ++op) {
    const uint8_t code = in.byte();
    const size_t di = (code >> 4) & 1;
    Dist& d = dists[di];
    switch (code % 4) {
      case 0:
      case 1: {  // a sync from Redis: epoch, floor, up to 7 members
        std::string_view epoch = kEpochs[(code >> 5) % 3];
        uint64_t floor = in.byte() % 8 == 0 ? in.byte() : 0;
        std::vector<InvalidationLog::Entry> entries;
        for (int n = in.byte() % 8; n > 0; --n) {
          uint64_t generation = in.byte();
          if (generation == 255) generation = UINT64_MAX - in.byte();
          entries.push_back(InvalidationLog::decode_paths(generation, in.str()));
        }
        if (d.epoch != epoch) {  // a new epoch starts over
          d.applied.clear();
          d.generation = 0;
        }
        d.epoch = std::string(epoch);
        d.synced = true;
        std::vector<InvalidationLog::Entry> got = log.apply(kDists[di], epoch, floor, entries);
        uint64_t last = d.generation;
        for (const InvalidationLog::Entry& e : got) {
          FUZZ_CHECK(e.generation > last);
          last = e.generation;
          d.applied.push_back(Applied{e.generation, e.paths});
          std::erase_if(pending, [&](const Pending& p) { return p.dist == di && p.id == e.id; });
        }
        d.generation = last;
        break;
      }
      case 2: {  // this edge's own invalidation, maybe settled at once
        std::string id(in.str());
        std::vector<std::string> paths;
        for (int n = in.byte() % 3; n > 0; --n) paths.emplace_back(in.str());
        log.add_pending(kDists[di], id, paths);
        if (code & 0x40) {
          log.settle(kDists[di], id, in.byte());
          std::erase_if(pending, [&](const Pending& p) { return p.dist == di && p.id == id; });
        } else {
          pending.push_back(Pending{di, id, std::move(paths)});
        }
        break;
      }
      default:  // the feed was lost
        log.unsync(kDists[di]);
        d.synced = false;
        break;
    }
    check_admits(log, dists, pending);
  }
  return 0;
}
