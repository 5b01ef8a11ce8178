// cache::Body and cache::Object: one stored response. A Body holds the bytes; it is appended to by
// exactly one filler (the exchange that fetched it, on its worker's thread) and read concurrently
// by any number of readers on any worker, while it fills and after. An Object is a response head
// plus timing plus a reference to a Body; a 304 refresh makes a new Object sharing the old Body,
// so a body is stored once and never copied per hit. Both are intrusively reference counted
// (ObjectRef / BodyRef), so a hit costs one atomic increment and no allocation.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/http.h"

namespace portico::cache {

// Intrusive reference-counted pointer for Body and Object.
template <class T>
class Ref {
 public:
  Ref() = default;
  explicit Ref(T* p) : p_(p) {}  // adopts one reference
  Ref(const Ref& o) : p_(o.p_) {
    if (p_) p_->ref();
  }
  Ref(Ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Ref& operator=(Ref o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~Ref() {
    if (p_) p_->unref();
  }
  T* get() const { return p_; }
  T* operator->() const { return p_; }
  T& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }
  bool operator==(const Ref& o) const { return p_ == o.p_; }
  // Hands the reference to the caller (e.g. to an evbuffer cleanup callback).
  T* release() { return std::exchange(p_, nullptr); }

 private:
  T* p_ = nullptr;
};

// Notified when a Body or a pending Object makes progress (bytes appended, head set, finished,
// aborted). Called on the filler's thread while the body's lock is held: it must only flag and
// wake its own loop, never call back into the body.
class Subscriber {
 public:
  virtual void on_progress() = 0;

 protected:
  ~Subscriber() = default;
};

class Body {
 public:
  enum class State : uint8_t { Filling, Complete, Aborted };

  // `expected_length` >= 0: the origin's Content-Length, allocated as one block; -1: unknown, the
  // body grows in doubling blocks (64 KiB, 128 KiB, ...).
  static Body* create(int64_t expected_length);

  void ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Readers (any thread).
  uint64_t available() const { return filled_.load(std::memory_order_acquire); }
  State state() const { return state_.load(std::memory_order_acquire); }
  // Contiguous bytes starting at `offset` (< available()), up to the end of the block holding it.
  std::string_view peek(uint64_t offset) const;
  // Registers `s` to hear about progress beyond `known` bytes. Returns false (and does not
  // register) when there is already progress to act on: more than `known` bytes, or an end.
  bool subscribe(Subscriber* s, uint64_t known);
  void unsubscribe(Subscriber* s);
  // Bytes of memory held (block capacities), for the store's budget.
  uint64_t charge() const { return capacity_; }
  int64_t expected_length() const { return expected_; }

  // Filler (one thread). append() copies; reserve()/commit() let the caller write in place.
  void append(std::string_view data);
  // Up to `want` writable bytes at the end (at least 1 when want >= 1).
  std::pair<char*, size_t> reserve(size_t want);
  void commit(size_t n);
  // Wakes the subscribers; call after a batch of appends/commits.
  void notify();
  void finish();
  void abort();

 private:
  explicit Body(int64_t expected_length);
  ~Body();
  static constexpr int kMaxBlocks = 40;
  static constexpr uint64_t kFirstBlock = 64 * 1024;
  // Block index and offset within it for a byte offset.
  std::pair<int, uint64_t> locate(uint64_t offset) const;
  uint64_t block_size(int index) const;
  uint64_t block_start(int index) const;
  void set_state(State s);

  std::atomic<int> refs_{1};
  std::atomic<uint64_t> filled_{0};
  std::atomic<State> state_{State::Filling};
  int64_t expected_;
  uint64_t capacity_ = 0;
  char* blocks_[kMaxBlocks] = {};  // written by the filler before filled_ covers them
  std::mutex mu_;                  // guards subscribers_
  std::vector<Subscriber*> subscribers_;
};

using BodyRef = Ref<Body>;

// Freshness facts computed when the response was stored (cache/freshness.h), in seconds.
struct Timing {
  int64_t request_time = 0;      // wall clock (s) when the origin request went out
  int64_t response_time_ms = 0;  // wall clock (ms) when the head arrived
  int64_t corrected_initial_age = 0;
  int64_t ttl = 0;  // freshness lifetime
  int64_t stale_while_revalidate = 0;
  int64_t stale_if_error = 0;
  bool must_revalidate = false;
  bool error_response = false;  // stored under CloudFront's error caching rules
};

class Object {
 public:
  enum class State : uint8_t {
    Pending,   // a fill is in flight, no head yet
    Ready,     // head set; body filling or complete
    Released,  // the response was not storable: waiters must fetch on their own
    Failed,    // the fetch failed before a head
  };

  // A pending object for `key` (in flight) stored for `distribution` and viewer `path`; the
  // filler sets the head later.
  static Object* create_pending(std::string key, std::string_view distribution,
                                std::string_view path);
  // A ready object sharing `body` (a 304 refresh of `old`).
  static Object* create_refreshed(const Object& old, core::ResponseHead&& head,
                                  const Timing& timing);

  void ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  State state() const { return state_.load(std::memory_order_acquire); }
  const std::string& key() const { return key_; }
  // Valid once state() == Ready; never changes after.
  const core::ResponseHead& head() const { return head_; }
  const Timing& timing() const { return timing_; }
  const std::string& vary_key() const { return vary_key_; }
  Body& body() const { return *body_; }
  const BodyRef& body_ref() const { return body_; }
  // Milliseconds since the response was generated (RFC 9111 §4.2.3: corrected initial age plus
  // resident time), at wall time `now_ms`. Kept in ms so that a max-age=1 object is fresh for a
  // whole second, not "until the next second boundary"; the Age header shows whole seconds.
  int64_t age_ms(int64_t now_ms) const;
  bool fresh(int64_t now_ms) const { return age_ms(now_ms) < timing_.ttl * 1000; }
  // Invalidation metadata: the distribution and the viewer path the object was stored for.
  std::string_view distribution() const { return distribution_; }
  std::string_view path() const { return path_; }
  // Memory the object holds (head + key + body blocks).
  uint64_t charge() const;

  // Pending-state waiting: as Body::subscribe, for the Pending -> other transition.
  bool subscribe(Subscriber* s);
  void unsubscribe(Subscriber* s);

  // Delivery shortcuts the filler may set before set_ready() (never after): the stored fields
  // pre-serialized as "Name: value\r\n" lines for a plain 200/full response, and whether the
  // Vary secondary key depends only on what the primary key already holds (then lookups skip it).
  void set_wire_headers(std::string wire) { wire_headers_ = std::move(wire); }
  const std::string& wire_headers() const { return wire_headers_; }
  void set_vary_in_key(bool v) { vary_in_key_ = v; }
  bool vary_in_key() const { return vary_in_key_; }
  // Stored fields every hit looks at, found once when the object becomes ready (views into
  // head(); empty when absent).
  std::string_view etag() const { return etag_; }
  std::string_view content_type() const { return content_type_; }
  std::string_view via() const { return via_; }
  bool has_accept_ranges() const { return has_accept_ranges_; }
  // Last-Modified as epoch seconds (-1: none or invalid), parsed once for conditional requests.
  void set_last_modified(int64_t s) { last_modified_ = s; }
  int64_t last_modified() const { return last_modified_; }

  // Filler: Pending -> Ready. `body` may be shared with another object (refresh).
  void set_ready(core::ResponseHead&& head, const Timing& timing, std::string vary_key,
                 BodyRef body);
  // Filler: Pending -> Released / Failed.
  void release(State s);
  // An invalidation matched this object while it was in flight: insert() drops it.
  void mark_invalidated() { invalidated_.store(true); }
  bool invalidated() const { return invalidated_.load(); }
  // Stale-while-revalidate: true for exactly one caller until end_revalidation().
  bool try_begin_revalidation() { return !revalidating_.exchange(true); }
  void end_revalidation() { revalidating_.store(false); }

  // Store bookkeeping (under the shard's lock).
  uint64_t store_id = 0;

 private:
  Object(std::string key, std::string_view distribution, std::string_view path);
  ~Object() = default;
  void set_state(State s);

  std::atomic<int> refs_{1};
  std::atomic<State> state_{State::Pending};
  std::atomic<bool> revalidating_{false};
  std::atomic<bool> invalidated_{false};
  std::string key_;
  core::ResponseHead head_;
  Timing timing_;
  std::string vary_key_;
  std::string wire_headers_;
  std::string_view etag_;
  std::string_view content_type_;
  std::string_view via_;
  bool has_accept_ranges_ = false;
  bool vary_in_key_ = false;
  int64_t last_modified_ = -1;
  BodyRef body_;
  std::string distribution_;
  std::string path_;
  std::mutex mu_;
  std::vector<Subscriber*> subscribers_;
};

using ObjectRef = Ref<Object>;

}  // namespace portico::cache
