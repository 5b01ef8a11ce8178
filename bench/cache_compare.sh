#!/usr/bin/env bash
# Cache benchmark: Portico's cache vs nginx proxy_cache, Varnish, HAProxy's cache and Apache
# Traffic Server (h2o serving the files from disk as the no-cache reference): hits for 1 KiB,
# 100 KiB and 1 MiB objects, then request collapsing. Results go to
# bench/results/cache-compare-<date>-<time>.md. Options: bench/cache_compare.sh --help; method:
# bench/README.md ("Cache benchmark"). The driver is bench/cache_compare.py; this wrapper owns
# the temp dir and, should the driver die, stops whatever it had started (by PID).
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
missing=()
for cmd in python3 wrk curl taskset; do
  command -v "$cmd" >/dev/null || missing+=("$cmd")
done
if ((${#missing[@]})); then
  echo "cache_compare.sh: missing ${missing[*]} (scripts/install-deps.sh --bench)" >&2
  exit 2
fi

work=$(mktemp -d -t portico-cache-bench.XXXXXX)
driver=

finish() {
  local status=$?
  trap - EXIT INT TERM HUP
  if [[ -n $driver ]] && kill -0 "$driver" 2>/dev/null; then
    kill -TERM "$driver" 2>/dev/null || true
    wait "$driver" 2>/dev/null || true
  fi
  # The driver stops its servers itself; this is for the case where it could not. It appends
  # every PID it starts to $work/pids; kill those that still run one of the benchmark's binaries
  # (a recycled PID running anything else is left alone).
  local pid bin
  if [[ -s $work/pids ]]; then
    while read -r pid; do
      bin=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
      case ${bin##*/} in
        nginx | haproxy | h2o | portico | wrk | sink_load | varnishd | traffic_server | python3*)
          kill -KILL "$pid" 2>/dev/null || true ;;
      esac
    done <"$work/pids"
  fi
  rm -rf "$work"
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

python3 "$bench_dir/cache_compare.py" --tmpdir "$work" "$@" &
driver=$!
wait "$driver"
