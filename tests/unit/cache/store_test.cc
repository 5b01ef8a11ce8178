#include "cache/store.h"

#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cache/object.h"

namespace portico::cache {
namespace {

struct CountingSubscriber final : Subscriber {
  int calls = 0;
  void on_progress() override { ++calls; }
};

auto any_variant = [](const Object&) { return true; };

ObjectRef ready(MemoryStore& store, const std::string& key, std::string_view body,
                std::string vary = {}, std::string_view dist = "web",
                std::string_view path = "/p") {
  MemoryStore::Lookup l = store.lookup(
      key, [](const Object&) { return false; }, true, dist, path);
  REQUIRE(l.object);
  BodyRef b(Body::create(static_cast<int64_t>(body.size())));
  b->append(body);
  b->finish();
  core::ResponseHead head;
  head.status = 200;
  head.headers.add("Content-Type", "text/plain");
  Timing t;
  t.ttl = 60;
  l.object->set_ready(std::move(head), t, std::move(vary), b);
  store.insert(l.object);
  return l.object;
}

TEST_CASE("Body: known length is one block; readers see committed bytes only") {
  BodyRef b(Body::create(10));
  CHECK(b->available() == 0);
  b->append("hello");
  CHECK(b->available() == 5);
  CHECK(b->peek(0) == "hello");
  CHECK(b->peek(2) == "llo");
  CHECK(b->peek(5).empty());
  b->append("world!!");  // past the declared length: the tail is dropped
  CHECK(b->available() == 10);
  CHECK(b->peek(0) == "helloworld");
  b->finish();
  CHECK(b->state() == Body::State::Complete);
}

TEST_CASE("Body: unknown length grows in doubling blocks without moving bytes") {
  BodyRef b(Body::create(-1));
  std::string data;
  for (int i = 0; i < 400'000; ++i) data.push_back(static_cast<char>('a' + i % 26));
  const char* first = nullptr;
  for (size_t off = 0; off < data.size(); off += 7'000) {
    b->append(std::string_view(data).substr(off, 7'000));
    if (first == nullptr) first = b->peek(0).data();
  }
  CHECK(b->peek(0).data() == first);  // earlier blocks never move
  REQUIRE(b->available() == data.size());
  std::string back;
  while (back.size() < data.size()) {
    std::string_view v = b->peek(back.size());
    REQUIRE(!v.empty());
    back.append(v);
  }
  CHECK(back == data);
  CHECK(b->peek(65'536).size() == 131'072);  // block 1 starts at 64 KiB and holds 128 KiB
}

TEST_CASE("Body: subscribe refuses when progress is already there, wakes on append/end") {
  BodyRef b(Body::create(-1));
  CountingSubscriber s;
  b->append("abc");
  CHECK_FALSE(b->subscribe(&s, 0));  // 3 bytes beyond what the reader knows
  CHECK(b->subscribe(&s, 3));
  b->append("d");
  b->notify();
  CHECK(s.calls == 1);
  b->unsubscribe(&s);
  b->notify();
  CHECK(s.calls == 1);
  CHECK(b->subscribe(&s, 4));
  b->abort();
  CHECK(s.calls == 2);
  b->unsubscribe(&s);
  CHECK_FALSE(b->subscribe(&s, 4));  // ended
}

TEST_CASE("Object: pending waiters hear the transition once") {
  ObjectRef o(Object::create_pending("k", "web", "/p"));
  CountingSubscriber s;
  CHECK(o->subscribe(&s));
  o->release(Object::State::Released);
  CHECK(s.calls == 1);
  CHECK_FALSE(o->subscribe(&s));
  CHECK(o->state() == Object::State::Released);
}

TEST_CASE("Object: age is the corrected initial age plus residence (RFC 9111 4.2.3)") {
  ObjectRef o(Object::create_pending("k", "web", "/p"));
  Timing t;
  t.response_time_ms = 1'000'000;
  t.corrected_initial_age = 30;
  t.ttl = 100;
  o->set_ready(core::ResponseHead{}, t, {}, BodyRef(Body::create(0)));
  CHECK(o->age_ms(1'000'000) == 30'000);
  CHECK(o->age_ms(1'050'000) == 80'000);
  CHECK(o->fresh(1'069'999));
  CHECK_FALSE(o->fresh(1'070'000));
  CHECK(o->age_ms(900'000) == 30'000);  // clock went back: never negative residence
}

TEST_CASE("MemoryStore: miss registers one fill; concurrent lookups join it") {
  MemoryStore store(1 << 20, 1 << 18);
  MemoryStore::Lookup a = store.lookup("k", any_variant, true, "web", "/k");
  CHECK(a.found == MemoryStore::Found::Miss);
  REQUIRE(a.object);
  MemoryStore::Lookup b = store.lookup("k", any_variant, true, "web", "/k");
  CHECK(b.found == MemoryStore::Found::Joined);
  CHECK(b.object == a.object);
  store.end_fill(a.object);
  MemoryStore::Lookup c = store.lookup("k", any_variant, true, "web", "/k");
  CHECK(c.found == MemoryStore::Found::Miss);
  CHECK_FALSE(c.object == a.object);
  store.end_fill(c.object);
}

TEST_CASE("MemoryStore: insert makes a hit; same vary key replaces, another adds a variant") {
  MemoryStore store(1 << 20, 1 << 18);
  ObjectRef v1 = ready(store, "k", "one", "en");
  MemoryStore::Lookup l = store.lookup(
      "k", [](const Object& o) { return o.vary_key() == "en"; }, false, "web", "/p");
  CHECK(l.found == MemoryStore::Found::Stored);
  CHECK(l.object == v1);
  ObjectRef v2 = ready(store, "k", "two", "fr");
  ObjectRef v3 = ready(store, "k", "three", "en");
  CHECK(store.stats().objects.load() == 2);
  l = store.lookup(
      "k", [](const Object& o) { return o.vary_key() == "en"; }, false, "web", "/p");
  CHECK(l.object == v3);
  l = store.lookup(
      "k", [](const Object& o) { return o.vary_key() == "fr"; }, false, "web", "/p");
  CHECK(l.object == v2);
  l = store.lookup(
      "k", [](const Object& o) { return o.vary_key() == "de"; }, false, "web", "/p");
  CHECK(l.found == MemoryStore::Found::Miss);
  CHECK_FALSE(l.object);
}

TEST_CASE("MemoryStore: remove_key and invalidation (exact and trailing *)") {
  MemoryStore store(1 << 20, 1 << 18);
  ready(store, "a", "x", {}, "web", "/images/a.png");
  ready(store, "b", "x", {}, "web", "/images/b.png");
  ready(store, "c", "x", {}, "web", "/index.html");
  ready(store, "d", "x", {}, "other", "/images/a.png");
  CHECK(store.invalidate("web", "/images/*") == 2);
  CHECK(store.lookup("a", any_variant, false, "web", "").found == MemoryStore::Found::Miss);
  CHECK(store.lookup("d", any_variant, false, "other", "").found == MemoryStore::Found::Stored);
  CHECK(store.invalidate("web", "/index.htm") == 0);
  CHECK(store.invalidate("web", "/index.html") == 1);
  store.remove_key("d");
  CHECK(store.lookup("d", any_variant, false, "other", "").found == MemoryStore::Found::Miss);
  CHECK(store.stats().objects.load() == 0);
}

TEST_CASE("MemoryStore: an invalidation during a fill keeps the fill from being stored") {
  MemoryStore store(1 << 20, 1 << 18);
  MemoryStore::Lookup l = store.lookup("k", any_variant, true, "web", "/news");
  CHECK(store.invalidate("web", "/*") == 0);
  l.object->set_ready(core::ResponseHead{}, Timing{}, {}, BodyRef(Body::create(0)));
  store.insert(l.object);
  CHECK(store.lookup("k", any_variant, false, "web", "").found == MemoryStore::Found::Miss);
}

TEST_CASE("MemoryStore: the byte budget evicts; a hot object survives a scan") {
  MemoryStore store(400'000, 20'000);
  std::string body(10'000, 'x');
  ready(store, "hot", body);
  for (int i = 0; i < 200; ++i) {
    ready(store, "scan" + std::to_string(i), body);
    store.lookup("hot", any_variant, false, "web", "");  // a hit
  }
  CHECK(store.stats().bytes.load() <= 400'000);
  CHECK(store.stats().evictions.load() > 100);
  CHECK(store.lookup("hot", any_variant, false, "web", "").found == MemoryStore::Found::Stored);
}

TEST_CASE("MemoryStore: objects over max_object_size are not stored") {
  MemoryStore store(1 << 20, 1'000);
  ready(store, "big", std::string(50'000, 'b'));
  CHECK(store.lookup("big", any_variant, false, "web", "").found == MemoryStore::Found::Miss);
  CHECK(store.stats().rejected.load() == 1);
}

TEST_CASE("MemoryStore: threads hitting and filling one store stay consistent") {
  MemoryStore store(4 << 20, 1 << 16);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&store, t] {
      for (int i = 0; i < 2'000; ++i) {
        std::string key = "k" + std::to_string((i * 7 + t) % 300);
        MemoryStore::Lookup l = store.lookup(key, any_variant, true, "web", "/x");
        if (l.found == MemoryStore::Found::Miss) {
          BodyRef b(Body::create(100));
          b->append(std::string(100, 'z'));
          b->finish();
          l.object->set_ready(core::ResponseHead{}, Timing{}, {}, b);
          store.insert(l.object);
        } else if (l.found == MemoryStore::Found::Stored) {
          CHECK(l.object->body().available() == 100);
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  CHECK(store.stats().objects.load() <= 300);
}

}  // namespace
}  // namespace portico::cache
