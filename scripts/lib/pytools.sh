#!/usr/bin/env bash
# Pinned Python tools in their own virtualenvs under .tools/venvs/, so checks on a
# fresh machine install exactly what they were written against and tools with
# clashing dependencies never share an environment.
#
#   source scripts/lib/pytools.sh
#   ensure_venv checkov checkov==3.3.30      # then: "$(venv_bin checkov)/checkov" ...
set -euo pipefail

pytools_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.tools/venvs

venv_bin() { printf '%s/%s/bin' "$pytools_root" "$1"; }

ensure_venv() {
  local name=$1; shift
  local dir="$pytools_root/$name"
  local wanted="$*"
  if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$wanted" ]; then
    return
  fi
  mkdir -p "$pytools_root"
  [ -x "$dir/bin/pip" ] || python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet "$@"
  printf '%s' "$wanted" > "$dir/.installed"
}
