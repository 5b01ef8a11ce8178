#!/usr/bin/env bash
# The README's serve command: the seed architecture on this machine (issue 8). Installs what is
# missing (scripts/install-deps.sh: redis-server, node + the S3-compatible server, build tools),
# builds the release binary, then runs examples/stack/stack.py, which starts s3rver and uploads
# examples/stack/site/, redis-server, the two zone backends and Portico on
# examples/stack/portico.yaml, prints the URLs and how to trust the local CA, and stops everything
# it started (by PID) on Ctrl-C. Ports are fixed (https://localhost:8443/, http://localhost:8080/,
# admin 127.0.0.1:9901, S3 9000, Redis 6380, backends 9101/9102); PORTICO_STACK_*_PORT overrides
# them (0 = a free port), see examples/stack/stack.py. PORTICO_BIN=path skips the build and runs
# that binary. Arguments go to stack.py (e.g. --quiet).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [[ -n "${PORTICO_BIN:-}" ]]; then
  portico=$PORTICO_BIN  # a binary built elsewhere: use it as is
else
  cmake --preset release >/dev/null
  cmake --build --preset release -j"$(nproc)" --target portico
  portico=build/release/portico
fi
exec python3 examples/stack/stack.py up --portico "$portico" "$@"
