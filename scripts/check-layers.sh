#!/usr/bin/env bash
# Rejects includes that break the layering of ../shared/STYLE.md:
# core <- config <- {tls, routing, cache, origin} <- proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
check() {  # folder, regex of folders it must not include
  [[ -d $1 ]] || return 0
  if grep -rnE "#include +\"($2)/" "$1"; then echo "layering: $1/ must not include $2/"; bad=1; fi
}
check core "config|tls|routing|cache|origin|proxy"
check config "tls|routing|cache|origin|proxy"
for lib in tls routing cache origin; do
  check "$lib" "proxy|$(echo tls routing cache origin | tr ' ' '\n' | grep -vx "$lib" | paste -sd'|')"
done
# hiredis stays behind cache/redis_*.cc (STYLE.md "Third-party headers stay in one place").
if grep -rnE '#include +[<"]hiredis/' --include='*.cc' --include='*.h' core config tls routing \
    cache origin proxy | grep -vE '^cache/redis_[a-z_]+\.cc:'; then
  echo "layering: hiredis headers belong in cache/redis_*.cc only"; bad=1
fi
exit $bad
