#!/usr/bin/env bash
# Installs moto's S3-compatible server (PyPI `moto[server]`, pinned) into tools/venv-moto, for
# the S3 archive tests (crates/cairn/tests/archive_s3.rs). Idempotent; prints the server's path.
set -euo pipefail
cd "$(dirname "$0")"
MOTO_VERSION=5.2.5
venv=venv-moto
if [[ ! -x "$venv/bin/moto_server" ]] || [[ "$(cat "$venv/.version" 2>/dev/null)" != "$MOTO_VERSION" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  echo "$MOTO_VERSION" > "$venv/.version"
fi
echo "$PWD/$venv/bin/moto_server"
