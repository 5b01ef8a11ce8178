#include "routing/router.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>

using portico::config::CacheBehavior;
using portico::config::Distribution;
using portico::config::Listener;
using portico::config::Model;
using portico::config::Origin;
using portico::core::Method;
using portico::core::method_bit;
using portico::routing::Route;
using portico::routing::Router;

namespace {

CacheBehavior behavior(std::string pattern, std::string origin) {
  CacheBehavior b;
  b.path_pattern = std::move(pattern);
  b.target_origin_id = std::move(origin);
  b.allowed_methods = method_bit(Method::Get) | method_bit(Method::Head);
  return b;
}

Distribution distribution(std::string id, std::vector<std::string> aliases,
                          std::vector<std::string> listeners = {}) {
  Distribution d;
  d.id = std::move(id);
  d.aliases = std::move(aliases);
  d.listeners = std::move(listeners);
  Origin o1;
  o1.id = "o1";
  Origin o2;
  o2.id = "o2";
  d.origins = {o1, o2};
  d.default_cache_behavior = behavior("", "o1");
  return d;
}

std::shared_ptr<const Model> make_model(std::vector<Distribution> ds) {
  auto model = std::make_shared<Model>();
  Listener pub;
  pub.name = "public";
  pub.host = "127.0.0.1";
  Listener internal = pub;
  internal.name = "internal";
  model->listeners = {pub, internal};
  model->distributions = std::move(ds);
  return model;
}

std::string dist_of(const Router& r, std::string_view listener, std::string_view host) {
  const Route* route = r.decide(listener, host, "/");
  return route ? route->distribution->id : std::string("<none>");
}

}  // namespace

TEST_CASE("router: behavior precedence is listed order, default last", "[router]") {
  Distribution d = distribution("d1", {"www.example.test"});
  d.cache_behaviors = {behavior("/api/*", "o2"), behavior("/api/v1/*", "o1"),
                       behavior("*.jpg", "o2"), behavior("/static/*", "o2")};
  Router r(make_model({d}));

  const Route* route = r.decide("public", "www.example.test", "/api/v1/users");
  REQUIRE(route);
  CHECK(route->behavior->path_pattern == "/api/*");  // first match wins, not the most specific
  CHECK(route->behavior_index == 0);
  CHECK(route->origin->id == "o2");

  route = r.decide("public", "www.example.test", "/static/logo.jpg");
  CHECK(route->behavior->path_pattern == "*.jpg");
  CHECK(route->behavior_index == 2);

  route = r.decide("public", "www.example.test", "/static/app.js");
  CHECK(route->behavior->path_pattern == "/static/*");

  route = r.decide("public", "www.example.test", "/index.html");
  CHECK(route->is_default_behavior());
  CHECK(route->behavior == &r.model().distributions[0].default_cache_behavior);
  CHECK(route->origin->id == "o1");

  // Case-sensitive paths.
  CHECK(r.decide("public", "www.example.test", "/API/v1")->is_default_behavior());
  CHECK(r.decide("public", "www.example.test", "/x.JPG")->is_default_behavior());
}

TEST_CASE("router: pointers point into the model", "[router]") {
  auto model = make_model({distribution("d1", {"a.test"})});
  Router r(model);
  const Route* route = r.decide("public", "a.test", "/");
  REQUIRE(route);
  CHECK(route->distribution == &model->distributions[0]);
  CHECK(route->origin == &model->distributions[0].origins[0]);
  CHECK(&r.model() == model.get());
  // Same inputs, same Route object: nothing is built per call.
  CHECK(r.decide("public", "a.test", "/") == route);
}

TEST_CASE("router: host normalization", "[router]") {
  Router r(make_model({distribution("fallback", {}), distribution("d1", {"www.example.test"}),
                       distribution("v6", {"[::1]"})}));
  CHECK(dist_of(r, "public", "www.example.test") == "d1");
  CHECK(dist_of(r, "public", "WWW.Example.TEST") == "d1");
  CHECK(dist_of(r, "public", "www.example.test:8080") == "d1");
  CHECK(dist_of(r, "public", "www.example.test.") == "d1");
  CHECK(dist_of(r, "public", "WWW.EXAMPLE.TEST.:443") == "d1");
  CHECK(dist_of(r, "public", "[::1]:8080") == "v6");
  CHECK(dist_of(r, "public", "[::1]") == "v6");
  CHECK(dist_of(r, "public", "") == "fallback");
  CHECK(dist_of(r, "public", "other.test") == "fallback");
  CHECK(dist_of(r, "public", std::string(1000, 'a')) == "fallback");
  CHECK(dist_of(r, "public", "www.example.test.evil") == "fallback");
  CHECK(dist_of(r, "public", "xwww.example.test") == "fallback");

  std::array<char, portico::routing::kMaxHostBytes> buf;
  CHECK(portico::routing::normalize_host("A.B:1", buf) == "a.b");
  CHECK(portico::routing::normalize_host(":80", buf).empty());
  CHECK(portico::routing::normalize_host("[::1", buf).empty());
}

TEST_CASE("router: wildcard aliases", "[router]") {
  Router r(make_model({distribution("fallback", {}), distribution("wild", {"*.example.test"}),
                       distribution("deeper", {"*.cdn.example.test"}),
                       distribution("exact", {"img.cdn.example.test", "example.test"})}));
  CHECK(dist_of(r, "public", "a.example.test") == "wild");
  CHECK(dist_of(r, "public", "a.b.example.test") == "wild");
  CHECK(dist_of(r, "public", "A.Example.Test:80") == "wild");
  // Not the apex: that is an exact alias of another distribution.
  CHECK(dist_of(r, "public", "example.test") == "exact");
  // Longest wildcard first, though "wild" comes first in config order.
  CHECK(dist_of(r, "public", "x.cdn.example.test") == "deeper");
  CHECK(dist_of(r, "public", "x.y.cdn.example.test") == "deeper");
  CHECK(dist_of(r, "public", "cdn.example.test") == "wild");
  // Exact beats any wildcard.
  CHECK(dist_of(r, "public", "img.cdn.example.test") == "exact");
  CHECK(dist_of(r, "public", "aexample.test") == "fallback");
  CHECK(dist_of(r, "public", ".example.test") == "fallback");
}

TEST_CASE("router: listeners, defaults and disabled distributions", "[router]") {
  Distribution disabled = distribution("disabled", {"a.test", "*.w.test"});
  disabled.enabled = false;
  Distribution internal_only = distribution("internal-only", {"i.test"}, {"internal"});
  Distribution pub = distribution("pub", {"a.test", "i.test"}, {"public"});
  Distribution every = distribution("every", {"e.test"});
  Router r(make_model({disabled, internal_only, pub, every}));

  // Disabled: its aliases do not route and it is never the default.
  CHECK(dist_of(r, "public", "a.test") == "pub");
  CHECK(dist_of(r, "public", "x.w.test") == "pub");
  // Each listener sees only attached distributions; the default is the first attached one.
  CHECK(dist_of(r, "public", "i.test") == "pub");
  CHECK(dist_of(r, "internal", "i.test") == "internal-only");
  CHECK(dist_of(r, "internal", "a.test") == "internal-only");
  CHECK(dist_of(r, "internal", "unknown.test") == "internal-only");
  // An empty listeners list attaches to every listener.
  CHECK(dist_of(r, "public", "e.test") == "every");
  CHECK(dist_of(r, "internal", "e.test") == "every");
  // A listener the model does not know only sees the attach-to-all distributions.
  CHECK(dist_of(r, "mystery", "a.test") == "every");
}

TEST_CASE("router: no distribution on the listener gives nullptr", "[router]") {
  Distribution only_internal = distribution("d", {"a.test"}, {"internal"});
  Distribution off = distribution("off", {});
  off.enabled = false;
  Router r(make_model({only_internal, off}));
  CHECK(r.decide("public", "a.test", "/") == nullptr);
  CHECK(r.decide("internal", "a.test", "/") != nullptr);
  Router empty(make_model({}));
  CHECK(empty.decide("public", "a.test", "/") == nullptr);
}

TEST_CASE("router: duplicate alias keeps the first in config order", "[router]") {
  Router r(make_model({distribution("first", {"dup.test"}), distribution("second", {"dup.test"})}));
  CHECK(dist_of(r, "public", "dup.test") == "first");
}

TEST_CASE("router: unknown origin id leaves Route::origin null", "[router]") {
  Distribution d = distribution("d", {});
  d.cache_behaviors = {behavior("/x", "missing")};
  Router r(make_model({d}));
  const Route* route = r.decide("public", "h", "/x");
  REQUIRE(route);
  CHECK(route->origin == nullptr);
  CHECK(portico::routing::find_origin(*route->distribution, "o2")->id == "o2");
  CHECK(portico::routing::find_origin(*route->distribution, "missing") == nullptr);
}

TEST_CASE("router: method_allowed", "[router]") {
  CacheBehavior b = behavior("/", "o1");
  CHECK(portico::routing::method_allowed(b, Method::Get));
  CHECK(portico::routing::method_allowed(b, Method::Head));
  CHECK_FALSE(portico::routing::method_allowed(b, Method::Post));
  CHECK_FALSE(portico::routing::method_allowed(b, Method::Other));
  b.allowed_methods |= method_bit(Method::Post) | method_bit(Method::Options);
  CHECK(portico::routing::method_allowed(b, Method::Post));
  CHECK(portico::routing::method_allowed(b, Method::Options));
  CHECK_FALSE(portico::routing::method_allowed(b, Method::Delete));
  b.allowed_methods = 0;  // unset: CloudFront's default GET, HEAD
  CHECK(portico::routing::method_allowed(b, Method::Get));
  CHECK(portico::routing::method_allowed(b, Method::Head));
  CHECK_FALSE(portico::routing::method_allowed(b, Method::Put));
}
