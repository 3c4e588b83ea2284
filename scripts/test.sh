#!/usr/bin/env bash
# Every test cairn has, as CI runs them: formatting, lints, then the whole test suite
# (unit, property, model-based, crash and doc tests). Long variants are opt-in through
# environment variables documented in the README (e.g. CAIRN_CRASH_CYCLES=1000).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
