#!/usr/bin/env bash
# Stall check only: 200 sequential keep-alive GETs of a 100 KiB body through each proxy
# (and the origin directly), median and max per request. A Nagle/delayed-ACK (tcp_nopush-style)
# stall shows as ~40 ms. Same options as compare.sh (e.g. --servers portico,nginx).
exec "$(dirname "${BASH_SOURCE[0]}")/compare.sh" --stall-only "$@"
