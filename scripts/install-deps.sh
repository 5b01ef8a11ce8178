#!/usr/bin/env bash
# Installs what Portico needs to build, test and serve on Debian 12 (as root), skipping apt-get
# entirely when everything is already there. Usage: scripts/install-deps.sh [--bench]
set -euo pipefail
pkgs=(build-essential cmake pkg-config libevent-dev libnghttp2-dev libssl-dev libhiredis-dev
      libyaml-cpp-dev catch2 zlib1g-dev libbrotli-dev libbenchmark-dev python3 curl
      clang libclang-rt-14-dev clang-format git)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(nginx-light haproxy h2o wrk)
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
