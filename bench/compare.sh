#!/usr/bin/env bash
# Side-by-side load benchmark of Portico, nginx, HAProxy and h2o as reverse proxies to one origin.
# Usage: bench/compare.sh [--quick] [--rounds N] [--duration S] [--servers a,b] [--out FILE] ...
# (all options: bench/compare.sh --help; method: bench/README.md). The work happens in
# bench/compare.py; this wrapper owns the temp dir and is the last line of cleanup.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for tool in python3 wrk curl taskset nginx; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool not found" >&2; exit 2; }
done

tmp=$(mktemp -d -t portico-bench.XXXXXX)
py_pid=

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n $py_pid ]] && kill -0 "$py_pid" 2>/dev/null; then
    kill -TERM "$py_pid" 2>/dev/null || true
    wait "$py_pid" 2>/dev/null || true
  fi
  # Backstop if the driver died without stopping its servers: every PID it started is in
  # $tmp/pids; kill those still running one of our binaries.
  if [[ -f $tmp/pids ]]; then
    while read -r pid; do
      exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
      case ${exe##*/} in
        nginx | haproxy | h2o | portico | wrk) kill -KILL "$pid" 2>/dev/null || true ;;
      esac
    done <"$tmp/pids"
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# In the background so this shell can take signals while the driver runs.
python3 "$here/compare.py" --tmpdir "$tmp" "$@" &
py_pid=$!
wait "$py_pid"
