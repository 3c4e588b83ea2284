#!/usr/bin/env bash
# cairn's own load generator over KV Connect: `cairn bench --url` against a fresh
# `cairn serve` on loopback, both on this machine (they share its cores).
#
#   bench/rust_remote.sh [--scale F] [--keys N] [--workloads LIST]
#
# Starts a release `cairn serve` on a temporary data directory and a free port, runs the
# workloads through cairn-client (the same workload code as the embedded `cairn bench`), and
# prints one line per workload: `<workload> <ops_per_s> p50_us=<n> p99_us=<n>`.
set -euo pipefail
cd "$(dirname "$0")/.."

scale=0.5
keys=100000
workloads="atomic_c1,atomic_c64,atomic_c256,get,get_c64,list"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scale) scale="$2"; shift 2 ;;
    --keys) keys="$2"; shift 2 ;;
    --workloads) workloads="$2"; shift 2 ;;
    *) echo "usage: bench/rust_remote.sh [--scale F] [--keys N] [--workloads LIST]" >&2; exit 2 ;;
  esac
done

cargo build --release --locked -p cairn >&2
source bench/lib.sh
start_server

echo "# cairn $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$(cairn_bin)" bench --url "$url" --access-token "$token" --keys "$keys" \
  --scale "$scale" --settle-s 2 --workloads "$workloads"
