#!/usr/bin/env bash
# The Rust dependency graph against deny.toml: licenses (permissive only), bans
# (no OpenSSL or native-tls), sources (crates.io only). cargo-deny runs offline on
# Cargo.lock and the fetched crates; a build fetches only this platform's, so every
# platform's are fetched first (from crates.io, like any build). The RustSec
# advisories need their database from the network, so the pipeline checks them
# (job `advisories`).
# Each rule is also shown to bite: a deny.toml narrowed by one entry must fail.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh
# shellcheck source=scripts/lib/report.sh
source scripts/lib/report.sh

step "installing pinned cargo-deny"
ensure_cargo_deny
"$CARGO_DENY" --version

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

deny() {  # deny CONFIG CHECK...
  local config=$1; shift
  "$CARGO_DENY" --offline --locked --log-level error --config "$config" check "$@"
}

step "fetching the crates of Cargo.lock for every platform"
cargo fetch --locked --quiet

step "cargo deny check licenses bans sources"
deny deny.toml licenses bans sources || fail "cargo deny check licenses bans sources"

step "each rule refuses what it should"
# MIT is the license of most crates: without it, licenses must fail.
grep -v '^  "MIT",$' deny.toml >"$work/no-mit.toml"
rejects "a dependency under a license not on the allow-list" deny "$work/no-mit.toml" licenses
says "rejected" "MIT"
# tokio is everywhere: banned, bans must fail.
sed 's/^deny = \[$/deny = [\n  { crate = "tokio", reason = "check" },/' deny.toml >"$work/ban-tokio.toml"
rejects "a banned crate" deny "$work/ban-tokio.toml" bans
says "tokio"
# No registry allowed at all: every crates.io crate is from an unknown source.
sed 's|^allow-registry = .*|allow-registry = []|' deny.toml >"$work/no-registry.toml"
rejects "a crate from a registry that is not allowed" deny "$work/no-registry.toml" sources
says "crates.io-index"

finish scripts/checks/15-supply-chain.sh
