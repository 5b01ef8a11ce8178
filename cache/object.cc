#include "cache/object.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace portico::cache {

// ---- Body ----

Body* Body::create(int64_t expected_length) { return new Body(expected_length); }

Body::Body(int64_t expected_length) : expected_(expected_length) {}

Body::~Body() {
  for (char* b : blocks_) delete[] b;
}

// Known length: one block of exactly that size. Unknown: block i holds kFirstBlock << i bytes,
// so block i starts at kFirstBlock * (2^i - 1) and a reader finds its block with one bit scan.
uint64_t Body::block_size(int index) const {
  if (expected_ >= 0) return static_cast<uint64_t>(expected_);
  return kFirstBlock << index;
}

uint64_t Body::block_start(int index) const {
  if (expected_ >= 0) return 0;
  return kFirstBlock * ((uint64_t{1} << index) - 1);
}

std::pair<int, uint64_t> Body::locate(uint64_t offset) const {
  if (expected_ >= 0) return {0, offset};
  int index = std::bit_width(offset / kFirstBlock + 1) - 1;
  return {index, offset - block_start(index)};
}

std::string_view Body::peek(uint64_t offset) const {
  uint64_t avail = available();
  if (offset >= avail) return {};
  auto [index, within] = locate(offset);
  uint64_t n = std::min(block_size(index) - within, avail - offset);
  return {blocks_[index] + within, static_cast<size_t>(n)};
}

std::pair<char*, size_t> Body::reserve(size_t want) {
  uint64_t end = filled_.load(std::memory_order_relaxed);
  if (expected_ >= 0 && end >= static_cast<uint64_t>(expected_)) return {nullptr, 0};
  auto [index, within] = locate(end);
  if (index >= kMaxBlocks) return {nullptr, 0};
  if (blocks_[index] == nullptr) {
    uint64_t size = block_size(index);
    if (size == 0) return {nullptr, 0};
    blocks_[index] = new char[size];
    capacity_ += size;
  }
  uint64_t room = block_size(index) - within;
  return {blocks_[index] + within, static_cast<size_t>(std::min<uint64_t>(room, want))};
}

void Body::commit(size_t n) {
  // Release: the bytes written through reserve() become visible with the new length.
  filled_.store(filled_.load(std::memory_order_relaxed) + n, std::memory_order_release);
}

void Body::append(std::string_view data) {
  while (!data.empty()) {
    auto [p, room] = reserve(data.size());
    if (room == 0) return;  // past the declared length; the framing layer prevents this
    std::memcpy(p, data.data(), room);
    commit(room);
    data.remove_prefix(room);
  }
}

void Body::notify() {
  std::lock_guard lock(mu_);
  for (Subscriber* s : subscribers_) s->on_progress();
}

void Body::set_state(State s) {
  std::lock_guard lock(mu_);
  state_.store(s, std::memory_order_release);
  for (Subscriber* sub : subscribers_) sub->on_progress();
}

void Body::finish() { set_state(State::Complete); }

void Body::abort() { set_state(State::Aborted); }

bool Body::subscribe(Subscriber* s, uint64_t known) {
  std::lock_guard lock(mu_);
  if (state_.load(std::memory_order_acquire) != State::Filling ||
      filled_.load(std::memory_order_acquire) > known) {
    return false;
  }
  subscribers_.push_back(s);
  return true;
}

void Body::unsubscribe(Subscriber* s) {
  std::lock_guard lock(mu_);
  std::erase(subscribers_, s);
}

// ---- Object ----

Object::Object(std::string key, std::string_view distribution, std::string_view path)
    : key_(std::move(key)), distribution_(distribution), path_(path) {}

Object* Object::create_pending(std::string key, std::string_view distribution,
                               std::string_view path) {
  return new Object(std::move(key), distribution, path);
}

Object* Object::create_refreshed(const Object& old, core::ResponseHead&& head,
                                 const Timing& timing) {
  auto* o = new Object(old.key_, old.distribution_, old.path_);
  o->set_ready(std::move(head), timing, old.vary_key_, old.body_);
  return o;
}

int64_t Object::age_ms(int64_t now_ms) const {
  // RFC 9111 §4.2.3: current_age = corrected_initial_age + resident_time.
  int64_t resident = std::max<int64_t>(0, now_ms - timing_.response_time_ms);
  return timing_.corrected_initial_age * 1000 + resident;
}

uint64_t Object::charge() const {
  uint64_t n = sizeof(Object) + key_.size() + vary_key_.size() + path_.size() + 64;
  for (const core::Header& h : head_.headers) n += h.name.size() + h.value.size() + 32;
  if (body_) n += body_->charge();
  return n;
}

void Object::set_state(State s) {
  std::lock_guard lock(mu_);
  state_.store(s, std::memory_order_release);
  for (Subscriber* sub : subscribers_) sub->on_progress();
  subscribers_.clear();
}

void Object::set_ready(core::ResponseHead&& head, const Timing& timing, std::string vary_key,
                       BodyRef body) {
  head_ = std::move(head);
  etag_ = head_.headers.get_or("etag");
  content_type_ = head_.headers.get_or("content-type");
  via_ = head_.headers.get_or("via");
  has_accept_ranges_ = head_.headers.has("accept-ranges");
  timing_ = timing;
  vary_key_ = std::move(vary_key);
  body_ = std::move(body);
  set_state(State::Ready);
}

void Object::release(State s) { set_state(s); }

bool Object::subscribe(Subscriber* s) {
  std::lock_guard lock(mu_);
  if (state_.load(std::memory_order_acquire) != State::Pending) return false;
  subscribers_.push_back(s);
  return true;
}

void Object::unsubscribe(Subscriber* s) {
  std::lock_guard lock(mu_);
  std::erase(subscribers_, s);
}

}  // namespace portico::cache
