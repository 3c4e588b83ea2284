#!/usr/bin/env bash
# Backup figures on this machine (release build):
#
#   bench/backup.sh [--runs N] [--keys K]
#
# 1. Cost of continuous archiving: `cairn bench --workloads atomic_c64` with and without
#    `--archive DIR`, interleaved N times (default 3) in alternating order; each archived run also prints the
#    archive's largest lag (publication of a batch → end of its upload).
# 2. Snapshot speed: `cairn backup` of the last archived run's database (K preloaded keys,
#    default 1,000,000, plus the atomic_c64 writes).
# 3. Restore speed: `cairn restore` of that snapshot (entries copied), and of the continuous
#    archive, whose range holds one snapshot taken when the database was empty and the whole
#    log after it (the K keys' preload in batches of 1,000, then every atomic_c64 batch):
#    a replay of the whole log.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
keys=1000000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --keys) keys="$2"; shift 2 ;;
    *) echo "usage: bench/backup.sh [--runs N] [--keys K]" >&2; exit 2 ;;
  esac
done

cargo build --release --locked -p cairn >&2
cairn=./target/release/cairn
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "# cairn $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
off_run() {
  echo "off $($cairn bench --keys "$keys" --workloads atomic_c64 --path "$out/off" | grep '^atomic_c64')" | tee -a "$out/pairs.txt"
}
on_run() {
  $cairn bench --keys "$keys" --workloads atomic_c64 --path "$out/on" --archive "$out/archive" >"$out/on.txt"
  echo "on  $(grep '^atomic_c64' "$out/on.txt")  $(grep '^archive' "$out/on.txt")" | tee -a "$out/pairs.txt"
}
# The order alternates (off, on / on, off): whichever run goes second in a pair starts with a
# warmer page cache and a quieter disk, and a fixed order made the archived run look faster.
for run in $(seq "$runs"); do
  rm -rf "$out/off" "$out/on" "$out/archive"
  if (( run % 2 )); then off_run; on_run; else on_run; off_run; fi
done
# Per pair: throughput archived / not archived (the first number after the workload's name is
# ops/s); the median of the pairs is the figure the README quotes.
awk '$1 == "off" { off = $3 } $1 == "on" { on = $3 }
     off && on { printf "pair %d: on/off %.3f\n", ++n, on / off; off = on = 0 }' "$out/pairs.txt" |
  tee "$out/ratios.txt"
sort -t' ' -k4 -n "$out/ratios.txt" | awk '{ r[NR] = $4 } END { if (NR) printf "median on/off %.3f over %d pairs\n", (NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2), NR }'
rm -rf "$out/snap"
$cairn backup --path "$out/on" --to "$out/snap" --name on
$cairn restore --from "$out/snap" --to "$out/restored-snapshot"
$cairn restore --from "$out/archive" --to "$out/restored-log"
