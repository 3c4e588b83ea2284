#!/usr/bin/env bash
# Installs the pinned Deno runtime (and @deno/kv) from npm into tools/node_modules and
# prints the absolute path of the deno binary on stdout. Everything else goes to stderr,
# so callers can do:  DENO="$(tools/install.sh)"
#
# Idempotent: npm only runs when node_modules is missing or was installed from a
# different package.json / package-lock.json (tracked by a stamp file holding their hash).
# Safe for CI: no prompts, never reads stdin.
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODE_MODULES="$TOOLS_DIR/node_modules"
STAMP="$NODE_MODULES/.cairn-install-stamp"
DENO="$NODE_MODULES/.bin/deno"

log() { printf 'tools/install.sh: %s\n' "$*" >&2; }

if ! command -v npm >/dev/null 2>&1; then
  log "npm not found; install Node.js (>= 18) first"
  exit 1
fi

# Hash of the inputs that determine what node_modules should contain.
inputs_hash() {
  local files=("$TOOLS_DIR/package.json")
  [[ -f "$TOOLS_DIR/package-lock.json" ]] && files+=("$TOOLS_DIR/package-lock.json")
  if command -v sha256sum >/dev/null 2>&1; then
    cat "${files[@]}" | sha256sum | cut -d' ' -f1
  else
    cat "${files[@]}" | shasum -a 256 | cut -d' ' -f1 # macOS
  fi
}

deno_works() { [[ -x "$DENO" ]] && "$DENO" --version >/dev/null 2>&1; }

want="$(inputs_hash)"
have="$(cat "$STAMP" 2>/dev/null || true)"

if [[ ! -d "$NODE_MODULES" || "$want" != "$have" ]] || ! deno_works; then
  # npm's own prompts/notifiers are disabled; stdin is /dev/null so nothing can block.
  export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
  cd "$TOOLS_DIR"
  if [[ -f package-lock.json ]]; then
    log "installing from package-lock.json (npm ci)"
    if ! npm ci </dev/null >&2; then
      log "npm ci failed; if package.json changed, refresh the lock with: (cd tools && npm install)"
      exit 1
    fi
  else
    log "no package-lock.json; resolving with npm install (commit the generated lock)"
    npm install </dev/null >&2
  fi
  # The lock may have just been created, so hash again before stamping.
  if ! deno_works; then
    log "installed, but '$DENO --version' fails (unsupported platform, or optional deps omitted?)"
    "$DENO" --version >&2 || true
    exit 1
  fi
  inputs_hash >"$STAMP"
fi

log "$("$DENO" --version | head -n1)"
printf '%s\n' "$DENO"
