#!/usr/bin/env bash
# Load through the whole stack (issue 8): starts examples/stack the way scripts/serve.sh does
# (examples/stack/stack.py, every port a free one, its own temporary folder), then h2load over
# HTTPS with HTTP/2 against
#   1. a cached static asset (S3 origin, Hit from cloudfront, brotli variant), and
#   2. the uncached API (/api/whoami: Managed-CachingDisabled -> load balancer -> two backends),
# prints h2load's numbers plus the edge's own counters for each run, and stops the stack.
# Bounded in time: SECONDS per run (default 5) plus about 5 s of start and stop.
#
#   bench/stack_load.sh [SECONDS]
#   PORTICO_BIN=build/h-stack/portico CLIENTS=32 STREAMS=16 bench/stack_load.sh 5
#
# The API numbers measure the request path (TLS, h2, CloudFront behaviors, the ALB hop, pooled
# upstream connections), bounded by the demo backends (Python's ThreadingHTTPServer). Needs h2load
# (Debian: nghttp2-client; scripts/install-deps.sh --bench) and what serve.sh needs.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
clients=${CLIENTS:-16}
streams=${STREAMS:-10}
api_clients=${API_CLIENTS:-8}
api_streams=${API_STREAMS:-4}
portico=${PORTICO_BIN:-build/release/portico}
for cmd in h2load python3 curl; do
  if ! command -v "$cmd" >/dev/null; then
    echo "stack_load.sh: $cmd not found (scripts/install-deps.sh --bench)" >&2
    exit 2
  fi
done
[[ -x "$portico" ]] || { echo "stack_load.sh: no binary at $portico (set PORTICO_BIN)" >&2; exit 2; }

dir=$(mktemp -d /tmp/portico-stack-load.XXXXXX)
export PORTICO_STACK_DIR="$dir"
for v in HTTP HTTPS ADMIN S3 REDIS ZONE_A ZONE_B; do
  var="PORTICO_STACK_${v}_PORT"
  export "$var=${!var:-0}"
done
python3 examples/stack/stack.py up --portico "$portico" --quiet >"$dir/launcher.out" 2>&1 &
launcher=$!
cleanup() {
  if kill -0 "$launcher" 2>/dev/null; then
    kill -TERM "$launcher" && wait "$launcher" || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

deadline=$((SECONDS + 60))
until [[ -f "$dir/stack.json" ]]; do
  if ! kill -0 "$launcher" 2>/dev/null || ((SECONDS > deadline)); then
    echo "stack_load.sh: the stack did not come up:" >&2
    cat "$dir/launcher.out" >&2
    exit 1
  fi
  sleep 0.1
done
field() {  # field KEY [SUBKEY]: a value from the launcher's stack.json
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    d = d[k]
print(d)' "$dir/stack.json" "$@"
}
https=$(field ports https)
admin=$(field ports admin)
ca=$(field ca)
asset=$(grep -o '/assets/app\.[0-9a-f]*\.js' examples/stack/site/index.html | head -1)
base="https://localhost:$https"

metrics() {  # hits misses target-group-requests
  curl -s "http://127.0.0.1:$admin/metrics" | awk '
    /^portico_cache_hits_total/ { h += $NF }
    /^portico_cache_misses_total/ { m += $NF }
    /^portico_target_group_requests_total/ { t += $NF }
    END { printf "%d %d %d\n", h, m, t }'
}

run() {  # name path clients streams [h2load args...]
  local name=$1 path=$2 c=$3 m=$4
  shift 4
  read -r h0 m0 t0 < <(metrics)
  echo "== $name: $base$path (h2, TLS, -c $c -m $m, ${secs}s)"
  h2load -t 1 -c "$c" -m "$m" -D "$secs" --warm-up-time 1 --connect-to "127.0.0.1:$https" \
    "$@" "$base$path" 2>&1 |
    grep -E '^(finished in|requests:|status codes:|traffic:|time for request:|req/s|TLS|Application)' ||
    true
  read -r h1 m1 t1 < <(metrics)
  echo "   edge counters (warm-up included): cache hits +$((h1 - h0)), misses +$((m1 - m0))," \
    "load balancer requests +$((t1 - t0))"
}

# Warm the cache (and check the path works) before measuring.
curl -sf --cacert "$ca" -H 'Accept-Encoding: br' -o /dev/null "$base$asset"
curl -sf --cacert "$ca" -o /dev/null "$base/api/whoami"
echo "stack up in $(field ready_seconds) s; $(nproc) cores; portico: $portico"
run "cached static asset" "$asset" "$clients" "$streams" -H 'accept-encoding: br'
run "uncached API through the load balancer" /api/whoami "$api_clients" "$api_streams"
