#!/usr/bin/env bash
# Replication's figures, all in one run on this machine (primary, replica and load generator
# share its cores):
#
#   - atomic_c64 through cairn-client against a primary with no replica, with an asynchronous
#     replica (--sync-replicas 0) and with a synchronous one (--sync-replicas 1), rounds
#     alternating, each on fresh data directories;
#   - the replication lag at --rate writes/s (default 10,000): `cairn bench --workloads
#     replication_lag`, a probe timing each acknowledged write until the replica shows it,
#     with --sync-replicas 0 and 1; and the replica's own lag histogram from its /metrics
#     (primary's durability to the replica's publication, millisecond clock).
#
#   bench/replication.sh [--rounds N] [--scale F] [--rate R] [--duration-s D]
#                        [--modes "none sync0 sync1"] [--no-lag]
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
modes="none sync0 sync1"
lag=yes
scale=0.25
rate=10000
duration=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --scale) scale="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --duration-s) duration="$2"; shift 2 ;;
    --modes) modes="$2"; shift 2 ;;
    --no-lag) lag=no; shift ;;
    *) echo "usage: bench/replication.sh [--rounds N] [--scale F] [--rate R] [--duration-s D] [--modes M] [--no-lag]" >&2; exit 2 ;;
  esac
done

cargo build --release --locked -p cairn >&2
bin="${CAIRN_BIN:-./target/release/cairn}"
work="$(mktemp -d)"
token="bench-$$"
rtoken="bench-replication-$$"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

# start_node NAME ARGS...: a `cairn serve` on a free port; sets ${NAME}_url and ${NAME}_metrics.
start_node() {
  local name="$1"; shift
  local dir="$work/$name"
  rm -rf "$dir"; mkdir -p "$dir"; : >"$dir/stdout"
  "$bin" serve --data-dir "$dir/data" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
    --access-token "$token" --replication-token "$rtoken" "$@" >"$dir/stdout" 2>"$dir/log" &
  pids+=($!)
  local url=""
  for _ in $(seq 200); do
    url="$(sed -n 's/^listening on //p' "$dir/stdout")"
    [[ -n "$url" ]] && break
    sleep 0.05
  done
  [[ -n "$url" ]] || { echo "$name did not start:" >&2; cat "$dir/log" >&2; exit 1; }
  printf -v "${name}_url" '%s' "$url"
  printf -v "${name}_metrics" '%s' "$(sed -n 's/^metrics on //p' "$dir/stdout")"
}

metric() { # URL NAME: the value of the first series of NAME
  curl -s "$1" | awk -v n="$2" '$1 ~ "^"n"[{ ]" || $1 == n { print $2; exit }'
}

stop_nodes() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  pids=()
}

# start_pair SYNC: a primary with --sync-replicas SYNC and a replica serving its own reads.
start_pair() {
  start_node primary --sync-replicas "$1"
  start_node replica --replica-of "$primary_url" --replica-endpoints replica
  for _ in $(seq 200); do
    [[ "$(metric "$primary_metrics" cairn_replication_replicas)" == 1 ]] && return
    sleep 0.05
  done
  echo "the replica did not connect:" >&2; cat "$work/replica/log" >&2; exit 1
}

echo "# cairn $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
  for mode in $modes; do
    case "$mode" in
      none) start_node primary ;;
      sync0) start_pair 0 ;;
      sync1) start_pair 1 ;;
    esac
    line="$("$bin" bench --url "$primary_url" --access-token "$token" --keys 10000 \
      --scale "$scale" --settle-s 1 --workloads atomic_c64 2>/dev/null)"
    echo "round $round replicas=$mode $line"
    stop_nodes
  done
done

[[ "$lag" == yes ]] || exit 0
for sync in 0 1; do
  start_pair "$sync"
  line="$("$bin" bench --url "$primary_url" --replica-url "$replica_url" --access-token "$token" \
    --workloads replication_lag --rate "$rate" --duration-s "$duration" --keys 0 --settle-s 0 2>&1 | grep '^replication_lag\|^#.*behind')"
  echo "sync_replicas=$sync $line"
  curl -s "$replica_metrics" | awk '/^cairn_replication_lag_seconds_(bucket|count|sum)/' \
    | sed "s/^/  sync_replicas=$sync replica histogram: /" | grep -E 'le="(0.001|0.0025|0.005|0.01|0.025|\+Inf)"|_count|_sum'
  stop_nodes
done
