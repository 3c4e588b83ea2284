#!/usr/bin/env bash
# cairn's Redis protocol front end against Redis itself, with Redis's own tool, same run,
# same machine, same durability: redis-server with `appendonly yes`, `appendfsync always`
# (every write fsynced before its reply) against `cairn serve --resp-listen` (every write
# durable before its reply, group-committed).
#
#   bench/resp.sh            # redis-benchmark -t set,get,incr -n 200000 -c 50 at -P 1 and -P 16
#   N=50000 bench/resp.sh    # shorter
#
# Needs the release build (cargo build --release -p cairn) and Debian's redis-server and
# redis-tools. Each test runs on its own so that each server's CPU time per operation
# (utime + stime from /proc/PID/stat, before and after) belongs to that test alone. Both
# data directories are on the same filesystem (under $TMPDIR).
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-200000}"
CLIENTS="${CLIENTS:-50}"
bin="${CAIRN_BIN:-./target/release/cairn}"
[[ -x "$bin" ]] || { echo "build first: cargo build --release -p cairn" >&2; exit 1; }
for tool in redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "$tool missing: apt-get install redis-server redis-tools" >&2; exit 1; }
done

# shellcheck source=bench/resp_servers.sh
source bench/resp_servers.sh

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Commits of cairn's databases so far (the writer's batches: operations per commit shows how
# well the Redis front end groups its clients' writes).
commits() { curl -s "$metrics_url" | awk '/^cairn_commits_total\{.*result="committed"/ { s += $2 } END { print s + 0 }'; }
hz="$(getconf CLK_TCK)"

# run PID PORT AUTH TEST PIPELINE: prints "rps cpu_us_per_op"
run() {
  local pid=$1 port=$2 auth=$3 test=$4 pipeline=$5 before after rps
  before="$(cpu_ticks "$pid")"
  rps="$(redis-benchmark -h 127.0.0.1 -p "$port" $auth -t "$test" -n "$N" -c "$CLIENTS" \
    -P "$pipeline" --csv 2>/dev/null | awk -F'","' 'NR==2 {print $2}')"
  after="$(cpu_ticks "$pid")"
  awk -v r="$rps" -v t=$((after - before)) -v hz="$hz" -v n="$N" \
    'BEGIN { printf "%.0f %.2f\n", r, t / hz * 1e6 / n }'
}

# A short warm-up of both servers first (opening cairn's database, the first log segment,
# Redis's AOF file), so that the first measured test does not pay for it alone.
for port_auth in "$cairn_port:-a bench" "$redis_port:"; do
  redis-benchmark -h 127.0.0.1 -p "${port_auth%%:*}" ${port_auth#*:} -t set,incr -n 20000 \
    -c "$CLIENTS" >/dev/null 2>&1
done

echo "redis-benchmark -n $N -c $CLIENTS; $(redis-server --version | cut -d' ' -f1-3); cairn $("$bin" --version 2>/dev/null || echo)"
printf '| test | -P | cairn ops/s | Redis ops/s | cairn / Redis | cairn CPU µs/op | Redis CPU µs/op | cairn ops/commit |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for pipeline in 1 16; do
  for test in set get incr; do
    c0="$(commits)"
    read -r c_rps c_cpu < <(run "$cairn_pid" "$cairn_port" "-a bench" "$test" "$pipeline")
    c1="$(commits)"
    read -r r_rps r_cpu < <(run "$redis_pid" "$redis_port" "" "$test" "$pipeline")
    ratio="$(awk -v a="$c_rps" -v b="$r_rps" 'BEGIN { printf "%.2f", a / b }')"
    per_commit="$(awk -v n="$N" -v c=$((c1 - c0)) 'BEGIN { if (c > 0) printf "%.1f", n / c; else print "–" }')"
    printf '| %s | %s | %s | %s | %s× | %s | %s | %s |\n' \
      "${test^^}" "$pipeline" "$c_rps" "$r_rps" "$ratio" "$c_cpu" "$r_cpu" "$per_commit"
  done
done
