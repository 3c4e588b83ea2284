#!/usr/bin/env bash
# Latency of the Redis front end under open-loop clients — an application's requests rather
# than redis-benchmark's clients, which send again the instant they get a reply — against
# Redis with the same durability (`appendonly yes`, `appendfsync always`), same run. Guards
# the writer's wait for its clients (crates/cairn-resp/src/writer.rs, `Gather`): it must
# group redis-benchmark's clients without delaying these.
#
#   bench/resp_openloop.sh    # profiles "threads:think_ms": 4:5 16:2 40:1, 300 SETs per thread
#
# Needs the release build, Debian's redis-server and redis-py (tools/install_resp.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CAIRN_BIN:-./target/release/cairn}"
python="${PYTHON:-tools/venv-resp/bin/python3}"
profiles="${PROFILES:-4:5 16:2 40:1}"
per="${PER:-300}"
[[ -x "$bin" ]] || { echo "build first: cargo build --release -p cairn" >&2; exit 1; }
[[ -x "$python" ]] || { echo "install redis-py first: tools/install_resp.sh" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "apt-get install redis-server redis-tools" >&2; exit 1; }

# shellcheck source=bench/resp_servers.sh
source bench/resp_servers.sh
# cairn opens a database on its first write: not inside the measured latencies.
redis-cli -p "$cairn_port" -a bench --no-auth-warning set openloop:warm 1 >/dev/null

echo "# cairn $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
for profile in $profiles; do
  threads="${profile%%:*}" think="${profile#*:}"
  echo "threads=$threads think_ms=$think cairn $("$python" bench/resp_openloop.py "$cairn_port" bench "$threads" "$per" "$think")"
  echo "threads=$threads think_ms=$think redis $("$python" bench/resp_openloop.py "$redis_port" "" "$threads" "$per" "$think")"
done
