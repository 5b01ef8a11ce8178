// Router::decide on one distribution with 20 cache behaviors (a mix of prefix, suffix, exact and
// glob patterns) and a few aliases, plus two other distributions so the host lookup has company.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "routing/router.h"

namespace {

using portico::config::CacheBehavior;
using portico::config::Distribution;
using portico::config::Model;
using portico::routing::Router;

CacheBehavior behavior(std::string pattern) {
  CacheBehavior b;
  b.path_pattern = std::move(pattern);
  b.target_origin_id = "web";
  return b;
}

std::shared_ptr<const Model> make_model() {
  auto model = std::make_shared<Model>();
  model->listeners.push_back({"public", "127.0.0.1", 0, {}, {}});
  for (int i = 0; i < 2; ++i) {
    Distribution other;
    other.id = "other" + std::to_string(i);
    other.aliases = {"other" + std::to_string(i) + ".test",
                     "*.other" + std::to_string(i) + ".test"};
    other.default_cache_behavior = behavior("");
    model->distributions.push_back(other);
  }
  Distribution d;
  d.id = "main";
  d.aliases = {"www.example.test", "example.test", "assets.example.test", "*.example.test",
               "*.cdn.example.test"};
  portico::config::Origin web;
  web.id = "web";
  d.origins = {web};
  d.default_cache_behavior = behavior("");
  for (const char* p : {"/api/v1/*",      "/api/v2/*",    "/static/*",    "/assets/*.css",
                        "/assets/*.js",   "*.png",        "*.jpg",        "*.gif",
                        "/img/*/thumb/*", "/media/*.mp4", "/downloads/*", "/health",
                        "/robots.txt",    "/favicon.ico", "/docs/v?/*",   "/blog/*/comments/*",
                        "/search*",       "/login",       "/logout",      "/account/*"}) {
    d.cache_behaviors.push_back(behavior(p));
  }
  model->distributions.push_back(d);
  return model;
}

const Router& router() {
  static const Router r(make_model());
  return r;
}

void BM_ExactHostFirstBehavior(benchmark::State& state) {
  const Router& r = router();
  for (auto _ : state) {
    benchmark::DoNotOptimize(r.decide("public", "www.example.test", "/api/v1/users/42"));
  }
}
BENCHMARK(BM_ExactHostFirstBehavior);

void BM_ExactHostWithPortLastBehavior(benchmark::State& state) {
  const Router& r = router();
  for (auto _ : state) {
    benchmark::DoNotOptimize(r.decide("public", "WWW.Example.test:8443", "/account/settings"));
  }
}
BENCHMARK(BM_ExactHostWithPortLastBehavior);

void BM_WildcardHostMidBehavior(benchmark::State& state) {
  const Router& r = router();
  for (auto _ : state) {
    benchmark::DoNotOptimize(r.decide("public", "edge7.cdn.example.test", "/a/b/c/photo.jpg"));
  }
}
BENCHMARK(BM_WildcardHostMidBehavior);

void BM_DefaultBehaviorAllMiss(benchmark::State& state) {
  const Router& r = router();
  for (auto _ : state) {
    benchmark::DoNotOptimize(r.decide("public", "x.example.test", "/index.html"));
  }
}
BENCHMARK(BM_DefaultBehaviorAllMiss);

void BM_UnknownHostDefaultDistribution(benchmark::State& state) {
  const Router& r = router();
  for (auto _ : state) {
    benchmark::DoNotOptimize(r.decide("public", "unknown.host.test", "/"));
  }
}
BENCHMARK(BM_UnknownHostDefaultDistribution);

}  // namespace

BENCHMARK_MAIN();
