#!/usr/bin/env bash
# Installs what the HTTP/JSON API's and the web console's tests drive cairn with:
#   - schemathesis (PyPI), pinned with its dependencies in tools/requirements-api.txt, into the
#     virtual environment tools/venv-api (crates/cairn/tests/api_schemathesis.rs runs it);
#   - playwright-core (npm), pinned in tests/e2e/console/package-lock.json, into
#     tests/e2e/console/node_modules (crates/cairn/tests/console_browser.rs drives Debian's
#     /usr/bin/chromium with it; it never downloads a browser of its own).
# Prints nothing on stdout. Everything else goes to stderr.
#
# Idempotent: pip and npm only run when their folder is missing or was installed from other
# pinned inputs (tracked by a stamp file holding their hash). Safe for CI: no prompts, never
# reads stdin. Chromium itself comes from Debian: scripts/test.sh installs it when missing.
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$TOOLS_DIR")"
VENV="$TOOLS_DIR/venv-api"
REQUIREMENTS="$TOOLS_DIR/requirements-api.txt"
CONSOLE_DIR="$ROOT/tests/e2e/console"

log() { printf 'tools/install_api.sh: %s\n' "$*" >&2; }

hash_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    cat "$@" | sha256sum | cut -d' ' -f1
  else
    cat "$@" | shasum -a 256 | cut -d' ' -f1 # macOS
  fi
}

# --- schemathesis into tools/venv-api -------------------------------------------------------
venv_stamp="$VENV/.cairn-install-stamp"
want="$(hash_of "$REQUIREMENTS")"
have="$(cat "$venv_stamp" 2>/dev/null || true)"
if [[ "$want" != "$have" ]] || ! "$VENV/bin/schemathesis" --version >/dev/null 2>&1; then
  if ! command -v python3 >/dev/null 2>&1; then
    log "python3 not found; install Python (>= 3.9) first"
    exit 1
  fi
  log "installing schemathesis into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input \
    -r "$REQUIREMENTS" </dev/null >&2
  "$VENV/bin/schemathesis" --version >&2
  printf '%s\n' "$want" >"$venv_stamp"
fi

# --- playwright-core into tests/e2e/console/node_modules -------------------------------------
if ! command -v npm >/dev/null 2>&1; then
  log "npm not found; install Node.js (>= 18) first"
  exit 1
fi
node_stamp="$CONSOLE_DIR/node_modules/.cairn-install-stamp"
want="$(hash_of "$CONSOLE_DIR/package.json" "$CONSOLE_DIR/package-lock.json")"
have="$(cat "$node_stamp" 2>/dev/null || true)"
if [[ "$want" != "$have" || ! -d "$CONSOLE_DIR/node_modules/playwright-core" ]]; then
  log "installing playwright-core into $CONSOLE_DIR/node_modules (npm ci)"
  export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
  # playwright-core has no install script and fetches no browser: the tests use Debian's.
  (cd "$CONSOLE_DIR" && npm ci </dev/null >&2)
  printf '%s\n' "$want" >"$node_stamp"
fi

log "schemathesis in $VENV, playwright-core in $CONSOLE_DIR/node_modules"
