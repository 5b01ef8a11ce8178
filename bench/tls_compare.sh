#!/usr/bin/env bash
# TLS benchmark (issue #6): Portico's HTTPS listeners vs nginx, HAProxy and h2o, same certificates
# (RSA-2048 and ECDSA P-256, made in the temp dir), one worker each on CPU 0, clients on CPU 1:
# HTTP/2-over-TLS 1 KiB cache hits (h2load -c32 -m16), full handshakes per second for both key
# types (parallel `openssl s_time -new`), resumed handshakes (wrk with `Connection: close`, and
# `openssl s_time -reuse`). Results go to bench/results/tls-compare-<date>-<time>.md. Options:
# bench/tls_compare.sh --help (--duration S, --rounds N, --quiet-wait S, --tests, --servers,
# --portico-bin PATH or $PORTICO_BIN, ...); method: docs/benchmarks.md ("TLS and HTTP/2"). The
# driver is bench/tls_compare.py; this wrapper owns the temp dir and, should the driver die, stops
# whatever it had started (by PID).
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
missing=()
for cmd in python3 curl taskset openssl h2load wrk; do
  command -v "$cmd" >/dev/null || missing+=("$cmd")
done
if ((${#missing[@]})); then
  echo "tls_compare.sh: missing ${missing[*]}" \
    "(apt-get install -y nginx haproxy h2o wrk nghttp2-client curl openssl)" >&2
  exit 2
fi

work=$(mktemp -d -t portico-tls-bench.XXXXXX)
driver=

finish() {
  local status=$?
  trap - EXIT INT TERM HUP
  if [[ -n $driver ]] && kill -0 "$driver" 2>/dev/null; then
    kill -TERM "$driver" 2>/dev/null || true
    wait "$driver" 2>/dev/null || true
  fi
  # The driver stops its servers and clients itself; this is for the case where it could not. It
  # appends every PID it starts to $work/pids; kill those that still run one of the benchmark's
  # binaries (a recycled PID running anything else is left alone).
  local pid bin
  if [[ -s $work/pids ]]; then
    while read -r pid; do
      bin=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
      case ${bin##*/} in
        nginx | haproxy | h2o | portico | wrk | h2load | openssl | python3*)
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

# In the background so this shell can take signals while the driver runs.
python3 "$bench_dir/tls_compare.py" --tmpdir "$work" "$@" &
driver=$!
wait "$driver"
