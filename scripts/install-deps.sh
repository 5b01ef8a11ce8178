#!/usr/bin/env bash
# Installs what Portico needs to build, test and serve on Debian 12 (as root), skipping apt-get
# entirely when everything is already there. Usage: scripts/install-deps.sh [--bench]
set -euo pipefail
pkgs=(build-essential cmake pkg-config libevent-dev libnghttp2-dev libssl-dev libhiredis-dev
      libyaml-cpp-dev catch2 zlib1g-dev libbrotli-dev libbenchmark-dev python3 curl
      clang libclang-rt-14-dev clang-format git redis-server)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(nginx-light haproxy h2o wrk varnish trafficserver nghttp2-client)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -o DPkg::Lock::Timeout=600 -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
    -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"
fi

# S3-compatible server for the S3-origin integration tests (tests/s3: @20minutes/s3rver pinned by
# the committed lockfile). Node 20 is on the machines; where node/npm are missing, Debian 12's
# nodejs (18) runs tests/s3/s3rver.js too (npm ci then only warns EBADENGINE).
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ ! -d "$repo_root/tests/s3/node_modules" ]]; then
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "installing: nodejs npm"
    npm_sudo=()
    [[ $(id -u) -eq 0 ]] || npm_sudo=(sudo)
    "${npm_sudo[@]}" apt-get update -o DPkg::Lock::Timeout=600 -qq
    DEBIAN_FRONTEND=noninteractive "${npm_sudo[@]}" apt-get install -y -qq \
      -o DPkg::Lock::Timeout=600 --no-install-recommends nodejs npm
  fi
  npm ci --prefix "$repo_root/tests/s3" --no-audit --no-fund
fi
