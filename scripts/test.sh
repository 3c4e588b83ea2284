#!/usr/bin/env bash
# Every test cairn has, as CI runs them: formatting, lints, then the whole test suite
# (unit, property, model-based, crash, end-to-end and doc tests). Long variants are opt-in through
# environment variables documented in the README (e.g. CAIRN_CRASH_CYCLES=1000).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo doc (broken links and stray HTML in doc comments are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked -q

echo "== tools/install.sh (the pinned Deno runtime and @deno/kv for the end-to-end tests)"
# Installs into tools/node_modules when missing or stale (needs Node.js with npm); prints the
# deno binary's path, which the tests find again themselves.
tools/install.sh >/dev/null

echo "== strace (crates/cairn/tests/eio_server.rs injects EIO into cairn serve through it)"
if ! command -v strace >/dev/null 2>&1; then
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq strace >/dev/null
fi

echo "== fuse3 (crates/cairn-powercut's power-cut filesystem mounts through FUSE)"
if ! command -v fusermount3 >/dev/null 2>&1; then
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq fuse3 >/dev/null
fi

echo "== prometheus (crates/cairn/tests/metrics_prometheus.rs scrapes cairn serve with it)"
if ! command -v prometheus >/dev/null 2>&1; then
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq prometheus >/dev/null
fi

echo "== etcd (crates/cairn/tests/failover_*.rs run a 3-member etcd cluster on loopback)"
if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq etcd-server etcd-client >/dev/null
fi
# failover_partition.rs cuts the primary off in a network namespace made with `ip netns`.
if ! command -v ip >/dev/null 2>&1; then
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq iproute2 >/dev/null
fi

echo "== moto (an S3-compatible server on loopback for crates/cairn/tests/archive_s3.rs)"
# Installs moto[server] from PyPI into tools/venv-moto when missing (needs python3 with venv).
tools/install_moto.sh >/dev/null

echo "== chromium (crates/cairn/tests/console_browser.rs drives the web console in it)"
if [[ ! -x /usr/bin/chromium ]]; then
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null
fi

echo "== tools/install_api.sh (schemathesis and playwright-core for the JSON API and console tests)"
tools/install_api.sh
echo "== Redis clients (crates/cairn/tests/e2e_resp.rs: redis-cli from Debian; redis-py and ioredis)"
if ! command -v redis-cli >/dev/null 2>&1 || ! command -v redis-benchmark >/dev/null 2>&1 \
  || ! command -v redis-server >/dev/null 2>&1; then
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq redis-tools redis-server >/dev/null
fi
tools/install_resp.sh

echo "== cargo test"
cargo test --workspace --locked

echo "== fuzz smoke run (10 s per target; installs cargo-fuzz when missing)"
scripts/fuzz.sh 10
