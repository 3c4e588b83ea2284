#!/usr/bin/env bash
# The long run of automatic failover (issue 16; docs/design/failover.md): N failovers in a
# row (default 20) on 3 cairn members and 3 etcd members on loopback, alternating SIGKILL and
# SIGSTOP of the primary under write load from cairn-client and the Deno runtime. Prints, per
# cycle and in total: acknowledged writes lost (must be 0), split-brain acknowledgements
# (must be 0), time from SIGKILL to the first acknowledged write on the new primary (p50/max)
# and the Deno runtime's write unavailability. Not part of scripts/test.sh (minutes long).
#
#   scripts/failover_long.sh 20
set -euo pipefail
cd "$(dirname "$0")/.."
cycles="${1:-20}"
command -v etcd >/dev/null || { echo "needs etcd (apt-get install etcd-server)" >&2; exit 1; }
tools/install.sh >/dev/null
# The whole output (the members' logs on a failure) goes to a file; the figures to stdout.
log="${CARGO_TARGET_DIR:-target}/failover_long.log"
mkdir -p "$(dirname "$log")"
status=0
CAIRN_FAILOVER_LONG_CYCLES="$cycles" cargo test -p cairn --test failover_long -- \
  --ignored --nocapture --test-threads 1 >"$log" 2>&1 || status=$?
grep -E "^(cycle|[0-9]+ failovers|SIGKILL to|test )|panicked" "$log" || true
[[ $status == 0 ]] || echo "failed: the whole output is in $log" >&2
exit "$status"
