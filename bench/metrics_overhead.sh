#!/usr/bin/env bash
# What counting costs: the same workloads with statistics and metrics on and off, in one run,
# rounds alternating on/off/on/off so a drifting machine hits both alike.
#
#   bench/metrics_overhead.sh [--rounds N] [--scale F] [--keys N] [--deno]
#
# - embedded: `cairn bench --workloads atomic_c64,get` vs the same with `--no-stats`;
# - server: `cairn bench --url` (cairn-client) against `cairn serve --metrics-listen` scraped
#   every second, as Prometheus would, vs `cairn serve --no-metrics`;
# - with --deno, also bench/remote.ts set/get (Deno's own KV Connect client) against both
#   servers (needs tools/install.sh's Deno).
#
# Prints per workload the median of the rounds, on and off, and on/off - 1 in percent
# (negative: on was slower for throughput). Machines are noisy: read it beside the spread.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
scale=0.5
keys=100000
with_deno=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --scale) scale="$2"; shift 2 ;;
    --keys) keys="$2"; shift 2 ;;
    --deno) with_deno=1; shift ;;
    *) sed -n '5p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
  esac
done

cargo build --release --locked -p cairn >&2
bin=./target/release/cairn
work="$(mktemp -d)"
pids=()
trap 'kill ${pids[*]:-} 2>/dev/null || true; rm -rf "$work"' EXIT

# One line per measurement: `<mode> <workload> <ops_per_s>`.
results="$work/results"
: >"$results"
record() { # mode < bench output
  awk -v mode="$1" '!/^#/ && NF >= 2 { print mode, $1, $2 }' >>"$results"
}

# Starts a server (extra flags in "$@"); sets $url, $metrics (address or empty), $pid.
serve() {
  local dir="$work/serve-$RANDOM"
  mkdir -p "$dir"
  "$bin" serve --data-dir "$dir/db" --listen 127.0.0.1:0 --access-token bench "$@" \
    >"$dir/stdout" 2>"$dir/log" &
  pid=$!
  pids+=("$pid")
  url=""
  for _ in $(seq 100); do
    url="$(sed -n 's/^listening on //p' "$dir/stdout")"
    [[ -n "$url" ]] && break
    sleep 0.1
  done
  [[ -n "$url" ]] || { cat "$dir/log" >&2; exit 1; }
  metrics="$(sed -n 's|^metrics on http://||p' "$dir/stdout")"
}

# Scrapes $metrics every second until killed, as Prometheus would.
scraper() {
  while curl -sf "http://$metrics" >/dev/null; do sleep 1; done
}

for round in $(seq "$rounds"); do
  for mode in on off; do
    echo "# round $round, $mode" >&2
    flag=(); [[ $mode == off ]] && flag=(--no-stats)
    "$bin" bench --keys "$keys" --scale "$scale" --settle-s 2 \
      --workloads atomic_c64,get "${flag[@]}" | record "$mode"

    if [[ $mode == on ]]; then serve --metrics-listen 127.0.0.1:0; else serve --no-metrics; fi
    scrape_pid=""
    if [[ -n "$metrics" ]]; then scraper & scrape_pid=$!; fi
    "$bin" bench --url "$url" --access-token bench --keys "$keys" --scale "$scale" \
      --settle-s 1 --workloads atomic_c64,get | sed 's/^/url_/' | record "$mode"
    if [[ $with_deno == 1 ]]; then
      DENO_KV_ACCESS_TOKEN=bench "$(tools/install.sh)" run -A --unstable-kv bench/remote.ts \
        "$url" --duration 5 --keys 10000 --only set,get | sed 's/^\([a-z]\)/deno_\1/' |
        record "$mode"
    fi
    [[ -n "$scrape_pid" ]] && kill "$scrape_pid" 2>/dev/null || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done

echo "# cairn $(git rev-parse --short HEAD), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), $rounds rounds, keys $keys, scale $scale"
echo "# workload on_median off_median on/off-1 (ops/s; each mode's rounds in brackets)"
awk '
  { v[$2, $1] = v[$2, $1] " " $3; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
  function median(list,   a, k, i, j, t) {
    k = split(list, a, " ")
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  END {
    for (i = 1; i <= n; i++) {
      w = order[i]; on = median(v[w, "on"]); off = median(v[w, "off"])
      printf "%s %d %d %+.1f%% [on:%s] [off:%s]\n", w, on, off, (on / off - 1) * 100, v[w, "on"], v[w, "off"]
    }
  }' "$results"
