// Exchange: one request/response pair on a downstream Connection. Drives the phases
// Received -> Routed -> (Directory | Connecting -> Waiting -> Streaming) -> Done, and writes the
// access-log record when destroyed. Owned by its Connection; runs on the worker's loop thread.
// After cancel() it never calls back into the Connection. custom_origin and s3_origin share the
// upstream path; S3's request signing and error handling live in exchange_s3.cc.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "cache/key.h"
#include "cache/object.h"
#include "cache/redis_tier.h"
#include "cache/store.h"
#include "core/block_cache.h"
#include "core/http.h"
#include "core/loop.h"
#include "proxy/downstream.h"
#include "proxy/http1/parser.h"
#include "proxy/metrics.h"
#include "proxy/request_id.h"
#include "proxy/snapshot.h"
#include "proxy/upstream/pool.h"

struct bufferevent;
struct evbuffer;

namespace portico::routing {
struct Route;
struct ForwardPlan;
}  // namespace portico::routing

namespace portico::proxy {

class Worker;
struct LbState;

class Exchange final : public http1::ResponseEvents {
 public:
  PORTICO_BLOCK_ALLOCATED
  // Takes the request head as parsed (a heap object, so it is never moved field by field).
  Exchange(Downstream& conn, std::unique_ptr<core::RequestHead> request);
  ~Exchange() override;
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // Routes the request and starts serving it. Called once.
  void start();
  // Whether the connection may feed request body bytes now (upstream connected, not over its
  // watermark). When this turns true again the exchange calls Connection::resume_body().
  bool body_wanted() const;
  // Moves `n` body bytes from `in` to the origin (Content-Length bodies; no copy).
  void on_request_body(evbuffer* in, size_t n);
  // One piece of a chunked body (copied and re-chunked to the origin).
  void on_request_chunk(std::string_view data);
  void on_request_body_end();
  // The client's output buffer fell below its low watermark.
  void on_downstream_drained();
  // The connection is going away: release the origin connection, stop all callbacks.
  void cancel();
  // The connection hit an error before any response byte (bad chunked body, body timeout).
  void fail_before_response(int status);
  bool response_started() const { return response_started_; }
  // A cache fill (or a waiter's progress) moved on: called on this exchange's loop by the Worker.
  void on_cache_wake();
  // True while this exchange fills a cache object from the origin. The Connection then hands it
  // to the Worker (detach()) instead of deleting it when the viewer's response is done or the
  // viewer is gone, so one slow or vanished viewer never aborts a fill others are waiting on.
  bool fill_in_progress() const;
  // Writes the access-log record now and stops using the Connection; only the fill goes on.
  void detach();

 private:
  enum class Phase : uint8_t { Received, Routed, Connecting, Waiting, Streaming, Done, Failed };

  // http1::ResponseEvents (upstream parser)
  void on_head(core::ResponseHead&& head) override;
  void on_body(std::string_view data) override;
  void on_complete() override;

  static void on_up_read(void* owner, int fd, short what);
  static void on_up_write(bufferevent* bev, void* arg);
  static void on_up_event(bufferevent* bev, short what, void* arg);

  struct CacheState;
  friend struct CacheState;

  // Per-exchange state of an s3_origin fetch (exchange_s3.cc); null for other origins.
  struct S3State {
    S3State(core::Loop& loop, Exchange& e) : backoff(loop, [&e] { e.s3_retry_now(); }) {}
    core::Timer backoff;  // delay before retrying a 5xx / SlowDown (never fires after cancel())
    int retries = 0;      // retries done for this viewer request
    core::Method sent = core::Method::Get;  // method of the request on the wire
    bool decided = false;                   // the current response's head was looked at
    bool awaiting_error_body = false;       // reading a 4xx/5xx body before deciding
    core::RequestHead request;              // the origin request being signed (reused)
  };

  void serve_directory();
  // exchange_s3.cc: the s3_origin path. s3_admit() runs after routing for every origin kind
  // (false: answered); s3_send_request() replaces the custom origin's request head;
  // s3_response_head() looks at S3's head first (false: it took the response over).
  bool s3_admit();
  void s3_send_request();
  bool s3_response_head();
  void s3_read_error_body();
  void s3_retry_now();
  void s3_access_denied();
  void send_request_head(std::string& head);
  // exchange_lb.cc: an Application Load Balancer's rules (a `load_balancer:` origin, or a request
  // on one of its own listeners); lb_* are the hooks the shared upstream code calls when lb_ is
  // set. Responses from a load balancer are never cached.
  void start_load_balancer(const config::LoadBalancer& lb, bool own_listener);
  void lb_forward(const routing::ForwardPlan& plan);
  void lb_begin_request();
  void lb_end_request();
  void lb_send_request();
  void lb_response_head();
  void lb_connect_failed(bool timeout);
  bool lb_fail(int status);
  void lb_respond(int status, std::string_view content_type, std::string_view body,
                  std::string_view location);
  // exchange_cache.cc: the cache path (lookup, fill, deliver from a stored object).
  bool start_cached(const routing::Route& route);
  void on_lookup(cache::MemoryStore::Lookup found);
  void join_fill(cache::ObjectRef object);
  void begin_fill(cache::ObjectRef object, cache::ObjectRef stale);
  void bypass_cache();
  void deliver(const cache::ObjectRef& object, const char* x_cache, const char* result);
  void deliver_body();
  void finish_delivery();
  void subscribe_body(uint64_t known);
  void unsubscribe_all();
  void append_fill_request_headers(std::string& head);
  void prepare_object(cache::Object& o, const core::ResponseHead& head);
  bool fill_response_head();
  void fill_from_upstream();
  void fill_append(std::string_view data);
  void fill_finished();
  void begin_overflow(std::string_view pending);
  void switch_to_passthrough();
  void fill_failed(int status, std::string_view explanation);
  // exchange_stale.cc: answers with the stale copy being revalidated when the origin failed
  // with `status` (5xx) and the stale-if-error window allows it; false otherwise.
  bool serve_stale_on_error(int status);
  void invalidate_after_unsafe();
  // exchange_cache.cc: the shared Redis tier under local memory (cache.redis).
  bool redis_lookup(const cache::ObjectRef& fill, const cache::ObjectRef& stale = {});
  void on_redis_found(cache::RedisTier::Found found);
  bool serve_from_redis(const cache::ObjectRef& fill, cache::RedisEntry& entry, bool allow_stale);
  void redis_stamp();
  void redis_store(const cache::ObjectRef& object);
  void redis_release(bool pass);
  bool forward_header(std::string_view name) const;
  void append_forwarded_query(std::string& head) const;
  // The method of the custom origin request: a fill's (GET, or OPTIONS for a cached OPTIONS),
  // else the viewer's.
  std::string_view origin_method_token() const;
  bool filling() const;
  bool strips_set_cookie() const;
  bool authorization_shared() const;
  std::optional<cache::Encoding> vary_encoding() const;
  void cancel_cache(bool abort_fill);
  void write_log();
  void append_forwarding(std::string& head, std::string_view viewer_via,
                         std::string_view viewer_xff);
  // Starts a response Portico makes itself (status, result type, first byte time) and returns
  // whether the connection can stay open; finish_local() then ends `head` (already holding the
  // status line and fields) with Connection handling, queues head and body (none for HEAD) and
  // completes the exchange.
  bool begin_local(int status, const char* result_type);
  void finish_local(std::string& head, std::string_view content_type, std::string_view body,
                    bool keep);
  bool try_error_page(int status);
  void apply_default_root_object();
  void refuse_plain_http(const config::CacheBehavior& behavior);
  void start_upstream();
  void connect_upstream();
  void on_upstream_ready();
  void on_upstream_failure(short what);
  void read_upstream();
  void set_up_reading(bool on);
  void handle_response_head();
  void relay_body();
  void write_down_body(std::string_view data);
  void finish_response();
  void release_upstream(bool reusable);
  void fail(int status, std::string_view explanation, std::string_view allow = {});
  bool keep_alive_possible() const;
  void append_edge_headers(std::string& out, std::string_view x_cache);
  void complete(bool keep_alive);
  std::chrono::milliseconds read_timeout() const;
  const char* phase_name() const;

  Downstream& conn_;  // never used after detach()
  Worker& worker_;
  SnapshotPtr snapshot_;
  std::unique_ptr<core::RequestHead> req_owner_;
  core::RequestHead& req_;  // *req_owner_
  char id_buf_[RequestIdGenerator::kLength];
  std::string_view id_{id_buf_, sizeof id_buf_};
  const config::Distribution* distribution_ = nullptr;
  const config::Origin* origin_ = nullptr;
  const OriginTarget* target_ = nullptr;
  DistributionStats* dist_stats_ = nullptr;
  OriginStats* origin_stats_ = nullptr;
  Phase phase_ = Phase::Received;

  // Upstream side.
  bufferevent* up_ = nullptr;  // writes; reads go through link_ (see upstream::Conn)
  upstream::Conn* link_ = nullptr;
  bool up_reused_ = false;
  bool up_eof_ = false;
  bool retried_stale_ = false;
  bool paused_ = false;
  bool head_held_ = false;          // response head queued, waiting for the first body bytes
  bool request_sent_ = false;       // whole request (head + body) queued to the origin
  bool waiting_body_room_ = false;  // connection stopped feeding; resume when drained
  int attempts_left_ = 0;
  http1::ResponseParser rparser_;
  std::optional<core::ResponseHead> up_head_;
  core::BodyFraming up_framing_ = core::BodyFraming::None;
  uint64_t up_remaining_ = 0;
  bool up_complete_ = false;
  bool up_keep_alive_ = false;

  // Downstream response.
  bool response_started_ = false;
  bool response_complete_ = false;
  bool down_chunked_ = false;
  bool down_keep_alive_ = false;
  int status_ = 0;
  std::string_view content_type_;  // points into up_head_ or static storage
  int64_t content_len_ = -1;
  uint64_t sent_bytes_ = 0;
  const char* result_type_ = "Miss";
  const char* detailed_result_ = "Miss";
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point upstream_sent_at_;
  std::chrono::steady_clock::time_point first_byte_at_;
  int64_t start_wall_ms_ = 0;
  int64_t range_start_ = -1;
  int64_t range_end_ = -1;

  // Cache path: null for requests the cache does not handle (allocated per cacheable request).
  std::unique_ptr<CacheState> cache_;
  const routing::Route* route_ = nullptr;
  bool detached_ = false;
  // Stale-while-revalidate: the viewer gets the stale copy while this exchange refreshes it.
  bool detach_for_revalidation_ = false;
  bool logged_ = false;
  // custom_error_responses: the status the viewer gets for the error page being served (0 = none).
  int error_page_status_ = 0;
  std::unique_ptr<S3State> s3_;
  std::unique_ptr<LbState> lb_;  // load balancer requests only
};

}  // namespace portico::proxy
