#!/usr/bin/env bash
# cairn serve against the reference KV Connect server (`denokv` from crates.io), both driven
# by the same Deno client through bench/remote.ts, in one run on this machine.
#
#   bench/compare.sh [--rounds N] [--duration S] [--keys N] [--dir DIR] [--keep]
#                    [--cairn-arg ARG]... [--denokv-arg ARG]... [-- REMOTE_TS_ARGS...]
#
# Rounds alternate A/B/A/B (cairn, denokv, cairn, denokv, ...), so a slow drift of the machine
# (thermal, page cache, a neighbour) hits both servers alike instead of one of them. Every
# run gets a fresh server on a fresh database. Per workload it prints the median of the
# rounds for each server and the cairn/denokv ratio of the medians. Machines are noisy:
# compare ratios from one run, not absolute figures across runs.
#
# Both servers run with their defaults, which are both durable: cairn `--durability sync`
# (fdatasync before acknowledging), denokv SQLite in WAL mode with synchronous=FULL (fsync of
# the WAL at each commit). Pass e.g. `--denokv-arg --atomic-write-batch-timeout-ms=1` or
# `--cairn-arg --durability=relaxed` to explore other settings.
#
# CAIRN_BIN=path compares another cairn build (the script still builds this checkout).
#
# Not run by CI: it installs denokv (a several-minute compile on 2 cores, once, into
# tools/cargo) and takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

rounds=2
remote_args=()
cairn_args=()
denokv_args=()
parent=""
keep=0
usage() {
  sed -n '4,5p' "$0" | sed 's/^# *//' >&2
  exit 2
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --duration | --keys) remote_args+=("$1" "$2"); shift 2 ;;
    --dir) parent="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --cairn-arg) cairn_args+=("$2"); shift 2 ;;
    --denokv-arg) denokv_args+=("$2"); shift 2 ;;
    --) shift; remote_args+=("$@"); break ;;
    *) usage ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || usage

log() { printf 'compare.sh: %s\n' "$*" >&2; }
command -v curl >/dev/null || { log "curl is needed to probe the servers"; exit 1; }

# --- tools ---------------------------------------------------------------------------------

deno="$(tools/install.sh)"

# The reference server, pinned by --locked to the dependency versions it was published with.
# Installed under the repo (not ~/.cargo) so the bench never touches the user's PATH tools.
denokv="$PWD/tools/cargo/bin/denokv"
if [[ ! -x "$denokv" ]]; then
  log "installing denokv into tools/cargo (compiles from source; several minutes on 2 cores)"
  cargo install denokv --locked --root tools/cargo >&2
fi

cargo build --release --locked -p cairn >&2
cairn="${CAIRN_BIN:-$PWD/target/release/cairn}"

# --- servers -------------------------------------------------------------------------------

# Fresh working directory per run of this script: databases, server logs, bench outputs.
# It must be on a real disk (not tmpfs), or the fsyncs both servers do are free.
work="$(mktemp -d "${parent:-${TMPDIR:-/tmp}}/cairn-compare-XXXXXX")"
server_pid=""
# denokv insists on >= 12 characters; the same token goes to both servers.
token="cairn-bench-$RANDOM$RANDOM"

stop_server() {
  [[ -n "$server_pid" ]] || return 0
  # SIGTERM first: both shut down gracefully. SIGKILL if one has not exited after 10 s.
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
cleanup() {
  stop_server
  # --keep leaves the server logs and the raw bench outputs (the databases are always gone).
  if [[ $keep == 1 ]]; then log "kept $work"; else rm -rf "$work"; fi
}
# Whatever way the script ends (error, Ctrl-C), no server is left running.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A port the kernel says is free right now (the servers take an address, not port 0).
free_port() {
  "$deno" eval 'const l = Deno.listen({ hostname: "127.0.0.1", port: 0 }); console.log(l.addr.port); l.close()'
}

# Waits until the metadata exchange answers 200 with our token: the server is up, has
# opened its database and accepts the token, so nothing of its startup is timed.
wait_ready() {
  local url="$1" name="$2"
  for _ in $(seq 300); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      log "$name exited during startup; its log:"
      cat "$work/$name.log" >&2
      return 1
    fi
    if curl -fsS -o /dev/null -X POST "$url" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' -d '{"supportedVersions":[2,3]}' 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  log "$name not ready after 30 s; its log:"
  cat "$work/$name.log" >&2
  return 1
}

# start_<server> DIR PORT: starts it in the background and sets server_pid.
start_cairn() {
  "$cairn" serve --data-dir "$1" --listen "127.0.0.1:$2" --access-token "$token" \
    ${cairn_args[@]+"${cairn_args[@]}"} >>"$work/cairn.log" 2>&1 &
  server_pid=$!
}
start_denokv() {
  mkdir -p "$1"
  "$denokv" --sqlite-path "$1/denokv.sqlite3" serve --access-token "$token" \
    --addr "127.0.0.1:$2" ${denokv_args[@]+"${denokv_args[@]}"} >>"$work/denokv.log" 2>&1 &
  server_pid=$!
}

# CPU ticks used by the whole machine / by this script's reaped children (the server, deno,
# curl). Their difference over a run is what other processes took: on a 2-core machine a
# neighbour's build or benchmark skews the figures, and this makes it visible.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat 2>/dev/null || echo 0; }
child_ticks() { awk '{ print $16 + $17 }' "/proc/$$/stat" 2>/dev/null || echo 0; }

run_one() {
  local name="$1" round="$2" port dir url out busy0 child0 t0
  port="$(free_port)"
  dir="$work/$name-$round"
  url="http://127.0.0.1:$port"
  out="$work/$name.$round.txt"
  echo "=== round $round: $name ===" >>"$work/$name.log"
  busy0="$(busy_ticks)" child0="$(child_ticks)" t0="$(date +%s.%N)"
  "start_$name" "$dir" "$port"
  wait_ready "$url" "$name"
  log "round $round/$rounds: $name on $url"
  if ! DENO_KV_ACCESS_TOKEN="$token" "$deno" run -A --unstable-kv bench/remote.ts "$url" \
    --server-pid "$server_pid" ${remote_args[@]+"${remote_args[@]}"} >"$out"; then
    log "bench/remote.ts failed against $name; last lines of its output and the server log:"
    tail -n 20 "$out" >&2
    tail -n 40 "$work/$name.log" >&2
    exit 1
  fi
  stop_server
  awk -v b="$(($(busy_ticks) - busy0))" -v c="$(($(child_ticks) - child0))" \
    -v t="$(date +%s.%N)" -v t0="$t0" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "# other processes used %.2f cores during this run\n", ((b > c ? b - c : 0)) / hz / (t - t0) }' >>"$out"
  sed 's/^/  /' "$out" >&2
  rm -rf "$dir" # keep the disk from filling over many rounds
}

# --- run -----------------------------------------------------------------------------------

# denokv has no --version; cargo's install record has it.
denokv_version="$(cargo install --list --root tools/cargo | awk '$1 == "denokv" { sub(":", "", $2); print $2 }')"
cairn_rev="$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- crates Cargo.lock 2>/dev/null || echo '+dirty')"
echo "# cairn $("$cairn" --version | awk '{print $2}') at $cairn_rev, denokv $denokv_version, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
for round in $(seq "$rounds"); do
  run_one cairn "$round"
  run_one denokv "$round"
done
grep -h '^# deno' "$work/cairn.1.txt" || true
grep -h '^# url' "$work/cairn.1.txt" | sed 's/^# url [^;]*; /# /' || true

# Medians per server and workload over the rounds (for an even count, the mean of the middle
# two), then the table. Files are read in the order cairn.1, cairn.2, ..., denokv.1, ...
awk -v rounds="$rounds" '
  function median(s, w, f,    n, i, j, t, v) {
    n = 0
    for (i = 1; i <= rounds; i++) if ((s, w, i, f) in val) v[++n] = val[s, w, i, f]
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    if (n == 0) return 0
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  FNR == 1 { split(FILENAME, parts, "/"); split(parts[length(parts)], sr, "."); s = sr[1]; r = sr[2] }
  # CPU per op, client and server: shows which side a figure is bound by.
  $3 == "cpu_us_per_op" {
    for (i = 4; i <= NF; i++) { split($i, kv, "="); val[s, $2, r, kv[1]] = kv[2] }
    next
  }
  /^#/ { next }
  {
    w = $1
    if (!(w in seen)) { seen[w] = 1; order[++n] = w }
    val[s, w, r, "ops"] = $2
    sub("p50_us=", "", $3); val[s, w, r, "p50"] = $3
    sub("p99_us=", "", $4); val[s, w, r, "p99"] = $4
    all[s, w] = all[s, w] (all[s, w] == "" ? "" : " ") $2
  }
  END {
    printf "%-8s %10s %10s %7s   %-22s %-22s\n", "workload", "cairn/s", "denokv/s", "ratio", "cairn p50/p99 ms", "denokv p50/p99 ms"
    for (i = 1; i <= n; i++) {
      w = order[i]
      a = median("cairn", w, "ops"); b = median("denokv", w, "ops")
      la = sprintf("%.1f / %.1f", median("cairn", w, "p50") / 1000, median("cairn", w, "p99") / 1000)
      lb = sprintf("%.1f / %.1f", median("denokv", w, "p50") / 1000, median("denokv", w, "p99") / 1000)
      printf "%-8s %10d %10d %6.2fx   %-22s %-22s\n", w, a, b, (b > 0 ? a / b : 0), la, lb
    }
    print ""
    printf "%-10s %20s %22s\n", "CPU us/op", "server: cairn denokv", "client: cairn denokv"
    for (i = 1; i <= n; i++) {
      w = order[i]
      printf "%-10s %12d %7d %14d %7d\n", w, median("cairn", w, "server"), median("denokv", w, "server"), median("cairn", w, "client"), median("denokv", w, "client")
    }
    print ""
    print "# ops/s of each round, in order:"
    for (i = 1; i <= n; i++) printf "#   %-8s cairn: %s; denokv: %s\n", order[i], all["cairn", order[i]], all["denokv", order[i]]
  }
' $(for s in cairn denokv; do for r in $(seq "$rounds"); do echo "$work/$s.$r.txt"; done; done)
grep -h '^# atomic conflicts' "$work"/cairn.*.txt "$work"/denokv.*.txt |
  awk '{ split($3, c, "="); n += c[2]; t += $5 } END { if (t) printf "# atomic conflicts over all runs: %d of %d\n", n, t }'
grep -h '^# other processes' "$work"/cairn.*.txt "$work"/denokv.*.txt |
  awk '$5 > m { m = $5 } END { printf "# other processes used at most %.2f cores during any run\n", m }'
echo "# total time $((SECONDS - started)) s"
