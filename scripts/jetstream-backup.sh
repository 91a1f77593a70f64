#!/usr/bin/env bash
# Backs up, restores and inspects JetStream streams (docs/backup-restore.md):
# scripts/lib/jetstream_backup.py with its pinned client installed on first use.
#
#   scripts/jetstream-backup.sh [--server URL --tls-ca FILE --tls-hostname NAME] backup STREAM DIR
#   scripts/jetstream-backup.sh [...] restore DIR
#   scripts/jetstream-backup.sh [...] state STREAM [CONSUMER...]
#
# Credentials come from NATS_USER and NATS_PASSWORD (or --user, --password).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib/tools.sh
source "$root/scripts/lib/tools.sh"
ensure_backup_tools >&2
exec "$BACKUP_PY" "$root/scripts/lib/jetstream_backup.py" "$@"
