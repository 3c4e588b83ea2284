#!/usr/bin/env bash
# Backup figures on this machine (release build):
#
#   bench/backup.sh [--runs N] [--keys K]
#
# 1. Cost of continuous archiving: `cairn bench --workloads atomic_c64` with and without
#    `--archive DIR`, interleaved N times (default 3); each archived run also prints the
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
for run in $(seq "$runs"); do
  rm -rf "$out/off" "$out/on" "$out/archive"
  echo "off $($cairn bench --keys "$keys" --workloads atomic_c64 --path "$out/off" | grep '^atomic_c64')"
  $cairn bench --keys "$keys" --workloads atomic_c64 --path "$out/on" --archive "$out/archive" >"$out/on.txt"
  echo "on  $(grep '^atomic_c64' "$out/on.txt")  $(grep '^archive' "$out/on.txt")"
done
rm -rf "$out/snap"
$cairn backup --path "$out/on" --to "$out/snap" --name on
$cairn restore --from "$out/snap" --to "$out/restored-snapshot"
$cairn restore --from "$out/archive" --to "$out/restored-log"
