#!/usr/bin/env bash
# Installs the Redis client libraries the Redis protocol end-to-end tests use:
#   - `redis` from PyPI into tools/venv-resp (a virtualenv of its own),
#   - `ioredis` from npm into tests/e2e/resp/node_modules (pinned in its package.json and
#     package-lock.json there).
# redis-cli, redis-benchmark and redis-server come from Debian (scripts/test.sh installs them).
#
# Idempotent: each part reinstalls only when missing or when its pins changed (a stamp file
# holds their hash). Safe for CI: no prompts, never reads stdin. Logs go to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/tools/venv-resp"
NODE_DIR="$ROOT/tests/e2e/resp"
PY_PIN="redis==8.1.0"

log() { printf 'tools/install_resp.sh: %s\n' "$*" >&2; }
hash_of() { printf '%s' "$*" | sha256sum | cut -d' ' -f1; }

# Python: redis in its own virtualenv.
want="$(hash_of "$PY_PIN")"
if [[ "$(cat "$VENV/.cairn-stamp" 2>/dev/null || true)" != "$want" ]] \
  || ! "$VENV/bin/python" -c 'import redis' 2>/dev/null; then
  log "installing $PY_PIN into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$PY_PIN" </dev/null >&2
  printf '%s' "$want" >"$VENV/.cairn-stamp"
fi

# Node.js: ioredis from the lock file.
node_inputs() { cat "$NODE_DIR/package.json" "$NODE_DIR/package-lock.json" 2>/dev/null || true; }
want="$(node_inputs | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$NODE_DIR/node_modules/.cairn-stamp" 2>/dev/null || true)" != "$want" ]] \
  || [[ ! -d "$NODE_DIR/node_modules/ioredis" ]]; then
  export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
  cd "$NODE_DIR"
  if [[ -f package-lock.json ]]; then
    log "installing ioredis from tests/e2e/resp/package-lock.json (npm ci)"
    npm ci </dev/null >&2
  else
    log "no package-lock.json in tests/e2e/resp; resolving with npm install (commit the lock)"
    npm install </dev/null >&2
  fi
  # The lock may have just been created, so hash again before stamping.
  node_inputs | sha256sum | cut -d' ' -f1 >node_modules/.cairn-stamp
fi
log "redis-py $("$VENV/bin/python" -c 'import redis; print(redis.__version__)'), ioredis $(node -p "require('$NODE_DIR/node_modules/ioredis/package.json').version")"
