// Cost of signing one S3 origin GET (SigV4 header auth) as the proxy does per cache miss: with the
// signing key cached (the steady state: one derivation per day per origin and worker) and with
// the key derived every time (what an uncached signer would pay).
#include <benchmark/benchmark.h>

#include <string>

#include "origin/sigv4.h"

namespace {

using portico::core::RequestHead;
using portico::origin::Credentials;
using portico::origin::Signer;

constexpr int64_t kNow = 1440938160;  // 2015-08-30T12:36:00Z

Credentials creds() {
  return Credentials{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "",
                     "bench"};
}

// A typical forwarded fetch: path-style key with a space and UTF-8, Range and a validator.
RequestHead origin_get() {
  RequestHead h;
  h.method = portico::core::Method::Get;
  h.method_token = "GET";
  h.path = "/site-assets/static/img/caf%C3%A9%20menu.png";
  h.target = h.path;
  h.headers.add("Host", "site-assets.s3.eu-west-1.amazonaws.com");
  h.headers.add("Range", "bytes=0-65535");
  h.headers.add("If-None-Match", "\"9b2cf535f27731c974343645a3985328\"");
  h.headers.add("User-Agent", "Amazon CloudFront");
  h.headers.add("Via", "1.1 portico");
  return h;
}

void BM_SignS3Get_CachedKey(benchmark::State& state) {
  Signer signer(creds(), "eu-west-1");
  const RequestHead proto = origin_get();
  for (auto _ : state) {
    RequestHead h = proto;
    auto st = signer.sign(h, kNow);
    benchmark::DoNotOptimize(st);
    benchmark::DoNotOptimize(h);
  }
  state.counters["derivations"] = static_cast<double>(signer.key_cache().derivations());
}
BENCHMARK(BM_SignS3Get_CachedKey);

void BM_SignS3Get_DeriveKeyEachTime(benchmark::State& state) {
  const RequestHead proto = origin_get();
  for (auto _ : state) {
    Signer signer(creds(), "eu-west-1");  // fresh cache: derives the key on this request
    RequestHead h = proto;
    auto st = signer.sign(h, kNow);
    benchmark::DoNotOptimize(st);
    benchmark::DoNotOptimize(h);
  }
}
BENCHMARK(BM_SignS3Get_DeriveKeyEachTime);

// The pieces: copying the request head is part of both numbers above.
void BM_CopyRequestHead(benchmark::State& state) {
  const RequestHead proto = origin_get();
  for (auto _ : state) {
    RequestHead h = proto;
    benchmark::DoNotOptimize(h);
  }
}
BENCHMARK(BM_CopyRequestHead);

void BM_DeriveSigningKey(benchmark::State& state) {
  for (auto _ : state) {
    auto k = portico::origin::derive_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                                 "20150830", "eu-west-1", "s3");
    benchmark::DoNotOptimize(k);
  }
}
BENCHMARK(BM_DeriveSigningKey);

}  // namespace

BENCHMARK_MAIN();
