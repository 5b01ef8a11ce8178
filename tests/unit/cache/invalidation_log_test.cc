// The edge's copy of the fleet invalidation log: stamps, what it lets through, epochs, floors.
#include "cache/invalidation_log.h"

#include <catch2/catch.hpp>

namespace portico::cache {

using Entry = InvalidationLog::Entry;

TEST_CASE("invalidation log: nothing is admitted before the first sync", "[cache][redis]") {
  InvalidationLog log;
  CHECK_FALSE(log.stamp("web").known);
  CHECK_FALSE(log.admits("web", "/a", "", 0));
  log.apply("web", "E", 0, {});
  CHECK(log.stamp("web").known);
  CHECK(log.stamp("web").epoch == "E");
  CHECK(log.admits("web", "/a", "E", 0));
  CHECK_FALSE(log.admits("other", "/a", "E", 0));
}

TEST_CASE("invalidation log: later entries hide matching paths", "[cache][redis]") {
  InvalidationLog log;
  log.apply("web", "E", 0, {Entry{1, "I1", {"/a"}}});
  InvalidationLog::Stamp s = log.stamp("web");
  CHECK(s.generation == 1);
  std::vector<Entry> applied =
      log.apply("web", "E", 0, {Entry{3, "I3", {"/img/*"}}, Entry{2, "I2", {"/b"}}});
  REQUIRE(applied.size() == 2);
  CHECK(applied[0].generation == 2);  // oldest first
  CHECK(applied[1].generation == 3);
  // Stored with generation 1: invalidations 2 and 3 came later.
  CHECK_FALSE(log.admits("web", "/b", "E", 1));
  CHECK_FALSE(log.admits("web", "/img/x.png", "E", 1));
  CHECK(log.admits("web", "/a", "E", 1));  // generation 1 was already seen
  CHECK_FALSE(log.admits("web", "/a", "E", 0));
  CHECK(log.admits("web", "/b", "E", 2));
  CHECK(log.admits("web", "/c", "E", 0));
  // Re-applying what is known changes nothing.
  CHECK(log.apply("web", "E", 0, {Entry{2, "I2", {"/b"}}}).empty());
  CHECK(log.generation("web") == 3);
}

TEST_CASE("invalidation log: a new epoch starts over; the floor rejects old stamps",
          "[cache][redis]") {
  InvalidationLog log;
  log.apply("web", "E", 0, {Entry{5, "I5", {"/x"}}});
  CHECK_FALSE(log.admits("web", "/a", "OLD", 9));
  log.apply("web", "F", 0, {Entry{1, "J1", {"/y"}}});
  CHECK(log.epoch("web") == "F");
  CHECK(log.generation("web") == 1);
  CHECK_FALSE(log.admits("web", "/a", "E", 5));  // stamped under the lost log
  CHECK(log.admits("web", "/x", "F", 0));
  log.apply("web", "F", 4, {});
  CHECK_FALSE(log.admits("web", "/a", "F", 3));  // may have missed a trimmed invalidation
  CHECK(log.admits("web", "/a", "F", 4));
}

TEST_CASE("invalidation log: a lost feed stamps and admits nothing until the next sync",
          "[cache][redis]") {
  InvalidationLog log;
  log.apply("web", "E", 0, {Entry{2, "I2", {"/x"}}});
  log.unsync("web");
  CHECK_FALSE(log.synced("web"));
  CHECK_FALSE(log.stamp("web").known);
  CHECK_FALSE(log.admits("web", "/a", "E", 2));
  // Redis came back empty: a new epoch, generations from 0.
  log.apply("web", "F", 0, {});
  CHECK(log.synced("web"));
  CHECK(log.stamp("web").epoch == "F");
  CHECK(log.stamp("web").generation == 0);
  CHECK_FALSE(log.admits("web", "/a", "E", 2));
  CHECK(log.admits("web", "/a", "F", 0));
  log.unsync("other");  // unknown: no effect
  CHECK_FALSE(log.synced("other"));
}

TEST_CASE("invalidation log: keeps a bounded number of entries", "[cache][redis]") {
  InvalidationLog log(2);
  log.apply("web", "E", 0, {Entry{1, "a", {"/1"}}, Entry{2, "b", {"/2"}}, Entry{3, "c", {"/3"}}});
  CHECK_FALSE(log.admits("web", "/z", "E", 0));  // entry 1 was dropped: floor 1
  CHECK(log.admits("web", "/z", "E", 1));
  CHECK_FALSE(log.admits("web", "/3", "E", 2));
}

TEST_CASE("invalidation log: members encode an id and its paths", "[cache][redis]") {
  std::string m = InvalidationLog::encode_paths("IABC", {"/a", "/b/*"});
  CHECK(m == "IABC\n/a\n/b/*");
  Entry e = InvalidationLog::decode_paths(7, m);
  CHECK(e.generation == 7);
  CHECK(e.id == "IABC");
  CHECK(e.paths == std::vector<std::string>{"/a", "/b/*"});
  CHECK(InvalidationLog::path_matches("/b/*", "/b/c"));
  CHECK(InvalidationLog::path_matches("*", "/anything"));
  CHECK_FALSE(InvalidationLog::path_matches("/b", "/b/c"));
}

TEST_CASE("invalidation log: this edge's own invalidation hides its paths until the log has it",
          "[cache][redis]") {
  InvalidationLog log;
  log.apply("web", "E", 0, {Entry{1, "I1", {"/a"}}});
  log.add_pending("web", "MINE", {"/index.html", "/img/*"});
  CHECK(log.pending("web") == 1);
  // Whatever its stamp, a Redis entry for a pending path is refused; other paths and other
  // distributions are not affected.
  CHECK_FALSE(log.admits("web", "/index.html", "E", 1));
  CHECK_FALSE(log.admits("web", "/img/x.png", "E", 7));
  CHECK(log.admits("web", "/other", "E", 1));
  CHECK_FALSE(log.admits("other", "/index.html", "E", 0));  // never synced: as before
  // Durable as generation 4, not yet applied here: entries stored before 4 stay refused, those
  // stored at 4 or later (fills after the invalidation) pass.
  log.settle("web", "MINE", 4);
  CHECK(log.pending("web") == 1);
  CHECK_FALSE(log.admits("web", "/index.html", "E", 3));
  CHECK(log.admits("web", "/index.html", "E", 4));
  // The feed brings generations up to 4: the log's own entry takes over.
  log.apply("web", "E", 0, {Entry{4, "MINE", {"/index.html", "/img/*"}}, Entry{2, "I2", {"/q"}}});
  CHECK(log.pending("web") == 0);
  CHECK_FALSE(log.admits("web", "/index.html", "E", 3));
  CHECK(log.admits("web", "/index.html", "E", 4));
}

TEST_CASE("invalidation log: a pending invalidation is dropped by its id or a later generation",
          "[cache][redis]") {
  InvalidationLog log;
  log.apply("web", "E", 0, {});
  log.add_pending("web", "A", {"/a"});
  log.add_pending("web", "B", {"/b"});
  // Applied by id before this edge heard back from its append.
  log.apply("web", "E", 0, {Entry{1, "A", {"/a"}}});
  CHECK(log.pending("web") == 1);
  CHECK(log.admits("web", "/a", "E", 1));
  CHECK_FALSE(log.admits("web", "/b", "E", 1));
  // Settled at a generation the log has already passed.
  log.apply("web", "E", 0, {Entry{2, "X", {"/x"}}, Entry{3, "B", {"/b"}}});
  CHECK(log.pending("web") == 0);
  log.add_pending("web", "C", {"/c"});
  log.settle("web", "C", 3);
  CHECK(log.pending("web") == 0);
  // Unsettled ones survive a new epoch (the append may still land in the new log); settled
  // ones belong to the lost log and go.
  log.add_pending("web", "D", {"/d"});
  log.add_pending("web", "F", {"/f"});
  log.settle("web", "F", 9);
  log.apply("web", "NEW", 0, {});
  CHECK(log.pending("web") == 1);
  CHECK_FALSE(log.admits("web", "/d", "NEW", 0));
  CHECK(log.admits("web", "/f", "NEW", 0));
}

}  // namespace portico::cache
