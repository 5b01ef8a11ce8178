#!/usr/bin/env bash
# clang-format (Debian's 14) over every tracked C++ file; fails on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then echo "clang-format not installed; skipping"; exit 0; fi
git ls-files '*.cc' '*.h' | xargs clang-format --dry-run -Werror
