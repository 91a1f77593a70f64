#!/usr/bin/env bash
# The backup and restore of docs/backup-restore.md, run for real: see
# scripts/restore-drill.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec scripts/restore-drill.sh
