#!/usr/bin/env bash
# The README's serve command: installs what is missing, builds the release binary, starts the demo
# API backend (examples/api_backend.py on 127.0.0.1:9001) and serves examples/portico.yaml on
# http://localhost:8080/ (admin on 127.0.0.1:9901). Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target portico
backend_pid=""
cleanup() { [[ -n "$backend_pid" ]] && kill "$backend_pid" 2>/dev/null || true; }
trap cleanup EXIT
python3 examples/api_backend.py --port 9001 &
backend_pid=$!
echo "demo API backend: pid $backend_pid on http://127.0.0.1:9001"
echo "Portico: http://localhost:8080/ (site), http://localhost:8080/api/hello (API), admin http://127.0.0.1:9901/metrics"
echo "HTTPS + HTTP/2: https://localhost:8443/ (trust the local CA: build/release/portico ca export -c examples/portico.yaml > portico-ca.pem)"
build/release/portico -c examples/portico.yaml "$@"
