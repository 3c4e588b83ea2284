#!/usr/bin/env bash
# The soak run: `cairn serve` on loopback under 64 connections of mixed reads and writes
# (`cairn bench --url ... --workloads soak`) for a long time, with the server's memory
# sampled every 10 s. RSS must stay flat: the workload's key space is bounded.
#
#   bench/soak.sh [--duration-s N] [--keys N]        (default: 1800 s, 100,000 keys)
#
# Prints the workload's line per minute (throughput, p50/p99/p99.9 latency, errors), then
# the server's RSS: after the first minute, at the end, and its peak (VmHWM).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=1800
keys=100000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration-s) duration="$2"; shift 2 ;;
    --keys) keys="$2"; shift 2 ;;
    *) echo "usage: bench/soak.sh [--duration-s N] [--keys N]" >&2; exit 2 ;;
  esac
done

cargo build --release --locked -p cairn >&2
source bench/lib.sh
start_server

rss_kib() { awk -v f="$1" '$1 == f":" { print $2 }' "/proc/$server/status"; }
( while sleep 10; do echo "$(date +%s) $(rss_kib VmRSS)"; done >"$data/rss" ) &
extra_pids=$!

echo "# cairn $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), ${duration}s, ${keys} keys"
"$(cairn_bin)" bench --url "$url" --access-token "$token" --keys "$keys" \
  --settle-s 2 --workloads soak --duration-s "$duration"
start="$(head -n 1 "$data/rss" | cut -d' ' -f1)"
first="$(awk -v s="$start" '$1 >= s + 60 { print $2; exit }' "$data/rss")"
echo "rss_kib after_1_min=${first:-?} at_end=$(rss_kib VmRSS) peak=$(rss_kib VmHWM) samples=$(wc -l <"$data/rss")"
# The course of the RSS: one sample every 5 minutes (the first at 10 s).
awk -v s="$start" 'NR == 1 || $1 >= s + next_at { printf "rss_kib t_s=%d %d\n", $1 - s + 10, $2; next_at = ($1 - s) + 300 }' "$data/rss"
