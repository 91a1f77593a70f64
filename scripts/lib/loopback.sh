#!/usr/bin/env bash
# Helpers for scripts that start the servers and binaries on loopback: a free port,
# and a bounded wait. Sourced after scripts/lib/report.sh (for `die`).
#
# wait_for reads WAIT_SECONDS (60 unless set) and, on a timeout, prints the tail of
# "$work"/*.log when the caller keeps its logs there.

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {  # wait_for WHAT CMD...: until CMD succeeds, at most WAIT_SECONDS
  local what=$1 started=$SECONDS limit=${WAIT_SECONDS:-60}; shift
  until "$@"; do
    if (( SECONDS - started > limit )); then
      tail -n 20 "${work:-/nonexistent}"/*.log >&2 2>/dev/null || true
      die "$what: not within ${limit}s"
    fi
    sleep 0.2
  done
}
