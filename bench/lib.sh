# Shared by the benchmark scripts that need a server: source it, then `start_server`.
#
# start_server builds nothing; it starts `cairn serve` (the release build, or $CAIRN_BIN to
# compare another build) on a fresh temporary data directory and a free loopback port, and
# sets: $data (the directory, removed at exit), $server (its pid), $token, $url.

cairn_bin() { echo "${CAIRN_BIN:-./target/release/cairn}"; }

start_server() {
  data="$(mktemp -d)"
  token="bench-$$"
  "$(cairn_bin)" serve --data-dir "$data/db" --listen 127.0.0.1:0 --access-token "$token" \
    >"$data/stdout" 2>"$data/server.log" &
  server=$!
  trap 'kill $server ${extra_pids:-} 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$data"' EXIT
  url=""
  for _ in $(seq 100); do
    url="$(sed -n 's/^listening on //p' "$data/stdout")"
    [[ -n "$url" ]] && break
    sleep 0.1
  done
  [[ -n "$url" ]] || { echo "cairn serve did not start:" >&2; cat "$data/server.log" >&2; exit 1; }
}
