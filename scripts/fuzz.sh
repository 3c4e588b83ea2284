#!/usr/bin/env bash
# Builds and runs every cargo-fuzz target in fuzz/ for a while each.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 10 s, every target)
#
# The test command runs it with 10 s per target as a smoke run; an hour each is
# `scripts/fuzz.sh 3600`. Coverage-guided libFuzzer without a sanitizer (`-s none`) builds on
# the stable toolchain: cairn forbids unsafe code, so AddressSanitizer would have little to
# find, and the normal build never needs nightly. With a nightly toolchain installed,
# `cd fuzz && cargo +nightly fuzz run <target>` adds AddressSanitizer.
# Any single allocation over 256 MiB or a process over 2 GiB counts as a failure: untrusted
# input must never make cairn allocate without bound. Findings land in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-10}"
shift || true
targets=("$@")

# Install before anything asks cargo-fuzz a question: on a fresh machine `cargo fuzz list`
# inside a process substitution failed silently, the list came back empty and nothing was
# fuzzed while the suite still passed.
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi

if [[ ${#targets[@]} -eq 0 ]]; then
  listed="$(cargo fuzz list)"
  mapfile -t targets <<<"$listed"
fi
# Every file in fuzz_targets/ is a target; fewer listed means the list itself is broken.
expected=$(find fuzz_targets -name '*.rs' | wc -l)
if [[ $# -eq 0 && ${#targets[@]} -ne $expected ]]; then
  echo "cargo fuzz list named ${#targets[@]} targets, fuzz_targets/ holds $expected" >&2
  exit 1
fi

cargo fuzz build -s none
ran=0
for target in "${targets[@]}"; do
  echo "== fuzz $target (${seconds}s)"
  mkdir -p "corpus/$target"
  log="$(mktemp)"
  status=0
  cargo fuzz run -s none "$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=256 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  if [[ $status -ne 0 ]]; then
    tail -n 60 "$log"
    echo "fuzz target $target failed (status $status); the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^(Done|stat::number_of_executed_units)' "$log"
  units=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rm -f "$log"
  if [[ -z "$units" || "$units" -eq 0 ]]; then
    echo "fuzz target $target executed no input" >&2
    exit 1
  fi
  ran=$((ran + 1))
done
if [[ $ran -eq 0 || $ran -ne ${#targets[@]} ]]; then
  echo "fuzzed $ran of ${#targets[@]} targets" >&2
  exit 1
fi
echo "fuzz: $ran targets ran"
