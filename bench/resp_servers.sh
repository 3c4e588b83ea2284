# Sourced by bench/resp.sh and bench/resp_openloop.sh: starts `cairn serve --resp-listen`
# (token `bench`, with a metrics listener) and Redis with the same durability (`appendonly
# yes`, `appendfsync always`) on free ports, in a temporary directory removed at exit, and
# waits until both answer. Sets data, cairn_port, cairn_pid, redis_port, redis_pid and
# metrics_url. Needs $bin (the cairn binary).
data="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$data"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cairn_port="$(free_port)"
"$bin" serve --data-dir "$data/cairn" --listen 127.0.0.1:0 --resp-listen "127.0.0.1:$cairn_port" \
  --metrics-listen 127.0.0.1:0 --access-token bench >"$data/cairn.out" 2>"$data/cairn.log" &
cairn_pid=$!
pids+=("$cairn_pid")

redis_port="$(free_port)"
mkdir -p "$data/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$data/redis" --appendonly yes \
  --appendfsync always --save "" --daemonize no --logfile "$data/redis.log" &
redis_pid=$!
pids+=("$redis_pid")

for _ in $(seq 100); do
  redis-cli -p "$cairn_port" -a bench --no-auth-warning ping >/dev/null 2>&1 \
    && redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
metrics_url="$(sed -n 's/^metrics on //p' "$data/cairn.out")"
