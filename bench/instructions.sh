#!/usr/bin/env bash
# What a feature costs, in CPU instructions per operation, on vs off: repeatable on a busy
# machine, where throughput ratios (bench/metrics_overhead.sh, bench/backup.sh) are not.
#
#   bench/instructions.sh [--cost stats|archive] [--keys N]
#
# stats (default): statistics and metrics on vs `--no-stats`. archive: continuous archiving
# to a directory (`--archive DIR`, the archiver's threads included) vs none.
#
# Each workload of the embedded `cairn bench` runs under valgrind's callgrind at two sizes; the
# difference of the two totals over the difference of the operation counts is the cost of
# one operation, without the preload and start-up both runs share. Printed per workload:
# instructions per operation with statistics on, off, and on/off - 1 in percent.
set -euo pipefail
cd "$(dirname "$0")/.."

keys=20000
cost=stats
while [[ $# -gt 0 ]]; do
  case "$1" in
    --keys) keys="$2"; shift 2 ;;
    --cost) cost="$2"; shift 2 ;;
    *) sed -n '5p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }

cargo build --release --locked -p cairn >&2
bin=./target/release/cairn
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# instructions <workload> <scale> <mode>: total instructions of one run.
instructions() {
  local flag=()
  case "$cost:$3" in
    stats:off) flag=(--no-stats) ;;
    archive:on) rm -rf "$work/archive"; flag=(--archive "$work/archive") ;;
  esac
  rm -rf "$work/db"
  valgrind --tool=callgrind --callgrind-out-file="$work/out" \
    "$bin" bench --keys "$keys" --scale "$2" --settle-s 0 --workloads "$1" --path "$work/db" "${flag[@]}" \
    >/dev/null 2>&1
  sed -n 's/^summary: //p' "$work/out"
}

# Operations each workload runs at scale 1 (crates/cairn/src/bench.rs).
declare -A base=([atomic_c64]=200000 [get]=500000)
small=0.02
large=0.06
case "$cost" in stats | archive) ;; *) echo "--cost stats|archive" >&2; exit 2 ;; esac
echo "# cairn $(git rev-parse --short HEAD), callgrind, cost of $cost, keys $keys, scales $small and $large"
echo "# workload instr_per_op_on instr_per_op_off on/off-1"
# Reads archive nothing: the archive's cost is measured on writes only.
workloads=(atomic_c64 get)
[[ $cost == archive ]] && workloads=(atomic_c64)
for workload in "${workloads[@]}"; do
  ops=$(awk -v b="${base[$workload]}" -v s="$small" -v l="$large" \
    'BEGIN { print int(b * l) - int(b * s) }')
  declare -A per=()
  for mode in on off; do
    a=$(instructions "$workload" "$small" "$mode")
    b=$(instructions "$workload" "$large" "$mode")
    per[$mode]=$(( (b - a) / ops ))
  done
  awk -v w="$workload" -v on="${per[on]}" -v off="${per[off]}" \
    'BEGIN { printf "%s %d %d %+.1f%%\n", w, on, off, (on / off - 1) * 100 }'
done
