#!/usr/bin/env bash
# Load balancer benchmark: Portico's ALB vs HAProxy and nginx, each forwarding GET /1k round robin
# across the same two nginx backends, one proxy worker pinned to CPU 0, wrk and the backends on
# CPU 1. Results go to bench/results/lb-compare-<date>-<time>.md. Options: bench/lb_compare.sh
# --help (--duration S, --rounds N, --quick, --servers, --portico-bin PATH or $PORTICO_BIN, --out
# FILE, ...); method: docs/benchmarks.md ("Load balancing"). The driver is
# bench/lb_compare.py; this wrapper owns the temp dir and, should the driver die, stops whatever it
# had started (by PID).
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
missing=()
for cmd in python3 wrk curl taskset nginx; do
  command -v "$cmd" >/dev/null || missing+=("$cmd")
done
if ((${#missing[@]})); then
  echo "lb_compare.sh: missing ${missing[*]} (apt-get install -y haproxy nginx wrk)" >&2
  exit 2
fi

work=$(mktemp -d -t portico-lb-bench.XXXXXX)
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
        nginx | haproxy | portico | wrk) kill -KILL "$pid" 2>/dev/null || true ;;
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

# In the background so this shell can take signals while the driver runs.
python3 "$bench_dir/lb_compare.py" --tmpdir "$work" "$@" &
driver=$!
wait "$driver"
