#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with ASan+UBSan, runs every test
# (unit, integration against the real binary, fuzz-corpus replays) through ctest, the integration
# suite again under ThreadSanitizer, then a short bounded libFuzzer run of every fuzz target built
# with clang. Exit code non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/check-layers.sh
scripts/check-format.sh
jobs=$(nproc)
cmake --preset asan >/dev/null
cmake --build --preset asan -j"$jobs"
ctest --preset asan -j"$jobs" --timeout 300
# ThreadSanitizer over the integration suite: the tests that run worker threads, reloads and the
# access-log writer against the real binary.
if [[ "${PORTICO_SKIP_TSAN:-0}" != 1 ]]; then
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan -j"$jobs" --target portico
  TSAN_OPTIONS="halt_on_error=0 suppressions=$PWD/tests/tsan.supp" ctest --preset tsan -L integration -j"$jobs" --timeout 300
fi
if [[ "${PORTICO_SKIP_FUZZ:-0}" != 1 ]]; then
  cmake --preset fuzz >/dev/null
  targets=$(sed -n 's/.*tests\/fuzz\/\([a-z0-9_]*_fuzz\)\.cc/\1/p' <(ls tests/fuzz/*_fuzz.cc) | tr '\n' ' ')
  # shellcheck disable=SC2086
  cmake --build --preset fuzz -j"$jobs" --target $targets
  ctest --preset fuzz -L fuzz -j"$jobs" --timeout 120
fi
