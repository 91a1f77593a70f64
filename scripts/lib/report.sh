#!/usr/bin/env bash
# Output of scripts/test.sh and scripts/checks/*.sh, so each word means one thing
# everywhere:
#
#   step TEXT              a new section
#   fail TEXT              a check failed; the script carries on and finish exits 1
#   die TEXT               the script cannot go on (exits 1 now)
#   rejects WHAT CMD...    negative case of one of our own checkers: CMD must fail;
#                          its output is left in $output for says
#   says TEXT...           each TEXT is in $output (the rejection named the fault)
#   finish NAME            closing lines: what failed, if anything (then exit 1)
set -euo pipefail

failed=()
output=""
rejected=0

step() { printf '\n==> %s\n' "$*"; }

fail() {
  printf 'FAIL: %s\n' "$*"
  failed+=("$*")
}

die() {
  printf 'FATAL: %s\n' "$*" >&2
  exit 1
}

rejects() {
  local what=$1; shift
  rejected=1
  if output=$("$@" 2>&1); then
    rejected=0
    printf '%s\n' "$output" | sed 's/^/    /'
    fail "accepted $what"
  else
    echo "rejected $what"
  fi
}

says() {
  local text
  [ "$rejected" = 1 ] || return 0   # rejects already failed
  for text in "$@"; do
    if ! grep -qF -- "$text" <<<"$output"; then
      printf '%s\n' "$output" | sed 's/^/    /'
      fail "the rejection does not say: $text"
    fi
  done
}

finish() {
  if [ ${#failed[@]} -gt 0 ]; then
    printf '\n%s: %d check(s) failed:\n' "$1" ${#failed[@]}
    printf '  %s\n' "${failed[@]}"
    exit 1
  fi
  printf '\n%s: all checks passed\n' "$1"
}
