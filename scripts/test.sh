#!/usr/bin/env bash
# Runs every check tasklane has: formatting, lints, the Rust test suites against
# real nats-server and valkey-server processes, then each static check of the
# packaging (scripts/checks/*.sh). Installs whatever it needs into .tools/.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh
# shellcheck source=scripts/lib/report.sh
source scripts/lib/report.sh

step "installing pinned nats-server and valkey-server"
ensure_servers
echo "nats-server:   $NATS_SERVER_BIN"
echo "valkey-server: $VALKEY_SERVER_BIN"
ensure_tls_valkey_server
echo "with TLS:      $VALKEY_TLS_SERVER_BIN"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build (binaries used by process-level tests)"
cargo build --workspace --bins --locked

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

for check in scripts/checks/*.sh; do
  step "check: $check"
  bash "$check" || fail "$check"
done

finish scripts/test.sh
