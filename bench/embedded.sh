#!/usr/bin/env bash
# The embedded benchmark, cairn beside Deno's own local KV, in one run on this machine.
#
#   bench/embedded.sh [--scale F] [--workloads LIST]
#
# LIST is `cairn bench --workloads` (default: atomic_c1,atomic_c64,get,list); Deno runs those of
# them it has (`indexes`, `count` and `sum` included; not `list_keys`, which Deno KV lacks).
#
# Runs `cairn bench` (release build) and `bench/deno_local.ts` (the pinned Deno runtime from
# tools/) on fresh databases of 1,000,000 keys with the same workloads, then prints both
# sets of figures side by side with cairn/Deno ratios. Machines are noisy: compare ratios from
# one run, not absolute figures across runs.
set -euo pipefail
cd "$(dirname "$0")/.."

scale=1
workloads=atomic_c1,atomic_c64,get,list
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scale) scale="$2"; shift 2 ;;
    --workloads) workloads="$2"; shift 2 ;;
    *) echo "usage: bench/embedded.sh [--scale F] [--workloads LIST]" >&2; exit 2 ;;
  esac
done
deno_only="$(tr ',' '\n' <<<"$workloads" | grep -vx list_keys | paste -sd, -)"

deno="$(tools/install.sh)"
cargo build --release --locked -p cairn >&2
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "# cairn $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
./target/release/cairn bench --scale "$scale" --workloads "$workloads" >"$out/cairn.txt"
"$deno" run -A --unstable-kv bench/deno_local.ts --scale "$scale" --only "$deno_only" >"$out/deno.txt"
grep '^# deno' "$out/deno.txt" || true

awk '
  FNR == 1 { file++ }
  /^#/ { next }
  {
    name = $1; rate[file, name] = $2; lat[file, name] = $3 " " $4
    if (file == 1) order[++n] = name
  }
  END {
    printf "%-16s %12s %12s %8s   %-28s %-28s\n", "workload", "cairn/s", "deno/s", "ratio", "cairn latency", "deno latency"
    for (i = 1; i <= n; i++) {
      w = order[i]
      ratio = rate[2, w] > 0 ? rate[1, w] / rate[2, w] : 0
      printf "%-16s %12d %12d %7.1fx   %-28s %-28s\n", w, rate[1, w], rate[2, w], ratio, lat[1, w], lat[2, w]
    }
  }
' "$out/cairn.txt" "$out/deno.txt"
